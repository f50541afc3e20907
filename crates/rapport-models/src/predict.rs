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
    let scorer = Scorer::new(model, spend, *options)?;
    let monetary = match scorer.needs_monetary() {
        true => Some(table.monetary_value().ok_or_else(|| missing("monetary_value"))?),
        false => None,
    };
    // Gamma-Gamma needs neither recency nor age.
    let zeros;
    let (t_x, t) = if let FittedModel::GammaGamma(_) = model {
        zeros = vec![0.0; table.len()];
        (table.recency().unwrap_or(&zeros), table.age().unwrap_or(&zeros))
    } else {
        (table.recency().ok_or_else(|| missing("recency"))?, table.age().ok_or_else(|| missing("T"))?)
    };
    if model.as_count_model().is_some() {
        for row in 0..table.len() {
            validate_customer(table.id(row), x[row], t_x[row], t[row])?;
        }
    }
    let holdout = match (table.frequency_holdout(), table.duration_holdout(), model.as_count_model()) {
        (Some(actual), Some(duration), Some(_)) => Some((actual, duration)),
        _ => None,
    };
    let scores: Vec<Scores> = (0..table.len())
        .into_par_iter()
        .map(|row| {
            scorer.score(x[row], t_x[row], t[row], monetary.map(|monetary| monetary[row]), holdout.map(|(_, duration)| duration[row]))
        })
        .collect();
    let given = scorer.given(holdout.is_some());
    let column = |get: fn(&Scores) -> Option<f64>| -> Option<Vec<f64>> {
        get(&given).map(|_| scores.iter().map(|scores| get(scores).unwrap_or(f64::NAN)).collect())
    };
    let mut predictions = Predictions {
        p_alive: column(|scores| scores.p_alive),
        expected_purchases: column(|scores| scores.expected_purchases),
        expected_average_spend: column(|scores| scores.expected_average_spend),
        clv: column(|scores| scores.clv),
        predicted_holdout: column(|scores| scores.predicted_holdout),
        holdout: None,
    };
    if let (Some((actual, duration)), Some(count)) = (holdout, model.as_count_model()) {
        let rows: Vec<HoldoutRow> = (0..table.len())
            .map(|row| HoldoutRow { x: x[row], t_x: t_x[row], t: t[row], actual: actual[row], duration: duration[row] })
            .collect();
        predictions.holdout = Some(evaluate_holdout(count, &rows));
    }
    Ok(predictions)
}

/// One customer's predictions; a quantity the model does not give is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    /// P(alive | x, t_x, T).
    pub p_alive: Option<f64>,
    /// E[Y(horizon) | x, t_x, T].
    pub expected_purchases: Option<f64>,
    /// Gamma-Gamma's E[Z | x, z̄].
    pub expected_average_spend: Option<f64>,
    /// Discounted CLV.
    pub clv: Option<f64>,
    /// E[Y(holdout duration) | x, t_x, T].
    pub predicted_holdout: Option<f64>,
}

/// What [`predict`] computes for one customer, one customer at a time: the embedded path
/// scores every row with it, and so does the scoring function that runs on DataFusion
/// workers, so the two give the same numbers by construction.
#[derive(Debug, Clone, Copy)]
pub struct Scorer<'a> {
    model: &'a FittedModel,
    spend: Option<&'a FittedGammaGamma>,
    options: PredictOptions,
}

impl<'a> Scorer<'a> {
    /// A scorer for `model` (with `spend`, for a count model's spend and CLV).
    pub fn new(model: &'a FittedModel, spend: Option<&'a FittedGammaGamma>, options: PredictOptions) -> Result<Scorer<'a>, ModelError> {
        if spend.is_some() && model.as_count_model().is_none() {
            return Err(ModelError::NotApplicable(format!("{} takes no spend model", model.kind())));
        }
        Ok(Scorer { model, spend, options })
    }

    /// Whether scores need each customer's mean spend.
    pub fn needs_monetary(&self) -> bool {
        self.spend.is_some() || matches!(self.model, FittedModel::GammaGamma(_))
    }

    /// Which quantities [`Scorer::score`] gives (as `Some(0.0)`), with or without a holdout.
    pub fn given(&self, holdout: bool) -> Scores {
        let some = |given: bool| given.then_some(0.0);
        let count = self.model.as_count_model().is_some();
        Scores {
            p_alive: some(!matches!(self.model, FittedModel::GammaGamma(_))),
            expected_purchases: some(!matches!(self.model, FittedModel::GammaGamma(_))),
            expected_average_spend: some(self.needs_monetary()),
            clv: some(count && self.spend.is_some() && self.options.clv.is_some()),
            predicted_holdout: some(count && holdout),
        }
    }

    /// The scores of a customer with `x` repeat purchases, recency `t_x` and age `t` (BG/BB:
    /// opportunities), mean spend `monetary` (used with a spend model; net refunds count as
    /// 0) and, with a holdout, the holdout's length.
    pub fn score(&self, x: f64, t_x: f64, t: f64, monetary: Option<f64>, holdout_duration: Option<f64>) -> Scores {
        // A repeat buyer whose purchases net to zero or less (refunds) was left out of the
        // spend model's fit; its expected spend is the model's at a mean spend of 0 (the
        // population's, shrunk by how often it bought), never negative.
        let spend_of = |spend: &FittedGammaGamma| spend.expected_average_spend(x, monetary.unwrap_or(0.0).max(0.0));
        match self.model {
            FittedModel::GammaGamma(spend) => Scores { expected_average_spend: Some(spend_of(spend)), ..Scores::default() },
            FittedModel::BgBb(bgbb) => Scores {
                p_alive: Some(bgbb.p_alive(0.0, x, t_x, t)),
                expected_purchases: Some(bgbb.expected_purchases(self.options.horizon, x, t_x, t)),
                ..Scores::default()
            },
            FittedModel::BgNbd(_) | FittedModel::ParetoNbd(_) => {
                let Some(count) = self.model.as_count_model() else { return Scores::default() };
                let (p_alive, expected) = count.p_alive_and_expected_purchases(self.options.horizon, x, t_x, t);
                let spend = self.spend.map(spend_of);
                let clv = match (spend, self.options.clv) {
                    (Some(spend), Some(clv)) => Some(customer_lifetime_value(count, spend, x, t_x, t, &clv)),
                    _ => None,
                };
                Scores {
                    p_alive: Some(p_alive),
                    expected_purchases: Some(expected),
                    expected_average_spend: spend,
                    clv,
                    predicted_holdout: holdout_duration.map(|duration| count.expected_purchases(duration, x, t_x, t)),
                }
            }
        }
    }
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
    holdout_evaluation(rows.iter().map(|row| (model.expected_purchases(row.duration, row.x, row.t_x, row.t), row.actual)))
}

/// Compare predicted with actual holdout purchases, one (predicted, actual) pair per
/// customer, summed in the order given.
pub fn holdout_evaluation(pairs: impl IntoIterator<Item = (f64, f64)>) -> HoldoutEvaluation {
    let mut evaluation =
        HoldoutEvaluation { customers: 0, predicted_total: 0.0, actual_total: 0.0, mean_absolute_error: 0.0, root_mean_squared_error: 0.0 };
    for (predicted, actual) in pairs {
        evaluation.customers += 1;
        evaluation.predicted_total += predicted;
        evaluation.actual_total += actual;
        evaluation.mean_absolute_error += (predicted - actual).abs();
        evaluation.root_mean_squared_error += (predicted - actual).powi(2);
    }
    let count = evaluation.customers.max(1) as f64;
    evaluation.mean_absolute_error /= count;
    evaluation.root_mean_squared_error = (evaluation.root_mean_squared_error / count).sqrt();
    evaluation
}
