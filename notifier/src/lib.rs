//! Alertmanager-compatible notifier: a route tree, grouping, silences,
//! inhibition, receivers and retries, with every bit of state in the bucket.
//!
//! The notifier is stateless between calls. Each call of [`Notifier`]
//! (`receive`, `tick`, the silence calls) reads the tenant's objects, does
//! one step and writes them back with conditional writes
//! (`stratus_storage::mutate`, ADR 0026); a lost write re-reads and redoes
//! the step, after a jittered backoff, a bounded number of times. `now`
//! (Unix milliseconds) is a parameter everywhere, so the logic never reads
//! a clock.
//!
//! # Sending once per group and interval
//!
//! A notification is decided against the notification log entry of its
//! (receiver, integration, group), and goes through three writes:
//!
//! 1. **claim**: the entry, unchanged but for a claim `{owner, until}`, is
//!    written conditionally on the version that was read. Of two notifiers
//!    racing on the same group only one wins this write; the loser re-reads,
//!    sees the live claim (or the committed send) and does nothing.
//! 2. **send**, with retries inside the tick.
//! 3. **commit** on success: the entry records the time and the firing and
//!    resolved fingerprints, and the claim is dropped. On failure the claim
//!    is released and the entry left as it was, so the next tick retries.
//!
//! The claim is written *before* the send, so concurrent notifiers never
//! both send; the record of what was sent is written only *after* it was
//! delivered, so a failure is never mistaken for a send. The one window
//! left is a crash between a delivered send and its commit: the claim then
//! expires after `claim_ttl` and another notifier sends again. We chose
//! this (at-least-once on crashes) over committing before sending (which
//! loses the notification on such a crash): receivers deduplicate on the
//! group key (PagerDuty on `dedup_key`), a lost page is worse than a repeated
//! one, and Alertmanager itself has the same window.
//!
//! # Forwarding to an Alertmanager
//!
//! `alertmanager_configs: [{url, send_resolved, resend_interval}]` (a
//! Stratus extension) posts the group's alerts to an external
//! Alertmanager's `/api/v2/alerts`. Such an Alertmanager resolves an alert
//! once its `endsAt` passes (the ruler sets it about four minutes ahead) or,
//! without one, after its own `resolve_timeout`, so a forward cannot wait
//! for `repeat_interval`. It behaves like Prometheus's notifier instead:
//! while the receiver knows of firing alerts, the group is re-posted at
//! least every `resend_interval` (default `1m`; a tick up to a tenth early
//! counts), and also at any flush (`group_interval` after the last forward)
//! where what it would post changed: an alert came or left, resolved, or
//! has a new `endsAt` or new annotations. Each alert goes with its current
//! `startsAt` and `endsAt`, resolved ones too, so the external Alertmanager
//! resolves them; a firing alert whose end the notifier made up from
//! `resolve_timeout` goes without `endsAt`, so the receiver's own timeout
//! runs from each post. The first forward still waits for `group_wait`,
//! silences and inhibitions still apply, and the other integrations of the
//! receiver keep Alertmanager's dedup and `repeat_interval`. Forwards use
//! the same claim and commit; the log entry also keeps a digest of what was
//! posted ([`message::forward_digest`]).
//!
//! # Collecting the notification log
//!
//! Each `tick` deletes the log entries of groups that no longer exist (all
//! their alerts resolved, notified and collected, or their receiver gone
//! from the configuration) once their last send is older than
//! [`NotifierOptions::nflog_retention`] (5 days, Alertmanager's
//! `--data.retention`). It reads at most
//! [`NotifierOptions::nflog_gc_per_tick`] candidates per tick (one listing
//! of the log plus that many reads and deletes). An entry is claimed for
//! collection with a conditional write before it is deleted, so a
//! notifier that is sending it, or that touched it after it was judged,
//! keeps it; see `notifier/gc.rs`.
//!
//! # What is supported
//!
//! Receivers: `webhook_configs`, `slack_configs`, `pagerduty_configs`
//! (Events API v2), `email_configs` (plain SMTP, see [`smtp`]) and the
//! forwarding above. Templates are the subset documented in [`message`].
//! Not supported yet: template files, time intervals, other receiver kinds,
//! STARTTLS.

mod alert;
mod config;
mod dispatch;
mod error;
mod inhibit;
mod matcher;
mod message;
mod metrics;
pub mod nflog;
mod route;
mod service;
mod silence;
mod smtp;
pub mod state;
pub mod time;
mod transport;

pub use alert::{GettableAlert, PostableAlert, StoredAlert};
pub use config::{Config, Integration, IntegrationKind, Receiver};
pub use error::{NotifierError, Result};
pub use matcher::{parse_matchers, LabelSet, Matcher};
pub use message::{EmailMessage, NotificationData, Outgoing};
pub use metrics::{MetricsSnapshot, NotifierMetrics};
pub use route::{GroupBy, Route};
pub use service::{
    AlertGroup, NotificationOutcome, Notifier, NotifierOptions, ReceiveReport, RetryOptions,
    TickReport,
};
pub use silence::{PostableSilence, Silence, SilenceState};
pub use transport::{DeliveryError, NetTransport, Transport};
