//! The ruler's and the notifier's own metrics on `/metrics`, read from
//! their in-memory counters at each scrape.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use stratus_notifier::Notifier;
use stratus_ruler::metrics::GroupMetrics;
use stratus_ruler::Ruler;

/// Exports [`stratus_ruler::RulerMetrics`] per tenant and group (the
/// group labelled `namespace;group`, as Prometheus labels `file;group`)
/// and [`stratus_notifier::NotifierMetrics`] per receiver.
#[derive(Clone)]
pub struct AlertingCollector {
    pub ruler: Option<Arc<Ruler>>,
    pub notifier: Option<Arc<Notifier>>,
}

impl std::fmt::Debug for AlertingCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AlertingCollector")
    }
}

type Labels = Vec<(&'static str, String)>;
/// Name, help, and how to read the value from a group's metrics.
type Column<T> = (&'static str, &'static str, fn(&GroupMetrics) -> T);

fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: Vec<(Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut f = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, m) in rows {
        m.encode(f.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for AlertingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(r) = &self.ruler {
            let groups = r.metrics().groups();
            let labels = |k: &stratus_ruler::metrics::GroupKey| -> Labels {
                vec![
                    ("tenant", k.tenant.to_string()),
                    ("rule_group", format!("{};{}", k.namespace, k.group)),
                ]
            };
            let counters: [Column<u64>; 6] = [
                (
                    "stratus_ruler_evaluations",
                    "Rule group evaluations committed",
                    |m| m.evaluations_total,
                ),
                (
                    "stratus_ruler_evaluation_failures",
                    "Rules that failed in committed evaluations",
                    |m| m.evaluation_failures_total,
                ),
                (
                    "stratus_ruler_missed_evaluations",
                    "Due evaluations skipped for good (the ruler was too late)",
                    |m| m.missed_evaluations_total,
                ),
                (
                    "stratus_ruler_lost_races",
                    "Evaluations whose commit another ruler won (discarded, nothing sent)",
                    |m| m.lost_races_total,
                ),
                (
                    "stratus_ruler_alerts_sent",
                    "Alerts handed to the notifier",
                    |m| m.alerts_sent_total,
                ),
                (
                    "stratus_ruler_group_failures",
                    "Attempts that failed as a whole (the group fails the checks of an upload, or its evaluation panicked); each is followed by a backoff",
                    |m| m.group_failures_total,
                ),
            ];
            for (name, help, get) in counters {
                let rows = groups
                    .iter()
                    .map(|(k, m)| (labels(k), ConstCounter::new(get(m))))
                    .collect();
                family(&mut encoder, name, help, MetricType::Counter, rows)?;
            }
            let rows = groups
                .iter()
                .map(|(k, m)| (labels(k), ConstCounter::new(m.send_failures_total)))
                .collect();
            family(
                &mut encoder,
                "stratus_ruler_alert_send_failures",
                "Hand-overs of alerts to the notifier that failed",
                MetricType::Counter,
                rows,
            )?;
            let gauges: [Column<f64>; 5] = [
                ("stratus_ruler_group_consecutive_failures", "Failed attempts of the group in a row; the group backs off 1, 2, then 4 intervals", |m| m.consecutive_failures as f64),
                ("stratus_ruler_group_last_duration_seconds", "Duration of the group's last evaluation", |m| m.duration_last_us as f64 / 1e6),
                ("stratus_ruler_group_last_evaluation_timestamp_seconds", "Scheduled time of the group's last evaluation", |m| m.last_evaluation_ms as f64 / 1e3),
                ("stratus_ruler_group_lateness_seconds", "How long after its scheduled time the last evaluation started", |m| m.lateness_last_ms as f64 / 1e3),
                ("stratus_ruler_group_lateness_max_seconds", "The latest start of an evaluation after its scheduled time since the process started", |m| m.lateness_max_ms as f64 / 1e3),
            ];
            for (name, help, get) in gauges {
                let rows = groups
                    .iter()
                    .map(|(k, m)| (labels(k), ConstGauge::new(get(m))))
                    .collect();
                family(&mut encoder, name, help, MetricType::Gauge, rows)?;
            }
        }
        if let Some(n) = &self.notifier {
            let s = n.metrics().snapshot();
            let rows = s
                .notifications_sent_total
                .iter()
                .map(|(r, v)| (vec![("receiver", r.clone())], ConstCounter::new(*v)))
                .collect();
            family(
                &mut encoder,
                "stratus_notifier_notifications",
                "Notifications delivered, by receiver",
                MetricType::Counter,
                rows,
            )?;
            let rows = s
                .notifications_failed_total
                .iter()
                .map(|((r, why), v)| {
                    (
                        vec![("receiver", r.clone()), ("reason", why.clone())],
                        ConstCounter::new(*v),
                    )
                })
                .collect();
            family(
                &mut encoder,
                "stratus_notifier_notifications_failed",
                "Failed delivery attempts, by receiver and reason",
                MetricType::Counter,
                rows,
            )?;
            let plain: [(&str, &str, u64); 3] = [
                (
                    "stratus_notifier_alerts_received",
                    "Alerts received (from the ruler or POST /api/v2/alerts)",
                    s.alerts_received_total,
                ),
                (
                    "stratus_notifier_alerts_invalid",
                    "Alerts refused as invalid",
                    s.alerts_invalid_total,
                ),
                (
                    "stratus_notifier_nflog_conflicts",
                    "Notification-log writes lost to another notifier",
                    s.nflog_conflicts_total,
                ),
            ];
            for (name, help, v) in plain {
                family(
                    &mut encoder,
                    name,
                    help,
                    MetricType::Counter,
                    vec![(Labels::new(), ConstCounter::new(v))],
                )?;
            }
            let gauges: [(&str, &str, u64); 2] = [
                (
                    "stratus_notifier_alerts_silenced",
                    "Alerts muted by a silence at the last tick",
                    s.alerts_silenced,
                ),
                (
                    "stratus_notifier_alerts_inhibited",
                    "Alerts muted by an inhibition at the last tick",
                    s.alerts_inhibited,
                ),
            ];
            for (name, help, v) in gauges {
                family(
                    &mut encoder,
                    name,
                    help,
                    MetricType::Gauge,
                    vec![(Labels::new(), ConstGauge::new(v as i64))],
                )?;
            }
        }
        Ok(())
    }
}
