//! A synthetic brand with known truth: `rapport generate` and `rapport demo`.
//!
//! [`generate`] writes one CSV file per event kind (plus `stores.csv` and
//! `rapport.toml`) and `ground_truth.json`: for every headline the analysis estimates,
//! the population value of exactly the quantity its estimator targets. That value is
//! computed by an independent simulation of [`TRUTH_CUSTOMERS`] customers (a fixed
//! seed of its own), folded with the same definitions as the analysis
//! ([`rapport_measures::Measures`]) over timelines built straight from the stories
//! with their planted tones — never from the written files. A test checks that the
//! analysis of the written files reproduces those timelines exactly, so the estimate and
//! the truth differ only by sampling.
//!
//! Customers are drawn in parallel, a chunk at a time, and written in order; memory is
//! bounded by the chunk, so 10 million customers stream out.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod planted;
pub mod story;
pub mod text;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use rapport_core::time::Zone;
use rapport_measures::{Measures, Settings};

pub use story::{END, START};

/// Customers in the independent simulation that computes the ground truth.
pub const TRUTH_CUSTOMERS: u64 = 2_000_000;
/// The truth simulation's seed: its own stream, unrelated to any brand's seed.
pub const TRUTH_SEED: u64 = 0x7472_7574_685f_7631;
/// The brand's time zone.
pub const TIMEZONE: &str = "Europe/London";
/// The brand's currency.
pub const CURRENCY: &str = "GBP";
/// Customers drawn per parallel chunk.
const CHUNK: u64 = 4_096;

/// Failures of generation.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SynthError {
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Bad options.
    #[error("{0}")]
    Invalid(String),
}

impl SynthError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SynthError::Write { .. } => "write_failed",
            SynthError::Invalid(_) => "invalid_option",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Number of customers.
    pub customers: u64,
    /// Seed.
    pub seed: u64,
    /// Output directory (created; files in it are replaced).
    pub output: PathBuf,
    /// Customers in the ground-truth simulation ([`TRUTH_CUSTOMERS`]; tests use fewer).
    pub truth_customers: u64,
}

/// `ground_truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The brand's seed.
    pub seed: u64,
    /// Its customers.
    pub customers: u64,
    /// Observation end the truth refers to (the brand's last day).
    pub as_of: String,
    /// Headline name → population value.
    pub truth: BTreeMap<String, f64>,
    /// How the truth was computed.
    pub method: String,
}

/// What a generation wrote.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    /// The directory.
    pub output: PathBuf,
    /// Rows written per file.
    pub rows: BTreeMap<String, u64>,
    /// The ground truth.
    pub ground_truth: GroundTruth,
}

/// The settings the truth is computed with (the analysis' defaults at the brand's end).
pub fn truth_settings() -> Settings {
    let mut settings = Settings::new(END, TIMEZONE.parse::<Zone>().expect("a valid zone"));
    settings.schedule = Some(rapport_core::schedule::Schedule::parse(SERVICE_HOURS, &[]).expect("the brand's opening hours"));
    settings
}

/// The brand's service opening hours (e-mail and phone are answered only then).
pub const SERVICE_HOURS: &str = "Mon-Fri 09:00-18:00";

/// The population value of every headline: an independent simulation of `customers`
/// customers folded with the analysis' definitions.
pub fn ground_truth(customers: u64) -> BTreeMap<String, f64> {
    let settings = truth_settings();
    let zone = settings.zone;
    let made = referrals_made(TRUTH_SEED, customers);
    let measures = (0..customers.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut measures = Measures::default();
            for index in chunk * CHUNK..((chunk + 1) * CHUNK).min(customers) {
                let mut timeline = story::story(TRUTH_SEED, index, customers).timeline(zone);
                add_referrals(&mut timeline, made.get(&index).map_or(&[], Vec::as_slice));
                measures.update(&timeline, &settings);
            }
            measures
        })
        .collect::<Vec<_>>()
        .into_iter()
        // Merged in chunk order: the same bits on every run (rayon's `reduce` merges in a
        // tree shaped by work stealing).
        .fold(Measures::default(), |mut left, right| {
            left.merge(right);
            left
        });
    let (headlines, _) = measures.headlines(&settings, CURRENCY);
    headlines.into_iter().map(|(name, headline)| (name, headline.estimate)).collect()
}

/// The referrals each customer made (referrer → times), from every customer's
/// referral stream.
pub fn referrals_made(seed: u64, customers: u64) -> std::collections::HashMap<u64, Vec<i64>> {
    let links: Vec<(u64, i64)> = (1..customers).into_par_iter().filter_map(|index| story::referral(seed, index, customers)).collect();
    let mut made: std::collections::HashMap<u64, Vec<i64>> = std::collections::HashMap::new();
    for (referrer, time) in links {
        made.entry(referrer).or_default().push(time);
    }
    made
}

/// Add the referrals a customer made (their own engagement events, written with the
/// referred customers' stories) to the customer's timeline.
pub fn add_referrals(timeline: &mut rapport_measures::Timeline, times: &[i64]) {
    if times.is_empty() {
        return;
    }
    for &time in times {
        timeline.referrals_made += 1;
        timeline.engagement.push(rapport_measures::Engagement { kind: rapport_core::event::EngagementType::Referral, time, rating: None });
    }
    timeline.sort();
}

/// Generate a brand into `options.output`, calling `progress` with the customers
/// written so far.
pub fn generate(options: &GenerateOptions, progress: &(dyn Fn(u64) + Sync)) -> Result<GenerateReport, SynthError> {
    if options.customers == 0 {
        return Err(SynthError::Invalid("a brand needs at least one customer".into()));
    }
    std::fs::create_dir_all(&options.output).map_err(|source| SynthError::Write { path: options.output.clone(), source })?;
    let rows = write::write_brand(&options.output, options.seed, options.customers, CHUNK, progress)?;
    let truth = ground_truth(options.truth_customers);
    let ground_truth = GroundTruth {
        seed: options.seed,
        customers: options.customers,
        as_of: "2025-12-31".into(),
        truth,
        method: format!(
            "population values from an independent simulation of {} customers (seed {TRUTH_SEED:#x}) folded with the analysis' own definitions over the planted timelines",
            options.truth_customers
        ),
    };
    let path = options.output.join("ground_truth.json");
    let text = serde_json::to_vec_pretty(&ground_truth).map_err(|error| SynthError::Invalid(error.to_string()))?;
    std::fs::write(&path, text).map_err(|source| SynthError::Write { path, source })?;
    Ok(GenerateReport { output: options.output.clone(), rows, ground_truth })
}

/// The files a brand consists of, in the order to ingest them.
pub const FILES: [(&str, &str); 8] = [
    ("customers", "customers.csv"),
    ("purchases", "purchases.csv"),
    ("interactions", "interactions.csv"),
    ("surveys", "surveys.csv"),
    ("engagement", "engagement.csv"),
    ("programs", "programs.csv"),
    ("costs", "costs.csv"),
    ("stores", "stores.csv"),
];

/// The path of kind `kind`'s file in a generated brand.
pub fn file_of(directory: &Path, kind: &str) -> Option<PathBuf> {
    FILES.iter().find(|(name, _)| *name == kind).map(|(_, file)| directory.join(file))
}
