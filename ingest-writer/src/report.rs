//! What one write request received and refused: counts for metrics and
//! response headers, and the messages of a 400 answer.

use std::collections::BTreeMap;

use crate::validate::{Reason, Rejection};

/// At most this many messages are returned to the client; the rest are
/// counted.
const MAX_MESSAGES: usize = 10;

/// Counts of one request, for metrics, response headers and messages.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub series_received: u64,
    pub samples_received: u64,
    pub histograms_received: u64,
    pub exemplars_received: u64,
    /// Samples that passed validation (written if the commit succeeds).
    pub samples_valid: u64,
    pub rejected: BTreeMap<Reason, u64>,
    /// Samples dropped for the series and timestamp of an earlier one in
    /// the same request (the first is kept, as Prometheus keeps it); not
    /// an error of the request.
    pub duplicates: u64,
    pub messages: Vec<String>,
    pub more_messages: usize,
}

impl Report {
    /// Counts one received series with its float samples, native
    /// histogram samples and exemplars.
    pub(crate) fn received_series(&mut self, samples: u64, histograms: u64, exemplars: u64) {
        self.series_received += 1;
        self.samples_received += samples + histograms;
        self.histograms_received += histograms;
        self.exemplars_received += exemplars;
    }

    pub fn reject(&mut self, rejection: Rejection, samples: u64) {
        *self.rejected.entry(rejection.reason).or_default() += samples;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(rejection.message);
        } else {
            self.more_messages += 1;
        }
    }

    pub fn samples_rejected(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// All messages as one text for a 400 body.
    pub fn message_text(&self) -> String {
        let mut s = self.messages.join("\n");
        if self.more_messages > 0 {
            s.push_str(&format!("\n(and {} more errors)", self.more_messages));
        }
        s
    }
}
