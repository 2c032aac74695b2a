//! The figures behind the README's cost section, measured: the ingest and
//! query handlers are invoked in this process through the Function URL
//! event path, against an in-memory bucket that adds a fixed latency to
//! every request (S3's first-byte latency, 30 ms by default), so the wall
//! time of an invocation is what Lambda would bill.
//!
//! `cargo run --release -p stratus-lambda --example cost [LATENCY_MS]`
//!
//! Ingest: 1 000 000 samples from 10 000 series (one scrape every 15 s)
//! sent in requests of 2 000 samples (Prometheus's default
//! `max_samples_per_send`). Query: 1 000 instant and range queries a
//! dashboard makes over that data, on one warm function instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use stratus_lambda::{ingest_app, local, query_app, Settings};
use stratus_model::{Clock, SystemClock};
use stratus_storage::{Bucket, FaultConfig, FaultyStore, InMemory, RetryPolicy};
use stratus_tests::rw::{encode_v1, SeriesData};

/// Public on-demand prices, us-east-1, as listed by AWS in 2026.
const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const S3_PUT: f64 = 0.005 / 1000.0;
const S3_GET: f64 = 0.0004 / 1000.0;
/// Amazon Managed Service for Prometheus: ingestion (first 2 billion
/// samples a month) and query samples processed.
const AMP_INGEST_SAMPLE: f64 = 0.90 / 10e6;
const AMP_QUERY_SAMPLE: f64 = 0.10 / 1e9;

const SERIES: usize = 10_000;
const PER_REQUEST: usize = 2_000;
const SAMPLES: usize = 1_000_000;
const INGEST_MB: f64 = 512.0;
const QUERY_MB: f64 = 1769.0;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let latency_ms: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(30);
    let faulty = Arc::new(FaultyStore::new(
        Arc::new(InMemory::new()),
        FaultConfig {
            latency: Duration::from_millis(latency_ms),
            ..FaultConfig::default()
        },
    ));
    let bucket = Bucket::new(faulty.clone(), RetryPolicy::default());
    let settings = Settings::default();
    let ingest = ingest_app(bucket.clone(), &settings).await?;
    println!("storage latency: {latency_ms} ms per request (in-memory bucket)");

    // ---- ingest ----
    let scrapes = SAMPLES / SERIES;
    let now = SystemClock.now_ms();
    let start = now - (scrapes as i64) * 15_000;
    let mut batch: Vec<SeriesData> = Vec::new();
    let mut in_batch = 0;
    let mut walls = Vec::new();
    let mut bodies = 0usize;
    let calls0 = faulty.calls();
    let mut send = |batch: Vec<SeriesData>| {
        let body = encode_v1(&batch);
        bodies += body.len();
        let event = local::function_url_event(
            "POST",
            "/api/v1/write",
            "",
            &{
                let mut h = HeaderMap::new();
                h.insert("content-encoding", "snappy".parse().expect("header"));
                h.insert(
                    "content-type",
                    "application/x-protobuf".parse().expect("header"),
                );
                h
            },
            &body,
        );
        let app = ingest.clone();
        async move {
            let t = Instant::now();
            let answer = local::invoke(app, event).await?;
            anyhow::ensure!(answer["statusCode"] == 204, "ingest answered {answer}");
            Ok::<f64, anyhow::Error>(t.elapsed().as_secs_f64() * 1000.0)
        }
    };
    for k in 0..scrapes {
        for s in 0..SERIES {
            batch.push((
                vec![
                    ("__name__".into(), format!("cost_metric_{}", s % 100)),
                    ("instance".into(), format!("host-{}", s / 100)),
                    ("job".into(), "node".into()),
                ],
                vec![(start + k as i64 * 15_000, (k * s) as f64)],
            ));
            in_batch += 1;
            if in_batch == PER_REQUEST {
                walls.push(send(std::mem::take(&mut batch)).await?);
                in_batch = 0;
            }
        }
    }
    let puts = faulty.calls() - calls0;
    let invocations = walls.len();
    let ingest_ms: f64 = walls.iter().sum();
    let gb_s = ingest_ms / 1000.0 * INGEST_MB / 1024.0;
    let ingest_cost =
        gb_s * LAMBDA_ARM_GB_SECOND + invocations as f64 * LAMBDA_REQUEST + puts as f64 * S3_PUT;
    println!(
        "ingest: {SAMPLES} samples in {invocations} invocations of {PER_REQUEST} samples ({:.1} bytes/sample on the wire), \
         {puts} storage requests; invocation median {:.1} ms, mean {:.1} ms",
        bodies as f64 / SAMPLES as f64,
        median(walls.clone()),
        ingest_ms / invocations as f64
    );
    println!(
        "ingest cost per million samples: ${ingest_cost:.4} ({gb_s:.2} GB-s at {INGEST_MB} MB = ${:.4}, requests ${:.4}, S3 PUTs ${:.4}); \
         Amazon Managed Prometheus: ${:.4}",
        gb_s * LAMBDA_ARM_GB_SECOND,
        invocations as f64 * LAMBDA_REQUEST,
        puts as f64 * S3_PUT,
        SAMPLES as f64 * AMP_INGEST_SAMPLE
    );

    // ---- queries ----
    let query = query_app(bucket.clone(), &settings);
    let end_s = now as f64 / 1000.0;
    let start_s = start as f64 / 1000.0;
    let panels = [
        format!("query=sum%20by%20(instance)%20(rate(cost_metric_1%5B5m%5D))&start={start_s}&end={end_s}&step=60"),
        format!("query=max(cost_metric_2)&start={start_s}&end={end_s}&step=60"),
        format!("query=count(cost_metric_3)&time={end_s}"),
        format!("query=topk(5%2C%20cost_metric_4)&time={end_s}"),
    ];
    // Samples a query engine processes for these panels (AMP bills them):
    // 100 series per metric, every sample in the range.
    let processed_per_round = (100 * scrapes * 2 + 100 * 20 * 2) as f64;
    let mut qwalls = Vec::new();
    let calls0 = faulty.calls();
    let mut first = None;
    for i in 0..1000 {
        let qs = &panels[i % panels.len()];
        let path = if qs.contains("&step=") {
            "/api/v1/query_range"
        } else {
            "/api/v1/query"
        };
        let event = local::function_url_event("GET", path, qs, &HeaderMap::new(), &[]);
        let t = Instant::now();
        let answer = local::invoke(query.clone(), event).await?;
        anyhow::ensure!(answer["statusCode"] == 200, "query answered {answer}");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if i == 0 {
            first = Some(ms);
        }
        qwalls.push(ms);
    }
    let gets = faulty.calls() - calls0;
    let query_ms: f64 = qwalls.iter().sum();
    let qgb_s = query_ms / 1000.0 * QUERY_MB / 1024.0;
    let query_cost = qgb_s * LAMBDA_ARM_GB_SECOND + 1000.0 * LAMBDA_REQUEST + gets as f64 * S3_GET;
    let amp_query = processed_per_round / panels.len() as f64 * 1000.0 * AMP_QUERY_SAMPLE;
    println!(
        "queries: 1000 on one warm instance, {gets} storage requests; first {:.1} ms, median {:.1} ms, mean {:.1} ms",
        first.unwrap_or(0.0),
        median(qwalls.clone()),
        query_ms / 1000.0
    );
    println!(
        "query cost per thousand queries: ${query_cost:.4} ({qgb_s:.2} GB-s at {QUERY_MB} MB = ${:.4}, requests ${:.4}, S3 GETs ${:.4}); \
         Amazon Managed Prometheus: ${amp_query:.4} ({:.0} samples processed per query)",
        qgb_s * LAMBDA_ARM_GB_SECOND,
        1000.0 * LAMBDA_REQUEST,
        gets as f64 * S3_GET,
        processed_per_round / panels.len() as f64
    );
    println!(
        "summary: ingest_usd_per_million_samples={ingest_cost:.4} amp={:.4} query_usd_per_thousand={query_cost:.4} amp={amp_query:.4}",
        SAMPLES as f64 * AMP_INGEST_SAMPLE
    );
    Ok(())
}
