//! Recent data for a query whose head is far behind the bucket (a querier
//! that just started, or one idle for long): instead of reading every
//! segment above the watermark into the head first, the query reads the
//! indexes of the packs overlapping its range and only the groups of the
//! metric names it selects, plus the few segments no pack holds yet
//! (ADR 0033). The head catches up in the background meanwhile.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use stratus_codec::{read_segment, PackIndex, SeriesView};
use stratus_model::{merge_newer, Labels, Sample, TimeRange};
use stratus_storage::ObjectPath;

use super::caching_bucket::CachingBucket;
use super::packs::{self, Held, Listing};
use crate::matcher::LabelMatcher;
use crate::source::SourceError;

/// What a cold read is for.
#[derive(Clone, Copy)]
pub(super) enum Want<'a> {
    /// The series matching these matchers, with their samples in range.
    Series(&'a [LabelMatcher]),
    /// Label names and values of the series with samples in range.
    Names,
}

/// Recent data read for one query.
#[derive(Default)]
pub(super) struct Cold {
    series: Vec<(Labels, Vec<Sample>)>,
    names: BTreeMap<String, BTreeSet<String>>,
}

impl Cold {
    pub(super) fn select(self) -> Vec<(Labels, Vec<Sample>)> {
        self.series
    }

    pub(super) fn label_sets(&self) -> Vec<Labels> {
        self.series.iter().map(|(l, _)| l.clone()).collect()
    }

    pub(super) fn label_names(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }

    pub(super) fn label_values(&self, name: &str) -> Vec<String> {
        self.names
            .get(name)
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// One object to read: a segment no pack holds, or a pack (whose data
/// counts as written at its last segment) with its index if read.
enum Unit {
    Segment(ObjectPath),
    Pack {
        key: ObjectPath,
        entry: stratus_codec::PackEntry,
        index: Option<Arc<PackIndex>>,
    },
}

/// What one unit gave.
enum Found {
    Series(Vec<(Labels, Vec<Sample>)>),
    Names(Vec<(String, String)>),
}

/// Reads what `want` needs of the recent data: `held` are the packs at or
/// above the watermark with the listed segments they hold.
pub(super) async fn read(
    store: &CachingBucket,
    held: &[Held],
    listing: &Listing,
    watermark_ms: i64,
    want: Want<'_>,
    range: TimeRange,
    width: usize,
) -> Result<Cold, SourceError> {
    let mut units: Vec<(u128, Unit)> = packs::unpacked(listing, held, watermark_ms)
        .into_iter()
        .map(|pos| {
            (
                listing.ulids[pos],
                Unit::Segment(listing.keys[pos].0.clone()),
            )
        })
        .collect();
    units.extend(
        held.iter()
            .filter(|h| h.entry.min_time <= range.max && h.entry.max_time >= range.min)
            .map(|h| {
                let unit = Unit::Pack {
                    key: h.key.clone(),
                    entry: h.entry.clone(),
                    index: h.index.clone(),
                };
                (h.last, unit)
            }),
    );
    units.sort_by_key(|(order, _)| *order);

    // Merged as they come (in order): a series' labels are kept once, not
    // once per pack that holds it.
    let reads = units
        .into_iter()
        .map(|(_, unit)| read_unit(store, unit, want, range, width));
    let mut reads = stream::iter(reads).buffered(width.max(1));
    let mut cold = Cold::default();
    let mut series: HashMap<Labels, Vec<Sample>> = HashMap::new();
    while let Some(found) = reads.next().await {
        match found? {
            Found::Series(s) => {
                for (labels, samples) in s {
                    match series.get_mut(&labels) {
                        Some(into) => merge_newer(into, &samples),
                        None => {
                            series.insert(labels, samples);
                        }
                    }
                }
            }
            Found::Names(pairs) => {
                for (n, v) in pairs {
                    cold.names.entry(n).or_default().insert(v);
                }
            }
        }
    }
    cold.series = series.into_iter().collect();
    Ok(cold)
}

async fn read_unit(
    store: &CachingBucket,
    unit: Unit,
    want: Want<'_>,
    range: TimeRange,
    width: usize,
) -> Result<Found, SourceError> {
    match unit {
        Unit::Segment(key) => {
            let bytes = store.read(&key, None).await?;
            decode(&key, bytes, matchers_of(want), range).await
        }
        Unit::Pack { key, entry, index } => {
            let index = match index {
                Some(i) => i,
                None => packs::index(store, &key, &entry).await?,
            };
            let Want::Series(matchers) = want else {
                return Ok(Found::Names(names_of(&index)));
            };
            let names: Vec<&LabelMatcher> =
                matchers.iter().filter(|m| m.name == "__name__").collect();
            let groups: Vec<std::ops::Range<u64>> = index
                .groups
                .iter()
                .filter(|g| g.min_time <= range.max && g.max_time >= range.min)
                .filter(|g| names.iter().all(|m| m.matches_value(&g.name)))
                .map(|g| g.offset..g.offset + g.len)
                .collect();
            let key = &key;
            let reads = groups.into_iter().map(|r| async move {
                let bytes = store.read(key, Some(r)).await?;
                decode(key, bytes, Some(matchers.to_vec()), range).await
            });
            let found: Vec<Found> = stream::iter(reads)
                .buffered(width.max(1))
                .try_collect()
                .await?;
            let mut out = Vec::new();
            for f in found {
                if let Found::Series(s) = f {
                    out.extend(s);
                }
            }
            Ok(Found::Series(out))
        }
    }
}

fn matchers_of(want: Want<'_>) -> Option<Vec<LabelMatcher>> {
    match want {
        Want::Series(m) => Some(m.to_vec()),
        Want::Names => None,
    }
}

fn names_of(index: &PackIndex) -> Vec<(String, String)> {
    index
        .labels
        .iter()
        .flat_map(|(n, vs)| vs.iter().map(move |v| (n.clone(), v.clone())))
        .collect()
}

/// [`from_segment`] of the segment (or pack group) `bytes` read from
/// `key`, on a blocking thread.
async fn decode(
    key: &ObjectPath,
    bytes: Bytes,
    matchers: Option<Vec<LabelMatcher>>,
    range: TimeRange,
) -> Result<Found, SourceError> {
    let decoded =
        tokio::task::spawn_blocking(move || from_segment(&bytes, matchers.as_deref(), range)).await;
    let error = |e: String| SourceError::corrupt(key, format!("segment {key}: {e}"));
    match decoded {
        Ok(r) => r.map_err(|e| error(e.to_string())),
        Err(e) => Err(error(e.to_string())),
    }
}

/// The value of label `name` of a series seen by `read_segment`, or "".
fn value_of<'a>(s: &SeriesView<'_, 'a>, name: &str) -> &'a str {
    s.refs
        .iter()
        .find(|&&(n, _)| s.symbols[n as usize] == name)
        .map(|&(_, v)| s.symbols[v as usize])
        .unwrap_or("")
}

/// The series of a segment (or a pack's group) matching `matchers` with
/// their samples in `range`; with no matchers, the label pairs of the
/// series with samples in range. Nothing is kept unless the whole segment
/// is valid.
fn from_segment(
    bytes: &Bytes,
    matchers: Option<&[LabelMatcher]>,
    range: TimeRange,
) -> Result<Found, stratus_codec::CodecError> {
    let in_range = |samples: &[Sample]| -> std::ops::Range<usize> {
        let lo = samples.partition_point(|x| x.t < range.min);
        let hi = samples.partition_point(|x| x.t <= range.max);
        lo..hi.max(lo)
    };
    match matchers {
        Some(matchers) => {
            let mut out = Vec::new();
            read_segment(bytes, |s| {
                if !matchers
                    .iter()
                    .all(|m| m.matches_value(value_of(s, &m.name)))
                {
                    return;
                }
                let r = in_range(s.samples);
                if !r.is_empty() {
                    out.push((s.labels(), s.samples[r].to_vec()));
                }
            })?;
            Ok(Found::Series(out))
        }
        None => {
            let mut pairs: HashSet<(u32, u32)> = HashSet::new();
            let mut symbols: Vec<String> = Vec::new();
            read_segment(bytes, |s| {
                if symbols.is_empty() {
                    symbols = s.symbols.iter().map(|x| x.to_string()).collect();
                }
                if !in_range(s.samples).is_empty() {
                    pairs.extend(s.refs.iter().copied());
                }
            })?;
            let names = pairs
                .into_iter()
                .map(|(n, v)| (symbols[n as usize].clone(), symbols[v as usize].clone()))
                .collect();
            Ok(Found::Names(names))
        }
    }
}
