//! Rapport's functions on the wire. A user-defined function travels in a DataFusion plan
//! by name, with an optional blob its codec writes: Rapport's functions carry their
//! parameters (the summary's options and time zone, the scoring function's fitted model)
//! in that blob, so a scheduler or executor rebuilds exactly the function the client
//! planned with. Everything else goes to the codec wrapped (Ballista's).

use std::any::Any;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::{Result as DataFusionResult, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::features;
use crate::measures::{CUSTOMER_MEASURES_FUNCTION, MeasuresFunction, TOPIC_FUNCTION, TopicFunction};
use crate::score::{SCORE_FUNCTION, ScoreFunction};
use crate::summary::{SUMMARY_FUNCTION, SummaryFunction};

/// What a function without parameters writes: not empty, so a decoder knows it is ours.
const NO_PARAMETERS: &[u8] = b"{}";

fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) -> Option<()> {
    if features::scalar_function(node.name()).is_some() {
        buf.extend_from_slice(NO_PARAMETERS);
        return Some(());
    }
    let inner = node.inner().as_ref() as &dyn Any;
    if let Some(function) = inner.downcast_ref::<TopicFunction>() {
        buf.extend_from_slice(function.to_json().as_bytes());
        return Some(());
    }
    let function = inner.downcast_ref::<ScoreFunction>()?;
    buf.extend_from_slice(function.to_json().as_bytes());
    Some(())
}

fn decode_udf(name: &str, buf: &[u8]) -> Option<DataFusionResult<Arc<ScalarUDF>>> {
    if buf == NO_PARAMETERS
        && let Some(function) = features::scalar_function(name)
    {
        return Some(Ok(Arc::new(function)));
    }
    if name == TOPIC_FUNCTION && !buf.is_empty() {
        return Some((|| {
            let text = std::str::from_utf8(buf).map_err(|error| DataFusionError::Internal(error.to_string()))?;
            let function = TopicFunction::from_json(text).map_err(|error| DataFusionError::Internal(error.to_string()))?;
            Ok(Arc::new(function.udf()))
        })());
    }
    (name == SCORE_FUNCTION && !buf.is_empty()).then(|| {
        let text = std::str::from_utf8(buf).map_err(|error| DataFusionError::Internal(error.to_string()))?;
        let function = ScoreFunction::from_json(text).map_err(|error| DataFusionError::Internal(error.to_string()))?;
        Ok(Arc::new(function.udf()))
    })
}

fn encode_udaf(node: &AggregateUDF, buf: &mut Vec<u8>) -> Option<()> {
    if features::aggregate_function(node.name()).is_some() {
        buf.extend_from_slice(NO_PARAMETERS);
        return Some(());
    }
    let inner = node.inner().as_ref() as &dyn Any;
    if let Some(function) = inner.downcast_ref::<MeasuresFunction>() {
        buf.extend_from_slice(function.to_json().as_bytes());
        return Some(());
    }
    let function = inner.downcast_ref::<SummaryFunction>()?;
    buf.extend_from_slice(function.to_json().as_bytes());
    Some(())
}

fn decode_udaf(name: &str, buf: &[u8]) -> Option<DataFusionResult<Arc<AggregateUDF>>> {
    if buf == NO_PARAMETERS
        && let Some(function) = features::aggregate_function(name)
    {
        return Some(Ok(Arc::new(function)));
    }
    if name == CUSTOMER_MEASURES_FUNCTION && !buf.is_empty() {
        return Some((|| {
            let text = std::str::from_utf8(buf).map_err(|error| DataFusionError::Internal(error.to_string()))?;
            let function = MeasuresFunction::from_json(text).map_err(|error| DataFusionError::Internal(error.to_string()))?;
            Ok(Arc::new(function.udaf()))
        })());
    }
    (name == SUMMARY_FUNCTION && !buf.is_empty()).then(|| {
        let text = std::str::from_utf8(buf).map_err(|error| DataFusionError::Internal(error.to_string()))?;
        let function = SummaryFunction::from_json(text).map_err(|error| DataFusionError::Internal(error.to_string()))?;
        Ok(Arc::new(function.udaf()))
    })
}

/// The logical-plan codec: Rapport's functions, then `inner` for everything else.
#[derive(Debug)]
pub struct LogicalCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
}

impl LogicalCodec {
    /// Rapport's functions over `inner`.
    pub fn new(inner: Arc<dyn LogicalExtensionCodec>) -> LogicalCodec {
        LogicalCodec { inner }
    }
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> DataFusionResult<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DataFusionResult<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> DataFusionResult<Arc<dyn TableProvider>> {
        self.inner.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DataFusionResult<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> DataFusionResult<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> DataFusionResult<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DataFusionResult<Arc<ScalarUDF>> {
        decode_udf(name, buf).unwrap_or_else(|| self.inner.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DataFusionResult<()> {
        encode_udf(node, buf).map_or_else(|| self.inner.try_encode_udf(node, buf), Ok)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DataFusionResult<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DataFusionResult<()> {
        encode_udaf(node, buf).map_or_else(|| self.inner.try_encode_udaf(node, buf), Ok)
    }
}

/// The physical-plan codec: Rapport's functions, then `inner` for everything else.
#[derive(Debug)]
pub struct PhysicalCodec {
    inner: Arc<dyn PhysicalExtensionCodec>,
}

impl PhysicalCodec {
    /// Rapport's functions over `inner`.
    pub fn new(inner: Arc<dyn PhysicalExtensionCodec>) -> PhysicalCodec {
        PhysicalCodec { inner }
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DataFusionResult<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DataFusionResult<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DataFusionResult<Arc<ScalarUDF>> {
        decode_udf(name, buf).unwrap_or_else(|| self.inner.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DataFusionResult<()> {
        encode_udf(node, buf).map_or_else(|| self.inner.try_encode_udf(node, buf), Ok)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DataFusionResult<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DataFusionResult<()> {
        encode_udaf(node, buf).map_or_else(|| self.inner.try_encode_udaf(node, buf), Ok)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion_proto::logical_plan::{DefaultLogicalExtensionCodec, LogicalExtensionCodec};
    use rapport_core::summary::SummaryOptions;
    use rapport_core::time::{Period, TimeUnit, Zone};
    use rapport_models::FitReport;

    use super::LogicalCodec;
    use crate::score::{ScoreFunction, ScoreSpec};
    use crate::summary::SummaryFunction;

    fn report(model: &str, names: &[&str], params: &[f64]) -> FitReport {
        let json = serde_json::json!({
            "model": model, "names": names, "params": params, "std_errors": vec![0.1; params.len()],
            "intervals": vec![(0.0, 1.0); params.len()], "log_likelihood": -1.0, "n_customers": 10.0,
            "converged": true, "iterations": 3, "penalizer": 0.0, "not_identified": Vec::<String>::new(),
        });
        serde_json::from_value(json).expect("a fit report")
    }

    /// Rapport's functions travel with their parameters: what a worker decodes is the
    /// function the client planned with (options, time zone, fitted model).
    #[test]
    fn functions_travel_with_their_parameters() {
        let codec = LogicalCodec::new(Arc::new(DefaultLogicalExtensionCodec {}));
        let options = SummaryOptions {
            period: Period::Week,
            time_unit: TimeUnit::Days,
            observation_end: Some(1_700_000_000),
            calibration_end: Some(1_690_000_000),
            monetary: true,
        };
        let zone: Zone = "Europe/Paris".parse().expect("zone");
        let summary = SummaryFunction::new(options, zone).udaf();
        let mut buffer = Vec::new();
        codec.try_encode_udaf(&summary, &mut buffer).expect("encode");
        assert!(!buffer.is_empty());
        let decoded = codec.try_decode_udaf(summary.name(), &buffer).expect("decode");
        assert_eq!(*decoded, summary);

        let spec = ScoreSpec {
            model: report("bg-nbd", &["r", "alpha", "a", "b"], &[0.24, 4.41, 0.79, 2.43]),
            spend: Some(report("gamma-gamma", &["p", "q", "v"], &[6.25, 3.74, 15.45])),
            horizon: 52.0,
            clv: Some(rapport_models::ClvOptions { months: 12, monthly_discount_rate: 0.01, units_per_month: 4.35 }),
        };
        let score = ScoreFunction::new(spec).expect("a scoring function").udf();
        let mut buffer = Vec::new();
        codec.try_encode_udf(&score, &mut buffer).expect("encode");
        let decoded = codec.try_decode_udf(score.name(), &buffer).expect("decode");
        assert_eq!(*decoded, score);

        // The analysis's functions without parameters travel by name.
        for name in [
            crate::features::MICROS_FUNCTION,
            crate::features::TONE_FUNCTION,
            crate::features::ORDER_KEY_FUNCTION,
            crate::features::CONVERSATION_COUNTS_FUNCTION,
        ] {
            let function = crate::features::scalar_function(name).expect("a function");
            let mut buffer = Vec::new();
            codec.try_encode_udf(&function, &mut buffer).expect("encode");
            assert_eq!(*codec.try_decode_udf(name, &buffer).expect("decode"), function);
        }
        let conversations = crate::features::aggregate_function(crate::features::CONVERSATION_LIST_FUNCTION).expect("a function");
        let mut buffer = Vec::new();
        codec.try_encode_udaf(&conversations, &mut buffer).expect("encode");
        assert_eq!(*codec.try_decode_udaf(conversations.name(), &buffer).expect("decode"), conversations);

        // Anything else goes to the codec wrapped: DataFusion's own functions by name.
        let mut buffer = Vec::new();
        let sum = datafusion::functions_aggregate::sum::sum_udaf();
        codec.try_encode_udaf(&sum, &mut buffer).expect("encode");
        assert!(buffer.is_empty());
    }
}
