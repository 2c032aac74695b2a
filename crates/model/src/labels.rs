//! Label sets. A `Labels` is always sorted by name with unique names and no
//! empty values, so equal series have equal `Labels`.

use std::fmt;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    #[error("label name is empty")]
    EmptyName,
    #[error("duplicate label name {0:?}")]
    DuplicateName(String),
}

/// A sorted set of labels identifying one series.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from pairs in any order. Labels with an empty value
    /// are dropped (Prometheus treats them as absent); empty or duplicate
    /// names are errors.
    pub fn new(mut labels: Vec<Label>) -> Result<Self, LabelsError> {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for pair in labels.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(LabelsError::DuplicateName(pair[0].name.clone()));
            }
        }
        if labels.first().is_some_and(|l| l.name.is_empty()) {
            return Err(LabelsError::EmptyName);
        }
        Ok(Self(labels))
    }

    /// Builds from pairs, see [`Labels::new`].
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, LabelsError> {
        Self::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// Wraps labels the caller guarantees are sorted, unique and non-empty.
    pub fn from_sorted_unchecked(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|p| p[0].name < p[1].name));
        Self(labels)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Formats like Prometheus: `name{a="b", c="d"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        f.write_str(name)?;
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

/// Which names are valid: Prometheus's classic rules, or any UTF-8 (the
/// Prometheus 3 default, still opt-in for Mimir).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameValidation {
    #[default]
    Legacy,
    Utf8,
}

impl NameValidation {
    /// Metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*` in legacy mode.
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => {
                let mut bytes = name.bytes();
                matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
                    && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
            }
            NameValidation::Utf8 => !name.is_empty(),
        }
    }

    /// Label names: `[a-zA-Z_][a-zA-Z0-9_]*` in legacy mode.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidation::Legacy => {
                let mut bytes = name.bytes();
                matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
                    && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }
            NameValidation::Utf8 => !name.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_drops_empty_values() {
        let l = Labels::from_pairs([("b", "2"), ("__name__", "up"), ("a", "1"), ("z", "")])
            .expect("valid");
        let names: Vec<_> = l.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "a", "b"]);
        assert_eq!(l.get("a"), Some("1"));
        assert_eq!(l.get("z"), None);
        assert_eq!(l.to_string(), r#"up{a="1", b="2"}"#);
    }

    #[test]
    fn rejects_duplicates_and_empty_names() {
        assert_eq!(
            Labels::from_pairs([("a", "1"), ("a", "2")]),
            Err(LabelsError::DuplicateName("a".into()))
        );
        assert_eq!(Labels::from_pairs([("", "1")]), Err(LabelsError::EmptyName));
    }

    #[test]
    fn legacy_name_rules() {
        let v = NameValidation::Legacy;
        assert!(v.is_valid_metric_name("node_cpu:rate5m"));
        assert!(!v.is_valid_metric_name("1abc"));
        assert!(!v.is_valid_metric_name(""));
        assert!(!v.is_valid_metric_name("a-b"));
        assert!(v.is_valid_label_name("_x9"));
        assert!(!v.is_valid_label_name("a:b"));
        assert!(NameValidation::Utf8.is_valid_label_name("a:b.ü"));
    }
}
