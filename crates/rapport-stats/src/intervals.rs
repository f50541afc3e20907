//! Confidence intervals for the rates and scores a brand reports: a proportion (CSAT
//! top-2-box, resolution rate, recovery rate) by Wilson's score interval, the Net
//! Promoter Score by the Wald and adjusted-Wald intervals for a difference of two
//! proportions of one sample, a mean (CES) by Student's t, and the change of an NPS
//! between two periods. Every interval carries its estimate and sample size, so a
//! small group is never shown as a bare percentage.
//!
//! Sources: Wilson (1927), "Probable inference, the law of succession, and statistical
//! inference", JASA 22; Agresti & Coull (1998) on why Wilson over Wald for proportions;
//! Rocks (2016), "Interval estimation for the 'net promoter score'", The American
//! Statistician 70(4); Sauro & Lewis, *Quantifying the User Experience* (2nd ed., 2016),
//! and MeasuringU's adjusted-Wald NPS interval: add 3 to the sample and ¾ to the
//! promoters and to the detractors at 95% (here z²/4 ≈ 0.96 in place of 1, so the
//! adjustment follows the confidence level).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// An estimate with its interval and the sample it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The point estimate.
    pub estimate: f64,
    /// Lower bound (NaN when the sample is empty).
    pub lower: f64,
    /// Upper bound (NaN when the sample is empty).
    pub upper: f64,
    /// Sample size.
    pub n: u64,
}

impl Interval {
    /// Whether `value` lies within the interval (bounds included).
    pub fn covers(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }

    /// Half the interval's width.
    pub fn margin(&self) -> f64 {
        (self.upper - self.lower) / 2.0
    }

    /// No estimate: every figure NaN, from no observations.
    pub fn empty() -> Interval {
        Interval { estimate: f64::NAN, lower: f64::NAN, upper: f64::NAN, n: 0 }
    }

    /// The interval scaled (a proportion as a percentage, or an NPS as points).
    pub fn scaled(self, factor: f64) -> Interval {
        Interval { estimate: self.estimate * factor, lower: self.lower * factor, upper: self.upper * factor, ..self }
    }
}

/// The two-sided normal quantile for `confidence` (0.95 → 1.959964).
pub fn z_for(confidence: f64) -> f64 {
    let normal = Normal::new(0.0, 1.0).expect("the standard normal");
    normal.inverse_cdf(0.5 + confidence / 2.0)
}

/// Wilson's score interval for `successes` out of `n`: inside [0, 1] always, and
/// sensible at 0 of n and n of n, where the Wald interval collapses to a point.
pub fn wilson(successes: u64, n: u64, confidence: f64) -> Interval {
    if n == 0 {
        return Interval::empty();
    }
    let z = z_for(confidence);
    let (k, n_f) = (successes as f64, n as f64);
    let p = k / n_f;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denominator;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denominator;
    // At 0 of n and n of n the bounds are exactly 0 and 1 (rounding could leave 1e-17).
    let lower = if successes == 0 { 0.0 } else { (centre - half).max(0.0) };
    let upper = if successes == n { 1.0 } else { (centre + half).min(1.0) };
    Interval { estimate: p, lower, upper, n }
}

/// Wilson's score bounds for a proportion `p` of an effective sample of `n` (not
/// necessarily whole), exactly 0 and 1 at the ends.
fn wilson_of(p: f64, n: f64, confidence: f64) -> (f64, f64) {
    let z = z_for(confidence);
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    let lower = if p <= 0.0 { 0.0 } else { (centre - half).max(0.0) };
    let upper = if p >= 1.0 { 1.0 } else { (centre + half).min(1.0) };
    (lower, upper)
}

/// Counts of one NPS question: answers 9–10 promoters, 0–6 detractors, 7–8 passives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NpsCounts {
    /// Answers of 9 or 10.
    pub promoters: u64,
    /// Answers of 7 or 8.
    pub passives: u64,
    /// Answers of 0 to 6.
    pub detractors: u64,
}

impl NpsCounts {
    /// Count one answer on the 0–10 scale.
    pub fn add(&mut self, score: f64) {
        if score >= 9.0 {
            self.promoters += 1;
        } else if score >= 7.0 {
            self.passives += 1;
        } else {
            self.detractors += 1;
        }
    }

    /// All answers.
    pub fn n(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }

    /// The NPS as a fraction in [−1, 1] (× 100 for points).
    pub fn score(&self) -> f64 {
        (self.promoters as f64 - self.detractors as f64) / self.n() as f64
    }

    /// Wald interval of the NPS (fraction): the variance of the difference of two
    /// proportions of one multinomial sample, (p + d − (p − d)²) / n.
    pub fn wald(&self, confidence: f64) -> Interval {
        let n = self.n();
        if n == 0 {
            return Interval::empty();
        }
        let (estimate, half) = nps_and_margin(self.promoters as f64, self.detractors as f64, n as f64, z_for(confidence));
        Interval { estimate, lower: (estimate - half).max(-1.0), upper: (estimate + half).min(1.0), n }
    }

    /// Adjusted-Wald interval of the NPS (fraction): the Wald interval of the counts with
    /// z²/4 added to the promoters and detractors and 3·z²/4 to the sample (Sauro &
    /// Lewis's "add ¾ and 3" at 95%), centred on the adjusted NPS. Better coverage than
    /// Wald for small samples and extreme scores (Rocks 2016). The estimate reported is
    /// the adjusted NPS, as in the worked example (29.6 for 100 promoters and 40
    /// detractors of 200).
    pub fn adjusted_wald(&self, confidence: f64) -> Interval {
        let n = self.n();
        if n == 0 {
            return Interval::empty();
        }
        let z = z_for(confidence);
        let adjustment = z * z / 4.0;
        let (estimate, half) = nps_and_margin(
            self.promoters as f64 + adjustment * 0.75,
            self.detractors as f64 + adjustment * 0.75,
            n as f64 + 3.0 * adjustment,
            z,
        );
        Interval { estimate, lower: (estimate - half).max(-1.0), upper: (estimate + half).min(1.0), n }
    }

    /// The change of the NPS from `earlier` to these answers, with the adjusted-Wald
    /// interval of a difference of two independent NPS (the variances add).
    pub fn change_since(&self, earlier: &NpsCounts, confidence: f64) -> Interval {
        let (n_now, n_then) = (self.n(), earlier.n());
        if n_now == 0 || n_then == 0 {
            return Interval::empty();
        }
        let z = z_for(confidence);
        let adjustment = z * z / 4.0;
        let moments = |counts: &NpsCounts| {
            let n = counts.n() as f64 + 3.0 * adjustment;
            let p = (counts.promoters as f64 + adjustment * 0.75) / n;
            let d = (counts.detractors as f64 + adjustment * 0.75) / n;
            (p - d, (p + d - (p - d) * (p - d)) / n)
        };
        let ((now, variance_now), (then, variance_then)) = (moments(self), moments(earlier));
        let estimate = now - then;
        let half = z * (variance_now + variance_then).sqrt();
        Interval { estimate, lower: (estimate - half).max(-2.0), upper: (estimate + half).min(2.0), n: n_now + n_then }
    }
}

fn nps_and_margin(promoters: f64, detractors: f64, n: f64, z: f64) -> (f64, f64) {
    let (p, d) = (promoters / n, detractors / n);
    let score = p - d;
    let variance = (p + d - score * score) / n;
    (score, z * variance.max(0.0).sqrt())
}

/// Student's t interval of a mean (CES, say), from the values' count, mean and sample
/// standard deviation. One value gives the mean with no interval (NaN bounds).
pub fn mean_t(values: &[f64], confidence: f64) -> Interval {
    let n = values.len() as u64;
    if n == 0 {
        return Interval::empty();
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if n == 1 {
        return Interval { estimate: mean, lower: f64::NAN, upper: f64::NAN, n };
    }
    let variance = values.iter().map(|value| (value - mean) * (value - mean)).sum::<f64>() / (values.len() - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("degrees of freedom ≥ 1").inverse_cdf(0.5 + confidence / 2.0);
    let half = t * (variance / n as f64).sqrt();
    Interval { estimate: mean, lower: mean - half, upper: mean + half, n }
}

/// Count, mean and sum of squared deviations of a stream of values (Welford 1962;
/// Chan, Golub & LeVeque 1979 for the merge), so a mean and its interval can be
/// computed on partitions and merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Values seen.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Add one value.
    pub fn add(&mut self, value: f64) {
        self.n += 1;
        let delta = value - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (value - self.mean);
    }

    /// Merge the moments of another partition.
    pub fn merge(&mut self, other: &Moments) {
        if other.n == 0 {
            return;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        self.mean += delta * other.n as f64 / n as f64;
        self.m2 += other.m2 + delta * delta * self.n as f64 * other.n as f64 / n as f64;
        self.n = n;
    }

    /// Sample variance (n − 1 in the denominator); NaN below two values.
    pub fn variance(&self) -> f64 {
        if self.n < 2 { f64::NAN } else { self.m2 / (self.n - 1) as f64 }
    }

    /// Student's t interval of the mean, as [`mean_t`].
    pub fn mean_t(&self, confidence: f64) -> Interval {
        match self.n {
            0 => Interval::empty(),
            1 => Interval { estimate: self.mean, lower: f64::NAN, upper: f64::NAN, n: 1 },
            n => {
                let t = t_quantile((n - 1) as f64, confidence);
                let half = t * (self.variance() / n as f64).sqrt();
                Interval { estimate: self.mean, lower: self.mean - half, upper: self.mean + half, n }
            }
        }
    }
}

fn t_quantile(degrees_of_freedom: f64, confidence: f64) -> f64 {
    StudentsT::new(0.0, 1.0, degrees_of_freedom).expect("degrees of freedom > 0").inverse_cdf(0.5 + confidence / 2.0)
}

/// The difference of two independent proportions, `a_successes / a_n − b_successes /
/// b_n`, with Newcombe's hybrid score interval (Newcombe 1998, "Interval estimation for
/// the difference between independent proportions", Statistics in Medicine 17, method
/// 10), built from the two Wilson intervals: well behaved for small groups and rates
/// near 0 or 1, where the Wald interval is not. `n` is the two groups together.
pub fn newcombe_difference(a_successes: u64, a_n: u64, b_successes: u64, b_n: u64, confidence: f64) -> Interval {
    if a_n == 0 || b_n == 0 {
        return Interval { n: a_n + b_n, ..Interval::empty() };
    }
    let (a, b) = (wilson(a_successes, a_n, confidence), wilson(b_successes, b_n, confidence));
    let difference = a.estimate - b.estimate;
    let lower = difference - ((a.estimate - a.lower).powi(2) + (b.upper - b.estimate).powi(2)).sqrt();
    let upper = difference + ((a.upper - a.estimate).powi(2) + (b.estimate - b.lower).powi(2)).sqrt();
    Interval { estimate: difference, lower, upper, n: a_n + b_n }
}

/// The difference of two independent means, `a − b`, with Welch's t interval
/// (Welch 1947; Satterthwaite's degrees of freedom): no equal-variance assumption.
pub fn welch_difference(a: &Moments, b: &Moments, confidence: f64) -> Interval {
    let n = a.n + b.n;
    if a.n < 2 || b.n < 2 {
        return Interval { estimate: a.mean - b.mean, lower: f64::NAN, upper: f64::NAN, n };
    }
    let (va, vb) = (a.variance() / a.n as f64, b.variance() / b.n as f64);
    let standard_error = (va + vb).sqrt();
    let difference = a.mean - b.mean;
    if standard_error == 0.0 {
        return Interval { estimate: difference, lower: difference, upper: difference, n };
    }
    let degrees = (va + vb).powi(2) / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
    let half = t_quantile(degrees, confidence) * standard_error;
    Interval { estimate: difference, lower: difference - half, upper: difference + half, n }
}

/// The `q`-quantile of `sorted` values (ascending) with its distribution-free interval
/// from order statistics: the ranks `n q ∓ z √(n q (1 − q))` of the normal
/// approximation to the binomial count of values below the quantile (Conover,
/// *Practical Nonparametric Statistics*, 3rd ed., §3.2). The estimate is the value of
/// rank ⌈n q⌉ (the lower median for q = ½, as a percentile rank reads).
///
/// A bound no order statistic reaches at the confidence is NaN rather than the smallest
/// or largest value: even the minimum lies below the quantile only with probability
/// 1 − (1 − q)ⁿ, so with fewer values than that needs (6 for a median at 95%, 36 for the
/// upper bound of a 90th percentile) the data cannot bound it, and a one-value "interval"
/// is not one.
pub fn quantile_interval(sorted: &[f64], q: f64, confidence: f64) -> Interval {
    let n = sorted.len();
    if n == 0 {
        return Interval::empty();
    }
    let n_f = n as f64;
    let rank = |position: f64| (position.clamp(1.0, n_f) as usize) - 1;
    let estimate = sorted[rank((n_f * q).ceil())];
    let half = z_for(confidence) * (n_f * q * (1.0 - q)).sqrt();
    let tail = (1.0 - confidence) / 2.0;
    let lower = if (1.0 - q).powf(n_f) > tail {
        f64::NAN
    } else if n_f * q - half < 1.0 {
        sorted[0]
    } else {
        sorted[rank((n_f * q - half).floor())]
    };
    let upper = if q.powf(n_f) > tail { f64::NAN } else { sorted[rank((n_f * q + half).ceil() + 1.0)] };
    Interval { estimate, lower, upper, n: n as u64 }
}

/// Pearson's correlation of paired values with its interval by Fisher's z
/// transformation (Fisher 1921): atanh(r) ± z / √(n − 3). Needs at least four pairs
/// and some spread in both.
pub fn pearson(pairs: &[(f64, f64)], confidence: f64) -> Interval {
    let n = pairs.len();
    if n < 4 {
        return Interval { n: n as u64, ..Interval::empty() };
    }
    let (mean_x, mean_y) = (pairs.iter().map(|p| p.0).sum::<f64>() / n as f64, pairs.iter().map(|p| p.1).sum::<f64>() / n as f64);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
        syy += (y - mean_y) * (y - mean_y);
    }
    if sxx == 0.0 || syy == 0.0 {
        return Interval { n: n as u64, ..Interval::empty() };
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let half = z_for(confidence) / ((n - 3) as f64).sqrt();
    let centre = r.clamp(-0.999_999_999, 0.999_999_999).atanh();
    Interval { estimate: r, lower: (centre - half).tanh(), upper: (centre + half).tanh(), n: n as u64 }
}

/// A proportion of events nested in clusters (self-service sessions of customers), with
/// the cluster-robust variance of the ratio estimator (Cochran, *Sampling Techniques*,
/// 3rd ed., §6.4; the sandwich variance with clusters as units): events of one customer
/// are not independent, and Wilson's interval, which assumes they are, is too narrow
/// when they move together. Mergeable: sums over clusters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusteredProportion {
    /// Clusters with at least one event.
    pub clusters: u64,
    /// Σ successes.
    pub successes: f64,
    /// Σ events.
    pub events: f64,
    /// Σ successes².
    pub successes_squared: f64,
    /// Σ events².
    pub events_squared: f64,
    /// Σ successes × events.
    pub cross: f64,
}

impl ClusteredProportion {
    /// Add one cluster's successes out of its events (nothing if it has none).
    pub fn add(&mut self, successes: u64, events: u64) {
        if events == 0 {
            return;
        }
        let (y, n) = (successes as f64, events as f64);
        self.clusters += 1;
        self.successes += y;
        self.events += n;
        self.successes_squared += y * y;
        self.events_squared += n * n;
        self.cross += y * n;
    }

    /// Merge another partition's sums.
    pub fn merge(&mut self, other: &ClusteredProportion) {
        self.clusters += other.clusters;
        self.successes += other.successes;
        self.events += other.events;
        self.successes_squared += other.successes_squared;
        self.events_squared += other.events_squared;
        self.cross += other.cross;
    }

    /// The proportion with its normal interval on the cluster-robust standard error
    /// (clamped to [0, 1]); `n` is the number of events.
    ///
    /// Where that standard error says nothing — every event a success or every one a
    /// failure (it is then 0, an interval of zero width), or a single cluster (no
    /// variance between clusters) — the interval is Wilson's with the clusters as the
    /// sample: the most a clustered sample can be worth (its events perfectly alike
    /// within a cluster), so it is never narrower than the data allow.
    pub fn interval(&self, confidence: f64) -> Interval {
        if self.events == 0.0 {
            return Interval::empty();
        }
        let p = self.successes / self.events;
        let n = self.events as u64;
        if self.clusters < 2 || self.successes == 0.0 || self.successes == self.events {
            let by_clusters = wilson_of(p, self.clusters.max(1) as f64, confidence);
            return Interval { estimate: p, lower: by_clusters.0, upper: by_clusters.1, n };
        }
        let clusters = self.clusters as f64;
        let residuals = (self.successes_squared - 2.0 * p * self.cross + p * p * self.events_squared).max(0.0);
        let standard_error = (clusters / (clusters - 1.0) * residuals).sqrt() / self.events;
        let half = z_for(confidence) * standard_error;
        Interval { estimate: p, lower: (p - half).max(0.0), upper: (p + half).min(1.0), n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    /// Newcombe (1998), Table II, example (a): 56/70 − 48/80 = 0.2000, method 10
    /// interval 0.0524 to 0.3339 (to the four decimals printed).
    #[test]
    fn newcombe_difference_matches_newcombe_1998_table_2() {
        let difference = newcombe_difference(56, 70, 48, 80, 0.95);
        assert!(close(difference.estimate, 0.2, 1e-12));
        assert!(close(difference.lower, 0.0524, 5e-5), "{difference:?}");
        assert!(close(difference.upper, 0.3339, 5e-5), "{difference:?}");
        assert_eq!(difference.n, 150);
    }

    const WELCH: (f64, f64, f64) = (1.643333333333334, 0.2968824685008129, 2.989784198165855);

    /// scipy 1.x `ttest_ind(a, b, equal_var=False).confidence_interval(0.95)`.
    #[test]
    fn welch_difference_matches_scipy() {
        let mut a = Moments::default();
        let mut b = Moments::default();
        [3.1, 4.5, 2.2, 5.9, 4.4, 3.8].into_iter().for_each(|value| a.add(value));
        [2.0, 2.5, 1.9, 3.1, 2.2].into_iter().for_each(|value| b.add(value));
        let difference = welch_difference(&a, &b, 0.95);
        assert!(close(difference.estimate, WELCH.0, 1e-12));
        assert!(close(difference.lower, WELCH.1, 1e-6), "{difference:?}");
        assert!(close(difference.upper, WELCH.2, 1e-6), "{difference:?}");
    }

    const PEARSON: (f64, f64, f64) = (0.9953259152689204, 0.9672846564169474, 0.9993402674567503);

    /// scipy 1.x `pearsonr(x, y).confidence_interval(0.95)` (Fisher's z).
    #[test]
    fn pearson_matches_scipy() {
        let pairs: Vec<(f64, f64)> = [(1.0, 2.1), (2.0, 3.9), (3.0, 6.2), (4.0, 7.8), (5.0, 9.9), (6.0, 12.5), (7.0, 13.1)].to_vec();
        let r = pearson(&pairs, 0.95);
        assert!(close(r.estimate, PEARSON.0, 1e-9) && close(r.lower, PEARSON.1, 1e-9) && close(r.upper, PEARSON.2, 1e-9), "{r:?}");
        assert!(pearson(&pairs[..3], 0.95).estimate.is_nan());
    }

    /// Clusters (2 of 3), (0 of 1), (4 of 4), (1 of 2): p = 7/10; the sandwich variance
    /// C/(C−1) Σ(y − p n)² / N² = 4/3 × (0.01 + 0.49 + 1.44 + 0.16) / 100 = 0.028, so the
    /// standard error is √0.028 = 0.167332 (numpy, by hand).
    #[test]
    fn clustered_proportion_worked_example() {
        let mut clustered = ClusteredProportion::default();
        for (y, n) in [(2, 3), (0, 1), (4, 4), (1, 2)] {
            clustered.add(y, n);
        }
        clustered.add(0, 0);
        let interval = clustered.interval(0.95);
        assert!(close(interval.estimate, 0.7, 1e-12) && interval.n == 10);
        assert!(close((interval.estimate - interval.lower) / z_for(0.95), 0.028_f64.sqrt(), 1e-9), "{interval:?}");
        assert_eq!(interval.upper, 1.0, "clamped to 1");
        let (mut left, mut right) = (ClusteredProportion::default(), ClusteredProportion::default());
        left.add(2, 3);
        left.add(0, 1);
        right.add(4, 4);
        right.add(1, 2);
        left.merge(&right);
        assert_eq!(left, clustered);
    }

    /// Where the cluster-robust standard error is 0 or undefined, the interval is
    /// Wilson's on the clusters: 0 of 2 events in two clusters is [0, 0.6576] (Wilson
    /// 0/2, as statsmodels' `proportion_confint(0, 2, method="wilson")` gives), not [0, 0];
    /// 1 of 3 events in one cluster is Wilson's bounds of 1/3 with n = 1.
    #[test]
    fn clustered_proportion_without_a_spread_is_as_wide_as_its_clusters_allow() {
        let mut none = ClusteredProportion::default();
        none.add(0, 1);
        none.add(0, 1);
        let interval = none.interval(0.95);
        assert_eq!((interval.estimate, interval.lower, interval.n), (0.0, 0.0, 2));
        assert!(close(interval.upper, 0.657_62, 1e-5), "{interval:?}");
        let mut all = ClusteredProportion::default();
        all.add(3, 3);
        all.add(5, 5);
        let interval = all.interval(0.95);
        assert_eq!((interval.estimate, interval.upper), (1.0, 1.0));
        assert!(close(interval.lower, 1.0 - 0.657_62, 1e-5), "{interval:?}");
        let mut one = ClusteredProportion::default();
        one.add(1, 3);
        let interval = one.interval(0.95);
        let expected = wilson_of(1.0 / 3.0, 1.0, 0.95);
        assert!(interval.lower.is_finite() && interval.lower < interval.estimate && interval.upper > interval.estimate);
        assert_eq!((interval.lower, interval.upper), expected);
    }

    /// Split-then-merge equals one pass.
    #[test]
    fn moments_merge_equals_one_pass() {
        let values: Vec<f64> = (0..50).map(|i| ((i * 37) % 11) as f64 * 0.7 + 1.0).collect();
        let mut whole = Moments::default();
        values.iter().for_each(|value| whole.add(*value));
        let (mut left, mut right) = (Moments::default(), Moments::default());
        values[..17].iter().for_each(|value| left.add(*value));
        values[17..].iter().for_each(|value| right.add(*value));
        left.merge(&right);
        assert_eq!(left.n, whole.n);
        assert!(close(left.mean, whole.mean, 1e-12) && close(left.m2, whole.m2, 1e-9));
        let direct = mean_t(&values, 0.95);
        let merged = left.mean_t(0.95);
        assert!(close(direct.lower, merged.lower, 1e-9) && close(direct.upper, merged.upper, 1e-9));
    }

    /// The order-statistic interval of a median of 100 values is X(40) to X(61), as in
    /// the binomial tables (Conover 1999, Table A3; n = 100, 95%).
    #[test]
    fn median_interval_matches_binomial_tables() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let median = quantile_interval(&values, 0.5, 0.95);
        assert_eq!((median.estimate, median.lower, median.upper, median.n), (50.0, 40.0, 61.0, 100));
        // One value estimates the median but cannot bound it; six can ([min, max] covers
        // with probability 1 − 2 / 2⁶ ≥ 95%), five cannot (1 − 2 / 2⁵ < 95%).
        let single = quantile_interval(&[7.0], 0.5, 0.95);
        assert_eq!((single.estimate, single.n), (7.0, 1));
        assert!(single.lower.is_nan() && single.upper.is_nan(), "{single:?}");
        let five = quantile_interval(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5, 0.95);
        assert!(five.lower.is_nan() && five.upper.is_nan(), "{five:?}");
        let six = quantile_interval(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.5, 0.95);
        assert_eq!((six.lower, six.upper), (1.0, 6.0));
        // The 90th percentile's upper bound needs 0.9ⁿ ≤ 2.5%: 35 values do not give one.
        let values: Vec<f64> = (1..=35).map(f64::from).collect();
        let p90 = quantile_interval(&values, 0.9, 0.95);
        assert!(p90.upper.is_nan() && p90.lower.is_finite(), "{p90:?}");
        let values: Vec<f64> = (1..=36).map(f64::from).collect();
        assert_eq!(quantile_interval(&values, 0.9, 0.95).upper, 36.0);
    }

    /// The worked example of the issue "A brand's whole relationship picture" (after
    /// Sauro & Lewis / MeasuringU): 200 answers, 100 promoters, 40 detractors: NPS 30 ±
    /// 10.8 by Wald, 29.6 ± 10.7 by adjusted-Wald (to the 0.1 point shown).
    #[test]
    fn nps_worked_example() {
        let counts = NpsCounts { promoters: 100, passives: 60, detractors: 40 };
        let wald = counts.wald(0.95).scaled(100.0);
        assert!(close(wald.estimate, 30.0, 1e-12));
        assert!(close(wald.margin(), 10.8, 0.05), "{wald:?}");
        let adjusted = counts.adjusted_wald(0.95).scaled(100.0);
        assert!(close(adjusted.estimate, 29.6, 0.05), "{adjusted:?}");
        assert!(close(adjusted.margin(), 10.7, 0.05), "{adjusted:?}");
        assert_eq!(adjusted.n, 200);
        // Scores map to categories at the published cut-offs.
        let mut counted = NpsCounts::default();
        for score in [0.0, 6.0, 7.0, 8.0, 9.0, 10.0] {
            counted.add(score);
        }
        assert_eq!(counted, NpsCounts { promoters: 2, passives: 2, detractors: 2 });
    }

    /// Wilson at the edges: 0 of n and n of n are [0, u] and [l, 1], not a point; the
    /// known value for 0 of 10 at 95% is [0, 0.2775] (z²/(n + z²)).
    #[test]
    fn wilson_at_zero_and_all() {
        let none = wilson(0, 10, 0.95);
        assert_eq!(none.lower, 0.0);
        let z2 = z_for(0.95).powi(2);
        assert!(close(none.upper, z2 / (10.0 + z2), 1e-12), "{none:?}");
        assert!(close(none.upper, 0.2775, 1e-4));
        let all = wilson(10, 10, 0.95);
        assert_eq!(all.upper, 1.0);
        assert!(close(all.lower, 1.0 - z2 / (10.0 + z2), 1e-12), "{all:?}");
        // 81 of 263 (Wilson 1927's style of example; value from the closed form, checked
        // against R's prop.test(correct = FALSE)): [0.2553, 0.3662].
        let some = wilson(81, 263, 0.95);
        assert!(close(some.lower, 0.2553, 5e-4) && close(some.upper, 0.3662, 5e-4), "{some:?}");
        assert!(wilson(0, 0, 0.95).lower.is_nan());
    }

    /// CES mean with Student's t: 1, 2, …, 7 has mean 4, s = 2.1602, t(6, 0.975) =
    /// 2.4469, half-width 1.9978.
    #[test]
    fn ces_mean_with_t_interval() {
        let values: Vec<f64> = (1..=7).map(f64::from).collect();
        let interval = mean_t(&values, 0.95);
        assert!(close(interval.estimate, 4.0, 1e-12));
        assert!(close(interval.margin(), 1.9978, 1e-3), "{interval:?}");
        assert!(mean_t(&[5.0], 0.95).lower.is_nan(), "one value: no interval");
    }

    /// The change between two equal periods is centred on 0 and wider than either
    /// period's own interval.
    #[test]
    fn nps_change_between_periods() {
        let counts = NpsCounts { promoters: 100, passives: 60, detractors: 40 };
        let change = counts.change_since(&counts, 0.95);
        assert!(close(change.estimate, 0.0, 1e-12));
        assert!(change.margin() > counts.adjusted_wald(0.95).margin() * 1.4);
        assert_eq!(change.n, 400);
    }

    /// Coverage: for a known multinomial, the adjusted-Wald NPS interval covers the true
    /// NPS in about 95% of 4,000 simulated samples of 50 (deterministic generator).
    #[test]
    fn adjusted_wald_covers_about_95_percent() {
        let (p_promoter, p_detractor) = (0.45, 0.25);
        let truth = p_promoter - p_detractor;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let trials = 4_000;
        let mut covered = 0;
        for _ in 0..trials {
            let mut counts = NpsCounts::default();
            for _ in 0..50 {
                let u = uniform();
                counts.add(if u < p_promoter {
                    10.0
                } else if u < p_promoter + p_detractor {
                    3.0
                } else {
                    8.0
                });
            }
            covered += usize::from(counts.adjusted_wald(0.95).covers(truth));
        }
        let rate = covered as f64 / trials as f64;
        assert!((0.93..=0.97).contains(&rate), "coverage {rate}");
    }
}
