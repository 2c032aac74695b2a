//! The report of `stratus bench query --dataset node`: a line per query,
//! the refresh round, and the memory of the querier against its bounds.

use super::super::querier::{configured_bounds, describe_bounds};
use super::{mib, Counts, NodeQuery, Prometheus, QueryArgs, StratusQuery, PROCESS_ALLOWANCE_BYTES};

fn fmt_counts(c: &Counts) -> String {
    format!(
        "{} GETs ({} data + {} catalog) {:.2} MiB, {} LIST",
        c.gets,
        c.data_gets(),
        c.catalog_gets(),
        mib(c.get_bytes),
        c.lists
    )
}

/// One line per query: cold, warm and Prometheus's times and their
/// ratios. Returns the largest warm and cold ratios and whether every
/// query answered.
pub(super) fn report_queries(
    queries: &[NodeQuery],
    stratus: &[Result<StratusQuery, String>],
    prom: Option<&Prometheus>,
) -> (f64, f64, bool) {
    let (mut warm_max, mut cold_max) = (f64::NAN, f64::NAN);
    let mut complete = true;
    for (i, q) in queries.iter().enumerate() {
        let p = prom.map(|p| &p.queries[i]);
        let line = match (&stratus[i], p) {
            (Err(e), _) => {
                complete = false;
                format!("stratus error: {e}")
            }
            (Ok(s), p) => {
                let (prom_text, ratios) = match p {
                    Some(Ok(p)) => {
                        let (w, c) = (s.warm_ms / p.median_ms, s.cold_ms / p.median_ms);
                        warm_max = warm_max.max(w);
                        cold_max = cold_max.max(c);
                        let check = if p.series == s.series {
                            String::new()
                        } else {
                            format!(
                                " SERIES MISMATCH: prometheus {} stratus {}",
                                p.series, s.series
                            )
                        };
                        (
                            format!("prom {:.1} ms", p.median_ms),
                            format!("warm/prom {w:.2} cold/prom {c:.2}{check}"),
                        )
                    }
                    Some(Err(e)) => {
                        complete = false;
                        (format!("prom error: {e}"), "ratios n/a".to_string())
                    }
                    None => ("prom n/a".to_string(), "ratios n/a".to_string()),
                };
                let mismatch = s
                    .stats_mismatch
                    .map(|(st, c)| format!(" (stats=all said {st} GETs, counters {c})"))
                    .unwrap_or_default();
                format!(
                    "cold {:.1} ms [{}]{mismatch}, warm {:.1} ms [{}], {prom_text}, {ratios}; {} series, {:.1} MiB answer; cold querier peak RSS {:.0} MiB",
                    s.cold_ms,
                    fmt_counts(&s.cold),
                    s.warm_ms,
                    fmt_counts(&s.warm),
                    s.series,
                    mib(s.response_bytes as u64),
                    mib(s.cold_rss)
                )
            }
        };
        println!("q{} {}: {line}", i + 1, q.label);
    }
    (warm_max, cold_max, complete)
}

/// The refresh round's requests per query; returns its data GETs.
pub(super) fn report_refresh(stratus: &[Result<StratusQuery, String>]) -> u64 {
    println!(
        "refresh (every query again, start and end 30 s later, the data unchanged, catalog cache expired):"
    );
    let mut refresh_data_gets = 0;
    let (mut refresh_catalog, mut refresh_lists) = (0, 0);
    for (i, s) in stratus.iter().enumerate() {
        if let Ok(s) = s {
            refresh_data_gets += s.refresh.data_gets();
            refresh_catalog += s.refresh.catalog_gets();
            refresh_lists += s.refresh.lists;
            println!(
                "  q{}: {:.1} ms, {}",
                i + 1,
                s.refresh_ms,
                fmt_counts(&s.refresh)
            );
        }
    }
    println!(
        "  refresh total: {refresh_data_gets} data GETs, {refresh_catalog} catalog GETs, {refresh_lists} LISTs (summary's refresh_gets counts data GETs only)"
    );
    refresh_data_gets
}

/// Peak RSS of the querier processes (and Prometheus), against the
/// querier's configured bounds when the queries' bound is set.
pub(super) fn report_memory(
    args: &QueryArgs,
    stratus: &[Result<StratusQuery, String>],
    warm_rss: u64,
    prom: Option<&Prometheus>,
) {
    let cold_rss = stratus
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .map(|s| s.cold_rss)
        .max()
        .unwrap_or(0);
    println!(
        "peak RSS (VmHWM) of the querier child process: {:.0} MiB for the one answering every query warm and the refresh, {:.0} MiB at most for a cold one answering a single query{}",
        mib(warm_rss),
        mib(cold_rss),
        prom.map(|p| format!(
            "; prometheus {:.0} MiB (its compaction at start included; {} blocks after {:.0} s of compaction)",
            mib(p.peak_rss),
            p.blocks,
            p.compaction_wait_s
        ))
        .unwrap_or_default()
    );
    if args.query_memory_bytes == 0 {
        return;
    }
    // What the querier is configured to hold (its defaults, as in
    // `querier::serve`): the object cache's memory tier, the decoded
    // segments, the blocks' label sets, the results, the queries' bound,
    // and an allowance for the process itself (runtime, block footers,
    // disk write buffers, allocator slack).
    let mut parts = configured_bounds(&args.querier_limits());
    parts.push(("process", PROCESS_ALLOWANCE_BYTES));
    let bound: u64 = parts.iter().map(|p| p.1).sum();
    let peak = warm_rss.max(cold_rss);
    println!(
        "memory bound of the querier: {}; peak RSS {:.0} MiB, {:.2} of it: {}",
        describe_bounds(&parts),
        mib(peak),
        peak as f64 / bound as f64,
        if peak <= bound { "under" } else { "OVER" }
    );
}
