//! Per-customer predictions of a fitted model over a customer table, and the
//! calibration-versus-holdout check.

use rapport_core::table::CustomerTable;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::validate_customer;
use crate::gamma_gamma::FittedGammaGamma;
use crate::{ClvOptions, CountModel, FittedModel, ModelError, customer_lifetime_value};

/// What to predict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictOptions {
    /// Horizon of `expected_purchases`, in the data's time unit (opportunities for BG/BB).
    pub horizon: f64,
    /// CLV horizon and discounting (needs a count model and a spend model).
    pub clv: Option<ClvOptions>,
}

/// Per-customer predictions, one value per row of the customer table; a quantity the
/// model does not give is `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Predictions {
    /// P(alive | x, t_x, T).
    pub p_alive: Option<Vec<f64>>,
    /// E[Y(horizon) | x, t_x, T].
    pub expected_purchases: Option<Vec<f64>>,
    /// Gamma-Gamma's E[Z | x, z̄].
    pub expected_average_spend: Option<Vec<f64>>,
    /// Discounted CLV.
    pub clv: Option<Vec<f64>>,
    /// E[Y(holdout duration) | x, t_x, T], when the table has a holdout.
    pub predicted_holdout: Option<Vec<f64>>,
    /// Predicted against actual holdout purchases, when the table has a holdout.
    pub holdout: Option<HoldoutEvaluation>,
}

impl Predictions {
    /// The predicted columns with their customer-table names, in display order.
    pub fn columns(self) -> impl Iterator<Item = (&'static str, Vec<f64>)> {
        use rapport_core::table::columns;
        [
            (columns::P_ALIVE, self.p_alive),
            (columns::EXPECTED_PURCHASES, self.expected_purchases),
            (columns::EXPECTED_AVERAGE_SPEND, self.expected_average_spend),
            (columns::CLV, self.clv),
            (columns::PREDICTED_HOLDOUT, self.predicted_holdout),
        ]
        .into_iter()
        .filter_map(|(name, values)| values.map(|values| (name, values)))
    }
}

/// Predict for every customer of `table`. For a count model, `spend` adds the expected
/// spend and, with `options.clv`, the CLV. Every customer is validated first; an invalid
/// one is named in the error. A prediction is never infinite or NaN: if one would be,
/// the error names the first customer, the quantity, how many are affected and, when the
/// fit left parameters unidentified, which.
pub fn predict(
    model: &FittedModel,
    spend: Option<&FittedGammaGamma>,
    table: &CustomerTable,
    options: &PredictOptions,
) -> Result<Predictions, ModelError> {
    let predictions = predict_values(model, spend, table, options)?;
    let cause = || {
        let mut unidentified: Vec<&str> = model.report().not_identified.iter().map(String::as_str).collect();
        unidentified.extend(spend.iter().flat_map(|spend| spend.report.not_identified.iter().map(String::as_str)));
        if unidentified.is_empty() {
            String::new()
        } else {
            format!(": the fit did not identify {} — refit with a penalty", unidentified.join(", "))
        }
    };
    use rapport_core::table::columns;
    let predicted = [
        (columns::P_ALIVE, &predictions.p_alive),
        (columns::EXPECTED_PURCHASES, &predictions.expected_purchases),
        (columns::EXPECTED_AVERAGE_SPEND, &predictions.expected_average_spend),
        (columns::CLV, &predictions.clv),
        (columns::PREDICTED_HOLDOUT, &predictions.predicted_holdout),
    ];
    for (column, values) in predicted.into_iter().filter_map(|(column, values)| values.as_ref().map(|values| (column, values))) {
        let count = values.iter().filter(|value| !value.is_finite()).count();
        if let Some(row) = values.iter().position(|value| !value.is_finite()) {
            return Err(ModelError::NonFinitePrediction {
                customer: table.id(row).to_string(),
                column,
                value: values[row],
                count,
                cause: cause(),
            });
        }
    }
    Ok(predictions)
}

fn predict_values(
    model: &FittedModel,
    spend: Option<&FittedGammaGamma>,
    table: &CustomerTable,
    options: &PredictOptions,
) -> Result<Predictions, ModelError> {
    let missing = |column: &str| ModelError::MissingColumn { column: column.to_string() };
    let x = table.frequency().ok_or_else(|| missing("frequency"))?;
    let spends = |spend: &FittedGammaGamma| -> Result<Vec<f64>, ModelError> {
        let monetary = table.monetary_value().ok_or_else(|| missing("monetary_value"))?;
        // A repeat buyer whose purchases net to zero or less (refunds) was left out of the
        // spend model's fit; its expected spend is the model's at a mean spend of 0 (the
        // population's, shrunk by how often it bought), never negative.
        Ok(x.par_iter().zip(monetary).map(|(&x, &m)| spend.expected_average_spend(x, m.max(0.0))).collect())
    };
    if let FittedModel::GammaGamma(spend) = model {
        return Ok(Predictions { expected_average_spend: Some(spends(spend)?), ..Predictions::default() });
    }
    let t_x = table.recency().ok_or_else(|| missing("recency"))?;
    let t = table.age().ok_or_else(|| missing("T"))?;
    let rows = || (0..table.len()).into_par_iter().map(|row| (x[row], t_x[row], t[row]));
    if let FittedModel::BgBb(bgbb) = model {
        return Ok(Predictions {
            p_alive: Some(rows().map(|(x, t_x, n)| bgbb.p_alive(0.0, x, t_x, n)).collect()),
            expected_purchases: Some(rows().map(|(x, t_x, n)| bgbb.expected_purchases(options.horizon, x, t_x, n)).collect()),
            ..Predictions::default()
        });
    }
    let count = model.as_count_model().ok_or_else(|| ModelError::NotApplicable(format!("{} is not a count model", model.kind())))?;
    for row in 0..table.len() {
        validate_customer(table.id(row), x[row], t_x[row], t[row])?;
    }
    let (p_alive, expected): (Vec<f64>, Vec<f64>) =
        rows().map(|(x, t_x, t)| count.p_alive_and_expected_purchases(options.horizon, x, t_x, t)).unzip();
    let mut predictions = Predictions { p_alive: Some(p_alive), expected_purchases: Some(expected), ..Predictions::default() };
    if let Some(spend) = spend {
        let spends = spends(spend)?;
        if let Some(clv) = options.clv {
            predictions.clv = Some(
                rows().zip(spends.par_iter()).map(|((x, t_x, t), &spend)| customer_lifetime_value(count, spend, x, t_x, t, &clv)).collect(),
            );
        }
        predictions.expected_average_spend = Some(spends);
    }
    if let (Some(actual), Some(duration)) = (table.frequency_holdout(), table.duration_holdout()) {
        let holdout: Vec<HoldoutRow> = (0..table.len())
            .map(|row| HoldoutRow { x: x[row], t_x: t_x[row], t: t[row], actual: actual[row], duration: duration[row] })
            .collect();
        predictions.predicted_holdout =
            Some(holdout.par_iter().map(|row| count.expected_purchases(row.duration, row.x, row.t_x, row.t)).collect());
        predictions.holdout = Some(evaluate_holdout(count, &holdout));
    }
    Ok(predictions)
}

/// One customer in a calibration / holdout comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldoutRow {
    /// Calibration repeat purchases.
    pub x: f64,
    /// Calibration recency.
    pub t_x: f64,
    /// Calibration age.
    pub t: f64,
    /// Purchases observed in the holdout window.
    pub actual: f64,
    /// Length of the holdout window.
    pub duration: f64,
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

impl std::fmt::Display for HoldoutEvaluation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{} customers, predicted {:.1} purchases, actual {:.0}; mean absolute error {:.3}, RMSE {:.3} per customer",
            self.customers, self.predicted_total, self.actual_total, self.mean_absolute_error, self.root_mean_squared_error
        )
    }
}

/// Compare predicted E[Y(duration) | x, t_x, T] with actual holdout purchases.
pub fn evaluate_holdout(model: &dyn CountModel, rows: &[HoldoutRow]) -> HoldoutEvaluation {
    let mut evaluation = HoldoutEvaluation {
        customers: rows.len(),
        predicted_total: 0.0,
        actual_total: 0.0,
        mean_absolute_error: 0.0,
        root_mean_squared_error: 0.0,
    };
    for row in rows {
        let predicted = model.expected_purchases(row.duration, row.x, row.t_x, row.t);
        evaluation.predicted_total += predicted;
        evaluation.actual_total += row.actual;
        evaluation.mean_absolute_error += (predicted - row.actual).abs();
        evaluation.root_mean_squared_error += (predicted - row.actual).powi(2);
    }
    let count = rows.len().max(1) as f64;
    evaluation.mean_absolute_error /= count;
    evaluation.root_mean_squared_error = (evaluation.root_mean_squared_error / count).sqrt();
    evaluation
}
