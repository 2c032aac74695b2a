//! `label_replace` and `label_join`, as Prometheus v3.0's
//! `evalLabelReplace` / `evalLabelJoin` in `promql/functions.go`.
//!
//! Both keep `__name__` (they do not drop the metric name; setting
//! `__name__` itself is allowed) and validate their arguments before the
//! inner expression is evaluated, so an invalid regex or label name fails
//! the query even when the input vector is empty. Build [`LabelReplace`] /
//! [`LabelJoin`] once per call site, then apply them to each series. After
//! applying, two series with the same label set are an error ("vector
//! cannot contain metrics with the same labelset"), which the evaluator
//! checks.

mod go_regex;
#[cfg(test)]
mod tests;

use stratus_model::{Label, Labels, NameValidation};

use super::FunctionError;
pub use go_regex::GoRegex;

/// A compiled `label_replace(v, dst, replacement, src, regex)`.
#[derive(Debug, Clone)]
pub struct LabelReplace {
    dst: String,
    replacement: String,
    src: String,
    regex: GoRegex,
}

impl LabelReplace {
    /// Compiles `regex` fully anchored and with `.` matching newlines
    /// (`^(?s:regex)$`, Go syntax) and checks `dst`. The regex is checked
    /// first, as in Prometheus.
    ///
    /// `validation` decides what a valid destination name is. Prometheus
    /// v3.0's conformance tests expect [`NameValidation::Legacy`]
    /// (`"invalid-label-name"` fails); the main branch always uses UTF-8
    /// rules, where only the empty name (and invalid UTF-8) fails.
    pub fn new(
        dst: &str,
        replacement: &str,
        src: &str,
        regex: &str,
        validation: NameValidation,
    ) -> Result<Self, FunctionError> {
        let compiled = GoRegex::anchored(regex)
            .ok_or_else(|| FunctionError::InvalidRegex(regex.to_owned()))?;
        if !validation.is_valid_label_name(dst) {
            return Err(FunctionError::InvalidReplaceDestination(dst.to_owned()));
        }
        Ok(Self {
            dst: dst.to_owned(),
            replacement: replacement.to_owned(),
            src: src.to_owned(),
            regex: compiled,
        })
    }

    /// Matches the `src` label's value (empty if absent) and, on a match,
    /// returns the labels with `dst` set to the expanded replacement (an
    /// empty result removes `dst`). `None` when the regex does not match:
    /// the series stays as it is.
    ///
    /// With delayed name removal, Prometheus also un-marks the series for
    /// name dropping when it matched and `dst` is `__name__`.
    pub fn apply(&self, labels: &Labels) -> Option<Labels> {
        let value = labels.get(&self.src).unwrap_or("");
        let captures = self.regex.captures(value)?;
        let result = self.regex.expand(&self.replacement, &captures);
        Some(with_label(labels, &self.dst, result))
    }
}

/// `label_replace` for one series with legacy name validation; see
/// [`LabelReplace`] to compile once for many series.
pub fn label_replace(
    labels: &Labels,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Labels, FunctionError> {
    let replace = LabelReplace::new(dst, replacement, src, regex, NameValidation::Legacy)?;
    Ok(replace.apply(labels).unwrap_or_else(|| labels.clone()))
}

/// A checked `label_join(v, dst, separator, src...)`.
#[derive(Debug, Clone)]
pub struct LabelJoin {
    dst: String,
    separator: String,
    srcs: Vec<String>,
}

impl LabelJoin {
    /// Checks every source name (in order), then the destination, with
    /// `validation` as for [`LabelReplace::new`].
    pub fn new(
        dst: &str,
        separator: &str,
        srcs: &[String],
        validation: NameValidation,
    ) -> Result<Self, FunctionError> {
        if let Some(bad) = srcs.iter().find(|s| !validation.is_valid_label_name(s)) {
            return Err(FunctionError::InvalidJoinSource(bad.clone()));
        }
        if !validation.is_valid_label_name(dst) {
            return Err(FunctionError::InvalidJoinDestination(dst.to_owned()));
        }
        Ok(Self {
            dst: dst.to_owned(),
            separator: separator.to_owned(),
            srcs: srcs.to_vec(),
        })
    }

    /// Sets `dst` to the source values (absent ones as empty strings)
    /// joined by the separator; an empty result removes `dst`. Applies to
    /// every series, with or without sources.
    pub fn apply(&self, labels: &Labels) -> Labels {
        let values: Vec<&str> = self
            .srcs
            .iter()
            .map(|s| labels.get(s).unwrap_or(""))
            .collect();
        with_label(labels, &self.dst, values.join(&self.separator))
    }
}

/// `label_join` for one series with legacy name validation.
pub fn label_join(
    labels: &Labels,
    dst: &str,
    separator: &str,
    srcs: &[String],
) -> Result<Labels, FunctionError> {
    Ok(LabelJoin::new(dst, separator, srcs, NameValidation::Legacy)?.apply(labels))
}

/// `labels` with `name` set to `value`, or removed if `value` is empty.
fn with_label(labels: &Labels, name: &str, value: String) -> Labels {
    let mut all = labels.as_slice().to_vec();
    match all.binary_search_by(|l| l.name.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            all.remove(i);
        }
        Ok(i) => all[i].value = value,
        Err(_) if value.is_empty() => {}
        Err(i) => all.insert(i, Label::new(name, value)),
    }
    Labels::from_sorted_unchecked(all)
}
