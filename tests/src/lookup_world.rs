//! The data the series and label lookup suites share: three days of
//! node-like series whose presence varies by job, compacted into 2 h and
//! day blocks with the last segments left as they are, and a source over
//! it.

use std::time::Duration;

use prometheus_client::registry::Registry;
use stratus_codec::SegmentBuilder;
use stratus_compactor::{Compactor, CompactorConfig, CompactorMetrics};
use stratus_model::{Clock, Labels, Sample, SystemClock, TenantId};
use stratus_query::{BucketSource, BucketSourceOptions};
use stratus_storage::{catalog, Bucket};

pub const H: i64 = 3_600_000;
pub const D: i64 = 24 * H;
pub const MIN: i64 = 60_000;

pub const JOBS: [&str; 4] = ["steady", "early", "late", "flappy"];
pub const INSTANCES: i64 = 10;

/// Which minutes of the three days a series of `job` has samples in.
pub fn present(job: &str, minute: i64) -> bool {
    match job {
        // Always there.
        "steady" => true,
        // Only the first 20 hours.
        "early" => minute < 20 * 60,
        // Starts on day 2, 10:00.
        "late" => minute >= 34 * 60,
        // Comes and goes every 5 hours, 2 hours on.
        _ => minute % 300 < 120,
    }
}

pub struct World {
    pub bucket: Bucket,
    pub tenant: TenantId,
    /// Midnight (UTC) three days ago: the first sample.
    pub base: i64,
}

/// `up` and `node_load1` of [`INSTANCES`] instances per job, one sample a
/// minute in 6 h segments, then compacted: 2 h and day blocks for the
/// first days, the last segments left as they are. Only the `late` job's
/// series have a `zone` label.
pub async fn world() -> World {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let now = SystemClock.now_ms();
    let base = now - now.rem_euclid(D) - 3 * D;
    for part in 0..12 {
        let mut b = SegmentBuilder::new(&tenant);
        for job in JOBS {
            for name in ["up", "node_load1"] {
                for i in 0..INSTANCES {
                    let instance = format!("host-{i:02}");
                    let zone = format!("z{}", i % 3);
                    let mut pairs = vec![
                        ("__name__", name),
                        ("instance", instance.as_str()),
                        ("job", job),
                    ];
                    if job == "late" {
                        pairs.push(("zone", zone.as_str()));
                    }
                    let l = Labels::from_pairs(pairs).expect("labels");
                    // Values that do not compress to nothing.
                    let samples: Vec<Sample> = (part * 360..(part + 1) * 360)
                        .filter(|&m| present(job, m))
                        .map(|m| {
                            let v = ((m * 7919 + i * 104_729) % 10_007) as f64 / 7.0;
                            Sample::new(base + m * MIN, v)
                        })
                        .collect();
                    if !samples.is_empty() {
                        b.add_series(&l, &samples).expect("series");
                    }
                }
            }
        }
        let id = ulid::Ulid::from_parts((now - 2 * H + part * 1000) as u64, part as u128);
        crate::segments::put(&bucket, &tenant, id, b).await;
    }
    Compactor::new(
        bucket.clone(),
        CompactorConfig::default(),
        CompactorMetrics::new(&mut Registry::default()),
    )
    .run_once(now + H)
    .await
    .expect("compaction pass");
    World {
        bucket,
        tenant,
        base,
    }
}

/// A source over `bucket` that keeps the catalog for `listing_ttl`.
pub fn source(bucket: &Bucket, listing_ttl: Duration) -> BucketSource {
    BucketSource::new(
        bucket.clone(),
        BucketSourceOptions {
            listing_ttl,
            ..BucketSourceOptions::default()
        },
    )
}

/// Records a delete request for the series with `job="<job>"` over all
/// three days and more.
pub async fn delete_job(w: &World, job: &str) {
    let base = catalog::load(&w.bucket, &w.tenant).await.expect("catalog");
    let mut cat = base.catalog.clone();
    cat.tombstones.push(stratus_codec::Tombstone {
        id: ulid::Ulid::new().to_string(),
        min_time: w.base - D,
        max_time: w.base + 4 * D,
        created_ms: SystemClock.now_ms(),
        matchers: vec![stratus_codec::TombstoneMatcher {
            name: "job".into(),
            op: "=".into(),
            value: job.into(),
        }],
    });
    catalog::commit(&w.bucket, &w.tenant, &base, &cat)
        .await
        .expect("commit");
}
