//! Prometheus's query sample statistics (`util/stats.QuerySamples`), the
//! `samples` section of a `stats=all` answer, counted as
//! `promql/engine.go` counts them:
//!
//! - `totalQueryableSamples`: the samples selectors hand to evaluation,
//!   step by step: each point an instant-vector selector finds at a step,
//!   each sample of a range selector's window at each step it is used
//!   (overlapping windows count a sample once per window), the samples of
//!   a range selector evaluated on its own, and what a subquery's inner
//!   evaluation counted;
//! - `peakSamples`: the most samples held at once during evaluation: a
//!   node's value is held while its parent is computed, and once the
//!   parent is done only the parent's value is (Prometheus's
//!   `currentSamples = original + result.TotalSamples()`).

use super::step::Val;

/// Sample counts of one evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Prometheus's `totalQueryableSamples`.
    pub total_queryable: u64,
    /// Prometheus's `peakSamples`.
    pub peak: usize,
    /// Samples held now.
    held: usize,
}

impl SampleStats {
    /// `n` more samples held (a value built, a window loaded).
    pub fn hold(&mut self, n: usize) {
        self.held = self.held.saturating_add(n);
        self.peak = self.peak.max(self.held);
    }

    /// `n` samples no longer held (a window let go).
    pub fn release(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n);
    }

    /// `n` samples handed to evaluation.
    pub fn queried(&mut self, n: usize) {
        self.total_queryable = self.total_queryable.saturating_add(n as u64);
    }

    /// Samples held now, to hand to [`Self::finish_node`] after a node.
    pub fn mark(&self) -> usize {
        self.held
    }

    /// A node's evaluation is over: what it held to compute `v` is let go,
    /// `v` itself is held (on top of what was held before it, `mark`).
    pub fn finish_node(&mut self, mark: usize, v: &Val) {
        self.peak = self.peak.max(self.held);
        self.held = mark.saturating_add(points(v));
        self.peak = self.peak.max(self.held);
    }

    /// The counts of separately evaluated parts of one query (splits of a
    /// range query): totals add up, the peak is the largest part's.
    pub fn merge(&mut self, other: &SampleStats) {
        self.total_queryable = self.total_queryable.saturating_add(other.total_queryable);
        self.peak = self.peak.max(other.peak);
    }

    /// The `samples` object of Prometheus's `stats` (without the per-step
    /// counts, which Prometheus gives only with its
    /// `promql-per-step-stats` feature, not offered here).
    pub fn json(&self) -> String {
        format!(
            "{{\"totalQueryableSamples\":{},\"peakSamples\":{}}}",
            self.total_queryable, self.peak
        )
    }
}

/// The samples a value holds.
fn points(v: &Val) -> usize {
    match v {
        Val::Scalar(v) => v.len(),
        Val::Vector(vs) => vs.iter().map(|s| s.points.len()).sum(),
        Val::Matrix(m) => m.iter().map(|s| s.samples.len()).sum(),
        Val::String(_) => 0,
    }
}
