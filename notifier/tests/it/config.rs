use stratus_notifier::{Config, GroupBy, IntegrationKind, LabelSet};

const FULL: &str = r#"
global:
  resolve_timeout: 10m
  slack_api_url: https://hooks.slack.example/services/X
  smtp_from: alerts@example.org
  smtp_smarthost: 127.0.0.1:25
route:
  receiver: default
  group_by: [alertname, cluster]
  group_wait: 10s
  repeat_interval: 2h
  routes:
    - matchers: ['severity="page"', 'team=~"db|infra"']
      receiver: pager
      group_interval: 1m
      continue: true
      routes:
        - match: {cluster: eu}
          group_by: ['...']
    - match_re: {service: "api-.*"}
      receiver: slack
    - matchers: ['{env!="dev", tier!~"test.*"}']
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [cluster]
receivers:
  - name: default
    webhook_configs:
      - url: http://127.0.0.1:9/hook
        max_alerts: 5
    email_configs:
      - to: 'a@example.org, b@example.org'
  - name: pager
    pagerduty_configs:
      - routing_key: abc
        severity: critical
  - name: slack
    slack_configs:
      - channel: '#ops'
        title: '{{ .Status }}'
    alertmanager_configs:
      - url: http://127.0.0.1:9093/
"#;

fn labels(p: &[(&str, &str)]) -> LabelSet {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_full_configuration_parses_with_defaults_and_inheritance() {
    let c = Config::from_yaml(FULL).expect("valid");
    assert_eq!(c.resolve_timeout_ms, 10 * 60_000);
    let root = &c.route;
    assert_eq!(
        (
            root.group_wait_ms,
            root.group_interval_ms,
            root.repeat_interval_ms
        ),
        (10_000, 300_000, 7_200_000)
    );
    let pager = &root.routes[0];
    // Inherited from the root: group_by, group_wait, repeat_interval.
    assert_eq!(
        pager.group_by,
        GroupBy::Labels(vec!["alertname".into(), "cluster".into()])
    );
    assert_eq!(
        (
            pager.group_wait_ms,
            pager.group_interval_ms,
            pager.repeat_interval_ms
        ),
        (10_000, 60_000, 7_200_000)
    );
    let eu = &pager.routes[0];
    assert_eq!(eu.receiver, "pager", "receiver inherited from the parent");
    assert_eq!(
        eu.group_interval_ms, 60_000,
        "interval inherited from the parent"
    );
    assert_eq!(eu.group_by, GroupBy::All);
    assert!(!eu.continue_matching, "continue is not inherited");
    assert_eq!(
        eu.key,
        r#"{}/{severity="page",team=~"db|infra"}/{cluster="eu"}"#
    );
    assert_eq!(root.routes[2].receiver, "default");

    let default = c.receiver("default").expect("default receiver");
    assert!(matches!(
        &default.integrations[0].kind,
        IntegrationKind::Webhook { max_alerts: 5, .. }
    ));
    assert!(
        default.integrations[0].send_resolved,
        "webhooks send resolved by default"
    );
    match &default.integrations[1].kind {
        IntegrationKind::Email {
            to,
            from,
            smarthost,
            ..
        } => {
            assert_eq!(
                to,
                &vec!["a@example.org".to_string(), "b@example.org".to_string()]
            );
            assert_eq!(
                (from.as_str(), smarthost.as_str()),
                ("alerts@example.org", "127.0.0.1:25")
            );
        }
        other => panic!("expected email, got {other:?}"),
    }
    let slack = c.receiver("slack").expect("slack receiver");
    match &slack.integrations[0].kind {
        IntegrationKind::Slack {
            api_url, channel, ..
        } => {
            assert_eq!(
                api_url, "https://hooks.slack.example/services/X",
                "global slack_api_url"
            );
            assert_eq!(channel.as_deref(), Some("#ops"));
        }
        other => panic!("expected slack, got {other:?}"),
    }
    assert!(!slack.integrations[0].send_resolved);
    match &slack.integrations[1].kind {
        IntegrationKind::Alertmanager {
            url,
            resend_interval_ms,
        } => assert_eq!(
            (url.as_str(), *resend_interval_ms),
            ("http://127.0.0.1:9093", 60_000),
            "trailing slash dropped, resend_interval defaults to 1m"
        ),
        other => panic!("expected forwarding, got {other:?}"),
    }
    assert_eq!(slack.integrations[1].resend_interval_ms(), Some(60_000));
    assert_eq!(slack.integrations[0].resend_interval_ms(), None);
    assert_eq!(slack.integrations[1].id(), "alertmanager[0]");
    let pd = &c.receiver("pager").expect("pager").integrations[0];
    assert!(
        matches!(&pd.kind, IntegrationKind::PagerDuty { url, severity, .. } if url.contains("events.pagerduty.com") && severity == "critical")
    );
    assert_eq!(c.inhibit_rules[0].equal, vec!["cluster".to_string()]);
}

#[test]
fn routing_takes_the_first_match_unless_continue() {
    let c = Config::from_yaml(FULL).expect("valid");
    let receivers = |l: &LabelSet| -> Vec<String> {
        c.route
            .match_routes(l)
            .iter()
            .map(|r| r.receiver.clone())
            .collect()
    };
    // Pager matches with continue, so the API route is tried as well.
    let l = labels(&[("severity", "page"), ("team", "db"), ("service", "api-1")]);
    assert_eq!(receivers(&l), vec!["pager", "slack"]);
    // The nested eu route takes it instead of its parent.
    let eu = labels(&[("severity", "page"), ("team", "db"), ("cluster", "eu")]);
    let routes = c.route.match_routes(&eu);
    assert_eq!(routes.len(), 2, "eu route, then the catch-all third route");
    assert_eq!(routes[0].group_by, GroupBy::All);
    // No continue on the API route: the third route is not reached.
    assert_eq!(
        receivers(&labels(&[("service", "api-2"), ("env", "prod")])),
        vec!["slack"]
    );
    // Third route excludes dev, so the root takes it.
    let dev = labels(&[("env", "dev")]);
    let routes = c.route.match_routes(&dev);
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].key, "{}");
    // Group keys as Alertmanager prints them.
    let key = routes[0].group_key(&routes[0].group_labels(&labels(&[
        ("alertname", "X"),
        ("cluster", "c1"),
        ("x", "y"),
    ])));
    assert_eq!(key, r#"{}:{alertname="X", cluster="c1"}"#);
}

fn err(yaml: &str) -> String {
    Config::from_yaml(yaml)
        .expect_err("should be rejected")
        .to_string()
}

#[test]
fn errors_name_the_field() {
    let base = "receivers: [{name: r, webhook_configs: [{url: 'http://x.example/'}]}]\n";
    let e = err(&format!(
        "{base}route: {{receiver: r, group_wait: 5 minutes}}"
    ));
    assert!(
        e.contains("route.group_wait") && e.contains("5 minutes"),
        "{e}"
    );
    let e = err(&format!(
        "{base}route: {{receiver: r, routes: [{{receiver: nobody}}]}}"
    ));
    assert!(
        e.contains("route.routes[0].receiver") && e.contains("nobody"),
        "{e}"
    );
    let e = err(&format!(
        "{base}route: {{receiver: r, routes: [{{matchers: ['a=~\"(\"']}}]}}"
    ));
    assert!(e.contains("route.routes[0].matchers[0]"), "{e}");
    let e = err(&format!("{base}route: {{receiver: r, group_byy: [a]}}"));
    assert!(e.contains("unknown field `group_byy`"), "{e}");
    let e = err("route: {receiver: r}\nreceivers: [{name: r, email_configs: [{to: a@b, from: c@d, smarthost: 'h:25', require_tls: true}]}]");
    assert!(
        e.contains("email_configs[0].require_tls") && e.contains("STARTTLS"),
        "{e}"
    );
    let e =
        err("route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'ftp://x'}]}]");
    assert!(e.contains("webhook_configs[0].url"), "{e}");
    let e = err("route: {receiver: r}\nreceivers: [{name: r, slack_configs: [{channel: x}]}]");
    assert!(e.contains("slack_configs[0].api_url"), "{e}");
    let e = err("route: {receiver: r}\nreceivers: [{name: r}, {name: r}]");
    assert!(e.contains("defined twice"), "{e}");
    let e = err(&format!(
        "{base}route: {{receiver: r, group_by: ['...', a]}}"
    ));
    assert!(e.contains("route.group_by"), "{e}");
    let e = err(&format!(
        "{base}route: {{receiver: r, matchers: ['a=\"b\"']}}"
    ));
    assert!(e.contains("root route must not have matchers"), "{e}");
    let e = err(base);
    assert!(e.contains("route"), "{e}");
    let forward = |interval: &str| {
        format!("route: {{receiver: r}}\nreceivers: [{{name: r, alertmanager_configs: [{{url: 'http://am.example:9093', resend_interval: {interval}}}]}}]")
    };
    let e = err(&forward("0s"));
    assert!(
        e.contains("alertmanager_configs[0].resend_interval") && e.contains("greater than 0"),
        "{e}"
    );
    let e = err(&forward("often"));
    assert!(
        e.contains("alertmanager_configs[0].resend_interval") && e.contains("often"),
        "{e}"
    );
    let c = Config::from_yaml(&forward("30s")).expect("valid");
    assert_eq!(
        c.receivers[0].integrations[0].resend_interval_ms(),
        Some(30_000)
    );
}
