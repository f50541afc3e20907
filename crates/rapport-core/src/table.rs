//! The customer table: one row per customer, the pivot of the whole analysis.
//!
//! The summary makes it (ids, frequency, recency, T, monetary value, holdout columns);
//! every later stage adds typed columns to it (P(alive), expected purchases, CLV, …);
//! a results run persists it as `customers.parquet`, which the report, the server, SQL
//! and the next run read back. Its columns are Arrow arrays, so turning it into a
//! `RecordBatch` (for Parquet, DataFusion or a writer) copies no data, and the models
//! read the hot columns as plain `&[f64]` slices.
//!
//! Columns carry lifetimes' names: `frequency, recency, T, monetary_value`, with `_cal`
//! after a calibration / holdout split plus `frequency_holdout, monetary_value_holdout,
//! duration_holdout`. The accessors find either spelling.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, LargeStringArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::time::{Period, TimeUnit};

/// The columns of an `analyze` run's customer table, in order, with what each holds:
/// the names conditions in `rapport.toml` (segments, the top tier) may read. User-defined
/// segments follow them as true/false columns named after the segment.
pub fn analyze_columns() -> &'static [(&'static str, &'static str)] {
    &[
        ("customer_id", "the customer's id"),
        ("region", "region from the customer file"),
        ("store_distance_km", "distance from home to the nearest store, km"),
        ("preferred_channel", "the preferred channel from the customers file"),
        ("opted_out", "opted out of all contact (customers file)"),
        ("purchases", "orders (distinct times of purchase rows with an amount of 0 or more)"),
        ("net_spend", "spend net of refunds, to the currency's minor unit"),
        ("refunds", "refunds (distinct times with a negative amount)"),
        ("days_since_last_purchase", "whole days from the last purchase to the observation end"),
        ("tenure_days", "whole days from the first purchase to the observation end"),
        ("conversations", "service conversations"),
        ("opened_negative", "conversations that opened negative"),
        ("recovered", "conversations that opened negative and were recovered"),
        ("unresolved", "conversations not resolved"),
        ("last_nps", "the latest NPS answer"),
        ("social_engagement", "follows, likes, shares, reposts and mentions"),
        ("reviews", "reviews written"),
        ("referrals_made", "referrals made"),
        ("referred", "this customer was referred by another"),
        ("advocacy_score", "advocacy, 0–100"),
        ("ambassador", "a promoter who shares, reviews positively or refers"),
        ("frequency", "repeat purchase days (lifetimes), weeks model"),
        ("recency", "weeks from the first to the last purchase day"),
        ("T", "weeks from the first purchase day to the observation end"),
        ("p_alive", "P(alive), BG/NBD"),
        ("expected_purchases_52_weeks", "purchases expected in the next 52 weeks, BG/NBD"),
        ("clv", "12-month discounted lifetime value, BG/NBD + Gamma-Gamma"),
        ("expected_average_spend", "expected spend per future purchase, Gamma-Gamma"),
        ("predicted_spend_52_weeks", "expected purchases × expected spend, next 52 weeks"),
        ("strength", "relationship strength index, 0–100"),
        ("strength_level", "very weak, weak, moderate, strong or very strong"),
        ("top_factors", "the factors contributing most to the strength index"),
        ("longevity_days", "whole days from the first event to the observation end"),
        ("longevity_band", "the matrix's longevity band (1 = newest)"),
        ("strength_band", "the matrix's strength band (1 = weakest)"),
        ("top_tier", "in the watched top tier"),
        ("recency_score", "RFM recency score, 1–5 (5 = most recent)"),
        ("frequency_score", "RFM frequency score, 1–5"),
        ("monetary_score", "RFM monetary score, 1–5"),
        ("rfm_code", "the three RFM scores as a code, e.g. 545"),
        ("segment", "the named RFM segment"),
        ("cluster", "k-means cluster (1 = highest mean spend)"),
        ("value_realised", "net margin of the purchases to date (net spend where purchases carry no margin)"),
        ("value_referred", "realised value of the customers this customer referred"),
        ("value_predicted", "12-month CLV, at the brand's margin rate when purchases carry margins"),
        ("value", "value_realised + value_referred + value_predicted"),
        ("relationship_cost", "contacts, rewards and program contacts"),
        ("ror", "Return on Relationship: (value − relationship_cost) / relationship_cost; empty without cost"),
        ("purchase_propensity", "P(a purchase in the next [propensity] horizon_days), the holdout's best model"),
        ("churn_propensity", "1 − purchase_propensity"),
        ("purchase_probability_btyd", "the BG/NBD baseline's P(a purchase in the horizon)"),
        ("best_program", "the program with the highest predicted response (uplift of contacting the customer), when above 0"),
        ("best_program_response", "that program's predicted response: P(buys | contacted) − P(buys | held out)"),
        ("next_action", "the playbook's next action for the customer (empty: none)"),
    ]
}

/// Column names of the customer table.
pub mod columns {
    /// The customer's id as it appears in the input.
    pub const CUSTOMER_ID: &str = "customer_id";
    /// Repeat purchase periods (Hardie's `x`).
    pub const FREQUENCY: &str = "frequency";
    /// Age at the last purchase (`t_x`).
    pub const RECENCY: &str = "recency";
    /// Age at the end of observation (`T`).
    pub const T: &str = "T";
    /// Mean value of the repeat periods (`zbar`).
    pub const MONETARY_VALUE: &str = "monetary_value";
    /// Purchase periods in the holdout window.
    pub const FREQUENCY_HOLDOUT: &str = "frequency_holdout";
    /// Mean value of the holdout purchases.
    pub const MONETARY_VALUE_HOLDOUT: &str = "monetary_value_holdout";
    /// Length of the holdout window.
    pub const DURATION_HOLDOUT: &str = "duration_holdout";
    /// Customers sharing this row (summary files of unique patterns; BG/BB).
    pub const WEIGHTS: &str = "weights";
    /// P(alive | x, t_x, T).
    pub const P_ALIVE: &str = "p_alive";
    /// Expected purchases in the prediction horizon.
    pub const EXPECTED_PURCHASES: &str = "expected_purchases";
    /// Expected mean spend of a future purchase (Gamma-Gamma).
    pub const EXPECTED_AVERAGE_SPEND: &str = "expected_average_spend";
    /// Discounted customer lifetime value.
    pub const CLV: &str = "clv";
    /// Purchases the model expects in the holdout window.
    pub const PREDICTED_HOLDOUT: &str = "predicted_holdout";
}

/// What the time columns of a table mean: their unit and the window they describe.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Window {
    /// Unit of `recency`, `T` and `duration_holdout`; `None` when unknown (a summary
    /// file read without one) or for discrete opportunities (BG/BB).
    pub time_unit: Option<TimeUnit>,
    /// The period purchases were grouped by, when the table was summarised by Rapport.
    pub period: Option<Period>,
    /// Last local second observed (Unix seconds on the local clock).
    pub observation_end: Option<i64>,
    /// Last local second of the calibration window, when there is a holdout.
    pub calibration_end: Option<i64>,
}

/// One row per customer, as named Arrow columns; the first is always `customer_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerTable {
    fields: Vec<Arc<Field>>,
    columns: Vec<ArrayRef>,
    window: Window,
}

/// Schema metadata key under which the window is kept in Parquet and record batches.
const WINDOW_KEY: &str = "rapport.window";

impl CustomerTable {
    /// A table of these customers and no other column yet.
    pub fn new(ids: LargeStringArray, window: Window) -> CustomerTable {
        CustomerTable {
            fields: vec![Arc::new(Field::new(columns::CUSTOMER_ID, DataType::LargeUtf8, false))],
            columns: vec![Arc::new(ids)],
            window,
        }
    }

    /// A table of the customers with these ids.
    pub fn from_ids<'a>(ids: impl IntoIterator<Item = &'a str>, window: Window) -> CustomerTable {
        CustomerTable::new(LargeStringArray::from_iter_values(ids), window)
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.columns[0].len()
    }

    /// Whether there are no customers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The window of the time columns.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Change what the time columns are said to mean (e.g. the unit of a summary file
    /// given separately).
    pub fn set_window(&mut self, window: Window) {
        self.window = window;
    }

    /// The ids.
    pub fn ids(&self) -> &LargeStringArray {
        self.columns[0].as_string::<i64>()
    }

    /// The id of customer `row`.
    pub fn id(&self, row: usize) -> &str {
        self.ids().value(row)
    }

    /// Column names, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|field| field.name().as_str())
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ArrayRef> {
        self.fields.iter().position(|field| field.name() == name).map(|index| &self.columns[index])
    }

    /// A float column by name, as a slice (no copy). Nulls, if any, read as their
    /// stored value; the columns Rapport writes have none.
    pub fn f64(&self, name: &str) -> Option<&[f64]> {
        self.column(name).and_then(|array| array.as_primitive_opt::<Float64Type>()).map(|array| array.values().as_ref())
    }

    fn f64_either(&self, name: &str) -> Option<&[f64]> {
        self.f64(name).or_else(|| self.f64(&format!("{name}_cal")))
    }

    /// Repeat purchase periods `x` (`frequency` or `frequency_cal`).
    pub fn frequency(&self) -> Option<&[f64]> {
        self.f64_either(columns::FREQUENCY)
    }

    /// Recency `t_x` (`recency` or `recency_cal`).
    pub fn recency(&self) -> Option<&[f64]> {
        self.f64_either(columns::RECENCY)
    }

    /// Age `T` (`T` or `T_cal`); the number of opportunities `n` for BG/BB.
    pub fn age(&self) -> Option<&[f64]> {
        self.f64_either(columns::T)
    }

    /// Mean repeat spend (`monetary_value` or `monetary_value_cal`).
    pub fn monetary_value(&self) -> Option<&[f64]> {
        self.f64_either(columns::MONETARY_VALUE)
    }

    /// Holdout purchase periods, when the table has a holdout.
    pub fn frequency_holdout(&self) -> Option<&[f64]> {
        self.f64(columns::FREQUENCY_HOLDOUT)
    }

    /// Holdout durations, when the table has a holdout.
    pub fn duration_holdout(&self) -> Option<&[f64]> {
        self.f64(columns::DURATION_HOLDOUT)
    }

    /// Row weights, when the rows are weighted patterns.
    pub fn weights(&self) -> Option<&[f64]> {
        self.f64(columns::WEIGHTS)
    }

    /// Add (or replace) a column. Its length must be the table's.
    pub fn push(&mut self, name: &str, column: ArrayRef) -> Result<(), CoreError> {
        if column.len() != self.len() {
            return Err(CoreError::InvalidValue {
                value: name.to_string(),
                expected: format!("a column of {} rows (got {})", self.len(), column.len()),
            });
        }
        if name == columns::CUSTOMER_ID {
            return Err(CoreError::invalid(name, "a column name other than customer_id"));
        }
        let field = Arc::new(Field::new(name, column.data_type().clone(), column.null_count() > 0));
        match self.fields.iter().position(|existing| existing.name() == name) {
            Some(index) => {
                self.fields[index] = field;
                self.columns[index] = column;
            }
            None => {
                self.fields.push(field);
                self.columns.push(column);
            }
        }
        Ok(())
    }

    /// Add (or replace) a float column, taking the vector without copying it.
    pub fn push_f64(&mut self, name: &str, values: Vec<f64>) -> Result<(), CoreError> {
        self.push(name, Arc::new(Float64Array::from(values)))
    }

    /// Remove a column, if present.
    pub fn remove(&mut self, name: &str) {
        if name == columns::CUSTOMER_ID {
            return;
        }
        if let Some(index) = self.fields.iter().position(|field| field.name() == name) {
            self.fields.remove(index);
            self.columns.remove(index);
        }
    }

    /// The table as a record batch, sharing its buffers (no data is copied). The window
    /// travels in the schema's metadata, so Parquet keeps it.
    pub fn to_record_batch(&self) -> RecordBatch {
        let window = serde_json::to_string(&self.window).unwrap_or_default();
        let schema = Schema::new(self.fields.clone()).with_metadata(HashMap::from([(WINDOW_KEY.to_string(), window)]));
        // The fields were built from the columns and lengths are checked on push, so
        // the batch is valid by construction.
        RecordBatch::try_new(Arc::new(schema), self.columns.clone())
            .unwrap_or_else(|_| RecordBatch::new_empty(Arc::new(Schema::new(self.fields.clone()))))
    }

    /// A table from a record batch written by [`CustomerTable::to_record_batch`] (or any
    /// batch whose first column is a string `customer_id`).
    pub fn from_record_batch(batch: &RecordBatch) -> Result<CustomerTable, CoreError> {
        let schema = batch.schema();
        let window = schema.metadata().get(WINDOW_KEY).and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
        let Some(first) = batch.columns().first() else {
            return Err(CoreError::MissingField { field: columns::CUSTOMER_ID.into() });
        };
        if schema.field(0).name() != columns::CUSTOMER_ID {
            return Err(CoreError::MissingField { field: columns::CUSTOMER_ID.into() });
        }
        let ids = match first.data_type() {
            DataType::LargeUtf8 => first.as_string::<i64>().clone(),
            DataType::Utf8 => LargeStringArray::from_iter(first.as_string::<i32>().iter()),
            other => return Err(CoreError::invalid(&other.to_string(), "customer_id as text")),
        };
        let mut table = CustomerTable::new(ids, window);
        for (field, column) in schema.fields().iter().zip(batch.columns()).skip(1) {
            table.push(field.name(), column.clone())?;
        }
        Ok(table)
    }
}

/// The order of customer ids in a summary: ids that are unsigned integers first, by
/// value (then by their text, so "007" and "7" have a fixed order), then every other id
/// byte-wise. A total order, so sorting with it is well defined for any mix of ids.
pub fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    NaturalKey::of(a.as_bytes()).cmp(&NaturalKey::of(b.as_bytes())).then_with(|| natural_tail(a.as_bytes(), b.as_bytes()))
}

/// The part of [`natural_order`] that is cheap to compare: an integer id of up to 19
/// significant digits is its value; the sort computes this once per id instead of once
/// per comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NaturalKey {
    /// An integer id that fits in a u64 (after leading zeros).
    Small(u64),
    /// A longer integer id: significant digits (compared in full by `natural_tail`).
    Large(usize),
    /// Anything else, by its first 8 bytes (zero-padded, big-endian: the same order as
    /// the bytes); ties are settled by the whole text.
    Text(u64),
}

impl NaturalKey {
    /// The key of an id's bytes.
    pub fn of(id: &[u8]) -> NaturalKey {
        if id.is_empty() || !id.iter().all(u8::is_ascii_digit) {
            let mut prefix = [0u8; 8];
            for (slot, byte) in prefix.iter_mut().zip(id) {
                *slot = *byte;
            }
            return NaturalKey::Text(u64::from_be_bytes(prefix));
        }
        let digits = trim_zeros(id);
        if digits.len() <= 19 {
            NaturalKey::Small(digits.iter().fold(0u64, |value, byte| value * 10 + u64::from(byte - b'0')))
        } else {
            NaturalKey::Large(digits.len())
        }
    }
}

/// Ties of [`NaturalKey`]: long integers by their significant digits, then every id by its text.
pub fn natural_tail(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    trim_zeros(a).cmp(trim_zeros(b)).then_with(|| a.cmp(b))
}

fn trim_zeros(id: &[u8]) -> &[u8] {
    &id[id.iter().position(|&byte| byte != b'0').unwrap_or(id.len())..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_shared_with_the_record_batch() {
        let mut table = CustomerTable::from_ids(["a", "b"], Window { time_unit: Some(TimeUnit::Weeks), ..Window::default() });
        table.push_f64("frequency_cal", vec![1.0, 0.0]).expect("push");
        let pointer = table.frequency().expect("frequency").as_ptr();
        let batch = table.to_record_batch();
        let shared = batch.column(1).as_primitive::<Float64Type>().values().as_ptr();
        assert_eq!(pointer, shared, "no copy");
        let back = CustomerTable::from_record_batch(&batch).expect("back");
        assert_eq!(back, table);
        assert_eq!(back.window().time_unit, Some(TimeUnit::Weeks));
    }

    #[test]
    fn pushes_check_length_and_replace_by_name() {
        let mut table = CustomerTable::from_ids(["a"], Window::default());
        assert!(table.push_f64("clv", vec![1.0, 2.0]).is_err());
        table.push_f64("clv", vec![1.0]).expect("push");
        table.push_f64("clv", vec![2.0]).expect("replace");
        assert_eq!(table.f64("clv"), Some(&[2.0][..]));
        assert_eq!(table.column_names().collect::<Vec<_>>(), ["customer_id", "clv"]);
    }

    #[test]
    fn natural_order_sorts_numbers_numerically() {
        let mut ids = vec!["10", "9", "0002", "b", "a"];
        ids.sort_by(|a, b| natural_order(a, b));
        assert_eq!(ids, ["0002", "9", "10", "a", "b"]);
        // Mixed ids: integers first (the old byte-wise fallback for mixed pairs was not a
        // total order: "2" < "10" < "1a" < "2").
        let mut ids = vec!["1a", "10", "2", "007", "7", "123456789012345678901234", "99999999999999999999", "A"];
        ids.sort_by(|a, b| natural_order(a, b));
        assert_eq!(ids, ["2", "007", "7", "10", "99999999999999999999", "123456789012345678901234", "1a", "A"]);
    }

    proptest::proptest! {
        /// natural_order is a total order: antisymmetric and transitive on any ids.
        #[test]
        fn natural_order_is_a_total_order(ids in proptest::collection::vec("[0-9a]{0,4}|[0-9]{18,22}", 3)) {
            use std::cmp::Ordering;
            let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
            proptest::prop_assert_eq!(natural_order(a, b), natural_order(b, a).reverse());
            if natural_order(a, b) != Ordering::Greater && natural_order(b, c) != Ordering::Greater {
                proptest::prop_assert_ne!(natural_order(a, c), Ordering::Greater);
            }
            proptest::prop_assert_eq!(natural_order(a, b) == Ordering::Equal, a == b);
        }
    }
}
