//! `stratus bench recent` end to end at toy size: 8 hosts (host-007 is
//! the one-series query's) for a minute,
//! against Prometheus too when it is installed. The summary line parses
//! and every query answered with data on every target.

use std::process::Command;

#[test]
fn bench_recent_runs_end_to_end_at_toy_size() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    cmd.args([
        "bench",
        "recent",
        "--series",
        "8000",
        "--minutes",
        "1",
        "--query-every-s",
        "15",
        "--latency-ms",
        "5",
    ]);
    let prometheus = stratus_tests::prometheus::prometheus_bin().ok();
    if let Some(bin) = &prometheus {
        cmd.arg("--compare-prometheus")
            .arg("--prometheus-bin")
            .arg(bin);
    }
    let out = cmd.output().expect("running stratus bench recent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    let last = stdout.lines().last().expect("some output");
    let fields: Vec<(&str, &str)> = last
        .strip_prefix("summary: ")
        .unwrap_or_else(|| panic!("last line is not the summary: {last}"))
        .split(' ')
        .map(|kv| kv.split_once('=').expect("key=value"))
        .collect();
    let keys: Vec<&str> = fields.iter().map(|f| f.0).collect();
    assert_eq!(
        keys,
        [
            "series",
            "small_warm_ms_max",
            "small_cold_ms_max",
            "heavy_warm_ratio_max",
            "lookup_warm_ms_max",
            "freshness_s_p99",
            "peak_rss_ratio"
        ]
    );
    assert_eq!(fields[0].1, "8000");
    for (k, v) in &fields {
        if *k == "heavy_warm_ratio_max" && prometheus.is_none() {
            assert_eq!(*v, "n/a");
            continue;
        }
        let x: f64 = v.parse().unwrap_or_else(|_| panic!("{k}={v} in {last}"));
        assert!(x > 0.0 && x.is_finite(), "{k}={v}");
    }

    // Every query's row: entries of the last answers, warm/cold/prometheus.
    for q in 1..=7 {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("q{q} ")))
            .unwrap_or_else(|| panic!("no row q{q}:\n{stdout}"));
        let counts = row
            .rsplit_once("n=")
            .expect("an entries column")
            .1
            .split('/')
            .collect::<Vec<_>>();
        let targets = if prometheus.is_some() { 3 } else { 2 };
        for c in &counts[..targets] {
            let n: usize = c
                .parse()
                .unwrap_or_else(|_| panic!("q{q} has no answer: {row}\n{stdout}"));
            assert!(n > 0, "q{q} answered no data: {row}");
        }
    }
}
