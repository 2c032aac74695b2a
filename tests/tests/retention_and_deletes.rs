//! Delete requests and retention show in query answers at once and, after
//! compaction, in the bucket: the deleted samples are gone from the blocks,
//! expired blocks are deleted, and the object count drops.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use stratus_codec::SegmentBuilder;
use stratus_compactor::{Compactor, CompactorConfig, CompactorMetrics};
use stratus_model::{Clock, Labels, Sample, SystemClock, TenantId};
use stratus_query::api::{router, QueryState};
use stratus_query::{BucketSource, BucketSourceOptions, Engine, EngineOptions, SeriesSource};
use stratus_storage::keys::{blocks_prefix, tenant_root};
use stratus_storage::{catalog, BlockKey, Bucket, SegmentKey};
use tower::ServiceExt;

const H: i64 = 3_600_000;
const D: i64 = 24 * H;

struct World {
    bucket: Bucket,
    app: axum::Router,
    tenant: TenantId,
    base: i64,
    now: i64,
}

/// Two series, one sample a minute for three days; the data ends before now.
async fn world() -> World {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let now = SystemClock.now_ms();
    let base = now - now.rem_euclid(D) - 3 * D;
    for part in 0..12 {
        let mut b = SegmentBuilder::new(&tenant);
        for job in ["a", "b"] {
            let l = Labels::from_pairs([("__name__", "kept_total"), ("job", job)]).expect("labels");
            let samples: Vec<Sample> = (0..360)
                .map(|k| Sample::new(base + part * 6 * H + k * 60_000, k as f64))
                .collect();
            b.add_series(&l, &samples).expect("series");
        }
        let id = ulid::Ulid::from_parts((now - 2 * H + part * 1000) as u64, part as u128);
        bucket
            .put(
                &SegmentKey::new(tenant.clone(), id).path(),
                b.finish().expect("segment").into(),
            )
            .await
            .expect("put");
    }
    let source: Arc<dyn SeriesSource> = Arc::new(BucketSource::new(
        bucket.clone(),
        BucketSourceOptions {
            listing_ttl: Duration::ZERO,
            ..BucketSourceOptions::default()
        },
    ));
    let app = router(QueryState {
        engine: Engine::new(source.clone(), EngineOptions::default()),
        source,
        clock: Arc::new(SystemClock),
        multitenancy: false,
        max_body_bytes: 1 << 20,
        admin: Some(bucket.clone()),
    });
    World {
        bucket,
        app,
        tenant,
        base,
        now,
    }
}

impl World {
    async fn pass(&self, now: i64, cfg: CompactorConfig) {
        Compactor::new(
            self.bucket.clone(),
            cfg,
            CompactorMetrics::new(&mut Registry::default()),
        )
        .run_once(now)
        .await
        .expect("compaction pass");
    }

    /// Samples of `job` in `[from, to)` as the API counts them.
    async fn count(&self, job: &str, from: i64, to: i64) -> f64 {
        let q = format!(
            "count_over_time(kept_total{{job=\"{job}\"}}[{}s])",
            (to - from) / 1000
        );
        let uri = format!(
            "/api/v1/query?query={}&time={}",
            urlencode(&q),
            (to - 1) as f64 / 1000.0
        );
        let resp = self
            .app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).expect("req"))
            .await
            .expect("resp");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        v["data"]["result"][0]["value"][1]
            .as_str()
            .map_or(0.0, |s| s.parse().expect("number"))
    }

    /// Samples of `job` in `[from, to)` physically in the raw blocks.
    async fn stored(&self, job: &str, from: i64, to: i64) -> usize {
        let cat = catalog::load(&self.bucket, &self.tenant)
            .await
            .expect("catalog")
            .catalog;
        let mut n = 0;
        for b in cat.blocks.iter().filter(|b| b.resolution_ms == 0) {
            let key = BlockKey::new(
                self.tenant.clone(),
                ulid::Ulid::from_string(&b.id).expect("id"),
            )
            .path();
            let (bytes, _) = self.bucket.get(&key).await.expect("block");
            let (_, series) = stratus_block::read_all(&bytes).expect("read");
            for (l, s) in series {
                if l.get("job") == Some(job) {
                    n += s.iter().filter(|x| x.t >= from && x.t < to).count();
                }
            }
        }
        n
    }

    async fn objects(&self) -> usize {
        self.bucket
            .list(&tenant_root(&self.tenant))
            .await
            .expect("list")
            .len()
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_requests_hide_at_once_and_leave_the_blocks_after_compaction() {
    let w = world().await;
    let cfg = CompactorConfig::default();
    w.pass(w.now + H, cfg.clone()).await;
    let (day2, day3) = (w.base + D, w.base + 2 * D);
    assert_eq!(w.count("a", day2, day3).await, 1440.0);
    assert_eq!(w.stored("a", day2, day3).await, 1440);

    let req = Request::post("/api/v1/admin/tsdb/delete_series")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "match%5B%5D={}&start={}&end={}",
            urlencode("kept_total{job=\"a\"}"),
            day2 as f64 / 1000.0,
            (day3 - 1) as f64 / 1000.0
        )))
        .expect("request");
    let resp = w.app.clone().oneshot(req).await.expect("resp");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // Hidden at once, before any compaction; the other series is intact.
    assert_eq!(w.count("a", day2, day3).await, 0.0);
    assert_eq!(w.count("a", w.base, day2).await, 1440.0);
    assert_eq!(w.count("b", day2, day3).await, 1440.0);
    assert_eq!(
        w.stored("a", day2, day3).await,
        1440,
        "still in the blocks until compaction"
    );

    // The compactor rewrites the blocks and forgets the request.
    w.pass(w.now + 2 * H, cfg.clone()).await;
    w.pass(w.now + 2 * H, cfg.clone()).await;
    assert_eq!(w.stored("a", day2, day3).await, 0, "gone from the blocks");
    assert_eq!(w.stored("a", w.base, day2).await, 1440);
    assert_eq!(w.stored("b", day2, day3).await, 1440);
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    assert!(
        cat.tombstones.is_empty(),
        "applied requests are forgotten: {:?}",
        cat.tombstones
    );
    assert_eq!(w.count("a", day2, day3).await, 0.0);
    assert_eq!(w.count("b", day2, day3).await, 1440.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_blocks_from_answers_and_the_bucket() {
    let w = world().await;
    let mut cfg = CompactorConfig::default();
    w.pass(w.now + H, cfg.clone()).await;
    w.pass(w.now + D, cfg.clone()).await; // past every delete delay
    let before = w.objects().await;
    assert_eq!(w.count("a", w.base, w.base + D).await, 1440.0);

    // Keep raw data for 2 days, as of a time that puts only the first day
    // beyond it.
    cfg.retention_raw = Duration::from_secs(2 * 24 * 3600);
    let at = w.base + 3 * D + H;
    w.pass(at, cfg.clone()).await;
    assert_eq!(
        w.count("a", w.base, w.base + D).await,
        0.0,
        "expired data is no longer answered"
    );
    assert_eq!(
        w.count("a", w.base + D, w.base + 2 * D).await,
        1440.0,
        "newer data stays"
    );
    // The expired blocks are deleted once the delay has passed.
    w.pass(at + 20 * 60_000, cfg.clone()).await;
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    assert!(cat
        .blocks
        .iter()
        .filter(|b| b.resolution_ms == 0)
        .all(|b| b.max_time > w.base + D));
    let after = w.objects().await;
    assert!(
        after < before,
        "objects: {before} before retention, {after} after"
    );
    let blocks = w
        .bucket
        .list(&blocks_prefix(&w.tenant))
        .await
        .expect("list")
        .len();
    assert_eq!(blocks, cat.blocks.len(), "only live blocks remain");
    println!("objects before retention {before}, after {after}");
}
