//! Customer summaries from a transactions file or a workspace.

use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use rapport_core::event::EventKind;
use rapport_core::event::{NumberFormat, parse_amount};
use rapport_core::summary::{Excluded, PurchaseHistogram, PurchaseRow, Summary, SummaryFold, SummaryOptions, SummaryTally};
use rapport_core::time::ParsedTime;
use rapport_core::time::{TimeFormat, Zone};
use rapport_store::aggregate::Grouper;
use rapport_store::input::{Rejected, RowSink, WantedColumn, scan};
use rapport_store::workspace::{Workspace, purchase_columns};

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
    /// Set when the time format rejected a large share of rows while others parsed: it
    /// is likely wrong for this file (day and month swapped, say).
    pub suspect_time_format: Option<SuspectTimeFormat>,
    /// Workspace purchases that name only an order no purchase with a customer carries:
    /// left out, and counted here.
    pub unlinked: u64,
    /// Of those, refunds.
    pub unlinked_refunds: u64,
    /// Workspace refunds netted against the purchase of the order they name (its
    /// period), rather than their own day.
    pub refunds_by_order: u64,
}

/// A time format that rejected a large share of the rows while others parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspectTimeFormat {
    /// Rows whose time did not parse.
    pub rejected: u64,
    /// Rows read.
    pub rows: u64,
    /// The time column.
    pub column: String,
}

impl SuspectTimeFormat {
    /// Share of rows that the format rejected at or above which it is suspect.
    pub const SHARE: f64 = 0.05;
}

impl std::fmt::Display for SuspectTimeFormat {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.rejected >= self.rows {
            return write!(formatter, "the time format rejected every row's time in column {:?}: it is wrong for this file", self.column);
        }
        write!(
            formatter,
            "the time format rejected {} of {} rows ({:.1}%) in column {:?} while the others parsed: it is likely wrong for this file (day and month swapped?), and the rows it did parse may be misread",
            self.rejected,
            self.rows,
            100.0 * self.rejected as f64 / self.rows.max(1) as f64,
            self.column
        )
    }
}

/// Purchases grouped by customer with the summary's tally: mergeable (update / merge),
/// folded by the summary's rules in core when finished. Split-then-merge equals one pass.
///
/// Memory: 16 bytes per purchase row plus each distinct customer id once.
#[derive(Debug, Clone)]
pub struct SummaryAccumulator {
    options: SummaryOptions,
    rows: Grouper<PurchaseRow>,
    tally: SummaryTally,
}

impl SummaryAccumulator {
    /// An empty accumulator.
    pub fn new(options: SummaryOptions) -> Self {
        SummaryAccumulator { options, rows: Grouper::new(), tally: SummaryTally::default() }
    }

    /// Add one purchase (or refund, if `amount < 0`) at local time `local_seconds`.
    #[inline]
    pub fn update(&mut self, customer: &str, local_seconds: i64, amount: f64) {
        let row = self.options.row(local_seconds, amount);
        self.tally.count(local_seconds, amount, row.is_some());
        if let Some(row) = row {
            self.rows.push(customer, row);
        }
    }

    /// Group the buffered rows now (on the calling worker rather than in the merge).
    pub fn flush(&mut self) {
        self.rows.flush();
    }

    /// Fold another accumulator (built with the same options) into this one.
    pub fn merge(&mut self, other: SummaryAccumulator) {
        self.rows.merge(other.rows);
        self.tally.merge(other.tally);
    }

    /// Compute the summary: the customer table.
    pub fn finish(self) -> Summary {
        use std::sync::atomic::{AtomicU64, Ordering};
        let fold = SummaryFold::new(self.options, self.tally.last_seen);
        // Customers left out, by reason: every customer seen is in the table or counted.
        let (refunds_only, holdout_only) = (AtomicU64::new(0), AtomicU64::new(0));
        let folded = self.rows.fold(|rows| match fold.fold(rows) {
            Ok(summary) => Some(summary),
            Err(why) => {
                let counter = if why == Excluded::RefundsOnly { &refunds_only } else { &holdout_only };
                counter.fetch_add(1, Ordering::Relaxed);
                None
            }
        });
        let mut counts = self.tally.counts;
        counts.refund_only_customers = refunds_only.into_inner();
        counts.holdout_only_customers = holdout_only.into_inner();
        fold.table(folded.ids, &folded.values, counts)
    }

    /// First and repeat purchase periods of every customer.
    pub fn purchase_histogram(self) -> PurchaseHistogram {
        self.rows.reduce(PurchaseHistogram::default, PurchaseHistogram::add_customer, PurchaseHistogram::merge)
    }
}

struct SummarySink<'a> {
    accumulator: SummaryAccumulator,
    numbers: NumberFormat,
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
            // fast-float2 parses the common case (a decimal point); `parse_amount` keeps the
            // rules (no NaN, no infinities, currency symbols and thousands separators as the
            // number format says) when it does not, and always with a decimal comma.
            Some(Some(text)) => match (!self.numbers.decimal_comma)
                .then(|| fast_float2::parse::<f64, _>(text.trim()).ok())
                .flatten()
                .filter(|value| value.is_finite())
            {
                Some(value) => value,
                None => match parse_amount(text, self.numbers) {
                    Some(value) => value,
                    None => {
                        let hint = if !self.numbers.decimal_comma && text.contains(',') { " (a decimal comma? say so)" } else { "" };
                        return self.reject(line, 2, text, format!("a decimal number such as 12.50{hint}"));
                    }
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
    summarize_on(request, &Engine::Embedded)
}

/// Where the heavy stages run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// In this process, on the embedded store: the default and the fastest on one machine.
    #[default]
    Embedded,
    /// As Apache DataFusion plans (user-defined aggregates and functions over the
    /// workspace's Parquet files) in this process: the same results; in builds with the
    /// `sql` feature.
    DataFusion {
        /// Bytes the query operators may hold before they spill to the system's temporary
        /// directory (`None`: [`default_memory_limit`]); see [`Engine::with_memory_limit`].
        memory_limit: Option<u64>,
    },
    /// The same plans on an Apache Ballista cluster, whose scheduler is at this URL
    /// (`ballista://HOST:PORT`); in builds with the `cluster` feature.
    Ballista(String),
}

/// The least memory each partition of a bounded DataFusion query needs (one partition a
/// core): a sort reserves 10 MB to merge its spilled runs, and 12 MiB a task failed every
/// query of the summary on the executors where 24 MiB ran (docs/scaling.md, "Memory per
/// executor"); 32 MiB leaves room for the aggregations.
pub const MIN_MEMORY_PER_PARTITION: u64 = 32 << 20;

/// The share of the machine's (or container's) memory that the DataFusion engine's query
/// operators may hold when no limit is given: an eighth. The rest is for what the client
/// holds beside them (at 10M customers, `analyze`'s per-customer results reached 15 GiB),
/// and the operators hold more than their pool (about twice it in `analyze`'s
/// aggregations at 10M customers). Without a bound those aggregations passed 21 GiB on a
/// 23 GiB machine; bounded at a quarter of it (5.9 GiB) they did too; at an eighth the run
/// finished (docs/benchmarks.md, "Engines").
pub const DEFAULT_MEMORY_DIVISOR: u64 = 8;

/// The partitions a DataFusion query runs at once in this process: one a core.
fn partitions() -> u64 {
    std::thread::available_parallelism().map_or(1, |cores| cores.get() as u64)
}

/// The DataFusion engine's bound when none is given: an eighth of the machine's (or
/// container's) memory, and at least [`MIN_MEMORY_PER_PARTITION`] a core. `None` where
/// the machine's memory cannot be read (the operators are then unbounded) or in builds
/// without the `sql` feature.
pub fn default_memory_limit() -> Option<u64> {
    #[cfg(feature = "sql")]
    {
        let partitions = partitions();
        rapport_sql::machine_memory().map(|total| (total / DEFAULT_MEMORY_DIVISOR).max(MIN_MEMORY_PER_PARTITION * partitions))
    }
    #[cfg(not(feature = "sql"))]
    None
}

impl Engine {
    /// The cluster's scheduler, for plans that run on one.
    pub fn cluster(&self) -> Option<&str> {
        match self {
            Engine::Ballista(url) => Some(url),
            _ => None,
        }
    }

    /// The DataFusion engine in this process, its operators bounded by
    /// [`default_memory_limit`].
    pub const DATAFUSION: Engine = Engine::DataFusion { memory_limit: None };

    /// This engine with its query operators bounded at `limit` bytes (`None`: as it is).
    /// Only the DataFusion engine in this process takes one: the embedded engine has no
    /// query operators, and a cluster's executors are bounded where they start
    /// (`rapport cluster executor --memory-limit`). A limit that leaves a partition (one a
    /// core) less than [`MIN_MEMORY_PER_PARTITION`] is refused: every query would fail.
    /// The bound on the DataFusion engine's query operators, in bytes: the one given, else
    /// [`default_memory_limit`] (`None`: another engine, or unbounded where the machine's
    /// memory cannot be read).
    pub fn memory_limit(&self) -> Option<u64> {
        match self {
            Engine::DataFusion { memory_limit } => memory_limit.or_else(default_memory_limit),
            _ => None,
        }
    }

    pub fn with_memory_limit(self, limit: Option<u64>) -> Result<Engine, EngineError> {
        let Some(bytes) = limit else { return Ok(self) };
        match self {
            Engine::DataFusion { .. } => {
                let partitions = partitions();
                if bytes / partitions < MIN_MEMORY_PER_PARTITION {
                    let mib = |bytes: u64| bytes >> 20;
                    return Err(EngineError::Request(format!(
                        "--memory-limit {} MiB leaves {} MiB to each of the {partitions} partitions a query runs at once (one a core), and a query needs at least {} MiB a partition: give --memory-limit {}MiB or more",
                        mib(bytes),
                        mib(bytes / partitions),
                        mib(MIN_MEMORY_PER_PARTITION),
                        mib(MIN_MEMORY_PER_PARTITION * partitions)
                    )));
                }
                within_machine(bytes)?;
                Ok(Engine::DataFusion { memory_limit: Some(bytes) })
            }
            Engine::Embedded => Err(EngineError::Request(
                "--memory-limit bounds the query operators of the datafusion engine: give it with --engine datafusion (the embedded engine runs no query plans)".into(),
            )),
            Engine::Ballista(_) => Err(EngineError::Request(
                "--memory-limit bounds the datafusion engine in this process; a cluster's executors are bounded where they start: rapport cluster executor --memory-limit SIZE".into(),
            )),
        }
    }

    /// A DataFusion session over the workspace at `root` on this engine.
    #[cfg(feature = "sql")]
    pub(crate) fn session(&self, root: &std::path::Path) -> Result<rapport_sql::Session, EngineError> {
        Ok(match self {
            Engine::DataFusion { .. } => rapport_sql::Session::open_bounded(root, self.memory_limit())?,
            other => rapport_sql::Session::open_on(root, other.cluster())?,
        })
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Embedded => formatter.write_str("embedded"),
            Engine::DataFusion { .. } => formatter.write_str("datafusion"),
            Engine::Ballista(url) => formatter.write_str(url),
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = EngineError;
    fn from_str(text: &str) -> Result<Engine, EngineError> {
        let unknown = || EngineError::Request(format!("unknown engine {text:?}: expected embedded, datafusion or ballista://HOST:PORT"));
        match text {
            "embedded" => Ok(Engine::Embedded),
            "datafusion" => Ok(Engine::DATAFUSION),
            _ => {
                let address = text.strip_prefix("ballista://").ok_or_else(unknown)?.trim_end_matches('/');
                let (host, port) = address.rsplit_once(':').unwrap_or((address, "50050"));
                if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
                    return Err(EngineError::Request(format!(
                        "{text:?} is not a cluster address: expected ballista://HOST:PORT (the scheduler's, port 50050 by default)"
                    )));
                }
                Ok(Engine::Ballista(format!("ballista://{host}:{port}")))
            }
        }
    }
}

/// Build the customer summary on `engine` (DataFusion and Ballista: workspace purchases
/// only).
pub fn summarize_on(request: &SummaryRequest, engine: &Engine) -> Result<SummaryOutcome, EngineError> {
    if *engine != Engine::Embedded {
        return summarize_datafusion(request, engine);
    }
    let resolved;
    let request = match &request.source {
        PurchaseSource::File { input, columns } => {
            resolved = SummaryRequest {
                source: PurchaseSource::File { input: input.clone(), columns: columns.for_file(input)? },
                ..request.clone()
            };
            &resolved
        }
        PurchaseSource::Workspace(_) => request,
    };
    let started = std::time::Instant::now();
    let (accumulator, rejected, links) = accumulate(request)?;
    let scanned = started.elapsed();
    let summary = accumulator.finish();
    tracing::info!(target: "rapport::timings", scan = ?scanned, finish = ?(started.elapsed() - scanned), "summary");
    check_calibration_window(&summary)?;
    let suspect_time_format = match &request.source {
        PurchaseSource::File { columns, .. } => {
            let time_rejects =
                rejected.iter().filter(|row| row.column.eq_ignore_ascii_case(&columns.time) && !row.value.is_empty()).count() as u64;
            let rows = summary.counts.rows + rejected.len() as u64;
            (time_rejects > 0 && time_rejects as f64 >= SuspectTimeFormat::SHARE * rows as f64).then(|| SuspectTimeFormat {
                rejected: time_rejects,
                rows,
                column: columns.time.clone(),
            })
        }
        PurchaseSource::Workspace(_) => None,
    };
    Ok(SummaryOutcome {
        summary,
        rejected,
        suspect_time_format,
        unlinked: links.unlinked,
        unlinked_refunds: links.unlinked_refunds,
        refunds_by_order: links.refunds_by_order,
    })
}

#[cfg(feature = "sql")]
fn summarize_datafusion(request: &SummaryRequest, engine: &Engine) -> Result<SummaryOutcome, EngineError> {
    let PurchaseSource::Workspace(root) = &request.source else {
        return Err(EngineError::Request("the datafusion and ballista engines summarise a workspace's purchases: give --workspace".into()));
    };
    let workspace = Workspace::open(root)?;
    let zone = request.window.zone.unwrap_or_else(|| workspace.zone());
    let options = request.window.options(true)?;
    let session = engine.session(root)?;
    let (summary, links) = rapport_sql::summary::summary(&session, options, zone)?;
    check_calibration_window(&summary)?;
    Ok(SummaryOutcome {
        summary,
        rejected: Vec::new(),
        suspect_time_format: None,
        unlinked: links.unlinked,
        unlinked_refunds: links.unlinked_refunds,
        refunds_by_order: links.refunds_by_order,
    })
}

#[cfg(not(feature = "sql"))]
fn summarize_datafusion(_request: &SummaryRequest, engine: &Engine) -> Result<SummaryOutcome, EngineError> {
    Err(match engine.cluster() {
        None => EngineError::NotBuiltIn { feature: "sql", what: "the datafusion engine" },
        Some(_) => EngineError::NotBuiltIn { feature: "cluster", what: "the ballista engine" },
    })
}

/// A calibration end must leave a holdout window and a calibration history: after the
/// observation end (given, or the last purchase) there is no holdout — the durations
/// would be negative — and before every first purchase there is no customer to fit.
fn check_calibration_window(summary: &Summary) -> Result<(), EngineError> {
    use rapport_core::time::format_local;
    // An observation end before every row is a mistake (a date typed wrong, the wrong
    // year), as a calibration end before every first purchase is: said, not answered
    // with an empty table.
    let counts = &summary.counts;
    if let Some(end) = summary.options.observation_end
        && summary.customers.is_empty()
        && counts.rows > 0
        && counts.after_observation_end == counts.rows
    {
        return Err(rapport_core::CoreError::InvalidOption {
            option: "observation end",
            reason: format!(
                "{} is before every purchase (all {} rows are after it): there is nothing to summarise",
                format_local(end),
                counts.rows
            ),
        }
        .into());
    }
    let Some(calibration_end) = summary.options.calibration_end else { return Ok(()) };
    let invalid = |reason: String| Err(rapport_core::CoreError::InvalidOption { option: "calibration end", reason }.into());
    if calibration_end >= summary.observation_end {
        let end = if summary.options.observation_end.is_some() { "the observation end" } else { "the last purchase" };
        return invalid(format!(
            "{} is not before {end} ({}): there would be no holdout window",
            format_local(calibration_end),
            format_local(summary.observation_end)
        ));
    }
    if summary.customers.is_empty() && summary.counts.holdout_only_customers > 0 {
        return invalid(format!(
            "{} is before every customer's first purchase ({} customers first bought after it): there is no calibration history",
            format_local(calibration_end),
            summary.counts.holdout_only_customers
        ));
    }
    Ok(())
}

/// Every customer's first and repeat purchase periods, counted per period (for tracking).
pub fn purchase_histogram(request: &SummaryRequest) -> Result<(PurchaseHistogram, Vec<Rejected>), EngineError> {
    let (accumulator, rejected, _) = accumulate(request)?;
    Ok((accumulator.purchase_histogram(), rejected))
}

/// How workspace purchases were linked through their order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct OrderLinks {
    unlinked: u64,
    unlinked_refunds: u64,
    refunds_by_order: u64,
}

impl OrderLinks {
    fn add(self, other: OrderLinks) -> OrderLinks {
        OrderLinks {
            unlinked: self.unlinked + other.unlinked,
            unlinked_refunds: self.unlinked_refunds + other.unlinked_refunds,
            refunds_by_order: self.refunds_by_order + other.refunds_by_order,
        }
    }
}

/// Read the purchases into an accumulator; rejected rows sorted by line; how workspace
/// purchases were linked through their orders.
fn accumulate(request: &SummaryRequest) -> Result<(SummaryAccumulator, Vec<Rejected>, OrderLinks), EngineError> {
    match &request.source {
        PurchaseSource::File { input, columns } => {
            input.columns_needed()?;
            let mut wanted = vec![WantedColumn::required(&columns.customer), WantedColumn::required(&columns.time)];
            if let Some(amount) = &columns.amount {
                wanted.push(WantedColumn::required(amount));
            }
            let options = request.window.options(columns.amount.is_some())?;
            let file = input.path.display().to_string();
            let names = [columns.customer.as_str(), columns.time.as_str(), columns.amount.as_deref().unwrap_or("amount")];
            let sink = scan(&input.spec(), &wanted, || SummarySink {
                accumulator: SummaryAccumulator::new(options),
                numbers: input.numbers,
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
            Ok((sink.accumulator, rejected, OrderLinks::default()))
        }
        PurchaseSource::Workspace(root) => {
            let workspace = Workspace::open(root)?;
            let zone = request.window.zone.unwrap_or_else(|| workspace.zone());
            let options = request.window.options(true)?;
            // Rows that name only an order (a refund export, say) take the customer of the
            // purchase that carries the order, and a refund that names an order nets
            // against that purchase's period rather than its own day (where, with no
            // purchase of the customer's, it would change nothing). A refund made after the
            // observation end is not netted: it keeps its day and is left out with the
            // other rows after the end.
            let orders = if workspace.purchases_need_orders()? { Some(workspace.order_links()?) } else { None };
            let columns: &[&str] =
                if orders.is_some() { &["customer_id", "time", "amount", "order_id"] } else { &["customer_id", "time", "amount"] };
            // Every row group on its own core, each into its own accumulator.
            let (accumulator, links) = workspace.scan_events(
                EventKind::Purchases,
                columns,
                || (SummaryAccumulator::new(options), OrderLinks::default()),
                |(accumulator, links), batch| {
                    let (customers, times, amounts) = purchase_columns(batch)?;
                    let order_ids = orders.as_ref().map(|_| batch.column(3).as_string::<i32>());
                    for row in 0..batch.num_rows() {
                        let amount = amounts.value(row);
                        let link = order_ids
                            .filter(|order_ids| !order_ids.is_null(row))
                            .and_then(|order_ids| orders.as_ref().and_then(|orders| orders.get(order_ids.value(row))));
                        let (customer, mut time) = if customers.is_null(row) {
                            match link {
                                Some((customer, _)) => (customer.as_str(), times.value(row)),
                                None => {
                                    links.unlinked += 1;
                                    links.unlinked_refunds += u64::from(amount < 0.0);
                                    continue;
                                }
                            }
                        } else {
                            (customers.value(row), times.value(row))
                        };
                        if amount < 0.0
                            && let Some((linked_customer, purchase_time)) = link
                            && linked_customer == customer
                            && options.observed(zone.local_seconds(ParsedTime::Instant(time)))
                        {
                            time = *purchase_time;
                            links.refunds_by_order += 1;
                        }
                        let local = zone.local_seconds(ParsedTime::Instant(time));
                        accumulator.update(customer, local, amount);
                    }
                    Ok(())
                },
                |(mut left, left_links), (right, right_links)| {
                    left.merge(right);
                    (left, left_links.add(right_links))
                },
            )?;
            Ok((accumulator, Vec::new(), links))
        }
    }
}

/// Refuse a memory limit above the machine's (or container's) memory: it would bound
/// nothing, and a typo (`1PiB` for `1GiB`) would pass unnoticed.
pub(crate) fn within_machine(bytes: u64) -> Result<(), EngineError> {
    #[cfg(feature = "sql")]
    if let Some(total) = rapport_sql::machine_memory()
        && bytes > total
    {
        let gib = |bytes: u64| bytes as f64 / f64::from(1u32 << 30);
        return Err(EngineError::Request(format!(
            "--memory-limit {:.1} GiB is more than this machine's {:.1} GiB of memory, so it would bound nothing: give a size below that, or leave --memory-limit out",
            gib(bytes),
            gib(total)
        )));
    }
    let _ = bytes;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rapport_core::time::{Period, TimeUnit};

    /// Short ids, and ids longer than the 16 bytes kept inline that differ only after them.
    fn id(customer: u8) -> String {
        if customer.is_multiple_of(3) { format!("customer-with-a-long-shared-prefix-{customer}") } else { customer.to_string() }
    }

    fn purchases() -> impl Strategy<Value = Vec<(u8, i64, f64)>> {
        prop::collection::vec((0u8..20, 0i64..400 * 86_400, -50.0f64..200.0), 1..200)
    }

    proptest! {
        #[test]
        fn order_and_batching_do_not_matter(rows in purchases(), split in 0usize..200, seed in any::<u64>()) {
            let options = SummaryOptions { period: Period::Week, time_unit: TimeUnit::Days, calibration_end: Some(200 * 86_400), ..SummaryOptions::default() };
            let mut one_pass = SummaryAccumulator::new(options);
            for (customer, time, amount) in &rows {
                one_pass.update(&id(*customer), *time, amount.round());
            }
            let mut shuffled = rows.clone();
            // A cheap deterministic shuffle from the seed.
            let length = shuffled.len();
            for index in 0..length {
                let other = (seed.wrapping_mul(6364136223846793005).wrapping_add(index as u64) % length as u64) as usize;
                shuffled.swap(index, other);
            }
            let split = split.min(length);
            let mut left = SummaryAccumulator::new(options);
            let mut right = SummaryAccumulator::new(options);
            for (customer, time, amount) in &shuffled[..split] {
                left.update(&id(*customer), *time, amount.round());
            }
            for (customer, time, amount) in &shuffled[split..] {
                right.update(&id(*customer), *time, amount.round());
            }
            right.merge(left);
            prop_assert_eq!(one_pass.finish(), right.finish());
        }
    }
}
