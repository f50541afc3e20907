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

/// Every customer seen is in the table or counted: refund-only customers, and those who
/// first bought after the calibration end.
#[test]
fn customers_left_out_are_counted() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(
        directory.path(),
        "orders.csv",
        "customer_id,date,amount\na,2024-01-01,10\na,2024-01-05,5\nr,2024-01-02,-8\nlate,2024-03-01,4\n",
    );
    let outcome = summarize(&SummaryRequest {
        source: PurchaseSource::File {
            input: FileInput::new(&file),
            columns: TransactionColumns { amount: Some("amount".into()), ..Default::default() },
        },
        window: WindowSpec {
            calibration_end: Some("2024-01-31".into()),
            observation_end: Some("2024-03-31".into()),
            ..WindowSpec::default()
        },
        max_rejects: 0,
    })
    .expect("summary");
    let counts = outcome.summary.counts;
    assert_eq!(outcome.summary.customers.len(), 1);
    assert_eq!((counts.refund_only_customers, counts.holdout_only_customers), (1, 1));
}

/// A time format that parses some rows and rejects many is flagged as likely wrong
/// (here month/day on day-first dates: the 13th and later do not parse, the rest are
/// read with day and month swapped).
#[test]
fn a_time_format_rejecting_many_rows_is_suspect() {
    let directory = tempfile::tempdir().expect("tempdir");
    let mut rows = String::from("customer_id,date\n");
    for day in 1..=28 {
        rows += &format!("c{day},{day:02}/03/2024\n");
    }
    let file = write(directory.path(), "orders.csv", &rows);
    let input = FileInput { time_format: "%m/%d/%Y".parse().expect("format"), ..FileInput::new(&file) };
    let outcome = summarize(&SummaryRequest {
        source: PurchaseSource::File { input, columns: TransactionColumns::default() },
        window: WindowSpec::default(),
        max_rejects: 100,
    })
    .expect("summary");
    let suspect = outcome.suspect_time_format.expect("flagged");
    assert_eq!((suspect.rejected, suspect.rows), (16, 28));
    assert!(suspect.to_string().contains("57.1%"), "{suspect}");
}

/// A calibration end after the last purchase (no holdout: negative durations) or before
/// every first purchase (no calibration history) is refused, naming both times.
#[test]
fn a_calibration_end_outside_the_data_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "orders.csv", "customer_id,date\na,2024-01-01\na,2024-02-01\nb,2024-01-15\n");
    let request = |calibration_end: &str| SummaryRequest {
        source: PurchaseSource::File { input: FileInput::new(&file), columns: TransactionColumns::default() },
        window: WindowSpec { calibration_end: Some(calibration_end.into()), ..WindowSpec::default() },
        max_rejects: 0,
    };
    let after = summarize(&request("2024-06-30")).expect_err("after the data");
    assert_eq!(after.code(), "invalid_option");
    assert!(after.to_string().contains("2024-02-01"), "{after}");
    let before = summarize(&request("2023-12-01")).expect_err("before the data");
    assert!(before.to_string().contains("2 customers first bought after it"), "{before}");
    assert!(summarize(&request("2024-01-20")).is_ok());
    // An observation end before every purchase is refused too, not answered with an
    // empty table.
    let observed = |observation_end: &str| SummaryRequest {
        source: PurchaseSource::File { input: FileInput::new(&file), columns: TransactionColumns::default() },
        window: WindowSpec { observation_end: Some(observation_end.into()), ..WindowSpec::default() },
        max_rejects: 0,
    };
    let early = summarize(&observed("2023-12-01")).expect_err("before the data");
    assert_eq!(early.code(), "invalid_option");
    assert!(early.to_string().contains("before every purchase (all 3 rows are after it)"), "{early}");
    assert_eq!(summarize(&observed("2024-01-10")).expect("one customer").summary.customers.len(), 1);
}
