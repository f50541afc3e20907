//! Reference tests of the lifetime-value models on the CDNOW and donations data.

mod lifetimes_values;
mod properties;
mod published_tables;
mod real_data;
mod units;

use std::path::PathBuf;

use rapport_models::ModelError;
use rapport_models::data::{CountData, DiscreteData, SpendData};

/// One customer's (x, t_x, T), as the tests build them.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
}

/// Validated, compressed count data of these customers.
pub fn count_data(customers: &[Customer]) -> Result<CountData, ModelError> {
    CountData::from_customers(customers.iter().map(|customer| (customer.id.as_str(), customer.x, customer.t_x, customer.t)))
}

pub fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

pub fn read_csv(relative: &str) -> Vec<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).from_path(repo_file(relative)).expect("open");
    reader.records().map(|record| record.expect("record")).collect()
}

/// Hardie's 39-week CDNOW calibration summary (`x, t_x, T` in weeks, `zbar`).
pub fn cdnow() -> Vec<(Customer, f64)> {
    read_csv("data/cdnow/cdnow_customers_summary_with_transactions.csv")
        .iter()
        .map(|row| {
            let number = |index: usize| row[index].parse::<f64>().expect("number");
            (Customer { id: row[0].to_string(), x: number(1), t_x: number(2), t: number(3) }, number(4))
        })
        .collect()
}

pub fn cdnow_counts() -> CountData {
    count_data(&cdnow().into_iter().map(|(customer, _)| customer).collect::<Vec<_>>()).expect("valid")
}

pub fn cdnow_spend() -> SpendData {
    let rows = cdnow();
    SpendData::new(rows.iter().map(|(customer, zbar)| (customer.id.as_str(), customer.x, *zbar))).expect("valid")
}

pub fn donations() -> DiscreteData {
    let rows = read_csv("data/donations/donations.csv");
    let parsed: Vec<(f64, f64, f64, f64)> = rows
        .iter()
        .map(|row| (row[0].parse().expect("x"), row[1].parse().expect("t_x"), row[2].parse().expect("n"), row[3].parse().expect("w")))
        .collect();
    DiscreteData::new(parsed.iter().map(|&(x, t_x, n, w)| ("pattern", x, t_x, n, w))).expect("valid")
}

/// Relative closeness.
pub fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * b.abs().max(1e-12)
}

/// Same to `digits` significant digits.
pub fn same_significant(a: f64, b: f64, digits: i32) -> bool {
    let scale = 10f64.powi(digits - 1 - b.abs().log10().floor() as i32);
    (a * scale).round() == (b * scale).round()
}
