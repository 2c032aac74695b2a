//! Delivery: the [`Transport`] trait every notification goes through (tests
//! inject failures with their own), and [`NetTransport`], the real one: JSON
//! POSTs with reqwest and e-mail with the small client in `smtp.rs`.

use std::time::Duration;

use async_trait::async_trait;

pub use crate::error::DeliveryError;
use crate::message::Outgoing;

#[async_trait]
pub trait Transport: Send + Sync {
    /// Makes one attempt; the notifier retries.
    async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError>;
}

/// HTTP with reqwest (TLS through the workspace's rustls) and plain SMTP.
#[derive(Debug, Clone)]
pub struct NetTransport {
    client: reqwest::Client,
    timeout: Duration,
}

impl NetTransport {
    /// `timeout` bounds each attempt (connect, request and answer).
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("stratus-notifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, timeout })
    }
}

/// Maps an HTTP status to the failure it is, if it is one.
pub fn classify_status(status: u16) -> Option<(&'static str, bool)> {
    match status {
        200..=299 => None,
        429 => Some(("http_4xx", true)),
        400..=499 => Some(("http_4xx", false)),
        500..=599 => Some(("http_5xx", true)),
        _ => Some(("http_other", false)),
    }
}

#[async_trait]
impl Transport for NetTransport {
    async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError> {
        match message {
            Outgoing::Http { url, body } => {
                let bytes = serde_json::to_vec(body)
                    .map_err(|e| DeliveryError::new("encode", e.to_string(), false))?;
                let resp = self
                    .client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bytes)
                    .send()
                    .await
                    .map_err(|e| {
                        let reason = if e.is_timeout() {
                            "timeout"
                        } else if e.is_connect() {
                            "connect"
                        } else {
                            "http_other"
                        };
                        DeliveryError::new(reason, format!("POST {url}: {e}"), true)
                    })?;
                let status = resp.status().as_u16();
                match classify_status(status) {
                    None => Ok(()),
                    Some((reason, retryable)) => {
                        let text = resp.text().await.unwrap_or_default();
                        let text: String = text.chars().take(200).collect();
                        Err(DeliveryError::new(
                            reason,
                            format!("POST {url}: expected 2xx, got {status}: {text}"),
                            retryable,
                        ))
                    }
                }
            }
            Outgoing::Email(mail) => crate::smtp::send(mail, self.timeout).await,
        }
    }
}
