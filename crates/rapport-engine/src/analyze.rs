//! `rapport analyze`: every analysis the workspace's events allow, as one results run.
//!
//! The events of every kind are read (in parallel, a Parquet row group at a time),
//! customers' texts scored, rows grouped into one [`Timeline`] per customer and the
//! timelines folded into [`Measures`] on all cores. The run holds the customer table
//! (`customers.parquet`: per-customer facts and the BTYD predictions), one Parquet table
//! per breakdown and `summary.json` with every headline's estimate, 95% interval, sample
//! size and unit, the analyses skipped and why, and the rows each input batch rejected.
//!
//! Rules for odd data (documented in `docs/measures.md`):
//! * Events after the observation end are left out; the default end is the end of the
//!   local day of the last event.
//! * Events of customers missing from the customers file are analysed (counted in
//!   `summary.json` as `customers_not_in_customer_file`).
//! * An event naming only an order takes the order's customer; one whose order no
//!   purchase carries is counted as unlinked and left out.
//! * Interactions without a conversation id: a customer's rows on one channel form one
//!   conversation until a gap of more than 72 hours.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, TimestampSecondType};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Value as Json, json};

use rapport_action::lapse::Rhythm;
use rapport_action::playbook::{Consent, NeedCounts, PlaybookFacts};
use rapport_action::ror::RorInputs;
use rapport_action::strength::StrengthInputs;
use rapport_action::watch::Signal;
use rapport_core::event::{EngagementType, EventKind};
use rapport_core::summary::SummaryOptions;
use rapport_core::survey::SurveyType;
use rapport_core::table::{CustomerTable, Window, natural_order};
use rapport_core::time::{ParsedTime, Period, TimeUnit, Zone, parse_end_of};
pub use rapport_measures::Headline;
use rapport_measures::table::{Table, Values};
use rapport_measures::timeline::{Message, is_social};
use rapport_measures::{
    Advocacy, Answer, Cost, CustomerEvents, Engagement, Measures, ProgramContact, Purchase, Settings, ThreadRow, Timeline, Tone,
};
use rapport_models::ModelKind;
use rapport_store::runs::{NewRun, RunInfo};
use rapport_store::workspace::Workspace;
use rapport_text::SentimentModel;
use rapport_text::topics::TopicModel;

use crate::EngineError;
use crate::clv::{ClvSpec, CustomerSource, PredictRequest, fit_and_predict};
use crate::customers::{Customers, Listed};
use crate::summary::{Engine, SummaryAccumulator};

const DAY: i64 = 86_400;

/// What to analyse.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeRequest {
    /// The workspace.
    pub workspace: PathBuf,
    /// Observation end (`YYYY-MM-DD`, inclusive, or a date-time); default: the end of
    /// the day of the last event.
    pub as_of: Option<String>,
}

/// What an analysis produced.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyzeOutcome {
    /// The run written.
    pub run: RunInfo,
    /// `summary.json` as written.
    pub summary: Json,
    /// Headlines by name.
    pub headlines: BTreeMap<String, Headline>,
    /// Analyses skipped, with the reason.
    pub skipped: BTreeMap<String, String>,
}

fn text_at(column: &StringArray, row: usize) -> Option<String> {
    (!column.is_null(row)).then(|| column.value(row).to_string()).filter(|text| !text.is_empty())
}

fn flag_at(column: &BooleanArray, row: usize) -> Option<bool> {
    (!column.is_null(row)).then(|| column.value(row))
}

/// Read `columns` of every stored event of `kind`, mapping each row with `row` on all
/// cores; rows in storage order within a row group. A kind with no events reads as none.
fn read_rows<T: Send>(
    workspace: &Workspace,
    kind: EventKind,
    columns: &[&str],
    row: impl Fn(&RecordBatch, usize) -> Option<T> + Sync + Send,
) -> Result<Vec<T>, EngineError> {
    Ok(workspace.scan_events(
        kind,
        columns,
        Vec::new,
        |rows: &mut Vec<T>, batch| {
            rows.extend((0..batch.num_rows()).filter_map(|index| row(batch, index)));
            Ok(())
        },
        |mut left, right| {
            left.extend(right);
            left
        },
    )?)
}

fn strings(batch: &RecordBatch, index: usize) -> &StringArray {
    batch.column(index).as_string::<i32>()
}

fn times(batch: &RecordBatch, index: usize) -> &arrow::array::PrimitiveArray<TimestampSecondType> {
    batch.column(index).as_primitive::<TimestampSecondType>()
}

fn numbers(batch: &RecordBatch, index: usize) -> &arrow::array::PrimitiveArray<Float64Type> {
    batch.column(index).as_primitive::<Float64Type>()
}

/// Customer ids interned to slots of `timelines`.
#[derive(Default)]
struct Interned {
    slots: hashbrown::HashMap<String, usize, foldhash::fast::RandomState>,
    timelines: Vec<Timeline>,
}

impl Interned {
    fn slot(&mut self, id: &str) -> usize {
        if let Some(&slot) = self.slots.get(id) {
            return slot;
        }
        let slot = self.timelines.len();
        self.slots.insert(id.to_string(), slot);
        self.timelines.push(Timeline { customer: id.to_string(), ..Timeline::default() });
        slot
    }
}

/// Reorder `items` so that position k holds what position `order[k]` held, swapping along
/// each cycle of the permutation (`order` is used up). Written by hand: the standard
/// library sorts in place but cannot apply a permutation computed elsewhere without a
/// second list.
fn permute_in_place<T>(items: &mut [T], order: &mut [usize]) {
    const DONE: usize = usize::MAX;
    for start in 0..items.len() {
        let mut current = start;
        while order[current] != DONE {
            let next = order[current];
            order[current] = DONE;
            if next == start {
                break;
            }
            items.swap(current, next);
            current = next;
        }
    }
}

/// Sentiment of customers' texts per channel and ISO week.
#[derive(Debug, Default)]
struct SentimentCells {
    cells: BTreeMap<(String, String), rapport_stats::intervals::Moments>,
}

impl SentimentCells {
    fn add(&mut self, channel: &str, week: String, compound: f64) {
        self.cells.entry((channel.to_string(), week)).or_default().add(compound);
    }

    /// Fold `other` into these cells, cell by cell.
    fn merge(&mut self, other: SentimentCells) {
        for (key, moments) in other.cells {
            self.cells.entry(key).or_default().merge(&moments);
        }
    }
}

/// Run every analysis and write a results run.
pub fn analyze(request: &AnalyzeRequest, progress: &(dyn Fn(&str) + Sync)) -> Result<AnalyzeOutcome, EngineError> {
    analyze_on(request, &Engine::Embedded, progress)
}

/// [`analyze`] with the per-customer aggregation of the events and the lifetime-value
/// scoring on `engine` (Apache DataFusion here, or a Ballista cluster), giving the same
/// results run. The timelines, the measures, the fit and the relationship stage run in
/// this process either way (docs/scaling.md).
pub fn analyze_on(request: &AnalyzeRequest, engine: &Engine, progress: &(dyn Fn(&str) + Sync)) -> Result<AnalyzeOutcome, EngineError> {
    // A scheduler that cannot be reached (or a build without the engine) is said before
    // the analysis starts, not after it has read everything: the engine's session opens
    // first. On an engine, the reading and the measures are plans there: no timeline is
    // built in this process.
    let on_engine = match engine {
        Engine::Embedded => None,
        _ => Some(OnEngine::open(&request.workspace, engine, progress)?),
    };
    let started = SystemTime::now();
    let workspace = Workspace::open(&request.workspace)?;
    let zone = workspace.zone();
    let currency = workspace.config().currency.clone();
    let (loaded, planned_measures) = match &on_engine {
        None => (load_timelines(&workspace, request.as_of.as_deref(), progress)?, None),
        Some(on_engine) => {
            let (loaded, measures) = load_planned(on_engine, &workspace, request.as_of.as_deref(), progress)?;
            (loaded, Some(measures))
        }
    };
    let Loaded {
        timelines,
        listed,
        purchases,
        replies_before_message,
        social_by_day,
        as_of,
        consent,
        sentiment,
        unlinked,
        after_as_of,
        not_in_customer_file,
        complaint_topics,
        complaint_messages,
        last_event,
        referrals,
        replies_to_few,
    } = loaded;
    let customers = match &listed {
        Some(listed) => Customers::Listed(listed),
        None => Customers::Timelines(&timelines),
    };
    let mut warnings: Vec<String> = Vec::new();
    if let Some(RepliesToFew { named, writers, held, outbound }) = replies_to_few {
        let names = named.iter().map(|id| format!("{id:?}")).collect::<Vec<_>>().join(", ");
        warnings.push(format!(
            "{writers} customer(s) whose interaction rows are all outbound hold {held} of the {outbound} outbound rows ({:.0}%; the most: {names}): if they are the brand or its agents, their replies count for them instead of the customers they answer, and those conversations look unanswered; map customer_id to the customer a reply answers and the writer to agent",
            100.0 * held as f64 / outbound as f64
        ));
    }
    // An observation end well after the data makes everyone look inactive over the gap
    // (churn, deflection and P(alive) read it as silence): allowed, but said.
    let gap_days = (as_of - last_event) / DAY;
    if gap_days >= 2 {
        let last = rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(last_event)));
        warnings.push(format!(
            "the observation end is {gap_days} days after the last event ({last}); customers look inactive over that gap, which lowers retention and P(alive) and raises churn"
        ));
    }
    // Purchases that end long before events of other kinds (an old purchases export beside
    // a current support export): every buyer looks silent since, and nothing else says so.
    let last_purchase = purchases.map(|(_, last)| last);
    // Lifetime value over 12 months and purchases over 52 weeks from a few weeks of data
    // extrapolate far beyond what was seen: said with the factor, beside the intervals
    // (which are the model's, not the horizon's).
    if let Some((first_purchase, _)) = purchases {
        let days = (as_of - first_purchase) / DAY + 1;
        if days < 182 {
            warnings.push(format!(
                "the purchases span {days} day{}, and CLV, expected purchases and predicted spend look 12 months ahead, about {:.0}× as long: read them as the model's extrapolation (their intervals do not cover that)",
                if days == 1 { "" } else { "s" },
                365.0 / days as f64
            ));
        }
    }
    if let Some(last_purchase) = last_purchase {
        let days = (as_of - last_purchase) / DAY;
        if days >= 30 && gap_days < 2 {
            let date = |time: i64| rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(time)))[..10].to_string();
            warnings.push(format!(
                "the last purchase ({}) is {days} days before the observation end, which later events of other kinds set: every buyer looks silent since, which lowers P(alive), CLV and propensity and shapes the actions; if the purchases export ends earlier than the others, analyse up to it with --as-of {}",
                date(last_purchase),
                date(last_purchase)
            ));
        }
    }

    // (On an engine the measures were planned with the reading.)
    if planned_measures.is_none() {
        progress("measuring");
    }
    let mut settings = Settings::new(as_of, zone);
    settings.cost_per_contact = contact_cost(&workspace)?;
    settings.complaint_topics = complaint_topics.iter().map(|topic| topic.label.clone()).collect();
    if let Some(service) = &workspace.config().service {
        let schedule = rapport_core::schedule::Schedule::parse(&service.hours, &service.holidays)
            .map_err(|reason| rapport_core::CoreError::InvalidOption { option: "[service] in rapport.toml", reason })?;
        settings.schedule = Some(schedule);
    }
    let measures = match planned_measures {
        // Each customer's timeline built and folded where their events meet, the
        // partitions' partials merged here.
        Some(measures) => measures,
        // Each fixed chunk folded on some core, the chunks merged in customer order here:
        // the same bits on every run (rayon's `reduce` merges in a tree shaped by work
        // stealing, and the means and variances inside are sums of floats).
        None => {
            let chunks: Vec<Measures> = timelines
                .par_chunks(4_096)
                .map(|chunk| {
                    let mut measures = Measures::default();
                    chunk.iter().for_each(|timeline| measures.update(timeline, &settings));
                    measures
                })
                .collect();
            chunks.into_iter().fold(Measures::default(), |mut left, right| {
                left.merge(right);
                left
            })
        }
    };
    let (mut headlines, mut skipped) = measures.headlines(&settings, &currency);
    let (opened_negative, recoverable) = measures.recovery_observed();
    if recoverable > 0 && recoverable * 2 < opened_negative {
        warnings.push(format!(
            "only {recoverable} of the {opened_negative} conversations that opened negative could show a recovery (a second customer message or a stated resolution); recovery_rate counts the others as not recovered: if a conversation's messages carry different conversation ids (one per reply, as in a tweet export), map one id per conversation"
        ));
    }
    let mut tables: Vec<Table> = measures.breakdowns(&settings).into_iter().filter(|table| table.rows() > 0).collect();
    // Its lists of response and resolution times (for exact medians) are done with: freed
    // before the fit and the relationship stage, where the analysis peaks (190 MB of a
    // 2.7 GB heap peak at a million customers, heaptrack).
    drop(measures);
    tables.extend(sentiment_table(&sentiment));
    tables.extend(complaint_topics_table(&complaint_topics, settings.confidence));
    tables.extend(complaint_messages_table(&complaint_topics, complaint_messages, zone));
    let (baselines, sentiment_headlines) = sentiment_baselines(&sentiment, &social_by_day, &settings);
    tables.extend(baselines);
    for (name, headline) in sentiment_headlines {
        match headline {
            Ok(headline) => {
                headlines.insert(name.to_string(), headline);
            }
            Err(reason) => {
                skipped.insert(name.to_string(), reason.to_string());
            }
        }
    }

    // On an engine the per-customer plans run first (`customer_table` says when it fits).
    progress(if on_engine.is_some() { "aggregating each customer's events on the engine" } else { FITTING });
    let (mut table, models, referred_clv, tracking, inputs, windows) = customer_table(
        customers,
        &settings,
        &consent,
        minor_digits(&currency),
        &mut skipped,
        on_engine.as_ref(),
        Reads {
            // The top tier's watch window: its signals are read from then.
            watch_since: as_of - i64::from(rapport_core::config::MatrixConfig::watch_days(workspace.config().matrix.as_ref())) * DAY,
            // ROR prices conversations by channel where `[costs] per_contact` says how.
            conversation_channels: workspace.config().costs.as_ref().is_some_and(|costs| !costs.per_contact.is_empty()),
            // Propensity's cut-offs: read by the plans on an engine.
            propensity: {
                let horizon = i64::from(rapport_core::config::PropensityConfig::horizon_days(workspace.config().propensity.as_ref()));
                (crate::propensity::cutoffs(as_of, zone, horizon), horizon, settings.uplift_days)
            },
        },
    )?;
    // Without a fit there is no CLV to read as an extrapolation.
    if skipped.contains_key("lifetime_value") {
        warnings.retain(|warning| !warning.starts_with("the purchases span "));
    }
    tables.extend(tracking);
    // A fit with a parameter on its boundary (no standard error) still predicts, but
    // everything built on it deserves a word of caution.
    let mut p_alive_informative = !models.is_empty();
    for model in &models {
        let shaky: Vec<&str> = model["std_errors"]
            .as_object()
            .map(|errors| {
                errors.iter().filter(|(_, error)| !error.as_f64().is_some_and(f64::is_finite)).map(|(name, _)| name.as_str()).collect()
            })
            .unwrap_or_default();
        let converged = model["converged"].as_bool().unwrap_or(true);
        if !shaky.is_empty() || !converged {
            let name = model["model"].as_str().unwrap_or("the lifetime-value model");
            // The spend model's fit does not touch P(alive).
            p_alive_informative &= name == "gamma-gamma";
            let why = if converged {
                // The values: the parameter without a standard error is often not the one
                // on its boundary (with BG/NBD's a → 0, b is the one left unidentified).
                let values: Vec<String> =
                    model["params"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter_map(|(name, value)| value.as_f64().map(|value| (name, value)))
                        .map(|(name, value)| {
                            if value == 0.0 || value.abs() >= 0.01 {
                                format!("{name} = {value:.3}")
                            } else {
                                format!("{name} = {value:.2e}")
                            }
                        })
                        .collect();
                format!(
                    "{} {} no standard error: the likelihood is flat there, as when a parameter is on or near its boundary ({})",
                    shaky.join(", "),
                    if shaky.len() == 1 { "has" } else { "have" },
                    values.join(", ")
                )
            } else {
                "the fit did not converge".to_string()
            };
            warnings.push(format!(
                "the {name} fit is not well identified: {why}; P(alive), CLV, predicted value and the propensity baseline rest on it (see aggregates.json, models){}",
                match name {
                    "gamma-gamma" => "",
                    _ => ". win_back and the top tier's watch list read a lapse instead of P(alive) (docs/measures.md, \"When P(alive) says nothing\")",
                }
            ));
        }
    }
    // A fit with every standard error can still see no customer leave (Online Retail to
    // 2011-12-13: a = 0.0055, its interval 7.5e-5 to 0.41, beside one without a standard
    // error to 2011-12-09): where the repeat buyers' mean P(alive) is 0.99 or more, P(alive)
    // tells no one apart, and the lapse speaks instead, as for a fit on its boundary.
    if p_alive_informative
        && let Some(mean) = repeat_buyers_mean_p_alive(&table)
        && mean >= NO_DROPOUT_P_ALIVE
    {
        p_alive_informative = false;
        warnings.push(format!(
            "the bg-nbd fit sees almost no customer leave: the repeat buyers' mean P(alive) is {mean:.4}, so P(alive) tells no one apart; win_back and the top tier's watch list read a lapse instead (docs/measures.md, \"When P(alive) says nothing\")"
        ));
    }
    progress("relationship strength, the Customer Matrix and segments");
    let as_of_text = rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(as_of)));
    let previous = previous_analysis(&workspace, &as_of_text)?;
    let history = crate::relationship::action_history(&workspace)?;
    let context = crate::relationship::Context {
        customers,
        as_of,
        zone,
        config: workspace.config(),
        previous: previous.as_ref(),
        consent: &consent,
        history: &history,
        referrals: &referrals,
        confidence: settings.confidence,
        uplift_days: settings.uplift_days,
        p_alive_informative,
    };
    let (windows, gap_counts, needs, cutoffs) = windows;
    let relationship = crate::relationship::add(&mut table, &context, inputs, (windows, &gap_counts, needs), cutoffs)?;
    // The timelines are done with: freed before the customer table is converted and
    // written, the run's other peak (they are most of an analysis's memory).
    let customer_count = customers.len();
    drop(timelines);
    tables.extend(relationship.tables);
    warnings.extend(relationship.warnings);
    for (name, headline) in relationship.headlines {
        match headline {
            Ok(headline) => {
                headlines.insert(name, headline);
            }
            Err(reason) => {
                skipped.insert(name, reason);
            }
        }
    }
    let customers = nan_as_null(table.to_record_batch());
    match referred_clv {
        Some(moments) if moments.n > 0 => {
            let unit = format!("{currency} predicted in the next 12 months (BG/NBD + Gamma-Gamma)");
            headlines
                .insert("referred_customer_clv".into(), Headline::new(moments.mean_t(settings.confidence), &unit, "referred customers"));
        }
        _ => {
            skipped.insert("referred_customer_clv".into(), "needs referrals naming referred customers and a lifetime-value fit".into());
        }
    }

    let batches: Vec<Json> = workspace
        .batches()
        .iter()
        .map(|batch| json!({"batch": batch.id, "kind": batch.kind, "source": batch.source, "accepted": batch.accepted, "rejected": batch.rejected, "duplicates": batch.duplicates, "filtered": batch.filtered}))
        .collect();
    let mut overview = overview(&table, &currency, minor_digits(&currency), settings.confidence);
    // Whether P(alive) tells customers apart (false: the lapse speaks instead; the warnings
    // say why), for readers of `p_alive_mean`.
    if let Some(overview) = overview.as_object_mut().filter(|overview| overview.contains_key("p_alive_mean")) {
        overview.insert("p_alive_informative".into(), json!(p_alive_informative));
    }
    let summary = json!({
        "run": Json::Null,
        "as_of": as_of_text,
        "timezone": zone.to_string(),
        "currency": currency,
        "headline": headlines,
        "overview": overview,
        "skipped": skipped,
        "customers": customer_count,
        "customers_not_in_customer_file": not_in_customer_file,
        "events_after_as_of": after_as_of,
        "unlinked_events": unlinked,
        "rejected_rows": workspace.batches().iter().map(|batch| batch.rejected).sum::<u64>(),
        "replies_before_message": replies_before_message,
        "warnings": warnings,
        "inputs": batches,
        "definitions": "docs/measures.md",
    });
    let record_batches =
        tables.iter().map(|table| Ok((table.name.clone(), table_batch(table)?))).collect::<Result<Vec<_>, EngineError>>()?;
    progress("writing the results run");
    let run = workspace.publish_run(NewRun {
        command: "analyze",
        started,
        customers: &customers,
        aggregates: &json!({ "models": models, "customers": customer_count, "relationship": relationship.aggregates }),
        inputs: json!({ "workspace_batches": workspace.batches().iter().map(|batch| batch.id).collect::<Vec<_>>() }),
        options: json!({ "as_of": as_of_text, "engine": engine.to_string(), "memory_limit_bytes": engine.memory_limit(), "confidence": settings.confidence, "deflection_days": settings.deflection_days, "outcome_days": settings.outcome_days, "uplift_days": settings.uplift_days, "retention_days": settings.retention_days, "referred_value_days": settings.referred_value_days }),
        tables: record_batches,
        summary: Some(summary.clone()),
        fail_at: None,
    })?;
    let mut summary = summary;
    summary["run"] = Json::String(run.id.clone());
    Ok(AnalyzeOutcome { run, summary, headlines, skipped })
}

/// Without the `sql` feature no engine but the embedded one runs: which feature to build.
#[cfg(not(feature = "sql"))]
fn check_engine(_root: &Path, engine: &Engine) -> Result<(), EngineError> {
    Err(match engine.cluster() {
        None => EngineError::NotBuiltIn { feature: "sql", what: "the datafusion engine" },
        Some(_) => EngineError::NotBuiltIn { feature: "cluster", what: "the ballista engine" },
    })
}

/// What an analysis says while it fits lifetime value.
const FITTING: &str = "fitting lifetime value (BG/NBD + Gamma-Gamma)";

/// An analysis on an engine other than the embedded one: where it runs, and the one
/// session (with the order links its plans place rows by) that the reading and the
/// per-customer aggregation share.
struct OnEngine<'a> {
    root: &'a Path,
    engine: &'a Engine,
    /// Where the analysis says what it is doing.
    progress: &'a (dyn Fn(&str) + Sync),
    #[cfg(feature = "sql")]
    session: rapport_sql::Session,
    #[cfg(feature = "sql")]
    links: rapport_sql::features::OrderLinks,
}

impl<'a> OnEngine<'a> {
    /// The session on `engine` over the workspace at `root`, with its order links found.
    #[cfg(feature = "sql")]
    fn open(root: &'a Path, engine: &'a Engine, progress: &'a (dyn Fn(&str) + Sync)) -> Result<OnEngine<'a>, EngineError> {
        let session = engine.session(root)?;
        if let Some(url) = engine.cluster() {
            progress(&format!("aggregating customers on {url}"));
        }
        let started = std::time::Instant::now();
        let links = rapport_sql::features::OrderLinks::of(&session)?;
        tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "reading on the engine: the order links done");
        Ok(OnEngine { root, engine, progress, session, links })
    }

    /// Without the `sql` feature no engine but the embedded one runs: which feature to build.
    #[cfg(not(feature = "sql"))]
    fn open(root: &'a Path, engine: &'a Engine, progress: &'a (dyn Fn(&str) + Sync)) -> Result<OnEngine<'a>, EngineError> {
        check_engine(root, engine)?;
        Ok(OnEngine { root, engine, progress })
    }
}

/// What the plans of the per-customer aggregation return: each customer's event columns
/// (in the customer table's order), the lifetime-value summary, and strength's split
/// with each customer's inputs.
type PlannedEvents = (Vec<CustomerEvents>, rapport_core::summary::Summary, Planned);

/// What the relationship stage reads of each customer besides the event columns, as an
/// engine's plans computed it.
#[cfg(feature = "sql")]
type Planned = rapport_sql::features::Planned;
#[cfg(not(feature = "sql"))]
type Planned = std::convert::Infallible;

/// The per-customer aggregation of the events ([`CustomerEvents`] and the lifetime-value
/// summary) as DataFusion plans on an engine.
#[cfg(feature = "sql")]
fn planned_events(
    on_engine: &OnEngine<'_>,
    customers: Customers<'_>,
    (as_of, zone): (i64, Zone),
    options: SummaryOptions,
    reads: Reads,
) -> Result<PlannedEvents, EngineError> {
    let roster = rapport_sql::features::Roster::new(customers.ids());
    let Reads { watch_since, conversation_channels, propensity } = reads;
    let spec = rapport_sql::features::FeatureSpec {
        as_of,
        zone,
        summary: options,
        watch_since,
        conversation_channels,
        propensity: Some(rapport_sql::features::PropensitySpec { cutoffs: propensity.0, horizon: propensity.1, window_days: propensity.2 }),
    };
    Ok(rapport_sql::features::customer_events(&on_engine.session, &on_engine.links, spec, &roster)?)
}

/// The reading of an analysis on `engine`: what [`load_timelines`] finds, by the same
/// rules, from plans over the stored events (none read into this process but the
/// customers file and the complaints), and the brand's measures, each customer's
/// timeline built and folded where their events meet (`rapport_sql::measures`).
#[cfg(feature = "sql")]
fn load_planned(
    on_engine: &OnEngine<'_>,
    workspace: &Workspace,
    as_of_text: Option<&str>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Loaded, Measures), EngineError> {
    use rapport_sql::{inputs, measures};
    let zone = workspace.zone();
    let OnEngine { session, links, .. } = on_engine;
    // Each step's time, with RAPPORT_TIMINGS=1.
    let started = std::time::Instant::now();
    let lap = |what: &str| tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "reading on the engine: {what} done");
    progress("reading event times");
    let bounds = inputs::event_bounds(session)?;
    let as_of = observation_end(zone, as_of_text, bounds)?;
    lap("the events' span");
    let left_out = inputs::left_out(session, links, as_of)?;
    lap("the rows left out");

    progress("scoring customers' messages");
    let texts = inputs::customer_texts(session, as_of, zone)?;
    lap("the customers' texts");
    // The days' scores into weeks, in (channel, day) order.
    let mut sentiment = SentimentCells::default();
    for day in texts.days {
        let moments = rapport_stats::intervals::Moments { n: day.n, mean: day.mean, m2: day.variance * day.n.saturating_sub(1) as f64 };
        sentiment.cells.entry((day.channel, iso_week_of_day(day.day))).or_default().merge(&moments);
    }
    let complaints: Vec<Complaint> = texts
        .complaints
        .into_iter()
        .map(|complaint| Complaint {
            thread: None,
            customer: complaint.customer,
            time: complaint.time,
            channel: complaint.channel,
            text: complaint.text,
        })
        .collect();
    let (complaint_topics, complaint_messages, topic_model) = if complaints.is_empty() {
        (Vec::new(), Vec::new(), None)
    } else {
        progress("finding complaint topics");
        complaint_topics(complaints, &mut [])
    };
    lap("the complaint topics");

    progress("measuring where each customer's events meet");
    let spec = measures::MeasuresSpec {
        as_of,
        zone: zone.to_string(),
        service: workspace.config().service.as_ref().map(|service| (service.hours.clone(), service.holidays.clone())),
        stores: Vec::new(),
    };
    let measures::MeasuresOutcome { measures, observed, customers: mut ids } =
        measures::measures(session, links, spec, measures::MeasuresInputs { topics: topic_model })?;
    lap("the measures");

    progress("reading customers");
    // The customers file's facts by id, by the rules of the embedded path's reading (the
    // last row's consent, the last region and home stated).
    let mut file: HashMap<String, (Consent, Option<String>, Option<f64>)> = HashMap::new();
    read_customer_file(workspace, |row| {
        let entry = file.entry(row.id.to_string()).or_default();
        entry.0 = row.consent;
        if let Some(region) = row.region {
            entry.1 = Some(region.to_string());
        }
        if let Some(distance) = row.home {
            entry.2 = distance;
        }
    })?;
    lap("the customers file");
    ids.par_sort_unstable_by(|a, b| natural_order(a, b));
    let with_file = !file.is_empty();
    let (mut consent, mut region, mut store_distance_km) = (Vec::new(), Vec::with_capacity(ids.len()), Vec::with_capacity(ids.len()));
    let mut not_in_customer_file = 0_u64;
    for id in &ids {
        let stated = file.remove(id);
        not_in_customer_file += u64::from(with_file && stated.is_none());
        let (stated_consent, stated_region, distance) = match stated {
            Some((consent, region, distance)) => (Some(consent), region, distance),
            None => (None, None, None),
        };
        if with_file {
            consent.push(stated_consent);
        }
        region.push(stated_region);
        store_distance_km.push(distance);
    }
    let mut unlinked = left_out.unlinked;
    if observed.unlinked_costs > 0 {
        unlinked.insert("costs".to_string(), observed.unlinked_costs);
    }
    let replies_to_few =
        replies_to_few(observed.heavy_silent_rows, observed.silent_rows, observed.outbound, observed.silent_writers, || {
            observed.most_silent.iter().map(|(_, id)| id.clone()).collect()
        });
    let loaded = Loaded {
        timelines: Vec::new(),
        listed: Some(Listed { ids, region, store_distance_km }),
        purchases: observed.purchases,
        replies_before_message: observed.replies_before_message,
        social_by_day: observed.social_by_day,
        as_of,
        consent,
        sentiment,
        unlinked,
        after_as_of: left_out.after_as_of,
        not_in_customer_file,
        complaint_topics,
        complaint_messages,
        last_event: bounds.map_or(as_of, |(_, last)| last),
        referrals: observed.referrals,
        replies_to_few,
    };
    Ok((loaded, measures))
}

#[cfg(not(feature = "sql"))]
fn load_planned(
    on_engine: &OnEngine<'_>,
    _workspace: &Workspace,
    _as_of_text: Option<&str>,
    _progress: &(dyn Fn(&str) + Sync),
) -> Result<(Loaded, Measures), EngineError> {
    // `OnEngine::open` refuses every engine in this build (`check_engine`).
    check_engine(on_engine.root, on_engine.engine)
        .and_then(|()| Err(EngineError::Internal("no engine but the embedded one in this build".into())))
}

#[cfg(not(feature = "sql"))]
fn planned_events(
    on_engine: &OnEngine<'_>,
    _customers: Customers<'_>,
    _at: (i64, Zone),
    _options: SummaryOptions,
    _reads: Reads,
) -> Result<PlannedEvents, EngineError> {
    // `OnEngine::open` refuses every engine in this build (`check_engine`).
    check_engine(on_engine.root, on_engine.engine)
        .and_then(|()| Err(EngineError::Internal("no engine but the embedded one in this build".into())))
}

/// The workspace's events as customer timelines, at an observation end.
#[derive(Debug)]
pub struct Loaded {
    /// One per customer, lists sorted by time, customers in natural id order (none on an
    /// engine's path, whose plans read the events: see `listed`).
    pub timelines: Vec<Timeline>,
    /// On an engine's path, the customers without their events.
    pub listed: Option<Listed>,
    /// The first and last purchase that is not a refund, UTC seconds.
    pub purchases: Option<(i64, i64)>,
    /// Rows timestamped before the first customer message of their conversation.
    pub replies_before_message: u64,
    /// Social engagement (follows, likes, shares, reposts, mentions) by local day.
    pub social_by_day: BTreeMap<i64, u64>,
    /// The observation end used, UTC seconds.
    pub as_of: i64,
    /// Preferred channel and consent from the customers file, one per timeline in the
    /// same order (`None`: not in the file; the last row read for a customer wins), or
    /// empty without a customers file. A list beside the timelines rather than a map by
    /// id: the map was 135 MB at a million customers (heaptrack).
    pub consent: Vec<Option<Consent>>,
    sentiment: SentimentCells,
    /// Events naming an order no purchase carries, by kind.
    pub unlinked: BTreeMap<String, u64>,
    /// Events after the observation end (left out).
    pub after_as_of: u64,
    /// Customers with events but missing from a customers file (0 without one).
    pub not_in_customer_file: u64,
    /// The complaint topics of negative customer messages (the messages' `topic` indexes them).
    pub complaint_topics: Vec<ComplaintTopic>,
    /// Each negative customer message with its topic, for reading a topic's texts.
    pub complaint_messages: Vec<ComplaintMessage>,
    /// The time of the last event read (UTC seconds), whether or not after `as_of`.
    pub last_event: i64,
    /// Referrals naming the referred customer: (referrer, referred) ids, sorted.
    pub referrals: Vec<(String, String)>,
    /// Where customers whose interaction rows are all outbound, at least 20 each, hold half
    /// or more of all outbound rows (the counts are of every customer whose rows are all
    /// outbound). A social export mapped with `customer_id` = the author makes each brand
    /// such a customer, and their replies answer no one.
    pub replies_to_few: Option<RepliesToFew>,
}

/// [`Loaded::replies_to_few`] from the counts of customers whose interaction rows are all
/// outbound (`writers`, holding `held` rows, `heavy` of them by writers of
/// [`rapport_measures::BRAND_LIKE_ROWS`] rows or more) among `outbound` rows, and the
/// ids of the three with the most rows (most first, then by id).
fn replies_to_few(heavy: u64, held: u64, outbound: u64, writers: u64, named: impl FnOnce() -> Vec<String>) -> Option<RepliesToFew> {
    // Outreach to customers who never answer is common, a few rows each; a handful of
    // "customers" with many such rows holding half of them is a brand or its agents.
    (heavy > 0 && heavy as f64 >= 0.5 * outbound as f64).then(|| RepliesToFew { named: named(), writers, held, outbound })
}

/// See [`Loaded::replies_to_few`].
#[derive(Debug)]
pub struct RepliesToFew {
    /// The ids of the (up to three) such customers with the most outbound rows.
    pub named: Vec<String>,
    /// How many such customers.
    pub writers: u64,
    /// Their outbound rows.
    pub held: u64,
    /// All outbound rows.
    pub outbound: u64,
}

/// The complaint topics with each one's share of the complaints (Wilson interval).
fn complaint_topics_table(topics: &[ComplaintTopic], confidence: f64) -> Option<Table> {
    if topics.is_empty() {
        return None;
    }
    let total: u64 = topics.iter().map(|topic| topic.messages).sum();
    let shares: Vec<_> =
        topics.iter().map(|topic| rapport_stats::intervals::wilson(topic.messages, total, confidence).scaled(100.0)).collect();
    Some(
        Table::new("complaint_topics")
            .column("topic", Values::Text(topics.iter().map(|topic| Some(topic.label.clone())).collect()))
            .column("terms", Values::Text(topics.iter().map(|topic| Some(topic.terms.join(", "))).collect()))
            .column("messages", Values::Count(topics.iter().map(|topic| topic.messages).collect()))
            .column("share", Values::Number(shares.iter().map(|share| share.estimate).collect()))
            .column("share_lower", Values::Number(shares.iter().map(|share| share.lower).collect()))
            .column("share_upper", Values::Number(shares.iter().map(|share| share.upper).collect())),
    )
}

/// The negative customer messages with their topics (`complaint_messages.parquet`): what
/// the dashboard shows when a topic is opened. The texts are personal data; `rapport
/// forget` removes a customer's rows with the rest of the run.
fn complaint_messages_table(topics: &[ComplaintTopic], mut messages: Vec<ComplaintMessage>, zone: Zone) -> Option<Table> {
    if messages.is_empty() {
        return None;
    }
    // Newest first in each topic; ties in a fixed order, whatever order they were read in.
    messages.sort_by(|a, b| {
        a.topic
            .cmp(&b.topic)
            .then(b.time.cmp(&a.time))
            .then_with(|| (&a.customer, &a.channel, &a.text).cmp(&(&b.customer, &b.channel, &b.text)))
    });
    let label = |message: &ComplaintMessage| topics.get(usize::from(message.topic)).map(|topic| topic.label.clone());
    let time = |message: &ComplaintMessage| Some(rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(message.time))));
    Some(
        Table::new("complaint_messages")
            .column("topic", Values::Text(messages.iter().map(label).collect()))
            .column("customer_id", Values::Text(messages.iter().map(|message| message.customer.clone()).collect()))
            .column("time", Values::Text(messages.iter().map(time).collect()))
            .column("channel", Values::Text(messages.iter().map(|message| Some(message.channel.clone())).collect()))
            .column("text", Values::Text(messages.into_iter().map(|message| Some(message.text)).collect())),
    )
}

/// A negative customer message placed in a complaint topic.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplaintMessage {
    /// Index of its topic.
    pub topic: u16,
    /// Its customer (none when it names only an order).
    pub customer: Option<String>,
    /// When it was written, UTC seconds.
    pub time: i64,
    /// Where.
    pub channel: String,
    /// What it says.
    pub text: String,
}

/// A complaint topic found in the negative customer messages.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplaintTopic {
    /// Its label (three key terms or phrases).
    pub label: String,
    /// Key terms, best first.
    pub terms: Vec<String>,
    /// Negative customer messages assigned to it.
    pub messages: u64,
}

/// Texts the topics are found on at most; the rest are assigned to the nearest topic.
const TOPIC_SAMPLE: usize = 20_000;

/// A negative customer message (a complaint) awaiting its topic.
struct Complaint {
    /// Its row in the interactions placed in timelines (none when left out).
    thread: Option<usize>,
    customer: Option<String>,
    time: i64,
    channel: String,
    text: String,
}

/// Find the topics of the negative customer messages and set each placed one's `topic`.
///
/// Topics are found on the complaint texts (all of them up to [`TOPIC_SAMPLE`], else an
/// evenly spaced sample of them in sorted order, so the result does not depend on row
/// order and a text's share of the sample is its share of the complaints), and every
/// distinct complaint is then placed in its nearest topic. Fewer than 20 complaints
/// find no topics.
fn complaint_topics(
    complaints: Vec<Complaint>,
    threads: &mut [(usize, ThreadRow)],
) -> (Vec<ComplaintTopic>, Vec<ComplaintMessage>, Option<TopicModel>) {
    let mut texts: Vec<&str> = complaints.iter().map(|complaint| complaint.text.as_str()).collect();
    if texts.len() < 20 {
        return (Vec::new(), Vec::new(), None);
    }
    texts.par_sort_unstable();
    let stride = texts.len().div_ceil(TOPIC_SAMPLE);
    let sample: Vec<&str> = texts.iter().step_by(stride).copied().collect();
    let found = rapport_text::topics::find_topics(&sample, &rapport_text::topics::TopicOptions::default());
    let mut distinct = texts;
    distinct.dedup();
    let Some(assigner) = found.assigner() else { return (Vec::new(), Vec::new(), None) };
    let topic_of: std::collections::HashMap<String, u16> =
        distinct.par_iter().filter_map(|text| assigner.assign(text).map(|topic| (text.to_string(), topic as u16))).collect();
    let mut messages = vec![0_u64; found.topics.len()];
    let mut placed = Vec::new();
    for complaint in complaints {
        let topic = topic_of.get(&complaint.text).copied();
        if let Some(thread) = complaint.thread {
            threads[thread].1.message.topic = topic;
        }
        if let Some(topic) = topic {
            messages[usize::from(topic)] += 1;
            placed.push(ComplaintMessage {
                topic,
                customer: complaint.customer,
                time: complaint.time,
                channel: complaint.channel,
                text: complaint.text,
            });
        }
    }
    let topics = found
        .topics
        .iter()
        .zip(messages)
        .map(|(topic, messages)| ComplaintTopic {
            label: topic.label.clone(),
            terms: topic.terms.iter().take(6).cloned().collect(),
            messages,
        })
        .collect();
    (topics, placed, found.model())
}

/// A text cell of a stored row: none when null or empty.
fn str_at(column: &StringArray, row: usize) -> Option<&str> {
    (!column.is_null(row)).then(|| column.value(row)).filter(|text| !text.is_empty())
}

/// The first and last event time (UTC seconds) over the kinds that set the observation
/// end, from the time columns alone. Rows the timelines would not read (an unknown
/// survey or engagement type) are not counted.
fn event_bounds(workspace: &Workspace) -> Result<Option<(i64, i64)>, EngineError> {
    type Bounds = Option<(i64, i64)>;
    let widen = |bounds: Bounds, time: i64| Some(bounds.map_or((time, time), |(low, high)| (low.min(time), high.max(time))));
    let mut all: Bounds = None;
    for (kind, type_column) in [
        (EventKind::Purchases, None),
        (EventKind::Interactions, None),
        (EventKind::Surveys, Some("survey_type")),
        (EventKind::Engagement, Some("engagement_type")),
        (EventKind::Programs, None),
    ] {
        let columns: Vec<&str> = std::iter::once("time").chain(type_column).collect();
        let found = workspace.scan_events(
            kind,
            &columns,
            || None,
            |bounds: &mut Bounds, batch| {
                let times = times(batch, 0);
                for row in 0..batch.num_rows() {
                    let known = match kind {
                        EventKind::Surveys => strings(batch, 1).value(row).parse::<SurveyType>().is_ok(),
                        EventKind::Engagement => strings(batch, 1).value(row).parse::<EngagementType>().is_ok(),
                        _ => true,
                    };
                    if known {
                        *bounds = widen(*bounds, times.value(row));
                    }
                }
                Ok(())
            },
            |left, right| match right {
                Some((low, high)) => widen(widen(left, low), high),
                None => left,
            },
        )?;
        if let Some((low, high)) = found {
            all = widen(widen(all, low), high);
        }
    }
    Ok(all)
}

/// An interactions record batch with each row's direction and its service-model score
/// (customers' texts), scored on all cores.
struct ScoredBatch {
    batch: RecordBatch,
    inbound: Vec<bool>,
    compound: Vec<Option<f64>>,
    /// The ISO week of a scored row within the window (its sentiment cell).
    week: Vec<Option<String>>,
}

/// Rows of interactions per sentiment fold: the cells are summed a fixed run of rows at a
/// time and the runs merged in row order, so that the sums do not depend on how rows
/// were read.
const SENTIMENT_RUN: usize = 16_384;

/// The observation end: `as_of_text` (the end of that local day), or the end of the local
/// day of the last event, of events spanning `bounds` (none: nothing to analyse).
fn observation_end(zone: Zone, as_of_text: Option<&str>, bounds: Option<(i64, i64)>) -> Result<i64, EngineError> {
    let as_of = match (as_of_text, bounds) {
        // No events: nothing to analyse at any date (a run of no customers is not one).
        (_, None) => return Err(EngineError::NothingToAnalyze),
        (Some(text), _) => zone.utc_seconds(ParsedTime::Naive(parse_end_of(text, "as-of date")?)),
        (None, Some((_, last))) => {
            let local = zone.local_seconds(ParsedTime::Instant(last));
            zone.utc_seconds(ParsedTime::Naive(local.div_euclid(DAY) * DAY + DAY - 1))
        }
    };
    if let Some((first, _)) = bounds
        && as_of < first
    {
        let first = rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(first)));
        return Err(rapport_core::CoreError::InvalidOption {
            option: "as-of date",
            reason: format!("it is before every event (the first is {first})"),
        }
        .into());
    }
    Ok(as_of)
}

/// A row of the customers file as the analysis reads it.
struct FileRow<'a> {
    id: &'a str,
    consent: Consent,
    region: Option<&'a str>,
    /// Distance from the home to the nearest store, when the row has a home (none
    /// without stores).
    home: Option<Option<f64>>,
}

/// Read the customers file, a row at a time in storage order, with each home's distance
/// to the nearest store (found by a spatial index, an R*-tree of the stores' unit
/// vectors, not a scan of every store per customer).
fn read_customer_file(workspace: &Workspace, mut each: impl FnMut(FileRow<'_>)) -> Result<(), EngineError> {
    let stores = read_rows(workspace, EventKind::Stores, &["latitude", "longitude"], |batch, row| {
        Some(rapport_measures::geo::unit_vector(numbers(batch, 0).value(row), numbers(batch, 1).value(row)))
    })?;
    let index = rstar::RTree::bulk_load(stores);
    let nearest = |home: (f64, f64)| {
        let point = rapport_measures::geo::unit_vector(home.0, home.1);
        index.nearest_neighbor(&point).map(|store| rapport_measures::geo::chord_to_km(point, *store))
    };
    workspace.scan_events_in_order(
        EventKind::Customers,
        &["customer_id", "region", "latitude", "longitude", "preferred_channel", "email_consent", "sms_consent", "opted_out"],
        |batch| batch,
        |batch| -> Result<(), EngineError> {
            let (ids, regions, latitude, longitude) = (strings(&batch, 0), strings(&batch, 1), numbers(&batch, 2), numbers(&batch, 3));
            for row in 0..batch.num_rows() {
                each(FileRow {
                    id: ids.value(row),
                    consent: Consent {
                        preferred: text_at(strings(&batch, 4), row),
                        email: flag_at(batch.column(5).as_boolean(), row),
                        sms: flag_at(batch.column(6).as_boolean(), row),
                        opted_out: flag_at(batch.column(7).as_boolean(), row).unwrap_or(false),
                    },
                    region: str_at(regions, row),
                    home: (!latitude.is_null(row) && !longitude.is_null(row)).then(|| nearest((latitude.value(row), longitude.value(row)))),
                });
            }
            Ok(())
        },
    )
}

/// Read every event of the workspace into customer timelines (customers' texts scored
/// with the service model) at the observation end `as_of_text` (default: the end of
/// the local day of the last event).
///
/// Events are placed in timelines as they are read, a Parquet row group per core at a
/// time (`Workspace::scan_events_in_order`), in storage order: the observation end and
/// the order links are found first from the columns they need, so no kind is ever held
/// whole as rows beside the timelines.
pub fn load_timelines(workspace: &Workspace, as_of_text: Option<&str>, progress: &(dyn Fn(&str) + Sync)) -> Result<Loaded, EngineError> {
    let zone = workspace.zone();

    progress("reading event times");
    let bounds = event_bounds(workspace)?;
    let last_event = bounds.map(|(_, last)| last);
    let as_of = observation_end(zone, as_of_text, bounds)?;

    // Orders are looked up only for rows that name no customer, and for refunds (which
    // the customer summary nets against their order's purchase). An order's customer is
    // that of its earliest purchase (then the smallest customer id): a rule that does not
    // depend on the order rows were stored in, and the one the DataFusion plan of this
    // aggregation applies.
    let mut named = std::collections::HashSet::new();
    for kind in [EventKind::Purchases, EventKind::Interactions, EventKind::Surveys, EventKind::Engagement] {
        named.extend(workspace.orders_to_link(kind)?);
    }
    let links = workspace.link_orders(&named)?;
    drop(named);
    let orders: HashMap<&str, (&str, i64)> =
        links.iter().map(|(order, (customer, time))| (order.as_str(), (customer.as_str(), *time))).collect();

    progress("reading customers");
    // Customer ids are interned once; rows then carry an index, so grouping moves no
    // strings (grouping 20M events by owned ids dominated the analysis before).
    let mut customers = Interned::default();
    let mut consent: Vec<Option<Consent>> = Vec::new();
    read_customer_file(workspace, |row| {
        let slot = customers.slot(row.id);
        if consent.len() <= slot {
            consent.resize_with(slot + 1, || None);
        }
        consent[slot] = Some(row.consent);
        let timeline = &mut customers.timelines[slot];
        if let Some(region) = row.region {
            timeline.region = Some(region.to_string());
        }
        if let Some(distance) = row.home {
            timeline.store_distance_km = distance;
        }
    })?;
    let in_customer_file = customers.timelines.len();

    let mut unlinked: BTreeMap<String, u64> = BTreeMap::new();
    let mut after_as_of = 0_u64;
    // The customer slot of a row within the window, by its customer or its order.
    let mut place = |customers: &mut Interned, kind: &str, time: i64, customer: Option<&str>, order: Option<&str>| -> Option<usize> {
        if time > as_of {
            after_as_of += 1;
            return None;
        }
        match customer.or_else(|| order.and_then(|order| orders.get(order).map(|(customer, _)| *customer))) {
            Some(id) => Some(customers.slot(id)),
            None => {
                *unlinked.entry(kind.to_string()).or_default() += 1;
                None
            }
        }
    };
    let day = |time: i64| zone.local_seconds(ParsedTime::Instant(time)).div_euclid(DAY);

    progress("reading purchases");
    workspace.scan_events_in_order(
        EventKind::Purchases,
        &["customer_id", "order_id", "time", "amount", "margin"],
        |batch| batch,
        |batch| -> Result<(), EngineError> {
            let (ids, order_ids, times, amounts, margins) =
                (strings(&batch, 0), strings(&batch, 1), times(&batch, 2), numbers(&batch, 3), numbers(&batch, 4));
            for row in 0..batch.num_rows() {
                let time = times.value(row);
                let (customer, order) = (str_at(ids, row), str_at(order_ids, row));
                if let Some(slot) = place(&mut customers, "purchases", time, customer, order) {
                    let amount = amounts.value(row);
                    // A refund naming an order of this customer's nets against its purchase
                    // in the summary (the rule of `rapport summary`).
                    let link = order.and_then(|order| orders.get(order)).filter(|_| amount < 0.0);
                    let order_time = link
                        .filter(|(linked, _)| *linked == customer.unwrap_or(customers.timelines[slot].customer.as_str()))
                        .map(|(_, time)| *time);
                    customers.timelines[slot].purchases.push(Purchase {
                        time,
                        day: rapport_measures::timeline::day_number(day(time)),
                        order: order.map_or(0, rapport_measures::timeline::order_key),
                        amount,
                        margin: (!margins.is_null(row)).then(|| margins.value(row)),
                        order_time,
                    });
                }
            }
            Ok(())
        },
    )?;

    progress("reading and scoring interactions");
    let mut threads: Vec<(usize, ThreadRow)> = Vec::new();
    let mut complaints: Vec<Complaint> = Vec::new();
    // Sentiment per channel and week: a fixed run of rows folded at a time, the runs
    // merged in row order (the same bits on every run, as the measures).
    let mut sentiment = SentimentCells::default();
    let mut run = SentimentCells::default();
    let mut row_number = 0_usize;
    workspace.scan_events_in_order(
        EventKind::Interactions,
        &["customer_id", "order_id", "time", "conversation_id", "channel", "direction", "text", "agent", "resolved"],
        |batch| {
            let (directions, texts, agents, times) = (strings(&batch, 5), strings(&batch, 6), strings(&batch, 7), times(&batch, 2));
            let rows = batch.num_rows();
            let (mut inbound, mut compound, mut week) = (Vec::with_capacity(rows), Vec::with_capacity(rows), Vec::with_capacity(rows));
            for row in 0..rows {
                // Rows without a direction are the customer's unless an agent wrote them.
                let from_customer = match str_at(directions, row) {
                    Some("outbound") => false,
                    Some(_) => true,
                    None => str_at(agents, row).is_none(),
                };
                let score = (from_customer && str_at(texts, row).is_some())
                    .then(|| SentimentModel::Service.polarity_scores(texts.value(row)).compound);
                let time = times.value(row);
                week.push(score.filter(|_| time <= as_of).map(|_| iso_week(time, zone)));
                inbound.push(from_customer);
                compound.push(score);
            }
            ScoredBatch { batch, inbound, compound, week }
        },
        |scored| -> Result<(), EngineError> {
            let ScoredBatch { batch, inbound, compound, week } = scored;
            let (ids, order_ids, times, conversations) = (strings(&batch, 0), strings(&batch, 1), times(&batch, 2), strings(&batch, 3));
            let (channels, texts, agents, resolved) =
                (strings(&batch, 4), strings(&batch, 6), strings(&batch, 7), batch.column(8).as_boolean());
            for (row, week) in week.into_iter().enumerate() {
                if row_number > 0 && row_number.is_multiple_of(SENTIMENT_RUN) {
                    sentiment.merge(std::mem::take(&mut run));
                }
                row_number += 1;
                let channel = channels.value(row);
                if let (Some(score), Some(week)) = (compound[row], week) {
                    run.add(channel, week, score);
                }
                let time = times.value(row);
                let tone = compound[row].map(Tone::of_compound);
                let slot = place(&mut customers, "interactions", time, str_at(ids, row), str_at(order_ids, row));
                if let Some(slot) = slot {
                    let message = Message {
                        time,
                        inbound: inbound[row],
                        tone,
                        resolved: flag_at(resolved, row),
                        agent: text_at(agents, row),
                        topic: None,
                    };
                    threads.push((slot, ThreadRow { conversation: text_at(conversations, row), channel: channel.to_string(), message }));
                }
                // Complaints up to the observation end, as every other measure.
                if tone == Some(Tone::Negative) && time <= as_of {
                    complaints.push(Complaint {
                        thread: slot.map(|_| threads.len() - 1),
                        customer: text_at(ids, row),
                        time,
                        channel: channel.to_string(),
                        text: texts.value(row).to_string(),
                    });
                }
            }
            Ok(())
        },
    )?;
    sentiment.merge(run);
    let (complaint_topics, complaint_messages, _) = if complaints.is_empty() {
        (Vec::new(), Vec::new(), None)
    } else {
        progress("finding complaint topics");
        complaint_topics(complaints, &mut threads)
    };
    // Conversations: each customer's rows by the shared rules (`rapport_measures::conversations`).
    threads.par_sort_unstable_by_key(|(slot, _)| *slot);
    let mut rows: Vec<ThreadRow> = Vec::new();
    let mut current = None;
    // Customers all of whose rows are outbound (slot, rows), and all outbound rows: see
    // [`Loaded::replies_to_few`].
    let (mut silent_writers, mut outbound) = (Vec::<(usize, u64)>::new(), 0_u64);
    let mut close = |slot: usize, rows: &mut Vec<ThreadRow>, timelines: &mut [Timeline]| {
        let replies = rows.iter().filter(|row| !row.message.inbound).count() as u64;
        outbound += replies;
        if replies == rows.len() as u64 {
            silent_writers.push((slot, replies));
        }
        timelines[slot].conversations.extend(rapport_measures::conversations(rows));
        rows.clear();
    };
    for (slot, row) in threads {
        if current != Some(slot) {
            if let Some(previous) = current {
                close(previous, &mut rows, &mut customers.timelines);
            }
            current = Some(slot);
        }
        rows.push(row);
    }
    if let Some(previous) = current {
        close(previous, &mut rows, &mut customers.timelines);
    }
    drop(rows);
    let heavy: u64 =
        silent_writers.iter().map(|(_, replies)| replies).filter(|&&replies| replies >= rapport_measures::BRAND_LIKE_ROWS).sum();
    let held: u64 = silent_writers.iter().map(|(_, replies)| replies).sum();
    let replies_to_few = replies_to_few(heavy, held, outbound, silent_writers.len() as u64, || {
        let id = |slot: usize| customers.timelines[slot].customer.as_str();
        silent_writers.sort_by(|&(a, rows_a), &(b, rows_b)| rows_b.cmp(&rows_a).then_with(|| id(a).cmp(id(b))));
        silent_writers.iter().take(3).map(|&(slot, _)| id(slot).to_string()).collect()
    });

    progress("reading surveys, engagement, programs and costs");
    workspace.scan_events_in_order(
        EventKind::Surveys,
        &["customer_id", "order_id", "time", "survey_type", "score", "touchpoint", "stage", "channel"],
        |batch| batch,
        |batch| -> Result<(), EngineError> {
            let (ids, order_ids, times, types, scores) =
                (strings(&batch, 0), strings(&batch, 1), times(&batch, 2), strings(&batch, 3), numbers(&batch, 4));
            for row in 0..batch.num_rows() {
                let Ok(survey) = types.value(row).parse::<SurveyType>() else { continue };
                let time = times.value(row);
                if let Some(slot) = place(&mut customers, "surveys", time, str_at(ids, row), str_at(order_ids, row)) {
                    customers.timelines[slot].answers.push(Answer {
                        survey,
                        score: scores.value(row),
                        time,
                        touchpoint: text_at(strings(&batch, 5), row),
                        stage: text_at(strings(&batch, 6), row),
                        channel: text_at(strings(&batch, 7), row),
                    });
                }
            }
            Ok(())
        },
    )?;
    let mut referrals = Vec::new();
    workspace.scan_events_in_order(
        EventKind::Engagement,
        &["customer_id", "order_id", "time", "engagement_type", "referred_customer_id", "rating"],
        |batch| batch,
        |batch| -> Result<(), EngineError> {
            let (ids, order_ids, times, types, referred, ratings) =
                (strings(&batch, 0), strings(&batch, 1), times(&batch, 2), strings(&batch, 3), strings(&batch, 4), numbers(&batch, 5));
            for row in 0..batch.num_rows() {
                let Ok(kind) = types.value(row).parse::<EngagementType>() else { continue };
                let time = times.value(row);
                let Some(slot) = place(&mut customers, "engagement", time, str_at(ids, row), str_at(order_ids, row)) else { continue };
                let rating = (!ratings.is_null(row)).then(|| ratings.value(row));
                customers.timelines[slot].engagement.push(Engagement { kind, time, rating });
                if kind == EngagementType::Referral {
                    customers.timelines[slot].referrals_made += 1;
                    if let Some(referred) = str_at(referred, row) {
                        referrals.push((customers.timelines[slot].customer.clone(), referred.to_string()));
                        let referred = customers.slot(referred);
                        customers.timelines[referred].referred = true;
                    }
                }
            }
            Ok(())
        },
    )?;
    workspace.scan_events_in_order(
        EventKind::Programs,
        &["customer_id", "time", "program", "control_group", "cost", "channel"],
        |batch| batch,
        |batch| -> Result<(), EngineError> {
            let (ids, times, programs, costs) = (strings(&batch, 0), times(&batch, 1), strings(&batch, 2), numbers(&batch, 4));
            for row in 0..batch.num_rows() {
                let time = times.value(row);
                if let Some(slot) = place(&mut customers, "programs", time, Some(ids.value(row)), None) {
                    customers.timelines[slot].programs.push(ProgramContact {
                        program: programs.value(row).to_string(),
                        time,
                        control: flag_at(batch.column(3).as_boolean(), row).unwrap_or(false),
                        cost: if costs.is_null(row) { 0.0 } else { costs.value(row) },
                        cost_micros: if costs.is_null(row) { 0 } else { rapport_core::summary::to_micros(costs.value(row)) },
                        channel: text_at(strings(&batch, 5), row),
                    });
                }
            }
            Ok(())
        },
    )?;
    // Costs belong to customers with events: a reward naming a program is part of that
    // program's contact with the customer (its latest contact at or before the reward, or
    // its first); other costs are the relationship's own.
    workspace.scan_events_in_order(
        EventKind::Costs,
        &["customer_id", "time", "cost_type", "channel", "amount", "program"],
        |batch| batch,
        |batch| -> Result<(), EngineError> {
            let (ids, times, types, amounts) = (strings(&batch, 0), times(&batch, 1), strings(&batch, 2), numbers(&batch, 4));
            for row in 0..batch.num_rows() {
                let cost = Cost {
                    time: times.value(row),
                    reward: types.value(row) == "reward",
                    channel: text_at(strings(&batch, 3), row),
                    amount: amounts.value(row),
                };
                if cost.time > as_of {
                    after_as_of += 1;
                    continue;
                }
                let Some(&slot) = customers.slots.get(ids.value(row)) else {
                    *unlinked.entry("costs".to_string()).or_default() += 1;
                    continue;
                };
                let timeline = &mut customers.timelines[slot];
                let paid = str_at(strings(&batch, 5), row)
                    .filter(|_| cost.reward)
                    .is_some_and(|program| rapport_action::ror::pay_reward(&mut timeline.programs, program, cost.time, cost.amount));
                if !paid {
                    timeline.costs.push(cost);
                }
            }
            Ok(())
        },
    )?;

    progress("building customer timelines");
    let not_in_customer_file = if in_customer_file == 0 { 0 } else { (customers.timelines.len() - in_customer_file) as u64 };
    let mut timelines = customers.timelines;
    drop(customers.slots);
    // Sorted by time, and each list's spare capacity (pushed rows double it) returned.
    timelines.par_iter_mut().for_each(Timeline::sort);
    timelines.par_iter_mut().for_each(Timeline::shrink_to_fit);
    // Customers in natural id order, their consent with them: the order is sorted as
    // indexes, then applied to the consent (a new list) and, cycle by cycle, to the
    // timelines in place, so no second list of timelines is ever held.
    let mut order: Vec<usize> = (0..timelines.len()).collect();
    order.par_sort_unstable_by(|&a, &b| natural_order(&timelines[a].customer, &timelines[b].customer));
    // Without a customers file there is no consent to keep (a list of nothing per
    // customer would be 320 MB at 10M customers).
    if !consent.is_empty() {
        consent.resize_with(timelines.len(), || None);
        consent = order.iter().map(|&slot| consent[slot].take()).collect();
    }
    permute_in_place(&mut timelines, &mut order);
    // What the warnings and counts say of the events (an engine's plans find the same:
    // `rapport_sql::measures::Observed`).
    let bought = || timelines.iter().flat_map(|timeline| &timeline.purchases).filter(|p| p.amount >= 0.0).map(|p| p.time);
    let purchases = bought().min().zip(bought().max());
    let replies_before_message = timelines
        .iter()
        .flat_map(|timeline| &timeline.conversations)
        .map(|conversation| u64::from(conversation.replies_before_start))
        .sum::<u64>();
    let mut social_by_day: BTreeMap<i64, u64> = BTreeMap::new();
    for timeline in &timelines {
        for event in timeline.engagement.iter().filter(|event| is_social(event.kind)) {
            *social_by_day.entry(zone.local_seconds(ParsedTime::Instant(event.time)).div_euclid(DAY)).or_default() += 1;
        }
    }
    referrals.sort_unstable();
    Ok(Loaded {
        timelines,
        listed: None,
        purchases,
        replies_before_message,
        social_by_day,
        consent,
        as_of,
        sentiment,
        unlinked,
        after_as_of,
        not_in_customer_file,
        complaint_topics,
        complaint_messages,
        last_event: last_event.unwrap_or(as_of),
        referrals,
        replies_to_few,
    })
}

/// ISO week (`2025-W07`) of a UTC time in the zone.
fn iso_week(time: i64, zone: Zone) -> String {
    iso_week_of_day(zone.local_seconds(ParsedTime::Instant(time)).div_euclid(DAY))
}

/// ISO week (`2025-W07`) of a local day (days since 1970-01-01).
fn iso_week_of_day(day: i64) -> String {
    use chrono::Datelike;
    let date = chrono::DateTime::from_timestamp(day * DAY, 0).map(|time| time.date_naive().iso_week());
    date.map(|week| format!("{:04}-W{:02}", week.year(), week.week())).unwrap_or_default()
}

fn sentiment_table(cells: &SentimentCells) -> Option<Table> {
    if cells.cells.is_empty() {
        return None;
    }
    let (mut channel, mut week, mut n, mut mean, mut lower, mut upper) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((cell_channel, cell_week), moments) in &cells.cells {
        // Compound scores lie in [−1, 1], and so does any interval of their mean.
        let interval = moments.mean_t(0.95);
        let interval = rapport_stats::intervals::Interval { lower: interval.lower.max(-1.0), upper: interval.upper.min(1.0), ..interval };
        channel.push(Some(cell_channel.clone()));
        week.push(Some(cell_week.clone()));
        n.push(interval.n);
        mean.push(interval.estimate);
        lower.push(interval.lower);
        upper.push(interval.upper);
    }
    Some(
        Table::new("sentiment_by_channel_week")
            .column("channel", Values::Text(channel))
            .column("week", Values::Text(week))
            .column("texts", Values::Count(n))
            .column("compound_mean", Values::Number(mean))
            .column("compound_lower", Values::Number(lower))
            .column("compound_upper", Values::Number(upper)),
    )
}

type NamedHeadline = (&'static str, Result<Headline, &'static str>);

/// The sentiment baseline of each channel (the mean compound of customers' messages),
/// its change — the last 13 weeks against the 13 before — and how weekly sentiment moves
/// with the week's social volume (social-channel messages plus follows, likes, shares,
/// reposts and mentions).
fn sentiment_baselines(
    cells: &SentimentCells,
    social_by_day: &BTreeMap<i64, u64>,
    settings: &Settings,
) -> (Option<Table>, [NamedHeadline; 2]) {
    use rapport_stats::intervals::{Moments, pearson, welch_difference};
    let zone = settings.zone;
    let recent: Vec<String> = (0..13).map(|week| iso_week(settings.as_of - week * 7 * DAY, zone)).collect();
    let earlier: Vec<String> = (13..26).map(|week| iso_week(settings.as_of - week * 7 * DAY, zone)).collect();
    let mut channels: BTreeMap<&str, [Moments; 3]> = BTreeMap::new();
    let mut all = [Moments::default(), Moments::default(), Moments::default()];
    let mut weekly: BTreeMap<&str, (Moments, f64)> = BTreeMap::new();
    for ((channel, week), moments) in &cells.cells {
        let slots = channels.entry(channel.as_str()).or_default();
        slots[0].merge(moments);
        all[0].merge(moments);
        for (slot, weeks) in [(1, &recent), (2, &earlier)] {
            if weeks.contains(week) {
                slots[slot].merge(moments);
                all[slot].merge(moments);
            }
        }
        let entry = weekly.entry(week.as_str()).or_default();
        entry.0.merge(moments);
        if channel == "social" {
            entry.1 += moments.n as f64;
        }
    }
    let mut social_engagement: BTreeMap<String, f64> = BTreeMap::new();
    for (&day, &count) in social_by_day {
        *social_engagement.entry(iso_week_of_day(day)).or_default() += count as f64;
    }
    let pairs: Vec<(f64, f64)> = weekly
        .iter()
        .map(|(week, (moments, social))| (social + social_engagement.get(*week).copied().unwrap_or(0.0), moments.mean))
        .collect();
    let correlation = pearson(&pairs, settings.confidence);
    let change = welch_difference(&all[1], &all[2], settings.confidence);
    let headlines = [
        (
            "sentiment_change",
            // Each half's size is said beside the total: 2,773 messages against 3 is a
            // change measured on 3.
            if all[1].n >= 10 && all[2].n >= 10 {
                let of = format!("customer messages ({} in the last 13 weeks, {} in the 13 before)", all[1].n, all[2].n);
                Ok(Headline::new(change, "compound, last 13 weeks − the 13 before", &of))
            } else {
                Err("needs 10 customer messages or more in each half of the last 26 weeks")
            },
        ),
        (
            "sentiment_social_volume_correlation",
            if correlation.estimate.is_finite() {
                Ok(Headline::new(correlation, "Pearson r, weekly mean sentiment vs social volume", "weeks"))
            } else {
                Err("needs at least four weeks of customer messages with varying social volume")
            },
        ),
    ];
    if channels.is_empty() {
        return (None, headlines);
    }
    let mut table = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (channel, [baseline, recent, earlier]) in &channels {
        let change = welch_difference(recent, earlier, settings.confidence);
        table.0.push(Some(channel.to_string()));
        table.1.push(baseline.n);
        table.2.push(baseline.mean);
        table.3.push(baseline.mean_t(settings.confidence).lower);
        table.4.push(if recent.n > 1 && earlier.n > 1 { change.estimate } else { f64::NAN });
        table.5.push(if recent.n > 1 && earlier.n > 1 { change.lower } else { f64::NAN });
        table.6.push(if recent.n > 1 && earlier.n > 1 { change.upper } else { f64::NAN });
    }
    let upper: Vec<f64> = channels.values().map(|[baseline, _, _]| baseline.mean_t(settings.confidence).upper).collect();
    let table = Table::new("sentiment_baseline")
        .column("channel", Values::Text(table.0))
        .column("texts", Values::Count(table.1))
        .column("baseline", Values::Number(table.2))
        .column("baseline_lower", Values::Number(table.3))
        .column("baseline_upper", Values::Number(upper))
        .column("change_13_weeks", Values::Number(table.4))
        .column("change_lower", Values::Number(table.5))
        .column("change_upper", Values::Number(table.6));
    (Some(table), headlines)
}

fn table_batch(table: &Table) -> Result<RecordBatch, EngineError> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, values) in &table.columns {
        let (data_type, array): (DataType, ArrayRef) = match values {
            Values::Text(values) => (DataType::Utf8, Arc::new(StringArray::from(values.clone()))),
            Values::Number(values) => (
                DataType::Float64,
                Arc::new(Float64Array::from(values.iter().map(|value| value.is_finite().then_some(*value)).collect::<Vec<_>>())),
            ),
            Values::Count(values) => (DataType::UInt64, Arc::new(UInt64Array::from(values.clone()))),
            Values::Integer(values) => (DataType::Int64, Arc::new(arrow::array::Int64Array::from(values.clone()))),
            Values::Flag(values) => (DataType::Boolean, Arc::new(arrow::array::BooleanArray::from(values.clone()))),
        };
        fields.push(Field::new(name, data_type, true));
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|error| EngineError::Internal(error.to_string()))
}

/// The mean amount of the stored contact costs, if any.
fn contact_cost(workspace: &Workspace) -> Result<Option<f64>, EngineError> {
    if workspace.event_files(EventKind::Costs).is_empty() {
        return Ok(None);
    }
    let amounts = read_rows(workspace, EventKind::Costs, &["cost_type", "amount"], |batch, row| {
        (strings(batch, 0).value(row) == "contact").then(|| numbers(batch, 1).value(row))
    })?;
    Ok((!amounts.is_empty()).then(|| amounts.iter().sum::<f64>() / amounts.len() as f64))
}

/// The brand at a glance, from the customer table: customers who bought, the share who
/// came back (Wilson interval), net spend in all (summed exactly) and per buyer, and mean
/// 12-month CLV and P(alive) (t intervals) — each in the shape of a headline.
fn overview(table: &CustomerTable, currency: &str, minor_digits: u32, confidence: f64) -> Json {
    use rapport_stats::intervals::{Interval, Moments, wilson};
    let shaped = |interval: Interval, unit: &str, of: &str| {
        let number = |value: f64| if value.is_finite() { json!(value) } else { Json::Null };
        json!({"estimate": number(interval.estimate), "lower": number(interval.lower), "upper": number(interval.upper), "n": interval.n, "unit": unit, "of": of})
    };
    let column = |name: &str| table.f64(name).map(<[f64]>::to_vec).unwrap_or_default();
    let (purchases, net_spend, frequency) = (column("purchases"), column("net_spend"), column("frequency"));
    let buyers: Vec<usize> = (0..purchases.len()).filter(|&row| purchases[row] > 0.0).collect();
    let returned = buyers.iter().filter(|&&row| frequency.get(row).is_some_and(|f| *f > 0.0)).count() as u64;
    let total: i128 =
        net_spend.iter().filter(|value| value.is_finite()).map(|value| i128::from(rapport_core::summary::to_micros(*value))).sum();
    let moments = |values: &[f64], rows: &mut dyn Iterator<Item = usize>| {
        let mut moments = Moments::default();
        rows.filter_map(|row| values.get(row).copied()).filter(|value| value.is_finite()).for_each(|value| moments.add(value));
        moments
    };
    let spend = moments(&net_spend, &mut buyers.iter().copied());
    let clv = column("clv");
    let p_alive = column("p_alive");
    let mut out = serde_json::Map::new();
    out.insert("buyers".into(), json!(buyers.len()));
    out.insert("net_spend_total".into(), json!(rapport_core::money::micros_to_minor(total, minor_digits)));
    // Customers in the total but not among the buyers: refunds of purchases made before
    // the data starts (or under another id), with no purchase of their own.
    let refund_only =
        (0..purchases.len()).filter(|&row| purchases[row] == 0.0 && net_spend.get(row).is_some_and(|spend| *spend < 0.0)).count();
    out.insert("refund_only_customers".into(), json!(refund_only));
    out.insert(
        "repeat_buyer_rate".into(),
        shaped(wilson(returned, buyers.len() as u64, confidence).scaled(100.0), "percent bought on a second day", "customers who bought"),
    );
    out.insert("net_spend_per_buyer".into(), shaped(spend.mean_t(confidence), currency, "customers who bought"));
    if !clv.is_empty() {
        out.insert(
            "clv_mean".into(),
            shaped(
                moments(&clv, &mut (0..clv.len())).mean_t(confidence),
                &format!("{currency} predicted in the next 12 months"),
                "customers with a prediction",
            ),
        );
        out.insert(
            "p_alive_mean".into(),
            shaped(moments(&p_alive, &mut (0..p_alive.len())).mean_t(confidence), "probability", "customers with a prediction"),
        );
    }
    Json::Object(out)
}

/// The repeat buyers' mean P(alive) at or above which the fit is taken to see no customer
/// leave (fewer than 1 in 100 of them gone).
const NO_DROPOUT_P_ALIVE: f64 = 0.99;

/// The mean P(alive) of the customers who bought on a second day (a one-time buyer's is 1
/// under BG/NBD whatever the data), if any has one.
fn repeat_buyers_mean_p_alive(table: &CustomerTable) -> Option<f64> {
    let (frequency, p_alive) = (table.f64("frequency")?, table.f64("p_alive")?);
    let (sum, n) = frequency
        .iter()
        .zip(p_alive)
        .filter(|(frequency, p_alive)| **frequency > 0.0 && p_alive.is_finite())
        .fold((0.0, 0_u64), |(sum, n), (_, p_alive)| (sum + p_alive, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Decimal places of the currency's minor unit (2 for an unknown code).
fn minor_digits(currency: &str) -> u32 {
    currency.parse::<rapport_core::money::Currency>().map_or(2, |currency| currency.minor_digits())
}

/// The tracking plot of the BG/NBD fit (FHL 2005, Figure 3; lifetimes'
/// `expected_cumulative_transactions`): cumulative repeat purchase days, actual and
/// expected, week by week from the first purchase to the observation end. The fit saw the
/// whole history, so this shows how well it describes it, not a holdout test.
fn tracking_table(
    report: &rapport_models::FitReport,
    histogram: &rapport_core::summary::PurchaseHistogram,
    skipped: &mut BTreeMap<String, String>,
) -> Option<Table> {
    let points = rapport_models::FittedModel::from_report(report)
        .and_then(|model| rapport_models::tracking(&model, histogram, Period::Day, TimeUnit::Weeks, None, 7));
    match points {
        Ok(points) if !points.is_empty() => Some(
            Table::new("tracking")
                .column("date", Values::Text(points.iter().map(|point| Some(point.date.clone())).collect()))
                .column("weeks", Values::Number(points.iter().map(|point| point.time).collect()))
                .column("actual", Values::Count(points.iter().map(|point| point.actual).collect()))
                .column("expected", Values::Number(points.iter().map(|point| point.expected).collect())),
        ),
        Ok(_) => None,
        Err(error) => {
            skipped.insert("tracking".into(), format!("the tracking plot could not be drawn: {error}"));
            None
        }
    }
}

/// The tracking plot's first and repeat purchase periods of every timeline.
fn purchase_histogram(timelines: &[Timeline], options: SummaryOptions, zone: Zone) -> rapport_core::summary::PurchaseHistogram {
    use rapport_core::summary::{PurchaseHistogram, PurchaseRow};
    timelines
        .par_chunks(16_384)
        .map(|chunk| {
            let mut histogram = PurchaseHistogram::default();
            let mut rows: Vec<PurchaseRow> = Vec::new();
            for timeline in chunk {
                rows.clear();
                rows.extend(
                    timeline.purchases.iter().filter_map(|purchase| {
                        options.row(zone.local_seconds(ParsedTime::Instant(purchase.summary_time())), purchase.amount)
                    }),
                );
                histogram.add_customer(&mut rows);
            }
            histogram
        })
        .reduce(PurchaseHistogram::default, PurchaseHistogram::merge)
}

/// The customer table of the latest `analyze` run with an earlier observation end, if
/// there is one (a rerun on the same day compares with what came before, not with itself).
/// The customer table as written: a quantity a customer has none of (P(alive) of a
/// customer who never bought, the last NPS of one never asked) is null, so SQL's
/// aggregates skip it (`avg(p_alive)`) and CSV leaves it blank. The values under the
/// nulls stay NaN, so readers of the values see what they saw before.
fn nan_as_null(batch: RecordBatch) -> RecordBatch {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|column| match column.as_primitive_opt::<Float64Type>() {
            Some(values) if values.values().iter().any(|value| value.is_nan()) => {
                let valid = arrow::buffer::NullBuffer::from_iter(values.iter().map(|value| value.is_some_and(|value| !value.is_nan())));
                Arc::new(Float64Array::new(values.values().clone(), Some(valid))) as ArrayRef
            }
            _ => Arc::clone(column),
        })
        .collect();
    let schema = batch.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&columns)
        // Every column but the id is declared nullable, whether or not this run has a
        // null in it, so runs of one workspace share a schema.
        .map(|(field, column)| {
            let nullable = field.name() != "customer_id" || column.null_count() > 0;
            field.as_ref().clone().with_nullable(nullable)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields).with_metadata(schema.metadata().clone()));
    RecordBatch::try_new(schema, columns).unwrap_or(batch)
}

fn previous_analysis(workspace: &Workspace, as_of_text: &str) -> Result<Option<RecordBatch>, EngineError> {
    let earlier = |run: &RunInfo| run.command == "analyze" && run.options["as_of"].as_str().is_some_and(|as_of| as_of < as_of_text);
    let Some(run) = workspace.runs()?.into_iter().rev().find(earlier) else {
        return Ok(None);
    };
    let path = workspace.run_directory(&run.id).join("customers.parquet");
    Ok(Some(rapport_store::input::read_parquet_file(&path)?))
}

/// The customer table, the models' reports, and the predicted CLV of referred customers.
type CustomerTableOutcome = (
    CustomerTable,
    Vec<Json>,
    Option<rapport_stats::intervals::Moments>,
    Option<Table>,
    crate::relationship::CustomerInputs,
    (rapport_action::alerts::Windows, BTreeMap<i64, u64>, NeedCounts, Option<PlannedPropensity>),
);

/// How many gaps of each length between purchase days (`rapport_action::lapse`) the
/// brand's customers have, from the timelines.
fn gap_counts_of(timelines: &[Timeline]) -> BTreeMap<i64, u64> {
    timelines
        .par_iter()
        .fold(BTreeMap::new, |mut counts: BTreeMap<i64, u64>, timeline| {
            for gap in rapport_action::lapse::gaps(&rapport_action::lapse::purchase_days(timeline)) {
                *counts.entry(gap).or_default() += 1;
            }
            counts
        })
        .reduce(BTreeMap::new, |mut counts, other| {
            for (gap, n) in other {
                *counts.entry(gap).or_default() += n;
            }
            counts
        })
}

/// What the relationship stage reads of the events beyond the event columns, given the
/// settings.
#[derive(Debug, Clone, Copy)]
struct Reads {
    /// UTC seconds the top tier's watch window begins.
    watch_since: i64,
    /// Whether ROR counts each customer's conversations per channel.
    conversation_channels: bool,
    /// Propensity's cut-offs (UTC seconds and local days, earliest first) and horizon in
    /// days: read by the plans (a build without an engine has none).
    /// And the response to programs' window in days.
    #[cfg_attr(not(feature = "sql"), expect(dead_code))]
    propensity: ([(i64, i64); 3], i64, i64),
}

/// What propensity reads of each customer at each of its cut-offs, as an engine's plans
/// found it: the customers in each cut-off, with the facts its steps read.
pub type PlannedCutoffs = Vec<rapport_action::propensity::FoundCut>;

/// What propensity and the response to programs read, as an engine's plans found it.
#[derive(Debug, Default)]
pub struct PlannedPropensity {
    /// Propensity's three cut-offs (earliest first), then the second before each
    /// program's first contact, in `programs`' order.
    pub cutoffs: PlannedCutoffs,
    /// Each program with its first contact and, by row, each customer's first contact
    /// with it whose window has closed.
    pub programs: Vec<(String, i64, Vec<Option<rapport_action::response::ContactFacts>>)>,
}

/// What the relationship stage reads of each customer besides the event columns, in the
/// timelines' order: strength's inputs, the alerts' counts, the lapse's inputs (each
/// customer's rhythm, and the brand's gap counts), the watch list's signals, ROR's
/// inputs, and the playbook's facts (each customer's, and the brand's predictable needs).
type RelationshipInputs = (
    Vec<StrengthInputs>,
    rapport_action::alerts::Windows,
    (Vec<Option<Rhythm>>, BTreeMap<i64, u64>),
    Vec<Vec<Signal>>,
    Vec<RorInputs>,
    (Vec<Option<Box<PlaybookFacts>>>, NeedCounts),
    Option<PlannedPropensity>,
);

/// The tracking plot's histogram the plans counted, taken out of them.
#[cfg(feature = "sql")]
fn take_histogram(planned: &mut Option<Planned>) -> Option<rapport_core::summary::PurchaseHistogram> {
    planned.as_mut().and_then(|planned| planned.tracking.take())
}

#[cfg(not(feature = "sql"))]
fn take_histogram(_planned: &mut Option<Planned>) -> Option<rapport_core::summary::PurchaseHistogram> {
    None
}

/// [`RelationshipInputs`] from an engine's plans.
#[cfg(feature = "sql")]
fn from_plans(planned: Planned, split: i64) -> Result<RelationshipInputs, EngineError> {
    let rapport_sql::features::Planned {
        split: planned_split,
        strength,
        windows,
        rhythms,
        gap_counts,
        signals,
        ror,
        playbook,
        needs,
        cutoffs,
        programs,
        tracking: _,
    } = planned;
    if planned_split != split {
        return Err(EngineError::Internal(format!("the plans learned strength at {planned_split}, the events say {split}")));
    }
    let cutoffs = cutoffs.into_values()?;
    Ok((
        strength.into_values()?,
        windows,
        (rhythms.into_values()?, gap_counts),
        signals.into_values()?,
        ror.into_values()?,
        (playbook.into_values()?.into_iter().map(|facts| Some(Box::new(facts))).collect(), needs),
        Some({
            // Each cut-off sized to its customers first, and told which of them its steps
            // read whole (the rest keep their purchase facts only).
            let mut sizes = vec![0; 3 + programs.len()];
            for facts in &cutoffs {
                for (size, facts) in sizes.iter_mut().zip(facts) {
                    *size += usize::from(facts.is_some());
                }
            }
            let mut found: PlannedCutoffs = sizes
                .into_iter()
                .enumerate()
                .map(|(at, size)| rapport_action::propensity::FoundCut::new(size, crate::propensity::reads_of(at)))
                .collect();
            for (row, facts) in cutoffs.into_iter().enumerate() {
                for (at, facts) in facts.into_iter().enumerate() {
                    if let (Some(facts), Some(cut)) = (facts, found.get_mut(at)) {
                        cut.push(row, facts);
                    }
                }
            }
            let programs = programs
                .into_iter()
                .map(|(program, first, contacts)| Ok((program, first, contacts.into_values()?)))
                .collect::<Result<Vec<_>, EngineError>>()?;
            PlannedPropensity { cutoffs: found, programs }
        }),
    ))
}

#[cfg(not(feature = "sql"))]
fn from_plans(planned: Planned, _split: i64) -> Result<RelationshipInputs, EngineError> {
    match planned {}
}

/// The customer table: facts from the timelines and, where the purchases allow a fit,
/// BG/NBD + Gamma-Gamma predictions (P(alive), purchases in the next 52 weeks, 12-month
/// CLV at 1% a month).
/// The customer table of the analysis. With `engine` (the workspace and a DataFusion
/// engine), the per-customer aggregation of the events and the lifetime-value scoring
/// run as plans there; the fit runs here.
/// The lifetime-value columns of the customer table, in order: there with blanks when
/// the fit was skipped.
const LIFETIME_VALUE_COLUMNS: [&str; 7] =
    ["frequency", "recency", "T", "p_alive", "expected_purchases_52_weeks", "clv", "expected_average_spend"];

fn customer_table(
    customers: Customers<'_>,
    settings: &Settings,
    consent: &[Option<Consent>],
    minor_digits: u32,
    skipped: &mut BTreeMap<String, String>,
    on_engine: Option<&OnEngine<'_>>,
    reads: Reads,
) -> Result<CustomerTableOutcome, EngineError> {
    let as_of = settings.as_of;
    let zone = settings.zone;
    let n = customers.len();
    let timelines = customers.timelines();
    let mut table = CustomerTable::from_ids(customers.ids(), Window::default());
    let region: Vec<Option<&str>> = (0..n).map(|row| customers.region(row)).collect();
    table.push("region", Arc::new(StringArray::from(region)))?;
    table.push_f64("store_distance_km", (0..n).map(|row| customers.store_distance_km(row).unwrap_or(f64::NAN)).collect())?;
    // Consent is empty without a customers file.
    let stated = |row: usize| consent.get(row).and_then(Option::as_ref);
    let preferred: Vec<Option<String>> = (0..n).map(|row| stated(row).and_then(|consent| consent.preferred.clone())).collect();
    table.push("preferred_channel", Arc::new(StringArray::from(preferred)))?;
    let opted_out: Vec<bool> = (0..n).map(|row| stated(row).is_some_and(|consent| consent.opted_out)).collect();
    table.push("opted_out", Arc::new(BooleanArray::from(opted_out)))?;
    // BTYD on the purchase history: days, in weeks, to the observation end.
    let options = SummaryOptions {
        period: Period::Day,
        time_unit: TimeUnit::Weeks,
        observation_end: Some(zone.local_seconds(ParsedTime::Instant(as_of))),
        calibration_end: None,
        monetary: true,
    };
    let planned = match on_engine {
        Some(on_engine) => {
            let planned = planned_events(on_engine, customers, (as_of, zone), options, reads)?;
            (on_engine.progress)(FITTING);
            Some(planned)
        }
        None => None,
    };
    // The event columns: from the timelines here, or from the plans of the same
    // aggregation on another engine (which must find exactly these customers).
    let (events, planned_summary, mut planned_strength) = match planned {
        None => (timelines.par_iter().map(|timeline| CustomerEvents::of(timeline, zone)).collect::<Vec<_>>(), None, None),
        Some((events, summary, strength)) => (events, Some(summary), Some(strength)),
    };
    let days_to_end = |time: Option<i64>| time.map_or(f64::NAN, |time| ((as_of - time) / DAY) as f64);
    let column = |name: &str, value: &(dyn Fn(&CustomerEvents) -> f64 + Sync)| -> (String, Vec<f64>) {
        (name.to_string(), events.par_iter().map(value).collect())
    };
    let columns = [
        column("purchases", &|events| events.purchases as f64),
        // Summed exactly, in millionths, then rounded to the currency's minor unit.
        column("net_spend", &|events| rapport_core::money::micros_to_minor(events.net_micros, minor_digits)),
        column("refunds", &|events| events.refunds as f64),
        column("days_since_last_purchase", &|events| days_to_end(events.last_purchase)),
        column("tenure_days", &|events| days_to_end(events.first_purchase)),
        column("conversations", &|events| events.conversations as f64),
        column("opened_negative", &|events| events.opened_negative as f64),
        column("recovered", &|events| events.recovered as f64),
        column("unresolved", &|events| events.unresolved as f64),
        column("last_nps", &|events| events.last_nps.unwrap_or(f64::NAN)),
        column("social_engagement", &|events| events.social_engagement as f64),
        column("reviews", &|events| events.reviews as f64),
        column("referrals_made", &|events| events.referrals_made as f64),
    ];
    for (name, values) in columns {
        table.push_f64(&name, values)?;
    }
    table.push("referred", Arc::new(BooleanArray::from(events.iter().map(|events| events.referred).collect::<Vec<_>>())))?;
    let advocacy: Vec<Advocacy> = events.par_iter().map(CustomerEvents::advocacy).collect();
    table.push_f64("advocacy_score", advocacy.iter().map(Advocacy::score).collect())?;
    table.push("ambassador", Arc::new(BooleanArray::from(advocacy.iter().map(Advocacy::ambassador).collect::<Vec<_>>())))?;
    // What the relationship stage reads of each customer's events besides the table:
    // strength's inputs at its split (set by the first event of all) and at the end, from
    // the timelines here or from the plans of the same rules.
    let first = events.iter().filter_map(|events| events.first_event).min().unwrap_or(as_of);
    let (split, _) = rapport_action::strength::split_of(as_of, rapport_action::strength::PERIOD_DAYS, first);
    // And the indicator alerts' weekly counts, from the same first event.
    // And the lapse's inputs: each customer's rhythm of purchase days, and the brand's gaps.
    // And the watch list's signals since its window began, and what ROR reads.
    // The tracking plot's histogram, when the plans counted it.
    let mut planned_histogram = take_histogram(&mut planned_strength);
    let (inputs, windows, gap_counts, needs, cutoffs) = match planned_strength {
        None => {
            // Each customer's inputs at once from their timeline, into a list per input.
            // The playbook's facts are read from the timelines when the proposals are
            // made (held here, a couple of hundred bytes a customer, they raised the
            // analysis's peak by 0.4 GiB at 1M).
            type Lists = (Vec<StrengthInputs>, (Vec<Option<Rhythm>>, (Vec<Vec<Signal>>, Vec<RorInputs>)));
            let (strength, (rhythms, (signals, ror))): Lists = timelines
                .par_iter()
                .map(|timeline| {
                    (
                        StrengthInputs::of(timeline, split, as_of),
                        (
                            Rhythm::of(&rapport_action::lapse::purchase_days(timeline)),
                            (Signal::recent(timeline, reads.watch_since), RorInputs::of(timeline, reads.conversation_channels)),
                        ),
                    )
                })
                .unzip();
            let inputs = crate::relationship::CustomerInputs::of(&events, strength, rhythms, signals, ror, vec![None; n]);
            let needs = timelines.par_iter().map(|timeline| NeedCounts::of(timeline, as_of)).reduce(NeedCounts::default, |mut a, b| {
                a.add(b);
                a
            });
            // Propensity reads the timelines when it comes to it. The gap counts find each
            // customer's purchase days again: counting them in the pass above would collect
            // the inputs per thread and concatenate them, holding them twice.
            (inputs, rapport_action::alerts::Windows::of(timelines, first, as_of), gap_counts_of(timelines), needs, None)
        }
        Some(planned) => {
            let (strength, windows, (rhythms, gap_counts), signals, ror, (playbook, needs), cutoffs) = from_plans(planned, split)?;
            // The plans' lists move in as they are.
            let inputs = crate::relationship::CustomerInputs::of(&events, strength, rhythms, signals, ror, playbook);
            (inputs, windows, gap_counts, needs, cutoffs)
        }
    };
    // Who was referred, for their CLV.
    let referred: Vec<bool> = events.iter().map(|events| events.referred).collect();
    // In the table now: freed before the fit, this stage's peak (1.4 GiB at 10M customers).
    drop((events, advocacy));
    let mut referred_clv = None;
    let mut tracking = None;

    let summary = if let Some(summary) = planned_summary {
        summary
    } else {
        timelines
            .par_chunks(16_384)
            .map(|chunk| {
                let mut accumulator = SummaryAccumulator::new(options);
                for timeline in chunk {
                    for purchase in &timeline.purchases {
                        accumulator.update(
                            &timeline.customer,
                            zone.local_seconds(ParsedTime::Instant(purchase.summary_time())),
                            purchase.amount,
                        );
                    }
                }
                accumulator.flush();
                accumulator
            })
            .reduce(
                || SummaryAccumulator::new(options),
                |mut left, right| {
                    left.merge(right);
                    left
                },
            )
            .finish()
    };
    let mut models = Vec::new();
    // BG/NBD tells the buying rate from the dropout only through customers who came back:
    // with none, every fit puts P(alive) at 1 for everyone, which is not an estimate.
    let repeat_buyers = summary.customers.f64("frequency").map_or(0, |frequency| frequency.iter().filter(|&&f| f > 0.0).count());
    // Without a fit the summary's own columns still fill frequency, recency and T.
    let joined = |source: &CustomerTable, name: &str| -> Option<Vec<f64>> {
        let values = source.f64(name)?;
        let index: HashMap<&str, usize> = (0..source.len()).map(|row| (source.id(row), row)).collect();
        Some(customers.ids().map(|id| index.get(id).map_or(f64::NAN, |&row| values[row])).collect())
    };
    let unfitted: Vec<(&str, Vec<f64>)> =
        ["frequency", "recency", "T"].into_iter().filter_map(|name| Some((name, joined(&summary.customers, name)?))).collect();
    if summary.customers.len() < 10 {
        skipped.insert("lifetime_value".into(), "fewer than 10 customers with purchases".into());
    } else if repeat_buyers < 2 {
        skipped.insert(
            "lifetime_value".into(),
            format!("{repeat_buyers} customers bought on a second day: BG/NBD cannot tell how often customers buy from whether they left"),
        );
    } else {
        let request = PredictRequest {
            source: CustomerSource::SummaryFile { path: PathBuf::new(), time_unit: Some(TimeUnit::Weeks) },
            model: Some(ModelKind::BgNbd),
            saved: None,
            horizon: 52.0,
            clv: ClvSpec::default(),
            options: Default::default(),
        };
        let predicted = match on_engine {
            None => fit_and_predict(summary.customers, &request),
            Some(on_engine) => crate::clv::score_on(summary.customers, &request, on_engine.root, on_engine.engine),
        };
        match predicted {
            Ok(predicted) => {
                models = predicted.models.iter().map(crate::clv::fit_json).collect();
                tracking = predicted.models.first().and_then(|report| {
                    let histogram = planned_histogram.take().unwrap_or_else(|| purchase_histogram(timelines, options, zone));
                    tracking_table(report, &histogram, skipped)
                });
                let index: HashMap<&str, usize> = (0..predicted.table.len()).map(|row| (predicted.table.id(row), row)).collect();
                for name in ["frequency", "recency", "T", "p_alive", "expected_purchases", "clv", "expected_average_spend"] {
                    if let Some(values) = predicted.table.f64(name) {
                        let joined: Vec<f64> = customers.ids().map(|id| index.get(id).map_or(f64::NAN, |&row| values[row])).collect();
                        let name = if name == "expected_purchases" { "expected_purchases_52_weeks" } else { name };
                        if name == "clv" {
                            let mut moments = rapport_stats::intervals::Moments::default();
                            referred
                                .iter()
                                .zip(&joined)
                                .filter(|(referred, value)| **referred && value.is_finite())
                                .for_each(|(_, value)| moments.add(*value));
                            referred_clv = Some(moments);
                        }
                        table.push_f64(name, joined)?;
                    }
                }
            }
            Err(error) => {
                skipped.insert("lifetime_value".into(), format!("the BG/NBD fit failed: {error}"));
            }
        }
    }
    // The same columns whether or not the fit ran (a saved query or a dashboard reads
    // them on any brand): blank where there is no fit.
    for name in LIFETIME_VALUE_COLUMNS {
        if table.column(name).is_none() {
            let values = unfitted.iter().find(|(unfitted, _)| *unfitted == name).map(|(_, values)| values.clone());
            table.push_f64(name, values.unwrap_or_else(|| vec![f64::NAN; n]))?;
        }
    }
    Ok((table, models, referred_clv, tracking, inputs, (windows, gap_counts, needs, cutoffs)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Applying a permutation in place gives what building the new list would.
        #[test]
        fn a_permutation_applied_in_place_equals_the_rebuilt_list(keys in proptest::collection::vec(any::<u32>(), 0..200)) {
            let items: Vec<usize> = (0..keys.len()).collect();
            let mut order = items.clone();
            order.sort_by_key(|&i| (keys[i], i));
            let expected: Vec<usize> = order.iter().map(|&i| items[i]).collect();
            let mut permuted = items;
            super::permute_in_place(&mut permuted, &mut order);
            prop_assert_eq!(permuted, expected);
        }
    }
}
