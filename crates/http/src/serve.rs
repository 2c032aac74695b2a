//! The accept loop and one task per connection.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::connection::{DeadlineIo, Phase, RequestBody, ResponseBody};
use crate::options::{connection_limit, open_files_limit, ServeOptions, DESCRIPTOR_RESERVE};
use crate::request_target::TargetIo;

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting, lets every request in flight finish (idle connections
/// close at once) and returns when the last connection has closed.
///
/// At most `options.max_connections` connections are open at once, fewer
/// when the open-files limit would leave less than
/// [`DESCRIPTOR_RESERVE`] descriptors for the rest of the process (a
/// warning says so). Further connections wait in the listen backlog.
pub async fn serve<F>(listener: TcpListener, router: Router, options: ServeOptions, shutdown: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let max = max_connections(options.max_connections);
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        // A permit first, then the accept: connections over the limit stay
        // in the kernel's backlog, as with Go's LimitListener.
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            s = accept(&listener) => s,
        };
        let phase = Phase::new(options.read_timeout, options.idle_timeout);
        tokio::spawn(connection(
            stream,
            router.clone(),
            phase,
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Each connection holds its permit until it has closed.
    let _ = permits.acquire_many_owned(max as u32).await;
}

/// `wanted`, clamped to the open-files limit less the reserve.
fn max_connections(wanted: usize) -> usize {
    let mut max = wanted
        .clamp(1, u32::MAX as usize)
        .min(Semaphore::MAX_PERMITS);
    if let Some(open_files) = open_files_limit() {
        let allowed = connection_limit(max, open_files);
        if allowed < max {
            warn!(
                max_connections = max,
                open_files_limit = open_files,
                reserve = DESCRIPTOR_RESERVE,
                "max_connections plus the descriptors kept for the bucket, the WAL and the cache \
                 exceed the open-files limit (ulimit -n); serving at most {allowed} connections"
            );
            max = allowed;
        }
    }
    max
}

/// The next connection. Failures of one connection are skipped; others
/// (out of descriptors, say) are retried after a second, as hyper 0.14
/// did, rather than ending the server.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                warn!(error = %e, "accepting a connection failed; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn connection(
    stream: TcpStream,
    router: Router,
    phase: Arc<Phase>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let io = TokioIo::new(DeadlineIo::new(TargetIo::new(stream), phase.clone()));
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        phase.head_read(req.body().is_end_stream());
        let phase = phase.clone();
        let req = req.map(|b| Body::new(RequestBody::new(b, phase.clone())));
        let answer = router.clone().oneshot(req);
        async move {
            let resp = answer.await.unwrap_or_else(|e: Infallible| match e {});
            Ok::<_, Infallible>(resp.map(|b| ResponseBody::new(b, phase)))
        }
    });
    // The socket enforces the deadlines; hyper's header timer, which would
    // also run between requests, stays off.
    let mut conn = pin!(http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service));
    let stopping = async move {
        // An error means the server is gone: stop too.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "connection closed");
    }
}
