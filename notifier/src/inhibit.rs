//! Inhibition: a firing source alert mutes the target alerts that carry the
//! same values for the rule's `equal` labels, as Alertmanager's inhibitor.

use crate::alert::{fingerprint_hex, StoredAlert};
use crate::config::InhibitRule;
use crate::matcher::matches_all;

/// For each alert of `alerts`, the fingerprints of the alerts inhibiting it.
pub fn inhibited_by(rules: &[InhibitRule], alerts: &[StoredAlert], now: i64) -> Vec<Vec<String>> {
    alerts
        .iter()
        .map(|target| {
            let mut by = Vec::new();
            for rule in rules {
                if !matches_all(&rule.target_matchers, &target.labels) {
                    continue;
                }
                // An alert matching both sides cannot be muted by another
                // alert that also matches both (Alertmanager's two-sided rule).
                let two_sided = matches_all(&rule.source_matchers, &target.labels);
                let source = alerts.iter().find(|s| {
                    !s.resolved_at(now)
                        && matches_all(&rule.source_matchers, &s.labels)
                        && rule
                            .equal
                            .iter()
                            .all(|l| s.labels.get(l) == target.labels.get(l))
                        && !(two_sided && matches_all(&rule.target_matchers, &s.labels))
                });
                if let Some(s) = source {
                    let fp = fingerprint_hex(s.fingerprint());
                    if !by.contains(&fp) {
                        by.push(fp);
                    }
                }
            }
            by
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::PostableAlert;
    use crate::matcher::parse_matchers;

    fn alert(labels: &[(&str, &str)], ends: Option<i64>) -> StoredAlert {
        let mut p = PostableAlert::new(labels.iter().copied()).starts_at(0);
        p.ends_at = ends;
        StoredAlert::from_postable(p, 0, 1_000_000).expect("valid")
    }

    #[test]
    fn a_firing_critical_mutes_the_warning_of_the_same_cluster() {
        let rule = InhibitRule {
            source_matchers: parse_matchers(r#"severity="critical""#).expect("m"),
            target_matchers: parse_matchers(r#"severity="warning""#).expect("m"),
            equal: vec!["cluster".into()],
        };
        let alerts = vec![
            alert(
                &[
                    ("alertname", "Down"),
                    ("severity", "critical"),
                    ("cluster", "a"),
                ],
                None,
            ),
            alert(
                &[
                    ("alertname", "Slow"),
                    ("severity", "warning"),
                    ("cluster", "a"),
                ],
                None,
            ),
            alert(
                &[
                    ("alertname", "Slow"),
                    ("severity", "warning"),
                    ("cluster", "b"),
                ],
                None,
            ),
        ];
        let by = inhibited_by(std::slice::from_ref(&rule), &alerts, 10);
        assert_eq!(by[1], vec![fingerprint_hex(alerts[0].fingerprint())]);
        assert!(by[0].is_empty() && by[2].is_empty());
        // Once the source resolves, nothing is muted.
        let mut resolved = alerts.clone();
        resolved[0] = alert(
            &[
                ("alertname", "Down"),
                ("severity", "critical"),
                ("cluster", "a"),
            ],
            Some(5),
        );
        assert!(inhibited_by(&[rule], &resolved, 10)
            .iter()
            .all(Vec::is_empty));
    }
}
