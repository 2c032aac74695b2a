use super::*;

fn data() -> TemplateData {
    TemplateData {
        labels: [("instance", "host:9100"), ("job", "node")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value: 0.123456,
        ..TemplateData::default()
    }
}

fn expand(t: &str) -> String {
    expand_alert_template("Test", t, &data())
}

#[test]
fn expands_what_rules_use() {
    assert_eq!(expand("plain text"), "plain text");
    assert_eq!(expand("{{ $labels.instance }} down"), "host:9100 down");
    assert_eq!(
        expand("{{$labels.job}}/{{ .Labels.instance }}"),
        "node/host:9100"
    );
    assert_eq!(expand("{{ $labels.missing }}|"), "|");
    assert_eq!(expand("{{ $value }}"), "0.123456");
    assert_eq!(expand("{{ .Value }}"), "0.123456");
    assert_eq!(expand("{{ humanize $value }}"), "123.5m");
    assert_eq!(expand("{{ $value | humanizePercentage }}"), "12.35%");
    assert_eq!(expand("{{ humanizeDuration 3661 }}"), "1h 1m 1s");
    assert_eq!(expand(r#"{{ printf "%.2f" $value }}"#), "0.12");
    assert_eq!(expand(r#"{{ $value | printf "%.1f" }}"#), "0.1");
    assert_eq!(expand(r#"{{ index $labels "job" | toUpper }}"#), "NODE");
    assert_eq!(expand("a {{- $labels.job -}} b"), "anodeb");
    assert_eq!(expand("{{/* comment */}}x"), "x");
    assert_eq!(expand(r#"{{ humanize (printf "%f" 2048.0) }}"#), "2.048k");
}

#[test]
fn errors_are_expanded_like_prometheus() {
    let e = expand("{{ nope $value }}");
    assert!(
        e.starts_with("<error expanding template: error parsing template __alert_Test:"),
        "{e}"
    );
    assert!(e.contains(r#"function "nope" not defined"#), "{e}");
    assert!(expand("{{ $nope }}").contains(r#"undefined variable "$nope""#));
    assert!(expand("{{ $value ").contains("unclosed action"));
    let e = expand(r#"{{ humanize "abc" }}"#);
    assert!(e.contains("error executing template"), "{e}");
    assert!(e.contains("error calling humanize"), "{e}");
    assert!(expand("{{ $value.x }}").contains("can't evaluate field x"));
}

#[test]
fn conditionals_and_comparisons() {
    assert_eq!(
        expand("{{ if gt $value 0.1 }}high{{ else }}low{{ end }}"),
        "high"
    );
    assert_eq!(
        expand(r#"{{ if eq $labels.job "x" }}x{{ else if eq $labels.job "node" "y" }}n{{ end }}"#),
        "n"
    );
    assert_eq!(expand("{{ if $labels.missing }}set{{ end }}|"), "|");
    assert_eq!(
        expand("{{ if and $labels.job (not $labels.nope) }}ok{{ end }}"),
        "ok"
    );
    assert_eq!(expand("{{ or $labels.nope \"default\" }}"), "default");
    assert_eq!(
        expand("{{ len $labels }} {{ title \"disk full\" }}"),
        "2 Disk Full"
    );
    assert_eq!(expand(r#"{{ printf "%d%%" 5 }}"#), "5%");
    // Go keeps ints and floats apart: `gt $value 0` is an error.
    assert!(
        expand("{{ if gt $value 0 }}x{{ end }}").contains("incompatible types for comparison"),
        "{}",
        expand("{{ if gt $value 0 }}x{{ end }}")
    );
    assert!(expand("{{ if true }}").contains("unexpected EOF"));
    assert!(expand("{{ end }}").contains("unexpected {{end}}"));
    assert!(expand("{{ range $labels }}{{ end }}").contains(r#"unsupported action "range""#));
}

#[test]
fn nesting_is_bounded_with_a_clear_error() {
    let ifs = |n: usize| format!("{}x{}", "{{ if true }}".repeat(n), "{{ end }}".repeat(n));
    assert_eq!(expand(&ifs(MAX_DEPTH)), "x", "the bound itself is allowed");
    let parens = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
    assert_eq!(expand(&parens(MAX_DEPTH)), "1");
    let deep = format!("nests more than {MAX_DEPTH} levels deep");
    // One more, and hostile depths far beyond (a 2 MiB test thread would
    // overflow long before 100,000 levels of unbounded recursion).
    for t in [
        ifs(MAX_DEPTH + 1),
        ifs(100_000),
        parens(MAX_DEPTH + 1),
        parens(100_000),
        format!("{}{}", "{{ if true }}".repeat(60), parens(60)),
        format!(
            "{}{}",
            "{{ if true }}{{ else if true }}".repeat(100_000),
            "{{ end }}".repeat(100_000)
        ),
    ] {
        let e = Template::parse(&t).expect_err("too deep");
        assert!(e.contains(&deep), "{e}");
        assert!(expand(&t).contains(&deep));
    }
}

#[test]
fn output_is_bounded() {
    // Go's limit on widths: past 1e6 the rest of the format is dropped.
    assert_eq!(
        expand(r#"{{ printf "a%99999999999999999999d b" 1 }}"#),
        "a%!(NOVERB)%!(EXTRA int=1)"
    );
    assert_eq!(
        expand(r#"{{ printf "%.99999999999f" 1.0 }}"#),
        "%!(NOVERB)%!(EXTRA float64=1)"
    );
    assert_eq!(expand(r#"{{ printf "%5d|" 1 }}"#), "    1|");
    // Widths within Go's limit, but more output than an expansion may
    // write: an error, not gigabytes.
    let wide = format!(
        r#"{{{{ printf "{}" {} }}}}"#,
        "%1000000d".repeat(1000),
        "1 ".repeat(1000)
    );
    let e = expand(&wide);
    assert!(
        e.contains("template output is longer than 65536 bytes"),
        "{}",
        &e[..200.min(e.len())]
    );
    assert!(e.len() < 1024, "the error is short: {} bytes", e.len());
    let many = "{{ $labels.instance }}".repeat(10_000);
    assert!(expand(&many).contains("template output is longer than"));
    let text = "x".repeat(MAX_OUTPUT_BYTES);
    assert_eq!(
        expand(&text).len(),
        MAX_OUTPUT_BYTES,
        "the bound itself is allowed"
    );
    assert!(expand(&format!("{text}y")).contains("template output is longer than"));
}
