use super::*;

/// Shapes of deep expressions, each `n` levels deep (or close to it).
fn deep_shapes(n: usize) -> Vec<(&'static str, String)> {
    let rep = |s: &str, k: usize| s.repeat(k);
    vec![
        ("binary chain", format!("1{}", rep("+1", n - 1))),
        (
            "right-nested binary",
            format!("{}1{}", rep("1+(", n / 2 - 1), rep(")", n / 2 - 1)),
        ),
        ("parens", format!("{}1{}", rep("(", n - 1), rep(")", n - 1))),
        ("unary", format!("{}up", rep("-", n - 1))),
        (
            "calls",
            format!("{}up{}", rep("abs(", n - 1), rep(")", n - 1)),
        ),
        (
            "aggregations",
            format!("{}up{}", rep("sum(", n - 1), rep(")", n - 1)),
        ),
        (
            "subqueries",
            format!(
                "{}up{}",
                rep("max_over_time((", n / 3),
                rep(")[5m:1m])", n / 3)
            ),
        ),
        ("or chain", format!("up{}", rep(" or up", n - 1))),
    ]
}

/// Runs `f` on a thread with `stack` bytes of stack; an overflow aborts
/// the test binary, which fails the test.
fn on_stack<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("thread")
}

#[test]
fn accepts_the_deepest_allowed_and_the_parser_crate_handles_it_on_a_small_stack() {
    for (what, text) in deep_shapes(MAX_DEPTH) {
        // Half of a tokio worker's 2 MiB stack: the margin for whatever
        // the caller already holds. Dropping the tree is part of it.
        let (d, printed, pretty_len) = on_stack(1024 * 1024, move || {
            let e = parse(&text).unwrap_or_else(|err| panic!("{what}: {err}"));
            let d = depth(&e);
            let copy = e.clone();
            assert_eq!(copy, e, "{what}");
            let printed = e.to_string();
            let pretty = e.prettify();
            let _ = e.value_type();
            // `{:?}` of a tree this deep needs about 2 MiB: Stratus never
            // prints an expression with it.
            (d, printed, pretty.len())
        });
        assert!(d <= MAX_DEPTH, "{what}: depth {d}");
        assert!(d + 2 >= MAX_DEPTH * 2 / 3, "{what}: only {d} deep");
        assert!(!printed.is_empty() && pretty_len > 0, "{what}");
    }
}

#[test]
fn refuses_one_level_too_deep() {
    for (what, text) in deep_shapes(MAX_DEPTH + 3) {
        match parse(&text) {
            Err(ParseError::TooDeep { depth, max }) => {
                assert!(depth > max, "{what}");
                assert_eq!(max, MAX_DEPTH);
            }
            // The subquery and right-nested shapes grow by less than one
            // level per repetition.
            Ok(e) => assert!(depth(&e) <= MAX_DEPTH, "{what}"),
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[test]
fn the_longest_text_nested_all_the_way_is_refused_without_overflow() {
    let n = MAX_QUERY_BYTES / 2;
    let text = format!("{}1{}", "(".repeat(n - 1), ")".repeat(n - 1));
    assert!(text.len() <= MAX_QUERY_BYTES);
    let err = on_stack(1024 * 1024, move || parse(&text).map(|_| ()));
    assert!(matches!(err, Err(ParseError::TooDeep { .. })), "{err:?}");

    let chain = format!("1{}", "+1".repeat(MAX_QUERY_BYTES / 2 - 1));
    let err = on_stack(1024 * 1024, move || parse(&chain).map(|_| ()));
    assert!(matches!(err, Err(ParseError::TooDeep { .. })), "{err:?}");
}

#[test]
fn the_depth_bound_is_never_below_the_depth() {
    let texts = [
        "up",
        "1+1",
        "sum by (job) (rate(http_requests_total{job=~\"a|(b)\"}[5m]))",
        "a * b + c * d - e / f ^ g ^ h",
        "-(-(up))",
        "max_over_time(rate(x[5m])[1h:1m]) > bool 3",
        "up == on(instance, job) group_left(version) build_info",
        "foo or bar and baz unless qux",
        "label_join(up, \"a\", \",\", \"b\", \"c\")",
        "topk(3, sum without (a) (x offset 5m @ 100))",
        "histogram_quantile(0.9, sum by (le) (rate(b_bucket[5m]))) # comment (((",
        "1 atan2 2 ATAN2 3",
    ];
    for t in texts {
        let e = parse(t).expect(t);
        assert!(
            depth_bound(t) >= depth(&e),
            "{t}: {} < {}",
            depth_bound(t),
            depth(&e)
        );
    }
    for (what, text) in deep_shapes(200) {
        let e = parse(&text).expect(what);
        assert!(depth_bound(&text) >= depth(&e), "{what}");
        // And not so loose that it refuses what is allowed.
        assert!(
            depth_bound(&text) <= 2 * depth(&e) + 2,
            "{what}: {}",
            depth_bound(&text)
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
    #[test]
    fn depth_bound_holds_for_generated_expressions(e in expr_strategy()) {
        if let Ok(parsed) = parse(&e) {
            proptest::prop_assert!(depth_bound(&e) >= depth(&parsed), "{}", e);
        }
    }
}

fn expr_strategy() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just("up".to_string()),
        Just("1".to_string()),
        Just("x{a=\"(\",b!~\"]\"}".to_string()),
        Just("\"s)\"".to_string()),
        Just("1e-3".to_string()),
    ];
    leaf.prop_recursive(8, 64, 4, |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                prop::sample::select(vec![
                    "+", "-", "*", "/", "^", "==", "!=", ">", " and ", " or ", " unless ",
                    " atan2 ", "%"
                ])
            )
                .prop_map(|(a, b, op)| format!("{a}{op}{b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("abs({a})")),
            inner.clone().prop_map(|a| format!("sum by (x) ({a})")),
            inner
                .clone()
                .prop_map(|a| format!("max_over_time(({a})[5m:1m])")),
            inner.prop_map(|a| format!("rate(m[5m]) + {a}")),
        ]
    })
}

#[test]
fn refuses_long_text_before_parsing() {
    let text = "1".repeat(MAX_QUERY_BYTES + 1);
    assert_eq!(
        parse(&text).map(|_| ()),
        Err(ParseError::TooLong {
            len: MAX_QUERY_BYTES + 1,
            max: MAX_QUERY_BYTES
        })
    );
    assert_eq!(
        ParseError::TooLong { len: 5, max: 4 }.to_string(),
        "query is 5 bytes long, more than the 4 allowed"
    );
}

#[test]
fn syntax_errors_keep_the_parsers_message() {
    let Err(ParseError::Syntax(msg)) = parse("sum(up") else {
        panic!("expected a syntax error");
    };
    assert!(
        msg.contains("unclosed") || msg.contains("parse error"),
        "{msg}"
    );
}

#[test]
fn depth_counts_nodes_on_the_longest_path() {
    let d = |s: &str| depth(&parse(s).expect(s));
    assert_eq!(d("up"), 1);
    assert_eq!(d("1+1"), 2);
    assert_eq!(d("1+1+1"), 3);
    assert_eq!(d("((1))"), 3);
    assert_eq!(d("sum(rate(up[5m]))"), 3);
    assert_eq!(d("topk(3, up)"), 2);
}

#[test]
fn stack_guard_lets_a_recursive_walk_go_deeper_than_the_thread_stack() {
    fn walk(n: usize) -> usize {
        stack_guard(|| {
            // A frame of a few hundred bytes, like an evaluator's.
            let pad = std::hint::black_box([n as u8; 512]);
            if n == 0 {
                usize::from(pad[0])
            } else {
                walk(n - 1) + 1
            }
        })
    }
    // 100,000 levels of ~600 bytes: about 60 MB, on a 256 KiB thread.
    assert_eq!(on_stack(256 * 1024, || walk(100_000)), 100_000);
}

#[test]
#[ignore]
fn timing_of_each_shape() {
    for (what, text) in deep_shapes(MAX_DEPTH) {
        let t = std::time::Instant::now();
        let e = parse(&text);
        let parse_t = t.elapsed();
        let d = e.as_ref().map(depth).unwrap_or(0);
        let t = std::time::Instant::now();
        let p = e.as_ref().map(|e| e.prettify().len()).unwrap_or(0);
        eprintln!(
            "{what}: parse {parse_t:?} depth {d} prettify {:?} ({p} bytes) ok={}",
            t.elapsed(),
            e.is_ok()
        );
    }
}

#[test]
fn bad_durations_in_prometheus_words() {
    for q in ["rate(up[1m1h])", "up offset 1m1h", "up[5m:1m1h]"] {
        let e = parse(q).expect_err(q).to_string();
        assert!(
            e.contains(r#"parse error: not a valid duration string: "1m1h""#),
            "{q}: {e}"
        );
    }
}

/// Durations Go's `time.Duration` cannot hold. Prometheus 2.42 answered
/// (`/api/v1/query`): `1:11: parse error: duration out of range` for
/// `up offset 9223372036854775807ms`, `1:4: ...` for
/// `up[9223372036854775807ms]`, `1:11: ...` for `up offset 300y`, and
/// `1:12: ...` after a minus; `up offset 106751d` was accepted. For digits
/// past 64 bits Prometheus 3 (prometheus/common 0.60) says `not a valid
/// duration string` where 2.42 said `duration out of range`: 3.x is
/// followed.
#[test]
fn durations_too_large_are_out_of_range_not_zero() {
    let cases = [
        (
            "up offset 9223372036854775807ms",
            "1:11: parse error: duration out of range",
        ),
        (
            "up[9223372036854775807ms]",
            "1:4: parse error: duration out of range",
        ),
        (
            "rate(up[9223372036854775807ms])",
            "1:9: parse error: duration out of range",
        ),
        ("up offset 300y", "1:11: parse error: duration out of range"),
        (
            "up offset -9223372036854775807ms",
            "1:12: parse error: duration out of range",
        ),
        (
            "up[5m:9223372036854775807ms]",
            "1:7: parse error: duration out of range",
        ),
        (
            "up offset 99999999999999999999y",
            r#"1:11: parse error: not a valid duration string: "99999999999999999999y""#,
        ),
    ];
    for (q, want) in cases {
        let e = parse(q).expect_err(q).to_string();
        assert_eq!(e, want, "{q}");
    }
    assert!(parse("up offset 106751d").is_ok());
    // Numbers where a duration goes are seconds (Prometheus 3); past what
    // Go's time.Duration holds, Prometheus 3.5+ says out of range (at the
    // sign of a negative one), and the parser crate would panic.
    let numbers = [
        ("up offset 1e20", "1:11: parse error: duration out of range"),
        (
            "up offset -1e20",
            "1:11: parse error: duration out of range",
        ),
        ("up[1e30]", "1:4: parse error: duration out of range"),
        ("rate(up[1e30])", "1:9: parse error: duration out of range"),
        ("up[5m:1e25]", "1:7: parse error: duration out of range"),
        ("up offset Inf", "1:11: parse error: duration out of range"),
        ("up offset -Inf", "1:11: parse error: duration out of range"),
    ];
    for (q, want) in numbers {
        let e = parse(q).expect_err(q).to_string();
        assert_eq!(e, want, "{q}");
    }
    assert!(parse("up offset 60").is_ok());
    // A zero duration keeps its message.
    let e = parse("up offset 0s").expect_err("0s").to_string();
    assert!(e.contains("duration must be greater than 0"), "{e}");
}

/// Lexer errors carry Prometheus's position: each expected message is
/// what Prometheus 2.42's `/api/v1/query` answered for the same text.
#[test]
fn lexer_errors_carry_prometheus_positions() {
    let cases = [
        (
            "sum(rate(x[5m])",
            "1:16: parse error: unclosed left parenthesis",
        ),
        ("sum((up)", "1:9: parse error: unclosed left parenthesis"),
        ("x\n+ (", "2:4: parse error: unclosed left parenthesis"),
        ("up[5m", "1:6: parse error: unclosed left bracket"),
        (
            "up{job=\"a\"",
            "1:11: parse error: unexpected end of input inside braces",
        ),
        ("up ~ 1", "1:4: parse error: unexpected character: '~'"),
        (
            "up{a~\"b\"}",
            "1:5: parse error: unexpected character inside braces: '~'",
        ),
        ("up]", "1:3: parse error: unexpected right bracket ']'"),
    ];
    for (text, want) in cases {
        let got = parse(text).expect_err(text).to_string();
        assert_eq!(got, want, "{text:?}");
    }
}
