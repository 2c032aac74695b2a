//! Expectations follow Go's `regexp` (syntax and `Expand`) and
//! Prometheus's `functions.test`.

use stratus_model::{Labels, NameValidation, METRIC_NAME};

use super::go_regex::GoRegex;
use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("valid labels")
}

fn test_metric() -> Labels {
    labels(&[
        (METRIC_NAME, "testmetric"),
        ("src", "source-value-10"),
        ("dst", "original-destination-value"),
    ])
}

fn replace(l: &Labels, dst: &str, repl: &str, src: &str, re: &str) -> Labels {
    label_replace(l, dst, repl, src, re).expect("valid arguments")
}

/// The value `label_replace` writes for `src_value`, or None if no match.
fn expanded(regex: &str, template: &str, src_value: &str) -> Option<String> {
    let l = labels(&[("src", src_value)]);
    let r =
        LabelReplace::new("dst", template, "src", regex, NameValidation::Legacy).expect("valid");
    r.apply(&l)
        .map(|out| out.get("dst").unwrap_or("").to_owned())
}

#[test]
fn full_string_match_and_replace() {
    let l = test_metric();
    let out = replace(
        &l,
        "dst",
        "destination-value-$1",
        "src",
        "source-value-(.*)",
    );
    assert_eq!(out.get("dst"), Some("destination-value-10"));
    assert_eq!(out.get(METRIC_NAME), Some("testmetric"), "the name is kept");
    // No substring match: the regex is anchored.
    assert_eq!(
        replace(&l, "dst", "destination-value-$1", "src", "value-(.*)"),
        l
    );
    assert_eq!(
        replace(&l, "dst", "$1-value-$2", "src", "(.*)-value-(.*)").get("dst"),
        Some("source-value-10")
    );
}

#[test]
fn missing_source_and_non_matching_regex() {
    let l = test_metric();
    assert_eq!(
        replace(
            &l,
            "dst",
            "value-$1",
            "nonexistent-src",
            "source-value-(.*)"
        ),
        l
    );
    // An absent source is the empty string, which `(.*)` matches.
    assert_eq!(
        replace(&l, "dst", "value-$1", "nonexistent-src", "(.*)").get("dst"),
        Some("value-")
    );
    assert_eq!(
        replace(&l, "dst", "value-$1", "src", "non-matching-regex"),
        l
    );
    // An empty result removes the label.
    assert_eq!(replace(&l, "dst", "", "dst", ".*").get("dst"), None);
    // Setting a new label.
    assert_eq!(
        replace(&l, "new", "x$1", "src", "source-(v).*").get("new"),
        Some("xv")
    );
}

#[test]
fn can_rename_the_metric() {
    let l = test_metric();
    let out = replace(&l, METRIC_NAME, "renamed_$1", "src", "source-value-(.*)");
    assert_eq!(out.metric_name(), Some("renamed_10"));
}

#[test]
fn dot_matches_newlines() {
    assert_eq!(
        expanded("a(.*)c", "$1", "a\nb\nc").as_deref(),
        Some("\nb\n")
    );
}

#[test]
fn go_expand_rules() {
    // `$1x` is the (missing) group named "1x"; braces end the name.
    assert_eq!(expanded("(a)(b)", "$1x", "ab").as_deref(), Some(""));
    assert_eq!(expanded("(a)(b)", "${1}x", "ab").as_deref(), Some("ax"));
    assert_eq!(expanded("(a)(b)", "$2$1", "ab").as_deref(), Some("ba"));
    assert_eq!(
        expanded("(a)", "$$1 costs $", "a").as_deref(),
        Some("$1 costs $")
    );
    assert_eq!(
        expanded("(a)", "${1", "a").as_deref(),
        Some("${1"),
        "malformed stays literal"
    );
    assert_eq!(expanded("(a)", "$-", "a").as_deref(), Some("$-"));
    assert_eq!(
        expanded("(a)", "$9", "a").as_deref(),
        Some(""),
        "unknown group"
    );
    assert_eq!(
        expanded("(a)", "$01", "a").as_deref(),
        Some(""),
        "leading zero: a name"
    );
    assert_eq!(
        expanded("(a)|(b)", "[$1][$2]", "b").as_deref(),
        Some("[][b]")
    );
    assert_eq!(
        expanded("(?P<word>\\w+)-(?<num>\\d+)", "$num:${word}", "ab-12").as_deref(),
        Some("12:ab")
    );
    assert_eq!(
        expanded("(?P<x>a)", "$x_y|${x}_y", "a").as_deref(),
        Some("|a_y")
    );
    assert_eq!(
        expanded("(a)", "$ü", "a").as_deref(),
        Some(""),
        "letters are name chars"
    );
    assert_eq!(
        expanded("(?P<1x>a)", "$1x", "a").as_deref(),
        Some("a"),
        "Go allows digit-led names"
    );
}

#[test]
fn go_regex_syntax() {
    // Perl classes and word boundaries are ASCII in Go.
    assert_eq!(expanded("\\d+", "y", "٣"), None);
    assert_eq!(expanded("\\w+", "y", "é"), None);
    assert_eq!(expanded("[\\w]+", "y", "é"), None);
    assert_eq!(expanded("[^\\d]", "y", "x").as_deref(), Some("y"));
    assert_eq!(expanded("[^\\D]", "y", "5").as_deref(), Some("y"));
    assert_eq!(expanded("\\s", "y", "\u{a0}"), None);
    assert_eq!(
        expanded("é\\b", "y", "é"),
        None,
        "é is no ASCII word character"
    );
    // Literal braces, brackets and set operators.
    assert_eq!(expanded("a{", "y", "a{").as_deref(), Some("y"));
    assert_eq!(expanded("a{,2}", "y", "a{,2}").as_deref(), Some("y"));
    assert_eq!(expanded("a{2}", "y", "aa").as_deref(), Some("y"));
    assert_eq!(expanded("[a[]+", "y", "[a").as_deref(), Some("y"));
    assert_eq!(expanded("[a&&b]+", "y", "&a").as_deref(), Some("y"));
    assert_eq!(expanded("[]a]+", "y", "]a").as_deref(), Some("y"));
    assert_eq!(expanded("[a-]+", "y", "-a").as_deref(), Some("y"));
    assert_eq!(expanded("[[:digit:]x]+", "y", "1x").as_deref(), Some("y"));
    assert_eq!(expanded("\\Q.*\\E", "y", ".*").as_deref(), Some("y"));
    // Escaped punctuation is literal in Go (`\<` is no word boundary).
    assert_eq!(expanded("\\<\\>", "y", "<>").as_deref(), Some("y"));
    assert_eq!(expanded("\\Q.*\\E", "y", "ab"), None);
    assert_eq!(
        expanded("\\101\\x42\\x{43}", "y", "ABC").as_deref(),
        Some("y")
    );
    assert_eq!(expanded("(?i)abc", "y", "ABC").as_deref(), Some("y"));
    assert_eq!(expanded("(?i:a)(?-i:b)", "y", "AB"), None);
    assert_eq!(
        expanded("\\pL\\p{Greek}\\P{L}", "y", "xλ1").as_deref(),
        Some("y")
    );
    assert!(GoRegex::anchored("a.c").is_some_and(|re| re.is_match("a\nc") && !re.is_match("xa\nc")));
    // The anchoring wrapper is plain text: `)` can close it, as in Go.
    assert_eq!(expanded("a)|(b", "[$1]", "b").as_deref(), Some("[b]"));
}

#[test]
fn go_rejects_what_rust_would_accept() {
    for bad in [
        "(.*",
        "a**",
        "a{2}{3}",
        "a{1001}",
        "a{2,1}",
        "\\8",
        "\\1",
        "\\e",
        "(?x)a",
        "[[:foo:]]",
        "(?P<a>x)(?P<a>y)",
        "(?P<a-b>x)",
        "(?-)",
        "\\C",
        "[z-a]",
        "x\\",
    ] {
        assert!(GoRegex::compile(bad).is_none(), "{bad:?} should fail");
    }
    for good in [
        "a*?",
        "a{2}?",
        "(?i)(?s-m:x)",
        "(?)",
        "a{1000}",
        "a|",
        "()",
        "[\\]]",
    ] {
        assert!(GoRegex::compile(good).is_some(), "{good:?} should compile");
    }
}

#[test]
fn argument_errors() {
    let l = test_metric();
    assert_eq!(
        label_replace(&l, "dst", "value-$1", "src", "(.*"),
        Err(FunctionError::InvalidRegex("(.*".into()))
    );
    assert_eq!(
        label_replace(&l, "invalid-label-name", "", "src", "(.*)"),
        Err(FunctionError::InvalidReplaceDestination(
            "invalid-label-name".into()
        ))
    );
    // The regex is checked first.
    assert!(matches!(
        label_replace(&l, "in-valid", "", "src", "("),
        Err(FunctionError::InvalidRegex(_))
    ));
    assert!(LabelReplace::new("invalid-label-name", "", "src", ".*", NameValidation::Utf8).is_ok());
    assert!(LabelReplace::new("", "", "src", ".*", NameValidation::Utf8).is_err());
    assert_eq!(
        FunctionError::InvalidReplaceDestination("a-b".into()).to_string(),
        "invalid destination label name in label_replace(): a-b"
    );
}

#[test]
fn label_join_joins_in_order() {
    let l = labels(&[
        (METRIC_NAME, "testmetric"),
        ("src", "a"),
        ("src1", "b"),
        ("src2", "c"),
        ("dst", "x"),
    ]);
    let srcs = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let join = |dst: &str, sep: &str, names: &[&str]| {
        label_join(&l, dst, sep, &srcs(names)).expect("valid")
    };
    assert_eq!(
        join("dst", "-", &["src", "src1", "src2"]).get("dst"),
        Some("a-b-c")
    );
    assert_eq!(
        join("dst", "-", &["src", "src3", "src1"]).get("dst"),
        Some("a--b")
    );
    assert_eq!(join("dst", "", &["emptysrc", "emptysrc1"]).get("dst"), None);
    assert_eq!(
        join("dst", ", ", &[]).get("dst"),
        None,
        "no sources: empty, removed"
    );
    assert_eq!(join("new", ", ", &["src", "src1"]).get("new"), Some("a, b"));
    assert_eq!(join("dst", "-", &["src"]).metric_name(), Some("testmetric"));
    assert_eq!(
        label_join(&l, "dst", "-", &srcs(&["ok", "bad-name"])),
        Err(FunctionError::InvalidJoinSource("bad-name".into()))
    );
    assert_eq!(
        label_join(&l, "bad-name", "-", &srcs(&["also-bad"])),
        Err(FunctionError::InvalidJoinSource("also-bad".into())),
        "sources are checked before the destination"
    );
    assert_eq!(
        label_join(&l, "bad-name", "-", &srcs(&["src"])),
        Err(FunctionError::InvalidJoinDestination("bad-name".into()))
    );
}
