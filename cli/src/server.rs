//! `stratus all` / `stratus ingest`: the HTTP server with every component
//! of this build in one process.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use stratus_alerting::{build, AlertingApi};
use stratus_compactor::{Compactor, CompactorMetrics};
use stratus_ingest::{Writer, WriterConfig};
use stratus_model::{Clock, SystemClock};
use stratus_storage::{keys, Bucket, StorageBackend};
use tokio::net::TcpListener;
use tracing::info;

use crate::settings::Resolved;

type SharedRegistry = Arc<Mutex<Registry>>;

async fn metrics(State(registry): State<SharedRegistry>) -> impl IntoResponse {
    let mut text = String::new();
    let r = registry.lock().unwrap_or_else(|e| e.into_inner());
    match prometheus_client::encoding::text::encode(&mut text, &r) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("encoding metrics failed: {e}"),
        ),
    }
}

/// Bucket reads of the process and the object cache's hits and misses,
/// read at each scrape.
#[derive(Debug)]
struct StorageCollector {
    cache: Option<Arc<stratus_storage::RangeCache>>,
    results: Option<Arc<stratus_query::ResultsCache>>,
    query_memory: Option<Arc<stratus_query::QueryMemory>>,
    head: Option<HeadGauges>,
}

/// The querier whose head of recent segments `/metrics` reports.
struct HeadGauges(stratus_query::Querier);

impl std::fmt::Debug for HeadGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadGauges")
    }
}

impl prometheus_client::collector::Collector for StorageCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        let p = stratus_storage::process_counts();
        let mut counters = vec![
            (
                "stratus_storage_get_requests",
                "GET requests to the bucket (whole objects and ranges)",
                p.gets,
            ),
            (
                "stratus_storage_get_bytes",
                "Bytes returned by GET requests to the bucket",
                p.get_bytes,
            ),
            (
                "stratus_storage_list_requests",
                "LIST requests to the bucket",
                p.lists,
            ),
        ];
        if let Some(c) = &self.cache {
            let c = c.counts();
            counters.push((
                "stratus_object_cache_hits",
                "Object reads answered by the hybrid cache (memory or disk)",
                c.hits,
            ));
            counters.push((
                "stratus_object_cache_misses",
                "Object reads the hybrid cache had to fetch from the bucket",
                c.misses,
            ));
            counters.push((
                "stratus_object_cache_memory_evictions",
                "Entries the cache's memory tier evicted to make room (kept on the disk tier when there is one)",
                c.memory_evictions,
            ));
            counters.push((
                "stratus_object_cache_memory_evicted_bytes",
                "Bytes of the entries the cache's memory tier evicted",
                c.memory_evicted_bytes,
            ));
            counters.push((
                "stratus_object_cache_disk_evictions",
                "Entries the cache's disk tier dropped when it reclaimed space (--cache-dir)",
                c.disk_evictions,
            ));
            counters.push((
                "stratus_object_cache_disk_evicted_bytes",
                "Bytes on disk of the entries the cache's disk tier dropped",
                c.disk_evicted_bytes,
            ));
        }
        if let Some(r) = &self.results {
            let c = r.counts();
            counters.push((
                "stratus_query_results_cache_hits",
                "Range-query splits answered from the results cache",
                c.hits,
            ));
            counters.push((
                "stratus_query_results_cache_misses",
                "Range-query splits old enough to cache that had to be evaluated",
                c.misses,
            ));
            counters.push((
                "stratus_query_results_cache_late",
                "Of the misses, cached splits evaluated again because late samples were written into them",
                c.late,
            ));
            counters.push((
                "stratus_query_results_cache_uncacheable",
                "Range-query splits too recent to cache, and queries never split (@ modifiers)",
                c.uncacheable,
            ));
            counters.push((
                "stratus_query_results_cache_evictions",
                "Results evicted to stay under --query-results-cache-bytes",
                c.evictions,
            ));
        }
        if let Some(m) = &self.query_memory {
            counters.push((
                "stratus_query_memory_rejected",
                "Queries failed because the memory they needed would pass --query-memory-bytes",
                m.rejected(),
            ));
        }
        for (name, help, v) in counters {
            let counter = ConstCounter::new(v);
            let m = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(m)?;
        }
        if let Some(HeadGauges(q)) = &self.head {
            use prometheus_client::metrics::gauge::ConstGauge;
            let h = q.head_stats();
            for (name, help, v) in [
                (
                    "stratus_query_head_series",
                    "Series in the querier's head of recent segments",
                    h.series,
                ),
                (
                    "stratus_query_head_segments",
                    "Segments the head of recent segments holds",
                    h.segments,
                ),
                (
                    "stratus_query_head_bytes",
                    "Memory the head of recent segments holds (estimated)",
                    h.bytes,
                ),
                (
                    "stratus_query_head_limit_bytes",
                    "Bound on the head of recent segments (--query-head-bytes; 0: none)",
                    h.limit,
                ),
            ] {
                let gauge = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
                let d = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                gauge.encode(d)?;
            }
        }
        if let Some(m) = &self.query_memory {
            use prometheus_client::metrics::gauge::ConstGauge;
            for (name, help, v) in [
                (
                    "stratus_query_memory_limit_bytes",
                    "Memory running queries may hold together (--query-memory-bytes)",
                    m.limit(),
                ),
                (
                    "stratus_query_memory_used_bytes",
                    "Memory running queries hold now (estimated from series and samples)",
                    m.used(),
                ),
            ] {
                let gauge = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
                let d = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                gauge.encode(d)?;
            }
        }
        Ok(())
    }
}

fn describe(cfg: &Resolved) -> String {
    match cfg.storage.backend {
        StorageBackend::Local => format!("local folder {}", cfg.storage.data_dir.display()),
        StorageBackend::S3 => format!("s3://{}", cfg.storage.s3.bucket),
        StorageBackend::Memory => "memory".into(),
    }
}

/// Which components a server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Components {
    pub ingest: bool,
    pub query: bool,
    pub compactor: bool,
    /// The ruler and the notifier.
    pub ruler: bool,
}

/// `stratus compactor`: one pass (`--once`) or a loop until a signal.
pub async fn compactor(cfg: Resolved, once: bool, now: Option<&str>) -> anyhow::Result<()> {
    let bucket = Bucket::from_config(&cfg.storage)?;
    let mut registry = Registry::default();
    let metrics = CompactorMetrics::new(&mut registry);
    let c = Compactor::new(bucket, cfg.compactor.clone(), metrics);
    if once {
        let c = c.with_progress(std::sync::Arc::new(print_progress));
        let now_ms = match now {
            Some(t) => {
                stratus_query::api::parse_time(t, "now").map_err(|e| anyhow::anyhow!("{e}"))?
            }
            None => SystemClock.now_ms(),
        };
        let r = c.run_once(now_ms).await?;
        println!(
            "compaction pass: {} tenants, {} jobs ({} lost a race), {} blocks written, {} segments compacted, {} objects deleted, {} bytes read, {} bytes written",
            r.tenants, r.jobs, r.conflicts, r.blocks_written, r.segments_compacted, r.objects_deleted, r.bytes_read, r.bytes_written
        );
        return Ok(());
    }
    let packing = async {
        let every = cfg
            .pack_interval
            .unwrap_or(std::time::Duration::from_secs(5));
        if !every.is_zero() {
            c.pack_loop(every, &SystemClock, shutdown_signal()).await;
        }
    };
    let compaction = c.run_loop(cfg.compaction_interval, &SystemClock, shutdown_signal());
    futures::join!(packing, compaction);
    Ok(())
}

/// One line per finished job on stderr: what it did and the pass so far.
fn print_progress(d: &stratus_compactor::JobDone<'_>) {
    let o = d.outcome;
    let mut what = Vec::new();
    if o.segments_compacted > 0 {
        what.push(format!("{} segments in", o.segments_compacted));
    }
    if o.blocks_written > 0 {
        let content = if o.rollup_points_written > 0 {
            format!("{} rollup points", o.rollup_points_written)
        } else {
            format!("{} samples", o.samples_written)
        };
        what.push(format!(
            "{} block{} out ({content}, {})",
            o.blocks_written,
            if o.blocks_written == 1 { "" } else { "s" },
            human_bytes(o.bytes_written)
        ));
    }
    if o.objects_deleted > 0 {
        what.push(format!("{} objects deleted", o.objects_deleted));
    }
    if !o.committed {
        what.push("lost a race, planned again".into());
    }
    eprintln!(
        "[{}] job {} {}: {} in {:.1}s; {} more planned; pass so far: {} blocks, {} segments, {} read, {} written",
        d.tenant,
        d.pass.jobs,
        d.kind,
        if what.is_empty() { "done".into() } else { what.join(", ") },
        d.elapsed.as_secs_f64(),
        d.planned_left,
        d.pass.blocks_written,
        d.pass.segments_compacted,
        human_bytes(d.pass.bytes_read),
        human_bytes(d.pass.bytes_written),
    );
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Runs until SIGINT or SIGTERM, then stops taking requests, writes the
/// open batch and waits for uploads in flight.
pub async fn run(cfg: Resolved, components: Components) -> anyhow::Result<()> {
    // The port first: a start that cannot listen leaves nothing behind (no
    // data folder).
    let listener = TcpListener::bind(cfg.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen_addr))?;
    let bucket = Bucket::from_config(&cfg.storage)?;
    // Fail at start, with the reason, rather than on the first write.
    bucket
        .list_dirs(&keys::tenants_root())
        .await
        .with_context(|| format!("cannot reach the bucket ({})", describe(&cfg)))?;

    let mut registry = Registry::default();
    let mut app = Router::new();
    let mut writer = None;
    if components.ingest {
        let w = Writer::start(bucket.clone(), cfg.writer(), &mut registry).await?;
        app = app.merge(w.router());
        writer = Some(w);
    }
    let mut compaction = None;
    if components.compactor {
        let c = Compactor::new(
            bucket.clone(),
            cfg.compactor.clone(),
            CompactorMetrics::new(&mut registry),
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        // Off unless set: this process's own head is warm, and packing
        // costs about as much CPU per sample as ingesting (ADR 0033).
        let (interval, pack_interval) = (
            cfg.compaction_interval,
            cfg.pack_interval.unwrap_or(std::time::Duration::ZERO),
        );
        let handle = tokio::spawn(async move {
            // Both loops stop on the one signal.
            let stop = futures::future::FutureExt::shared(async {
                let _ = stop_rx.await;
            });
            let packing = async {
                if !pack_interval.is_zero() {
                    c.pack_loop(pack_interval, &SystemClock, stop.clone()).await;
                }
            };
            futures::join!(packing, c.run_loop(interval, &SystemClock, stop.clone()));
        });
        compaction = Some((stop_tx, handle));
    }
    let mut object_cache = None;
    let mut results_cache = None;
    let mut head = None;
    let mut shared_querier = None;
    if components.query {
        let cache = Arc::new(
            stratus_storage::RangeCache::new(&cfg.cache)
                .await
                .context("setting up the object cache (--cache-dir)")?,
        );
        object_cache = Some(cache.clone());
        let mut config = cfg.querier();
        if components.ruler {
            // Rule alerts go to the built-in notifier, on this address.
            config.status.alertmanagers = vec![format!("http://{}/api/v2/alerts", cfg.listen_addr)];
        }
        let querier = stratus_query::Querier::new(bucket.clone(), config, Some(cache));
        results_cache = querier.results_cache().cloned();
        if let Some(w) = &writer {
            w.observe_segments(head_feed(querier.clone()));
        }
        head = Some(HeadGauges(querier.clone()));
        app = app.merge(querier.router());
        shared_querier = Some(querier);
    }
    let mut alerting_loop = None;
    if components.query || components.ruler {
        let config_text = match &cfg.alertmanager_config {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                format!("reading the Alertmanager configuration {}", path.display())
            })?),
            None => None,
        };
        let notifier = build::notifier(&bucket, config_text.as_deref(), &cfg.ruler).with_context(
            || match &cfg.alertmanager_config {
                Some(p) => format!("in {}", p.display()),
                None => "in the built-in notifier configuration".into(),
            },
        )?;
        app = app.merge(stratus_alerting::router(AlertingApi::new(
            &bucket,
            cfg.ruler.clone(),
            notifier.clone(),
            cfg.http.multitenancy,
        )));
        if components.ruler {
            // Rule output goes through the ingest path: the server's own
            // writer when it takes writes, one of its own otherwise.
            let w = match writer.take() {
                Some(w) => w,
                None => {
                    let config = WriterConfig {
                        wal_dir: None,
                        ..cfg.writer()
                    };
                    Writer::start(bucket.clone(), config, &mut registry).await?
                }
            };
            // Rules read the querier's head when there is one: what rules
            // write reaches it at once through the hand-over.
            if let Some(q) = &shared_querier {
                w.observe_segments(head_feed(q.clone()));
            }
            let ruler = build::ruler(
                &bucket,
                cfg.engine.clone(),
                cfg.ruler.clone(),
                w.committer().clone(),
                notifier.clone(),
                shared_querier.as_ref(),
            );
            writer = Some(w);
            let alerting = stratus_alerting::Alerting {
                ruler: Arc::new(ruler),
                notifier: Some(notifier),
            };
            registry.register_collector(Box::new(stratus_alerting::AlertingCollector {
                ruler: Some(alerting.ruler.clone()),
                notifier: alerting.notifier.clone(),
            }));
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let tick = cfg.ruler_tick;
            let handle = tokio::spawn(async move {
                alerting
                    .run_loop(tick, async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
            alerting_loop = Some((stop_tx, handle));
        }
    }
    registry.register_collector(Box::new(StorageCollector {
        cache: object_cache,
        results: results_cache,
        query_memory: cfg.engine.memory.clone(),
        head,
    }));
    registry.register_collector(Box::new(stratus_http::PanicCollector));
    let app = app.merge(server_routes(Arc::new(Mutex::new(registry))));
    // CORS on every route (as --web.cors.origin), and every route also
    // under /prometheus, mimirtool's default, as Mimir serves it.
    // A path no route serves: Prometheus's plain-text 404.
    let app = stratus_http::with_not_found(stratus_http::with_prometheus_prefix(
        stratus_http::with_cors(app, cfg.cors_origin.clone()),
    ));

    let addr = listener.local_addr()?;
    info!(%addr, storage = %describe(&cfg), "stratus is listening");
    println!(
        "stratus listening on http://{addr} (storage: {})",
        describe(&cfg)
    );
    if components.ingest {
        println!("  remote_write: http://{addr}/api/v1/write");
        println!("  JSON push:    http://{addr}/api/v1/push");
    }
    if components.query {
        println!("  Grafana (Prometheus data source URL): http://{addr}");
    }
    if components.query || components.ruler {
        println!("  rules API:    http://{addr}/config/v1/rules");
        println!("  Alertmanager API (amtool --alertmanager.url): http://{addr}");
    }
    stratus_http::serve(listener, app, cfg.serve.clone(), shutdown_signal()).await;
    if let Some((stop, handle)) = alerting_loop {
        let _ = stop.send(());
        let _ = handle.await;
    }
    if let Some(w) = writer {
        info!("shutting down: writing the open batch");
        w.shutdown().await;
    }
    if let Some((stop, handle)) = compaction {
        let _ = stop.send(());
        let _ = handle.await;
    }
    info!("stopped");
    Ok(())
}

/// The server's own routes: metrics and health.
fn server_routes(registry: SharedRegistry) -> Router {
    let routes = Router::new()
        .route("/metrics", get(metrics).with_state(registry))
        .route("/-/healthy", get(|| async { "Stratus is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Stratus is Ready.\n" }));
    debug_routes(routes).layer(stratus_http::catch_panics(stratus_http::Component::Server))
}

/// Debug builds started with `STRATUS_DEBUG_PANIC_ROUTE` set also serve
/// `GET /-/debug/panic`, whose handler panics, so that the process tests
/// can show a panic stays in its request. Release builds never have it.
#[cfg(debug_assertions)]
fn debug_routes(routes: Router) -> Router {
    async fn panic_route() -> &'static str {
        panic!("debug panic route (STRATUS_DEBUG_PANIC_ROUTE)")
    }
    match std::env::var_os("STRATUS_DEBUG_PANIC_ROUTE") {
        Some(_) => routes.route("/-/debug/panic", get(panic_route)),
        None => routes,
    }
}

#[cfg(not(debug_assertions))]
fn debug_routes(routes: Router) -> Router {
    routes
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Hands each segment the writer stores to the querier's head, so an
/// acknowledged sample is queryable at once (decoded by the next query).
fn head_feed(querier: stratus_query::Querier) -> stratus_ingest::SegmentObserver {
    Arc::new(
        move |key: &stratus_storage::SegmentKey, bytes: &bytes::Bytes| {
            querier.offer_segment(key.tenant(), key.path(), bytes.clone());
        },
    )
}
