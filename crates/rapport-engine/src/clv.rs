//! Lifetime value: fit a model on a customer summary and predict per customer.

use std::path::Path;
use std::str::FromStr;

use rapport_core::CoreError;
use rapport_core::summary::SummaryTable;
use rapport_models::bgbb::BgBb;
use rapport_models::bgnbd::BgNbd;
use rapport_models::data::{CountData, DiscreteData, SpendData};
use rapport_models::gamma_gamma::{FittedGammaGamma, GammaGamma};
use rapport_models::pareto::ParetoNbd;
use rapport_models::{ClvOptions, FittedModel, ModelError, customer_lifetime_value, evaluate_holdout};
use rayon::prelude::*;
use serde_json::{Map, Value as Json, json};

use crate::EngineError;
use crate::table::{Column, Table};

/// The models `rapport clv` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// BG/NBD.
    BgNbd,
    /// MBG/NBD.
    MbgNbd,
    /// Pareto/NBD.
    ParetoNbd,
    /// BG/BB (discrete opportunities).
    BgBb,
    /// Gamma-Gamma spend.
    GammaGamma,
}

impl FromStr for ModelKind {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        match text.to_ascii_lowercase().replace(['/', '_'], "-").as_str() {
            "bg-nbd" | "bgnbd" => Ok(ModelKind::BgNbd),
            "mbg-nbd" | "mbgnbd" => Ok(ModelKind::MbgNbd),
            "pareto-nbd" | "paretonbd" | "pnbd" => Ok(ModelKind::ParetoNbd),
            "bg-bb" | "bgbb" => Ok(ModelKind::BgBb),
            "gamma-gamma" | "gg" => Ok(ModelKind::GammaGamma),
            _ => Err(CoreError::InvalidOption {
                option: "--model",
                reason: format!("{text:?} is not one of bg-nbd, mbg-nbd, pareto-nbd, bg-bb, gamma-gamma"),
            }),
        }
    }
}

/// One customer of a summary, in model terms.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Id.
    pub id: String,
    /// Repeat purchases (periods with a purchase, for BG/BB).
    pub x: f64,
    /// Recency.
    pub t_x: f64,
    /// Age (T), or the number of opportunities `n` for BG/BB.
    pub t: f64,
    /// Mean repeat spend, if known.
    pub monetary: Option<f64>,
    /// (actual holdout purchases, holdout duration), if known.
    pub holdout: Option<(f64, f64)>,
    /// Weight (customers with this pattern), 1 unless the file says.
    pub weight: f64,
}

/// A summary ready for the models.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    /// The customers.
    pub rows: Vec<SummaryRow>,
    /// Unit of recency and T (`weeks`, `days`, …), when known.
    pub time_unit: Option<String>,
}

impl ModelInput {
    /// From a summary computed by Rapport.
    pub fn from_summary(table: &SummaryTable) -> ModelInput {
        let rows = table
            .customers
            .iter()
            .map(|row| SummaryRow {
                id: row.customer_id.clone(),
                x: f64::from(row.frequency),
                t_x: row.recency,
                t: row.t,
                monetary: table.options.monetary.then_some(row.monetary_value),
                holdout: row.holdout.map(|holdout| (f64::from(holdout.frequency), holdout.duration)),
                weight: 1.0,
            })
            .collect();
        ModelInput { rows, time_unit: Some(table.options.time_unit.to_string()) }
    }

    /// From a summary CSV with lifetimes' column names (`frequency, recency, T,
    /// monetary_value`, or the `_cal` / `_holdout` ones) or Hardie's (`x, t_x, T, zbar`);
    /// BG/BB files have `frequency, recency, periods` (or `n_periods`) and may have `weights`.
    pub fn from_csv(path: &Path) -> Result<ModelInput, EngineError> {
        let file = path.display().to_string();
        let invalid = |line: u64, column: &str, message: String| EngineError::BadValue {
            file: file.clone(),
            line,
            column: column.to_string(),
            expected: message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_path(path)
            .map_err(|error| EngineError::Output { target: file.clone(), source: std::io::Error::other(error.to_string()) })?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|error| invalid(1, "(header)", error.to_string()))?
            .iter()
            .map(|name| name.trim().to_string())
            .collect();
        let find = |names: &[&str]| names.iter().find_map(|name| header.iter().position(|column| column == name));
        let id = find(&["customer_id", "ID", "id", "CustomerID", "customer"]);
        let x = find(&["frequency", "frequency_cal", "x"]).ok_or_else(|| {
            invalid(1, "frequency", format!("a frequency column (frequency, frequency_cal or x); found {}", header.join(", ")))
        })?;
        let t_x = find(&["recency", "recency_cal", "t_x"])
            .ok_or_else(|| invalid(1, "recency", format!("a recency column (recency, recency_cal or t_x); found {}", header.join(", "))))?;
        let t = find(&["T", "T_cal", "periods", "n_periods"])
            .ok_or_else(|| invalid(1, "T", format!("an age column (T, T_cal, or periods for BG/BB); found {}", header.join(", "))))?;
        let monetary = find(&["monetary_value", "monetary_value_cal", "zbar"]);
        let holdout = find(&["frequency_holdout"]).zip(find(&["duration_holdout"]));
        let weight = find(&["weights", "weight", "count"]);
        let mut rows = Vec::new();
        // One record buffer for the whole file: a million-row summary makes no
        // per-row allocation here.
        let mut record = csv::StringRecord::new();
        for line in 2u64.. {
            if !reader.read_record(&mut record).map_err(|error| invalid(line, "(row)", error.to_string()))? {
                break;
            }
            let number = |index: usize| -> Result<f64, EngineError> {
                let text = record.get(index).unwrap_or("").trim();
                text.parse::<f64>()
                    .ok()
                    .filter(|value| value.is_finite())
                    .ok_or_else(|| invalid(line, &header[index], format!("a number (found {text:?})")))
            };
            rows.push(SummaryRow {
                id: id.and_then(|index| record.get(index)).map_or_else(|| (line - 1).to_string(), str::to_string),
                x: number(x)?,
                t_x: number(t_x)?,
                t: number(t)?,
                monetary: monetary.map(number).transpose()?,
                holdout: holdout.map(|(frequency, duration)| Ok::<_, EngineError>((number(frequency)?, number(duration)?))).transpose()?,
                weight: weight.map(number).transpose()?.unwrap_or(1.0),
            });
        }
        Ok(ModelInput { rows, time_unit: None })
    }

    fn count_data(&self) -> Result<CountData, ModelError> {
        if self.rows.iter().all(|row| row.weight == 1.0) {
            return CountData::from_customers(self.rows.iter().map(|row| (row.id.as_str(), row.x, row.t_x, row.t)));
        }
        CountData::from_rows(
            self.rows.iter().map(|row| rapport_models::data::Row { x: row.x, t_x: row.t_x, t: row.t, weight: row.weight }).collect(),
        )
    }

    fn spend_data(&self) -> Result<SpendData, ModelError> {
        SpendData::new(self.rows.iter().filter_map(|row| row.monetary.map(|monetary| (row.id.as_str(), row.x, monetary))))
    }

    fn discrete_data(&self) -> Result<DiscreteData, ModelError> {
        DiscreteData::new(self.rows.iter().map(|row| (row.id.as_str(), row.x, row.t_x, row.t, row.weight)))
    }
}

impl From<ModelError> for EngineError {
    fn from(error: ModelError) -> Self {
        match error {
            ModelError::Numerical(inner) => EngineError::Internal(inner.to_string()),
            other => EngineError::Invalid(CoreError::InvalidOption { option: "model", reason: other.to_string() }),
        }
    }
}

/// Fit a model.
pub fn fit(kind: ModelKind, input: &ModelInput) -> Result<FittedModel, EngineError> {
    Ok(match kind {
        ModelKind::BgNbd => FittedModel::BgNbd(BgNbd::new().fit(&input.count_data()?)?),
        ModelKind::MbgNbd => FittedModel::BgNbd(BgNbd::modified().fit(&input.count_data()?)?),
        ModelKind::ParetoNbd => FittedModel::ParetoNbd(ParetoNbd.fit(&input.count_data()?)?),
        ModelKind::BgBb => FittedModel::BgBb(BgBb.fit(&input.discrete_data()?)?),
        ModelKind::GammaGamma => FittedModel::GammaGamma(GammaGamma.fit(&input.spend_data()?)?),
    })
}

/// The fit as the JSON `rapport clv fit` prints.
pub fn fit_json(model: &FittedModel) -> Json {
    let report = model.report();
    let named = |values: &[f64]| -> Map<String, Json> {
        report.names.iter().zip(values).map(|(name, value)| (name.clone(), json!(value))).collect()
    };
    let intervals: Map<String, Json> =
        report.names.iter().zip(&report.intervals).map(|(name, (low, high))| (name.clone(), json!([low, high]))).collect();
    json!({
        "model": report.model,
        "params": named(&report.params),
        "std_errors": named(&report.std_errors),
        "intervals_95": intervals,
        "log_likelihood": report.log_likelihood,
        "n_customers": report.n_customers,
        "converged": report.converged,
        "iterations": report.iterations,
    })
}

/// What `rapport clv predict` computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictOptions {
    /// Horizon of `expected_purchases`, in the data's time unit (periods for BG/BB).
    pub horizon: f64,
    /// CLV horizon and discounting (needs monetary data and a count model).
    pub clv: Option<ClvOptions>,
}

/// Per-customer predictions, plus the holdout evaluation when the input has a holdout.
pub fn predict(
    model: &FittedModel,
    spend_model: Option<&FittedGammaGamma>,
    input: &ModelInput,
    options: &PredictOptions,
) -> Result<(Table, Option<Json>), EngineError> {
    let rows = &input.rows;
    let mut table = Table::default();
    table.push("customer_id", Column::Text(rows.iter().map(|row| row.id.clone()).collect()));
    match model {
        FittedModel::BgBb(bgbb) => {
            table.push("p_alive", Column::Float(rows.par_iter().map(|row| bgbb.p_alive(0.0, row.x, row.t_x, row.t)).collect()));
            table.push(
                "expected_purchases",
                Column::Float(rows.par_iter().map(|row| bgbb.expected_purchases(options.horizon, row.x, row.t_x, row.t)).collect()),
            );
            return Ok((table, None));
        }
        FittedModel::GammaGamma(spend) => {
            table.push(
                "expected_average_spend",
                Column::Float(rows.iter().map(|row| spend.expected_average_spend(row.x, row.monetary.unwrap_or(0.0))).collect()),
            );
            return Ok((table, None));
        }
        _ => {}
    }
    let Some(count) = model.as_count_model() else {
        return Err(EngineError::Internal("not a count model".into()));
    };
    for row in rows {
        rapport_models::data::validate_customer(&row.id, row.x, row.t_x, row.t)?;
    }
    let (p_alive, expected): (Vec<f64>, Vec<f64>) =
        rows.par_iter().map(|row| count.p_alive_and_expected_purchases(options.horizon, row.x, row.t_x, row.t)).unzip();
    table.push("p_alive", Column::Float(p_alive));
    table.push("expected_purchases", Column::Float(expected));
    if let Some(spend) = spend_model {
        let spends: Vec<f64> = rows.iter().map(|row| spend.expected_average_spend(row.x, row.monetary.unwrap_or(0.0))).collect();
        if let Some(clv) = options.clv {
            let values = rows
                .par_iter()
                .zip(&spends)
                .map(|(row, spend)| customer_lifetime_value(count, *spend, row.x, row.t_x, row.t, &clv))
                .collect();
            table.push("expected_average_spend", Column::Float(spends));
            table.push("clv", Column::Float(values));
        } else {
            table.push("expected_average_spend", Column::Float(spends));
        }
    }
    let holdout: Vec<(f64, f64, f64, f64, f64)> =
        rows.iter().filter_map(|row| row.holdout.map(|(actual, duration)| (row.x, row.t_x, row.t, actual, duration))).collect();
    let evaluation = (!holdout.is_empty()).then(|| {
        table.push("frequency_holdout", Column::Float(holdout.iter().map(|row| row.3).collect()));
        table.push(
            "predicted_holdout",
            Column::Float(holdout.par_iter().map(|&(x, t_x, t, _, duration)| count.expected_purchases(duration, x, t_x, t)).collect()),
        );
        serde_json::to_value(evaluate_holdout(count, &holdout)).unwrap_or(Json::Null)
    });
    Ok((table, evaluation))
}

/// Fit Gamma-Gamma on the input's monetary values, when it has them.
pub fn spend_model(input: &ModelInput) -> Result<Option<FittedGammaGamma>, EngineError> {
    if input.rows.iter().all(|row| row.monetary.is_none()) {
        return Ok(None);
    }
    Ok(Some(GammaGamma.fit(&input.spend_data()?)?))
}

/// One point of the tracking plot.
#[derive(Debug, Clone, PartialEq)]
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
/// periods from the first purchase — FHL (2005) Figure 3, with exactly the semantics of
/// lifetimes' `expected_cumulative_transactions(model, …, t=periods, freq=period,
/// freq_multiplier=step)`: at period i·step after the start, every customer whose first
/// purchase came before it is expected to have made E[X(age)] repeat purchases, where
/// `age` is the time since their first purchase in the model's unit; the actual count is
/// of repeat purchase periods in the first i·step periods.
pub fn tracking(
    model: &FittedModel,
    histogram: &rapport_core::summary::PurchaseHistogram,
    period: rapport_core::time::Period,
    unit: rapport_core::time::TimeUnit,
    periods: Option<i64>,
    step: i64,
) -> Result<Vec<TrackingPoint>, EngineError> {
    let count_model = model.as_count_model().ok_or_else(|| {
        EngineError::Invalid(CoreError::InvalidOption {
            option: "--model",
            reason: "tracking needs a purchase-count model (bg-nbd, mbg-nbd or pareto-nbd)".into(),
        })
    })?;
    if step < 1 {
        return Err(EngineError::Invalid(CoreError::InvalidOption {
            option: "--step",
            reason: format!("must be at least 1 (got {step})"),
        }));
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
                date: rapport_core::time::format_date(period.start_seconds(at)),
                time: unit.between(period, start, at),
                actual,
                expected,
            }
        })
        .collect())
}

/// Tracking points as a table.
pub fn tracking_table(points: &[TrackingPoint]) -> Table {
    let mut table = Table::default();
    table.push("step", Column::Count(points.iter().map(|point| point.step as u64).collect()));
    table.push("date", Column::Text(points.iter().map(|point| point.date.clone()).collect()));
    table.push("time", Column::Float(points.iter().map(|point| point.time).collect()));
    table.push("actual", Column::Count(points.iter().map(|point| point.actual).collect()));
    table.push("expected", Column::Float(points.iter().map(|point| point.expected).collect()));
    table
}
