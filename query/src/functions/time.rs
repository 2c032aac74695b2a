//! Date functions in UTC on the proleptic Gregorian calendar, like Go's
//! `time` package: `minute`, `hour`, `day_of_week` (Sunday = 0),
//! `day_of_month`, `day_of_year`, `days_in_month`, `month`, `year`.
//!
//! Prometheus computes them from `time.Unix(int64(v), 0)`: the float is
//! truncated toward zero to whole seconds. Without an argument the
//! functions use the evaluation time, `time.Unix(ts_ms / 1000, 0)` (again
//! truncated toward zero); see [`default_argument`].

#[cfg(test)]
mod tests;

const SECONDS_PER_DAY: i128 = 86_400;

/// A date function: Unix seconds in, the date field out.
pub type DateFn = fn(f64) -> f64;

/// Looks up a date function by its PromQL name.
pub fn date_function(name: &str) -> Option<DateFn> {
    let f: DateFn = match name {
        "minute" => minute,
        "hour" => hour,
        "day_of_week" => day_of_week,
        "day_of_month" => day_of_month,
        "day_of_year" => day_of_year,
        "days_in_month" => days_in_month,
        "month" => month,
        "year" => year,
        _ => return None,
    };
    Some(f)
}

/// The argument Prometheus uses when a date function is called without
/// one: the evaluation timestamp, truncated toward zero to seconds.
#[cfg(test)]
pub fn default_argument(eval_ts_ms: i64) -> f64 {
    (eval_ts_ms / 1000) as f64
}

pub fn minute(v: f64) -> f64 {
    let secs = DateTime::from_unix(v).secs_of_day;
    ((secs / 60) % 60) as f64
}

pub fn hour(v: f64) -> f64 {
    (DateTime::from_unix(v).secs_of_day / 3600) as f64
}

pub fn day_of_week(v: f64) -> f64 {
    // 1970-01-01 was a Thursday (4).
    (DateTime::from_unix(v).days + 4).rem_euclid(7) as f64
}

pub fn day_of_month(v: f64) -> f64 {
    f64::from(DateTime::from_unix(v).civil().day)
}

pub fn day_of_year(v: f64) -> f64 {
    let dt = DateTime::from_unix(v);
    let civil = dt.civil();
    (dt.days - days_from_civil(civil.year, 1, 1) + 1) as f64
}

pub fn days_in_month(v: f64) -> f64 {
    let civil = DateTime::from_unix(v).civil();
    f64::from(month_length(civil.year, civil.month))
}

pub fn month(v: f64) -> f64 {
    f64::from(DateTime::from_unix(v).civil().month)
}

pub fn year(v: f64) -> f64 {
    DateTime::from_unix(v).civil().year as f64
}

/// A point in time split into days since 1970-01-01 and seconds into the
/// day.
struct DateTime {
    days: i128,
    secs_of_day: i128,
}

impl DateTime {
    fn from_unix(v: f64) -> Self {
        let secs = go_seconds(go_float_to_int64(v));
        Self {
            days: secs.div_euclid(SECONDS_PER_DAY),
            secs_of_day: secs.rem_euclid(SECONDS_PER_DAY),
        }
    }

    fn civil(&self) -> Civil {
        civil_from_days(self.days)
    }
}

/// Go's `int64(f)` conversion as compiled for amd64: truncation toward
/// zero, and the "integer indefinite" `i64::MIN` for NaN, infinities and
/// values out of range.
fn go_float_to_int64(v: f64) -> i64 {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-TWO_POW_63..TWO_POW_63).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// The Unix second Go's calendar arithmetic effectively works on. Go (1.23
/// and later, which builds Prometheus 3) keeps time as an unsigned offset
/// from an "absolute" epoch, 1 March of year -292277022400, and lets it
/// wrap around 2^64; reproduce that so even `year(vector(NaN))` matches.
fn go_seconds(unix: i64) -> i128 {
    // Seconds from Go's absolute epoch to the Unix epoch.
    const UNIX_TO_ABSOLUTE: i128 = 9_223_372_028_741_760_000;
    const WRAP: i128 = 1 << 64;
    (i128::from(unix) + UNIX_TO_ABSOLUTE).rem_euclid(WRAP) - UNIX_TO_ABSOLUTE
}

struct Civil {
    year: i128,
    month: u32,
    day: u32,
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`: count in 400-year eras starting on 1 March.
fn civil_from_days(days: i128) -> Civil {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from 1 March
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i128::from(month <= 2);
    Civil { year, month, day }
}

/// (year, month, day) to days since 1970-01-01, the inverse of
/// [`civil_from_days`].
fn days_from_civil(year: i128, month: u32, day: u32) -> i128 {
    let year = year - i128::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i128::from((month + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i128::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap_year(year: i128) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn month_length(year: i128, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
