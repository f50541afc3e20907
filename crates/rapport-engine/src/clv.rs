//! Lifetime value: customers from a summary file or from purchases, fitted models saved
//! and loaded with their unit, predictions added to the customer table, tracking.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rapport_core::CoreError;
use rapport_core::summary::SummaryCounts;
use rapport_core::table::{CustomerTable, Window, columns};
use rapport_core::time::{MonthDefinition, TimeUnit};
use rapport_models::gamma_gamma::GammaGamma;
use rapport_models::{
    ClvOptions, FitOptions, FitReport, FittedModel, FittedOn, HoldoutEvaluation, ModelKind, PredictOptions, SavedModel, TrackingPoint, data,
};
use rapport_store::input::Rejected;
use rapport_store::runs::{NewRun, RunInfo};
use rapport_store::workspace::Workspace;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::EngineError;
use crate::input::{FileInput, TransactionColumns, WindowSpec};
use crate::summary::{Engine, PurchaseSource, SummaryRequest, purchase_histogram, summarize, summarize_on};

/// Where a model's customers come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerSource {
    /// A summary file with lifetimes' columns (`frequency, recency, T, monetary_value`,
    /// or the `_cal` / `_holdout` ones) or Hardie's (`x, t_x, T, zbar`); BG/BB files have
    /// `frequency, recency, periods` (or `n_periods`) and may have `weights`.
    SummaryFile {
        /// The file.
        path: PathBuf,
        /// The unit of its recency and T, when known (CLV and unit conversion need it).
        time_unit: Option<TimeUnit>,
    },
    /// Purchases, summarised on the fly.
    Purchases(SummaryRequest),
}

/// Customers ready for a model, and what was left out.
#[derive(Debug)]
pub struct Customers {
    /// The customer table.
    pub table: CustomerTable,
    /// Purchase rows rejected while summarising.
    pub rejected: Vec<Rejected>,
    /// What went into the summary, when it was made from purchases.
    pub counts: Option<SummaryCounts>,
}

/// Load or summarise the customers.
pub fn customers(source: &CustomerSource) -> Result<Customers, EngineError> {
    match source {
        CustomerSource::SummaryFile { path, time_unit } => {
            let mut table = read_summary_file(path)?;
            // The unit given wins; a Parquet summary written by Rapport knows its own.
            table.set_window(Window { time_unit: time_unit.or(table.window().time_unit), ..*table.window() });
            Ok(Customers { table, rejected: Vec::new(), counts: None })
        }
        CustomerSource::Purchases(request) => {
            let outcome = summarize(request)?;
            Ok(Customers { table: outcome.summary.customers, rejected: outcome.rejected, counts: Some(outcome.summary.counts) })
        }
    }
}

/// Which column of a summary's header holds what: (position, name in the table) for the
/// required frequency, recency and age and any optional ones found, and the id column.
/// lifetimes' names (with or without `_cal`) and Hardie's are recognised.
type SummaryColumns = (Vec<(usize, &'static str)>, Option<usize>);

fn summary_columns(file: &str, header: &[String]) -> Result<SummaryColumns, EngineError> {
    let find = |names: &[&str]| names.iter().find_map(|name| header.iter().position(|column| column == name));
    let id = find(&["customer_id", "ID", "id", "CustomerID", "customer"]);
    let required = |names: &[&str], what: &str| {
        find(names).ok_or_else(|| EngineError::BadValue {
            file: file.to_string(),
            line: 1,
            column: names[0].to_string(),
            expected: format!("{what} ({}); found {}", names.join(", "), header.join(", ")),
        })
    };
    let mut wanted = vec![
        (required(&["frequency", "frequency_cal", "x"], "a frequency column")?, columns::FREQUENCY),
        (required(&["recency", "recency_cal", "t_x"], "a recency column")?, columns::RECENCY),
        (required(&["T", "T_cal", "periods", "n_periods"], "an age column (T, or periods for BG/BB)")?, columns::T),
    ];
    for (names, column) in [
        (&["monetary_value", "monetary_value_cal", "zbar"][..], columns::MONETARY_VALUE),
        (&["frequency_holdout"], columns::FREQUENCY_HOLDOUT),
        (&["monetary_value_holdout"], columns::MONETARY_VALUE_HOLDOUT),
        (&["duration_holdout"], columns::DURATION_HOLDOUT),
        (&["weights", "weight", "count"], columns::WEIGHTS),
    ] {
        if let Some(index) = find(names) {
            wanted.push((index, column));
        }
    }
    Ok((wanted, id))
}

/// Both holdout columns or neither.
fn holdout_pair(mut table: CustomerTable) -> CustomerTable {
    if table.frequency_holdout().is_some() != table.duration_holdout().is_some() {
        table.remove(columns::FREQUENCY_HOLDOUT);
        table.remove(columns::DURATION_HOLDOUT);
    }
    table
}

/// A Parquet summary (Rapport's own `summary --output f.parquet`, with its window, or any
/// with numeric columns under the recognised names).
fn read_summary_parquet(path: &Path) -> Result<CustomerTable, EngineError> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type};
    let file = path.display().to_string();
    let batch = rapport_store::input::read_parquet_file(path)?;
    let schema = batch.schema();
    let header: Vec<String> = schema.fields().iter().map(|field| field.name().clone()).collect();
    let (wanted, id) = summary_columns(&file, &header)?;
    let window: Window = schema.metadata().get("rapport.window").and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let ids: Vec<String> = match id {
        Some(index) => {
            let column = arrow::compute::cast(batch.column(index), &DataType::Utf8).map_err(rapport_store::StoreError::from)?;
            let column = column.as_string::<i32>();
            (0..column.len()).map(|row| if column.is_null(row) { (row + 1).to_string() } else { column.value(row).to_string() }).collect()
        }
        None => (1..=batch.num_rows()).map(|row| row.to_string()).collect(),
    };
    let mut table = CustomerTable::from_ids(ids.iter().map(String::as_str), window);
    for (index, name) in wanted {
        let values = arrow::compute::cast(batch.column(index), &DataType::Float64).map_err(|_| EngineError::BadValue {
            file: file.clone(),
            line: 0,
            column: header[index].clone(),
            expected: "numbers".into(),
        })?;
        let values = values.as_primitive::<Float64Type>();
        if let Some(row) = (0..values.len()).find(|&row| values.is_null(row) || !values.value(row).is_finite()) {
            return Err(EngineError::BadValue {
                file: file.clone(),
                line: row as u64 + 1,
                column: header[index].clone(),
                expected: "a number (found an empty or non-finite value)".into(),
            });
        }
        table.push_f64(name, values.values().to_vec())?;
    }
    Ok(holdout_pair(table))
}

/// Read a summary file (CSV, or Parquet by its extension) into a customer table with
/// lifetimes' column names.
fn read_summary_file(path: &Path) -> Result<CustomerTable, EngineError> {
    if rapport_store::input::InputFormat::Auto.resolve(path) == rapport_store::input::InputFormat::Parquet {
        return read_summary_parquet(path);
    }
    let file = path.display().to_string();
    let invalid = |line: u64, column: &str, message: String| EngineError::BadValue {
        file: file.clone(),
        line,
        column: column.to_string(),
        expected: message,
    };
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).from_path(path).map_err(|error| match error.into_kind() {
        csv::ErrorKind::Io(source) => EngineError::Read { source_name: file.clone(), source },
        other => EngineError::Request(format!("{file}: {other:?}")),
    })?;
    let header: Vec<String> =
        reader.headers().map_err(|error| invalid(1, "(header)", error.to_string()))?.iter().map(|name| name.trim().to_string()).collect();
    let (wanted, id) = summary_columns(&file, &header)?;
    let mut ids = Vec::new();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); wanted.len()];
    // One record buffer for the whole file: a million-row summary makes no per-row
    // allocation here beyond its id.
    let mut record = csv::StringRecord::new();
    for line in 2u64.. {
        if !reader.read_record(&mut record).map_err(|error| invalid(line, "(row)", error.to_string()))? {
            break;
        }
        for ((index, _), column) in wanted.iter().zip(&mut values) {
            let text = record.get(*index).unwrap_or("").trim();
            let value = text
                .parse::<f64>()
                .ok()
                .filter(|value| value.is_finite())
                .ok_or_else(|| invalid(line, &header[*index], format!("a number (found {text:?})")))?;
            column.push(value);
        }
        ids.push(id.and_then(|index| record.get(index)).map_or_else(|| (line - 1).to_string(), str::to_string));
    }
    let mut table = CustomerTable::from_ids(ids.iter().map(String::as_str), Window::default());
    for ((_, name), column) in wanted.iter().zip(values) {
        table.push_f64(name, column)?;
    }
    Ok(holdout_pair(table))
}

/// What to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRequest {
    /// The customers.
    pub source: CustomerSource,
    /// The model.
    pub model: ModelKind,
    /// How to fit (a penalty on the log-parameters).
    pub options: FitOptions,
}

/// A fit and what was left out of its data.
#[derive(Debug)]
pub struct FitOutcome {
    /// The model with the data it was fitted on.
    pub saved: SavedModel,
    /// Purchase rows rejected while summarising.
    pub rejected: Vec<Rejected>,
}

fn fitted_on(table: &CustomerTable, kind: ModelKind) -> FittedOn {
    let mut window = *table.window();
    if !kind.is_count_model() {
        // BG/BB counts opportunities and Gamma-Gamma has no time.
        window.time_unit = None;
    }
    let customers = table.weights().map_or(table.len() as f64, |weights| weights.iter().sum());
    FittedOn { customers, window }
}

/// Fit a model.
pub fn fit(request: &FitRequest) -> Result<FitOutcome, EngineError> {
    let customers = customers(&request.source)?;
    let model = rapport_models::fit_with(request.model, &customers.table, &request.options)?;
    Ok(FitOutcome { saved: SavedModel { model, fitted_on: fitted_on(&customers.table, request.model) }, rejected: customers.rejected })
}

/// The fit as JSON: model, parameters, standard errors, intervals, log-likelihood.
pub fn fit_json(report: &FitReport) -> Json {
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

/// Save a fitted model as versioned JSON.
pub fn save_model(path: &Path, saved: &SavedModel) -> Result<(), EngineError> {
    std::fs::write(path, saved.to_json()).map_err(EngineError::write(path.display()))
}

/// Load a model saved by [`save_model`].
pub fn load_model(path: &Path) -> Result<SavedModel, EngineError> {
    let text = std::fs::read_to_string(path).map_err(EngineError::read(path.display()))?;
    SavedModel::from_json(&text).map_err(|error| EngineError::Request(format!("{}: {error}", path.display())))
}

/// The period of a discount rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscountPeriod {
    /// The rate is per month.
    #[default]
    Month,
    /// The rate is per year (converted to its monthly equivalent).
    Year,
}

/// How to value customers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvSpec {
    /// Horizon in months (default 12).
    pub months: u32,
    /// Discount rate per `discount_period` (default 0.01).
    pub discount_rate: f64,
    /// Period of the rate (default month).
    pub discount_period: DiscountPeriod,
    /// What a month is (default: the mean Gregorian month for every unit).
    pub month: MonthDefinition,
}

impl Default for ClvSpec {
    fn default() -> Self {
        ClvSpec { months: 12, discount_rate: 0.01, discount_period: DiscountPeriod::Month, month: MonthDefinition::Mean }
    }
}

impl ClvSpec {
    /// The monthly discount rate.
    pub fn monthly_rate(&self) -> f64 {
        match self.discount_period {
            DiscountPeriod::Month => self.discount_rate,
            DiscountPeriod::Year => (1.0 + self.discount_rate).powf(1.0 / 12.0) - 1.0,
        }
    }

    fn options(&self, unit: TimeUnit) -> Result<ClvOptions, EngineError> {
        if !(self.discount_rate.is_finite() && self.discount_rate > -1.0) {
            return Err(CoreError::InvalidOption {
                option: "discount rate",
                reason: format!("{} is not a rate above -1", self.discount_rate),
            }
            .into());
        }
        Ok(ClvOptions::new(self.months, self.monthly_rate(), unit, self.month))
    }
}

/// What to predict.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    /// The customers.
    pub source: CustomerSource,
    /// The model to fit (default BG/NBD); with `saved`, the kind the saved model must be
    /// (a different one is refused rather than silently applied).
    pub model: Option<ModelKind>,
    /// A saved model to apply instead of fitting one.
    pub saved: Option<PathBuf>,
    /// Horizon of `expected_purchases`, in the data's time unit (opportunities for BG/BB).
    pub horizon: f64,
    /// How to value customers (count models with a spend column).
    pub clv: ClvSpec,
    /// How to fit the models fitted here.
    pub options: FitOptions,
}

/// Predictions, added to the customer table.
#[derive(Debug)]
pub struct PredictOutcome {
    /// The customer table with `p_alive, expected_purchases` and, where they apply,
    /// `expected_average_spend, clv, predicted_holdout`.
    pub customers: CustomerTable,
    /// The models used (count model, then the spend model if any).
    pub models: Vec<FitReport>,
    /// Predicted against actual holdout purchases, when the data have a holdout.
    pub holdout: Option<HoldoutEvaluation>,
    /// Purchase rows rejected while summarising.
    pub rejected: Vec<Rejected>,
    /// The results run written, when the customers came from a workspace.
    pub run: Option<RunInfo>,
    /// Repeat buyers left out of the spend model because their purchases net to zero or
    /// less after refunds (their expected spend is the model's at a mean spend of 0).
    pub spend_left_out: u64,
}

/// Fit (or load) a model and predict for every customer. Customers summarised from a
/// workspace are written as a results run.
pub fn predict(request: &PredictRequest) -> Result<PredictOutcome, EngineError> {
    predict_on(request, &Engine::Embedded)
}

/// [`predict`] with the heavy stages on `engine`: on DataFusion or a Ballista cluster the
/// customer summary is a plan over the workspace's purchases, the model is fitted here
/// (from the summary), and every customer is scored by the plan's scoring function, which
/// carries the fitted model (workspace purchases only).
pub fn predict_on(request: &PredictRequest, engine: &Engine) -> Result<PredictOutcome, EngineError> {
    let started = SystemTime::now();
    if !(request.horizon.is_finite() && request.horizon >= 0.0) {
        return Err(
            CoreError::InvalidOption { option: "horizon", reason: format!("{} is not a length of time ≥ 0", request.horizon) }.into()
        );
    }
    if request.clv.months == 0 {
        return Err(CoreError::InvalidOption { option: "CLV months", reason: "a CLV needs at least one month".into() }.into());
    }
    let (rejected, counts, predicted) = match engine {
        Engine::Embedded => {
            let Customers { table, rejected, counts } = customers(&request.source)?;
            (rejected, counts, fit_and_predict(table, request)?)
        }
        _ => {
            let CustomerSource::Purchases(summary_request @ SummaryRequest { source: PurchaseSource::Workspace(root), .. }) =
                &request.source
            else {
                return Err(EngineError::Request(format!("the {engine} engine predicts for a workspace's customers: give --workspace")));
            };
            let outcome = summarize_on(summary_request, engine)?;
            let counts = Some(outcome.summary.counts);
            (outcome.rejected, counts, score_on(outcome.summary.customers, request, root, engine)?)
        }
    };
    let Predicted { table, model_kind, models, holdout, spend_left_out } = predicted;
    let run = match &request.source {
        CustomerSource::Purchases(SummaryRequest { source: PurchaseSource::Workspace(root), window, .. }) => {
            let workspace = Workspace::open(root)?;
            let aggregates = json!({
                "models": models.iter().map(fit_json).collect::<Vec<_>>(),
                "holdout": holdout,
                "summary_counts": counts,
                "customers": table.len(),
                "total_clv": table.f64(columns::CLV).map(|values| values.iter().sum::<f64>()),
            });
            let info = workspace.publish_run(NewRun {
                command: "clv predict",
                started,
                customers: &table.to_record_batch(),
                aggregates: &aggregates,
                inputs: json!({ "workspace_batches": workspace.batches().iter().map(|batch| batch.id).collect::<Vec<_>>() }),
                options: json!({
                    "model": model_kind,
                    "saved_model": request.saved,
                    "horizon": request.horizon,
                    "clv": request.clv,
                    "period": window.period,
                    "time_unit": window.unit(),
                    "observation_end": window.observation_end,
                    "calibration_end": window.calibration_end,
                    "engine": engine.to_string(),
                }),
                tables: Vec::new(),
                summary: None,
                fail_at: None,
            })?;
            Some(info)
        }
        _ => None,
    };
    Ok(PredictOutcome { customers: table, models, holdout, rejected, run, spend_left_out })
}

/// A customer table with the model's predictions added.
pub(crate) struct Predicted {
    pub table: CustomerTable,
    pub model_kind: ModelKind,
    pub models: Vec<FitReport>,
    pub holdout: Option<HoldoutEvaluation>,
    pub spend_left_out: u64,
}

/// The models fitted (or loaded) for a prediction.
struct Fitted {
    model: FittedModel,
    spend: Option<rapport_models::gamma_gamma::FittedGammaGamma>,
    clv: Option<ClvOptions>,
    spend_left_out: u64,
}

impl Fitted {
    fn reports(&self) -> Vec<FitReport> {
        let mut models = vec![self.model.report().clone()];
        models.extend(self.spend.as_ref().map(|spend| spend.report.clone()));
        models
    }
}

/// Fit (or load) the request's model on `table` and add its predictions.
pub(crate) fn fit_and_predict(mut table: CustomerTable, request: &PredictRequest) -> Result<Predicted, EngineError> {
    let fitted = fit_models(&table, request)?;
    let Fitted { model, spend, clv, spend_left_out } = &fitted;
    let predictions = rapport_models::predict(model, spend.as_ref(), &table, &PredictOptions { horizon: request.horizon, clv: *clv })?;
    let holdout = predictions.holdout;
    for (name, values) in predictions.columns() {
        table.push_f64(name, values)?;
    }
    Ok(Predicted { table, model_kind: model.kind(), models: fitted.reports(), holdout, spend_left_out: *spend_left_out })
}

/// Fit the request's model on `table` here, then score every customer with a plan on
/// `engine` (DataFusion, or a Ballista cluster), through the scoring function that
/// carries the fitted model. The customers travel to the plan as a Parquet file in a
/// scratch directory inside the workspace (which a cluster's executors see), removed
/// afterwards.
pub(crate) fn score_on(mut table: CustomerTable, request: &PredictRequest, root: &Path, engine: &Engine) -> Result<Predicted, EngineError> {
    let fitted = fit_models(&table, request)?;
    #[cfg(feature = "sql")]
    {
        use rapport_sql::score::{ScoreFunction, ScoreSpec};
        let spec = ScoreSpec {
            model: fitted.model.report().clone(),
            spend: fitted.spend.as_ref().map(|spend| spend.report.clone()),
            horizon: request.horizon,
            clv: fitted.clv,
        };
        let function = ScoreFunction::new(spec)?;
        let scratch = rapport_store::scratch::Scratch::new(root, "scoring")?;
        let session = engine.session(root)?;
        let scores = rapport_sql::score::score(&session, function, &table, scratch.path())?;
        let holdout_given = table.frequency_holdout().is_some() && table.duration_holdout().is_some();
        let scorer =
            rapport_models::Scorer::new(&fitted.model, fitted.spend.as_ref(), PredictOptions { horizon: request.horizon, clv: fitted.clv })
                .map_err(EngineError::from)?;
        let given = scorer.given(holdout_given);
        type Quantity = fn(&rapport_models::Scores) -> Option<f64>;
        let wanted: [(&'static str, Quantity); 5] = [
            (columns::P_ALIVE, |scores| scores.p_alive),
            (columns::EXPECTED_PURCHASES, |scores| scores.expected_purchases),
            (columns::EXPECTED_AVERAGE_SPEND, |scores| scores.expected_average_spend),
            (columns::CLV, |scores| scores.clv),
            (columns::PREDICTED_HOLDOUT, |scores| scores.predicted_holdout),
        ];
        let mut holdout = None;
        for (name, get) in wanted {
            if get(&given).is_none() {
                continue;
            }
            let values: Vec<f64> = scores.iter().map(|scores| get(scores).unwrap_or(f64::NAN)).collect();
            if let Some(row) = values.iter().position(|value| !value.is_finite()) {
                let mut unidentified: Vec<&str> = fitted.model.report().not_identified.iter().map(String::as_str).collect();
                unidentified.extend(fitted.spend.iter().flat_map(|spend| spend.report.not_identified.iter().map(String::as_str)));
                let cause = match unidentified.is_empty() {
                    true => String::new(),
                    false => format!(": the fit did not identify {} — refit with a penalty", unidentified.join(", ")),
                };
                return Err(rapport_models::ModelError::NonFinitePrediction {
                    customer: table.id(row).to_string(),
                    column: name,
                    value: values[row],
                    count: values.iter().filter(|value| !value.is_finite()).count(),
                    cause,
                }
                .into());
            }
            if name == columns::PREDICTED_HOLDOUT {
                // As `rapport_models::predict` sums them: in the table's order.
                holdout = table
                    .frequency_holdout()
                    .map(|actual| rapport_models::holdout_evaluation(values.iter().copied().zip(actual.iter().copied())));
            }
            table.push_f64(name, values)?;
        }
        let models = fitted.reports();
        Ok(Predicted { table, model_kind: fitted.model.kind(), models, holdout, spend_left_out: fitted.spend_left_out })
    }
    #[cfg(not(feature = "sql"))]
    {
        let _ = (&mut table, request, root, fitted);
        Err(match engine.cluster() {
            None => EngineError::NotBuiltIn { feature: "sql", what: "the datafusion engine" },
            Some(_) => EngineError::NotBuiltIn { feature: "cluster", what: "the ballista engine" },
        })
    }
}

/// Fit (or load) the request's model on `table`, with the spend model and CLV options
/// the prediction policy gives it.
fn fit_models(table: &CustomerTable, request: &PredictRequest) -> Result<Fitted, EngineError> {
    let unit = table.window().time_unit;
    let model = match &request.saved {
        Some(path) => load_model_of_kind(path, request.model)?.for_unit(unit)?,
        None => rapport_models::fit_with(request.model.unwrap_or(ModelKind::BgNbd), table, &request.options)?,
    };
    // The spend/CLV policy: a count model with a spend column gets Gamma-Gamma on the
    // same customers (repeat buyers whose purchases net to more than zero) and, when the
    // unit is known, a CLV.
    let mut spend_left_out = 0;
    let spend = match (&model, table.monetary_value()) {
        (FittedModel::BgNbd(_) | FittedModel::ParetoNbd(_), Some(_)) => {
            let spend_data = data::SpendData::from_table(table)?;
            spend_left_out = spend_data.net_non_positive();
            Some(GammaGamma.fit_with(&spend_data, &request.options)?)
        }
        _ => None,
    };
    let clv = match (&spend, unit) {
        (None, _) => None,
        (Some(_), Some(unit)) => Some(request.clv.options(unit)?),
        (Some(_), None) => {
            return Err(EngineError::TimeUnitNeeded { purpose: "to turn CLV months into model time" });
        }
    };
    Ok(Fitted { model, spend, clv, spend_left_out })
}

/// A tracking plot request: a model (fitted on the calibration window of the
/// transactions, or loaded) against the transactions' repeat purchases.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRequest {
    /// The transactions file.
    pub input: FileInput,
    /// Its columns.
    pub columns: TransactionColumns,
    /// Period, unit and calibration end (needed when the model is fitted here).
    pub window: WindowSpec,
    /// The model to fit (default BG/NBD); with `saved`, the kind it must be.
    pub model: Option<ModelKind>,
    /// A saved model.
    pub saved: Option<PathBuf>,
    /// Periods between tracking points.
    pub step: i64,
    /// Periods tracked from the first purchase; default: through the last purchase.
    pub periods: Option<i64>,
    /// Rejected rows allowed.
    pub max_rejects: u64,
    /// How to fit the model when it is fitted here.
    pub options: FitOptions,
}

/// Tracking points and what was left out.
#[derive(Debug)]
pub struct TrackOutcome {
    /// The points.
    pub points: Vec<TrackingPoint>,
    /// Rows rejected.
    pub rejected: Vec<Rejected>,
}

/// Load a saved model, refusing one of another kind than `expected` (when given).
fn load_model_of_kind(path: &std::path::Path, expected: Option<ModelKind>) -> Result<SavedModel, EngineError> {
    let saved = load_model(path)?;
    let kind = saved.model.kind();
    match expected {
        Some(expected) if expected != kind => Err(EngineError::Request(format!(
            "{}: the saved model is {kind}, and {expected} was asked for; load a {expected} model or leave the model kind to the file",
            path.display()
        ))),
        _ => Ok(saved),
    }
}

/// Cumulative repeat purchases, actual and expected (FHL 2005, Figure 3).
pub fn track(request: &TrackRequest) -> Result<TrackOutcome, EngineError> {
    let unit = request.window.unit();
    let source = PurchaseSource::File { input: request.input.clone(), columns: request.columns.clone() };
    let model = match &request.saved {
        Some(path) => load_model_of_kind(path, request.model)?.for_unit(Some(unit))?,
        None => {
            if request.window.calibration_end.is_none() {
                return Err(EngineError::CalibrationEndNeeded { what: "tracking" });
            }
            let summary = SummaryRequest { source: source.clone(), window: request.window.clone(), max_rejects: request.max_rejects };
            rapport_models::fit_with(request.model.unwrap_or(ModelKind::BgNbd), &summarize(&summary)?.summary.customers, &request.options)?
        }
    };
    // The histogram covers every purchase: no calibration split, no observation cut (the
    // tracked span is `periods` from the first purchase).
    let window = WindowSpec { observation_end: None, calibration_end: None, ..request.window.clone() };
    let (histogram, rejected) = purchase_histogram(&SummaryRequest { source, window, max_rejects: request.max_rejects })?;
    let points = rapport_models::tracking(&model, &histogram, request.window.period, unit, request.periods, request.step)?;
    Ok(TrackOutcome { points, rejected })
}
