use super::*;

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

fn f(name: &str) -> MathFn {
    simple_math(name).unwrap_or_else(|| panic!("{name} is a math function"))
}

#[test]
fn lookup_covers_the_one_argument_functions() {
    let names = [
        "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "sin", "cos", "tan",
        "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "deg", "rad",
    ];
    for name in names {
        assert!(simple_math(name).is_some(), "{name}");
    }
    assert!(simple_math("round").is_none());
    assert!(simple_math("year").is_none());
}

#[test]
fn basic_math() {
    assert_eq!(f("abs")(-3.5), 3.5);
    assert_eq!(f("ceil")(0.4), 1.0);
    assert_eq!(f("floor")(-0.4), -1.0);
    assert_eq!(f("sqrt")(16.0), 4.0);
    assert!(f("sqrt")(-1.0).is_nan());
    assert_eq!(f("ln")(0.0), -INF);
    assert_eq!(f("exp")(0.0), 1.0);
    assert_eq!(f("sin")(0.0), 0.0);
    assert!(f("sin")(NAN).is_nan());
    assert!(f("asin")(20.0 - 10.1).is_nan());
    assert!(f("acosh")(0.5).is_nan());
    assert_eq!(f("atanh")(1.0), INF);
}

#[test]
fn sgn_keeps_zero_and_nan() {
    assert_eq!(sgn(-7.0), -1.0);
    assert_eq!(sgn(0.1), 1.0);
    assert!(sgn(-0.0).is_sign_negative() && sgn(-0.0) == 0.0);
    assert!(sgn(NAN).is_nan());
    assert_eq!(sgn(-INF), -1.0);
}

#[test]
fn logarithms_follow_go() {
    assert_eq!(log2(8.0), 3.0);
    assert_eq!(log2(0.5), -1.0);
    assert_eq!(log2(f64::from_bits(1)), -1074.0, "smallest subnormal");
    assert_eq!(log2(0.0), -INF);
    assert_eq!(log2(INF), INF);
    assert!(log2(-1.0).is_nan());
    assert_eq!(log10(100.0), 2.0);
    assert_eq!(log10(1000.0), 3.0);
    // Go's log10 is log2(x) * log10(2): one ulp above the correctly
    // rounded 0.47712125471966244 here.
    assert_eq!(log10(3.0), 0.4771212547196625);
    assert_eq!(log10(1.0), 0.0);
    assert!(log10(NAN).is_nan());
}

#[test]
fn degrees_and_radians() {
    assert_eq!(deg(PI), 180.0);
    assert_eq!(rad(180.0), PI);
    assert_eq!(deg(rad(90.0)), 90.0);
}

#[test]
fn round_rounds_half_up() {
    assert_eq!(round(0.5, 1.0), 1.0);
    assert_eq!(round(-0.5, 1.0), 0.0);
    assert_eq!(round(-1.5, 1.0), -1.0);
    assert_eq!(round(2.4, 1.0), 2.0);
    // 0.005 * 700 = 3.5 -> 4; 0.045 * 100 = 4.5 rounded to 5s -> 5.
    assert_eq!(round(0.005 * 700.0, 1.0), 4.0);
    assert_eq!(round(0.045 * 100.0, 5.0), 5.0);
    assert_eq!(round(1234.5678, 0.01), 1234.57);
    assert!(round(NAN, 1.0).is_nan());
    assert_eq!(round(INF, 1.0), INF);
}

#[test]
fn clamp_rules() {
    assert_eq!(clamp(-50.0, -25.0, 75.0), Some(-25.0));
    assert_eq!(clamp(0.0, -25.0, 75.0), Some(0.0));
    assert_eq!(clamp(100.0, -25.0, 75.0), Some(75.0));
    assert_eq!(clamp(1.0, 5.0, -5.0), None, "max below min: no output");
    assert!(clamp(1.0, 0.0, NAN).is_some_and(f64::is_nan));
    assert!(clamp(1.0, NAN, 0.0).is_some_and(f64::is_nan));
    assert!(clamp(NAN, 0.0, 1.0).is_some_and(f64::is_nan));
    assert_eq!(clamp_min(-50.0, -25.0), -25.0);
    assert_eq!(clamp_max(100.0, 75.0), 75.0);
    assert!(clamp_min(NAN, 0.0).is_nan());
    // Go's Max lets +Inf beat NaN, and Min lets -Inf beat it.
    assert_eq!(clamp_min(NAN, INF), INF);
    assert_eq!(clamp_max(NAN, -INF), -INF);
    assert!(clamp_min(-0.0, 0.0).is_sign_positive());
    assert!(clamp_max(0.0, -0.0).is_sign_negative());
}
