//! The `receivers:` section: each receiver's integrations, with their
//! defaults (global settings, `send_resolved` per kind) and validation.

use serde::Deserialize;

use super::{duration, http_url, Integration, IntegrationKind, RawGlobal, Receiver, Res};

const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Prometheus's `--rules.alert.resend-delay`.
const DEFAULT_RESEND_INTERVAL_MS: i64 = 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReceiver {
    pub(super) name: String,
    #[serde(default)]
    webhook_configs: Vec<RawWebhook>,
    #[serde(default)]
    slack_configs: Vec<RawSlack>,
    #[serde(default)]
    pagerduty_configs: Vec<RawPagerDuty>,
    #[serde(default)]
    email_configs: Vec<RawEmail>,
    #[serde(default)]
    alertmanager_configs: Vec<RawForward>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Option<String>,
    send_resolved: Option<bool>,
    #[serde(default)]
    max_alerts: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    api_url: Option<String>,
    channel: Option<String>,
    username: Option<String>,
    title: Option<String>,
    text: Option<String>,
    send_resolved: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPagerDuty {
    routing_key: Option<String>,
    url: Option<String>,
    severity: Option<String>,
    send_resolved: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    to: Option<String>,
    from: Option<String>,
    smarthost: Option<String>,
    hello: Option<String>,
    auth_username: Option<String>,
    auth_password: Option<String>,
    require_tls: Option<bool>,
    send_resolved: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForward {
    url: Option<String>,
    send_resolved: Option<bool>,
    /// How often the group's alerts are re-posted while they fire.
    resend_interval: Option<String>,
}

impl RawReceiver {
    pub(super) fn compile(&self, field: &str, g: &RawGlobal) -> Res<Receiver> {
        let mut integrations = Vec::new();
        for (index, w) in self.webhook_configs.iter().enumerate() {
            let url = http_url(
                &format!("{field}.webhook_configs[{index}].url"),
                w.url.as_ref(),
            )?;
            integrations.push(Integration {
                kind: IntegrationKind::Webhook {
                    url,
                    max_alerts: w.max_alerts,
                },
                index,
                send_resolved: w.send_resolved.unwrap_or(true),
            });
        }
        for (index, s) in self.slack_configs.iter().enumerate() {
            let f = format!("{field}.slack_configs[{index}].api_url");
            let api_url = http_url(&f, s.api_url.as_ref().or(g.slack_api_url.as_ref()))
                .map_err(|e| format!("{e} (or set global.slack_api_url)"))?;
            integrations.push(Integration {
                kind: IntegrationKind::Slack {
                    api_url,
                    channel: s.channel.clone(),
                    username: s.username.clone(),
                    title: s.title.clone(),
                    text: s.text.clone(),
                },
                index,
                send_resolved: s.send_resolved.unwrap_or(false),
            });
        }
        for (index, p) in self.pagerduty_configs.iter().enumerate() {
            let f = format!("{field}.pagerduty_configs[{index}]");
            let routing_key = p
                .routing_key
                .clone()
                .filter(|k| !k.is_empty())
                .ok_or_else(|| format!("{f}.routing_key: a routing key is required"))?;
            let default_url = DEFAULT_PAGERDUTY_URL.to_string();
            let url = http_url(
                &format!("{f}.url"),
                Some(
                    p.url
                        .as_ref()
                        .or(g.pagerduty_url.as_ref())
                        .unwrap_or(&default_url),
                ),
            )?;
            integrations.push(Integration {
                kind: IntegrationKind::PagerDuty {
                    routing_key,
                    url,
                    severity: p.severity.clone().unwrap_or_else(|| "error".into()),
                },
                index,
                send_resolved: p.send_resolved.unwrap_or(true),
            });
        }
        for (index, e) in self.email_configs.iter().enumerate() {
            let f = format!("{field}.email_configs[{index}]");
            if e.require_tls.or(g.smtp_require_tls).unwrap_or(false) {
                return Err(format!("{f}.require_tls: STARTTLS is not supported yet; set require_tls: false (plain SMTP) or relay through a local MTA"));
            }
            let to: Vec<String> =
                e.to.as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
            if to.is_empty() {
                return Err(format!("{f}.to: at least one address is required"));
            }
            let from = e
                .from
                .clone()
                .or_else(|| g.smtp_from.clone())
                .ok_or_else(|| format!("{f}.from: required (or set global.smtp_from)"))?;
            let smarthost = e
                .smarthost
                .clone()
                .or_else(|| g.smtp_smarthost.clone())
                .ok_or_else(|| format!("{f}.smarthost: required (or set global.smtp_smarthost)"))?;
            if smarthost
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(format!(
                    "{f}.smarthost: expected host:port, got {smarthost:?}"
                ));
            }
            let user = e
                .auth_username
                .clone()
                .or_else(|| g.smtp_auth_username.clone());
            let pass = e
                .auth_password
                .clone()
                .or_else(|| g.smtp_auth_password.clone());
            integrations.push(Integration {
                kind: IntegrationKind::Email {
                    to,
                    from,
                    smarthost,
                    hello: e
                        .hello
                        .clone()
                        .or_else(|| g.smtp_hello.clone())
                        .unwrap_or_else(|| "localhost".into()),
                    auth: user.map(|u| (u, pass.unwrap_or_default())),
                },
                index,
                send_resolved: e.send_resolved.unwrap_or(false),
            });
        }
        for (index, a) in self.alertmanager_configs.iter().enumerate() {
            let f = format!("{field}.alertmanager_configs[{index}]");
            let url = http_url(&format!("{f}.url"), a.url.as_ref())?;
            let resend_interval_ms = duration(
                &format!("{f}.resend_interval"),
                &a.resend_interval,
                DEFAULT_RESEND_INTERVAL_MS,
            )?;
            if resend_interval_ms <= 0 {
                return Err(format!(
                    "{f}.resend_interval: must be greater than 0, got {:?}",
                    a.resend_interval.as_deref().unwrap_or_default()
                ));
            }
            integrations.push(Integration {
                kind: IntegrationKind::Alertmanager {
                    url: url.trim_end_matches('/').to_string(),
                    resend_interval_ms,
                },
                index,
                send_resolved: a.send_resolved.unwrap_or(true),
            });
        }
        Ok(Receiver {
            name: self.name.clone(),
            integrations,
        })
    }
}
