//! `histogram_quantile` over classic histograms: buckets grouped by their
//! labels without `le`, a quantile per step, and Prometheus's annotations.

use std::collections::HashMap;

use stratus_model::{Labels, METRIC_NAME};

use super::{Evaluator, StepSeries};
use crate::annotations::Annotation;
use crate::error::QueryError;
use crate::functions::{self, histogram::Bucket};

impl<'a> Evaluator<'a> {
    /// The ` for metric name "..."` that ends histogram_quantile's
    /// annotations. Prometheus (since 3.7) names the metric only with
    /// delayed name removal; without it the name is left out.
    /// The metric name the annotations of `histogram_quantile` name: with
    /// delayed name removal only (Prometheus 3's default has none).
    fn histogram_metric_name(&self, labels: &Labels) -> Option<String> {
        self.delayed_name_removal
            .then(|| labels.metric_name().unwrap_or("").to_string())
    }

    pub(super) fn histogram_quantile(
        &mut self,
        q: &[f64],
        v: Vec<StepSeries>,
    ) -> Result<Vec<StepSeries>, QueryError> {
        // Group buckets by their labels without `le` (and the name).
        let mut groups: HashMap<Labels, Vec<(f64, &StepSeries)>> = HashMap::new();
        let mut order = Vec::new();
        for s in &v {
            let le = s
                .labels
                .get("le")
                .and_then(functions::histogram::parse_bucket_bound);
            let Some(le) = le else {
                self.annotations.add(Annotation::BadBucketLabel {
                    metric_name: self.histogram_metric_name(&s.labels),
                    label: s.labels.get("le").unwrap_or("").to_string(),
                });
                continue;
            };
            let key = Labels::from_sorted_unchecked(
                s.labels
                    .iter()
                    .filter(|l| l.name != "le" && l.name != METRIC_NAME)
                    .cloned()
                    .collect(),
            );
            groups
                .entry(key.clone())
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push((le, s));
        }
        self.check_quantiles(q);
        let steps = self.steps();
        let mut out = Vec::new();
        for key in order {
            let Some(members) = groups.get(&key) else {
                continue;
            };
            let mut points = Vec::new();
            // A copy of the members' points, indexed (about 32 bytes each).
            let copied: usize = members.iter().map(|(_, s)| s.points.len()).sum();
            self.hold_bytes(2 * crate::eval::points_bytes(copied))?;
            self.room_for(steps)?;
            let values: Vec<HashMap<u32, f64>> = members
                .iter()
                .map(|(_, s)| s.points.iter().copied().collect())
                .collect();
            for step in 0..steps as u32 {
                self.tick(members.len())?;
                let mut buckets: Vec<Bucket> = members
                    .iter()
                    .zip(&values)
                    .filter_map(|((le, _), vals)| {
                        vals.get(&step).map(|&count| Bucket {
                            upper_bound: *le,
                            count,
                        })
                    })
                    .collect();
                if buckets.is_empty() {
                    continue;
                }
                let r = functions::histogram::bucket_quantile(q[step as usize], &mut buckets);
                if r.forced_monotonicity {
                    let metric_name = self.histogram_metric_name(&members[0].1.labels);
                    self.annotations
                        .add(Annotation::HistogramQuantileForcedMonotonicity { metric_name });
                }
                if !r.value.is_nan() || !buckets.is_empty() {
                    points.push((step, r.value));
                }
            }
            self.settle(steps, points.len());
            if !points.is_empty() {
                out.push(StepSeries::new(key, points));
            }
        }
        Ok(out)
    }
}
