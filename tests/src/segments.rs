//! Segments for tests: writing one as the ingest path would, and reading
//! back every sample of every segment in a bucket.

use std::collections::HashMap;

use anyhow::Context;
use stratus_codec::{decode_segment, SegmentBuilder};
use stratus_model::{Labels, Sample, TenantId};
use stratus_storage::keys::segments_prefix;
use stratus_storage::{Bucket, SegmentKey};

/// Writes the segment built in `b` under `id` (its ULID time is the
/// segment's write time for the compactor's grace period).
pub async fn put(bucket: &Bucket, tenant: &TenantId, id: ulid::Ulid, b: SegmentBuilder) {
    bucket
        .put(
            &SegmentKey::new(tenant.clone(), id).path(),
            b.finish().expect("segment").into(),
        )
        .await
        .expect("put");
}

/// Every stored sample per series, over all tenants and segments, in the
/// order segments were written.
pub async fn all_samples(bucket: &Bucket) -> anyhow::Result<HashMap<Labels, Vec<Sample>>> {
    let mut out: HashMap<Labels, Vec<Sample>> = HashMap::new();
    for tenant in bucket.tenants().await? {
        for obj in bucket.list(&segments_prefix(&tenant)).await? {
            let (bytes, _) = bucket.get(&obj.key).await?;
            let seg = decode_segment(&bytes).with_context(|| format!("decoding {}", obj.key))?;
            for s in seg.series {
                out.entry(s.labels).or_default().extend(s.samples);
            }
        }
    }
    Ok(out)
}
