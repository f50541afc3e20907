//! Per-customer scoring after a fit, as a DataFusion scalar function:
//! `rapport_score(frequency, recency, T, monetary_value, duration_holdout)`.
//!
//! The function carries its fitted model (the fit reports, as JSON when it travels to
//! cluster workers) and scores each row with `rapport_models::Scorer`, the scorer the
//! embedded path uses: the two paths share the formulas, not a copy of them.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Float64Builder, StructArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::{Result as DataFusionResult, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use rapport_core::table::{CustomerTable, columns};
use rapport_models::gamma_gamma::FittedGammaGamma;
use rapport_models::{ClvOptions, FitReport, FittedModel, PredictOptions, Scorer, Scores};
use serde::{Deserialize, Serialize};

use crate::{Session, SqlError, internal};

/// The name the scoring function is registered under.
pub const SCORE_FUNCTION: &str = "rapport_score";

/// What the scoring function computes with: the fitted models and the prediction options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSpec {
    /// The model's fit (a count model, BG/BB or Gamma-Gamma).
    pub model: FitReport,
    /// The spend model's fit (Gamma-Gamma, with a count model).
    pub spend: Option<FitReport>,
    /// Horizon of `expected_purchases`, in the data's time unit.
    pub horizon: f64,
    /// CLV horizon and discounting.
    pub clv: Option<ClvOptions>,
}

/// `rapport_score(frequency, recency, T, monetary_value, duration_holdout)`: a struct of
/// `p_alive, expected_purchases, expected_average_spend, clv, predicted_holdout` (null
/// where the model gives no such quantity, or the customer's inputs are null).
#[derive(Debug, Clone)]
pub struct ScoreFunction {
    signature: Signature,
    spec: ScoreSpec,
    model: FittedModel,
    spend: Option<FittedGammaGamma>,
}

impl PartialEq for ScoreFunction {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for ScoreFunction {}

impl Hash for ScoreFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.to_json().hash(state);
    }
}

impl ScoreFunction {
    /// The function for `spec`; refused when its reports are not models Rapport can score with.
    pub fn new(spec: ScoreSpec) -> Result<ScoreFunction, SqlError> {
        let bad = |error: rapport_models::ModelError| SqlError::Internal(format!("the scoring model: {error}"));
        let model = FittedModel::from_report(&spec.model).map_err(bad)?;
        let spend = match &spec.spend {
            None => None,
            Some(report) => match FittedModel::from_report(report).map_err(bad)? {
                FittedModel::GammaGamma(spend) => Some(spend),
                other => return Err(SqlError::Internal(format!("the spend model is {}, not Gamma-Gamma", other.kind()))),
            },
        };
        Scorer::new(&model, spend.as_ref(), PredictOptions { horizon: spec.horizon, clv: spec.clv }).map_err(bad)?;
        Ok(ScoreFunction { signature: Signature::any(5, Volatility::Immutable), spec, model, spend })
    }

    /// Its specification as JSON: what travels to cluster workers.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.spec).unwrap_or_default()
    }

    /// The function from what [`ScoreFunction::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<ScoreFunction, SqlError> {
        let spec = serde_json::from_str(text).map_err(|error| SqlError::Internal(format!("the scoring model: {error}")))?;
        ScoreFunction::new(spec)
    }

    /// As a DataFusion scalar function, to register on a session.
    pub fn udf(self) -> ScalarUDF {
        ScalarUDF::from(self)
    }
}

/// The fields of the function's result, in order.
pub fn score_fields() -> Fields {
    Fields::from(
        ["p_alive", "expected_purchases", "expected_average_spend", "clv", "predicted_holdout"]
            .map(|name| Field::new(name, DataType::Float64, true))
            .to_vec(),
    )
}

impl ScalarUDFImpl for ScoreFunction {
    fn name(&self) -> &str {
        SCORE_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Struct(score_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let columns = arrays.iter().map(|array| arrow::compute::cast(array, &DataType::Float64)).collect::<Result<Vec<ArrayRef>, _>>()?;
        let [x, t_x, t, monetary, duration] = &columns[..] else {
            return exec_err!("{SCORE_FUNCTION} takes 5 arguments, got {}", columns.len());
        };
        let (x, t_x, t) = (x.as_primitive::<Float64Type>(), t_x.as_primitive::<Float64Type>(), t.as_primitive::<Float64Type>());
        let (monetary, duration) = (monetary.as_primitive::<Float64Type>(), duration.as_primitive::<Float64Type>());
        let scorer = Scorer::new(&self.model, self.spend.as_ref(), PredictOptions { horizon: self.spec.horizon, clv: self.spec.clv })
            .map_err(|error| datafusion::error::DataFusionError::Execution(error.to_string()))?;
        let value = |array: &arrow::array::Float64Array, row: usize| (!array.is_null(row)).then(|| array.value(row));
        let mut builders: Vec<Float64Builder> = (0..5).map(|_| Float64Builder::with_capacity(rows)).collect();
        for row in 0..rows {
            let scores = match (value(x, row), value(t_x, row), value(t, row)) {
                (Some(x), t_x, t) => {
                    Some(scorer.score(x, t_x.unwrap_or(0.0), t.unwrap_or(0.0), value(monetary, row), value(duration, row)))
                }
                _ => None,
            };
            // In the order of `score_fields`.
            let ordered = scores.map(|scores| {
                [scores.p_alive, scores.expected_purchases, scores.expected_average_spend, scores.clv, scores.predicted_holdout]
            });
            for (index, builder) in builders.iter_mut().enumerate() {
                builder.append_option(ordered.and_then(|values| values[index]));
            }
        }
        let arrays: Vec<ArrayRef> = builders.into_iter().map(|mut builder| Arc::new(builder.finish()) as ArrayRef).collect();
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(score_fields(), arrays, None)?)))
    }
}

/// The table the customers being scored are read from.
const SCORING_TABLE: &str = "rapport_scoring";

/// Score every customer of `table` on `session` with `function`: one plan over the
/// customers (written as a Parquet file in `scratch`, a directory every executor of a
/// cluster sees), returning the scores in the table's order.
pub fn score(session: &Session, function: ScoreFunction, table: &CustomerTable, scratch: &Path) -> Result<Vec<Scores>, SqlError> {
    let rows = table.len();
    let column = |values: Option<&[f64]>| -> ArrayRef {
        match values {
            Some(values) => Arc::new(Float64Array::from(values.to_vec())),
            None => Arc::new(Float64Array::from(vec![None; rows])),
        }
    };
    let frequency = table.frequency().ok_or_else(|| SqlError::Query("the customers have no frequency to score".into()))?;
    let schema = Arc::new(Schema::new(
        ["row", columns::FREQUENCY, columns::RECENCY, columns::T, columns::MONETARY_VALUE, columns::DURATION_HOLDOUT]
            .iter()
            .enumerate()
            .map(|(index, name)| Field::new(*name, if index == 0 { DataType::UInt64 } else { DataType::Float64 }, index > 1))
            .collect::<Vec<_>>(),
    ));
    let holdout = table.frequency_holdout().and(table.duration_holdout());
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from_iter_values(0..rows as u64)),
            column(Some(frequency)),
            column(table.recency()),
            column(table.age()),
            column(table.monetary_value()),
            column(holdout),
        ],
    )
    .map_err(internal)?;
    let file = scratch.join("customers.parquet");
    rapport_store::output::write_parquet(&batch, &file)?;

    let context = &session.context;
    if context.table_exist(SCORING_TABLE).map_err(internal)? {
        context.deregister_table(SCORING_TABLE).map_err(internal)?;
    }
    context.register_table(SCORING_TABLE, session.parquet_table(std::slice::from_ref(&file), None)?).map_err(internal)?;
    context.register_udf(function.udf());
    let result = session.query(&format!(
        "SELECT row, {SCORE_FUNCTION}({}, {}, \"{}\", {}, {}) AS scores FROM {SCORING_TABLE}",
        columns::FREQUENCY,
        columns::RECENCY,
        columns::T,
        columns::MONETARY_VALUE,
        columns::DURATION_HOLDOUT
    ));
    context.deregister_table(SCORING_TABLE).map_err(internal)?;
    let (_, batches) = result?;

    let mut scores = vec![Scores::default(); rows];
    let mut seen = 0;
    for batch in &batches {
        let row = batch.column(0).as_primitive::<arrow::datatypes::UInt64Type>();
        let structs = batch.column(1).as_struct();
        let fields: Vec<&arrow::array::Float64Array> = structs.columns().iter().map(|array| array.as_primitive::<Float64Type>()).collect();
        let value = |field: usize, index: usize| (!fields[field].is_null(index)).then(|| fields[field].value(index));
        for index in 0..batch.num_rows() {
            let Some(target) = scores.get_mut(row.value(index) as usize) else { continue };
            *target = Scores {
                p_alive: value(0, index),
                expected_purchases: value(1, index),
                expected_average_spend: value(2, index),
                clv: value(3, index),
                predicted_holdout: value(4, index),
            };
            seen += 1;
        }
    }
    if seen != rows {
        return Err(SqlError::Internal(format!("the scoring plan returned {seen} rows for {rows} customers")));
    }
    Ok(scores)
}
