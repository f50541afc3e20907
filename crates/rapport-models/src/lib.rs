//! Lifetime-value models: BG/NBD, MBG/NBD, Pareto/NBD, BG/BB and Gamma-Gamma.
//!
//! Each model is an unfitted type whose `fit` returns a fitted type; predictions exist
//! only on fitted types (linfa's params → fitted pattern). Fitting works on weighted
//! unique rows ([`data::CountData`]), so millions of customers cost little. Method
//! names are the papers' quantities and their doc comments cite the equations.

pub mod bgbb;
pub mod bgnbd;
pub mod data;
mod error;
pub mod fit;
pub mod gamma_gamma;
pub mod pareto;

use serde::{Deserialize, Serialize};

pub use error::ModelError;
pub use fit::FitReport;

use bgbb::{BgBbParams, FittedBgBb};
use bgnbd::{BgNbdParams, FittedBgNbd, Variant};
use gamma_gamma::{FittedGammaGamma, GammaGammaParams};
use pareto::{FittedParetoNbd, ParetoNbdParams};

/// What a fitted continuous-time count model (BG/NBD, MBG/NBD, Pareto/NBD) predicts.
pub trait CountModel: Send + Sync {
    /// The fit.
    fn report(&self) -> &FitReport;
    /// P(alive | x, t_x, T).
    fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64;
    /// E[Y(horizon) | x, t_x, T]: expected purchases in the next `horizon` time units.
    fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> f64;
    /// P(alive | x, t_x, T) and E[Y(horizon) | x, t_x, T] together; models whose two
    /// predictions share work (Pareto/NBD: the ₂F₁ terms) compute it once.
    fn p_alive_and_expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> (f64, f64) {
        (self.p_alive(x, t_x, t), self.expected_purchases(horizon, x, t_x, t))
    }
    /// E[X(horizon)] for a new customer.
    fn expected_purchases_unconditional(&self, horizon: f64) -> f64;
    /// P(X(horizon) = n) for a new customer.
    fn probability_of_purchases(&self, n: u32, horizon: f64) -> f64;
}

/// How to value future purchases: lifetimes' `customer_lifetime_value` made explicit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvOptions {
    /// Horizon in months.
    pub months: u32,
    /// Discount rate per month (0.01 = 1%).
    pub monthly_discount_rate: f64,
    /// Model time units in a month: 4.345 for weeks, 30 for days, 720 for hours, 1 for
    /// months (lifetimes' constants). lifetimes' own example leaves `freq='D'` on weekly
    /// data, i.e. 30 units — a 360-*week* horizon; Rapport makes the unit explicit.
    pub units_per_month: f64,
}

impl ClvOptions {
    /// lifetimes' months-to-units factor for a time unit name (hours, days, weeks, months).
    pub fn units_per_month(unit: &str) -> Option<f64> {
        match unit {
            "hours" => Some(30.0 * 24.0),
            "days" => Some(30.0),
            "weeks" => Some(4.345),
            "months" => Some(1.0),
            _ => None,
        }
    }
}

/// Discounted CLV of one customer: Σ_{i=1}^{months} spend · (E[Y(i·f)] − E[Y((i−1)·f)]) / (1 + d)^i,
/// where f is the units per month (lifetimes' `_customer_lifetime_value`).
pub fn customer_lifetime_value(model: &dyn CountModel, expected_spend: f64, x: f64, t_x: f64, t: f64, options: &ClvOptions) -> f64 {
    let factor = options.units_per_month;
    let mut previous = 0.0;
    let mut total = 0.0;
    for month in 1..=options.months {
        let cumulative = model.expected_purchases(f64::from(month) * factor, x, t_x, t);
        total += expected_spend * (cumulative - previous) / (1.0 + options.monthly_discount_rate).powi(month as i32);
        previous = cumulative;
    }
    total
}

/// Any fitted model, for saving, loading and dispatch.
#[derive(Debug, Clone, PartialEq)]
pub enum FittedModel {
    /// BG/NBD or MBG/NBD.
    BgNbd(FittedBgNbd),
    /// Pareto/NBD.
    ParetoNbd(FittedParetoNbd),
    /// BG/BB.
    BgBb(FittedBgBb),
    /// Gamma-Gamma.
    GammaGamma(FittedGammaGamma),
}

/// The saved form of a fitted model: versioned JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// Always `rapport-model`.
    pub format: String,
    /// Schema version (1).
    pub version: u32,
    /// Time unit of the data the model was fitted on (`weeks`, `days`, …), or `periods`.
    pub time_unit: String,
    /// The fit: model, names, params, errors, log-likelihood.
    pub fit: FitReport,
}

const SAVED_FORMAT: &str = "rapport-model";
const SAVED_VERSION: u32 = 1;

impl FittedModel {
    /// The fit report.
    pub fn report(&self) -> &FitReport {
        match self {
            FittedModel::BgNbd(model) => &model.report,
            FittedModel::ParetoNbd(model) => &model.report,
            FittedModel::BgBb(model) => &model.report,
            FittedModel::GammaGamma(model) => &model.report,
        }
    }

    /// As a count model, if it is one.
    pub fn as_count_model(&self) -> Option<&dyn CountModel> {
        match self {
            FittedModel::BgNbd(model) => Some(model),
            FittedModel::ParetoNbd(model) => Some(model),
            _ => None,
        }
    }

    /// Serialise as versioned JSON.
    pub fn to_json(&self, time_unit: &str) -> String {
        let saved =
            SavedModel { format: SAVED_FORMAT.into(), version: SAVED_VERSION, time_unit: time_unit.into(), fit: self.report().clone() };
        serde_json::to_string_pretty(&saved).unwrap_or_default()
    }

    /// Read a saved model; returns it with the time unit it was fitted in.
    pub fn from_json(text: &str) -> Result<(FittedModel, String), ModelError> {
        let saved: SavedModel = serde_json::from_str(text).map_err(|error| ModelError::Persist(error.to_string()))?;
        if saved.format != SAVED_FORMAT {
            return Err(ModelError::Persist(format!("not a Rapport model (format {:?})", saved.format)));
        }
        if saved.version != SAVED_VERSION {
            return Err(ModelError::Persist(format!(
                "model format version {} is not supported (this Rapport reads version {SAVED_VERSION})",
                saved.version
            )));
        }
        let get = |name: &str| -> Result<f64, ModelError> {
            saved
                .fit
                .names
                .iter()
                .position(|candidate| candidate == name)
                .and_then(|index| saved.fit.params.get(index).copied())
                .ok_or_else(|| ModelError::Persist(format!("parameter {name} missing")))
        };
        let mut model = match saved.fit.model.as_str() {
            "bg-nbd" | "mbg-nbd" => {
                let variant = if saved.fit.model == "bg-nbd" { Variant::Bg } else { Variant::Mbg };
                FittedModel::BgNbd(FittedBgNbd::from_params(
                    variant,
                    BgNbdParams { r: get("r")?, alpha: get("alpha")?, a: get("a")?, b: get("b")? },
                )?)
            }
            "pareto-nbd" => FittedModel::ParetoNbd(FittedParetoNbd::from_params(ParetoNbdParams {
                r: get("r")?,
                alpha: get("alpha")?,
                s: get("s")?,
                beta: get("beta")?,
            })?),
            "bg-bb" => FittedModel::BgBb(FittedBgBb::from_params(BgBbParams {
                alpha: get("alpha")?,
                beta: get("beta")?,
                gamma: get("gamma")?,
                delta: get("delta")?,
            })?),
            "gamma-gamma" => {
                FittedModel::GammaGamma(FittedGammaGamma::from_params(GammaGammaParams { p: get("p")?, q: get("q")?, v: get("v")? })?)
            }
            other => return Err(ModelError::Persist(format!("unknown model {other:?}"))),
        };
        // Keep the saved report (errors, log-likelihood) rather than the placeholder.
        match &mut model {
            FittedModel::BgNbd(inner) => inner.report = saved.fit.clone(),
            FittedModel::ParetoNbd(inner) => inner.report = saved.fit.clone(),
            FittedModel::BgBb(inner) => inner.report = saved.fit.clone(),
            FittedModel::GammaGamma(inner) => inner.report = saved.fit.clone(),
        }
        Ok((model, saved.time_unit))
    }
}

/// Calibration vs holdout: predicted and actual purchases in the holdout window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HoldoutEvaluation {
    /// Customers compared.
    pub customers: usize,
    /// Σ predicted holdout purchases.
    pub predicted_total: f64,
    /// Σ actual holdout purchases.
    pub actual_total: f64,
    /// Mean absolute error per customer.
    pub mean_absolute_error: f64,
    /// Root mean squared error per customer.
    pub root_mean_squared_error: f64,
}

/// Compare predicted E[Y(duration) | x, t_x, T] with actual holdout purchases.
/// `rows` are (x, t_x, T, actual, duration).
pub fn evaluate_holdout(model: &dyn CountModel, rows: &[(f64, f64, f64, f64, f64)]) -> HoldoutEvaluation {
    let mut evaluation = HoldoutEvaluation {
        customers: rows.len(),
        predicted_total: 0.0,
        actual_total: 0.0,
        mean_absolute_error: 0.0,
        root_mean_squared_error: 0.0,
    };
    for &(x, t_x, t, actual, duration) in rows {
        let predicted = model.expected_purchases(duration, x, t_x, t);
        evaluation.predicted_total += predicted;
        evaluation.actual_total += actual;
        evaluation.mean_absolute_error += (predicted - actual).abs();
        evaluation.root_mean_squared_error += (predicted - actual).powi(2);
    }
    let count = rows.len().max(1) as f64;
    evaluation.mean_absolute_error /= count;
    evaluation.root_mean_squared_error = (evaluation.root_mean_squared_error / count).sqrt();
    evaluation
}

/// Period-by-period tracking of expected cumulative repeat purchases for a cohort:
/// for each time τ (measured from the calibration end, negative inside calibration),
/// Σ_customers E[X(τ + T_i)] over customers already born (T_i = their age at the
/// calibration end) — the tracking plot of FHL (2005), Figure 3.
pub fn expected_cumulative_repeat_purchases(model: &dyn CountModel, ages_at_calibration_end: &[f64], times: &[f64]) -> Vec<f64> {
    times
        .iter()
        .map(|&time| {
            ages_at_calibration_end
                .iter()
                .map(|&age| age + time)
                .filter(|&alive_for| alive_for > 0.0)
                .map(|alive_for| model.expected_purchases_unconditional(alive_for))
                .sum()
        })
        .collect()
}
