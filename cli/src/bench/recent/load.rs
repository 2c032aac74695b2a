//! The write side of `stratus bench recent`: scrapes of the wide node
//! shape encoded one at a time, sent by `--senders` tasks per target (each
//! sender owns the series `i % senders`, as a Prometheus shard owns its
//! series, so every series arrives in order), and the freshness probe.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stratus_ingest::proto::{LabelV1, SampleProto, TimeSeriesV1};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::super::dataset::HostShape;
use super::super::servers::{median, now_ms, percentile, post_write, proto_labels, write_body};

/// Scrape interval of the load, as node_exporter's usual 15 s.
pub const INTERVAL: Duration = Duration::from_secs(15);

/// What the generator and the senders have done so far, per target and
/// scrape round.
pub struct Rounds {
    pub targets: Vec<&'static str>,
    /// Timestamp of each round's samples, 0 until encoded.
    ts: Vec<AtomicI64>,
    /// Requests of each round, 0 until encoded.
    requests: Vec<AtomicUsize>,
    /// Requests answered (acknowledged or given up), per target and round.
    done: Vec<Vec<AtomicUsize>>,
    /// Requests given up after retries, per target.
    pub failures: Vec<AtomicUsize>,
    /// Ack latencies in ms, per target.
    pub ack_ms: Mutex<Vec<Vec<f64>>>,
    pub finished: AtomicBool,
}

impl Rounds {
    fn new(targets: Vec<&'static str>, scrapes: usize) -> Self {
        let n = targets.len();
        let atomics = |k: usize| (0..k).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>();
        Self {
            ts: (0..scrapes).map(|_| AtomicI64::new(0)).collect(),
            requests: atomics(scrapes),
            done: (0..n).map(|_| atomics(scrapes)).collect(),
            failures: atomics(n),
            ack_ms: Mutex::new(vec![Vec::new(); n]),
            finished: AtomicBool::new(false),
            targets,
        }
    }

    fn complete(&self, target: usize, round: usize) -> bool {
        let want = self.requests[round].load(Ordering::Acquire);
        want > 0 && self.done[target][round].load(Ordering::Acquire) == want
    }

    /// Rounds answered in full by `target`, counted from the first.
    pub fn acked(&self, target: usize) -> usize {
        (0..self.ts.len())
            .take_while(|&r| self.complete(target, r))
            .count()
    }

    /// Rounds answered in full by every target.
    pub fn acked_by_all(&self) -> usize {
        (0..self.targets.len())
            .map(|t| self.acked(t))
            .min()
            .unwrap_or(0)
    }

    /// Timestamp of round `round`.
    pub fn ts(&self, round: usize) -> i64 {
        self.ts[round].load(Ordering::Acquire)
    }

    /// Median and p99 ack latency of `target` in ms.
    pub fn ack_percentiles(&self, target: usize) -> (f64, f64) {
        let all = self.ack_ms.lock().expect("ack latencies lock poisoned");
        let v = all[target].clone();
        (median(v.clone()), percentile(v, 0.99))
    }
}

/// The load's configuration.
pub struct LoadConfig {
    pub hosts: usize,
    pub shape: HostShape,
    pub scrapes: usize,
    pub senders: usize,
    pub batch: usize,
}

/// Encodes round `scrape` at `ts` into request bodies per sender, and
/// moves `state` (each series' last value) on.
fn encode(
    cfg: &LoadConfig,
    templates: &[Vec<LabelV1>],
    hosts: &[Vec<LabelV1>],
    state: &mut [f64],
    scrape: usize,
    ts: i64,
) -> Vec<Vec<Bytes>> {
    let senders = cfg.senders.max(1);
    let per_host = templates.len();
    let mut bodies: Vec<Vec<Bytes>> = vec![Vec::new(); senders];
    let mut pending: Vec<Vec<TimeSeriesV1>> = vec![Vec::new(); senders];
    for (h, host) in hosts.iter().enumerate() {
        for (i, template) in templates.iter().enumerate() {
            let g = h * per_host + i;
            let prev = (scrape > 0).then_some(state[g]);
            let v = cfg.shape.value(h, i, scrape as u64, prev);
            state[g] = v;
            let mut labels = Vec::with_capacity(template.len() + host.len());
            labels.extend(template.iter().cloned());
            labels.extend(host.iter().cloned());
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            let s = g % senders;
            pending[s].push(TimeSeriesV1 {
                labels,
                samples: vec![SampleProto {
                    value: v,
                    timestamp: ts,
                }],
                ..Default::default()
            });
            if pending[s].len() >= cfg.batch {
                bodies[s].push(write_body(std::mem::take(&mut pending[s])));
            }
        }
    }
    for (s, p) in pending.into_iter().enumerate() {
        if !p.is_empty() {
            bodies[s].push(write_body(p));
        }
    }
    bodies
}

/// Posts with up to 5 attempts (a receiver under load may answer 429 or
/// 5xx, and Prometheus's senders retry too).
async fn post_retrying(client: &reqwest::Client, url: &str, body: Bytes) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match post_write(client, url, body.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= 5 => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250 * attempt)).await,
        }
    }
}

/// Starts the senders of every target and the generator; `urls` are the
/// targets' remote_write endpoints. The generator prints one line per
/// scrape round.
pub fn start(
    cfg: LoadConfig,
    targets: Vec<(&'static str, String)>,
    client: reqwest::Client,
) -> (Arc<Rounds>, Vec<JoinHandle<()>>) {
    let rounds = Arc::new(Rounds::new(
        targets.iter().map(|t| t.0).collect(),
        cfg.scrapes,
    ));
    let senders = cfg.senders.max(1);
    let per_round = (cfg.hosts * cfg.shape.series.len()).div_ceil(cfg.batch.max(1));
    let capacity = (2 * per_round).div_ceil(senders).max(4);
    let mut tasks = Vec::new();
    let mut channels: Vec<Vec<mpsc::Sender<(usize, Bytes)>>> = Vec::new();
    for (t, (_, url)) in targets.iter().enumerate() {
        let mut txs = Vec::new();
        for _ in 0..senders {
            let (tx, mut rx) = mpsc::channel::<(usize, Bytes)>(capacity);
            txs.push(tx);
            let (client, url, rounds) = (client.clone(), url.clone(), rounds.clone());
            tasks.push(tokio::spawn(async move {
                while let Some((round, body)) = rx.recv().await {
                    let start = Instant::now();
                    match post_retrying(&client, &url, body).await {
                        Ok(()) => rounds.ack_ms.lock().expect("ack latencies lock poisoned")[t]
                            .push(start.elapsed().as_secs_f64() * 1000.0),
                        Err(e) => {
                            if rounds.failures[t].fetch_add(1, Ordering::AcqRel) == 0 {
                                eprintln!("{}: a write failed: {e:#}", rounds.targets[t]);
                            }
                        }
                    }
                    rounds.done[t][round].fetch_add(1, Ordering::AcqRel);
                }
            }));
        }
        channels.push(txs);
    }
    let r = rounds.clone();
    tasks.push(tokio::spawn(async move {
        generate(cfg, channels, r).await;
    }));
    (rounds, tasks)
}

async fn generate(
    cfg: LoadConfig,
    channels: Vec<Vec<mpsc::Sender<(usize, Bytes)>>>,
    rounds: Arc<Rounds>,
) {
    let templates: Arc<Vec<Vec<LabelV1>>> = Arc::new(
        cfg.shape
            .series
            .iter()
            .map(|s| proto_labels(&s.labels))
            .collect(),
    );
    let hosts: Arc<Vec<Vec<LabelV1>>> = Arc::new(
        (0..cfg.hosts)
            .map(|h| proto_labels(&HostShape::host_labels(h)))
            .collect(),
    );
    let samples = cfg.hosts * cfg.shape.series.len();
    let scrapes = cfg.scrapes;
    let mut state = vec![0.0f64; samples];
    let cfg = Arc::new(cfg);
    let t0 = Instant::now();
    for scrape in 0..scrapes {
        let due = t0 + INTERVAL * scrape as u32;
        tokio::time::sleep_until(due.into()).await;
        let late_s = t0.elapsed().as_secs_f64() - (INTERVAL * scrape as u32).as_secs_f64();
        let ts = now_ms();
        let encoding = Instant::now();
        let (c, t, h) = (cfg.clone(), templates.clone(), hosts.clone());
        let job = tokio::task::spawn_blocking(move || {
            let bodies = encode(&c, &t, &h, &mut state, scrape, ts);
            (bodies, state)
        });
        let bodies = match job.await {
            Ok((bodies, s)) => {
                state = s;
                bodies
            }
            Err(e) => {
                eprintln!("encoding scrape {scrape} failed: {e}");
                break;
            }
        };
        let encode_s = encoding.elapsed().as_secs_f64();
        let requests: usize = bodies.iter().map(Vec::len).sum();
        rounds.ts[scrape].store(ts, Ordering::Release);
        rounds.requests[scrape].store(requests, Ordering::Release);
        let acked: Vec<String> = (0..rounds.targets.len())
            .map(|t| {
                let (p50, p99) = rounds.ack_percentiles(t);
                format!(
                    "{} {}/{scrape} acked (ack p50 {p50:.0} ms, p99 {p99:.0} ms, {} failed)",
                    rounds.targets[t],
                    rounds.acked(t),
                    rounds.failures[t].load(Ordering::Acquire)
                )
            })
            .collect();
        println!(
            "scrape {}/{scrapes} at +{:.0}s{}: {samples} samples in {requests} requests, encoded in {encode_s:.1}s; before it: {}",
            scrape + 1,
            t0.elapsed().as_secs_f64(),
            if late_s > 1.0 {
                format!(" ({late_s:.0}s late)")
            } else {
                String::new()
            },
            acked.join("; ")
        );
        for txs in &channels {
            for (s, list) in bodies.iter().enumerate() {
                for body in list {
                    if txs[s].send((scrape, body.clone())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
    rounds.finished.store(true, Ordering::Release);
}

/// Freshness of `stratus all`: writes `bench_freshness{seq="N"}` alone in
/// one request, then polls an instant query for it from the ack until it
/// answers; seconds from ack to visible, until `stop`. A sample not
/// visible after 30 s counts as 30 s.
pub async fn freshness(client: reqwest::Client, base: String, stop: Arc<AtomicBool>) -> Vec<f64> {
    let mut out = Vec::new();
    let mut seq = 0u64;
    while !stop.load(Ordering::Acquire) {
        seq += 1;
        let seq_text = seq.to_string();
        let labels = proto_labels(&[("__name__", "bench_freshness"), ("seq", seq_text.as_str())]);
        let body = write_body(vec![TimeSeriesV1 {
            labels,
            samples: vec![SampleProto {
                value: seq as f64,
                timestamp: now_ms(),
            }],
            ..Default::default()
        }]);
        if post_write(&client, &format!("{base}/api/v1/write"), body)
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let acked = Instant::now();
        let query = format!("bench_freshness{{seq=\"{seq}\"}}");
        loop {
            let visible = async {
                let params = serde_urlencoded::to_string([("query", query.as_str())])?;
                let r = client
                    .get(format!("{base}/api/v1/query?{params}"))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await?;
                Ok::<_, anyhow::Error>(r.text().await?.contains("\"result\":[{"))
            };
            if visible.await.unwrap_or(false) {
                out.push(acked.elapsed().as_secs_f64());
                break;
            }
            if acked.elapsed() > Duration::from_secs(30) {
                out.push(30.0);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    out
}
