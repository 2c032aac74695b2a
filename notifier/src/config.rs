//! Alertmanager's YAML configuration: `global`, the `route` tree,
//! `inhibit_rules` and `receivers`. [`Config::from_yaml`] parses (unknown
//! fields are errors), fills in Alertmanager's defaults, resolves route
//! inheritance and validates; every error names the field it is about.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::matcher::{parse_matchers, Matcher};
use crate::route::{GroupBy, Route};
use crate::time::parse_duration;
use crate::{NotifierError, Result};

mod receivers;

use receivers::RawReceiver;

/// A validated configuration, ready for the dispatcher.
#[derive(Debug, Clone)]
pub struct Config {
    pub resolve_timeout_ms: i64,
    pub route: Route,
    pub inhibit_rules: Vec<InhibitRule>,
    pub receivers: Vec<Receiver>,
    /// The YAML it was read from, as given (Alertmanager's
    /// `config.original`, which `amtool config show` prints).
    pub original: String,
}

#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source_matchers: Vec<Matcher>,
    pub target_matchers: Vec<Matcher>,
    pub equal: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub integrations: Vec<Integration>,
}

/// One delivery target of a receiver (`webhook_configs[0]`, ...). Each has
/// its own notification log, like Alertmanager's integrations.
#[derive(Debug, Clone)]
pub struct Integration {
    pub kind: IntegrationKind,
    /// Position among the receiver's integrations of the same kind.
    pub index: usize,
    pub send_resolved: bool,
}

#[derive(Debug, Clone)]
pub enum IntegrationKind {
    Webhook {
        url: String,
        max_alerts: usize,
    },
    Slack {
        api_url: String,
        channel: Option<String>,
        username: Option<String>,
        title: Option<String>,
        text: Option<String>,
    },
    PagerDuty {
        routing_key: String,
        url: String,
        severity: String,
    },
    Email {
        to: Vec<String>,
        from: String,
        smarthost: String,
        hello: String,
        auth: Option<(String, String)>,
    },
    /// Stratus extension: forward to an external Alertmanager's
    /// `/api/v2/alerts`, as Prometheus does: on every change, and every
    /// `resend_interval` while alerts fire (default 1m).
    Alertmanager {
        url: String,
        resend_interval_ms: i64,
    },
}

impl Integration {
    /// `webhook`, `slack`, `pagerduty`, `email` or `alertmanager`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            IntegrationKind::Webhook { .. } => "webhook",
            IntegrationKind::Slack { .. } => "slack",
            IntegrationKind::PagerDuty { .. } => "pagerduty",
            IntegrationKind::Email { .. } => "email",
            IntegrationKind::Alertmanager { .. } => "alertmanager",
        }
    }

    /// `webhook[0]`, `slack[1]`, ...: the name in the notification log.
    pub fn id(&self) -> String {
        format!("{}[{}]", self.name(), self.index)
    }

    /// For forwarding to an Alertmanager: how often firing alerts are
    /// re-posted whatever `repeat_interval` says. `None` for notifications.
    pub fn resend_interval_ms(&self) -> Option<i64> {
        match self.kind {
            IntegrationKind::Alertmanager {
                resend_interval_ms, ..
            } => Some(resend_interval_ms),
            _ => None,
        }
    }
}

impl Config {
    pub fn from_yaml(text: &str) -> Result<Self> {
        let raw: RawConfig =
            serde_yaml::from_str(text).map_err(|e| NotifierError::Config(e.to_string()))?;
        let mut config = raw.compile().map_err(NotifierError::Config)?;
        config.original = text.to_string();
        Ok(config)
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: RawGlobal,
    route: Option<RawRoute>,
    #[serde(default)]
    inhibit_rules: Vec<RawInhibit>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
    #[serde(default)]
    templates: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    resolve_timeout: Option<String>,
    slack_api_url: Option<String>,
    smtp_from: Option<String>,
    smtp_smarthost: Option<String>,
    smtp_hello: Option<String>,
    smtp_auth_username: Option<String>,
    smtp_auth_password: Option<String>,
    smtp_require_tls: Option<bool>,
    pagerduty_url: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    receiver: Option<String>,
    group_by: Option<Vec<String>>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    matchers: Vec<String>,
    #[serde(default, rename = "match")]
    match_eq: BTreeMap<String, String>,
    #[serde(default)]
    match_re: BTreeMap<String, String>,
    #[serde(default, rename = "continue")]
    continue_matching: bool,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibit {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    equal: Vec<String>,
}

type Res<T> = std::result::Result<T, String>;

fn duration(field: &str, v: &Option<String>, default: i64) -> Res<i64> {
    match v {
        None => Ok(default),
        Some(s) => parse_duration(s).map_err(|e| format!("{field}: {e}")),
    }
}

fn http_url(field: &str, v: Option<&String>) -> Res<String> {
    let url = v.ok_or_else(|| format!("{field}: a URL is required"))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        return Err(format!(
            "{field}: expected an http:// or https:// URL, got {url:?}"
        ));
    }
    Ok(url.clone())
}

fn legacy_matchers(
    field: &str,
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
) -> Res<Vec<Matcher>> {
    let mut out: Vec<Matcher> = eq.iter().map(|(k, v)| Matcher::equal(k, v)).collect();
    for (k, v) in re {
        out.push(Matcher::new(k, v, true, true).map_err(|e| format!("{field}_re: {e}"))?);
    }
    Ok(out)
}

fn new_matchers(field: &str, lines: &[String]) -> Res<Vec<Matcher>> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        out.extend(parse_matchers(line).map_err(|e| format!("{field}[{i}]: {e}"))?);
    }
    Ok(out)
}

impl RawConfig {
    fn compile(self) -> Res<Config> {
        if !self.templates.is_empty() {
            return Err("templates: template files are not supported; use the inline subset documented in the crate".into());
        }
        let g = &self.global;
        let resolve_timeout_ms =
            duration("global.resolve_timeout", &g.resolve_timeout, 5 * 60_000)?;
        let mut receivers = Vec::new();
        let mut names = HashSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            let field = format!("receivers[{i}]");
            if r.name.is_empty() {
                return Err(format!("{field}.name: a receiver needs a name"));
            }
            if !names.insert(r.name.clone()) {
                return Err(format!(
                    "{field}.name: receiver {:?} is defined twice",
                    r.name
                ));
            }
            receivers.push(r.compile(&format!("{field} ({:?})", r.name), g)?);
        }
        let raw_route = self.route.ok_or("route: the root route is required")?;
        if raw_route.receiver.is_none() {
            return Err("route.receiver: the root route needs a receiver".into());
        }
        if !raw_route.matchers.is_empty()
            || !raw_route.match_eq.is_empty()
            || !raw_route.match_re.is_empty()
        {
            return Err("route.matchers: the root route must not have matchers".into());
        }
        if raw_route.continue_matching {
            return Err("route.continue: the root route cannot have continue set".into());
        }
        let route = compile_route(&raw_route, None, "route", "{}".into(), &names)?;
        let mut inhibit_rules = Vec::new();
        for (i, r) in self.inhibit_rules.iter().enumerate() {
            let f = format!("inhibit_rules[{i}]");
            let mut source_matchers =
                new_matchers(&format!("{f}.source_matchers"), &r.source_matchers)?;
            source_matchers.extend(legacy_matchers(
                &format!("{f}.source_match"),
                &r.source_match,
                &r.source_match_re,
            )?);
            let mut target_matchers =
                new_matchers(&format!("{f}.target_matchers"), &r.target_matchers)?;
            target_matchers.extend(legacy_matchers(
                &format!("{f}.target_match"),
                &r.target_match,
                &r.target_match_re,
            )?);
            inhibit_rules.push(InhibitRule {
                source_matchers,
                target_matchers,
                equal: r.equal.clone(),
            });
        }
        Ok(Config {
            resolve_timeout_ms,
            route,
            inhibit_rules,
            receivers,
            original: String::new(),
        })
    }
}

fn compile_route(
    r: &RawRoute,
    parent: Option<&Route>,
    field: &str,
    key_prefix: String,
    names: &HashSet<String>,
) -> Res<Route> {
    let receiver = match (&r.receiver, parent) {
        (Some(name), _) => name.clone(),
        (None, Some(p)) => p.receiver.clone(),
        (None, None) => return Err(format!("{field}.receiver: a receiver is required")),
    };
    if !names.contains(&receiver) {
        return Err(format!(
            "{field}.receiver: receiver {receiver:?} is not defined in receivers"
        ));
    }
    let group_by = match (&r.group_by, parent) {
        (Some(labels), _) if labels.iter().any(|l| l == "...") => {
            if labels.len() > 1 {
                return Err(format!(
                    "{field}.group_by: '...' must be the only element, got {labels:?}"
                ));
            }
            GroupBy::All
        }
        (Some(labels), _) => {
            let mut seen = HashSet::new();
            for l in labels {
                if !seen.insert(l) {
                    return Err(format!("{field}.group_by: label {l:?} is listed twice"));
                }
            }
            GroupBy::Labels(labels.clone())
        }
        (None, Some(p)) => p.group_by.clone(),
        (None, None) => GroupBy::Labels(Vec::new()),
    };
    let inherit = |v: &Option<String>, name: &str, p: Option<i64>, d: i64| {
        duration(&format!("{field}.{name}"), v, p.unwrap_or(d))
    };
    let group_wait_ms = inherit(
        &r.group_wait,
        "group_wait",
        parent.map(|p| p.group_wait_ms),
        30_000,
    )?;
    let group_interval_ms = inherit(
        &r.group_interval,
        "group_interval",
        parent.map(|p| p.group_interval_ms),
        5 * 60_000,
    )?;
    let repeat_interval_ms = inherit(
        &r.repeat_interval,
        "repeat_interval",
        parent.map(|p| p.repeat_interval_ms),
        4 * 3_600_000,
    )?;
    if group_interval_ms <= 0 {
        return Err(format!("{field}.group_interval: must be greater than 0"));
    }
    if repeat_interval_ms <= 0 {
        return Err(format!("{field}.repeat_interval: must be greater than 0"));
    }
    let mut matchers = legacy_matchers(&format!("{field}.match"), &r.match_eq, &r.match_re)?;
    matchers.extend(new_matchers(&format!("{field}.matchers"), &r.matchers)?);
    let key = if parent.is_some() {
        format!(
            "{key_prefix}/{}",
            crate::matcher::format_matchers(&matchers)
        )
    } else {
        key_prefix
    };
    let mut route = Route {
        receiver,
        group_by,
        group_wait_ms,
        group_interval_ms,
        repeat_interval_ms,
        matchers,
        continue_matching: r.continue_matching,
        routes: Vec::new(),
        key,
    };
    for (i, child) in r.routes.iter().enumerate() {
        let c = compile_route(
            child,
            Some(&route),
            &format!("{field}.routes[{i}]"),
            route.key.clone(),
            names,
        )?;
        route.routes.push(c);
    }
    Ok(route)
}
