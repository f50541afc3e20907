//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Rapport measures the return on customer relationships: lifetime value and churn,
/// sentiment, NPS, the customer matrix, and "like a friend" next-best actions.
#[derive(Debug, Parser)]
#[command(
    name = "rapport",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Environment:\n  RAPPORT_LOG=debug    log what the library does on stderr (error, warn, info, debug, trace; or a tracing filter)\n  RAPPORT_TIMINGS=1    print the time of each stage (scan, fit, Hessian) on stderr\n  NO_COLOR             honoured: Rapport prints no colours"
)]
pub struct Cli {
    /// Print less on stderr (no progress, no counts).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic brand, ingest it, analyse it and show the headlines with their
    /// intervals next to the known truth (or, with --cdnow, the CDNOW walk-through).
    Demo(DemoArgs),
    /// Write a synthetic brand with known truth: one CSV per event kind and ground_truth.json.
    Generate(GenerateArgs),
    /// Run every analysis the workspace's events allow and write a results run with
    /// summary.json (every headline with its 95% interval and sample size).
    ///
    /// The actions and the movements read the workspace's earlier analyses, those with an
    /// earlier observation end: an action proposed to a customer then is not proposed again
    /// within its cooldown, win_back looks for a P(alive) that was 0.5 or more at the
    /// previous analysis, and the watch list for a P(alive) that fell since it. Analysing again with
    /// the same --as-of gives the same results.
    Analyze(AnalyzeArgs),
    /// Check the intervals: analyse many seeds of the synthetic brand and count how often
    /// each headline's 95% interval covers the true value.
    Coverage(CoverageArgs),
    /// Create a workspace: config, event tables, results and quarantine.
    Init(InitArgs),
    /// Append events from a CSV / JSON Lines / Parquet file to a workspace.
    Ingest(IngestArgs),
    /// Per-customer summary (frequency, recency, T, monetary value) as lifetimes computes it.
    Summary(SummaryArgs),
    /// Lifetime value: fit BG/NBD, MBG/NBD, Pareto/NBD, BG/BB or Gamma-Gamma; predict per customer.
    #[command(subcommand)]
    Clv(ClvCommand),
    /// Sentiment of every text: neg, neu, pos, compound (customer-service model, or exact VADER).
    Sentiment(SentimentArgs),
    /// Complaint topics: group negative texts by what they are about, with labels, sizes,
    /// examples and trend; each text's topic.
    Topics(TopicsArgs),
    /// The Customer Matrix of an analysis: customers on a grid of relationship longevity ×
    /// strength with each cell's spend, predicted spend, CLV and P(alive); the watched top
    /// tier; with --compare, who moved up and who slipped since an earlier run.
    Matrix(MatrixArgs),
    /// Segments of an analysis, per customer: RFM scores and named segment, cluster, and
    /// the segments defined in rapport.toml; with --compare, the moves between segments.
    Segments(SegmentsArgs),
    /// The playbook's next-best actions of an analysis: one per customer at most, with the
    /// reason and the channel consent allows; CSV / JSON, or posted to a webhook.
    Actions(ActionsArgs),
    /// Alerts of an analysis: leading indicators (contacts per day and week, negative
    /// contacts, NPS, engagement, first response time) outside their robust control limits,
    /// and top-tier customers with new risk signals.
    Alerts(AlertsArgs),
    /// Return on Relationship of an analysis: value against relationship cost by segment,
    /// matrix cell, channel and program, and each program's uplift and incremental ROI.
    Ror(RorArgs),
    /// Purchase and churn propensity of an analysis: each model's holdout AUC against the
    /// BG/NBD baseline, lift by decile and calibration.
    Propensity(PropensityArgs),
    /// Write an analysis as one self-contained HTML file: every view with its charts
    /// (inline SVG, no network needed to open it), readable on a laptop or a phone, and
    /// printable.
    Report(ReportArgs),
    /// Forget a customer: remove them from every event, quarantined row and results run
    /// in one step, clear references to them in other customers' events, and record the
    /// request (without the id) in the workspace's audit.jsonl. Run `analyze` again for
    /// aggregates without them.
    Forget(ForgetArgs),
    /// Serve the HTTP API (/api/v1/, described at /openapi.json), the dashboard (/) and
    /// the NPS kiosk form (/kiosk/nps) over a workspace; a new analysis is picked up
    /// without a restart. Requests need a token: `rapport token create`.
    Serve(ServeArgs),
    /// Access tokens of the server: create (printed once, stored hashed), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Merge small batches of events into one per kind (many small files: a directory of
    /// parts, or the server's ingest endpoint), atomically; batches with quarantined rows
    /// stay as they are.
    Compact(CompactArgs),
    /// List a workspace's results runs (each analysis writes one under results/).
    Runs(RunsArgs),
    /// Write a results run's customer table to PostgreSQL for the CRM: upserted by
    /// customer_id (new customers inserted, the others updated), in one transaction.
    Export(ExportArgs),
    /// Query the workspace's events and results runs with SQL (Apache DataFusion; in
    /// builds with the `sql` feature).
    Sql(SqlArgs),
    /// Rows an ingest rejected: list them, or export them to correct and ingest again.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Run the heavy stages on a cluster: an Apache Ballista scheduler or executor in this
    /// binary (in builds with the `cluster` feature); then `--engine ballista://HOST:PORT`.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: plans jobs and hands their tasks to executors. Runs until stopped.
    Scheduler(SchedulerArgs),
    /// An executor: runs tasks for a scheduler. Runs until stopped. The workspace must be
    /// at the same path on every machine (a shared file system).
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// The host name executors and clients reach the scheduler by (default: the bound address).
    #[arg(long)]
    pub external_host: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub scheduler: String,
    /// The address to listen on for shuffle data (Arrow Flight); the next port serves
    /// the executor's gRPC service.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: std::net::SocketAddr,
    /// The host name the scheduler and other executors reach this one by (default: the bound address).
    #[arg(long)]
    pub external_host: Option<String>,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Memory the executor's queries may hold, shared by its tasks (each gets its share
    /// of the concurrency): an aggregation past it spills to the work directory instead
    /// of growing (such as 2GiB, 512MiB; default 70% of the machine's or container's
    /// memory). It bounds what the query operators hold, not the whole process.
    #[arg(long, value_name = "SIZE", value_parser = memory_size)]
    pub memory_limit: Option<bytesize::ByteSize>,
    /// Where shuffle files go (default: a temporary directory, removed when the executor
    /// stops on Ctrl-C or SIGTERM).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// A memory size as `--memory-limit` takes it (`4GiB`, `512MiB`, `2G`).
fn memory_size(text: &str) -> Result<bytesize::ByteSize, String> {
    // A bare number would be bytes (`64` is 64 bytes, far too little): a unit is asked for
    // rather than guessed.
    if !text.trim().is_empty() && text.trim().bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("give a unit, such as {}MiB or {}GiB (a bare number would be bytes)", text.trim(), text.trim()));
    }
    text.trim().parse::<bytesize::ByteSize>().map_err(|_| "expected a size such as 4GiB, 512MiB or 2G".to_string())
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Each rejected row: batch, kind, file, line, column, value found and what was expected.
    List(QuarantineListArgs),
    /// The rejected rows as they were written, under their file's header: correct them and
    /// ingest the file with the same command.
    Export(QuarantineExportArgs),
}

#[derive(Debug, Args)]
pub struct QuarantineSelect {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// Only this batch (the number `rapport ingest` printed).
    #[arg(long)]
    pub batch: Option<u64>,
    /// Only this kind of events.
    #[arg(long, short, value_enum)]
    pub kind: Option<KindArg>,
}

#[derive(Debug, Args)]
pub struct QuarantineListArgs {
    #[command(flatten)]
    pub select: QuarantineSelect,
    /// Output format (default: table, or from the --output file's extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct QuarantineExportArgs {
    #[command(flatten)]
    pub select: QuarantineSelect,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The analysis run (default: the latest; `rapport runs` lists them).
    #[arg(long)]
    pub run: Option<String>,
    /// An earlier analysis run to compare with: moves between cells, who moved up a
    /// strength band and who slipped.
    #[arg(long, value_name = "RUN")]
    pub compare: Option<String>,
    /// Output format: table (the grid and the watched top tier), json (everything), csv
    /// (the table --view names).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// With --format csv or table: which table (cells, watch, migration, movers).
    #[arg(long, value_enum)]
    pub view: Option<MatrixView>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// A table of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixView {
    /// The cells.
    Cells,
    /// Top-tier customers with new risk signals.
    Watch,
    /// Customers moved from cell to cell (needs --compare).
    Migration,
    /// Every customer who moved up or slipped a strength band (needs --compare).
    Movers,
}

#[derive(Debug, Args)]
pub struct ActionsArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The analysis run (default: the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Leave out the control group (actions held back to measure their effect).
    #[arg(long)]
    pub without_control: bool,
    /// Post every action (not the control group) to this URL as JSON, one request per
    /// action with an `Idempotency-Key` header, retrying with backoff; prints the actions
    /// that failed and exits 1 if any did.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Retries of a failed post (network errors, timeouts, 408, 429, 5xx).
    #[arg(long, default_value_t = 4, requires = "webhook")]
    pub webhook_retries: u32,
    /// Output format (default: csv, or from the --output file's extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The analysis run (default: the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Output format: table (alerts, then the watched top tier) or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RorArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The analysis run (default: the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Only one grouping (default: every one and, in a table on the terminal, the
    /// programs' uplift after it; `uplift` alone for the programs' uplift).
    #[arg(long, value_enum)]
    pub by: Option<RorBy>,
    /// Output format (default: table, or what --output's extension says).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// A grouping of Return on Relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RorBy {
    /// Each customer: value (realised, referred, predicted), relationship cost and ROR.
    Customer,
    /// All customers.
    All,
    /// RFM segment.
    Segment,
    /// Customer Matrix cell.
    Cell,
    /// Channel (value split by each channel's share of the customer's cost).
    Channel,
    /// Program (value split by each program's share of the customer's cost).
    Program,
    /// Each program against its control group: uplift and incremental ROI.
    Uplift,
}

#[derive(Debug, Args)]
pub struct PropensityArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The analysis run (default: the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Which table.
    #[arg(long, value_enum, default_value_t = PropensityView::Models)]
    pub view: PropensityView,
    /// Output format (default: table, or what --output's extension says).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// A table of propensity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PropensityView {
    /// Each model's holdout AUC, its lead over the baseline and Brier score.
    Models,
    /// Buyers by decile of prediction.
    Lift,
    /// Mean prediction against the observed rate by decile.
    Calibration,
    /// Response to each program: observed uplift by group of predicted response.
    Response,
}

#[derive(Debug, Args)]
pub struct SegmentsArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The analysis run (default: the latest).
    #[arg(long)]
    pub run: Option<String>,
    /// Also list customers without a purchase (RFM scores only score buyers; their RFM
    /// columns are empty).
    #[arg(long)]
    pub all: bool,
    /// Print each segment's size and value instead of the customers.
    #[arg(long, conflicts_with = "compare")]
    pub sizes: bool,
    /// An earlier analysis run: print how many customers (and how much spend) moved from
    /// each segment to each other one.
    #[arg(long, value_name = "RUN")]
    pub compare: Option<String>,
    /// Output format (default: csv, or from the --output file's extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The analysis run to show (default: the latest; `rapport runs` lists them).
    #[arg(long)]
    pub run: Option<String>,
    /// The HTML file to write.
    #[arg(long, short, default_value = "report.html")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The customer's id, as in the events.
    #[arg(value_name = "CUSTOMER_ID")]
    pub customer: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// Address to listen on (port 0: any free port, printed when listening). Anything
    /// but loopback should sit behind a TLS-terminating proxy.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Requests per second allowed to one token (and the burst it may send at once).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,
    /// Largest request body, MiB (a batch of events).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_body_mb: u32,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: only its hash is stored).
    Create(TokenCreateArgs),
    /// List the tokens: id, name, role, created, revoked.
    List(TokenListArgs),
    /// Revoke a token by id (or name): requests with it are refused from then on.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// What the token may do: viewer (results without personal data), analyst (with
    /// personal data), admin (also ingest, forget), kiosk (only the NPS kiosk form).
    #[arg(long, value_parser = ["viewer", "analyst", "admin", "kiosk"])]
    pub role: String,
    /// What it is for (shown by `token list`).
    #[arg(long, default_value = "")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The token's id (or its name, when no other token has it).
    #[arg(value_name = "TOKEN_ID")]
    pub token: String,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// Only this kind (default: every kind).
    #[arg(long, short, value_enum)]
    pub kind: Option<KindArg>,
    /// Merge batches with fewer events than this.
    #[arg(long, default_value_t = 1_000_000)]
    pub below: u64,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// The results run (default: the latest; `rapport runs` lists them).
    #[arg(long)]
    pub run: Option<String>,
    /// Connection string: postgres://user:password@host:port/database or 'host=… dbname=…'
    /// (no TLS; the password may come from PGPASSWORD).
    #[arg(long, value_name = "CONNECTION", env = "RAPPORT_POSTGRES", hide_env_values = true)]
    pub postgres: String,
    /// The table to write, e.g. crm.rapport_scores: created with a primary key on
    /// customer_id when missing; columns it lacks are added.
    #[arg(long)]
    pub table: String,
    /// Columns to write, comma-separated (default: every column of the customer table;
    /// customer_id is always written).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// One SQL statement. Tables: each event kind (purchases, interactions, surveys,
    /// engagement, programs, costs, stores; customer profiles as events.customers), the
    /// latest results run's customers and breakdowns, and every run as run_ID_NAME.
    #[arg(required_unless_present = "tables")]
    pub query: Option<String>,
    /// List the tables a query can name instead.
    #[arg(long)]
    pub tables: bool,
    /// Output format (default: a table on the terminal; with --output, from the file's
    /// extension, else CSV). Parquet needs --output.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Memory the query's operators may hold before they spill to the system's temporary
    /// directory (such as 2GiB, 512MiB; default an eighth of the machine's or container's
    /// memory): a large GROUP BY, sort or join then slows down instead of growing. It
    /// bounds the operators, not the rows a query returns.
    #[arg(long, value_name = "SIZE", value_parser = memory_size)]
    pub memory_limit: Option<bytesize::ByteSize>,
}

#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Input: one text per line, or CSV / TSV / JSON Lines / Parquet with --text-column; `-` or nothing reads stdin.
    pub file: Option<PathBuf>,
    /// Column (CSV) or field (JSON Lines) holding the text; without it each line is a text.
    #[arg(long)]
    pub text_column: Option<String>,
    /// Column copied to each text's assignment.
    #[arg(long, requires = "text_column")]
    pub id_column: Option<String>,
    /// Column with each text's time: adds a trend per topic.
    #[arg(long, requires = "text_column")]
    pub time_column: Option<String>,
    /// How times are written: auto (ISO-8601, YYYYMMDD, epoch), epoch, or a strftime pattern.
    #[arg(long, default_value = "auto")]
    pub time_format: String,
    /// IANA time zone of naive times and of period boundaries.
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// Bucket of the trend.
    #[arg(long, value_enum, default_value_t = TrendPeriod::Month)]
    pub trend_period: TrendPeriod,
    /// Number of topics; chosen by silhouette (2 to --max-topics) when not given.
    #[arg(long)]
    pub topics: Option<usize>,
    /// Largest number of topics tried when choosing.
    #[arg(long, default_value_t = 12)]
    pub max_topics: usize,
    /// Seed: the same input and seed give the same topics.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Group every text, not only the negative ones.
    #[arg(long)]
    pub all: bool,
    /// Sentiment model that decides which texts are negative.
    #[arg(long, value_enum, default_value_t = ModelArg::Service)]
    pub model: ModelArg,
    /// Column with a known theme per text: reports NMI and purity of the topics against it.
    #[arg(long, requires = "text_column")]
    pub label_column: Option<String>,
    /// Example texts per topic.
    #[arg(long, default_value_t = 3)]
    pub examples: usize,
    /// Read only the rows whose COLUMN holds VALUE (ignoring case), e.g. `--only
    /// inbound=true` to leave out agents' replies in a conversation export.
    #[arg(long, value_name = "COLUMN=VALUE", requires = "text_column")]
    pub only: Option<String>,
    /// Input format when --text-column is given (auto: from the extension).
    #[arg(long, value_enum, default_value_t = InputFormatArg::Auto)]
    pub input_format: InputFormatArg,
    /// The text's encoding when it is not UTF-8: windows-1252 (also named latin1),
    /// iso-8859-15, shift_jis, utf-16le, … (delimited text and lines; JSON Lines and
    /// Parquet are UTF-8). Without it, bytes that are not UTF-8 are read as U+FFFD, with a
    /// warning.
    #[arg(long)]
    pub encoding: Option<String>,
    #[command(flatten)]
    pub text_rejects: TextRejects,
    /// Output: json (topics, evaluation and every text's topic) or csv (every text's topic).
    #[arg(long, value_enum, default_value_t = TopicsOutput::Json)]
    pub format: TopicsOutput,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// What to do with text rows that cannot be read (sentiment, topics).
#[derive(Debug, Args)]
pub struct TextRejects {
    /// Unreadable rows (malformed CSV or JSON, too few fields) allowed; they are left
    /// out and listed. Beyond this the command stops (exit 1).
    #[arg(long, default_value_t = 0)]
    pub max_rejects: u64,
    /// Write the rejected rows (file, line, column, value, expected) to this CSV.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
}

/// Bucket of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrendPeriod {
    /// Calendar days.
    Day,
    /// Weeks from Monday.
    Week,
    /// Calendar months.
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopicsOutput {
    /// The whole report.
    Json,
    /// One row per text: row, id, compound, topic, label.
    Csv,
}

#[derive(Debug, Args)]
pub struct SentimentArgs {
    /// Input: one text per line, or CSV / TSV / JSON Lines / Parquet with --text-column; `-` or nothing reads stdin.
    pub file: Option<PathBuf>,
    /// Scoring model: `service` (VADER plus customer-service rules, for customer text) or
    /// `vader` (exactly vaderSentiment 3.3.2).
    #[arg(long, value_enum, default_value_t = ModelArg::Service)]
    pub model: ModelArg,
    /// Column (CSV) or field (JSON Lines) holding the text; without it each line is a text.
    #[arg(long)]
    pub text_column: Option<String>,
    /// Column copied to the output to identify each text.
    #[arg(long, requires = "text_column")]
    pub id_column: Option<String>,
    /// Input format when --text-column is given (auto: from the extension).
    #[arg(long, value_enum, default_value_t = InputFormatArg::Auto)]
    pub input_format: InputFormatArg,
    /// The text's encoding when it is not UTF-8: windows-1252 (also named latin1),
    /// iso-8859-15, shift_jis, utf-16le, … (delimited text and lines; JSON Lines and
    /// Parquet are UTF-8). Without it, bytes that are not UTF-8 are read as U+FFFD, with a
    /// warning.
    #[arg(long)]
    pub encoding: Option<String>,
    #[command(flatten)]
    pub text_rejects: TextRejects,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SentimentOutput::Csv)]
    pub format: SentimentOutput,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Instead of scoring, print the Pearson correlation of compound with the human
    /// ratings of a VADER-paper ground-truth file (id TAB rating TAB text), for both models.
    #[arg(long, conflicts_with = "evaluate_labels")]
    pub evaluate: bool,
    /// Instead of scoring, compare both models on a labelled file (TSV with `label` and
    /// `text` columns; negative / neutral / positive): confusion matrices and macro-F1.
    #[arg(long)]
    pub evaluate_labels: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// VADER plus customer-service rules (the default for customer text).
    Service,
    /// Exactly vaderSentiment 3.3.2.
    Vader,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SentimentOutput {
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum ClvCommand {
    /// Fit a model by maximum likelihood and print its parameters, standard errors and log-likelihood.
    Fit(ClvFitArgs),
    /// P(alive), expected purchases, expected spend and discounted CLV per customer.
    Predict(ClvPredictArgs),
    /// Tracking plot: cumulative repeat purchases, actual and expected, period by period
    /// (FHL 2005 Figure 3; lifetimes' expected_cumulative_transactions).
    Track(ClvTrackArgs),
}

/// Where the customer summary comes from: a summary file, or transactions summarised on the fly.
#[derive(Debug, Args)]
pub struct ClvInput {
    /// The model (default bg-nbd). With --params, the kind the saved model must be.
    #[arg(long, short, value_enum)]
    pub model: Option<ModelKindArg>,
    /// L2 penalty on the log-parameters, added to the mean negative log-likelihood: 0 is
    /// plain maximum likelihood; try 0.001–0.1 when the fit reports parameters it could
    /// not identify. (lifetimes' penalizer_coef penalizes the raw parameters instead, so
    /// the same value gives other numbers.)
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// A summary CSV with lifetimes' columns (frequency, recency, T, monetary_value) or
    /// Hardie's (x, t_x, T, zbar); give --time-unit for CLV and saved-model conversion.
    #[arg(long, conflicts_with_all = ["transactions", "workspace"])]
    pub summary: Option<PathBuf>,
    /// Summarise a workspace's purchases (clv predict then writes a results run).
    #[arg(long, short, conflicts_with = "transactions")]
    pub workspace: Option<PathBuf>,
    /// A transactions file, summarised with the options below.
    #[arg(required_unless_present_any = ["summary", "workspace"])]
    pub transactions: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub columns: TransactionColumns,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Rejected transaction rows allowed.
    #[arg(long, default_value_t = 0)]
    pub max_rejects: u64,
}

#[derive(Debug, Args)]
pub struct ClvFitArgs {
    #[command(flatten)]
    pub input: ClvInput,
    /// Save the fitted model as versioned JSON (load it with `clv predict --params`).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Output format (default: json, or from the --output file's extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClvPredictArgs {
    #[command(flatten)]
    pub input: ClvInput,
    /// A fitted model saved by `clv fit --save` (otherwise the model is fitted on the input).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Horizon of expected_purchases, in the data's time unit (opportunities for bg-bb).
    #[arg(long, default_value_t = 52.0)]
    pub horizon: f64,
    /// CLV horizon in months.
    #[arg(long, default_value_t = 12)]
    pub clv_months: u32,
    /// Where the summary and the per-customer scoring run: embedded (default, fastest on
    /// one machine), datafusion (Apache DataFusion plans, the same results; a build with
    /// the sql feature) or ballista://HOST:PORT (the same plans on a cluster started with
    /// `rapport cluster`; a build with the cluster feature). The model is fitted here.
    /// Needs --workspace.
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// With --engine datafusion: memory the query operators may hold before they spill to
    /// the system's temporary directory (such as 2GiB, 512MiB; default an eighth of the
    /// machine's or container's memory). It bounds the operators, not the whole process.
    #[arg(long, value_name = "SIZE", value_parser = memory_size)]
    pub memory_limit: Option<bytesize::ByteSize>,
    /// Discount rate per --discount-period (0.01 = 1%).
    #[arg(long, default_value_t = 0.01)]
    pub discount_rate: f64,
    /// Period of --discount-rate (a yearly rate is converted to its monthly equivalent).
    #[arg(long, value_enum, default_value_t = DiscountPeriodArg::Month)]
    pub discount_period: DiscountPeriodArg,
    /// What a CLV month is: the mean Gregorian month (30.436875 days) whatever the unit,
    /// or lifetimes' per-unit constants (4.345 weeks, 30 days, 720 hours).
    #[arg(long, value_enum, default_value_t = MonthArg::Mean)]
    pub month: MonthArg,
    /// Output format (default: csv, or from the --output file's extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClvTrackArgs {
    /// The model (bg-nbd, mbg-nbd or pareto-nbd). Fitted on the calibration summary of FILE
    /// (give --calibration-end) unless --params is given.
    #[arg(long, short, value_enum)]
    pub model: Option<ModelKindArg>,
    /// L2 penalty on the log-parameters, added to the mean negative log-likelihood: 0 is
    /// plain maximum likelihood; try 0.001–0.1 when the fit reports parameters it could
    /// not identify. (lifetimes' penalizer_coef penalizes the raw parameters instead, so
    /// the same value gives other numbers.)
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// The transactions file.
    pub transactions: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub columns: TransactionColumns,
    #[command(flatten)]
    pub window: WindowArgs,
    /// A fitted model saved by `clv fit --save` (converted to --time-unit if fitted in another unit).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Periods between tracking points (7 with --period day gives weekly points).
    #[arg(long, default_value_t = 1)]
    pub step: i64,
    /// Periods tracked from the first purchase (lifetimes' t); default: through the last purchase.
    #[arg(long)]
    pub periods: Option<i64>,
    /// Rejected transaction rows allowed.
    #[arg(long, default_value_t = 0)]
    pub max_rejects: u64,
    /// Output format (default: csv, or from the --output file's extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// The formats headlines print in: every [`Format`] but Parquet, which `analyze` writes
/// to its results run rather than print.
fn headline_format() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::ValueEnum;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["table", "csv", "json", "jsonl"])
        .try_map(|name: String| Format::from_str(&name, true).map_err(|_| format!("{name} is not a format")))
}

/// Output format of commands that print data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns (the first 40 rows).
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (needs --output).
    Parquet,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to make the demo workspace (replaced if an earlier demo made it).
    #[arg(short = 'w', long, default_value = "rapport-demo")]
    pub workspace: PathBuf,
    /// Customers of the synthetic brand.
    #[arg(long, default_value_t = 20_000)]
    pub customers: u64,
    /// Seed of the synthetic brand (the same seed makes the same brand).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Customers in the independent simulation that computes the ground truth (fewer is
    /// quicker and less exact; default 25 × the brand, from 400,000 to 2,000,000).
    #[arg(long)]
    pub truth_customers: Option<u64>,
    /// The CDNOW walk-through instead: Fader, Hardie & Lee's sample, BG/NBD and holdout.
    #[arg(long, conflicts_with_all = ["customers", "seed", "truth_customers"])]
    pub cdnow: bool,
    /// Output format of the headline figures.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Customers to generate.
    #[arg(long, default_value_t = 20_000)]
    pub customers: u64,
    /// Seed (the same seed makes the same brand).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory to write the files into (created; its brand files are replaced).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Customers in the independent simulation that computes the ground truth (default
    /// 25 × the brand, from 400,000 to 2,000,000).
    #[arg(long)]
    pub truth_customers: Option<u64>,
    /// Also plant one scripted customer per built-in playbook rule, each with an
    /// opted-out twin, and write planted_actions.csv (the action each should get); for
    /// checking `rapport actions`, not headline coverage.
    #[arg(long)]
    pub plant_playbook: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// Observation end: a date (the whole day counts) or a date-time; default: the end of
    /// the day of the last event.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Output format of the headlines (the Parquet tables are in the results run it writes).
    #[arg(long, default_value = "table", value_parser = headline_format())]
    pub format: Format,
    /// Where the per-customer aggregation of the events and the lifetime-value scoring
    /// run: embedded (default, fastest on one machine), datafusion (Apache DataFusion
    /// plans, the same results run; a build with the sql feature) or ballista://HOST:PORT
    /// (the same plans on a cluster started with `rapport cluster`; a build with the
    /// cluster feature). The measures, the fit and the relationship stage run here.
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// With --engine datafusion: memory the query operators may hold before they spill to
    /// the system's temporary directory (such as 2GiB, 512MiB; default an eighth of the
    /// machine's or container's memory). It bounds the operators, not the whole process.
    #[arg(long, value_name = "SIZE", value_parser = memory_size)]
    pub memory_limit: Option<bytesize::ByteSize>,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// The first seed (seeds run from it upwards).
    #[arg(long, default_value_t = 1)]
    pub first_seed: u64,
    /// Customers per brand.
    #[arg(long, default_value_t = 20_000)]
    pub customers: u64,
    /// Scratch directory for the brands' workspaces (default: a temporary directory).
    #[arg(long)]
    pub scratch: Option<PathBuf>,
    /// Output format of the coverage table.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The workspace directory to create (must not exist, or be empty).
    #[arg(value_name = "DIRECTORY", required_unless_present = "workspace")]
    pub directory: Option<PathBuf>,
    /// The same, as every other command names it (`rapport init -w shop`).
    #[arg(short = 'w', long, value_name = "DIRECTORY", conflicts_with = "directory")]
    pub workspace: Option<PathBuf>,
    /// IANA time zone for naive times and period boundaries [default: UTC, or the --config file's].
    #[arg(long)]
    pub timezone: Option<String>,
    /// Currency assumed when a purchase names none [default: USD, or the --config file's].
    #[arg(long)]
    pub currency: Option<String>,
    /// Start from this rapport.toml (time zone, currency, service hours, mappings…), such
    /// as the one `rapport generate` writes beside its brand.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl InitArgs {
    /// The directory to create, however it was named.
    pub fn path(&self) -> &std::path::Path {
        // clap requires one of the two.
        self.workspace.as_deref().or(self.directory.as_deref()).unwrap_or(std::path::Path::new("."))
    }
}

/// How to read an input file.
#[derive(Debug, Args, Clone)]
pub struct ReadArgs {
    /// Column names of a headerless file, comma-separated (e.g. --columns id,date,amount).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Field separator (auto: detected from the first line).
    #[arg(long, value_enum, default_value_t = DelimiterArg::Auto)]
    pub delimiter: DelimiterArg,
    /// Input format (auto: from the extension).
    #[arg(long, value_enum, default_value_t = InputFormatArg::Auto)]
    pub input_format: InputFormatArg,
    /// How times are written: auto (ISO-8601, YYYYMMDD, epoch seconds), epoch, or a
    /// strftime pattern such as %d/%m/%Y.
    #[arg(long)]
    pub time_format: Option<String>,
    /// Amounts use a decimal comma (12,50 or 1.234,50). Currency symbols (€12.50, 12,50 €)
    /// and thousands separators in groups of three are read either way.
    #[arg(long)]
    pub decimal_comma: bool,
    /// The text's encoding when it is not UTF-8: windows-1252 (also named latin1), iso-8859-15,
    /// shift_jis, utf-16le, … (delimited text; JSON Lines and Parquet are UTF-8).
    #[arg(long)]
    pub encoding: Option<String>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The workspace.
    #[arg(long, short)]
    pub workspace: PathBuf,
    /// Kind of events.
    #[arg(long, short, value_enum)]
    pub kind: KindArg,
    /// The file to ingest, or a directory: every data file under it (Parquet parts,
    /// partition subdirectories included; `_SUCCESS`, `.crc` and hidden files skipped),
    /// each its own batch, in path order; files ingested before are skipped. Or an object
    /// or prefix in an object store, read the same way: s3://BUCKET/PREFIX (Amazon S3 or
    /// S3-compatible, with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
    /// AWS_ENDPOINT_URL from the environment), gs://BUCKET/PREFIX (Google Cloud Storage),
    /// az://CONTAINER/PREFIX (Azure, with AZURE_STORAGE_ACCOUNT_NAME and a key or token).
    /// Or --postgres.
    #[arg(required_unless_present = "postgres", value_name = "FILE|DIR")]
    pub file: Option<PathBuf>,
    /// Read the events from PostgreSQL instead of a file: a connection string,
    /// postgres://user:password@host:port/database or 'host=… dbname=…' (no TLS; the
    /// password may come from PGPASSWORD). With --table or --query.
    #[arg(
        long,
        value_name = "CONNECTION",
        conflicts_with = "file",
        requires = "relation",
        env = "RAPPORT_POSTGRES",
        hide_env_values = true
    )]
    pub postgres: Option<String>,
    /// The PostgreSQL table (or view) to read, e.g. crm.orders.
    #[arg(long, group = "relation", requires = "postgres")]
    pub table: Option<String>,
    /// The PostgreSQL query to read, e.g. "SELECT * FROM orders WHERE created > now() - interval '1 day'".
    #[arg(long, group = "relation", requires = "postgres")]
    pub query: Option<String>,
    /// Map a Rapport field to an input column: --map customer_id=client; or compute it
    /// with an SQL expression after a second =: --map 'amount==Quantity * UnitPrice'
    /// (repeatable).
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub mappings: Vec<String>,
    /// Set a field to a constant for every row: --set survey_type=csat (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub sets: Vec<String>,
    /// Keep only the rows for which this SQL condition is true:
    /// --where "InvoiceNo NOT LIKE 'C%'" (applied together with the workspace's filter in rapport.toml).
    #[arg(long = "where", value_name = "CONDITION")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Rejected rows allowed; beyond this nothing is written and the exit code is 1.
    #[arg(long, default_value_t = 0)]
    pub max_rejects: u64,
    /// Map this file with a mapping profile (a TOML file with rapport.toml's mapping, set,
    /// filter, decimal_comma and time_format tables) instead of the workspace's: for a
    /// second export layout of the same kind, such as a refund file.
    #[arg(long = "mapping", value_name = "PROFILE.toml")]
    pub profile: Option<PathBuf>,
    /// Replace batch N with this ingest, in one step: re-ingest a file with a corrected
    /// mapping without counting its rows twice.
    #[arg(long, value_name = "N")]
    pub replace: Option<u64>,
    /// Output format of the ingest summary (counts per file).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Transactions file (CSV / JSON Lines / Parquet). Omit with --workspace.
    #[arg(required_unless_present = "workspace")]
    pub file: Option<PathBuf>,
    /// Summarise a workspace's purchases instead of a file.
    #[arg(long, short, conflicts_with = "file")]
    pub workspace: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub columns: TransactionColumns,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Rejected rows allowed before the command fails (exit 1).
    #[arg(long, default_value_t = 0)]
    pub max_rejects: u64,
    /// Write the rejected rows (file, line, column, value, expected) to this CSV.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Output format (default: csv, or from the --output file's extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Where the aggregation runs: embedded (default, fastest on one machine),
    /// datafusion (Apache DataFusion plans over the workspace, the same results; a build
    /// with the sql feature) or ballista://HOST:PORT (the same plans on a cluster started
    /// with `rapport cluster`; a build with the cluster feature). Needs --workspace.
    #[arg(long, value_name = "ENGINE", requires = "workspace")]
    pub engine: Option<String>,
    /// With --engine datafusion: memory the query operators may hold before they spill to
    /// the system's temporary directory (such as 2GiB, 512MiB; default an eighth of the
    /// machine's or container's memory). It bounds the operators, not the whole process.
    #[arg(long, value_name = "SIZE", value_parser = memory_size)]
    pub memory_limit: Option<bytesize::ByteSize>,
}

/// Which columns of a transactions file hold what.
#[derive(Debug, Args, Clone)]
pub struct TransactionColumns {
    /// Customer id column.
    #[arg(long, default_value = "customer_id")]
    pub customer_column: String,
    /// Time column (the default `date` reads `time` in a file that has no `date`).
    #[arg(long, default_value = "date")]
    pub time_column: String,
    /// Amount column; without it there is no monetary value (nor spend, nor CLV).
    #[arg(long)]
    pub amount_column: Option<String>,
}

/// Periods, units and windows of a summary.
#[derive(Debug, Args, Clone)]
pub struct WindowArgs {
    /// Bucket for grouping purchases (lifetimes' freq).
    #[arg(long, value_enum, default_value_t = PeriodArg::Day)]
    pub period: PeriodArg,
    /// Unit of recency, T and durations (default: the period's; for --summary files, the
    /// unit they are in).
    #[arg(long, value_enum)]
    pub time_unit: Option<TimeUnitArg>,
    /// Last day observed (YYYY-MM-DD, inclusive); default: the last event.
    #[arg(long)]
    pub observation_end: Option<String>,
    /// Last day of the calibration window; adds the holdout columns.
    #[arg(long)]
    pub calibration_end: Option<String>,
    /// IANA time zone of naive times and period boundaries (default: UTC, or the workspace's).
    #[arg(long)]
    pub timezone: Option<String>,
}

/// The lifetime-value models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKindArg {
    /// BG/NBD (Fader, Hardie & Lee 2005).
    #[value(alias = "bgnbd")]
    BgNbd,
    /// MBG/NBD (Batislam et al. 2007).
    #[value(alias = "mbgnbd")]
    MbgNbd,
    /// Pareto/NBD (Schmittlein et al. 1987).
    #[value(alias = "pnbd")]
    ParetoNbd,
    /// BG/BB for discrete opportunities.
    #[value(alias = "bgbb")]
    BgBb,
    /// Gamma-Gamma spend.
    #[value(alias = "gg")]
    GammaGamma,
}

/// Period of a discount rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiscountPeriodArg {
    /// Per month.
    Month,
    /// Per year.
    Year,
}

/// What a CLV month is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MonthArg {
    /// The mean Gregorian month, for every unit.
    Mean,
    /// lifetimes' constants per unit.
    Lifetimes,
}

/// Field separators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DelimiterArg {
    /// Detected from the first line.
    Auto,
    /// `,`
    #[value(alias = ",")]
    Comma,
    /// `;`
    #[value(alias = ";")]
    Semicolon,
    /// A tab.
    #[value(aliases = ["\t", "\\t"])]
    Tab,
    /// `|`
    #[value(alias = "|")]
    Pipe,
    /// Runs of spaces and tabs.
    #[value(alias = "space")]
    Whitespace,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    /// From the extension.
    Auto,
    /// Comma-separated (or --delimiter) text.
    Csv,
    /// Tab-separated text.
    Tsv,
    /// One JSON object per line.
    #[value(alias = "ndjson")]
    Jsonl,
    /// Apache Parquet.
    Parquet,
    /// One text per line, no header (sentiment and topics).
    Lines,
}

/// Kinds of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Customer profiles.
    #[value(alias = "customer")]
    Customers,
    /// Purchases and refunds (also read as orders, transactions, sales).
    #[value(aliases = ["purchase", "orders", "order", "transactions", "transaction", "sales"])]
    Purchases,
    /// Service and social interactions (also read as conversations, tickets, messages).
    #[value(aliases = ["interaction", "conversations", "tickets", "messages"])]
    Interactions,
    /// NPS / CSAT / CES answers.
    #[value(alias = "survey")]
    Surveys,
    /// Social and site engagement.
    Engagement,
    /// Retention actions.
    #[value(alias = "program")]
    Programs,
    /// Contact and reward costs.
    #[value(alias = "cost")]
    Costs,
    /// The brand's stores: store_id, latitude, longitude (name, region).
    #[value(alias = "store")]
    Stores,
}

/// Periods (lifetimes' freq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeriodArg {
    /// Clock hours.
    #[value(alias = "h")]
    Hour,
    /// Calendar days.
    #[value(alias = "d")]
    Day,
    /// Weeks from Monday to Sunday.
    #[value(alias = "w")]
    Week,
    /// Calendar months.
    #[value(alias = "m")]
    Month,
}

/// Time units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimeUnitArg {
    /// Hours.
    #[value(alias = "hour")]
    Hours,
    /// Days.
    #[value(alias = "day")]
    Days,
    /// Weeks of 7 days.
    #[value(alias = "week")]
    Weeks,
    /// Calendar months with --period month, otherwise the mean Gregorian month.
    #[value(alias = "month")]
    Months,
}
