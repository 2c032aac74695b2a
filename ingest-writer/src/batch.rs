//! One request's validated content, in the form the committer consumes
//! cheaply: a table of the distinct label strings of the request (borrowed
//! from the request, each validated once) and the accepted series as flat
//! lists of refs into it.

use std::hash::BuildHasher;
use std::ops::Range;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use stratus_model::{Labels, MetricMetadata, Sample, METRIC_NAME};

use crate::report::Report;
use crate::validate::{describe, Limits, Reason, Rejection};

mod repeats;

/// Per-symbol validation results, computed on first use.
const CHECKED: u8 = 1;
const LABEL_NAME_OK: u8 = 2;
const METRIC_NAME_OK: u8 = 4;
const NAME_LEN_OK: u8 = 8;
const VALUE_LEN_OK: u8 = 16;

#[derive(Debug, Default)]
pub struct WriteBatch<'a> {
    /// Distinct strings; `None` where the bytes were not UTF-8.
    strings: Vec<Option<&'a str>>,
    /// The same, as bytes, for messages about strings that are not UTF-8.
    bytes: Vec<&'a [u8]>,
    flags: Vec<u8>,
    table: HashTable<u32>,
    hasher: RandomState,
    /// Label refs of accepted series, name and value alternating.
    refs: Vec<u32>,
    series: Vec<(Range<usize>, Range<usize>)>,
    samples: Vec<Sample>,
    pub metadata: Vec<MetricMetadata>,
    /// Scratch for [`WriteBatch::accept`].
    pairs: Vec<(u32, u32)>,
    /// Symbols came from the request's own table ([`Self::push_symbol`]),
    /// which may hold a string twice: equal strings may have two ids.
    own_table: bool,
}

impl<'a> WriteBatch<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch sized for about `series` series.
    pub fn with_capacity(series: usize) -> Self {
        Self {
            strings: Vec::with_capacity(series),
            bytes: Vec::with_capacity(series),
            flags: Vec::with_capacity(series),
            table: HashTable::with_capacity(series),
            refs: Vec::with_capacity(series * 8),
            series: Vec::with_capacity(series),
            samples: Vec::with_capacity(series),
            ..Self::default()
        }
    }

    /// The id of `bytes` in this request's table, added if new.
    pub fn intern(&mut self, bytes: &'a [u8]) -> u32 {
        let hash = self.hasher.hash_one(bytes);
        let strings = &self.strings;
        let eq = |id: &u32| match strings[*id as usize] {
            Some(s) => s.as_bytes() == bytes,
            None => false,
        };
        if let Some(&id) = self.table.find(hash, eq) {
            return id;
        }
        let id = self.add_symbol(bytes);
        if self.strings[id as usize].is_some() {
            let (strings, hasher) = (&self.strings, &self.hasher);
            self.table.insert_unique(hash, id, |&id| {
                hasher.hash_one(strings[id as usize].unwrap_or_default().as_bytes())
            });
        }
        id
    }

    /// Adds a symbol without looking for an equal one (remote_write 2.0
    /// requests bring their own table).
    pub fn push_symbol(&mut self, bytes: &'a [u8]) -> u32 {
        self.own_table = true;
        self.add_symbol(bytes)
    }

    fn add_symbol(&mut self, bytes: &'a [u8]) -> u32 {
        let id = self.strings.len() as u32;
        self.strings.push(std::str::from_utf8(bytes).ok());
        self.bytes.push(bytes);
        self.flags.push(0);
        id
    }

    pub fn num_symbols(&self) -> usize {
        self.strings.len()
    }

    /// The string of a symbol of an accepted series.
    pub fn resolve(&self, id: u32) -> &'a str {
        self.strings
            .get(id as usize)
            .copied()
            .flatten()
            .unwrap_or_default()
    }

    fn flags(&mut self, id: u32, limits: &Limits) -> u8 {
        let i = id as usize;
        if self.flags[i] & CHECKED != 0 {
            return self.flags[i];
        }
        let mut f = CHECKED;
        if let Some(s) = self.strings[i] {
            if limits.name_validation.is_valid_label_name(s) {
                f |= LABEL_NAME_OK;
            }
            if limits.name_validation.is_valid_metric_name(s) {
                f |= METRIC_NAME_OK;
            }
            if s.len() <= limits.max_label_name_length {
                f |= NAME_LEN_OK;
            }
            if s.len() <= limits.max_label_value_length {
                f |= VALUE_LEN_OK;
            }
        }
        self.flags[i] = f;
        f
    }

    fn describe(&self, pairs: &[(u32, u32)]) -> String {
        let b = |id: u32| self.bytes.get(id as usize).copied().unwrap_or_default();
        describe(pairs.iter().map(|&(n, v)| (b(n), b(v))))
    }

    /// Validates one series given as (name, value) symbol ids and adds it
    /// with its samples if it passes. Samples outside the accepted window
    /// are rejected one by one. Rejections are recorded in `report`.
    pub fn accept(
        &mut self,
        pairs_in: &[(u32, u32)],
        samples: &[Sample],
        limits: &Limits,
        now_ms: i64,
        report: &mut Report,
    ) {
        let mut pairs = std::mem::take(&mut self.pairs);
        pairs.clear();
        match self.check(pairs_in, &mut pairs, limits) {
            Ok(()) => self.push_checked(&pairs, samples, limits, now_ms, report),
            Err(rejection) => report.reject(rejection, samples.len() as u64),
        }
        self.pairs = pairs;
    }

    fn check(
        &mut self,
        pairs_in: &[(u32, u32)],
        pairs: &mut Vec<(u32, u32)>,
        limits: &Limits,
    ) -> Result<(), Rejection> {
        if pairs_in.len() > limits.max_label_names_per_series {
            return Err(Rejection::new(
                Reason::MaxLabelNamesPerSeries,
                format!(
                    "series {} has {} labels, the limit is {}",
                    self.describe(pairs_in),
                    pairs_in.len(),
                    limits.max_label_names_per_series
                ),
            ));
        }
        let mut has_name = false;
        for &(n, v) in pairs_in {
            let (nf, vf) = (self.flags(n, limits), self.flags(v, limits));
            let (Some(name), Some(value)) = (self.strings[n as usize], self.strings[v as usize])
            else {
                return Err(Rejection::new(
                    Reason::InvalidUtf8,
                    format!(
                        "series {} has a label that is not valid UTF-8",
                        self.describe(pairs_in)
                    ),
                ));
            };
            if nf & NAME_LEN_OK == 0 {
                return Err(Rejection::new(
                    Reason::LabelNameTooLong,
                    format!(
                        "label name of series {} is {} bytes long, the limit is {}",
                        self.describe(pairs_in),
                        name.len(),
                        limits.max_label_name_length
                    ),
                ));
            }
            if vf & VALUE_LEN_OK == 0 {
                return Err(Rejection::new(
                    Reason::LabelValueTooLong,
                    format!(
                        "value of label {name:?} of series {} is {} bytes long, the limit is {}",
                        self.describe(pairs_in),
                        value.len(),
                        limits.max_label_value_length
                    ),
                ));
            }
            if name == METRIC_NAME {
                if value.is_empty() {
                    continue;
                }
                has_name = true;
                if vf & METRIC_NAME_OK == 0 {
                    return Err(Rejection::new(
                        Reason::MetricNameInvalid,
                        format!(
                            "metric name {value:?} is invalid: expected [a-zA-Z_:][a-zA-Z0-9_:]*"
                        ),
                    ));
                }
            } else if nf & LABEL_NAME_OK == 0 {
                return Err(Rejection::new(
                    Reason::LabelNameInvalid,
                    format!(
                        "label name {name:?} of series {} is invalid: expected [a-zA-Z_][a-zA-Z0-9_]*",
                        self.describe(pairs_in)
                    ),
                ));
            }
            if !value.is_empty() {
                pairs.push((n, v));
            }
        }
        if !has_name {
            return Err(Rejection::new(
                Reason::MissingMetricName,
                format!(
                    "series {} has no metric name (__name__ label)",
                    self.describe(pairs_in)
                ),
            ));
        }
        let strings = &self.strings;
        let name = |id: u32| strings[id as usize].unwrap_or_default();
        if !pairs.windows(2).all(|p| name(p[0].0) < name(p[1].0)) {
            pairs.sort_unstable_by(|a, b| name(a.0).cmp(name(b.0)));
            if let Some(p) = pairs.windows(2).find(|p| name(p[0].0) == name(p[1].0)) {
                let dup = name(p[0].0);
                return Err(Rejection::new(
                    Reason::DuplicateLabelNames,
                    format!(
                        "series {} has the label name {dup:?} more than once",
                        self.describe(pairs_in)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Adds a series whose labels passed, keeping the samples inside the
    /// accepted window.
    fn push_checked(
        &mut self,
        pairs: &[(u32, u32)],
        samples: &[Sample],
        limits: &Limits,
        now_ms: i64,
        report: &mut Report,
    ) {
        let start = self.samples.len();
        let (oldest, newest) = limits.window(now_ms);
        for &s in samples {
            if s.t >= oldest && s.t <= newest {
                self.samples.push(s);
            } else {
                let labels = self.labels_of(pairs);
                if let Err(rejection) = limits.sample(s, now_ms, &labels) {
                    report.reject(rejection, 1);
                }
            }
        }
        let kept = self.samples.len() - start;
        if kept > 0 {
            let refs_start = self.refs.len();
            self.refs.extend(pairs.iter().flat_map(|&(n, v)| [n, v]));
            self.series
                .push((refs_start..self.refs.len(), start..self.samples.len()));
            report.samples_valid += kept as u64;
        }
    }

    fn labels_of(&self, pairs: &[(u32, u32)]) -> Labels {
        Labels::from_pairs(
            pairs
                .iter()
                .map(|&(n, v)| (self.resolve(n), self.resolve(v))),
        )
        .unwrap_or_default()
    }

    /// Adds a series whose labels are already valid (a [`Labels`] is
    /// normalised), without checks: for library callers such as the ruler.
    pub fn push_labels(&mut self, labels: &'a Labels, samples: &[Sample]) {
        if samples.is_empty() {
            return;
        }
        let refs_start = self.refs.len();
        for l in labels {
            let (n, v) = (
                self.intern(l.name.as_bytes()),
                self.intern(l.value.as_bytes()),
            );
            self.refs.extend([n, v]);
        }
        let start = self.samples.len();
        self.samples.extend_from_slice(samples);
        self.series
            .push((refs_start..self.refs.len(), start..self.samples.len()));
    }

    /// The labels of accepted series as refs, and their samples.
    pub fn series(&self) -> impl Iterator<Item = (&[u32], &[Sample])> {
        self.series
            .iter()
            .map(|(r, s)| (&self.refs[r.clone()], &self.samples[s.clone()]))
    }

    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }

    /// The labels of an accepted series.
    pub fn labels(&self, refs: &[u32]) -> Labels {
        Labels::from_pairs(
            refs.chunks_exact(2)
                .map(|p| (self.resolve(p[0]), self.resolve(p[1]))),
        )
        .unwrap_or_default()
    }

    /// Validates and adds one series given as string pairs: the shape the
    /// JSON API and library callers have.
    pub fn accept_pairs(
        &mut self,
        pairs: &[(&'a str, &'a str)],
        samples: &[Sample],
        limits: &Limits,
        now_ms: i64,
        report: &mut Report,
    ) {
        let ids: Vec<(u32, u32)> = pairs
            .iter()
            .map(|(n, v)| (self.intern(n.as_bytes()), self.intern(v.as_bytes())))
            .collect();
        self.accept(&ids, samples, limits, now_ms, report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn check(p: &[(&str, &str)]) -> Report {
        let mut b = WriteBatch::new();
        let mut r = Report::default();
        b.accept_pairs(p, &[Sample::new(NOW, 1.0)], &Limits::default(), NOW, &mut r);
        r
    }

    fn reason(p: &[(&str, &str)]) -> Reason {
        let r = check(p);
        assert_eq!(r.samples_valid, 0, "{p:?} was accepted");
        *r.rejected.keys().next().expect("a reason")
    }

    #[test]
    fn normalises_valid_series() {
        let mut b = WriteBatch::new();
        let mut r = Report::default();
        let pairs = [("job", "n"), ("__name__", "up"), ("empty", "")];
        b.accept_pairs(
            &pairs,
            &[Sample::new(NOW, 1.0)],
            &Limits::default(),
            NOW,
            &mut r,
        );
        assert_eq!(r.samples_valid, 1);
        let (refs, samples) = b.series().next().expect("series");
        assert_eq!(b.labels(refs).to_string(), r#"up{job="n"}"#);
        assert_eq!(refs.len(), 4, "the empty label is dropped");
        assert_eq!(samples, [Sample::new(NOW, 1.0)]);
    }

    #[test]
    fn each_bad_series_has_its_reason() {
        assert_eq!(reason(&[("job", "x")]), Reason::MissingMetricName);
        assert_eq!(reason(&[("__name__", "")]), Reason::MissingMetricName);
        assert_eq!(reason(&[("__name__", "1up")]), Reason::MetricNameInvalid);
        assert_eq!(
            reason(&[("__name__", "up"), ("a-b", "x")]),
            Reason::LabelNameInvalid
        );
        assert_eq!(
            reason(&[("__name__", "up"), ("", "x")]),
            Reason::LabelNameInvalid
        );
        assert_eq!(
            reason(&[("__name__", "up"), ("a", "1"), ("a", "2")]),
            Reason::DuplicateLabelNames
        );
        let long = "x".repeat(3000);
        assert_eq!(
            reason(&[("__name__", "up"), ("a", &long)]),
            Reason::LabelValueTooLong
        );
        assert_eq!(
            reason(&[("__name__", "up"), (&long, "v")]),
            Reason::LabelNameTooLong
        );
        let many: Vec<(String, String)> = (0..31).map(|i| (format!("l{i}"), "v".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(reason(&many), Reason::MaxLabelNamesPerSeries);
    }

    #[test]
    fn invalid_utf8_is_rejected_with_a_readable_message() {
        let mut b = WriteBatch::new();
        let mut r = Report::default();
        let pairs = [
            (b.intern(b"__name__"), b.intern(b"up")),
            (b.intern(b"a"), b.intern(&[0xff, b'x'])),
        ];
        b.accept(
            &pairs,
            &[Sample::new(NOW, 1.0)],
            &Limits::default(),
            NOW,
            &mut r,
        );
        assert_eq!(r.rejected.get(&Reason::InvalidUtf8), Some(&1));
        assert!(r.messages[0].contains("up{a="), "{}", r.messages[0]);
    }

    #[test]
    fn messages_say_what_was_expected() {
        let r = check(&[("__name__", "up"), ("a-b", "x")]);
        assert!(r.messages[0].contains("\"a-b\""), "{}", r.messages[0]);
        assert!(
            r.messages[0].contains("[a-zA-Z_][a-zA-Z0-9_]*"),
            "{}",
            r.messages[0]
        );
    }

    #[test]
    fn samples_outside_the_window_are_rejected_one_by_one() {
        let mut b = WriteBatch::new();
        let mut r = Report::default();
        let samples = [
            Sample::new(NOW - 5 * 3_600_000, 1.0),
            Sample::new(NOW, 2.0),
            Sample::new(NOW + 3_600_000, 3.0),
        ];
        b.accept_pairs(
            &[("__name__", "up")],
            &samples,
            &Limits::default(),
            NOW,
            &mut r,
        );
        assert_eq!(r.samples_valid, 1);
        assert_eq!(r.rejected.get(&Reason::SampleTooOld), Some(&1));
        assert_eq!(r.rejected.get(&Reason::SampleTooFarInFuture), Some(&1));
        assert_eq!(
            b.series().next().map(|(_, s)| s.to_vec()),
            Some(vec![Sample::new(NOW, 2.0)])
        );
    }

    #[test]
    fn repeated_strings_are_stored_once() {
        let mut b = WriteBatch::new();
        let mut r = Report::default();
        for i in 0..100 {
            let v = (i % 3).to_string();
            b.accept_pairs(
                &[("__name__", "up"), ("i", Box::leak(v.into_boxed_str()))],
                &[Sample::new(NOW, 1.0)],
                &Limits::default(),
                NOW,
                &mut r,
            );
        }
        assert_eq!(
            b.num_symbols(),
            2 + 1 + 3,
            "__name__, up, i and three values"
        );
        assert_eq!(b.num_series(), 100);
    }
}
