//! A service team's opening hours: a weekly schedule and holidays, in the workspace's
//! time zone, to measure response times in business hours (`rapport.toml`'s `[service]`).
//!
//! ```text
//! hours = "Mon-Fri 09:00-18:00; Sat 10:00-16:00"
//! holidays = ["2025-12-25", "2025-12-26"]
//! ```
//!
//! Business seconds are counted on the local wall clock, so a day on which clocks change
//! counts its open hours as written (an hour more or less of elapsed time is not
//! corrected for).

use chrono::{Datelike, NaiveDate};

use crate::time::{ParsedTime, Zone};

const DAY: i64 = 86_400;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Opening hours per weekday (seconds after local midnight) and closed dates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    /// Monday first: the open intervals of each weekday.
    pub week: [Vec<(i64, i64)>; 7],
    /// Closed days (days since 1970-01-01).
    pub holidays: Vec<i64>,
}

fn clock(text: &str) -> Option<i64> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    ((0..=24).contains(&hours) && (0..60).contains(&minutes) && hours * 60 + minutes <= 24 * 60).then_some(hours * 3600 + minutes * 60)
}

impl Schedule {
    /// Parse `"Mon-Fri 09:00-18:00; Sat 10:00-16:00"` (days as three-letter English names,
    /// a range or a single day, then one or more `HH:MM-HH:MM` ranges) and the holidays
    /// as `YYYY-MM-DD`. The error says what was expected.
    pub fn parse(hours: &str, holidays: &[String]) -> Result<Schedule, String> {
        let expected =
            |part: &str| format!("{part:?}: expected days and hours such as \"Mon-Fri 09:00-18:00\" (days Mon … Sun, 24-hour clock)");
        let mut schedule = Schedule::default();
        for part in hours.split([';', ',']).map(str::trim).filter(|part| !part.is_empty()) {
            let mut words = part.split_whitespace();
            let days = words.next().ok_or_else(|| expected(part))?.to_ascii_lowercase();
            let day = |name: &str| DAYS.iter().position(|day| *day == name).ok_or_else(|| expected(part));
            let (first, last) = match days.split_once('-') {
                Some((first, last)) => (day(first)?, day(last)?),
                None => (day(&days)?, day(&days)?),
            };
            let ranges: Vec<&str> = words.collect();
            if ranges.is_empty() {
                return Err(expected(part));
            }
            for range in ranges {
                let (open, close) = range.split_once('-').ok_or_else(|| expected(part))?;
                let (open, close) = (clock(open).ok_or_else(|| expected(part))?, clock(close).ok_or_else(|| expected(part))?);
                if open >= close {
                    return Err(format!("{part:?}: a range must close after it opens"));
                }
                let mut weekday = first;
                loop {
                    schedule.week[weekday].push((open, close));
                    if weekday == last {
                        break;
                    }
                    weekday = (weekday + 1) % 7;
                }
            }
        }
        if schedule.week.iter().all(Vec::is_empty) {
            return Err(expected(hours));
        }
        for day in holidays {
            let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
                .map_err(|_| format!("holiday {day:?}: expected a date such as 2025-12-25"))?;
            schedule.holidays.push(date.signed_duration_since(NaiveDate::default()).num_days());
        }
        schedule.holidays.sort_unstable();
        Ok(schedule)
    }

    /// Open seconds between two UTC instants (0 if `to` is not after `from`).
    pub fn business_seconds(&self, zone: Zone, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let (from, to) = (zone.local_seconds(ParsedTime::Instant(from)), zone.local_seconds(ParsedTime::Instant(to)));
        let mut total = 0;
        let mut day = from.div_euclid(DAY);
        while day * DAY < to {
            if self.holidays.binary_search(&day).is_err() {
                let weekday = NaiveDate::default()
                    .checked_add_signed(chrono::Duration::days(day))
                    .map_or(0, |date| date.weekday().num_days_from_monday() as usize);
                for (open, close) in &self.week[weekday] {
                    let (start, end) = ((day * DAY + open).max(from), (day * DAY + close).min(to));
                    total += (end - start).max(0);
                }
            }
            day += 1;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).expect("time").timestamp()
    }

    #[test]
    fn business_seconds_skip_nights_weekends_and_holidays() {
        let schedule = Schedule::parse("Mon-Fri 09:00-18:00", &["2025-12-25".into()]).expect("schedule");
        // Friday 17:00 to Monday 10:00: one hour on Friday, one on Monday.
        assert_eq!(schedule.business_seconds(Zone::Utc, utc("2025-11-28T17:00:00Z"), utc("2025-12-01T10:00:00Z")), 2 * 3600);
        // Christmas Day (a Thursday) is closed.
        assert_eq!(schedule.business_seconds(Zone::Utc, utc("2025-12-24T17:30:00Z"), utc("2025-12-26T09:30:00Z")), 3600);
        // In the zone: 08:30 UTC is 09:30 in Paris in winter.
        let paris: Zone = "Europe/Paris".parse().expect("zone");
        assert_eq!(schedule.business_seconds(paris, utc("2025-12-01T07:00:00Z"), utc("2025-12-01T08:30:00Z")), 1800);
    }

    #[test]
    fn several_ranges_and_bad_input() {
        let schedule = Schedule::parse("Mon-Fri 09:00-12:00 13:00-17:30; Sat 10:00-16:00", &[]).expect("schedule");
        assert_eq!(schedule.week[0], vec![(9 * 3600, 12 * 3600), (13 * 3600, 17 * 3600 + 1800)]);
        assert_eq!(schedule.week[5], vec![(10 * 3600, 16 * 3600)]);
        assert!(schedule.week[6].is_empty());
        for bad in ["", "Monday 9-5", "Mon-Fri 18:00-09:00", "Mon-Fri", "Mon-Fri 25:00-26:00"] {
            assert!(Schedule::parse(bad, &[]).is_err(), "{bad}");
        }
        assert!(Schedule::parse("Mon 09:00-17:00", &["25/12/2025".into()]).is_err());
    }
}
