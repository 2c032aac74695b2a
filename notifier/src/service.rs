//! [`Notifier`]: loads a tenant's state from the bucket, does one step
//! (receive alerts, dispatch, change silences) and writes it back.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use rand::Rng;
use stratus_model::TenantId;
use stratus_storage::mutate::{MutateError, Mutation};
use stratus_storage::Bucket;
use tracing::{debug, warn};

use crate::alert::{
    merge_into, AlertStatus, GettableAlert, PostableAlert, ReceiverRef, StoredAlert,
};
use crate::config::{Config, Integration};
use crate::dispatch::{annotate, decide, groups, shown, AlertView, Decision, Group};
use crate::message::{forward_digest, render, NotificationData, Outgoing};
use crate::metrics::NotifierMetrics;
use crate::nflog::{Claim, LogEntry};
use crate::silence::{self, PostableSilence, Silence};
use crate::state::{self, AlertsDoc, SilencesDoc};
use crate::transport::{DeliveryError, NetTransport, Transport};
use crate::{NotifierError, Result};

mod gc;
mod types;

pub use types::{
    AlertGroup, NotificationOutcome, NotifierOptions, ReceiveReport, RetryOptions, TickReport,
};

/// The notifier. Cheap to clone; holds no alert state between calls.
#[derive(Clone)]
pub struct Notifier {
    bucket: Bucket,
    config: Arc<Config>,
    options: NotifierOptions,
    transport: Arc<dyn Transport>,
    metrics: Arc<NotifierMetrics>,
    instance: String,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Notifier({:?}, {})", self.bucket, self.instance)
    }
}

impl Notifier {
    /// A notifier delivering over the network ([`NetTransport`]).
    pub fn new(bucket: Bucket, config: Config, options: NotifierOptions) -> Result<Self> {
        let transport = NetTransport::new(options.send_timeout).map_err(NotifierError::Config)?;
        Ok(Self::with_transport(
            bucket,
            config,
            options,
            Arc::new(transport),
        ))
    }

    pub fn with_transport(
        bucket: Bucket,
        config: Config,
        options: NotifierOptions,
        transport: Arc<dyn Transport>,
    ) -> Self {
        Self {
            bucket,
            config: Arc::new(config),
            options,
            transport,
            metrics: Arc::new(NotifierMetrics::default()),
            instance: ulid::Ulid::new().to_string(),
        }
    }

    pub fn metrics(&self) -> &NotifierMetrics {
        &self.metrics
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Merges `alerts` into the tenant's stored alert set. Invalid alerts
    /// are reported and skipped; the valid ones are stored.
    pub async fn receive(
        &self,
        tenant: &TenantId,
        alerts: Vec<PostableAlert>,
        now: i64,
    ) -> Result<ReceiveReport> {
        let mut report = ReceiveReport::default();
        let mut valid = Vec::new();
        for a in alerts {
            match StoredAlert::from_postable(a, now, self.config.resolve_timeout_ms) {
                Ok(a) => valid.push(a),
                Err(e) => report.rejected.push(e),
            }
        }
        report.accepted = valid.len();
        if !valid.is_empty() {
            state::update::<AlertsDoc, _, _>(&self.bucket, &state::alerts_key(tenant), |doc| {
                for a in &valid {
                    merge_into(&mut doc.alerts, a.clone(), now);
                }
                Ok(((), true))
            })
            .await?;
        }
        self.metrics.with(|m| {
            m.alerts_received_total += (report.accepted + report.rejected.len()) as u64;
            m.alerts_invalid_total += report.rejected.len() as u64;
        });
        Ok(report)
    }

    async fn views(&self, tenant: &TenantId, now: i64) -> Result<Vec<AlertView>> {
        let (alerts, _) =
            state::load::<AlertsDoc>(&self.bucket, &state::alerts_key(tenant)).await?;
        let (silences, _) =
            state::load::<SilencesDoc>(&self.bucket, &state::silences_key(tenant)).await?;
        let silences = silences.unwrap_or_default().silences;
        Ok(annotate(
            alerts.unwrap_or_default().alerts,
            &silences,
            &self.config.inhibit_rules,
            now,
        ))
    }

    /// One dispatcher pass: every group that is due on an integration is
    /// claimed in the notification log, sent (with retries) and committed.
    pub async fn tick(&self, tenant: &TenantId, now: i64) -> Result<TickReport> {
        let views = self.views(tenant, now).await?;
        let mut report = TickReport {
            alerts_silenced: views.iter().filter(|v| !v.silenced_by.is_empty()).count(),
            alerts_inhibited: views
                .iter()
                .filter(|v| v.silenced_by.is_empty() && !v.inhibited_by.is_empty())
                .count(),
            ..TickReport::default()
        };
        self.metrics.with(|m| {
            m.alerts_silenced = report.alerts_silenced as u64;
            m.alerts_inhibited = report.alerts_inhibited as u64;
        });
        let groups = groups(&self.config.route, &views);
        report.groups = groups.len();
        let mut live = HashSet::new();
        for g in &groups {
            let Some(receiver) = self.config.receiver(&g.route.receiver) else {
                continue;
            };
            for integration in &receiver.integrations {
                live.insert(state::nflog_key(
                    tenant,
                    &receiver.name,
                    &integration.id(),
                    &g.key,
                ));
                if let Err(e) = self
                    .flush(tenant, g, integration, &views, now, &mut report)
                    .await
                {
                    warn!(tenant = %tenant, group = %g.key, error = %e, "notification log unavailable, group skipped");
                    report
                        .failed
                        .push(outcome(g, integration, 0, 0, Some(e.to_string())));
                }
            }
        }
        report.alerts_collected = self
            .collect_resolved(tenant, now)
            .await
            .unwrap_or_else(|e| {
                warn!(tenant = %tenant, error = %e, "could not drop old resolved alerts");
                0
            });
        report.nflog_collected = self
            .collect_nflog(tenant, &live, now)
            .await
            .unwrap_or_else(|e| {
                warn!(tenant = %tenant, error = %e, "could not collect old notification-log entries");
                0
            });
        Ok(report)
    }

    async fn flush(
        &self,
        tenant: &TenantId,
        g: &Group<'_>,
        integration: &Integration,
        views: &[AlertView],
        now: i64,
        report: &mut TickReport,
    ) -> Result<()> {
        let receiver = g.route.receiver.as_str();
        let integ = integration.id();
        let key = state::nflog_key(tenant, receiver, &integ, &g.key);
        /// What the entry as read says to do.
        enum Flush {
            /// Claimed (the write): send these.
            Send {
                firing: Vec<usize>,
                resolved: Vec<usize>,
                base: LogEntry,
            },
            /// Nothing written.
            Skip(Decision),
        }
        let ttl = i64::try_from(self.options.claim_ttl.as_millis()).unwrap_or(i64::MAX);
        // Of two notifiers racing on the same group only one wins the
        // claim; the loser reads again and sees the live claim (or the
        // committed send).
        let claimed = state::object::<LogEntry>(&self.bucket, &key)
            .run(|entry| {
                let (firing, resolved) =
                    match decide(entry.as_ref(), g, views, integration, now, &self.instance) {
                        Decision::Send { firing, resolved } => (firing, resolved),
                        other => return Ok(Mutation::Unchanged(Flush::Skip(other))),
                    };
                let base = entry.unwrap_or_else(|| LogEntry {
                    receiver: receiver.into(),
                    integration: integ.clone(),
                    group_key: g.key.clone(),
                    ..LogEntry::default()
                });
                let claimed = LogEntry {
                    claim: Some(Claim {
                        owner: self.instance.clone(),
                        until_ms: now.saturating_add(ttl),
                    }),
                    ..base.clone()
                };
                Ok(Mutation::Write(
                    claimed,
                    Flush::Send {
                        firing,
                        resolved,
                        base,
                    },
                ))
            })
            .await;
        let lost = match &claimed {
            Ok(o) => o.lost,
            Err(MutateError::Contention { attempts, .. }) => *attempts,
            Err(_) => 0,
        };
        if lost > 0 {
            self.metrics
                .with(|m| m.nflog_conflicts_total += u64::from(lost));
            debug!(tenant = %tenant, group = %g.key, lost, "another notifier wrote the log first, read it again");
        }
        let claimed = claimed.map_err(state::mutate_error)?;
        let (firing, resolved, base, claim_version) = match (claimed.output, claimed.version) {
            (
                Flush::Send {
                    firing,
                    resolved,
                    base,
                },
                Some(v),
            ) => (firing, resolved, base, v),
            (Flush::Skip(Decision::Claimed), _) => {
                report.claimed_elsewhere += 1;
                return Ok(());
            }
            _ => return Ok(()),
        };
        let alerts: Vec<StoredAlert> = shown(&firing, &resolved, integration.send_resolved)
            .map(|i| views[i].alert.clone())
            .collect();
        let data = NotificationData {
            receiver: receiver.into(),
            group_key: g.key.clone(),
            group_labels: g.labels.clone(),
            external_url: self.options.external_url.clone(),
            alerts,
            now,
        };
        let result = if data.alerts.is_empty() {
            Ok(false)
        } else {
            self.build_and_deliver(tenant, receiver, integration, &data)
                .await
                .map(|()| true)
        };
        match result {
            Ok(delivered) => {
                let fps = |v: &[usize]| v.iter().map(|&i| views[i].fingerprint.clone()).collect();
                let done = LogEntry {
                    sent_at_ms: Some(now),
                    firing: fps(&firing),
                    resolved: fps(&resolved),
                    forwarded_digest: integration
                        .resend_interval_ms()
                        .map(|_| forward_digest(&data.alerts, now)),
                    claim: None,
                    ..base
                };
                if state::write(&self.bucket, &key, &done, Some(&claim_version))
                    .await?
                    .is_none()
                {
                    warn!(tenant = %tenant, group = %g.key, "claim expired while sending; another notifier may repeat this notification");
                }
                if delivered {
                    self.metrics.sent(receiver);
                    report.sent.push(outcome(
                        g,
                        integration,
                        firing.len(),
                        data.alerts.len() - firing.len(),
                        None,
                    ));
                }
            }
            Err(e) => {
                warn!(tenant = %tenant, receiver, integration = %integ, group = %g.key, error = %e, "notification failed, will retry next tick");
                let released = LogEntry {
                    claim: None,
                    ..base
                };
                let _ = state::write(&self.bucket, &key, &released, Some(&claim_version)).await?;
                report.failed.push(outcome(
                    g,
                    integration,
                    firing.len(),
                    data.alerts.len() - firing.len(),
                    Some(e.to_string()),
                ));
            }
        }
        Ok(())
    }

    /// Renders and delivers one notification. A panic in either fails this
    /// notification only, like an error no retry can cure: it is counted
    /// (`stratus_panics_total{component="notifier"}` and a failure with
    /// reason `panic`), the claim is released and the next tick tries
    /// again.
    async fn build_and_deliver(
        &self,
        tenant: &TenantId,
        receiver: &str,
        integration: &Integration,
        data: &NotificationData,
    ) -> std::result::Result<(), DeliveryError> {
        let attempt = AssertUnwindSafe(async {
            let out = render(integration, data);
            self.deliver(receiver, &out).await
        })
        .catch_unwind()
        .await;
        attempt.unwrap_or_else(|panic| {
            stratus_model::panics::record("notifier");
            let message = stratus_model::panics::message(&*panic);
            tracing::error!(tenant = %tenant, receiver, integration = %integration.id(),
                            group = %data.group_key, error = message,
                            "caught a panic building or sending a notification; the notifier goes on");
            self.metrics.failed(receiver, "panic");
            Err(DeliveryError::new(
                "panic",
                format!("building or sending the notification panicked: {message}"),
                false,
            ))
        })
    }

    /// Delivers with exponential backoff and jitter, counting each failure.
    async fn deliver(
        &self,
        receiver: &str,
        out: &Outgoing,
    ) -> std::result::Result<(), DeliveryError> {
        let started = tokio::time::Instant::now();
        let retry = &self.options.retry;
        let mut backoff = retry.initial_backoff;
        loop {
            let err =
                match tokio::time::timeout(self.options.send_timeout, self.transport.deliver(out))
                    .await
                {
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(e)) => e,
                    Err(_) => DeliveryError::new(
                        "timeout",
                        format!("no answer within {:?}", self.options.send_timeout),
                        true,
                    ),
                };
            self.metrics.failed(receiver, err.reason);
            let jittered = backoff.mul_f64(rand::rng().random_range(0.5..1.0));
            if !err.retryable || started.elapsed() + jittered > retry.max_elapsed {
                return Err(err);
            }
            debug!(receiver, error = %err, ?jittered, "delivery failed, retrying");
            tokio::time::sleep(jittered).await;
            backoff = (backoff * 2).min(retry.max_backoff);
        }
    }

    async fn collect_resolved(&self, tenant: &TenantId, now: i64) -> Result<usize> {
        let longest = self
            .config
            .route
            .walk()
            .iter()
            .map(|r| r.group_wait_ms + r.group_interval_ms)
            .max()
            .unwrap_or(0);
        let floor = i64::try_from(self.options.resolved_retention.as_millis()).unwrap_or(i64::MAX);
        let keep = floor.max(2 * longest);
        state::update::<AlertsDoc, _, _>(&self.bucket, &state::alerts_key(tenant), |doc| {
            let before = doc.alerts.len();
            doc.alerts
                .retain(|a| !(a.resolved_at(now) && a.ends_at_ms.saturating_add(keep) < now));
            let gone = before - doc.alerts.len();
            Ok((gone, gone > 0))
        })
        .await
    }

    /// The stored alerts that are not resolved, with their status, like
    /// Alertmanager's `GET /api/v2/alerts`.
    pub async fn alerts(&self, tenant: &TenantId, now: i64) -> Result<Vec<GettableAlert>> {
        let views = self.views(tenant, now).await?;
        Ok(views
            .iter()
            .filter(|v| !v.alert.resolved_at(now))
            .map(|v| self.gettable(v))
            .collect())
    }

    fn gettable(&self, v: &AlertView) -> GettableAlert {
        let mut receivers: Vec<ReceiverRef> = Vec::new();
        for r in self.config.route.match_routes(&v.alert.labels) {
            if !receivers.iter().any(|x| x.name == r.receiver) {
                receivers.push(ReceiverRef {
                    name: r.receiver.clone(),
                });
            }
        }
        GettableAlert {
            labels: v.alert.labels.clone(),
            annotations: v.alert.annotations.clone(),
            starts_at: v.alert.starts_at_ms,
            ends_at: v.alert.ends_at_ms,
            updated_at: v.alert.updated_at_ms,
            generator_url: v.alert.generator_url.clone(),
            fingerprint: v.fingerprint.clone(),
            receivers,
            status: AlertStatus {
                state: if v.muted() { "suppressed" } else { "active" }.into(),
                silenced_by: v.silenced_by.clone(),
                inhibited_by: v.inhibited_by.clone(),
            },
        }
    }

    /// The aggregation groups of the unresolved alerts, like
    /// `GET /api/v2/alerts/groups`.
    pub async fn groups(&self, tenant: &TenantId, now: i64) -> Result<Vec<AlertGroup>> {
        let views = self.views(tenant, now).await?;
        Ok(groups(&self.config.route, &views)
            .into_iter()
            .filter_map(|g| {
                let alerts: Vec<GettableAlert> = g
                    .members
                    .iter()
                    .map(|&i| &views[i])
                    .filter(|v| !v.alert.resolved_at(now))
                    .map(|v| self.gettable(v))
                    .collect();
                (!alerts.is_empty()).then(|| AlertGroup {
                    labels: g.labels,
                    receiver: ReceiverRef {
                        name: g.route.receiver.clone(),
                    },
                    alerts,
                })
            })
            .collect())
    }

    /// Creates a silence, or updates the one `silence.id` names (as
    /// Alertmanager: in place when allowed, else expire and replace).
    /// Returns the id.
    pub async fn create_silence(
        &self,
        tenant: &TenantId,
        silence: PostableSilence,
        now: i64,
    ) -> Result<String> {
        let new_id = ulid::Ulid::new().to_string();
        state::update::<SilencesDoc, _, _>(&self.bucket, &state::silences_key(tenant), |doc| {
            silence::gc(&mut doc.silences, now);
            let id = silence::upsert(&mut doc.silences, silence.clone(), now, new_id.clone())?;
            Ok((id, true))
        })
        .await
    }

    /// Every silence (expired ones until their retention ends), with its
    /// state as of `now`.
    pub async fn list_silences(&self, tenant: &TenantId, now: i64) -> Result<Vec<Silence>> {
        let (doc, _) =
            state::load::<SilencesDoc>(&self.bucket, &state::silences_key(tenant)).await?;
        Ok(silence::with_status(doc.unwrap_or_default().silences, now))
    }

    pub async fn expire_silence(&self, tenant: &TenantId, id: &str, now: i64) -> Result<()> {
        state::update::<SilencesDoc, _, _>(&self.bucket, &state::silences_key(tenant), |doc| {
            silence::expire(&mut doc.silences, id, now)?;
            Ok(((), true))
        })
        .await
    }
}

fn outcome(
    g: &Group<'_>,
    integration: &Integration,
    firing: usize,
    resolved: usize,
    error: Option<String>,
) -> NotificationOutcome {
    NotificationOutcome {
        receiver: g.route.receiver.clone(),
        integration: integration.id(),
        group_key: g.key.clone(),
        firing,
        resolved,
        error,
    }
}
