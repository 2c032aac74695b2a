//! The compactor end to end in `stratus bench compact`: a window written
//! as writers leave it (one-minute segments in a bucket), one compaction
//! pass, and the block checked against what was written.

use anyhow::ensure;
use stratus_block::read_all;
use stratus_model::{Labels, Sample, TenantId};

use super::{Cpu, Digest, HOUR, WINDOW};

/// Seconds of data per segment in the end-to-end run.
const SEGMENT_SECONDS: i64 = 60;

/// What the end-to-end compaction of the first window measured.
pub(super) struct EndToEnd {
    pub samples: u64,
    pub segments: usize,
    pub cpu_s: f64,
    pub block_bytes: u64,
}

/// Writes `data` (the window `[min_t, min_t + WINDOW)`) as segments of
/// [`SEGMENT_SECONDS`] into a fresh in-memory bucket, runs one compaction
/// pass, and checks the block it made holds exactly `want`.
pub(super) async fn compact_end_to_end(
    cpu: &Cpu,
    tenant: &TenantId,
    labels: &[Labels],
    data: &[Vec<Sample>],
    min_t: i64,
    want: Digest,
) -> anyhow::Result<EndToEnd> {
    use stratus_codec::SegmentBuilder;
    use stratus_compactor::{Compactor, CompactorConfig, CompactorMetrics};
    use stratus_storage::{catalog, BlockKey, Bucket, SegmentKey};

    let bucket = Bucket::in_memory();
    let per = SEGMENT_SECONDS * 1000;
    let mut segments = 0;
    for (k, lo) in (min_t..min_t + WINDOW).step_by(per as usize).enumerate() {
        let mut b = SegmentBuilder::new(tenant);
        for (l, samples) in labels.iter().zip(data) {
            let from = samples.partition_point(|s| s.t < lo);
            let to = samples.partition_point(|s| s.t < lo + per);
            if from < to {
                b.add_series(l, &samples[from..to])?;
            }
        }
        // Named as a writer names it when it uploads the minute.
        let id = ulid::Ulid::from_parts((lo + per) as u64, k as u128);
        bucket
            .put(
                &SegmentKey::new(tenant.clone(), id).path(),
                b.finish()?.into(),
            )
            .await?;
        segments += 1;
    }
    let cfg = CompactorConfig {
        downsample: false,
        ..CompactorConfig::default()
    };
    let compactor = Compactor::new(
        bucket.clone(),
        cfg,
        CompactorMetrics::new(&mut prometheus_client::registry::Registry::default()),
    );
    let c0 = cpu.now()?;
    let report = compactor.run_once(min_t + WINDOW + HOUR).await?;
    let cpu_s = cpu.now()? - c0;
    ensure!(
        report.segments_compacted == segments,
        "the compactor took {} of {segments} segments",
        report.segments_compacted
    );
    let cat = catalog::load(&bucket, tenant).await?.catalog;
    ensure!(
        cat.blocks.len() == 1,
        "one block expected, the catalog lists {}",
        cat.blocks.len()
    );
    let key = BlockKey::new(tenant.clone(), ulid::Ulid::from_string(&cat.blocks[0].id)?).path();
    let (bytes, _) = bucket.get(&key).await?;
    let (_, back) = read_all(&bytes)?;
    let mut digest = Digest::new();
    for (l, s) in &back {
        digest.series(l, s);
    }
    ensure!(
        digest == want,
        "the compactor's block differs from the samples written as segments"
    );
    Ok(EndToEnd {
        samples: report.samples_written,
        segments,
        cpu_s,
        block_bytes: bytes.len() as u64,
    })
}
