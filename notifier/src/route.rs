//! The route tree: which routes (and so which receivers) an alert goes to,
//! and the labels it is grouped by there.

use crate::matcher::{format_labels, matches_all, LabelSet, Matcher};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label, so every alert is its own group.
    All,
    Labels(Vec<String>),
}

/// A route with its inherited settings resolved.
#[derive(Debug, Clone)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
    pub matchers: Vec<Matcher>,
    pub continue_matching: bool,
    pub routes: Vec<Route>,
    /// Alertmanager's route key: the parent's key, `/`, this route's matchers.
    pub key: String,
}

impl Route {
    /// The routes that take an alert, depth first, as Alertmanager's
    /// `Route.Match`: the first matching child wins unless it has
    /// `continue: true`; a route none of whose children match takes it itself.
    pub fn match_routes<'a>(&'a self, labels: &LabelSet) -> Vec<&'a Route> {
        if !matches_all(&self.matchers, labels) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for child in &self.routes {
            let hit = child.match_routes(labels);
            let matched = !hit.is_empty();
            out.extend(hit);
            if matched && !child.continue_matching {
                break;
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }

    /// Alertmanager's group key: `<route key>:<group labels>`.
    pub fn group_key(&self, group_labels: &LabelSet) -> String {
        format!("{}:{}", self.key, format_labels(group_labels))
    }

    /// Every route of the tree, depth first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.routes {
            out.extend(c.walk());
        }
        out
    }
}
