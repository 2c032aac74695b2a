//! Bytes per sample of a node-exporter-like 2 h block, and what plans
//! fetch from it. The full-size run is ignored in debug builds:
//!
//! ```text
//! cargo test --release -p stratus-block --test size -- --ignored --nocapture
//! ```

mod common;

use common::*;
use stratus_block::*;
use stratus_model::{LabelMatcher, TenantId, TimeRange};

fn write(d: &Dataset, opts: &BlockOptions) -> Vec<u8> {
    write_raw_block(
        &TenantId::new("team-a").expect("tenant"),
        0,
        2 * HOUR,
        d.series.iter().map(|(l, s)| (l, s.as_slice())),
        opts,
    )
    .expect("write")
}

/// Generous bound: the packed cells of this dataset take about 0.93 bytes
/// per sample (the bits of each change), labels, fingerprints, checksums
/// and the footer add about 5%.
const MAX_BYTES_PER_SAMPLE: f64 = 1.15;

#[test]
fn small_node_exporter_block_size() {
    let d = node_exporter(10, 480, 0, 1);
    let file = write(&d, &BlockOptions::default());
    let stats = inspect(&file).expect("inspect");
    println!("{stats}");
    assert_eq!(stats.info.num_samples, 10 * 238 * 480);
    assert!(
        stats.bytes_per_sample < MAX_BYTES_PER_SAMPLE,
        "{} bytes/sample",
        stats.bytes_per_sample
    );
}

#[test]
#[ignore = "large: run with --release"]
fn node_exporter_200_hosts_2h() {
    let d = node_exporter(200, 480, 0, 1);
    let samples: usize = d.series.iter().map(|s| s.1.len()).sum();
    println!("{} series, {samples} samples", d.series.len());
    // Chunk column bytes per sample by metric (a block per metric), to see
    // where the bytes go.
    let mut by_name: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, (l, _)) in d.series.iter().enumerate() {
        by_name
            .entry(l.metric_name().unwrap_or("").to_string())
            .or_default()
            .push(i);
    }
    for (name, rows) in &by_name {
        let file = write_raw_block(
            &TenantId::new("team-a").expect("tenant"),
            0,
            2 * HOUR,
            rows.iter()
                .map(|&i| (&d.series[i].0, d.series[i].1.as_slice())),
            &BlockOptions::default(),
        )
        .expect("write");
        let stats = inspect(&file).expect("inspect");
        let chunks: u64 = stats
            .columns
            .iter()
            .filter(|c| c.name.starts_with("__chunk_"))
            .map(|c| c.compressed_bytes)
            .sum();
        println!(
            "  {name}: {:.3} chunk bytes/sample",
            chunks as f64 / stats.info.num_samples as f64
        );
    }
    let mut sizes = Vec::new();
    for (name, opts) in [
        ("default (zstd on every column)", BlockOptions::default()),
        (
            "chunk columns uncompressed",
            BlockOptions {
                compress_chunks: false,
                ..BlockOptions::default()
            },
        ),
    ] {
        let start = std::time::Instant::now();
        let file = write(&d, &opts);
        let took = start.elapsed();
        let stats = inspect(&file).expect("inspect");
        let chunk_bytes: u64 = stats
            .columns
            .iter()
            .filter(|c| c.name.starts_with("__chunk_"))
            .map(|c| c.compressed_bytes)
            .sum();
        let chunk_raw: u64 = stats
            .columns
            .iter()
            .filter(|c| c.name.starts_with("__chunk_"))
            .map(|c| c.uncompressed_bytes)
            .sum();
        println!(
            "{name}: {} bytes, {:.4} bytes/sample (chunk columns {chunk_bytes} bytes from \
             {chunk_raw} chunk bytes, {:.4} bytes/sample), footer {} bytes, written in {took:?}",
            file.len(),
            stats.bytes_per_sample,
            chunk_bytes as f64 / samples as f64,
            stats.footer_bytes
        );
        println!("{stats}");
        assert!(stats.bytes_per_sample < MAX_BYTES_PER_SAMPLE);
        sizes.push(file);
    }
    let file = &sizes[0];
    let len = file.len() as u64;
    let q = Querier::open(file);
    println!("footer: {} fetch(es) of the last bytes", q.footer_fetches);
    let all = TimeRange::new(0, 2 * HOUR);
    let queries: Vec<(&str, Vec<LabelMatcher>)> = vec![
        (
            "__name__=\"node_load1\"",
            vec![LabelMatcher::equal("__name__", "node_load1")],
        ),
        (
            "__name__=\"node_load1\",instance=\"host-00042:9100\"",
            vec![
                LabelMatcher::equal("__name__", "node_load1"),
                LabelMatcher::equal("instance", "host-00042:9100"),
            ],
        ),
        (
            "__name__=\"node_cpu_seconds_total\",instance=\"host-00042:9100\"",
            vec![
                LabelMatcher::equal("__name__", "node_cpu_seconds_total"),
                LabelMatcher::equal("instance", "host-00042:9100"),
            ],
        ),
        (
            "__name__=\"node_cpu_seconds_total\"",
            vec![LabelMatcher::equal("__name__", "node_cpu_seconds_total")],
        ),
        (
            "instance=\"host-00042:9100\"",
            vec![LabelMatcher::equal("instance", "host-00042:9100")],
        ),
    ];
    for (name, m) in &queries {
        let plan = q.footer.plan(m, all);
        let got = read_raw(&q.footer, &plan, &q.fetch(&plan.ranges), m, all).expect("read");
        let (two, p1, p2) = q.two_phase(m, all);
        assert_eq!(got, two);
        assert_eq!(got, naive(&d.series, m, all));
        println!(
            "{name}: {} series; one phase {} bytes ({:.2}% of the file, {} ranges, {} \
             candidate rows); two phases {p1} + {p2} bytes ({:.2}%)",
            got.len(),
            plan.total_bytes(),
            plan.total_bytes() as f64 * 100.0 / len as f64,
            plan.ranges.len(),
            plan.candidate_rows(),
            (p1 + p2) as f64 * 100.0 / len as f64
        );
    }
    let m = [LabelMatcher::equal("__name__", "node_load1")];
    assert!(q.footer.plan(&m, all).total_bytes() < len / 20);
}
