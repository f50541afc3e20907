//! Alerts: a leading indicator that moved beyond its baseline.
//!
//! Each indicator is a series over consecutive windows ending at the observation end (the
//! last 7 days, the 7 before, …; or days). A window is compared with the `baseline`
//! windows before it: robust control limits `median ± k × 1.4826 × MAD` (the MAD scaled to
//! a normal standard deviation; Hampel's identifier), with the scale never below `floor`
//! (for counts, the Poisson standard deviation √median, so a quiet series of small counts
//! does not alarm on noise). A window outside its limits is a signal, up or down. Running
//! the same rule over every window of the history counts the false alarms of quiet weeks.

use rapport_core::survey::SurveyType;
use rapport_measures::{Timeline, Tone};
use serde::{Deserialize, Serialize};

/// The limits a window is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// The baseline's median.
    pub median: f64,
    /// Lower limit.
    pub lower: f64,
    /// Upper limit.
    pub upper: f64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// Control limits from a baseline: `median ± k × max(1.4826 × MAD, floor(median))`.
/// `None` with fewer than 4 baseline values.
pub fn control_limits(baseline: &[f64], k: f64, floor: &dyn Fn(f64) -> f64) -> Option<Limits> {
    let mut values: Vec<f64> = baseline.iter().copied().filter(|value| value.is_finite()).collect();
    if values.len() < 4 {
        return None;
    }
    let centre = median(&mut values);
    let mut deviations: Vec<f64> = values.iter().map(|value| (value - centre).abs()).collect();
    let scale = (1.482_6 * median(&mut deviations)).max(floor(centre));
    Some(Limits { median: centre, lower: centre - k * scale, upper: centre + k * scale })
}

/// One window judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// Windows back from the latest (0 = the latest).
    pub window: usize,
    /// The window's value (NaN: too little data in it).
    pub value: f64,
    /// Its limits (`None`: too little baseline).
    pub limits: Option<Limits>,
    /// +1 above the upper limit, −1 below the lower, 0 inside.
    pub signal: i8,
}

/// Judge every window of `values` (index 0 the latest) against the `baseline` windows
/// before it.
pub fn judge(values: &[f64], baseline: usize, k: f64, floor: &dyn Fn(f64) -> f64) -> Vec<Judged> {
    (0..values.len())
        .map(|window| {
            let before = &values[(window + 1).min(values.len())..(window + 1 + baseline).min(values.len())];
            let limits = if before.len() == baseline { control_limits(before, k, floor) } else { None };
            let value = values[window];
            let signal = match limits {
                Some(limits) if value.is_finite() && value > limits.upper => 1,
                Some(limits) if value.is_finite() && value < limits.lower => -1,
                _ => 0,
            };
            Judged { window, value, limits, signal }
        })
        .collect()
}

/// What the indicator alerts count of the customers' events, window by window (index 0
/// is the latest, ending at the observation end): conversations started per week and per
/// day, engagement per week, conversations opened with a scored customer message (of them
/// negative) per week, NPS answers (promoters, detractors, all) per week, and replied
/// conversations with the median first response per week. Counts are sums of whole
/// numbers, the same in any order: built from timelines here ([`Windows::of`]) or from the
/// DataFusion plans of the same rules (`rapport_sql::features`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows {
    /// Conversations started, per week.
    pub contacts: Vec<f64>,
    /// Conversations started, per day.
    pub contacts_daily: Vec<f64>,
    /// Engagement events, per week.
    pub engagement: Vec<f64>,
    /// (opened negative, opened with a scored customer message), per week.
    pub toned: Vec<(f64, f64)>,
    /// (promoters, detractors, answers) of NPS, per week.
    pub nps: Vec<(f64, f64, f64)>,
    /// (replied conversations, the upper median of their first response in seconds), per
    /// week.
    pub responses: Vec<(f64, Option<i64>)>,
}

/// Seconds in a week.
const WEEK: i64 = 7 * 86_400;

impl Windows {
    /// Empty windows from the first event of all to the observation end: at most 520
    /// weeks and 730 days.
    pub fn new(first: i64, as_of: i64) -> Windows {
        let weeks = (((as_of - first) / WEEK).max(0) as usize).min(520);
        let days = (((as_of - first) / 86_400).max(0) as usize).min(730);
        Windows {
            contacts: vec![0.0; weeks],
            contacts_daily: vec![0.0; days],
            engagement: vec![0.0; weeks],
            toned: vec![(0.0, 0.0); weeks],
            nps: vec![(0.0, 0.0, 0.0); weeks],
            responses: vec![(0.0, None); weeks],
        }
    }

    /// The window (0 = the latest) of a time at or before `as_of`, for windows of `length`
    /// seconds.
    pub fn window(time: i64, as_of: i64, length: i64) -> Option<usize> {
        (time <= as_of).then(|| ((as_of - time) / length) as usize)
    }

    /// The week window of a time, when the windows hold it.
    pub fn week(&self, time: i64, as_of: i64) -> Option<usize> {
        Windows::window(time, as_of, WEEK).filter(|&w| w < self.contacts.len())
    }

    /// The day window of a time, when the windows hold it.
    pub fn day(&self, time: i64, as_of: i64) -> Option<usize> {
        Windows::window(time, as_of, 86_400).filter(|&d| d < self.contacts_daily.len())
    }

    /// Count every customer's events (lists sorted by time) as of `as_of`.
    pub fn of(timelines: &[Timeline], first: i64, as_of: i64) -> Windows {
        let mut windows = Windows::new(first, as_of);
        let mut responses: Vec<Vec<i64>> = vec![Vec::new(); windows.contacts.len()];
        for timeline in timelines {
            for conversation in &timeline.conversations {
                if let Some(w) = windows.week(conversation.start, as_of) {
                    windows.contacts[w] += 1.0;
                    if let Some(tone) = conversation.opening {
                        windows.toned[w].1 += 1.0;
                        windows.toned[w].0 += f64::from(u8::from(tone == Tone::Negative));
                    }
                    if let Some(seconds) = conversation.first_response_seconds {
                        responses[w].push(seconds);
                    }
                }
                if let Some(d) = windows.day(conversation.start, as_of) {
                    windows.contacts_daily[d] += 1.0;
                }
            }
            for event in &timeline.engagement {
                if let Some(w) = windows.week(event.time, as_of) {
                    windows.engagement[w] += 1.0;
                }
            }
            for answer in timeline.answers.iter().filter(|a| a.survey == SurveyType::Nps) {
                if let Some(w) = windows.week(answer.time, as_of) {
                    windows.nps[w].2 += 1.0;
                    windows.nps[w].0 += f64::from(u8::from(answer.score >= 9.0));
                    windows.nps[w].1 += f64::from(u8::from(answer.score <= 6.0));
                }
            }
        }
        for (window, mut seconds) in responses.into_iter().enumerate() {
            seconds.sort_unstable();
            windows.responses[window] = (seconds.len() as f64, seconds.get(seconds.len() / 2).copied());
        }
        windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn poisson_floor(median: f64) -> f64 {
        median.max(1.0).sqrt()
    }

    #[test]
    fn limits_are_median_and_scaled_mad() {
        // Baseline 10, 12, 11, 13, 9: median 11, MAD 1 → scale 1.4826; k = 3.
        let limits = control_limits(&[10.0, 12.0, 11.0, 13.0, 9.0], 3.0, &|_| 0.0).expect("limits");
        assert!((limits.median - 11.0).abs() < 1e-12);
        assert!((limits.upper - (11.0 + 3.0 * 1.4826)).abs() < 1e-12);
        assert!(control_limits(&[1.0, 2.0, 3.0], 3.0, &|_| 0.0).is_none());
    }

    #[test]
    fn a_spike_is_found_and_quiet_weeks_rarely_alarm() {
        // 200 quiet weeks of about 50 contacts, then a week of 120.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut values: Vec<f64> = (0..200).map(|_| (0..100).filter(|_| rng.random::<f64>() < 0.5).count() as f64).collect();
        values.insert(0, 120.0);
        let judged = judge(&values, 12, 3.0, &poisson_floor);
        assert_eq!(judged[0].signal, 1);
        let quiet: Vec<&Judged> = judged[1..].iter().filter(|j| j.limits.is_some()).collect();
        let alarms = quiet.iter().filter(|j| j.signal != 0).count();
        assert!(alarms * 100 <= 2 * quiet.len(), "{alarms} false alarms in {} quiet weeks", quiet.len());
    }
}
