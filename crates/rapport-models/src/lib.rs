//! Lifetime-value models: BG/NBD, MBG/NBD, Pareto/NBD, BG/BB and Gamma-Gamma.
//!
//! Each model is an unfitted type whose `fit` returns a fitted type; predictions exist
//! only on fitted types (linfa's params → fitted pattern). Fitting works on weighted
//! unique rows ([`data::CountData`]), so millions of customers cost little. Method
//! names are the papers' quantities and their doc comments cite the equations.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod bgbb;
pub mod bgnbd;
pub mod data;
mod error;
pub mod fit;
pub mod gamma_gamma;
mod kind;
pub mod pareto;
mod predict;
mod saved;
mod tracking;

use rapport_core::time::{MonthDefinition, TimeUnit};
use serde::{Deserialize, Serialize};

pub use error::ModelError;
pub use fit::{FitOptions, FitReport};
pub use kind::{ModelKind, fit, fit_with};
pub use predict::{
    HoldoutEvaluation, HoldoutRow, PredictOptions, Predictions, Scorer, Scores, evaluate_holdout, holdout_evaluation, predict,
};
pub use saved::{FittedOn, SavedModel};
pub use tracking::{TrackingPoint, tracking};

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
    /// Model time units in a month (see [`TimeUnit::per_month`]). lifetimes' own example
    /// leaves `freq='D'` on weekly data, i.e. 30 units — a 360-*week* horizon; Rapport
    /// makes the unit explicit.
    pub units_per_month: f64,
}

impl ClvOptions {
    /// A CLV over `months` months discounted at `monthly_discount_rate`, for a model in
    /// `unit`, with months as `month` defines them.
    pub fn new(months: u32, monthly_discount_rate: f64, unit: TimeUnit, month: MonthDefinition) -> ClvOptions {
        ClvOptions { months, monthly_discount_rate, units_per_month: unit.per_month(month) }
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

    /// The model's name: `bg-nbd`, `mbg-nbd`, `pareto-nbd`, `bg-bb`, `gamma-gamma`.
    pub fn kind(&self) -> ModelKind {
        match self {
            FittedModel::BgNbd(model) if model.variant == Variant::Mbg => ModelKind::MbgNbd,
            FittedModel::BgNbd(_) => ModelKind::BgNbd,
            FittedModel::ParetoNbd(_) => ModelKind::ParetoNbd,
            FittedModel::BgBb(_) => ModelKind::BgBb,
            FittedModel::GammaGamma(_) => ModelKind::GammaGamma,
        }
    }

    /// The same model for time measured in units `factor` times smaller (7 from weeks to
    /// days). In BG/NBD, MBG/NBD and Pareto/NBD time enters only through λt and μt, with
    /// λ ~ Gamma(r, α) and μ ~ Gamma(s, β) where α and β are in time units: rescaling time
    /// by c rescales α and β by c and leaves every prediction unchanged. BG/BB counts
    /// opportunities and Gamma-Gamma has no time, so they cannot be rescaled.
    pub fn rescaled(&self, factor: f64) -> Result<FittedModel, ModelError> {
        let scale = |report: &FitReport, names: &[&str]| {
            let mut report = report.clone();
            for (index, name) in report.names.iter().enumerate() {
                if names.contains(&name.as_str()) {
                    report.params[index] *= factor;
                    report.std_errors[index] *= factor;
                    report.intervals[index] = (report.intervals[index].0 * factor, report.intervals[index].1 * factor);
                }
            }
            report
        };
        Ok(match self {
            FittedModel::BgNbd(model) => {
                let mut rescaled =
                    FittedBgNbd::from_params(model.variant, BgNbdParams { alpha: model.params.alpha * factor, ..model.params })?;
                rescaled.report = scale(&model.report, &["alpha"]);
                FittedModel::BgNbd(rescaled)
            }
            FittedModel::ParetoNbd(model) => {
                let params = ParetoNbdParams { alpha: model.params.alpha * factor, beta: model.params.beta * factor, ..model.params };
                let mut rescaled = FittedParetoNbd::from_params(params)?;
                rescaled.report = scale(&model.report, &["alpha", "beta"]);
                FittedModel::ParetoNbd(rescaled)
            }
            FittedModel::BgBb(_) | FittedModel::GammaGamma(_) if factor == 1.0 => self.clone(),
            other => {
                return Err(ModelError::NotApplicable(format!("{} has no continuous time to rescale", other.report().model)));
            }
        })
    }

    /// Build a fitted model from saved parameters, keeping the saved report.
    pub fn from_report(report: &FitReport) -> Result<FittedModel, ModelError> {
        let get = |name: &str| -> Result<f64, ModelError> {
            report
                .names
                .iter()
                .position(|candidate| candidate == name)
                .and_then(|index| report.params.get(index).copied())
                .ok_or_else(|| ModelError::Persist(format!("parameter {name} missing")))
        };
        let kind: ModelKind = report.model.parse()?;
        let mut model = match kind {
            ModelKind::BgNbd | ModelKind::MbgNbd => {
                let variant = if kind == ModelKind::BgNbd { Variant::Bg } else { Variant::Mbg };
                FittedModel::BgNbd(FittedBgNbd::from_params(
                    variant,
                    BgNbdParams { r: get("r")?, alpha: get("alpha")?, a: get("a")?, b: get("b")? },
                )?)
            }
            ModelKind::ParetoNbd => FittedModel::ParetoNbd(FittedParetoNbd::from_params(ParetoNbdParams {
                r: get("r")?,
                alpha: get("alpha")?,
                s: get("s")?,
                beta: get("beta")?,
            })?),
            ModelKind::BgBb => FittedModel::BgBb(FittedBgBb::from_params(BgBbParams {
                alpha: get("alpha")?,
                beta: get("beta")?,
                gamma: get("gamma")?,
                delta: get("delta")?,
            })?),
            ModelKind::GammaGamma => {
                FittedModel::GammaGamma(FittedGammaGamma::from_params(GammaGammaParams { p: get("p")?, q: get("q")?, v: get("v")? })?)
            }
        };
        // Keep the saved report (errors, log-likelihood) rather than the placeholder.
        match &mut model {
            FittedModel::BgNbd(inner) => inner.report = report.clone(),
            FittedModel::ParetoNbd(inner) => inner.report = report.clone(),
            FittedModel::BgBb(inner) => inner.report = report.clone(),
            FittedModel::GammaGamma(inner) => inner.report = report.clone(),
        }
        Ok(model)
    }
}
