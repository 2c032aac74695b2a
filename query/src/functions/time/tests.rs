use proptest::prelude::*;

use super::*;

fn f(name: &str) -> DateFn {
    date_function(name).unwrap_or_else(|| panic!("{name} is a date function"))
}

#[test]
fn epoch() {
    assert_eq!(year(0.0), 1970.0);
    assert_eq!(month(0.0), 1.0);
    assert_eq!(day_of_month(0.0), 1.0);
    assert_eq!(day_of_year(0.0), 1.0);
    assert_eq!(day_of_week(0.0), 4.0, "a Thursday");
    assert_eq!(hour(0.0), 0.0);
    assert_eq!(minute(0.0), 0.0);
    assert_eq!(days_in_month(0.0), 31.0);
}

#[test]
fn known_dates() {
    // 2006-01-02 22:04:05 UTC, a Monday.
    let t = 1136239445.0;
    assert_eq!(f("year")(t), 2006.0);
    assert_eq!(f("month")(t), 1.0);
    assert_eq!(f("day_of_month")(t), 2.0);
    assert_eq!(f("day_of_year")(t), 2.0);
    assert_eq!(f("day_of_week")(t), 1.0);
    assert_eq!(f("hour")(t), 22.0);
    assert_eq!(f("minute")(t), 4.0);
    assert_eq!(year(1230767999.0), 2008.0);
    assert_eq!(year(1230768000.0), 2009.0);
}

#[test]
fn leap_years() {
    // 2016-02-29 23:59:59 and 2016-03-01 00:00:00.
    assert_eq!(
        (month(1456790399.0), day_of_month(1456790399.0)),
        (2.0, 29.0)
    );
    assert_eq!(
        (month(1456790400.0), day_of_month(1456790400.0)),
        (3.0, 1.0)
    );
    assert_eq!(day_of_year(1483191420.0), 366.0, "2016-12-31");
    assert_eq!(day_of_year(1672493820.0), 365.0, "2022-12-31");
    assert_eq!(days_in_month(1454284800.0), 29.0, "February 2016");
    assert_eq!(days_in_month(1485907200.0), 28.0, "February 2017");
    // 2000 is a leap year, 1900 is not: 1900-02-01 and 2000-02-01.
    assert_eq!(days_in_month(-2206310400.0), 28.0);
    assert_eq!(days_in_month(949363200.0), 29.0);
}

#[test]
fn before_1970() {
    // 1969-12-31 23:59:59, a Wednesday.
    assert_eq!(year(-1.0), 1969.0);
    assert_eq!(month(-1.0), 12.0);
    assert_eq!(day_of_month(-1.0), 31.0);
    assert_eq!(day_of_year(-1.0), 365.0);
    assert_eq!(day_of_week(-1.0), 3.0);
    assert_eq!(hour(-1.0), 23.0);
    assert_eq!(minute(-1.0), 59.0);
    // Truncation toward zero: -0.5s is the epoch itself, -1.5s is -1s.
    assert_eq!(year(-0.5), 1970.0);
    assert_eq!(minute(-1.5), 59.0);
    // 1900-01-01 00:00:00, a Monday.
    assert_eq!(year(-2208988800.0), 1900.0);
    assert_eq!(day_of_week(-2208988800.0), 1.0);
    // 0001-01-01 00:00:00 (Go's zero time), a Monday.
    assert_eq!(year(-62135596800.0), 1.0);
    assert_eq!(day_of_week(-62135596800.0), 1.0);
    // 0000-03-01 (year 0 is a leap year in the proleptic calendar).
    assert_eq!(year(-62162035200.0), 0.0);
    assert_eq!(day_of_year(-62162035200.0), 61.0);
}

#[test]
fn default_argument_truncates_toward_zero() {
    assert_eq!(default_argument(1999), 1.0);
    assert_eq!(default_argument(-1500), -1.0);
    assert_eq!(default_argument(0), 0.0);
}

#[test]
fn out_of_range_like_go_on_amd64() {
    // NaN, infinities and huge values convert to i64::MIN in Go on amd64.
    assert_eq!(year(f64::NAN), year(f64::INFINITY));
    assert_eq!(year(f64::NAN), year(-1e30));
    assert_eq!(go_float_to_int64(1e19), i64::MIN);
    assert_eq!(go_float_to_int64(-2.9), -2);
    // Go's calendar wraps around its absolute epoch instead of overflowing.
    assert!(year(f64::NAN) > 2.9e11);
}

#[test]
fn lookup() {
    for name in [
        "minute",
        "hour",
        "day_of_week",
        "day_of_month",
        "day_of_year",
        "days_in_month",
        "month",
        "year",
    ] {
        assert!(date_function(name).is_some(), "{name}");
    }
    assert!(date_function("time").is_none());
}

/// Walks the calendar one day at a time from 1970-01-01 forwards or
/// backwards: the reference for the property test.
fn naive_date(days: i64) -> (i64, u32, u32) {
    let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
    let len = |y: i64, m: u32| month_length(i128::from(y), m);
    if days >= 0 {
        for _ in 0..days {
            d += 1;
            if d > len(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    } else {
        for _ in 0..-days {
            d -= 1;
            if d == 0 {
                if m == 1 {
                    m = 12;
                    y -= 1;
                } else {
                    m -= 1;
                }
                d = len(y, m);
            }
        }
    }
    (y, m, d)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_naive_day_counting(days in -150_000i64..150_000, secs in 0i64..86_400) {
        let t = (days * 86_400 + secs) as f64;
        let (y, m, d) = naive_date(days);
        prop_assert_eq!(year(t), y as f64);
        prop_assert_eq!(month(t), f64::from(m));
        prop_assert_eq!(day_of_month(t), f64::from(d));
        prop_assert_eq!(hour(t), (secs / 3600) as f64);
        prop_assert_eq!(minute(t), (secs / 60 % 60) as f64);
        prop_assert_eq!(day_of_week(t), (days + 4).rem_euclid(7) as f64);
        let jan1 = days_from_civil(i128::from(y), 1, 1) as i64;
        prop_assert_eq!(day_of_year(t), (days - jan1 + 1) as f64);
        prop_assert_eq!(days_in_month(t), f64::from(month_length(i128::from(y), m)));
    }

    #[test]
    fn civil_round_trips(days in -10_000_000_000i64..10_000_000_000) {
        let c = civil_from_days(i128::from(days));
        prop_assert_eq!(days_from_civil(c.year, c.month, c.day), i128::from(days));
    }
}
