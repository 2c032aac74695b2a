//! Element-wise math on float samples: `abs`, `ceil`, `floor`, `exp`,
//! `sqrt`, `ln`, `log2`, `log10`, `sgn`, trigonometry, `deg`, `rad`,
//! `round`, `clamp`, `clamp_min`, `clamp_max`.
//!
//! All of these drop the metric name in Prometheus and skip histogram
//! samples. Transcendental functions use Rust's (platform libm) versions,
//! which can differ from Go's `math` package in the last bit; `log2` and
//! `log10` follow Go's construction (`log10(3)` is `0.4771212547196625`,
//! one ulp above the correctly rounded value, as in Go).

use std::f64::consts::{LOG10_2, LOG2_E, PI};

#[cfg(test)]
mod tests;

/// A one-argument float function.
pub type MathFn = fn(f64) -> f64;

/// Looks up the PromQL functions that map each float on its own:
/// `abs ceil floor exp sqrt ln log2 log10 sgn sin cos tan asin acos atan
/// sinh cosh tanh asinh acosh atanh deg rad`.
pub fn simple_math(name: &str) -> Option<MathFn> {
    let f: MathFn = match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => log2,
        "log10" => log10,
        "sgn" => sgn,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => deg,
        "rad" => rad,
        _ => return None,
    };
    Some(f)
}

/// -1, 1, or the value itself for zeros and NaN.
pub fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Radians to degrees, multiplying first as Prometheus does.
pub fn deg(v: f64) -> f64 {
    v * 180.0 / PI
}

/// Degrees to radians, multiplying first as Prometheus does.
pub fn rad(v: f64) -> f64 {
    v * PI / 180.0
}

/// Go's `math.Log2`: exact for powers of two, otherwise
/// `ln(frac) / ln 2 + exp` on the binary mantissa and exponent.
pub fn log2(v: f64) -> f64 {
    let (frac, exp) = frexp(v);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    frac.ln() * LOG2_E + f64::from(exp)
}

/// Go's `math.Log10`: `log2(v) * (ln 2 / ln 10)`.
pub fn log10(v: f64) -> f64 {
    log2(v) * LOG10_2
}

/// Splits `v` into a fraction in [0.5, 1) and a power of two (Go's
/// `math.Frexp`); zeros, infinities and NaN come back unchanged with
/// exponent 0.
fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 || !v.is_finite() {
        return (v, 0);
    }
    let (v, mut exp) = if v.abs() < f64::MIN_POSITIVE {
        // Subnormal: scale into the normal range first (by 2^52).
        (v * 4_503_599_627_370_496.0, -52)
    } else {
        (v, 0)
    };
    let bits = v.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// `round(v, to_nearest)`: rounds half up to a multiple of `to_nearest`,
/// computed as `floor(v * (1/to_nearest) + 0.5) / (1/to_nearest)`.
pub fn round(v: f64, to_nearest: f64) -> f64 {
    let inverse = 1.0 / to_nearest;
    (v * inverse + 0.5).floor() / inverse
}

/// `clamp(v, min, max)`. `None` (no output element) when `max < min`.
/// NaN bounds pass that check and make the result NaN, except that Go's
/// `math.Max`/`math.Min` let an infinite bound win over NaN.
pub fn clamp(v: f64, min: f64, max: f64) -> Option<f64> {
    if max < min {
        return None;
    }
    Some(go_max(min, go_min(max, v)))
}

/// `clamp_min(v, min)`, i.e. `clamp(v, min, +Inf)`, which always has an
/// output (`+Inf < min` never holds).
pub fn clamp_min(v: f64, min: f64) -> f64 {
    go_max(min, go_min(f64::INFINITY, v))
}

/// `clamp_max(v, max)`, i.e. `clamp(v, -Inf, max)`, which always has an
/// output.
pub fn clamp_max(v: f64, max: f64) -> f64 {
    go_max(f64::NEG_INFINITY, go_min(max, v))
}

/// Go's `math.Max`: +Inf beats NaN, NaN beats numbers, +0 beats -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            y
        } else {
            x
        }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf beats NaN, NaN beats numbers, -0 beats +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            x
        } else {
            y
        }
    } else if x < y {
        x
    } else {
        y
    }
}
