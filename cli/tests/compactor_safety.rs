//! Compactors racing each other and compactors killed with SIGKILL at
//! random moments must leave a catalog whose blocks hold every sample
//! exactly once, with the newest value written for its timestamp, and a
//! bucket without leftovers once the delays have passed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use stratus_codec::SegmentBuilder;
use stratus_model::{Labels, Sample, TenantId};
use stratus_storage::keys::{blocks_prefix, segments_prefix};
use stratus_storage::{catalog, BlockKey, Bucket, StorageConfig};

const H: i64 = 3_600_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes 40 segments covering 30 hours of 20 series; some timestamps are
/// written twice with different values. Returns what a reader must see.
async fn write_segments(
    bucket: &Bucket,
    tenant: &TenantId,
    base: i64,
) -> BTreeMap<Labels, BTreeMap<i64, f64>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut expected: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
    let series: Vec<Labels> = (0..20)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", "safety_total".to_string()),
                ("i", i.to_string()),
            ])
            .expect("labels")
        })
        .collect();
    for seg in 0..40i64 {
        let mut b = SegmentBuilder::new(tenant);
        // Segment `seg` covers 45 minutes, starting 30 h before `base`;
        // every fourth segment rewrites the previous one's last 5 minutes.
        let start = base - 30 * H + seg * 45 * 60_000 - if seg % 4 == 3 { 5 * 60_000 } else { 0 };
        for l in &series {
            let samples: Vec<Sample> = (0..((45 * 60_000) / 15_000))
                .map(|k| {
                    Sample::new(
                        start + k * 15_000 + 7,
                        rng.random_range(0.0..1e6f64).round(),
                    )
                })
                .collect();
            for s in &samples {
                expected.entry(l.clone()).or_default().insert(s.t, s.v);
            }
            b.add_series(l, &samples).expect("series");
        }
        // ULIDs in write order, older than the grace period.
        let id = ulid::Ulid::from_parts((base - 20 * H + seg * 1000) as u64, rng.random());
        stratus_tests::segments::put(bucket, tenant, id, b).await;
    }
    expected
}

fn compactor(bin: &Path, data: &Path, now: i64) -> Command {
    let mut c = Command::new(bin);
    c.args(["compactor", "--once", "--log-level", "warn", "--data-dir"])
        .arg(data)
        .arg("--now")
        .arg(format!("{}", now as f64 / 1000.0))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_and_killed_compactors_keep_every_sample_exactly_once() {
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let bucket = Bucket::from_config(&StorageConfig {
        data_dir: data.clone(),
        ..StorageConfig::default()
    })
    .expect("bucket");
    let tenant = TenantId::anonymous();
    let base = now_ms();
    let expected = write_segments(&bucket, &tenant, base).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut kills = 0;
    // Passes as of later and later times: segments, range merges, day
    // merges, rollups, due deletes.
    for (round, now) in [base, base + 2 * H, base + 30 * H, base + 60 * H]
        .into_iter()
        .enumerate()
    {
        // Compactors killed at random moments, while there is work.
        for _ in 0..4 {
            let mut c = compactor(bin, &data, now).spawn().expect("spawn");
            std::thread::sleep(Duration::from_millis(rng.random_range(2..60)));
            if c.try_wait().expect("try_wait").is_none() {
                kills += 1;
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Two compactors at once.
        let mut a = compactor(bin, &data, now).spawn().expect("spawn a");
        let mut b = compactor(bin, &data, now).spawn().expect("spawn b");
        let (sa, sb) = (a.wait().expect("wait a"), b.wait().expect("wait b"));
        assert!(sa.success() && sb.success(), "round {round}: {sa} {sb}");
    }
    assert!(
        kills >= 4,
        "only {kills} compactors were still running when killed"
    );
    // A last clean pass far enough ahead for every delay to have passed.
    let end = base + 100 * H;
    assert!(compactor(bin, &data, end)
        .status()
        .expect("final")
        .success());
    assert!(compactor(bin, &data, end)
        .status()
        .expect("settle")
        .success());

    let cat = catalog::load(&bucket, &tenant)
        .await
        .expect("catalog")
        .catalog;
    // Every sample once, across the raw blocks the catalog points at.
    let mut seen: HashMap<Labels, BTreeMap<i64, (f64, usize)>> = HashMap::new();
    for b in cat.blocks.iter().filter(|b| b.resolution_ms == 0) {
        let key = BlockKey::new(tenant.clone(), ulid::Ulid::from_string(&b.id).expect("id")).path();
        let (bytes, _) = bucket.get(&key).await.expect("referenced block exists");
        let (_, series) = stratus_block::read_all(&bytes).expect("block");
        for (labels, samples) in series {
            let m = seen.entry(labels).or_default();
            for s in samples {
                m.entry(s.t).and_modify(|e| e.1 += 1).or_insert((s.v, 1));
            }
        }
    }
    let mut checked = 0;
    for (labels, want) in &expected {
        let got = seen
            .get(labels)
            .unwrap_or_else(|| panic!("series {labels} missing"));
        assert_eq!(got.len(), want.len(), "{labels}: sample count");
        for (t, v) in want {
            let (gv, n) = got
                .get(t)
                .unwrap_or_else(|| panic!("{labels} @ {t} missing"));
            assert_eq!(*n, 1, "{labels} @ {t} stored {n} times");
            assert_eq!(gv, v, "{labels} @ {t}: the newest write wins");
            checked += 1;
        }
    }
    // Nothing left behind: no segments, no blocks the catalog does not use.
    let segs = bucket.list(&segments_prefix(&tenant)).await.expect("list");
    assert!(segs.is_empty(), "{} segments left", segs.len());
    // Blocks the catalog does not use are the output of killed or beaten
    // compactors. They are deleted once an hour old by the wall clock (a
    // younger one may be about to be committed by a pass still running,
    // whatever `--now` says), so here, seconds after they were written,
    // they are all still there; the planner's unit tests cover deleting
    // them when due.
    let objects = bucket.list(&blocks_prefix(&tenant)).await.expect("list");
    let names: std::collections::HashSet<String> = objects
        .iter()
        .filter_map(|o| BlockKey::parse(&o.key).map(|k| k.id().to_string()))
        .collect();
    for b in &cat.blocks {
        assert!(
            names.contains(&b.id),
            "block {} of the catalog is missing",
            b.id
        );
    }
    let wall = now_ms();
    for o in &objects {
        let k = BlockKey::parse(&o.key).expect("a block key");
        assert!(
            cat.blocks.iter().any(|b| b.id == k.id().to_string())
                || (k.id().timestamp_ms() as i64) + H > wall,
            "an unreferenced block older than the orphan delay was left: {}",
            o.key
        );
    }
    assert!(cat.pending_deletes.is_empty(), "{:?}", cat.pending_deletes);
    // The admin commands show the same catalog and read its blocks.
    let out = Command::new(bin)
        .args(["admin", "blocks", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .expect("admin blocks");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        listed["anonymous"],
        serde_json::to_value(&cat).expect("catalog json")
    );
    let raw = cat
        .blocks
        .iter()
        .find(|b| b.resolution_ms == 0)
        .expect("a raw block");
    let out = Command::new(bin)
        .args(["admin", "inspect", &raw.id, "--data-dir"])
        .arg(&data)
        .output()
        .expect("admin inspect");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains(&format!("{} series, {} samples", raw.series, raw.samples)),
        "{text}"
    );
    println!(
        "checked {checked} samples of {} series once each; {kills} compactors killed mid-pass; {} live blocks",
        expected.len(),
        cat.blocks.len()
    );
}
