//! Every function on one machine, for LocalStack or any S3 emulator: the
//! ingest and query handlers behind Function-URL-shaped HTTP fronts, and
//! the compactor invoked on a schedule, all in this process. Settings come
//! from the same environment variables as on AWS, plus
//! `STRATUS_S3_ENDPOINT` / `STRATUS_S3_PATH_STYLE` for the emulator.
//!
//! `local [INGEST_ADDR] [QUERY_ADDR] [SCHEDULE]`, by default
//! `127.0.0.1:9201 127.0.0.1:9202 5m`.

use std::time::{Duration, Instant};

use stratus_lambda::{compact, env, ingest_app, local, query_app_with_cache, ScheduledEvent};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let (settings, bucket) = env::cold_start()?;
    let schedule = stratus_model::time::parse_std_duration(&arg(2, "5m"))
        .map_err(|e| anyhow::anyhow!("the schedule: {e} (a duration such as 5m)"))?;

    let ingest = TcpListener::bind(arg(0, "127.0.0.1:9201")).await?;
    let query = TcpListener::bind(arg(1, "127.0.0.1:9202")).await?;
    println!(
        "ingest function URL: http://{}/  (remote_write: http://{}/api/v1/write)",
        ingest.local_addr()?,
        ingest.local_addr()?
    );
    println!("query function URL: http://{}/", query.local_addr()?);
    println!(
        "compactor: every {}",
        stratus_model::time::format_std_duration(schedule)
    );
    let ingest_app = local::function_url(ingest_app(bucket.clone(), &settings).await?);
    let cache = std::sync::Arc::new(stratus_storage::RangeCache::new(&settings.cache).await?);
    let query_app =
        local::function_url(query_app_with_cache(bucket.clone(), &settings, Some(cache)));
    tokio::spawn(async move { axum::serve(ingest, ingest_app).await });
    tokio::spawn(async move { axum::serve(query, query_app).await });
    let mut tick = tokio::time::interval(schedule);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // As EventBridge Scheduler would: one invocation, with the
                // function's timeout as its deadline.
                let deadline = Instant::now() + Duration::from_secs(900);
                match compact(bucket.clone(), &settings, &ScheduledEvent::default(), Some(deadline)).await {
                    Ok(r) => println!("compactor: {}", serde_json::to_string(&r)?),
                    Err(e) => eprintln!("compactor failed: {e:#}"),
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
