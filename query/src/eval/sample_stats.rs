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
//!   `currentSamples = original + result.TotalSamples()`);
//! - `totalQueryableSamplesPerStep`: `totalQueryableSamples` by step, only
//!   with Prometheus's `promql-per-step-stats` feature and `stats=all`.

use super::step::Val;

/// Most steps counted one by one: a range query's most points (11,000);
/// an evaluation with more steps gives no per-step counts.
const MAX_COUNTED_STEPS: usize = 11_000;

/// Sample counts of one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Prometheus's `totalQueryableSamples`.
    pub total_queryable: u64,
    /// The same by step (`totalQueryableSamplesPerStep`); empty unless
    /// asked for.
    pub per_step: Vec<u64>,
    /// Prometheus's `peakSamples`.
    pub peak: usize,
    /// Samples held now.
    held: usize,
}

impl SampleStats {
    /// Counts that also keep `totalQueryableSamples` for each of `steps`
    /// steps (none past [`MAX_COUNTED_STEPS`]).
    pub fn per_step(steps: usize) -> Self {
        Self {
            per_step: if steps <= MAX_COUNTED_STEPS {
                vec![0; steps]
            } else {
                Vec::new()
            },
            ..Self::default()
        }
    }

    /// The counts an inner evaluation (a subquery's) starts from: what is
    /// held and the peak so far; no per-step counts, as its steps are not
    /// the query's.
    pub fn inner(&self) -> Self {
        Self {
            total_queryable: self.total_queryable,
            per_step: Vec::new(),
            peak: self.peak,
            held: self.held,
        }
    }

    /// Takes back what an inner evaluation holds and its peak; returns
    /// what it queried, which is not counted here (the caller decides).
    pub fn end_inner(&mut self, inner: &Self) -> usize {
        self.peak = self.peak.max(inner.peak);
        self.held = inner.held;
        let queried = inner.total_queryable.saturating_sub(self.total_queryable);
        usize::try_from(queried).unwrap_or(usize::MAX)
    }

    /// `n` more samples held (a value built, a window loaded).
    pub fn hold(&mut self, n: usize) {
        self.held = self.held.saturating_add(n);
        self.peak = self.peak.max(self.held);
    }

    /// `n` samples no longer held (a window let go).
    pub fn release(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n);
    }

    /// `n` samples handed to evaluation at step `step`.
    pub fn queried(&mut self, step: usize, n: usize) {
        self.total_queryable = self.total_queryable.saturating_add(n as u64);
        if let Some(c) = self.per_step.get_mut(step) {
            *c = c.saturating_add(n as u64);
        }
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

    /// The `samples` object of Prometheus's `stats`; the per-step counts
    /// (when kept) at `start_ms + i * step_ms`, in seconds.
    pub fn json(&self, start_ms: i64, step_ms: i64) -> String {
        let mut out = String::from("{");
        if !self.per_step.is_empty() {
            out.push_str("\"totalQueryableSamplesPerStep\":[");
            for (i, n) in self.per_step.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                let t = start_ms.saturating_add((i as i64).saturating_mul(step_ms));
                crate::api::json::write_ts(&mut out, t);
                out.push_str(&format!(",{n}]"));
            }
            out.push_str("],");
        }
        out.push_str(&format!(
            "\"totalQueryableSamples\":{},\"peakSamples\":{}}}",
            self.total_queryable, self.peak
        ));
        out
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
