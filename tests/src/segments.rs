//! Reading back what is stored: every sample of every segment in a bucket.

use std::collections::HashMap;

use anyhow::Context;
use stratus_codec::decode_segment;
use stratus_model::{Labels, Sample};
use stratus_storage::keys::{segments_prefix, tenants_root};
use stratus_storage::Bucket;

/// Every stored sample per series, over all tenants and segments, in the
/// order segments were written.
pub async fn all_samples(bucket: &Bucket) -> anyhow::Result<HashMap<Labels, Vec<Sample>>> {
    let mut out: HashMap<Labels, Vec<Sample>> = HashMap::new();
    for tenant in bucket.list_dirs(&tenants_root()).await? {
        let tenant = stratus_model::TenantId::new(&tenant)?;
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
