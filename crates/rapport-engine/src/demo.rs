//! `rapport demo`: a realistic brand in one command.
//!
//! For now the demo ingests the bundled CDNOW sample (Fader, Hardie & Lee's 2,357
//! customers, MIT licence, see `data/README.md`) into a fresh workspace, summarises
//! the 39-week calibration window and the holdout, and reports headline figures.

use std::path::{Path, PathBuf};

use rapport_core::config::WorkspaceConfig;
use rapport_core::event::EventKind;
use rapport_core::summary::{SummaryOptions, SummaryTable};
use rapport_core::time::{Period, TimeUnit, Zone, parse_end_of};
use rapport_store::input::{Delimiter, InputSpec};
use rapport_store::workspace::{IngestOptions, IngestReport, Workspace};
use serde::Serialize;

use rapport_models::ClvOptions;

use crate::EngineError;
use crate::clv::{ModelInput, ModelKind, PredictOptions};
use crate::summary::{PurchaseSource, SummaryRequest, summarize};
use crate::table::Column;

/// The CDNOW 1/10 sample, embedded so that the demo needs no download.
pub const CDNOW_SAMPLE: &str = include_str!("../../../data/cdnow/CDNOW_sample.txt");

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
    /// The summary itself.
    #[serde(skip)]
    pub summary: SummaryTable,
}

/// Run the demo in `directory` (created; replaced if an earlier demo made it).
pub fn run_demo(directory: &Path) -> Result<DemoReport, EngineError> {
    if directory.exists() {
        if directory.join(MARKER).is_file() {
            std::fs::remove_dir_all(directory).map_err(|source| EngineError::Output { target: directory.display().to_string(), source })?;
        } else if std::fs::read_dir(directory).map(|mut entries| entries.next().is_some()).unwrap_or(true) {
            return Err(rapport_store::StoreError::AlreadyExists { path: directory.to_path_buf() }.into());
        }
    }
    let mut workspace = Workspace::init(directory, WorkspaceConfig::default())?;
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|source| EngineError::Output { target: path.display().to_string(), source })
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
    options.mapping.insert("time".into(), "date".into());
    options.mapping.insert("items".into(), "cds".into());
    let ingest = workspace.ingest(EventKind::Purchases, &options)?;

    let request = SummaryRequest {
        source: PurchaseSource::Workspace(directory.to_path_buf()),
        options: SummaryOptions {
            period: Period::Day,
            time_unit: TimeUnit::Weeks,
            calibration_end: Some(parse_end_of("1997-09-30", "--calibration-end")?),
            observation_end: Some(parse_end_of("1998-06-30", "--observation-end")?),
            monetary: true,
        },
        zone: Zone::Utc,
        max_rejects: 0,
    };
    let summary = summarize(&request)?.table;
    let repeaters: Vec<_> = summary.customers.iter().filter(|row| row.frequency > 0).collect();

    // Lifetime value: BG/NBD for purchases, Gamma-Gamma for spend, CLV over 12 months.
    let input = ModelInput::from_summary(&summary);
    let count = crate::clv::fit(ModelKind::BgNbd, &input)?;
    let spend = crate::clv::spend_model(&input)?.ok_or_else(|| EngineError::Internal("the demo data has amounts".into()))?;
    let clv_options =
        ClvOptions { months: 12, monthly_discount_rate: 0.01, units_per_month: ClvOptions::units_per_month("weeks").unwrap_or(4.345) };
    let (predictions, _) = crate::clv::predict(&count, Some(&spend), &input, &PredictOptions { horizon: 39.0, clv: Some(clv_options) })?;
    let column = |name: &str| -> Vec<f64> {
        predictions
            .columns
            .iter()
            .find(|(column, _)| column == name)
            .and_then(|(_, values)| if let Column::Float(values) = values { Some(values.clone()) } else { None })
            .unwrap_or_default()
    };
    let (alive, clv) = (column("p_alive"), column("clv"));
    let count_model = count.as_count_model().ok_or_else(|| EngineError::Internal("BG/NBD is a count model".into()))?;
    let holdout_rows: Vec<_> =
        input.rows.iter().filter_map(|row| row.holdout.map(|(actual, duration)| (row.x, row.t_x, row.t, actual, duration))).collect();
    let mut ranked: Vec<(String, f64, f64)> =
        input.rows.iter().zip(alive.iter().zip(&clv)).map(|(row, (alive, clv))| (row.id.clone(), *alive, *clv)).collect();
    ranked.sort_by(|a, b| b.2.total_cmp(&a.2));
    Ok(DemoReport {
        count_model: count.report().clone(),
        spend_model: spend.report.clone(),
        holdout: rapport_models::evaluate_holdout(count_model, &holdout_rows),
        likely_lapsed: input.rows.iter().zip(&alive).filter(|(row, alive)| row.x >= 1.0 && **alive < 0.3).count(),
        total_clv_12_months: clv.iter().sum(),
        top_customers: ranked.into_iter().take(10).collect(),
        workspace: directory.to_path_buf(),
        ingest,
        customers: summary.customers.len(),
        repeat_customers: repeaters.len(),
        repeat_purchases_calibration: summary.customers.iter().map(|row| u64::from(row.frequency)).sum(),
        purchases_holdout: summary.customers.iter().filter_map(|row| row.holdout).map(|holdout| u64::from(holdout.frequency)).sum(),
        mean_repeat_value: repeaters.iter().map(|row| row.monetary_value).sum::<f64>() / repeaters.len().max(1) as f64,
        summary,
    })
}
