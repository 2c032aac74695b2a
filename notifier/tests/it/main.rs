//! Integration tests of the notifier: configuration, dispatch timing across
//! ticks, silences, inhibition, the notification log shared by several
//! notifiers, retries, and every receiver against a local server.

mod config;
mod dispatch;
mod forward;
mod nflog_gc;
mod receivers;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use stratus_model::TenantId;
use stratus_notifier::{
    Config, DeliveryError, Notifier, NotifierOptions, Outgoing, RetryOptions, Transport,
};
use stratus_storage::Bucket;

/// A fixed start so times are readable: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;
pub const SEC: i64 = 1000;
pub const MIN: i64 = 60 * SEC;

pub fn tenant() -> TenantId {
    TenantId::new("team-a").expect("valid tenant")
}

pub fn fast_options() -> NotifierOptions {
    NotifierOptions {
        external_url: "http://stratus.example".into(),
        retry: RetryOptions {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_elapsed: Duration::from_millis(200),
        },
        send_timeout: Duration::from_secs(5),
        ..NotifierOptions::default()
    }
}

/// Records every delivery; fails according to a script, then succeeds.
#[derive(Default)]
pub struct Recorder {
    pub sent: Mutex<Vec<Outgoing>>,
    pub script: Mutex<VecDeque<DeliveryError>>,
    pub always_fail: Mutex<Option<DeliveryError>>,
    pub gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Notified when a delivery starts (before the gate).
    pub entered: Option<Arc<tokio::sync::Notify>>,
}

impl Recorder {
    pub fn sent(&self) -> Vec<Outgoing> {
        self.sent.lock().expect("lock").clone()
    }

    /// The JSON bodies of the HTTP deliveries.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.sent()
            .into_iter()
            .filter_map(|o| match o {
                Outgoing::Http { body, .. } => Some(body),
                Outgoing::Email(_) => None,
            })
            .collect()
    }
}

#[async_trait]
impl Transport for Recorder {
    async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError> {
        if let Some(entered) = &self.entered {
            entered.notify_one();
        }
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await.expect("gate open");
        }
        if let Some(e) = self.always_fail.lock().expect("lock").clone() {
            return Err(e);
        }
        if let Some(e) = self.script.lock().expect("lock").pop_front() {
            return Err(e);
        }
        self.sent.lock().expect("lock").push(message.clone());
        Ok(())
    }
}

pub fn notifier(bucket: &Bucket, yaml: &str, transport: Arc<dyn Transport>) -> Notifier {
    let config = Config::from_yaml(yaml).expect("valid config");
    Notifier::with_transport(bucket.clone(), config, fast_options(), transport)
}

/// A webhook-only configuration with the given route timings.
pub fn webhook_config(group_wait: &str, group_interval: &str, repeat: &str) -> String {
    format!(
        r#"
route:
  receiver: hook
  group_by: [alertname]
  group_wait: {group_wait}
  group_interval: {group_interval}
  repeat_interval: {repeat}
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:1/hook
"#
    )
}
