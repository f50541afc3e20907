//! `rapport demo`: a realistic brand in one command.
//!
//! For now the demo ingests the bundled CDNOW sample (Fader, Hardie & Lee's 2,357
//! customers, MIT licence, see `data/README.md`) into a fresh workspace, summarises
//! the 39-week calibration window and the holdout, and reports headline figures.

use std::path::{Path, PathBuf};

use rapport_core::config::WorkspaceConfig;
use rapport_core::event::EventKind;
use rapport_core::summary::Summary;
use rapport_core::time::{MonthDefinition, Period, TimeUnit, Zone};
use rapport_models::ModelKind;
use rapport_store::input::{Delimiter, InputSpec};
use rapport_store::workspace::{IngestOptions, IngestReport, Workspace};
use serde::Serialize;

use crate::EngineError;
use crate::clv::{ClvSpec, CustomerSource, PredictRequest};
use crate::input::WindowSpec;
use crate::summary::{PurchaseSource, SummaryRequest};

/// The CDNOW 1/10 sample, embedded so that the demo needs no download.
pub const CDNOW_SAMPLE: &str = include_str!("../data/CDNOW_sample.txt");

/// Marks a directory made by the demo, so a later demo may replace it.
const MARKER: &str = ".rapport-demo";

/// Headline figures of the demo.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    /// The workspace it made.
    pub workspace: PathBuf,
    /// The ingest.
    pub ingest: IngestReport,
    /// Customers in the calibration summary.
    pub customers: usize,
    /// Customers who bought again within the calibration window.
    pub repeat_customers: usize,
    /// Repeat purchase days in calibration.
    pub repeat_purchases_calibration: u64,
    /// Purchase days in the holdout window.
    pub purchases_holdout: u64,
    /// Mean value of a repeat purchase day (dollars), over repeat customers.
    pub mean_repeat_value: f64,
    /// BG/NBD fitted on the calibration window.
    pub count_model: rapport_models::FitReport,
    /// Gamma-Gamma fitted on the repeat buyers.
    pub spend_model: rapport_models::FitReport,
    /// Predicted vs actual purchases in the 39-week holdout.
    pub holdout: rapport_models::HoldoutEvaluation,
    /// Customers with P(alive) < 0.3 who bought more than once: the win-back list.
    pub likely_lapsed: usize,
    /// Sum of 12-month CLV (1% monthly discount) over all customers, dollars.
    pub total_clv_12_months: f64,
    /// The ten most valuable customers: (id, P(alive), 12-month CLV).
    pub top_customers: Vec<(String, f64, f64)>,
    /// The results run with every customer's predictions.
    pub run: Option<rapport_store::runs::RunInfo>,
    /// The calibration summary.
    #[serde(skip)]
    pub summary: Summary,
}

/// Clear `directory` if an earlier demo made it; refuse a directory with other contents.
fn clear_demo(directory: &Path) -> Result<(), EngineError> {
    if directory.exists() {
        if directory.join(MARKER).is_file() {
            std::fs::remove_dir_all(directory).map_err(|source| EngineError::Write { target: directory.display().to_string(), source })?;
        } else if std::fs::read_dir(directory).map(|mut entries| entries.next().is_some()).unwrap_or(true) {
            return Err(rapport_store::StoreError::AlreadyExists { path: directory.to_path_buf() }.into());
        }
    }
    Ok(())
}

/// Run the CDNOW demo in `directory` (created; replaced if an earlier demo made it).
pub fn run_demo(directory: &Path) -> Result<DemoReport, EngineError> {
    clear_demo(directory)?;
    let mut workspace = Workspace::init(directory, WorkspaceConfig::default())?;
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|source| EngineError::Write { target: path.display().to_string(), source })
    };
    write(&directory.join(MARKER), "made by `rapport demo`; the next demo replaces this directory\n")?;
    let source = directory.join("cdnow_sample.txt");
    write(&source, CDNOW_SAMPLE)?;

    let mut options = IngestOptions {
        input: InputSpec {
            path: source.clone(),
            delimiter: Delimiter::Whitespace,
            columns: Some(["original_id", "customer_id", "date", "cds", "amount"].map(String::from).to_vec()),
            ..InputSpec::default()
        },
        ..IngestOptions::default()
    };
    options.mapping.map.insert("time".into(), "date".into());
    options.mapping.map.insert("items".into(), "cds".into());
    let ingest = workspace.ingest(EventKind::Purchases, &options)?;

    let window = WindowSpec {
        period: Period::Day,
        time_unit: Some(TimeUnit::Weeks),
        calibration_end: Some("1997-09-30".into()),
        observation_end: Some("1998-06-30".into()),
        zone: Some(Zone::Utc),
    };
    let summary_request = SummaryRequest { source: PurchaseSource::Workspace(directory.to_path_buf()), window, max_rejects: 0 };
    let summary = crate::summary::summarize(&summary_request)?.summary;

    // Lifetime value: BG/NBD for purchases, Gamma-Gamma for spend, CLV over 12 months;
    // written as a results run of the workspace.
    let outcome = crate::clv::predict(&PredictRequest {
        source: CustomerSource::Purchases(summary_request),
        model: Some(ModelKind::BgNbd),
        saved: None,
        horizon: 39.0,
        clv: ClvSpec { month: MonthDefinition::Mean, ..ClvSpec::default() },
        options: Default::default(),
    })?;
    let customers = &outcome.customers;
    let missing = |column: &str| EngineError::Internal(format!("the demo's customer table has no {column}"));
    let x = customers.frequency().ok_or_else(|| missing("frequency"))?;
    let monetary = customers.monetary_value().ok_or_else(|| missing("monetary_value"))?;
    let alive = customers.f64("p_alive").ok_or_else(|| missing("p_alive"))?;
    let clv = customers.f64("clv").ok_or_else(|| missing("clv"))?;
    let holdout_purchases = customers.frequency_holdout().ok_or_else(|| missing("frequency_holdout"))?;
    let mut ranked: Vec<(String, f64, f64)> =
        (0..customers.len()).map(|row| (customers.id(row).to_string(), alive[row], clv[row])).collect();
    ranked.sort_by(|a, b| b.2.total_cmp(&a.2));
    let repeaters: Vec<usize> = (0..customers.len()).filter(|&row| x[row] > 0.0).collect();
    let [count_model, spend_model] = <[rapport_models::FitReport; 2]>::try_from(outcome.models)
        .map_err(|_| EngineError::Internal("the demo fits a count and a spend model".into()))?;
    Ok(DemoReport {
        count_model,
        spend_model,
        holdout: outcome.holdout.ok_or_else(|| missing("a holdout"))?,
        likely_lapsed: (0..customers.len()).filter(|&row| x[row] >= 1.0 && alive[row] < 0.3).count(),
        total_clv_12_months: clv.iter().sum(),
        top_customers: ranked.into_iter().take(10).collect(),
        workspace: directory.to_path_buf(),
        ingest,
        customers: customers.len(),
        repeat_customers: repeaters.len(),
        repeat_purchases_calibration: x.iter().sum::<f64>() as u64,
        purchases_holdout: holdout_purchases.iter().sum::<f64>() as u64,
        mean_repeat_value: repeaters.iter().map(|&row| monetary[row]).sum::<f64>() / repeaters.len().max(1) as f64,
        run: outcome.run,
        summary,
    })
}

/// The synthetic-brand demo: generate, ingest, analyze.
#[derive(Debug, Clone, PartialEq)]
pub struct BrandDemoRequest {
    /// The workspace directory (created; replaced if an earlier demo made it).
    pub directory: PathBuf,
    /// Customers to generate (default 20,000).
    pub customers: u64,
    /// Seed (default 1).
    pub seed: u64,
    /// Customers of the ground-truth simulation ([`rapport_synth::TRUTH_CUSTOMERS`]).
    pub truth_customers: u64,
}

/// What the brand demo did.
#[derive(Debug, Serialize)]
pub struct BrandDemoReport {
    /// The workspace.
    pub workspace: PathBuf,
    /// The generated files and their ground truth.
    pub generated: rapport_synth::GenerateReport,
    /// One ingest per file.
    pub ingests: Vec<(EventKind, IngestReport)>,
    /// The analysis.
    pub analysis: crate::analyze::AnalyzeOutcome,
    /// Seconds spent generating, ingesting and analysing.
    pub seconds: [f64; 3],
}

/// Generate a synthetic brand into `<directory>/brand`, ingest every file into the
/// workspace `directory`, and analyse it as of the brand's last day.
pub fn run_brand_demo(request: &BrandDemoRequest, progress: &(dyn Fn(&str) + Sync)) -> Result<BrandDemoReport, EngineError> {
    clear_demo(&request.directory)?;
    let directory = &request.directory;
    let config = WorkspaceConfig {
        timezone: rapport_synth::TIMEZONE.into(),
        currency: rapport_synth::CURRENCY.into(),
        service: Some(rapport_core::config::ServiceConfig { hours: rapport_synth::SERVICE_HOURS.into(), holidays: Vec::new() }),
        ..WorkspaceConfig::default()
    };
    let mut workspace = Workspace::init(directory, config)?;
    std::fs::write(directory.join(MARKER), "made by `rapport demo`; the next demo replaces this directory\n")
        .map_err(|source| EngineError::Write { target: directory.display().to_string(), source })?;
    let clock = std::time::Instant::now();
    let brand = directory.join("brand");
    let customers = request.customers;
    let generated = rapport_synth::generate(
        &rapport_synth::GenerateOptions { customers, seed: request.seed, output: brand.clone(), truth_customers: request.truth_customers },
        &|done| progress(&format!("generating customers: {done} of {customers}")),
    )?;
    let generating = clock.elapsed().as_secs_f64();
    let mut ingests = Vec::new();
    for (kind, file) in rapport_synth::FILES {
        let kind: EventKind = kind.parse()?;
        progress(&format!("ingesting {file}"));
        let options = IngestOptions { input: InputSpec { path: brand.join(file), ..InputSpec::default() }, ..IngestOptions::default() };
        ingests.push((kind, workspace.ingest(kind, &options)?));
    }
    let ingesting = clock.elapsed().as_secs_f64() - generating;
    let analysis = crate::analyze::analyze(
        &crate::analyze::AnalyzeRequest { workspace: directory.clone(), as_of: Some(generated.ground_truth.as_of.clone()) },
        progress,
    )?;
    let analysing = clock.elapsed().as_secs_f64() - generating - ingesting;
    Ok(BrandDemoReport { workspace: directory.clone(), generated, ingests, analysis, seconds: [generating, ingesting, analysing] })
}

/// How often one headline's interval covered its true value.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    /// The headline.
    pub name: String,
    /// Its population value (ground truth).
    pub truth: f64,
    /// Runs whose 95% interval covered the truth.
    pub covered: u64,
    /// Runs that estimated it.
    pub runs: u64,
    /// Mean estimate over the runs.
    pub mean_estimate: f64,
    /// Mean half-width of the intervals.
    pub mean_margin: f64,
    /// Standard deviation of the estimates over the runs: what the intervals' widths
    /// should match (a calibrated 95% interval has a mean half-width near 1.96 × it).
    pub sd_estimate: f64,
    /// Sum of squared estimates (to compute `sd_estimate`).
    #[serde(skip)]
    sum_squares: f64,
}

/// Generate, ingest and analyse the synthetic brand for each of `seeds` in `scratch`
/// (each workspace removed after its analysis) and count, per headline, the runs whose
/// interval covers the ground truth.
pub fn coverage(
    seeds: std::ops::Range<u64>,
    customers: u64,
    scratch: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<CoverageRow>, EngineError> {
    progress("computing the ground truth");
    let truth = rapport_synth::ground_truth(rapport_synth::TRUTH_CUSTOMERS);
    let mut rows: Vec<CoverageRow> = truth
        .iter()
        .map(|(name, value)| CoverageRow {
            name: name.clone(),
            truth: *value,
            covered: 0,
            runs: 0,
            mean_estimate: 0.0,
            mean_margin: 0.0,
            sd_estimate: 0.0,
            sum_squares: 0.0,
        })
        .collect();
    let last = seeds.end.saturating_sub(1);
    for seed in seeds {
        progress(&format!("seed {seed} (last {last})"));
        let directory = scratch.join(format!("coverage-seed-{seed}"));
        // The truth is the same for every seed; a token simulation keeps each run quick.
        let request = BrandDemoRequest { directory: directory.clone(), customers, seed, truth_customers: 1 };
        let report = run_brand_demo(&request, &|_| {})?;
        for row in &mut rows {
            if let Some(headline) = report.analysis.headlines.get(&row.name) {
                row.runs += 1;
                row.mean_estimate += headline.estimate;
                row.sum_squares += headline.estimate * headline.estimate;
                if let (Some(lower), Some(upper)) = (headline.lower, headline.upper) {
                    row.mean_margin += (upper - lower) / 2.0;
                    row.covered += u64::from(lower <= row.truth && row.truth <= upper);
                }
            }
        }
        std::fs::remove_dir_all(&directory).map_err(|source| EngineError::Write { target: directory.display().to_string(), source })?;
    }
    for row in &mut rows {
        let runs = row.runs.max(1) as f64;
        let sum = row.mean_estimate;
        row.mean_estimate /= runs;
        row.mean_margin /= runs;
        if row.runs > 1 {
            row.sd_estimate = ((row.sum_squares - sum * row.mean_estimate) / (runs - 1.0)).max(0.0).sqrt();
        }
    }
    Ok(rows)
}

pub use rapport_synth::TRUTH_CUSTOMERS;

/// The ground-truth simulation's size for a brand of `customers`: 25 times the brand, at
/// least 400,000 and at most [`TRUTH_CUSTOMERS`], so the truth is far more precise than
/// the brand's estimates without a small demo waiting on two million simulated customers.
pub fn truth_customers_for(customers: u64) -> u64 {
    customers.saturating_mul(25).clamp(400_000, TRUTH_CUSTOMERS)
}

/// Append the customers planted for the playbook (one per built-in rule, each with an
/// opted-out twin) to the brand in `output`, with `planted_actions.csv`; returns how many.
pub fn plant_playbook(output: &Path) -> Result<u64, EngineError> {
    Ok(rapport_synth::planted::plant_playbook(output)?)
}

/// Write a synthetic brand of `customers` (seed `seed`) into `output`, its ground truth
/// from a simulation of `truth_customers`; returns the rows written per file.
pub fn generate(
    customers: u64,
    seed: u64,
    truth_customers: u64,
    output: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<rapport_synth::GenerateReport, EngineError> {
    let options = rapport_synth::GenerateOptions { customers, seed, output: output.to_path_buf(), truth_customers };
    let report = rapport_synth::generate(&options, &|done| progress(&format!("generating customers: {done} of {customers}")))?;
    Ok(report)
}
