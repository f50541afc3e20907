//! Time: parsing event times, periods (lifetimes' `freq`) and time units.
//!
//! Event times are kept as seconds since the Unix epoch. Two clocks matter:
//! the instant (UTC, what the store keeps) and the *local* clock of the brand's
//! time zone, in which purchases are bucketed into days, weeks and months — a
//! purchase at 23:30 in New York belongs to that New York day.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone as _};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::CoreError;

const SECONDS_PER_DAY: i64 = 86_400;

/// A parsed event time: either a clock reading without a zone (interpreted in the
/// configured time zone) or an instant with a known offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedTime {
    /// Seconds since 1970-01-01T00:00:00 on the local wall clock (no zone given).
    Naive(i64),
    /// Seconds since the Unix epoch, UTC (a zone or an offset was given, or epoch seconds).
    Instant(i64),
}

/// How event times are written in an input file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// ISO-8601 dates and date-times (with or without offset), `%Y%m%d`, or epoch
    /// seconds; decided per value.
    #[default]
    Auto,
    /// Seconds since the Unix epoch (fractions allowed).
    EpochSeconds,
    /// A chrono strftime pattern, e.g. `%d/%m/%Y %H:%M`.
    Pattern(String),
}

impl FromStr for TimeFormat {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        match text {
            "" | "auto" => Ok(TimeFormat::Auto),
            "epoch" | "epoch-seconds" | "unix" => Ok(TimeFormat::EpochSeconds),
            pattern if pattern.contains('%') => Ok(TimeFormat::Pattern(pattern.to_string())),
            other => Err(CoreError::InvalidOption {
                option: "time format",
                reason: format!("{other:?} is neither `auto`, `epoch` nor a strftime pattern such as %Y%m%d"),
            }),
        }
    }
}

impl TimeFormat {
    /// What a value in this format looks like, for error messages.
    pub fn expected(&self) -> String {
        match self {
            TimeFormat::Auto => "a date or date-time (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[±HH:MM], YYYYMMDD or epoch seconds)".to_string(),
            TimeFormat::EpochSeconds => "epoch seconds".to_string(),
            TimeFormat::Pattern(pattern) => format!("a time matching {pattern:?}"),
        }
    }

    /// Parse one value.
    pub fn parse(&self, text: &str) -> Result<ParsedTime, CoreError> {
        let text = text.trim();
        let parsed = match self {
            TimeFormat::Auto => parse_auto(text),
            TimeFormat::EpochSeconds => parse_epoch(text),
            TimeFormat::Pattern(pattern) => parse_pattern(text, pattern),
        };
        parsed.ok_or_else(|| CoreError::invalid(text, self.expected()))
    }
}

fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    let high = bytes.get(at)?.wrapping_sub(b'0');
    let low = bytes.get(at + 1)?.wrapping_sub(b'0');
    (high < 10 && low < 10).then(|| u32::from(high) * 10 + u32::from(low))
}

fn four_digits(bytes: &[u8], at: usize) -> Option<i32> {
    Some((two_digits(bytes, at)? * 100 + two_digits(bytes, at + 2)?) as i32)
}

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` if it is not a date.
///
/// Hand-written (Howard Hinnant's `days_from_civil`) rather than going through chrono
/// because it sits on the hot path of `rapport summary`: it is ~10× faster than
/// `NaiveDate::from_ymd_opt` + subtraction and gives the same answer (tested below).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// (year, month) of a day number, the inverse of [`days_from_civil`] restricted to months.
pub fn year_month_from_days(days: i64) -> (i32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as i32, month as u32)
}

fn parse_auto(text: &str) -> Option<ParsedTime> {
    let bytes = text.as_bytes();
    match bytes.len() {
        8 if bytes.iter().all(u8::is_ascii_digit) => {
            let days = days_from_civil(four_digits(bytes, 0)?, two_digits(bytes, 4)?, two_digits(bytes, 6)?)?;
            Some(ParsedTime::Naive(days * SECONDS_PER_DAY))
        }
        10 if bytes[4] == b'-' && bytes[7] == b'-' => {
            let days = days_from_civil(four_digits(bytes, 0)?, two_digits(bytes, 5)?, two_digits(bytes, 8)?)?;
            Some(ParsedTime::Naive(days * SECONDS_PER_DAY))
        }
        length if length >= 16 && bytes[4] == b'-' && bytes[7] == b'-' && matches!(bytes[10], b'T' | b't' | b' ') => {
            parse_iso_datetime(text)
        }
        _ if !bytes.is_empty() && bytes.iter().all(|&b| b.is_ascii_digit() || b == b'.' || b == b'-') => parse_epoch(text),
        _ => None,
    }
}

fn parse_iso_datetime(text: &str) -> Option<ParsedTime> {
    let bytes = text.as_bytes();
    let days = days_from_civil(four_digits(bytes, 0)?, two_digits(bytes, 5)?, two_digits(bytes, 8)?)?;
    let hour = two_digits(bytes, 11)?;
    if bytes.get(13) != Some(&b':') {
        return None;
    }
    let minute = two_digits(bytes, 14)?;
    let mut position = 16;
    let mut second = 0;
    if bytes.get(position) == Some(&b':') {
        second = two_digits(bytes, position + 1)?;
        position += 3;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Fractions of a second are accepted and dropped: events are kept to the second.
    if bytes.get(position) == Some(&b'.') || bytes.get(position) == Some(&b',') {
        position += 1;
        let start = position;
        while bytes.get(position).is_some_and(u8::is_ascii_digit) {
            position += 1;
        }
        if position == start {
            return None;
        }
    }
    let local = days * SECONDS_PER_DAY + i64::from(hour * 3600 + minute * 60 + second);
    let rest = text[position..].trim_start();
    match rest.as_bytes() {
        [] => Some(ParsedTime::Naive(local)),
        [b'Z' | b'z'] => Some(ParsedTime::Instant(local)),
        [sign @ (b'+' | b'-'), offset @ ..] => {
            let hours = two_digits(offset, 0)?;
            let minutes = match offset.len() {
                2 => 0,
                4 => two_digits(offset, 2)?,
                5 if offset[2] == b':' => two_digits(offset, 3)?,
                _ => return None,
            };
            let offset_seconds = i64::from(hours * 3600 + minutes * 60);
            let signed = if *sign == b'+' { offset_seconds } else { -offset_seconds };
            Some(ParsedTime::Instant(local - signed))
        }
        _ => None,
    }
}

fn parse_epoch(text: &str) -> Option<ParsedTime> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(ParsedTime::Instant(seconds));
    }
    let seconds: f64 = text.parse().ok()?;
    (seconds.is_finite() && seconds.abs() < 1e14).then(|| ParsedTime::Instant(seconds.floor() as i64))
}

fn parse_pattern(text: &str, pattern: &str) -> Option<ParsedTime> {
    if let Ok(with_offset) = DateTime::parse_from_str(text, pattern) {
        return Some(ParsedTime::Instant(with_offset.timestamp()));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
        return Some(ParsedTime::Naive(naive.and_utc().timestamp()));
    }
    NaiveDate::parse_from_str(text, pattern)
        .ok()
        .map(|date| ParsedTime::Naive(date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp()).unwrap_or_default()))
}

/// The time zone in which naive times are read and periods are bucketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// Coordinated Universal Time (the default).
    #[default]
    Utc,
    /// A named IANA zone such as `Europe/Paris`.
    Named(Tz),
}

impl FromStr for Zone {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        if text.eq_ignore_ascii_case("utc") || text == "Z" {
            return Ok(Zone::Utc);
        }
        text.parse::<Tz>().map(Zone::Named).map_err(|_| CoreError::InvalidOption {
            option: "time zone",
            reason: format!("{text:?} is not an IANA time zone name such as UTC or Europe/Paris"),
        })
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Utc => formatter.write_str("UTC"),
            Zone::Named(zone) => formatter.write_str(zone.name()),
        }
    }
}

impl Zone {
    /// Local wall-clock seconds of a parsed time.
    pub fn local_seconds(&self, time: ParsedTime) -> i64 {
        match (self, time) {
            (_, ParsedTime::Naive(local)) | (Zone::Utc, ParsedTime::Instant(local)) => local,
            (Zone::Named(zone), ParsedTime::Instant(utc)) => {
                let offset = zone.offset_from_utc_datetime(&utc_naive(utc)).fix().local_minus_utc();
                utc + i64::from(offset)
            }
        }
    }

    /// The local day (days since 1970-01-01 on the local calendar) of UTC seconds.
    pub fn local_day(&self, utc: i64) -> i64 {
        self.local_seconds(ParsedTime::Instant(utc)).div_euclid(86_400)
    }

    /// UTC seconds of a parsed time. A naive time in a daylight-saving overlap takes the
    /// earlier reading; one in a gap (02:30 on the night clocks go from 02:00 to 03:00)
    /// is read with the offset in force before the gap, so it lands as far after the gap
    /// as it was into it (03:30), as Python's `zoneinfo` and Java's `ZonedDateTime` do.
    pub fn utc_seconds(&self, time: ParsedTime) -> i64 {
        match (self, time) {
            (_, ParsedTime::Instant(utc)) | (Zone::Utc, ParsedTime::Naive(utc)) => utc,
            (Zone::Named(zone), ParsedTime::Naive(local)) => {
                let naive = utc_naive(local);
                let offset = zone
                    .offset_from_local_datetime(&naive)
                    .earliest()
                    .map(|offset| offset.fix().local_minus_utc())
                    // In a spring-forward gap the wall clock never shows this time: the
                    // offset of the wall clock before the gap (gaps are at most a few hours).
                    .or_else(|| {
                        (1..=3).find_map(|hours| {
                            zone.offset_from_local_datetime(&(naive - chrono::Duration::hours(hours)))
                                .earliest()
                                .map(|offset| offset.fix().local_minus_utc())
                        })
                    })
                    .unwrap_or_else(|| zone.offset_from_utc_datetime(&naive).fix().local_minus_utc());
                local - i64::from(offset)
            }
        }
    }
}

fn utc_naive(seconds: i64) -> NaiveDateTime {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default().naive_utc()
}

/// The bucket in which purchases are grouped: lifetimes' `freq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Clock hours.
    Hour,
    /// Calendar days (the default, lifetimes' `freq='D'`).
    #[default]
    Day,
    /// Weeks from Monday to Sunday (pandas' `W` = `W-SUN`).
    Week,
    /// Calendar months.
    Month,
}

impl FromStr for Period {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        match text.to_ascii_lowercase().as_str() {
            "h" | "hour" | "hours" => Ok(Period::Hour),
            "d" | "day" | "days" => Ok(Period::Day),
            "w" | "week" | "weeks" => Ok(Period::Week),
            "m" | "month" | "months" => Ok(Period::Month),
            _ => Err(CoreError::InvalidOption { option: "period", reason: format!("{text:?} is not one of hour, day, week, month") }),
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        })
    }
}

impl Period {
    /// The index of the period containing local time `seconds`.
    #[inline]
    pub fn index(self, seconds: i64) -> i64 {
        match self {
            Period::Hour => seconds.div_euclid(3600),
            Period::Day => seconds.div_euclid(SECONDS_PER_DAY),
            // 1970-01-01 was a Thursday, so Monday-based weeks start at day -3.
            Period::Week => (seconds.div_euclid(SECONDS_PER_DAY) + 3).div_euclid(7),
            Period::Month => {
                let (year, month) = year_month_from_days(seconds.div_euclid(SECONDS_PER_DAY));
                i64::from(year) * 12 + i64::from(month) - 1
            }
        }
    }

    /// Local seconds at which period `index` starts.
    pub fn start_seconds(self, index: i64) -> i64 {
        match self {
            Period::Hour => index * 3600,
            Period::Day => index * SECONDS_PER_DAY,
            Period::Week => (index * 7 - 3) * SECONDS_PER_DAY,
            Period::Month => {
                let year = index.div_euclid(12) as i32;
                let month = index.rem_euclid(12) as u32 + 1;
                days_from_civil(year, month, 1).unwrap_or_default() * SECONDS_PER_DAY
            }
        }
    }

    /// The time unit that counts these periods (the default `--time-unit`).
    pub fn natural_unit(self) -> TimeUnit {
        match self {
            Period::Hour => TimeUnit::Hours,
            Period::Day => TimeUnit::Days,
            Period::Week => TimeUnit::Weeks,
            Period::Month => TimeUnit::Months,
        }
    }
}

/// The unit in which ages (`recency`, `T`, `duration_holdout`) are expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// 3,600 seconds.
    Hours,
    /// 86,400 seconds.
    Days,
    /// 7 days (Hardie's CDNOW summaries are in weeks).
    Weeks,
    /// Calendar months when periods are months; otherwise numpy's mean Gregorian month of
    /// 30.436875 days (what lifetimes gets from `np.timedelta64(1, 'M')`).
    Months,
}

impl FromStr for TimeUnit {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        match text.to_ascii_lowercase().as_str() {
            "h" | "hour" | "hours" => Ok(TimeUnit::Hours),
            "d" | "day" | "days" => Ok(TimeUnit::Days),
            "w" | "week" | "weeks" => Ok(TimeUnit::Weeks),
            "m" | "month" | "months" => Ok(TimeUnit::Months),
            _ => {
                Err(CoreError::InvalidOption { option: "time unit", reason: format!("{text:?} is not one of hours, days, weeks, months") })
            }
        }
    }
}

impl std::fmt::Display for TimeUnit {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            TimeUnit::Hours => "hours",
            TimeUnit::Days => "days",
            TimeUnit::Weeks => "weeks",
            TimeUnit::Months => "months",
        })
    }
}

impl TimeUnit {
    /// Seconds in one unit (months: the mean Gregorian month).
    pub fn seconds(self) -> f64 {
        match self {
            TimeUnit::Hours => 3600.0,
            TimeUnit::Days => 86_400.0,
            TimeUnit::Weeks => 604_800.0,
            TimeUnit::Months => 30.436_875 * 86_400.0,
        }
    }

    /// How many of this unit make one month of CLV. [`MonthDefinition::Mean`] (the
    /// default) is the mean Gregorian month for every unit, so a CLV does not depend on
    /// the unit the data are expressed in; [`MonthDefinition::Lifetimes`] reproduces
    /// lifetimes' per-unit constants.
    pub fn per_month(self, definition: MonthDefinition) -> f64 {
        match (definition, self) {
            (_, TimeUnit::Months) => 1.0,
            (MonthDefinition::Mean, unit) => TimeUnit::Months.seconds() / unit.seconds(),
            (MonthDefinition::Lifetimes, TimeUnit::Hours) => 720.0,
            (MonthDefinition::Lifetimes, TimeUnit::Days) => 30.0,
            (MonthDefinition::Lifetimes, TimeUnit::Weeks) => 4.345,
        }
    }

    /// Every unit, shortest first.
    pub const ALL: [TimeUnit; 4] = [TimeUnit::Hours, TimeUnit::Days, TimeUnit::Weeks, TimeUnit::Months];

    /// The age between the starts of two periods, in this unit.
    pub fn between(self, period: Period, from: i64, to: i64) -> f64 {
        if period == Period::Month && self == TimeUnit::Months {
            return (to - from) as f64;
        }
        (period.start_seconds(to) - period.start_seconds(from)) as f64 / self.seconds()
    }
}

/// What a month of CLV is in model time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonthDefinition {
    /// The mean Gregorian month, 30.436875 days, whatever the unit (the default).
    #[default]
    Mean,
    /// lifetimes' constants: 4.345 weeks, 30 days, 720 hours. A weekly and a daily fit of
    /// the same log then value a month differently (by 0.07% for weeks against days, and
    /// 1.4% for days against the mean month); kept for reproducing lifetimes' numbers.
    Lifetimes,
}

/// Parse a `--observation-end` / `--calibration-end` value. A bare date means the
/// whole of that day (up to 23:59:59 local time).
pub fn parse_end_of(text: &str, option: &'static str) -> Result<i64, CoreError> {
    let invalid =
        || CoreError::InvalidOption { option, reason: format!("{text:?} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM:SS)") };
    let bytes = text.trim().as_bytes();
    if bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-' {
        let days = days_from_civil(
            four_digits(bytes, 0).ok_or_else(invalid)?,
            two_digits(bytes, 5).ok_or_else(invalid)?,
            two_digits(bytes, 8).ok_or_else(invalid)?,
        )
        .ok_or_else(invalid)?;
        return Ok((days + 1) * SECONDS_PER_DAY - 1);
    }
    match parse_iso_datetime(text.trim()) {
        Some(ParsedTime::Naive(seconds)) => Ok(seconds),
        _ => Err(invalid()),
    }
}

/// Format local seconds as an ISO date-time (no zone).
pub fn format_local(seconds: i64) -> String {
    utc_naive(seconds).format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Format local seconds as an ISO date.
pub fn format_date(seconds: i64) -> String {
    utc_naive(seconds).format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn auto_formats() {
        let day = 9862 * SECONDS_PER_DAY; // 1997-01-01
        assert_eq!(TimeFormat::Auto.parse("19970101"), Ok(ParsedTime::Naive(day)));
        assert_eq!(TimeFormat::Auto.parse("1997-01-01"), Ok(ParsedTime::Naive(day)));
        assert_eq!(TimeFormat::Auto.parse("1997-01-01T01:02:03"), Ok(ParsedTime::Naive(day + 3723)));
        assert_eq!(TimeFormat::Auto.parse("1997-01-01 01:02:03.250"), Ok(ParsedTime::Naive(day + 3723)));
        assert_eq!(TimeFormat::Auto.parse("1997-01-01T01:02:03Z"), Ok(ParsedTime::Instant(day + 3723)));
        assert_eq!(TimeFormat::Auto.parse("1997-01-01T01:02:03+01:00"), Ok(ParsedTime::Instant(day + 3723 - 3600)));
        assert_eq!(TimeFormat::Auto.parse("1997-01-01T01:02-0530"), Ok(ParsedTime::Instant(day + 3720 + 19800)));
        assert_eq!(TimeFormat::Auto.parse("852076800"), Ok(ParsedTime::Instant(day)));
        assert!(TimeFormat::Auto.parse("1997-02-30").is_err());
        assert!(TimeFormat::Auto.parse("19971301").is_err());
        assert!(TimeFormat::Auto.parse("yesterday").is_err());
        assert!(TimeFormat::Auto.parse("").is_err());
        let pattern: TimeFormat = "%d/%m/%Y".parse().expect("pattern");
        assert_eq!(pattern.parse("01/01/1997"), Ok(ParsedTime::Naive(day)));
    }

    #[test]
    fn zones_convert_both_ways() {
        let paris: Zone = "Europe/Paris".parse().expect("zone");
        let noon_utc = 9862 * SECONDS_PER_DAY + 12 * 3600;
        assert_eq!(paris.local_seconds(ParsedTime::Instant(noon_utc)), noon_utc + 3600);
        assert_eq!(paris.utc_seconds(ParsedTime::Naive(noon_utc + 3600)), noon_utc);
        assert!("Mars/Olympus".parse::<Zone>().is_err());
        // 2024-03-31 02:30 never showed on a Paris clock (02:00 → 03:00): read as 03:30
        // CEST, 01:30 UTC, as Python's zoneinfo reads it. 2024-10-27 02:30 showed twice:
        // the first, 00:30 UTC.
        let day = |year, month, day| days_from_civil(year, month, day).expect("date") * SECONDS_PER_DAY;
        let gap = day(2024, 3, 31) + 2 * 3600 + 1800;
        assert_eq!(paris.utc_seconds(ParsedTime::Naive(gap)), day(2024, 3, 31) + 3600 + 1800);
        let overlap = day(2024, 10, 27) + 2 * 3600 + 1800;
        assert_eq!(paris.utc_seconds(ParsedTime::Naive(overlap)), day(2024, 10, 27) + 1800);
    }

    #[test]
    fn weeks_start_on_monday() {
        // 1997-01-06 was a Monday, 1997-01-05 a Sunday.
        let monday = days_from_civil(1997, 1, 6).expect("date") * SECONDS_PER_DAY;
        let sunday = monday - SECONDS_PER_DAY;
        assert_eq!(Period::Week.index(monday), Period::Week.index(sunday) + 1);
        assert_eq!(Period::Week.start_seconds(Period::Week.index(monday + 5 * SECONDS_PER_DAY)), monday);
    }

    proptest! {
        #[test]
        fn civil_days_match_chrono(year in 1600i32..2400, month in 1u32..=12, day in 1u32..=31) {
            let ours = days_from_civil(year, month, day);
            let chrono = NaiveDate::from_ymd_opt(year, month, day)
                .map(|date| (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days());
            prop_assert_eq!(ours, chrono);
            if let Some(days) = ours {
                prop_assert_eq!(year_month_from_days(days), (year, month));
            }
        }

        #[test]
        fn period_start_is_in_its_period(seconds in -2_000_000_000i64..4_000_000_000) {
            for period in [Period::Hour, Period::Day, Period::Week, Period::Month] {
                let index = period.index(seconds);
                prop_assert!(period.start_seconds(index) <= seconds);
                prop_assert_eq!(period.index(period.start_seconds(index)), index);
                prop_assert!(period.start_seconds(index + 1) > seconds);
            }
        }
    }
}
