use stratus_model::Labels;

use super::golang::{parse_duration_ms, parse_number};
use super::load::parse_st_sequence;
use super::series::parse_series_desc;
use super::*;

mod upstream;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("test input")
}

fn floats(line: &str) -> Vec<Option<f64>> {
    parse_series_desc(line)
        .expect("test input")
        .values
        .into_iter()
        .map(|v| match v {
            None => None,
            Some(Value::Float(f)) => Some(f),
            other => panic!("not a float: {other:?}"),
        })
        .collect()
}

fn only_eval(text: &str) -> Eval {
    let file = parse_file("t.test", text).expect("test input");
    let evals: Vec<Eval> = file
        .commands
        .into_iter()
        .filter_map(|c| match c {
            Command::Eval(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(evals.len(), 1, "{evals:?}");
    evals.into_iter().next().expect("test input")
}

fn parse_err(text: &str) -> String {
    format!(
        "{:#}",
        parse_file("bad.test", text).expect_err("should be rejected")
    )
}

// ---- series descriptions ----

#[test]
fn series_labels_forms() {
    let d = parse_series_desc(r#"http_requests{job="api", instance="0"} 1"#).expect("test input");
    assert_eq!(
        d.labels,
        labels(&[
            ("__name__", "http_requests"),
            ("job", "api"),
            ("instance", "0")
        ])
    );
    let d = parse_series_desc(r#"{__name__="x", a="b",} 1"#).expect("test input");
    assert_eq!(d.labels, labels(&[("__name__", "x"), ("a", "b")]));
    let d = parse_series_desc("{} 3").expect("test input");
    assert!(d.labels.is_empty());
    assert_eq!(d.values, vec![Some(Value::Float(3.0))]);
    // Colons, keywords as metric names, spaces inside braces.
    let d = parse_series_desc("job:rate:sum 1").expect("test input");
    assert_eq!(d.labels, labels(&[("__name__", "job:rate:sum")]));
    let d = parse_series_desc("sum{ by = 'x' } 1").expect("test input");
    assert_eq!(d.labels, labels(&[("__name__", "sum"), ("by", "x")]));
    // The identifier wins over a __name__ label.
    let d = parse_series_desc(r#"foo{__name__="bar"} 1"#).expect("test input");
    assert_eq!(d.labels, labels(&[("__name__", "foo")]));
    // Empty values are absent.
    let d = parse_series_desc(r#"foo{a=""} 1"#).expect("test input");
    assert_eq!(d.labels, labels(&[("__name__", "foo")]));
    // No values at all.
    assert!(parse_series_desc("foo")
        .expect("test input")
        .values
        .is_empty());
}

#[test]
fn series_label_values_and_quoted_names() {
    let d =
        parse_series_desc(r#"m{a="x,y}{", b="say \"hi\"\n\\", c="ü€", d=`raw\n`, e='it''s'} 1"#);
    assert!(
        d.is_err(),
        "two single-quoted strings in a row are not one value"
    );
    let d = parse_series_desc(
        r#"m{a="x,y}{", b="say \"hi\"\n\\", c="ü€", d=`raw\n`, e='it\'s', f="\x41\u00e9"} 1"#,
    )
    .expect("test input");
    assert_eq!(d.labels.get("a"), Some("x,y}{"));
    assert_eq!(d.labels.get("b"), Some("say \"hi\"\n\\"));
    assert_eq!(d.labels.get("c"), Some("ü€"));
    assert_eq!(d.labels.get("d"), Some("raw\\n"));
    assert_eq!(d.labels.get("e"), Some("it's"));
    assert_eq!(d.labels.get("f"), Some("Aé"));
    let d =
        parse_series_desc(r#"{"some.metric", "some.label"="x", plain="y"} 1"#).expect("test input");
    assert_eq!(
        d.labels,
        labels(&[
            ("__name__", "some.metric"),
            ("some.label", "x"),
            ("plain", "y")
        ])
    );
}

#[test]
fn series_syntax_errors() {
    for (line, want) in [
        (r#"foo{a=~"b"} 1"#, "not matchers"),
        (r#"foo{a="b" 1"#, "expected \",\" or \"}\""),
        (r#"foo{a="b} 1"#, "unterminated"),
        (r#"foo{a="\q"} 1"#, "unknown escape"),
        ("on 1", "cannot be a metric name"),
        ("Inf 1", "cannot be a metric name"),
        ("1 2", "expected a metric name"),
        ("foo {a=\"b\"} 1", "unexpected character '{'"),
        ("foo 1+1", "expected \"x\" and a count"),
        ("foo 1x", "repetition count"),
        ("foo 1x-2", "repetition count"),
        ("foo 1x2.5", "repetition count"),
        ("foo stalex2", "expected a number"),
        ("foo bar", "expected a number"),
        ("foo 1m", "bad number syntax"),
        ("foo 1 # comment", "unexpected character '#'"),
        ("foo 1.2.3", "bad number syntax"),
        ("foo{a=\"b\"}1", "expected a space"),
        ("foo {{schema:0 bogus:1}}", "histogram key"),
        ("foo {{schema:0 schema:1}}", "duplicate key"),
    ] {
        let err = parse_series_desc(line).expect_err("should be rejected");
        assert!(
            err.contains(want),
            "{line:?}: {err:?} should contain {want:?}"
        );
    }
}

// ---- value sequences ----

#[test]
fn value_expansions() {
    assert_eq!(floats("m 1+1x3"), [1.0, 2.0, 3.0, 4.0].map(Some));
    assert_eq!(floats("m 1-2x2"), [1.0, -1.0, -3.0].map(Some));
    assert_eq!(floats("m -1-1x2"), [-1.0, -2.0, -3.0].map(Some));
    assert!(parse_series_desc("m -1+-1x1").is_err());
    // No hex in series values: `0x10` is 0 repeated 11 times, as in Go.
    assert_eq!(floats("m 0x10"), vec![Some(0.0); 11]);
    assert_eq!(floats("m 5x2"), [5.0, 5.0, 5.0].map(Some));
    assert_eq!(floats("m _x3"), vec![None, None, None]);
    assert_eq!(
        floats("m _ 1 _x2 2"),
        vec![None, Some(1.0), None, None, Some(2.0)]
    );
    assert_eq!(floats("m 1x0"), vec![Some(1.0)]);
    assert!(floats("m _x0").is_empty());
    assert_eq!(floats("m  1\t 2 "), vec![Some(1.0), Some(2.0)]);
    // Increments accumulate like Go's `$1 += $2`.
    let mut v = 0.1f64;
    let mut want = Vec::new();
    for _ in 0..4 {
        want.push(Some(v));
        v += 0.1;
    }
    assert_eq!(floats("m 0.1+0.1x3"), want);
}

#[test]
fn value_literals() {
    let v = floats("m Inf +Inf -Inf inf -inf 1e3 -2.5E-1 .5 010 08 1_000 0");
    assert_eq!(
        v,
        [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1000.0,
            -0.25,
            0.5,
            8.0, // strconv.ParseInt(s, 0, 64): a leading 0 is octal
            8.0,
            1000.0,
            0.0,
        ]
        .map(Some)
    );
    let v = floats("m NaN nan -NaN");
    assert!(v.iter().all(|x| x.is_some_and(f64::is_nan)));
    let d = parse_series_desc("m 1 stale 2").expect("test input");
    assert_eq!(
        d.values,
        vec![
            Some(Value::Float(1.0)),
            Some(Value::Stale),
            Some(Value::Float(2.0))
        ]
    );
}

#[test]
fn histogram_values() {
    let h = "{{schema:0 sum:-1.5 count:3 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 -Inf] n_buckets:[1 ] offset:-2 counter_reset_hint:gauge}}";
    let d = parse_series_desc(&format!("m {h} _ {h}x1")).expect("test input");
    assert_eq!(
        d.values,
        vec![
            Some(Value::Histogram(h.to_string())),
            None,
            Some(Value::Histogram(h.to_string())),
            Some(Value::Histogram(h.to_string())),
        ]
    );
    let d = parse_series_desc(
        "m {{count:1}}+{{count:2}}x2 {{}} {{schema:-53 custom_values:[1 5] buckets:[1 2]}}",
    )
    .expect("test input");
    let whole = Value::Histogram("{{count:1}}+{{count:2}}x2".to_string());
    assert_eq!(
        d.values,
        vec![
            Some(Value::Histogram("{{count:1}}".to_string())),
            Some(whole.clone()),
            Some(whole),
            Some(Value::Histogram("{{}}".to_string())),
            Some(Value::Histogram(
                "{{schema:-53 custom_values:[1 5] buckets:[1 2]}}".to_string()
            )),
        ]
    );
    assert!(parse_series_desc("m {{count:1}}+{{count:2}}").is_err());
}

#[test]
fn numbers_like_go() {
    assert_eq!(parse_number("0x1f"), Ok(31.0));
    assert_eq!(parse_number("-0x10"), Ok(-16.0));
    assert_eq!(parse_number("0b101"), Ok(5.0));
    assert_eq!(parse_number("0o17"), Ok(15.0));
    assert_eq!(parse_number("0x1p-2"), Ok(0.25));
    assert_eq!(parse_number("1_000.5"), Ok(1000.5));
    assert_eq!(parse_number("+Infinity"), Ok(f64::INFINITY));
    assert_eq!(parse_number("99999999999999999999"), Ok(1e20));
    assert!(
        parse_number("1e400").is_err(),
        "out of range like strconv.ErrRange"
    );
    assert!(parse_number("+NaN").is_err());
    assert!(parse_number("1__0").is_err());
    assert!(parse_number("_1").is_err());
    assert!(parse_number("1e").is_err());
    assert!(parse_number("{} 1").is_err());
}

#[test]
fn durations_like_prometheus() {
    assert_eq!(parse_duration_ms("0"), Ok(0));
    assert_eq!(parse_duration_ms("10s"), Ok(10_000));
    assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
    assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
    assert_eq!(parse_duration_ms("2d"), Ok(172_800_000));
    assert_eq!(parse_duration_ms("1y1w"), Ok((365 + 7) * 86_400_000));
    assert_eq!(parse_duration_ms("1s500ms"), Ok(1_500));
    for bad in ["", "10", "-1m", "1.5m", "30s1m", "1m1m", "5x", "1 m"] {
        assert!(parse_duration_ms(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn start_timestamp_sequences() {
    assert_eq!(
        parse_st_sequence("_ _x2 -30s-1mx2 0 * *x1 1ms+1msx1").expect("test input"),
        vec![
            None,
            None,
            None,
            Some(-30_000),
            Some(-90_000),
            Some(-150_000),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(2),
        ]
    );
    assert_eq!(
        parse_st_sequence("-59999msx1").expect("test input"),
        vec![Some(-59_999); 2]
    );
    assert!(parse_st_sequence("_x0").is_err());
    assert!(parse_st_sequence("1m30s").is_err());
}

// ---- commands ----

#[test]
fn load_and_clear() {
    let text = "\
# comment
load 1m
  foo{a=\"b\"} 1 _ 3+1x1
  bar stale 1
  foo{a=\"b\"} 7

clear
load_with_nhcb 30s
  h_bucket{le=\"1\"} 1
";
    let file = parse_file("t.test", text).expect("test input");
    assert_eq!(file.commands.len(), 3);
    let Command::Load(load) = &file.commands[0] else {
        panic!()
    };
    assert_eq!(
        (load.line, load.step_ms, load.with_nhcb),
        (2, 60_000, false)
    );
    assert_eq!(load.series.len(), 2);
    // The repeated series replaced the first line's values, in place.
    assert_eq!(
        load.series[0].labels,
        labels(&[("__name__", "foo"), ("a", "b")])
    );
    assert_eq!(load.series[0].points, vec![(0, Value::Float(7.0))]);
    assert_eq!(
        load.series[1].points,
        vec![(0, Value::Stale), (60_000, Value::Float(1.0))]
    );
    assert_eq!(load.series[1].start_timestamps, vec![None, None]);
    assert_eq!(file.commands[1], Command::Clear { line: 7 });
    let Command::Load(load) = &file.commands[2] else {
        panic!()
    };
    assert_eq!((load.line, load.step_ms, load.with_nhcb), (8, 30_000, true));

    let file = parse_file("t.test", "load 10s\n  foo 1 _ 3 4+1x1\n").expect("test input");
    let Command::Load(load) = &file.commands[0] else {
        panic!()
    };
    let ts: Vec<i64> = load.series[0].points.iter().map(|p| p.0).collect();
    assert_eq!(ts, [0, 20_000, 30_000, 40_000]);
}

#[test]
fn load_start_timestamps() {
    let text = "\
load 1m
  @st _ -1m
  a 1 2 3
  b{x=\"y\"}@st _ -30s _
  b{x=\"y\"} 1 2 3
";
    let file = parse_file("t.test", text).expect("test input");
    let Command::Load(load) = &file.commands[0] else {
        panic!()
    };
    // The default cycles over positions.
    assert_eq!(load.series[0].start_timestamps, vec![None, Some(0), None]);
    assert_eq!(
        load.series[1].start_timestamps,
        vec![None, Some(30_000), None]
    );
    assert!(parse_err("load 1m\n  a@st 1s 2s\n  b 1 2\n").contains("bad.test:2: @st metric"));
    assert!(
        parse_err("load 1m\n  a@st 1s\n  a 1 2\n").contains("bad.test:2: @st line has 1 values")
    );
    assert!(parse_err("load 1m\n  a@st 1s\n").contains("bad.test:2: @st line has no following"));
}

#[test]
fn eval_v30_dialect() {
    let text = "\
eval_fail instant at 1m foo
  expected_fail_message vector cannot contain metrics with the same labelset
";
    let e = only_eval(text);
    assert_eq!(e.query, "foo");
    assert_eq!(e.kind, EvalKind::Instant { at_ms: 60_000 });
    assert_eq!(
        e.expect_fail,
        Some(MessageMatch::Exact(
            "vector cannot contain metrics with the same labelset".to_string()
        ))
    );
    let e = only_eval("eval_fail instant at 0 foo\n  expected_fail_regexp (a|b)+\n");
    assert_eq!(
        e.expect_fail,
        Some(MessageMatch::Regex("(a|b)+".to_string()))
    );
    let e = only_eval("eval_fail range from 0 to 1m step 30s foo\n");
    assert_eq!(e.expect_fail, Some(MessageMatch::Any));

    let e = only_eval("eval_warn range from 0 to 10m step 5m rate(x[5m])\n  {} 1 _ 3\n");
    assert_eq!(
        e.kind,
        EvalKind::Range {
            start_ms: 0,
            end_ms: 600_000,
            step_ms: 300_000
        }
    );
    assert_eq!(e.expect_warn, Expectation::Expected(MessageMatch::Any));
    assert_eq!(e.expect_info, Expectation::Unspecified);
    assert_eq!(
        e.expected,
        Expected::Series(vec![ExpectedSeries {
            labels: Labels::default(),
            values: vec![Some(Value::Float(1.0)), None, Some(Value::Float(3.0))],
        }])
    );
    let e = only_eval("eval_info instant at 5m  sort(x)\n");
    assert_eq!(e.expect_info, Expectation::Expected(MessageMatch::Any));
    assert_eq!(e.query, "sort(x)");
    let e = only_eval("eval_ordered instant at 50m sort(x)\n  x{a=\"1\"} 1\n  x{a=\"2\"} 2\n");
    assert!(e.ordered);
    let Expected::Series(s) = &e.expected else {
        panic!()
    };
    assert_eq!(s[1].labels.get("a"), Some("2"));
}

#[test]
fn eval_main_dialect() {
    let text = "\
eval instant at 1h30m sum by (job) (foo)
  expect fail msg: bad thing happened (1:5)
  expect warn regex: ^PromQL warning: .*
  expect no_info
  expect ordered
";
    let e = only_eval(text);
    assert_eq!(e.line, 1);
    assert_eq!(e.kind, EvalKind::Instant { at_ms: 5_400_000 });
    assert_eq!(e.query, "sum by (job) (foo)");
    assert_eq!(
        e.expect_fail,
        Some(MessageMatch::Exact("bad thing happened (1:5)".to_string()))
    );
    assert_eq!(
        e.expect_warn,
        Expectation::Expected(MessageMatch::Regex("^PromQL warning: .*".to_string()))
    );
    assert_eq!(e.expect_info, Expectation::Absent);
    assert!(e.ordered);
    assert_eq!(e.expected, Expected::Series(vec![]));

    let e = only_eval(
        "eval range from 1m to 3m step 1m foo\n  expect fail\n  expect no_warn\n  expect info\n",
    );
    assert_eq!(e.expect_fail, Some(MessageMatch::Any));
    assert_eq!(e.expect_warn, Expectation::Absent);
    assert_eq!(e.expect_info, Expectation::Expected(MessageMatch::Any));

    // A range eval pads values to its steps.
    let e = only_eval("eval range from 0 to 3m step 1m foo\n  foo{a=\"b\"} 1 2\n");
    let Expected::Series(s) = e.expected else {
        panic!()
    };
    assert_eq!(
        s[0].values,
        vec![Some(Value::Float(1.0)), Some(Value::Float(2.0)), None, None]
    );
}

#[test]
fn eval_results_of_other_types() {
    let e = only_eval("eval instant at 0 1 + 1\n  2\n");
    assert_eq!(e.expected, Expected::Scalar(2.0));
    let e = only_eval("eval instant at 0 vector(1)\n  -Inf\n");
    assert_eq!(e.expected, Expected::Scalar(f64::NEG_INFINITY));
    let e = only_eval("eval instant at 0 \"Foo\"\n  expect string \"Foo\"\n");
    assert_eq!(e.expected, Expected::String("Foo".to_string()));
    let e = only_eval("eval instant at 0 `Foo`\n  expect string `Foo`\n");
    assert_eq!(e.expected, Expected::String("Foo".to_string()));
    let e = only_eval("eval instant at 0 \"\"\n  expect string \"\"\n");
    assert_eq!(e.expected, Expected::String(String::new()));
    let e = only_eval("eval instant at 0 \" Foo \"\n\texpect string \" Foo \"\n");
    assert_eq!(e.expected, Expected::String(" Foo ".to_string()));

    let text = "\
eval instant at 1m some_metric[1m]
  expect range vector from 10s to 1m step 10s
  some_metric{env=\"a\"} 2 3 _ 5 6
";
    let e = only_eval(text);
    assert_eq!(e.kind, EvalKind::Instant { at_ms: 60_000 });
    let Expected::RangeVector {
        start_ms,
        end_ms,
        step_ms,
        series,
    } = e.expected
    else {
        panic!()
    };
    assert_eq!((start_ms, end_ms, step_ms), (10_000, 60_000, 10_000));
    assert_eq!(series[0].values.len(), 6);
    assert_eq!(series[0].values[2], None);
    assert_eq!(series[0].values[5], None);
}

#[test]
fn blocks_end_where_upstream_ends_them() {
    // A comment ends the block; a scalar ends it too and the next line is a
    // new command.
    let text = "\
eval instant at 0 foo
  expect info
  # empty
  foo 1
";
    assert!(parse_err(text).contains("bad.test:4: invalid command \"foo 1\""));
    let text = "eval instant at 0 scalar(foo)\n  1\neval instant at 0 bar\n";
    let file = parse_file("t.test", text).expect("test input");
    assert_eq!(file.commands.len(), 2);
    // expected_fail_message only counts for eval_fail.
    assert!(
        parse_err("eval instant at 0 foo\n  expected_fail_message x\n").contains("bad.test:2:")
    );
}

#[test]
fn malformed_input_names_the_line() {
    for (text, want) in [
        (
            "load 5\n  foo 1\n",
            "bad.test:1: invalid step definition \"5\"",
        ),
        ("load\n", "bad.test:1: invalid load command"),
        ("\n\nfoo 1\n", "bad.test:3: invalid command \"foo 1\""),
        (
            "load 1m\n  foo 1\n  foo{ 2\n",
            "bad.test:3: column 6: expected a label name",
        ),
        // `at` is optional in the pattern, but then two blanks are needed.
        (
            "eval instant foo\n",
            "bad.test:1: invalid evaluation command",
        ),
        (
            "eval instant  foo\n",
            "bad.test:1: invalid timestamp definition \"\"",
        ),
        (
            "eval instant at -1m foo\n",
            "bad.test:1: invalid timestamp definition \"-1m\"",
        ),
        (
            "eval range from 1m to 0 step 1m foo\n",
            "bad.test:1: invalid test definition, end timestamp (0)",
        ),
        (
            "eval range 0 to 1m foo\n",
            "bad.test:1: invalid evaluation command",
        ),
        (
            "eval_ordered range from 0 to 1m step 1m foo\n",
            "bad.test:1: invalid evaluation command",
        ),
        (
            "eval instant at 0 foo\n  foo 1 2\n",
            "bad.test:2: expecting multiple values",
        ),
        (
            "eval instant at 0 foo\n  foo\n",
            "bad.test:2: expected series foo{} has no value",
        ),
        (
            "eval instant at 0 foo\n  expect warn\n  expect no_warn\n",
            "bad.test:3: invalid expect lines, warn and no_warn",
        ),
        (
            "eval instant at 0 foo\n  expect fail\n  expect fail\n",
            "bad.test:3: invalid expect lines, multiple expect fail",
        ),
        (
            "eval instant at 0 foo\n  expect warning\n",
            "bad.test:2: invalid expect statement",
        ),
        (
            "eval instant at 0 foo\n  expect warn msg:\n",
            "bad.test:2: invalid expect statement",
        ),
        (
            "eval instant at 0 foo\n  expect fail regex: (\n",
            "bad.test:2: invalid regex \"(\"",
        ),
        (
            "eval instant at 0 foo\n  expect string Foo\n",
            "bad.test:2: expected string literal not valid",
        ),
        (
            "eval instant at 0 foo\n  expect string\n",
            "bad.test:2: expected string literal not valid",
        ),
        (
            "eval instant at 0 foo\n  expect range vector from 1m to 0 step 1s\n",
            "bad.test:2: invalid test definition",
        ),
    ] {
        let err = parse_err(text);
        assert!(
            err.contains(want),
            "{text:?}: {err:?} should contain {want:?}"
        );
    }
}

#[test]
fn classification_rows() {
    let text = "file\tline\tkind\ttags\tquery\na.test\t3\tinstant\tcore\tsum(x)\nb.test\t7\trange\tnh,exp_func\tfoo\tbar\nc.test\t9\tinstant\t\tq\n";
    let rows = classification::parse_classification("c.tsv", text).expect("test input");
    assert_eq!(rows.len(), 3);
    assert!(rows[0].is_core());
    assert_eq!(rows[1].tags, ["nh", "exp_func"]);
    assert_eq!(rows[1].query, "foo\tbar");
    assert!(!rows[1].is_core());
    assert!(rows[2].is_core());
    let err = classification::parse_classification("c.tsv", "a.test\tx\tinstant\tcore\tq\n")
        .expect_err("should be rejected");
    assert!(format!("{err:#}").contains("c.tsv:1: expected a line number"));
}

#[test]
fn legacy_dialect_requires_unrequested_annotations_absent() {
    let text = "\
eval instant at 0 foo

eval_warn instant at 0 foo

eval_info instant at 0 foo

eval_fail instant at 0 foo

eval instant at 0 foo
  expect warn
";
    let parsed = |dialect| -> Vec<(Expectation, Expectation)> {
        parse_file_as("t.test", text, dialect)
            .expect("test input")
            .commands
            .into_iter()
            .filter_map(|c| match c {
                Command::Eval(e) => Some((e.expect_warn, e.expect_info)),
                _ => None,
            })
            .collect()
    };
    let any = || Expectation::Expected(MessageMatch::Any);
    use Expectation::{Absent, Unspecified};
    assert_eq!(
        parsed(Dialect::Legacy),
        vec![
            (Absent, Unspecified),
            (any(), Unspecified),
            (Absent, any()),
            (Absent, Unspecified),
            (any(), Unspecified),
        ]
    );
    assert_eq!(
        parsed(Dialect::Current),
        vec![
            (Unspecified, Unspecified),
            (any(), Unspecified),
            (Unspecified, any()),
            (Unspecified, Unspecified),
            (any(), Unspecified),
        ]
    );
}
