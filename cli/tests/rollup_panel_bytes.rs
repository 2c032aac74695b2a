//! What a 30-day panel reads (issue 25): `sum by (host)
//! (rate(node_cpu_seconds_total[1h]))` at a 1 h step over 30 days of
//! node-like counters at 60 s, compacted into day blocks with 5 m and 1 h
//! rollups, asked of `stratus all` with `stats=all` under
//! `max_source_resolution=raw` and under `auto` (the default). Prints the
//! bytes each read from the bucket (`storage.getBytes`), checks that the
//! answers agree and that `auto` read the 1 h rollups, and checks the
//! issue's bound: at most a tenth of the raw bytes.
//!
//! Ignored by default (about 70 s in a debug build on two cores); run with
//! `cargo test -p stratus-cli --test rollup_panel_bytes -- --ignored --nocapture`
//! (the README's Benchmarks section has the figures).

use std::path::Path;
use std::time::{Duration, Instant};

use stratus_tests::differential::{
    compare, get_answer, now_ms, seconds, time_batches, write_all, Evaluation, Rng,
};
use stratus_tests::rw::SeriesData;
use stratus_tests::stratus::StratusProcess;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const DAYS: i64 = 30;
const HOSTS: usize = 10;
const PANEL: &str = "sum by (host) (rate(node_cpu_seconds_total[1h]))";

/// 2 CPUs x 4 modes per host, a counter each, scraped every 60 s (a few
/// seconds past the minute, jittered), in whole hundredths of a second.
fn generate(day0: i64) -> Vec<SeriesData> {
    let mut rng = Rng::new(0x2025_0034);
    let mut out = Vec::new();
    for h in 0..HOSTS {
        let host = format!("host-{h:03}");
        let offset = rng.int(2_000, 50_000);
        for cpu in ["0", "1"] {
            for (mode, mean) in [
                ("idle", 52.0),
                ("user", 5.0),
                ("system", 1.5),
                ("iowait", 0.3),
            ] {
                let mut v = (rng.range(1e5, 1e6) * 100.0).round() / 100.0;
                let samples = (0..DAYS * 24 * 60)
                    .map(|i| {
                        v += (rng.range(0.0, 2.0 * mean) * 100.0).round() / 100.0;
                        let t = day0 + i * MINUTE + offset + rng.int(-400, 400);
                        (t, v)
                    })
                    .collect();
                let mut labels: Vec<(String, String)> = [
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", cpu),
                    ("host", host.as_str()),
                    ("job", "node"),
                    ("mode", mode),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                labels.sort();
                out.push((labels, samples));
            }
        }
    }
    out
}

fn compactor_pass(bin: &Path, data_dir: &Path, now: i64) -> String {
    let out = std::process::Command::new(bin)
        .args(["compactor", "--once", "--log-level", "warn", "--data-dir"])
        .arg(data_dir)
        .arg("--now")
        .arg(seconds(now))
        .args(["--segment-grace", "0s"])
        .output()
        .expect("running the compactor");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Blocks in the catalog: (resolution, count).
fn block_counts(bin: &Path, data_dir: &Path) -> Vec<(i64, usize)> {
    let out = std::process::Command::new(bin)
        .args(["admin", "blocks", "--json", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("stratus admin blocks");
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut counts = std::collections::BTreeMap::new();
    for b in all["anonymous"]["blocks"].as_array().into_iter().flatten() {
        *counts
            .entry(b["resolution_ms"].as_i64().unwrap_or(-1))
            .or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "minutes: 30 days of data through remote_write and the compactor"]
async fn a_30_day_rate_panel_reads_a_tenth_of_the_raw_bytes() {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let stratus = StratusProcess::start(
        bin,
        0,
        &data_dir,
        &dir.path().join("stratus.log"),
        &[
            "--commit-window",
            "50ms",
            "--query-listing-ttl",
            "0s",
            "--max-sample-age",
            "40d",
            "--compaction-interval",
            "24h",
            // Each answer evaluated whole, from the bucket.
            "--query-results-cache-bytes",
            "0",
            "--query-memory-bytes",
            "4294967296",
        ],
    )
    .expect("stratus");
    let day0 = now_ms().div_euclid(DAY) * DAY - (DAYS + 2) * DAY;
    let series = generate(day0);
    let samples: usize = series.iter().map(|(_, s)| s.len()).sum();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client");
    let batches = time_batches(
        &series,
        |t| ((t - day0).div_euclid(MINUTE)) as usize,
        (DAYS * 24 * 60) as usize - 1,
        120,
    );
    write_all(&client, &stratus.url("/api/v1/write"), &batches).await;
    println!(
        "panel bytes: {} series, {samples} samples written in {:.1}s",
        series.len(),
        began.elapsed().as_secs_f64()
    );
    let end = day0 + DAYS * DAY;
    for pass in 0..4 {
        let line = compactor_pass(bin, &data_dir, end + DAY);
        let counts = block_counts(bin, &data_dir);
        println!("panel bytes: compactor pass {pass}: {line}; blocks by resolution {counts:?}");
        if counts
            == [
                (0, DAYS as usize),
                (300_000, DAYS as usize),
                (3_600_000, DAYS as usize),
            ]
        {
            break;
        }
        assert!(pass < 3, "not 30 day blocks with their rollups: {counts:?}");
    }

    let eval = Evaluation::Range {
        start_ms: day0 + HOUR,
        end_ms: end,
        step_ms: HOUR,
    };
    let path = format!("{}&stats=all", eval.request_path(PANEL));
    let mut bytes = Vec::new();
    let mut answers = Vec::new();
    for resolution in ["raw", "auto"] {
        let a = get_answer(
            &client,
            &stratus.url(""),
            &format!("{path}&max_source_resolution={resolution}"),
        )
        .await
        .expect("panel query");
        assert_eq!(a.json["status"], "success", "{}", a.body);
        let storage = &a.json["data"]["stats"]["storage"];
        let got = storage["getBytes"]
            .as_u64()
            .expect("stats=all storage.getBytes");
        println!(
            "panel bytes: {PANEL}, 30 d at 1 h, max_source_resolution={resolution}: {got} bytes in {} GETs, infos {}",
            storage["getRequests"],
            a.json["infos"]
        );
        bytes.push(got);
        answers.push(a);
    }
    compare(&answers[1].json, &answers[0].json, false).expect("auto answers as raw does");
    let infos = answers[1].json["infos"].to_string();
    assert!(
        infos.contains("read from 1h rollups"),
        "auto read the 1 h rollups: {infos}"
    );
    assert!(answers[1].json["warnings"]
        .as_array()
        .is_none_or(Vec::is_empty));
    let ratio = bytes[1] as f64 / bytes[0] as f64;
    println!(
        "panel bytes: summary raw_bytes={} auto_bytes={} ratio={ratio:.3} ({:.0}s)",
        bytes[0],
        bytes[1],
        began.elapsed().as_secs_f64()
    );
    assert!(ratio <= 0.10, "auto read {ratio:.3} of the raw bytes");
}
