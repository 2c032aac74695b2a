//! `/api/v1/status/runtimeinfo`, `/flags`, `/config` and
//! `/api/v1/alertmanagers`, in Prometheus's shapes: what Grafana and the
//! Prometheus UI ask a server about itself.

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Map, Value};
use stratus_model::time::{format_rfc3339, Fraction};

use super::respond::ok;
use super::state::QueryState;

fn data(v: Value) -> Response {
    ok(&v.to_string())
}

/// Prometheus's runtime information; the Go runtime's fields (goroutines,
/// `GOGC`, `GODEBUG`) are zero or empty, `GOMAXPROCS` is the threads the
/// process may run at once.
pub(super) async fn runtimeinfo(State(st): State<QueryState>) -> Response {
    let start = format_rfc3339(st.status.start_time_ms, Fraction::Trimmed);
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    data(json!({
        "startTime": start,
        "CWD": cwd,
        "reloadConfigSuccess": true,
        "lastConfigTime": start,
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": threads,
        "GOMEMLIMIT": 0,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": st.status.storage_retention,
    }))
}

/// The settings as Prometheus lists its flags: flag name (without `--`)
/// to value, every value a string.
pub(super) async fn flags(State(st): State<QueryState>) -> Response {
    let map: Map<String, Value> = st
        .status
        .settings
        .iter()
        .map(|(name, value)| (name.replace('_', "-"), Value::String(value.clone())))
        .collect();
    data(Value::Object(map))
}

/// Prometheus's loaded configuration as YAML; Stratus scrapes nothing, so
/// it is the effective settings, named as in the config file.
pub(super) async fn config(State(st): State<QueryState>) -> Response {
    data(json!({ "yaml": settings_yaml(&st.status.settings) }))
}

/// `name: "value"` lines; a JSON string is a valid YAML double-quoted
/// scalar.
fn settings_yaml(settings: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in settings {
        out.push_str(name);
        out.push_str(": ");
        super::json::write_str(&mut out, value);
        out.push('\n');
    }
    out
}

/// The Alertmanagers rule alerts are sent to.
pub(super) async fn alertmanagers(State(st): State<QueryState>) -> Response {
    let active: Vec<Value> = st
        .status
        .alertmanagers
        .iter()
        .map(|url| json!({ "url": url }))
        .collect();
    data(json!({ "activeAlertmanagers": active, "droppedAlertmanagers": [] }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings_are_yaml_with_quoted_values() {
        let yaml = super::settings_yaml(&[
            ("listen_addr".into(), "127.0.0.1:9494".into()),
            ("external_url".into(), "a \"b\"\\".into()),
        ]);
        assert_eq!(
            yaml,
            "listen_addr: \"127.0.0.1:9494\"\nexternal_url: \"a \\\"b\\\"\\\\\"\n"
        );
    }
}
