//! `stratus admin ...`: look into the bucket.

use std::io::Write;

use anyhow::{bail, Context};
use clap::Subcommand;
use stratus_model::TenantId;
use stratus_storage::{catalog, BlockKey, Bucket};

use crate::settings::Settings;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// List each tenant's catalog: live blocks, watermark, pending deletes
    Blocks {
        /// Only this tenant
        #[arg(long)]
        tenant: Option<String>,
        /// Print the catalogs as JSON ({"<tenant>": <catalog>})
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Series, samples, bytes per sample and layout of one block
    Inspect {
        /// The block id (a ULID, as `admin blocks` lists it)
        block: String,
        #[arg(long, default_value = "anonymous")]
        tenant: String,
        #[command(flatten)]
        settings: Settings,
    },
}

fn rfc3339(ms: i64) -> String {
    stratus_model::time::format_rfc3339(ms, stratus_model::time::Fraction::None)
}

async fn tenants(bucket: &Bucket, only: Option<&str>) -> anyhow::Result<Vec<TenantId>> {
    if let Some(t) = only {
        return Ok(vec![TenantId::new(t)?]);
    }
    Ok(bucket.tenants().await?)
}

pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Blocks {
            tenant,
            json,
            settings,
        } => {
            let cfg = settings.load()?.resolve()?;
            let bucket = Bucket::from_config(&cfg.storage)?;
            let mut all = serde_json::Map::new();
            let out = std::io::stdout();
            let mut out = out.lock();
            for t in tenants(&bucket, tenant.as_deref()).await? {
                let cat = catalog::load(&bucket, &t).await?.catalog;
                if json {
                    all.insert(t.to_string(), serde_json::to_value(&cat)?);
                    continue;
                }
                writeln!(
                    out,
                    "tenant {t}: catalog generation {}, segments compacted before {}, {} blocks, {} pending deletes, {} delete requests",
                    cat.generation,
                    rfc3339(cat.segment_watermark_ms),
                    cat.blocks.len(),
                    cat.pending_deletes.len(),
                    cat.tombstones.len()
                )?;
                writeln!(
                    out,
                    "  {:<26} {:>5} {:>10} {:<20} {:<20} {:>9} {:>12} {:>12} {:>7}",
                    "id",
                    "level",
                    "resolution",
                    "from",
                    "to",
                    "series",
                    "samples",
                    "bytes",
                    "B/smpl"
                )?;
                let mut blocks = cat.blocks.clone();
                blocks.sort_by(|a, b| {
                    (a.min_time, a.resolution_ms).cmp(&(b.min_time, b.resolution_ms))
                });
                for b in &blocks {
                    let res = if b.resolution_ms == 0 {
                        "raw".to_string()
                    } else {
                        format!("{}s", b.resolution_ms / 1000)
                    };
                    writeln!(
                        out,
                        "  {:<26} {:>5} {:>10} {:<20} {:<20} {:>9} {:>12} {:>12} {:>7.2}",
                        b.id,
                        b.level,
                        res,
                        rfc3339(b.min_time),
                        rfc3339(b.max_time),
                        b.series,
                        b.samples,
                        b.bytes,
                        b.bytes as f64 / b.samples.max(1) as f64
                    )?;
                }
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
            }
            Ok(())
        }
        AdminCommand::Inspect {
            block,
            tenant,
            settings,
        } => {
            let cfg = settings.load()?.resolve()?;
            let bucket = Bucket::from_config(&cfg.storage)?;
            let id = ulid::Ulid::from_string(&block)
                .with_context(|| format!("{block:?} is not a block id (a ULID expected)"))?;
            let key = BlockKey::new(TenantId::new(&tenant)?, id).path();
            let size = match bucket.head(&key).await {
                Ok(h) => h.size,
                Err(stratus_storage::StorageError::NotFound { .. }) => {
                    bail!("no block {block} for tenant {tenant} ({key})")
                }
                Err(e) => return Err(e.into()),
            };
            eprintln!("reading {key} ({size} bytes)...");
            let (bytes, _) = bucket.get(&key).await?;
            let stats = stratus_block::inspect(&bytes)
                .with_context(|| format!("block {key} is unreadable"))?;
            println!("{stats}");
            Ok(())
        }
    }
}
