//! Relationship strength: an index from 0 to 100 per customer.
//!
//! Six factors, each read from the customer's timeline as of a time `t` and put on a
//! 0–1 scale:
//!
//! | factor | read as | scale |
//! | --- | --- | --- |
//! | `frequency` | distinct purchase days in the year before `t` | percentile among customers |
//! | `recency` | days since the last purchase (none: the lowest) | percentile, fewer days higher |
//! | `engagement` | breadth: distinct service channels, engagement kinds and surveys answered in the year before `t` | percentile |
//! | `sentiment` | mean tone of the customer's conversations in the year before `t` (closing message; negative 0, neutral ½, positive 1) | 0–1; none: ½ |
//! | `satisfaction` | the latest survey answer on its scale (NPS / 10, CSAT (s − 1) / 4, CES (7 − s) / 6) | 0–1; none: ½ |
//! | `advocacy` | the advocacy score (promoter, shares, positive reviews, referrals) / 100 | 0–1 |
//!
//! The index is `100 × Σ wᵢ fᵢ` with weights summing to 1. The weights are learned to
//! predict next-period spend: factors as of `as_of − period`, the target `ln(1 + net
//! spend in the period that follows)`, least squares with an intercept, factors whose
//! coefficient comes out negative dropped and the fit repeated (so that no factor lowers
//! strength), the remaining coefficients normalised. With fewer than 200 customers at the
//! split, fewer than 20 who spent in the period, or no positive coefficient, the
//! documented defaults [`DEFAULT_WEIGHTS`] are used and the model says why.

use rapport_core::survey::SurveyType;
use rapport_measures::{Advocacy, Timeline, Tone};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rank::mid_percentiles;

const DAY: i64 = 86_400;
const YEAR: i64 = 365 * DAY;

/// The factors, in the order of weights and values.
pub const FACTORS: [&str; 6] = ["frequency", "recency", "engagement", "sentiment", "satisfaction", "advocacy"];

/// Weights used when they cannot be learned.
pub const DEFAULT_WEIGHTS: [f64; 6] = [0.30, 0.25, 0.15, 0.10, 0.10, 0.10];

/// What the six factors read of one customer's events as of a time `t`: computed from a
/// timeline here ([`FactorInputs::of`]), or by the DataFusion plans of the same rules
/// (`rapport_sql::features`), so that the strength of a customer does not need the
/// timeline where it is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FactorInputs {
    /// Distinct local days with a non-negative purchase row in the year to `t`.
    pub purchase_days: u32,
    /// UTC seconds of the last non-negative purchase row at or before `t`.
    pub last_purchase: Option<i64>,
    /// Distinct channels of the conversations started in the year to `t`.
    pub channels: u32,
    /// Distinct engagement kinds in the year to `t`.
    pub engagement_kinds: u32,
    /// A survey answered in the year to `t`.
    pub surveyed: bool,
    /// Conversations started in the year to `t` with a tone (the closing message's, else
    /// the opening's).
    pub toned: u32,
    /// Their tones in half points: negative 0, neutral 1, positive 2 (whole numbers, so
    /// the sum is the same in any order).
    pub tone_halves: u32,
    /// The latest answer at or before `t` (by time, then score, then survey type), on a
    /// 0–1 scale.
    pub satisfaction: Option<f64>,
    /// Advocacy as of `t`.
    pub advocacy: Advocacy,
}

impl FactorInputs {
    /// Read a timeline (lists sorted by time) as of `t`.
    pub fn of(timeline: &Timeline, t: i64) -> FactorInputs {
        let year_before = t - YEAR;
        let mut days: Vec<i64> = timeline
            .purchases
            .iter()
            .filter(|p| p.time <= t && p.time > year_before && p.amount >= 0.0)
            .map(|p| i64::from(p.day))
            .collect();
        days.sort_unstable();
        days.dedup();
        let last_purchase = timeline.purchases.iter().filter(|p| p.time <= t && p.amount >= 0.0).map(|p| p.time).max();
        let recent_conversations = || timeline.conversations.iter().filter(|c| c.start <= t && c.start > year_before);
        let mut channels: Vec<&str> = recent_conversations().map(|c| c.channel.as_str()).collect();
        channels.sort_unstable();
        channels.dedup();
        let kinds =
            timeline.engagement.iter().filter(|e| e.time <= t && e.time > year_before).fold(0_u32, |mask, e| mask | 1 << (e.kind as u32));
        let halves: Vec<u32> = recent_conversations().filter_map(|c| c.closing.or(c.opening)).map(tone_halves).collect();
        let latest = timeline
            .answers
            .iter()
            .filter(|a| a.time <= t)
            .max_by(|a, b| a.time.cmp(&b.time).then(a.score.total_cmp(&b.score)).then(a.survey.cmp(&b.survey)));
        FactorInputs {
            purchase_days: days.len() as u32,
            last_purchase,
            channels: channels.len() as u32,
            engagement_kinds: kinds.count_ones(),
            surveyed: timeline.answers.iter().any(|a| a.time <= t && a.time > year_before),
            toned: halves.len() as u32,
            tone_halves: halves.iter().sum(),
            satisfaction: latest.map(|answer| satisfaction(answer.survey, answer.score)),
            advocacy: Advocacy::of(timeline, t),
        }
    }

    /// The raw factor values (before the 0–1 scaling) as of `t`; `None` where the
    /// customer has no data for one.
    pub fn raw(&self, t: i64) -> [Option<f64>; 6] {
        [
            Some(f64::from(self.purchase_days)),
            self.last_purchase.map(|time| ((t - time) / DAY) as f64),
            Some(f64::from(self.channels + self.engagement_kinds + u32::from(self.surveyed))),
            (self.toned > 0).then(|| f64::from(self.tone_halves) * 0.5 / f64::from(self.toned)),
            self.satisfaction,
            Some(self.advocacy.score() / 100.0),
        ]
    }
}

/// A tone in half points: negative 0, neutral 1, positive 2.
pub fn tone_halves(tone: Tone) -> u32 {
    match tone {
        Tone::Negative => 0,
        Tone::Neutral => 1,
        Tone::Positive => 2,
    }
}

/// An answer on the 0–1 scale of satisfaction: NPS / 10, CSAT (s − 1) / 4, CES (7 − s) / 6.
pub fn satisfaction(survey: SurveyType, score: f64) -> f64 {
    match survey {
        SurveyType::Nps => score / 10.0,
        SurveyType::Csat => (score - 1.0) / 4.0,
        SurveyType::Ces => (7.0 - score) / 6.0,
    }
}

/// Raw factor values of one customer as of `t` (before the 0–1 scaling); `None` where
/// the customer has no data for it.
pub fn raw_factors(timeline: &Timeline, t: i64) -> [Option<f64>; 6] {
    FactorInputs::of(timeline, t).raw(t)
}

/// The factors of every customer on the 0–1 scale, as of `t`: one row per timeline.
pub fn scaled_factors(timelines: &[&Timeline], t: i64) -> Vec<[f64; 6]> {
    let raw: Vec<[Option<f64>; 6]> = timelines.par_iter().map(|timeline| raw_factors(timeline, t)).collect();
    scale(&raw)
}

/// Raw factors on the 0–1 scale: frequency, recency and engagement as mid-rank
/// percentiles among these customers (no purchase: the lowest recency), sentiment and
/// satisfaction ½ and advocacy 0 where missing.
pub fn scale(raw: &[[Option<f64>; 6]]) -> Vec<[f64; 6]> {
    let column = |index: usize, missing: f64| raw.iter().map(|row| row[index].unwrap_or(missing)).collect::<Vec<f64>>();
    let frequency = mid_percentiles(&column(0, 0.0));
    let recency = mid_percentiles(&raw.iter().map(|row| row[1].map_or(f64::NEG_INFINITY, |days| -days)).collect::<Vec<_>>());
    let engagement = mid_percentiles(&column(2, 0.0));
    raw.iter()
        .enumerate()
        .map(|(i, row)| [frequency[i], recency[i], engagement[i], row[3].unwrap_or(0.5), row[4].unwrap_or(0.5), row[5].unwrap_or(0.0)])
        .collect()
}

/// The period after the split on which the weights are learned, days (a year, or half
/// of a shorter history: [`split_of`]).
pub const PERIOD_DAYS: i64 = 365;

/// What strength reads of one customer: the factors' inputs at the split and at the
/// observation end, and the net spend after the split.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StrengthInputs {
    /// As of the split.
    pub at_split: FactorInputs,
    /// As of the observation end.
    pub at_end: FactorInputs,
    /// Net spend in `(split, as_of]`, millionths ([`spend_after`]).
    pub spend_after_split: i128,
}

impl StrengthInputs {
    /// Read a timeline (lists sorted by time).
    pub fn of(timeline: &Timeline, split: i64, as_of: i64) -> StrengthInputs {
        StrengthInputs {
            at_split: FactorInputs::of(timeline, split),
            at_end: FactorInputs::of(timeline, as_of),
            spend_after_split: spend_after(timeline, split, as_of),
        }
    }
}

/// Net spend in `(split, as_of]` in millionths of the currency unit, summed exactly
/// (the same in any order, and so on any engine).
pub fn spend_after(timeline: &Timeline, split: i64, as_of: i64) -> i128 {
    timeline
        .purchases
        .iter()
        .filter(|p| p.time > split && p.time <= as_of)
        .map(|p| i128::from(rapport_core::summary::to_micros(p.amount)))
        .sum()
}

/// The split the weights are learned on, and the period after it: `as_of − period_days`,
/// or half of the history (from `first`, the first event in the data) when it is shorter
/// than two periods; at least a day.
pub fn split_of(as_of: i64, period_days: i64, first: i64) -> (i64, i64) {
    let period = (period_days * DAY).min((as_of - first) / 2).max(DAY);
    (as_of - period, period)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrengthModel {
    /// Weight of each factor of [`FACTORS`], summing to 1.
    pub weights: [f64; 6],
    /// Learned from the data (true) or the defaults (false).
    pub learned: bool,
    /// Why the defaults, or how the weights were learned.
    pub note: String,
    /// Customers at the split.
    pub customers: usize,
    /// The split (UTC seconds): factors as of it, spend after it.
    pub split: i64,
    /// Spearman correlation, on the customers at the split, between the index as of the
    /// split and the spend of the period after it.
    pub spearman: Option<f64>,
}

impl StrengthModel {
    /// The index (0–100) of factors on the 0–1 scale.
    pub fn index(&self, factors: &[f64; 6]) -> f64 {
        100.0 * self.weights.iter().zip(factors).map(|(w, f)| w * f).sum::<f64>()
    }

    /// The `count` factors that contribute most to this customer's index, largest first.
    pub fn top_factors(&self, factors: &[f64; 6], count: usize) -> Vec<&'static str> {
        let mut order: Vec<usize> = (0..6).filter(|&i| self.weights[i] > 0.0).collect();
        order.sort_by(|&a, &b| (self.weights[b] * factors[b]).total_cmp(&(self.weights[a] * factors[a])).then(a.cmp(&b)));
        order.into_iter().take(count).map(|i| FACTORS[i]).collect()
    }
}

/// The level of an index: `very weak` (< 20), `weak` (< 40), `moderate` (< 60), `strong`
/// (< 80), `very strong`.
pub fn level(index: f64) -> &'static str {
    match index {
        x if x < 20.0 => "very weak",
        x if x < 40.0 => "weak",
        x if x < 60.0 => "moderate",
        x if x < 80.0 => "strong",
        _ => "very strong",
    }
}

/// The time of a customer's first event of any kind (purchases, conversations, survey
/// answers, engagement; lists sorted by time): where the relationship's longevity starts.
pub fn first_event(timeline: &Timeline) -> Option<i64> {
    [
        timeline.purchases.first().map(|p| p.time),
        timeline.conversations.first().map(|c| c.start),
        timeline.answers.first().map(|a| a.time),
        timeline.engagement.first().map(|e| e.time),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Learn the weights on the split `as_of − period_days` (or half of the history when it
/// is shorter than two periods). `first` is the time of the first event in the data.
pub fn learn(timelines: &[Timeline], as_of: i64, period_days: i64, first: i64) -> StrengthModel {
    let (split, period) = split_of(as_of, period_days, first);
    let known: Vec<&Timeline> = timelines.iter().filter(|timeline| first_event(timeline).is_some_and(|time| time <= split)).collect();
    let raw: Vec<[Option<f64>; 6]> = known.par_iter().map(|timeline| raw_factors(timeline, split)).collect();
    let spend: Vec<i128> = known.par_iter().map(|timeline| spend_after(timeline, split, as_of)).collect();
    learn_from(&raw, &spend, split, period)
}

/// [`learn`] from what it reads of the customers known at the split (their first event at
/// or before it): their raw factors as of the split, and their net spend after it in
/// millionths ([`spend_after`]).
pub fn learn_from(raw: &[[Option<f64>; 6]], spend_micros: &[i128], split: i64, period: i64) -> StrengthModel {
    let known = raw.len();
    let defaults = |note: String, spearman: Option<f64>| StrengthModel {
        weights: DEFAULT_WEIGHTS,
        learned: false,
        note,
        customers: known,
        split,
        spearman,
    };
    let spend: Vec<f64> = spend_micros.iter().map(|&micros| (micros as f64 / 1e6).max(0.0)).collect();
    let spenders = spend.iter().filter(|&&s| s > 0.0).count();
    if known < 200 || spenders < 20 {
        return defaults(
            format!("default weights: {known} customers before the split and {spenders} who spent after it (learning needs 200 and 20)"),
            None,
        );
    }
    let factors = scale(raw);
    let target: Vec<f64> = spend.iter().map(|s| s.ln_1p()).collect();
    let mut active: Vec<usize> = (0..6).filter(|&i| factors.iter().any(|row| row[i] != factors[0][i])).collect();
    let mut coefficients = [0.0; 6];
    while !active.is_empty() {
        let x: Vec<Vec<f64>> = factors.iter().map(|row| std::iter::once(1.0).chain(active.iter().map(|&i| row[i])).collect()).collect();
        let Some(fit) = rapport_stats::regression::ols_hc1(&x, &target) else {
            break;
        };
        let negative: Vec<usize> = active.iter().enumerate().filter(|(j, _)| fit.coefficients[j + 1] <= 0.0).map(|(_, &i)| i).collect();
        if negative.is_empty() {
            for (j, &i) in active.iter().enumerate() {
                coefficients[i] = fit.coefficients[j + 1];
            }
            break;
        }
        active.retain(|i| !negative.contains(i));
    }
    let total: f64 = coefficients.iter().sum();
    if total <= 0.0 {
        return defaults("default weights: no factor predicted next-period spend".into(), None);
    }
    let mut weights = [0.0; 6];
    for i in 0..6 {
        weights[i] = coefficients[i] / total;
    }
    let mut model = StrengthModel {
        weights,
        learned: true,
        note: format!("learned on {known} customers: factors as of the split, ln(1 + spend) over the {} days after it", period / DAY),
        customers: known,
        split,
        spearman: None,
    };
    let index: Vec<f64> = factors.iter().map(|row| model.index(row)).collect();
    model.spearman = Some(crate::rank::spearman(&index, &spend));
    model
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_measures::Purchase;

    fn buyer(id: usize, times: &[i64]) -> Timeline {
        Timeline {
            customer: id.to_string(),
            purchases: times
                .iter()
                .map(|&time| Purchase { time, day: (time / DAY) as i32, amount: 10.0, margin: None, order_time: None, order: 0 })
                .collect(),
            ..Timeline::default()
        }
    }

    #[test]
    fn the_index_is_a_weighted_share_of_the_factors() {
        let model = StrengthModel { weights: DEFAULT_WEIGHTS, learned: false, note: String::new(), customers: 0, split: 0, spearman: None };
        assert!((model.index(&[1.0; 6]) - 100.0).abs() < 1e-12);
        assert_eq!(model.index(&[0.0; 6]), 0.0);
        assert_eq!(model.top_factors(&[0.1, 0.9, 0.0, 0.0, 0.0, 1.0], 2), vec!["recency", "advocacy"]);
        assert_eq!(level(79.9), "strong");
    }

    #[test]
    fn frequent_recent_buyers_are_stronger_and_the_weights_are_learned() {
        // Customers buy every `gap` days for two years; the frequent ones keep buying.
        let as_of = 2 * YEAR;
        let timelines: Vec<Timeline> = (0..400)
            .map(|id| {
                let gap = 5 + (id % 40) as i64 * 9;
                let times: Vec<i64> = (0..).map(|k| k * gap * DAY + id as i64).take_while(|&t| t < as_of).collect();
                buyer(id, &times)
            })
            .collect();
        let model = learn(&timelines, as_of, 365, 0);
        assert!(model.learned, "{}", model.note);
        assert!((model.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(model.weights.iter().all(|&w| w >= 0.0));
        assert!(model.spearman.expect("spearman") > 0.8);
        let all: Vec<&Timeline> = timelines.iter().collect();
        let factors = scaled_factors(&all, as_of);
        assert!(model.index(&factors[0]) > model.index(&factors[39]));
    }

    #[test]
    fn too_few_customers_use_the_defaults() {
        let timelines: Vec<Timeline> = (0..10).map(|id| buyer(id, &[0, 100 * DAY])).collect();
        let model = learn(&timelines, 400 * DAY, 365, 0);
        assert!(!model.learned && model.weights == DEFAULT_WEIGHTS && model.note.contains("200"));
    }
}
