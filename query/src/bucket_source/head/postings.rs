//! The head's index: for each label name and value, the ids of the series
//! that have it, ascending (ids are handed out in ascending order, so
//! appending keeps each list sorted).

use std::collections::HashMap;

use stratus_codec::Interner;
use stratus_model::LabelMatcher;

#[derive(Default)]
pub(super) struct Postings {
    by_name: HashMap<u32, HashMap<u32, Vec<u32>>>,
}

impl Postings {
    pub(super) fn add(&mut self, series: u32, ids: &[(u32, u32)]) {
        for &(name, value) in ids {
            self.by_name
                .entry(name)
                .or_default()
                .entry(value)
                .or_default()
                .push(series);
        }
    }

    /// The label name ids present, with their values' postings.
    pub(super) fn names(&self) -> impl Iterator<Item = (u32, &HashMap<u32, Vec<u32>>)> {
        self.by_name.iter().map(|(&n, v)| (n, v))
    }

    /// The values of the label `name` with their postings.
    pub(super) fn values(&self, name: u32) -> Option<&HashMap<u32, Vec<u32>>> {
        self.by_name.get(&name)
    }

    /// The series that can match every matcher, ascending, or `None` when
    /// no matcher narrows the set (each matches the empty value, so series
    /// without the label match too). The caller still checks the matchers
    /// on each candidate.
    pub(super) fn candidates(
        &self,
        matchers: &[LabelMatcher],
        symbols: &Interner,
    ) -> Option<Vec<u32>> {
        let mut lists: Vec<Vec<u32>> = Vec::new();
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let values = symbols.get(&m.name).and_then(|n| self.by_name.get(&n));
            let Some(values) = values else {
                return Some(Vec::new());
            };
            let list = match &m.kind {
                stratus_model::MatchKind::Equal => symbols
                    .get(&m.value)
                    .and_then(|v| values.get(&v))
                    .cloned()
                    .unwrap_or_default(),
                _ => {
                    let mut all: Vec<u32> = values
                        .iter()
                        .filter(|(&v, _)| m.matches_value(symbols.resolve(v)))
                        .flat_map(|(_, ids)| ids.iter().copied())
                        .collect();
                    // A series has one value per name: no duplicates.
                    all.sort_unstable();
                    all
                }
            };
            if list.is_empty() {
                return Some(Vec::new());
            }
            lists.push(list);
        }
        lists.sort_by_key(Vec::len);
        let mut lists = lists.into_iter();
        let first = lists.next()?;
        Some(lists.fold(first, |acc, l| intersect(&acc, &l)))
    }

    /// Bytes of the index (estimated).
    pub(super) fn bytes(&self) -> usize {
        self.by_name
            .values()
            .map(|v| 48 + v.values().map(|ids| 48 + ids.capacity() * 4).sum::<usize>())
            .sum()
    }
}

/// The ids in both sorted lists.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
