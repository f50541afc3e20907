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

/// Raw factor values of one customer as of `t` (before the 0–1 scaling); `None` where
/// the customer has no data for it.
pub fn raw_factors(timeline: &Timeline, t: i64) -> [Option<f64>; 6] {
    let year_before = t - YEAR;
    let mut days: Vec<i64> =
        timeline.purchases.iter().filter(|p| p.time <= t && p.time > year_before && p.amount >= 0.0).map(|p| i64::from(p.day)).collect();
    days.dedup();
    let last_purchase = timeline.purchases.iter().rev().find(|p| p.time <= t && p.amount >= 0.0);
    let recent_conversations = || timeline.conversations.iter().filter(|c| c.start <= t && c.start > year_before);
    let mut channels: Vec<&str> = recent_conversations().map(|c| c.channel.as_str()).collect();
    channels.sort_unstable();
    channels.dedup();
    // Distinct engagement kinds, as bits of a mask.
    let kinds =
        timeline.engagement.iter().filter(|e| e.time <= t && e.time > year_before).fold(0_u32, |mask, e| mask | 1 << (e.kind as u32));
    let surveyed = timeline.answers.iter().any(|a| a.time <= t && a.time > year_before);
    let tones: Vec<f64> = recent_conversations()
        .filter_map(|c| c.closing.or(c.opening))
        .map(|tone| match tone {
            Tone::Negative => 0.0,
            Tone::Neutral => 0.5,
            Tone::Positive => 1.0,
        })
        .collect();
    let satisfaction = timeline.answers.iter().rev().find(|a| a.time <= t).map(|answer| match answer.survey {
        SurveyType::Nps => answer.score / 10.0,
        SurveyType::Csat => (answer.score - 1.0) / 4.0,
        SurveyType::Ces => (7.0 - answer.score) / 6.0,
    });
    [
        Some(days.len() as f64),
        last_purchase.map(|p| ((t - p.time) / DAY) as f64),
        Some((channels.len() + kinds.count_ones() as usize + usize::from(surveyed)) as f64),
        (!tones.is_empty()).then(|| tones.iter().sum::<f64>() / tones.len() as f64),
        satisfaction,
        Some(Advocacy::of(timeline, t).score() / 100.0),
    ]
}

/// The factors of every customer on the 0–1 scale, as of `t`: one row per timeline.
pub fn scaled_factors(timelines: &[&Timeline], t: i64) -> Vec<[f64; 6]> {
    let raw: Vec<[Option<f64>; 6]> = timelines.par_iter().map(|timeline| raw_factors(timeline, t)).collect();
    let column = |index: usize, missing: f64| raw.iter().map(|row| row[index].unwrap_or(missing)).collect::<Vec<f64>>();
    let frequency = mid_percentiles(&column(0, 0.0));
    // Fewer days since the last purchase is stronger; never bought is the weakest.
    let recency = mid_percentiles(&raw.iter().map(|row| row[1].map_or(f64::NEG_INFINITY, |days| -days)).collect::<Vec<_>>());
    let engagement = mid_percentiles(&column(2, 0.0));
    raw.iter()
        .enumerate()
        .map(|(i, row)| [frequency[i], recency[i], engagement[i], row[3].unwrap_or(0.5), row[4].unwrap_or(0.5), row[5].unwrap_or(0.0)])
        .collect()
}

/// The strength model: weights and where they came from.
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
    let period = (period_days * DAY).min((as_of - first) / 2).max(DAY);
    let split = as_of - period;
    let known: Vec<&Timeline> = timelines.iter().filter(|timeline| first_event(timeline).is_some_and(|time| time <= split)).collect();
    let defaults = |note: String, spearman: Option<f64>| StrengthModel {
        weights: DEFAULT_WEIGHTS,
        learned: false,
        note,
        customers: known.len(),
        split,
        spearman,
    };
    let spend: Vec<f64> = known
        .par_iter()
        .map(|timeline| timeline.purchases.iter().filter(|p| p.time > split && p.time <= as_of).map(|p| p.amount).sum::<f64>().max(0.0))
        .collect();
    let spenders = spend.iter().filter(|&&s| s > 0.0).count();
    if known.len() < 200 || spenders < 20 {
        return defaults(
            format!(
                "default weights: {} customers before the split and {spenders} who spent after it (learning needs 200 and 20)",
                known.len()
            ),
            None,
        );
    }
    let factors = scaled_factors(&known, split);
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
        note: format!(
            "learned on {} customers: factors as of the split, ln(1 + spend) over the {} days after it",
            known.len(),
            period / DAY
        ),
        customers: known.len(),
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
