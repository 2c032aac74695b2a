use super::*;

const GOOD: &str = r#"groups:
  - name: example
    interval: 30s
    limit: 10
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: a
      - alert: InstanceDown
        expr: up == 0
        for: 1m
        keep_firing_for: 5m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} down ({{ $value }})"
  - name: other
    query_offset: 1m
    rules: []
"#;

#[test]
fn parses_a_valid_file() {
    let rf = parse_rule_file("good.yml", GOOD).expect("valid");
    assert_eq!(rf.groups.len(), 2);
    let g = &rf.groups[0];
    assert_eq!(g.interval, Some(PromDuration(30_000)));
    assert_eq!(g.limit, 10);
    assert_eq!(g.rules[0].record.as_deref(), Some("job:up:sum"));
    assert_eq!(g.rules[1].for_, Some(PromDuration(60_000)));
    assert_eq!(g.rules[1].keep_firing_for, Some(PromDuration(300_000)));
    assert_eq!(rf.groups[1].query_offset, Some(PromDuration(60_000)));
}

fn errors(src: &str) -> Vec<RuleFileError> {
    parse_rule_file("bad.yml", src).expect_err("invalid").0
}

#[test]
fn bad_expression_names_file_group_rule_and_line() {
    let src = "groups:\n- name: g\n  rules:\n  - record: ok\n    expr: up\n  - alert: Broken\n    expr: sum(up\n";
    let e = errors(src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].line, Some(6));
    assert_eq!(e[0].group.as_deref(), Some("g"));
    assert_eq!(e[0].rule, Some((2, "Broken".to_string())));
    let text = e[0].to_string();
    assert!(
        text.starts_with(
            "bad.yml: line 6: group \"g\": rule 2 \"Broken\": could not parse expression"
        ),
        "{text}"
    );
}

#[test]
fn yaml_errors_carry_the_line() {
    let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 1x\n");
    assert_eq!(e.len(), 1);
    // serde_yaml places errors from custom types at the enclosing mapping.
    assert_eq!(e[0].line, Some(4), "{}", e[0]);
    assert!(e[0].message.contains("not a valid duration"), "{}", e[0]);
    let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    exp: up\n");
    assert!(e[0].message.contains("unknown field `exp`"), "{}", e[0]);
    assert_eq!(e[0].line, Some(5));
}

#[test]
fn promtool_checks() {
    let cases = [
        (
            "- record: a\n    alert: b\n    expr: up",
            "only one of 'record' and 'alert'",
        ),
        ("- expr: up", "one of 'record' or 'alert' must be set"),
        ("- alert: A\n    expr: ''", "field 'expr' must be set"),
        (
            "- record: 1bad\n    expr: up",
            "invalid recording rule name: 1bad",
        ),
        (
            "- record: r\n    expr: up\n    for: 1m",
            "invalid field 'for' in recording rule",
        ),
        (
            "- record: r\n    expr: up\n    annotations:\n      a: b",
            "invalid field 'annotations'",
        ),
        (
            "- alert: A\n    expr: up\n    labels:\n      bad-name: x",
            "invalid label name: bad-name",
        ),
        (
            "- alert: A\n    expr: up\n    annotations:\n      s: '{{ $value'",
            "annotation \"s\"",
        ),
    ];
    for (rule, want) in cases {
        let src = format!("groups:\n- name: g\n  rules:\n  {rule}\n");
        let e = errors(&src);
        assert!(
            e.iter().any(|e| e.message.contains(want)),
            "{rule:?}: want {want:?}, got {e:?}"
        );
        assert!(e.iter().all(|e| e.line == Some(4)), "{e:?}");
    }
}

#[test]
fn duplicate_groups_are_rejected() {
    let e = errors("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, Some(4));
    assert!(e[0].message.contains("repeated"), "{}", e[0]);
}

#[test]
fn a_single_group_parses_with_its_own_lines() {
    let g = parse_rule_group(
        "ns",
        "name: g\ninterval: 30s\nrules:\n- alert: A\n  expr: up == 0\n",
    )
    .expect("valid group");
    assert_eq!(g.name, "g");
    assert_eq!(g.interval, Some(PromDuration(30_000)));
    let e = parse_rule_group(
        "ns",
        "name: g\nrules:\n- record: ok\n  expr: up\n- alert: Broken\n  expr: sum(up\n",
    )
    .expect_err("bad expression")
    .0;
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].line, Some(5), "{}", e[0]);
    assert!(
        e[0].to_string()
            .starts_with("ns: line 5: group \"g\": rule 2 \"Broken\""),
        "{}",
        e[0]
    );
    let e = parse_rule_group("ns", "name: g\nrules:\n- alert: A\n  exp: up\n")
        .expect_err("unknown field")
        .0;
    assert_eq!(e[0].line, Some(4), "{}", e[0]);
    let e = parse_rule_group("ns", "groups:\n- name: g\n  rules: []\n")
        .expect_err("a whole file")
        .0;
    assert!(
        e[0].message.contains("or a rule file with only `groups:`"),
        "{}",
        e[0]
    );
    assert!(parse_rule_group("ns", "\n# nothing\n").is_err());
    let g = parse_rule_group("ns", "---\nname: g\nrules: []\n").expect("document marker");
    assert_eq!(g.name, "g");
}

#[test]
fn round_trips_through_yaml() {
    let rf = parse_rule_file("good.yml", GOOD).expect("valid");
    let text = serde_yaml::to_string(&rf).expect("serialise");
    assert_eq!(parse_rule_file("again.yml", &text).expect("valid"), rf);
}

#[test]
fn an_upload_is_one_group_or_a_whole_file() {
    let one = parse_rule_upload("ns", "name: g\nrules:\n- record: r\n  expr: up\n").expect("group");
    assert_eq!(one.len(), 1);
    let file =
        "groups:\n- name: a\n  rules:\n  - record: r\n    expr: up\n- name: b\n  rules: []\n";
    let names: Vec<String> = parse_rule_upload("ns", file)
        .expect("file")
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    // A rule file's errors keep the file's own lines.
    let bad = "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up offset 300y\n";
    let e = parse_rule_upload("ns", bad).expect_err("bad").0;
    assert_eq!(e[0].line, Some(4), "{}", e[0]);
    assert!(
        e[0].to_string()
            .ends_with("could not parse expression: 1:11: parse error: duration out of range"),
        "{}",
        e[0]
    );
    let bad = "groups:\n- name: a\n  rules:\n  - record: r\n    expr: sum(rate(x[5m])\n";
    let e = parse_rule_upload("ns", bad).expect_err("bad").0;
    assert!(
        e[0].to_string()
            .ends_with("could not parse expression: 1:16: parse error: unclosed left parenthesis"),
        "{}",
        e[0]
    );
    let e = parse_rule_upload("ns", "groups: []\n")
        .expect_err("empty")
        .0;
    assert!(e[0].message.contains("at least one rule group"), "{}", e[0]);
    let e = parse_rule_upload("ns", "groups: []\nname: g\n")
        .expect_err("both")
        .0;
    assert!(e[0].message.contains("beside other fields"), "{}", e[0]);
}
