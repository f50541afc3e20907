//! `summarize`: files and workspaces into the customer table.

use rapport_engine::input::{FileInput, TransactionColumns, WindowSpec};
use rapport_engine::summary::{PurchaseSource, SummaryRequest, summarize};
use rapport_engine::{Period, TimeUnit};

use crate::{cdnow_sample, write};

fn cdnow_request() -> SummaryRequest {
    SummaryRequest {
        source: PurchaseSource::File {
            input: cdnow_sample(),
            columns: TransactionColumns { customer: "customer_id".into(), time: "date".into(), amount: Some("dollars".into()) },
        },
        window: WindowSpec {
            period: Period::Day,
            time_unit: Some(TimeUnit::Weeks),
            calibration_end: Some("1997-09-30".into()),
            observation_end: Some("1998-06-30".into()),
            ..WindowSpec::default()
        },
        max_rejects: 0,
    }
}

/// Hardie's CDNOW calibration summary: customer 1 has x = 2, t_x = 30.43, T = 38.86 weeks
/// (to 1e-2, the published rounding); 2,357 customers; holdout columns present.
#[test]
fn cdnow_summary_is_the_customer_table() {
    let outcome = summarize(&cdnow_request()).expect("summary");
    let table = &outcome.summary.customers;
    assert_eq!(table.len(), 2357);
    assert_eq!(table.id(0), "0001");
    assert_eq!(table.frequency().expect("frequency")[0], 2.0);
    assert!((table.recency().expect("recency")[0] - 30.43).abs() < 5e-3);
    assert!((table.age().expect("T")[0] - 38.86).abs() < 5e-3);
    assert!(table.frequency_holdout().is_some() && table.duration_holdout().is_some());
    assert_eq!(table.window().time_unit, Some(TimeUnit::Weeks));
    let names: Vec<&str> = table.column_names().collect();
    assert_eq!(
        names,
        [
            "customer_id",
            "frequency_cal",
            "recency_cal",
            "T_cal",
            "monetary_value_cal",
            "frequency_holdout",
            "monetary_value_holdout",
            "duration_holdout"
        ]
    );
    assert!(outcome.rejected.is_empty());
}

/// Bad rows beyond the allowance fail with a stable code; within it they are returned in
/// line order.
#[test]
fn rejected_rows_are_counted_and_kept() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = write(directory.path(), "p.csv", "customer_id,date,amount\na,2020-01-01,3\nb,2020-13-01,4\nc,2020-01-02,x\n");
    let mut request = SummaryRequest {
        source: PurchaseSource::File {
            input: FileInput::new(&path),
            columns: TransactionColumns { amount: Some("amount".into()), ..TransactionColumns::default() },
        },
        window: WindowSpec::default(),
        max_rejects: 0,
    };
    let error = summarize(&request).expect_err("two bad rows");
    assert_eq!(error.code(), "too_many_rejects");
    assert!(!error.to_string().contains("--"), "no CLI flags in library errors: {error}");
    request.max_rejects = 2;
    let outcome = summarize(&request).expect("within the allowance");
    assert_eq!(outcome.rejected.iter().map(|row| row.line).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(outcome.summary.customers.len(), 1);
}

/// A malformed Parquet file is the user's data error, with a code, not an internal one.
#[test]
fn malformed_parquet_is_a_data_error() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = write(directory.path(), "p.parquet", "PAR1 this is not parquet");
    let request = SummaryRequest {
        source: PurchaseSource::File { input: FileInput::new(&path), columns: TransactionColumns::default() },
        window: WindowSpec::default(),
        max_rejects: 0,
    };
    let error = summarize(&request).expect_err("not Parquet");
    assert!(!error.is_internal(), "{error}");
    assert_eq!(error.code(), "bad_format");
    assert!(error.to_string().contains("p.parquet"), "{error}");
}
