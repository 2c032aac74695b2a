//! Planning a read: which row groups, rows and byte ranges can hold series
//! matching the matchers in the time range. Pure, over the footer only.
//!
//! Pruning, in order:
//! 1. the block's time range against the query range, and matchers on
//!    labels the block has no column for (they see "" on every series);
//! 2. per row group, the bloom filters of the label columns, for `=` and
//!    for `=~` of a plain alternation of literals (`a|b|c`);
//! 3. per page, the page index: min/max and null counts of the label
//!    columns, and of `__min_time`/`__max_time` against the time range.
//!
//! What survives is a set of candidate row ranges per row group; the plan
//! asks for every label column, `__fingerprint`, and the chunk and
//! checksum columns of the sub-ranges overlapping the time range, each
//! only for the pages covering candidate rows (plus dictionary pages).
//! The exact matchers are applied when reading.

use std::ops::Range;

use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;
use stratus_model::{matches_all, LabelMatcher, MatchKind, TimeRange};

use crate::error::BlockError;
use crate::error::Result;
use crate::fetch::{decode_labels, reader_for, Fetched};
use crate::footer::BlockFooter;
use crate::selection::RowGroupSelection;

/// What to fetch for one query against one block.
///
/// A plan from [`BlockFooter::plan`] covers the candidate rows left by
/// statistics, bloom filters and the page index. It can be used in one
/// round trip (fetch `ranges`, read) or two: fetch only `label_ranges`,
/// [`BlockFooter::refine`] to the rows that really match, then fetch the
/// refined plan's missing ranges ([`Fetched::missing`](crate::Fetched::missing))
/// and read. The second way fetches far fewer chunk bytes for selective
/// queries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadPlan {
    /// Every byte range the read touches, ascending and disjoint
    /// (touching ranges merged).
    pub ranges: Vec<Range<u64>>,
    /// The label-column pages of the candidate rows: a subset of `ranges`,
    /// all that [`BlockFooter::refine`] needs.
    pub label_ranges: Vec<Range<u64>>,
    pub(crate) selections: Vec<RowGroupSelection>,
    /// Chunk sub-ranges overlapping the time range.
    pub(crate) chunks: Range<usize>,
    /// True when the rows are exactly the matching series.
    pub(crate) refined: bool,
}

impl ReadPlan {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Bytes to fetch for `ranges`.
    pub fn total_bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// Bytes to fetch for `label_ranges`.
    pub fn label_bytes(&self) -> u64 {
        self.label_ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// Row groups to read.
    pub fn row_groups(&self) -> usize {
        self.selections.len()
    }

    /// Rows (series) the plan covers: candidates, or after
    /// [`BlockFooter::refine`] exactly the matching series.
    pub fn candidate_rows(&self) -> usize {
        self.selections
            .iter()
            .flat_map(|s| s.rows.iter().map(|r| r.len()))
            .sum()
    }

    pub fn is_refined(&self) -> bool {
        self.refined
    }

    /// The ranges with gaps of at most `gap` bytes merged: fewer requests
    /// for a few more bytes. Fetching these covers every planned range.
    pub fn coalesce(&self, gap: u64) -> Vec<Range<u64>> {
        merge(self.ranges.clone(), gap)
    }
}

/// Sorts and merges ranges whose gap is at most `gap`.
/// A plan must come from this footer: its row groups, rows and chunk
/// sub-ranges must exist.
pub(crate) fn check_plan(footer: &BlockFooter, plan: &ReadPlan) -> Result<()> {
    let ok = plan.chunks.end <= footer.info.num_chunks
        && plan.selections.iter().all(|s| {
            s.row_group < footer.metadata.num_row_groups()
                && s.rows
                    .iter()
                    .all(|r| r.start < r.end && r.end <= footer.rows(s.row_group))
                && s.rows.windows(2).all(|w| w[0].end <= w[1].start)
        });
    if ok {
        Ok(())
    } else {
        Err(BlockError::InvalidOptions {
            what: "plan",
            reason: "the plan was not made from this block's footer".to_string(),
        })
    }
}

fn merge(mut ranges: Vec<Range<u64>>, gap: u64) -> Vec<Range<u64>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

/// The literals of a regex that is a plain alternation of literals
/// (`a|b|c`), or `None` when it has any other syntax.
fn literal_alternatives(re: &str) -> Option<Vec<&str>> {
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
    ];
    if re.contains(META) {
        return None;
    }
    Some(re.split('|').collect())
}

/// What the statistics of one page (or row group) say about a label
/// column's values.
struct ValueStats<'a> {
    /// Lower and upper bound of the non-null values, when there are any.
    min: Option<&'a [u8]>,
    max: Option<&'a [u8]>,
    /// `None` when unknown.
    null_count: Option<i64>,
    rows: i64,
}

/// False only when no row described by `s` can match `m`.
fn may_match(m: &LabelMatcher, s: &ValueStats<'_>) -> bool {
    let has_nulls = s.null_count.is_none_or(|n| n > 0);
    if has_nulls && m.matches_empty() {
        return true;
    }
    let (Some(min), Some(max)) = (s.min, s.max) else {
        // No bounds: every row is null (and nulls do not match, see
        // above), or the statistics are missing.
        return s.null_count.is_none_or(|n| n < s.rows);
    };
    let in_bounds = |v: &str| !v.is_empty() && min <= v.as_bytes() && v.as_bytes() <= max;
    // Equal bounds are exact: truncated bounds always differ.
    let single = (min == max)
        .then(|| std::str::from_utf8(min).ok())
        .flatten();
    match &m.kind {
        MatchKind::Equal => in_bounds(&m.value),
        MatchKind::NotEqual => single != Some(m.value.as_str()),
        MatchKind::Regex(re) => match (literal_alternatives(&m.value), single) {
            (_, Some(v)) => re.is_match(v),
            (Some(lits), None) => lits.iter().any(|l| in_bounds(l)),
            (None, None) => true,
        },
        MatchKind::NotRegex(re) => single.is_none_or(|v| !re.is_match(v)),
    }
}

/// False only when the bloom filter proves no row matches `m`. Only `=`
/// and literal `=~` can be proven absent; matchers that match "" never
/// are (a row without the label matches them).
fn bloom_may_match(m: &LabelMatcher, bloom: &parquet::bloom_filter::Sbbf) -> bool {
    if m.matches_empty() {
        return true;
    }
    match &m.kind {
        MatchKind::Equal => bloom.check(m.value.as_str()),
        MatchKind::Regex(_) => match literal_alternatives(&m.value) {
            Some(lits) => lits.iter().any(|l| bloom.check(*l)),
            None => true,
        },
        _ => true,
    }
}

impl BlockFooter {
    /// Plans the byte ranges needed to answer `matchers` over `range`
    /// (inclusive), after pruning by time, bloom filters and the page
    /// index. An empty plan means no series can match.
    pub fn plan(&self, matchers: &[LabelMatcher], range: TimeRange) -> ReadPlan {
        let info = &self.info;
        let empty = ReadPlan::default();
        if range.min > range.max || range.max < info.min_time || range.min >= info.max_time {
            return empty;
        }
        // Matchers by label column; those on absent labels see "".
        let mut by_column: Vec<(usize, &LabelMatcher)> = Vec::new();
        for m in matchers {
            match self.layout.label_names.iter().position(|n| *n == m.name) {
                Some(c) => by_column.push((c, m)),
                None if m.matches_empty() => {}
                None => return empty,
            }
        }
        let w = info.chunk_width_ms;
        let lo =
            (i128::from(range.min.max(info.min_time)) - i128::from(info.min_time)) / i128::from(w);
        let hi = (i128::from(range.max.min(info.max_time - 1)) - i128::from(info.min_time))
            / i128::from(w);
        let chunks = lo as usize..hi as usize + 1;

        let mut selections = Vec::new();
        for rg in 0..self.metadata.num_row_groups() {
            if by_column.iter().any(|&(c, m)| {
                !self.row_group_may_match(rg, c, m)
                    || self.blooms[rg][c]
                        .as_ref()
                        .is_some_and(|b| !bloom_may_match(m, b))
            }) {
                continue;
            }
            let rows = self.candidate_rows(rg, &by_column, range);
            if !rows.is_empty() {
                selections.push(RowGroupSelection {
                    row_group: rg,
                    rows,
                });
            }
        }
        self.plan_for(selections, chunks, false)
    }

    /// Plans listing the series that match `matchers` over `range` without
    /// their samples: the label pages of the candidate rows and their
    /// `__min_time`/`__max_time` pages, none of the chunk columns. Read it
    /// with [`read_series_labels`](crate::read_series_labels).
    pub fn labels_plan(&self, matchers: &[LabelMatcher], range: TimeRange) -> ReadPlan {
        let p = self.plan(matchers, range);
        if p.is_empty() {
            return p;
        }
        let mut labels = Vec::new();
        let mut data = Vec::new();
        for sel in &p.selections {
            for c in 0..self.layout.num_labels() {
                self.page_ranges(sel.row_group, c, &sel.rows, &mut labels);
            }
            for c in [self.layout.min_time(), self.layout.max_time()] {
                self.page_ranges(sel.row_group, c, &sel.rows, &mut data);
            }
        }
        data.extend(labels.iter().cloned());
        ReadPlan {
            ranges: merge(data, 0),
            label_ranges: merge(labels, 0),
            selections: p.selections,
            chunks: 0..0,
            refined: false,
        }
    }

    /// The ranges for reading `selections`.
    fn plan_for(
        &self,
        selections: Vec<RowGroupSelection>,
        chunks: Range<usize>,
        refined: bool,
    ) -> ReadPlan {
        let mut data_columns = vec![self.layout.fingerprint()];
        for k in chunks.clone() {
            data_columns.extend(self.layout.chunk_columns(k));
            data_columns.push(self.layout.crc_column(k));
        }
        let mut labels = Vec::new();
        let mut data = Vec::new();
        for sel in &selections {
            for c in 0..self.layout.num_labels() {
                self.page_ranges(sel.row_group, c, &sel.rows, &mut labels);
            }
            for &c in &data_columns {
                self.page_ranges(sel.row_group, c, &sel.rows, &mut data);
            }
        }
        data.extend(labels.iter().cloned());
        ReadPlan {
            ranges: merge(data, 0),
            label_ranges: merge(labels, 0),
            selections,
            chunks,
            refined,
        }
    }

    /// Narrows `plan` to the rows that match `matchers`, decoding the label
    /// columns from `fetched`, which must hold `plan.label_ranges`. The
    /// refined plan's `ranges` include the label ranges again (read them
    /// from the same `Fetched`).
    pub fn refine(
        &self,
        plan: &ReadPlan,
        fetched: &Fetched,
        matchers: &[LabelMatcher],
    ) -> Result<ReadPlan> {
        check_plan(self, plan)?;
        let reader = reader_for(self, fetched);
        let mut selections = Vec::new();
        for sel in &plan.selections {
            let mut keep = Vec::new();
            for (row, labels) in decode_labels(self, &reader, sel)? {
                if matches_all(matchers, &labels) {
                    keep.push(row);
                }
            }
            let mut rows: Vec<Range<usize>> = Vec::new();
            for row in keep {
                match rows.last_mut() {
                    Some(last) if last.end == row => last.end = row + 1,
                    _ => rows.push(row..row + 1),
                }
            }
            if !rows.is_empty() {
                selections.push(RowGroupSelection {
                    row_group: sel.row_group,
                    rows,
                });
            }
        }
        Ok(self.plan_for(selections, plan.chunks.clone(), true))
    }

    /// False when the row group statistics of label column `c` prove no
    /// row matches `m`.
    fn row_group_may_match(&self, rg: usize, c: usize, m: &LabelMatcher) -> bool {
        let meta = self.metadata.row_group(rg);
        let Some(Statistics::ByteArray(s)) = meta.column(c).statistics() else {
            return true;
        };
        let stats = ValueStats {
            min: s.min_bytes_opt(),
            max: s.max_bytes_opt(),
            null_count: s.null_count_opt().and_then(|n| i64::try_from(n).ok()),
            rows: meta.num_rows(),
        };
        may_match(m, &stats)
    }

    /// Rows of row group `rg` whose pages may hold matching series.
    fn candidate_rows(
        &self,
        rg: usize,
        by_column: &[(usize, &LabelMatcher)],
        range: TimeRange,
    ) -> Vec<Range<usize>> {
        let n = self.rows(rg);
        let mut keep = vec![true; n];
        let index = self.metadata.page_index();
        let mut drop_page = |col: usize, page: usize| {
            let pages = self.pages(rg, col);
            let start = pages[page].first_row_index as usize;
            let end = pages
                .get(page + 1)
                .map_or(n, |p| p.first_row_index as usize);
            keep[start..end].iter_mut().for_each(|k| *k = false);
        };
        for &(c, m) in by_column {
            let Some(ColumnIndexMetaData::BYTE_ARRAY(ci)) =
                index.and_then(|i| i.column_index(rg, c))
            else {
                continue;
            };
            let pages = self.pages(rg, c);
            if ci.num_pages() != pages.len() as u64 {
                continue;
            }
            for p in 0..pages.len() {
                let start = pages[p].first_row_index;
                let end = pages.get(p + 1).map_or(n as i64, |q| q.first_row_index);
                let stats = ValueStats {
                    min: ci.min_value(p),
                    max: ci.max_value(p),
                    null_count: ci.null_count(p),
                    rows: end - start,
                };
                if !may_match(m, &stats) {
                    drop_page(c, p);
                }
            }
        }
        for (col, use_min) in [
            (self.layout.min_time(), true),
            (self.layout.max_time(), false),
        ] {
            let Some(ColumnIndexMetaData::INT64(ci)) = index.and_then(|i| i.column_index(rg, col))
            else {
                continue;
            };
            if ci.num_pages() != self.pages(rg, col).len() as u64 {
                continue;
            }
            for p in 0..self.pages(rg, col).len() {
                let outside = if use_min {
                    ci.min_value(p).is_some_and(|v| *v > range.max)
                } else {
                    ci.max_value(p).is_some_and(|v| *v < range.min)
                };
                if outside {
                    drop_page(col, p);
                }
            }
        }
        to_ranges(&keep)
    }

    /// Appends the byte ranges of column `c` in row group `rg` needed for
    /// `rows`: the dictionary page, if any, and every data page holding
    /// one of the rows.
    fn page_ranges(&self, rg: usize, c: usize, rows: &[Range<usize>], out: &mut Vec<Range<u64>>) {
        let cc = self.metadata.row_group(rg).column(c);
        let pages = self.pages(rg, c);
        if let Some(dict) = cc.dictionary_page_offset() {
            out.push(dict as u64..cc.data_page_offset() as u64);
        }
        let n = self.rows(rg);
        let mut r = rows.iter().peekable();
        for (p, page) in pages.iter().enumerate() {
            let start = page.first_row_index as usize;
            let end = pages.get(p + 1).map_or(n, |q| q.first_row_index as usize);
            while r.next_if(|row| row.end <= start).is_some() {}
            if r.peek().is_some_and(|row| row.start < end) {
                let off = page.offset as u64;
                out.push(off..off + page.compressed_page_size as u64);
            }
        }
    }
}

fn to_ranges(keep: &[bool]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, k) in keep.iter().enumerate() {
        if !*k {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.end == i => last.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_touching_and_close_ranges() {
        let r = vec![10..20, 0..5, 20..30, 33..40];
        assert_eq!(merge(r.clone(), 0), vec![0..5, 10..30, 33..40]);
        assert_eq!(merge(r.clone(), 3), vec![0..5, 10..40]);
        assert_eq!(merge(r, 5), vec![0..40]);
    }

    #[test]
    fn literal_alternations_only() {
        assert_eq!(literal_alternatives("a|bc"), Some(vec!["a", "bc"]));
        assert_eq!(literal_alternatives("a.*"), None);
        assert_eq!(literal_alternatives(r"a\|b"), None);
    }

    fn stats<'a>(min: &'a str, max: &'a str, nulls: i64, rows: i64) -> ValueStats<'a> {
        ValueStats {
            min: Some(min.as_bytes()),
            max: Some(max.as_bytes()),
            null_count: Some(nulls),
            rows,
        }
    }

    #[test]
    fn page_statistics_prune_soundly() {
        let eq = LabelMatcher::equal("a", "m");
        assert!(may_match(&eq, &stats("k", "n", 0, 5)));
        assert!(!may_match(&eq, &stats("n", "z", 0, 5)));
        let ne = LabelMatcher::not_equal("a", "m");
        assert!(!may_match(&ne, &stats("m", "m", 0, 5)));
        // A row without the label has "", which != "m".
        assert!(may_match(&ne, &stats("m", "m", 1, 5)));
        let re = LabelMatcher::regex("a", "x|m", false).expect("re");
        assert!(may_match(&re, &stats("k", "n", 0, 5)));
        assert!(!may_match(&re, &stats("n", "w", 0, 5)));
        let nre = LabelMatcher::regex("a", "m.*", true).expect("re");
        assert!(!may_match(&nre, &stats("mx", "mx", 0, 5)));
        assert!(may_match(&nre, &stats("ma", "mb", 0, 5)));
        let empty = LabelMatcher::equal("a", "");
        assert!(!may_match(&empty, &stats("a", "b", 0, 5)));
        assert!(may_match(&empty, &stats("a", "b", 2, 5)));
        // All null: only matchers matching "" can match.
        let all_null = ValueStats {
            min: None,
            max: None,
            null_count: Some(5),
            rows: 5,
        };
        assert!(!may_match(&eq, &all_null));
        assert!(may_match(&empty, &all_null));
    }
}
