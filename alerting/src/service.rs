//! One alerting pass: the ruler evaluates what is due, hands its alerts to
//! the notifier (through the bucket), and the notifier dispatches what is
//! due. The same pass runs in the `stratus` loop and in the Lambda
//! functions.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::FutureExt;
use stratus_model::TenantId;
use stratus_notifier::{Notifier, PostableAlert, TickReport};
use stratus_ruler::notify::{AlertSender, OutgoingAlert};
use stratus_ruler::store::RuleStore;
use stratus_ruler::{Ruler, RunReport};
use tracing::{error, warn};

/// Wall clock, Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The ruler's alerts into the notifier's store, as Prometheus posts them
/// to Alertmanager.
pub struct NotifierSender {
    notifier: Arc<Notifier>,
}

impl NotifierSender {
    pub fn new(notifier: Arc<Notifier>) -> Self {
        Self { notifier }
    }
}

pub fn postable(a: OutgoingAlert) -> PostableAlert {
    let mut p = PostableAlert::new(a.labels).starts_at(a.starts_at_ms);
    for (k, v) in a.annotations {
        p = p.annotation(k, v);
    }
    if let Some(e) = a.ends_at_ms {
        p = p.ends_at(e);
    }
    if !a.generator_url.is_empty() {
        p = p.generator_url(a.generator_url);
    }
    p
}

#[async_trait]
impl AlertSender for NotifierSender {
    async fn send(&self, tenant: &TenantId, alerts: Vec<OutgoingAlert>) -> anyhow::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        let alerts = alerts.into_iter().map(postable).collect();
        self.notifier
            .receive(tenant, alerts, now_ms())
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("handing alerts to the notifier: {e}"))
    }
}

/// What one [`Alerting::run_once`] did.
#[derive(Debug, Default)]
pub struct PassReport {
    pub ruler: RunReport,
    pub notifier: Vec<(TenantId, TickReport)>,
    pub notifier_errors: Vec<String>,
}

/// The ruler and, when configured, the notifier.
#[derive(Clone)]
pub struct Alerting {
    pub ruler: Arc<Ruler>,
    pub notifier: Option<Arc<Notifier>>,
}

impl Alerting {
    /// Rules due by `now_ms` are evaluated (none started after `deadline`),
    /// then every tenant's notifier groups are looked at.
    pub async fn run_once(&self, now_ms: i64, deadline: Instant) -> PassReport {
        let ruler = self.ruler.run_once(now_ms, deadline).await;
        let mut report = PassReport {
            ruler,
            ..PassReport::default()
        };
        if let Some(n) = &self.notifier {
            let (ticks, errors) = tick_all(n, self.ruler.store(), now_ms).await;
            report.notifier = ticks;
            report.notifier_errors = errors;
        }
        report
    }

    /// Runs a pass every `tick` until `stop` resolves.
    pub async fn run_loop(&self, tick: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut timer = tokio::time::interval(tick);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = timer.tick() => {}
            }
            let deadline = Instant::now() + tick.max(Duration::from_secs(10));
            // Groups and notifications catch their own panics; anything
            // else fails this pass only, and the loop goes on.
            match AssertUnwindSafe(self.run_once(now_ms(), deadline))
                .catch_unwind()
                .await
            {
                Ok(r) => {
                    for e in r.ruler.errors.iter().chain(&r.notifier_errors) {
                        warn!(error = %e, "alerting pass");
                    }
                }
                Err(panic) => {
                    stratus_model::panics::record("ruler");
                    error!(
                        error = stratus_model::panics::message(&*panic),
                        "caught a panic in an alerting pass; the next tick goes on"
                    );
                }
            }
        }
    }
}

/// One notifier tick for every tenant of the bucket.
pub async fn tick_all(
    notifier: &Notifier,
    store: &RuleStore,
    now_ms: i64,
) -> (Vec<(TenantId, TickReport)>, Vec<String>) {
    let mut ticks = Vec::new();
    let mut errors = Vec::new();
    let tenants = match store.all_tenants().await {
        Ok(t) => t,
        Err(e) => return (ticks, vec![format!("listing tenants: {e}")]),
    };
    for t in tenants {
        // A panic outside a notification (those catch their own) fails
        // this tenant's tick only.
        match AssertUnwindSafe(notifier.tick(&t, now_ms))
            .catch_unwind()
            .await
        {
            Ok(Ok(r)) => ticks.push((t, r)),
            Ok(Err(e)) => errors.push(format!("notifier, tenant {t}: {e}")),
            Err(panic) => {
                stratus_model::panics::record("notifier");
                errors.push(format!(
                    "notifier, tenant {t}: the tick panicked: {}",
                    stratus_model::panics::message(&*panic)
                ));
            }
        }
    }
    (ticks, errors)
}

/// The notifier configuration without a file: one receiver with no
/// integration, so alerts are kept, grouped and shown, and sent nowhere.
pub const NO_RECEIVER: &str = "route:\n  receiver: blackhole\nreceivers:\n- name: blackhole\n";

/// The notifier's configuration from Alertmanager YAML, or [`NO_RECEIVER`].
pub fn notifier_config(yaml: Option<&str>) -> anyhow::Result<stratus_notifier::Config> {
    stratus_notifier::Config::from_yaml(yaml.unwrap_or(NO_RECEIVER))
        .map_err(|e| anyhow::anyhow!("{e}"))
}
