//! The tracking plot: cumulative repeat purchases, actual and expected, period by period.

use rapport_core::summary::PurchaseHistogram;
use rapport_core::time::{Period, TimeUnit, format_date};
use rayon::prelude::*;
use serde::Serialize;

use crate::{FittedModel, ModelError};

/// One point of the tracking plot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingPoint {
    /// Tracking step (1, 2, …).
    pub step: usize,
    /// First day of the period at which the point is taken (local time).
    pub date: String,
    /// Time since the first purchase, in the model's unit.
    pub time: f64,
    /// Repeat purchase periods observed before `date`.
    pub actual: u64,
    /// Repeat purchases the model expects by `date`.
    pub expected: f64,
}

/// Cumulative repeat purchases, actual and expected, every `step` periods for `periods`
/// periods from the first purchase (default: through the last purchase) — FHL (2005)
/// Figure 3, with exactly the semantics of lifetimes' `expected_cumulative_transactions(
/// model, …, t=periods, freq=period, freq_multiplier=step)`: at period i·step after the
/// start, every customer whose first purchase came before it is expected to have made
/// E[X(age)] repeat purchases, where `age` is the time since their first purchase in the
/// model's unit; the actual count is of repeat purchase periods in the first i·step periods.
pub fn tracking(
    model: &FittedModel,
    histogram: &PurchaseHistogram,
    period: Period,
    unit: TimeUnit,
    periods: Option<i64>,
    step: i64,
) -> Result<Vec<TrackingPoint>, ModelError> {
    let count_model = model
        .as_count_model()
        .ok_or_else(|| ModelError::NotApplicable("tracking needs a purchase-count model (bg-nbd, mbg-nbd or pareto-nbd)".into()))?;
    if step < 1 {
        return Err(ModelError::NotApplicable(format!("the tracking step must be at least 1 period (got {step})")));
    }
    let (Some(&start), Some(&last_first)) = (histogram.first.keys().next(), histogram.first.keys().next_back()) else {
        return Ok(Vec::new());
    };
    let last = histogram.repeat.keys().next_back().copied().unwrap_or(last_first).max(last_first);
    let periods = periods.unwrap_or(last - start + 1);
    let points: Vec<i64> = (1..=periods / step).collect();
    let first: Vec<(i64, u64)> = histogram.first.iter().map(|(period, count)| (*period, *count)).collect();
    Ok(points
        .par_iter()
        .map(|&index| {
            let at = start + index * step;
            let expected = first
                .iter()
                .take_while(|(born, _)| *born < at)
                .map(|&(born, count)| count as f64 * count_model.expected_purchases_unconditional(unit.between(period, born, at)))
                .sum();
            let actual = histogram.repeat.range(start..at).map(|(_, count)| *count).sum();
            TrackingPoint {
                step: index as usize,
                date: format_date(period.start_seconds(at)),
                time: unit.between(period, start, at),
                actual,
                expected,
            }
        })
        .collect())
}
