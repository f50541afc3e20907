//! Alerts: a leading indicator that moved beyond its baseline.
//!
//! Each indicator is a series over consecutive windows ending at the observation end (the
//! last 7 days, the 7 before, …; or days). A window is compared with the `baseline`
//! windows before it: robust control limits `median ± k × 1.4826 × MAD` (the MAD scaled to
//! a normal standard deviation; Hampel's identifier), with the scale never below `floor`
//! (for counts, the Poisson standard deviation √median, so a quiet series of small counts
//! does not alarm on noise). A window outside its limits is a signal, up or down. Running
//! the same rule over every window of the history counts the false alarms of quiet weeks.

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
