//! Customer summaries from a transactions file or a workspace.

use std::path::PathBuf;

use rapport_core::event::parse_decimal;
use rapport_core::summary::{PurchaseHistogram, Summary, SummaryAccumulator};
use rapport_core::time::{TimeFormat, Zone};
use rapport_store::input::{Rejected, RowSink, WantedColumn, scan};
use rapport_store::workspace::Workspace;

use crate::EngineError;
use crate::input::{FileInput, TransactionColumns, WindowSpec};

/// Where the purchases come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PurchaseSource {
    /// A transactions file and which columns to read.
    File {
        /// The file and how to read it.
        input: FileInput,
        /// Which columns hold what.
        columns: TransactionColumns,
    },
    /// The purchases of a workspace (bucketed in the workspace's time zone unless the
    /// window names another).
    Workspace(PathBuf),
}

/// A summary request.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRequest {
    /// Where from.
    pub source: PurchaseSource,
    /// Periods, units, ends.
    pub window: WindowSpec,
    /// Rejected rows allowed (default 0); beyond this the request fails.
    pub max_rejects: u64,
}

/// A summary and what was left out of it.
#[derive(Debug)]
pub struct SummaryOutcome {
    /// The summary: the customer table and counts.
    pub summary: Summary,
    /// Rows that could not be read, in line order.
    pub rejected: Vec<Rejected>,
}

struct SummarySink<'a> {
    accumulator: SummaryAccumulator,
    time_format: &'a TimeFormat,
    zone: Zone,
    file: &'a str,
    names: [&'a str; 3],
    rejected: Vec<Rejected>,
}

impl SummarySink<'_> {
    fn reject(&mut self, line: u64, column: usize, value: &str, expected: String) {
        self.rejected.push(Rejected {
            file: self.file.to_string(),
            line,
            column: self.names[column].to_string(),
            value: rapport_core::error::truncate(value, 80),
            expected,
        });
    }
}

impl RowSink for SummarySink<'_> {
    fn row(&mut self, line: u64, fields: &[Option<&str>]) {
        let Some(customer) = fields[0] else {
            return self.reject(line, 0, "", "a customer id".into());
        };
        let Some(time_text) = fields[1] else {
            return self.reject(line, 1, "", self.time_format.expected());
        };
        let time = match self.time_format.parse(time_text) {
            Ok(time) => time,
            Err(_) => return self.reject(line, 1, time_text, self.time_format.expected()),
        };
        let amount = match fields.get(2) {
            None => 0.0,
            Some(None) => return self.reject(line, 2, "", "an amount".into()),
            // fast-float2 parses the common case; `parse_decimal` keeps the rules (no NaN,
            // no infinities, no stray characters) when it does not.
            Some(Some(text)) => match fast_float2::parse::<f64, _>(text.trim()) {
                Ok(value) if value.is_finite() => value,
                _ => match parse_decimal(text.trim()) {
                    Some(value) => value,
                    None => return self.reject(line, 2, text, "a decimal number such as 12.50".into()),
                },
            },
        };
        self.accumulator.update(customer.trim(), self.zone.local_seconds(time), amount);
    }

    fn reject(&mut self, rejected: Rejected) {
        self.rejected.push(rejected);
    }

    fn done(&mut self) {
        self.accumulator.flush();
    }

    fn merge(&mut self, other: Self) {
        self.accumulator.merge(other.accumulator);
        self.rejected.extend(other.rejected);
    }
}

/// Build the customer summary.
pub fn summarize(request: &SummaryRequest) -> Result<SummaryOutcome, EngineError> {
    let started = std::time::Instant::now();
    let (accumulator, rejected) = accumulate(request)?;
    let scanned = started.elapsed();
    let summary = accumulator.finish();
    tracing::info!(target: "rapport::timings", scan = ?scanned, finish = ?(started.elapsed() - scanned), "summary");
    Ok(SummaryOutcome { summary, rejected })
}

/// Every customer's first and repeat purchase periods, counted per period (for tracking).
pub fn purchase_histogram(request: &SummaryRequest) -> Result<(PurchaseHistogram, Vec<Rejected>), EngineError> {
    let (accumulator, rejected) = accumulate(request)?;
    Ok((accumulator.purchase_histogram(), rejected))
}

/// Read the purchases into an accumulator; rejected rows sorted by line.
fn accumulate(request: &SummaryRequest) -> Result<(SummaryAccumulator, Vec<Rejected>), EngineError> {
    match &request.source {
        PurchaseSource::File { input, columns } => {
            let mut wanted = vec![WantedColumn::required(&columns.customer), WantedColumn::required(&columns.time)];
            if let Some(amount) = &columns.amount {
                wanted.push(WantedColumn::required(amount));
            }
            let options = request.window.options(columns.amount.is_some())?;
            let file = input.path.display().to_string();
            let names = [columns.customer.as_str(), columns.time.as_str(), columns.amount.as_deref().unwrap_or("amount")];
            let sink = scan(&input.spec(), &wanted, || SummarySink {
                accumulator: SummaryAccumulator::new(options),
                time_format: &input.time_format,
                zone: request.window.zone.unwrap_or_default(),
                file: &file,
                names,
                rejected: Vec::new(),
            })?;
            let mut rejected = sink.rejected;
            rejected.sort_by_key(|rejected| rejected.line);
            if rejected.len() as u64 > request.max_rejects {
                return Err(rapport_store::StoreError::TooManyRejects {
                    rejected: rejected.len() as u64,
                    max: request.max_rejects,
                    first: rejected[0].to_string(),
                }
                .into());
            }
            Ok((sink.accumulator, rejected))
        }
        PurchaseSource::Workspace(root) => {
            let workspace = Workspace::open(root)?;
            let zone = request.window.zone.unwrap_or_else(|| workspace.zone());
            let options = request.window.options(true)?;
            let mut accumulator = SummaryAccumulator::new(options);
            workspace.for_each_purchase(|customer, utc, amount| {
                accumulator.update(customer, zone.local_seconds(rapport_core::time::ParsedTime::Instant(utc)), amount);
            })?;
            Ok((accumulator, Vec::new()))
        }
    }
}
