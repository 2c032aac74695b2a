//! What a notification says: the template data of one group at one flush,
//! the small template subset, and the payload of every integration kind.
//!
//! Templates: `title`, `text` (Slack) accept plain text with these
//! placeholders, and keep any other `{{ ... }}` literally:
//! `{{ .Status }}`, `{{ .Receiver }}`, `{{ .GroupKey }}`, `{{ .ExternalURL }}`,
//! `{{ len .Alerts }}`, `{{ .GroupLabels.<name> }}`, `{{ .CommonLabels.<name> }}`,
//! `{{ .CommonAnnotations.<name> }}`.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::alert::{fingerprint_hex, StoredAlert};
use crate::config::{Integration, IntegrationKind};
use crate::matcher::LabelSet;
use crate::time::{format_rfc3339, format_rfc5322, ZERO_TIME};

/// The data of one notification, as Alertmanager's `template.Data`.
#[derive(Debug, Clone)]
pub struct NotificationData {
    pub receiver: String,
    pub group_key: String,
    pub group_labels: LabelSet,
    pub external_url: String,
    /// The alerts to send, firing ones first; resolved ones only when the
    /// integration sends resolved notifications.
    pub alerts: Vec<StoredAlert>,
    pub now: i64,
}

impl NotificationData {
    pub fn firing(&self) -> usize {
        self.alerts
            .iter()
            .filter(|a| !a.resolved_at(self.now))
            .count()
    }

    /// `firing` if any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.firing() > 0 {
            "firing"
        } else {
            "resolved"
        }
    }

    fn common(&self, pick: impl Fn(&StoredAlert) -> &LabelSet) -> LabelSet {
        let Some(first) = self.alerts.first() else {
            return LabelSet::new();
        };
        let mut out = pick(first).clone();
        for a in &self.alerts[1..] {
            out.retain(|k, v| pick(a).get(k) == Some(v));
        }
        out
    }

    pub fn common_labels(&self) -> LabelSet {
        self.common(|a| &a.labels)
    }

    pub fn common_annotations(&self) -> LabelSet {
        self.common(|a| &a.annotations)
    }

    /// `[FIRING:2] <group label values>` or `[RESOLVED] ...`, like
    /// Alertmanager's default titles.
    pub fn default_title(&self) -> String {
        let values: Vec<&str> = self.group_labels.values().map(String::as_str).collect();
        match self.status() {
            "firing" => format!("[FIRING:{}] {}", self.firing(), values.join(" ")),
            _ => format!("[RESOLVED] {}", values.join(" ")),
        }
    }

    /// One line per alert: status, labels, and its summary or description.
    pub fn default_text(&self) -> String {
        let mut out = String::new();
        for a in &self.alerts {
            let status = if a.resolved_at(self.now) {
                "resolved"
            } else {
                "firing"
            };
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("- [{status}] {}", labels.join(", ")));
            if let Some(s) = a
                .annotations
                .get("summary")
                .or_else(|| a.annotations.get("description"))
            {
                out.push_str(&format!(": {s}"));
            }
            out.push('\n');
        }
        out
    }

    /// Expands the supported placeholders in `text`.
    pub fn render(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find("}}") else {
                break;
            };
            let whole = &rest[start..start + len + 2];
            let expr = whole[2..whole.len() - 2].trim();
            match self.eval(expr) {
                Some(v) => out.push_str(&v),
                None => out.push_str(whole),
            }
            rest = &rest[start + len + 2..];
        }
        out.push_str(rest);
        out
    }

    fn eval(&self, expr: &str) -> Option<String> {
        let get = |set: LabelSet, name: &str| set.get(name).cloned().unwrap_or_default();
        match expr {
            ".Status" => Some(self.status().into()),
            ".Receiver" => Some(self.receiver.clone()),
            ".GroupKey" => Some(self.group_key.clone()),
            ".ExternalURL" => Some(self.external_url.clone()),
            "len .Alerts" => Some(self.alerts.len().to_string()),
            _ => {
                if let Some(n) = expr.strip_prefix(".GroupLabels.") {
                    Some(get(self.group_labels.clone(), n))
                } else if let Some(n) = expr.strip_prefix(".CommonLabels.") {
                    Some(get(self.common_labels(), n))
                } else {
                    expr.strip_prefix(".CommonAnnotations.")
                        .map(|n| get(self.common_annotations(), n))
                }
            }
        }
    }

    fn alert_json(&self, a: &StoredAlert) -> Value {
        let resolved = a.resolved_at(self.now);
        json!({
            "status": if resolved { "resolved" } else { "firing" },
            "labels": a.labels,
            "annotations": a.annotations,
            "startsAt": format_rfc3339(a.starts_at_ms),
            // Alertmanager zeroes the end of firing alerts in notifications.
            "endsAt": if resolved { format_rfc3339(a.ends_at_ms) } else { ZERO_TIME.to_string() },
            "generatorURL": a.generator_url,
            "fingerprint": fingerprint_hex(a.fingerprint()),
        })
    }

    /// Alertmanager's webhook payload, version 4.
    pub fn webhook_body(&self, max_alerts: usize) -> Value {
        let keep = if max_alerts == 0 {
            self.alerts.len()
        } else {
            max_alerts.min(self.alerts.len())
        };
        let alerts: Vec<Value> = self.alerts[..keep]
            .iter()
            .map(|a| self.alert_json(a))
            .collect();
        json!({
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.alerts.len() - keep,
            "status": self.status(),
            "receiver": self.receiver,
            "groupLabels": self.group_labels,
            "commonLabels": self.common_labels(),
            "commonAnnotations": self.common_annotations(),
            "externalURL": self.external_url,
            "alerts": alerts,
        })
    }

    /// The SHA-256 of the group key, as Alertmanager's PagerDuty dedup key.
    pub fn group_key_hash(&self) -> String {
        let digest = Sha256::digest(self.group_key.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What an integration hands to the [`crate::Transport`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// A JSON POST.
    Http {
        url: String,
        body: Value,
    },
    Email(EmailMessage),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// `host:port`.
    pub smarthost: String,
    pub hello: String,
    pub from: String,
    pub to: Vec<String>,
    pub auth: Option<(String, String)>,
    /// Headers and body, lines separated by CRLF, not yet dot-stuffed.
    pub data: String,
}

/// Builds the request `integration` sends for `data`.
pub fn render(integration: &Integration, data: &NotificationData) -> Outgoing {
    match &integration.kind {
        IntegrationKind::Webhook { url, max_alerts } => Outgoing::Http {
            url: url.clone(),
            body: data.webhook_body(*max_alerts),
        },
        IntegrationKind::Slack {
            api_url,
            channel,
            username,
            title,
            text,
        } => {
            let title = title
                .as_deref()
                .map_or_else(|| data.default_title(), |t| data.render(t));
            let text = text
                .as_deref()
                .map_or_else(|| data.default_text(), |t| data.render(t));
            let mut body = json!({
                "text": title,
                "attachments": [{
                    "title": title,
                    "text": text,
                    "fallback": title,
                    "color": if data.status() == "firing" { "danger" } else { "good" },
                }],
            });
            if let Some(c) = channel {
                body["channel"] = json!(c);
            }
            if let Some(u) = username {
                body["username"] = json!(u);
            }
            Outgoing::Http {
                url: api_url.clone(),
                body,
            }
        }
        IntegrationKind::PagerDuty {
            routing_key,
            url,
            severity,
        } => {
            let firing = data.status() == "firing";
            let mut body = json!({
                "routing_key": routing_key,
                "event_action": if firing { "trigger" } else { "resolve" },
                "dedup_key": data.group_key_hash(),
                "client": "Stratus",
                "client_url": data.external_url,
            });
            if firing {
                let summary: String = data.default_title().chars().take(1024).collect();
                body["payload"] = json!({
                    "summary": summary,
                    "source": if data.external_url.is_empty() { "stratus" } else { data.external_url.as_str() },
                    "severity": data.render(severity),
                    "custom_details": {
                        "firing": data.default_text(),
                        "num_firing": data.firing(),
                        "num_resolved": data.alerts.len() - data.firing(),
                    },
                });
            }
            Outgoing::Http {
                url: url.clone(),
                body,
            }
        }
        IntegrationKind::Email {
            to,
            from,
            smarthost,
            hello,
            auth,
        } => {
            let headers = [
                format!("From: {from}"),
                format!("To: {}", to.join(", ")),
                format!("Subject: {}", data.default_title()),
                format!("Date: {}", format_rfc5322(data.now)),
                format!(
                    "Message-Id: <{}.{}@stratus>",
                    &data.group_key_hash()[..16],
                    data.now
                ),
                "MIME-Version: 1.0".to_string(),
                "Content-Type: text/plain; charset=UTF-8".to_string(),
            ];
            let body = data.default_text().replace('\n', "\r\n");
            Outgoing::Email(EmailMessage {
                smarthost: smarthost.clone(),
                hello: hello.clone(),
                from: from.clone(),
                to: to.clone(),
                auth: auth.clone(),
                data: format!("{}\r\n\r\n{body}", headers.join("\r\n")),
            })
        }
        IntegrationKind::Alertmanager { url, .. } => Outgoing::Http {
            url: format!("{url}/api/v2/alerts"),
            body: Value::Array(
                data.alerts
                    .iter()
                    .map(|a| forwarded_alert(a, data.now))
                    .collect(),
            ),
        },
    }
}

/// An alert as forwarded to an Alertmanager (its `PostableAlert`): the
/// current start and end, so each forward moves the receiver's `endsAt`
/// forward and a resolved alert resolves there. A firing alert whose end we
/// made up (`resolve_timeout`) is sent without one, so the external
/// Alertmanager applies its own timeout from the time of each forward.
fn forwarded_alert(a: &StoredAlert, now: i64) -> Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": format_rfc3339(a.starts_at_ms),
        "generatorURL": a.generator_url,
    });
    if a.resolved_at(now) || !a.timeout {
        v["endsAt"] = json!(format_rfc3339(a.ends_at_ms));
    }
    v
}

/// What a forward of `alerts` at `now` would tell an Alertmanager, as 32
/// hex digits of SHA-256: the alerts (in fingerprint order), each with its
/// status and exactly the fields [`render`] forwards. Equal digests mean
/// the receiver would learn nothing new, only a later deadline.
pub fn forward_digest<'a>(alerts: impl IntoIterator<Item = &'a StoredAlert>, now: i64) -> String {
    let mut items: Vec<(String, bool, Value)> = alerts
        .into_iter()
        .map(|a| {
            (
                fingerprint_hex(a.fingerprint()),
                a.resolved_at(now),
                forwarded_alert(a, now),
            )
        })
        .collect();
    items.sort_by(|x, y| x.0.cmp(&y.0));
    let mut h = Sha256::new();
    for (fp, resolved, alert) in &items {
        h.update(fp.as_bytes());
        h.update([u8::from(*resolved)]);
        h.update(alert.to_string().as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::PostableAlert;

    fn data() -> NotificationData {
        let a = |name: &str, sev: &str| {
            StoredAlert::from_postable(
                PostableAlert::new([("alertname", name), ("severity", sev), ("team", "db")])
                    .annotation("summary", "bad")
                    .starts_at(0),
                0,
                300_000,
            )
            .expect("valid")
        };
        NotificationData {
            receiver: "team-db".into(),
            group_key: "{}:{team=\"db\"}".into(),
            group_labels: [("team".to_string(), "db".to_string())].into(),
            external_url: "http://stratus".into(),
            alerts: vec![a("A", "page"), a("B", "warn")],
            now: 1000,
        }
    }

    #[test]
    fn templates_expand_the_supported_subset_only() {
        let d = data();
        let out = d.render("{{ .Status }} {{len .Alerts}} {{ .CommonLabels.team }} {{ .GroupLabels.team }} {{ .CommonLabels.severity }}| {{ range .Alerts }}");
        assert_eq!(out, "firing 2 db db | {{ range .Alerts }}");
        assert_eq!(d.default_title(), "[FIRING:2] db");
    }

    #[test]
    fn webhook_body_truncates_and_zeroes_firing_ends() {
        let body = data().webhook_body(1);
        assert_eq!(body["truncatedAlerts"], 1);
        assert_eq!(body["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(body["commonLabels"], json!({"team": "db"}));
        assert_eq!(body["commonAnnotations"], json!({"summary": "bad"}));
    }

    #[test]
    fn the_forward_digest_changes_with_what_the_receiver_would_learn() {
        let d = data();
        let (a, b) = (d.alerts[0].clone(), d.alerts[1].clone());
        let base = forward_digest([&a, &b], 1000);
        assert_eq!(base.len(), 32);
        assert_eq!(
            base,
            forward_digest([&b, &a], 1000),
            "order does not matter"
        );
        // A made-up end is not forwarded, so moving it changes nothing...
        let mut later = a.clone();
        later.ends_at_ms += 60_000;
        assert_eq!(base, forward_digest([&later, &b], 1000));
        // ...but a sender's end, an annotation or a resolution does.
        later.timeout = false;
        assert_ne!(base, forward_digest([&later, &b], 1000));
        let annotated = StoredAlert {
            annotations: [("summary".to_string(), "worse".to_string())].into(),
            ..a.clone()
        };
        assert_ne!(base, forward_digest([&annotated, &b], 1000));
        assert_ne!(base, forward_digest([&a, &b], a.ends_at_ms));
        assert_ne!(base, forward_digest([&a], 1000));
    }
}
