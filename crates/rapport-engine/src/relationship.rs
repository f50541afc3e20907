//! From measurement to action, inside `analyze`: relationship strength, the Customer
//! Matrix and its watched top tier, RFM segments, clusters and user-defined segments.
//! Adds columns to the customer table and tables to the run; the definitions live in
//! `rapport-action` and `docs/measures.md`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rayon::prelude::*;
use serde_json::{Value as Json, json};

use rapport_action::alerts::Windows;
use rapport_action::kmeans::{Points, cluster};
use rapport_action::lapse::{Lapse, LapseRule, Rhythm};
use rapport_action::matrix::{Placed, cells, place};
use rapport_action::playbook::{
    Consent, DEFAULT_RULES, FOLLOW_DAYS, MILESTONE_DAYS, NeedCounts, PlaybookFacts, Proposal, RECENT_DAYS, TRIGGERS, choose, is_control,
};
use rapport_action::rank::Ranked;
use rapport_action::rfm::{RfmInput, score};
use rapport_action::ror::RorInputs;
use rapport_action::strength::{FACTORS, PERIOD_DAYS, StrengthInputs, learn_from, level, scale, split_of};
use rapport_action::watch::Signal;
use rapport_core::config::{ActionsConfig, MatrixConfig, WorkspaceConfig};
use rapport_core::expression::Expression;
use rapport_core::money::{Currency, micros_to_minor};
use rapport_core::table::CustomerTable;
use rapport_core::time::{ParsedTime, Zone};
use rapport_measures::table::{Table, Values};
use rapport_measures::{CustomerEvents, Timeline};

use crate::EngineError;

const DAY: i64 = 86_400;
/// Seed of the clusters' k-means (recorded in the run's aggregates).
pub const CLUSTER_SEED: u64 = 20_251_231;

/// What the relationship stage adds to a run besides its columns.
#[derive(Debug, Default)]
pub struct Relationship {
    /// Tables for the run: `matrix`, `top_tier_watch`, `segments`, `clusters`.
    pub tables: Vec<Table>,
    /// For `aggregates.json`: the strength model, the grid, the clustering.
    pub aggregates: Json,
    /// Headlines for `summary.json` (`ror`, propensity's AUCs), or why they were skipped.
    pub headlines: Vec<(String, Result<rapport_measures::Headline, String>)>,
    /// Warnings for `summary.json`: what the reader of these results should know.
    pub warnings: Vec<String>,
}

fn internal(error: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(error.to_string())
}

fn column_or_nan(table: &CustomerTable, name: &str) -> Vec<f64> {
    table.f64(name).map_or_else(|| vec![f64::NAN; table.len()], <[f64]>::to_vec)
}

/// What the relationship stage reads of each customer's events besides the customer
/// table, one list per input, each in the table's row order: from [`CustomerEvents`] and
/// the timelines here, or from the DataFusion plans of the same aggregation on another
/// engine (docs/scaling.md, "What has to move").
///
/// A list per input, not a struct per customer: the plans deliver each input as its own
/// list, which moves in here as it is; and the stage frees each input once it is used
/// (strength's after the strength index, the rhythms after the lapses), where a struct
/// per customer was held whole until the last of its fields was read. Zipping the plans'
/// lists into one held both at once: about 0.6 KB a customer, 1.3 GiB at a million
/// customers on DataFusion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerInputs {
    /// UTC seconds of the first event (longevity, and the strength model's split).
    pub first_event: Vec<Option<i64>>,
    /// UTC seconds of the last non-negative purchase row (RFM's recency).
    pub last_purchase: Vec<Option<i64>>,
    /// Distinct local days with a non-negative purchase row (RFM's frequency).
    pub purchase_days: Vec<u32>,
    /// Conversations (a clusters' input).
    pub conversations: Vec<u32>,
    /// Engagement events (a clusters' input).
    pub engagement: Vec<u32>,
    /// Strength's factors' inputs at the split and at the end, and the spend after the split.
    pub strength: Vec<StrengthInputs>,
    /// The rhythm of purchase days a lapse reads (none without a purchase).
    pub rhythm: Vec<Option<Rhythm>>,
    /// The risk signals since the top tier's watch window began, in [`Signal`]'s order.
    pub signals: Vec<Vec<Signal>>,
    /// What ROR reads of the customer's purchases, conversations, costs and programs.
    pub ror: Vec<RorInputs>,
    /// What the playbook's built-in rules read (all `None` where the timelines are read
    /// when the proposals are made).
    pub playbook: Vec<Option<Box<PlaybookFacts>>>,
}

impl CustomerInputs {
    /// The inputs of the customers' event columns (in row order) with the other inputs'
    /// lists, which have one entry per customer in the same order.
    pub fn of(
        events: &[CustomerEvents],
        strength: Vec<StrengthInputs>,
        rhythm: Vec<Option<Rhythm>>,
        signals: Vec<Vec<Signal>>,
        ror: Vec<RorInputs>,
        playbook: Vec<Option<Box<PlaybookFacts>>>,
    ) -> CustomerInputs {
        let count = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
        CustomerInputs {
            first_event: events.iter().map(|events| events.first_event).collect(),
            last_purchase: events.iter().map(|events| events.last_purchase).collect(),
            purchase_days: events.iter().map(|events| count(events.purchase_days)).collect(),
            conversations: events.iter().map(|events| count(events.conversations)).collect(),
            engagement: events.iter().map(|events| count(events.engagement)).collect(),
            strength,
            rhythm,
            signals,
            ror,
            playbook,
        }
    }
}

/// What the relationship stage reads besides the customer table.
#[derive(Debug)]
pub struct Context<'a> {
    /// The customers, in the customer table's order.
    pub customers: crate::customers::Customers<'a>,
    /// The observation end, UTC seconds.
    pub as_of: i64,
    /// The workspace's zone.
    pub zone: Zone,
    /// `rapport.toml`.
    pub config: &'a WorkspaceConfig,
    /// The customer table of the previous `analyze` run.
    pub previous: Option<&'a RecordBatch>,
    /// Preferred channel and consent, one per timeline (`None`: not stated), or empty
    /// without a customers file.
    pub consent: &'a [Option<Consent>],
    /// Actions of earlier runs.
    pub history: &'a ActionHistory,
    /// Referrals naming the referred customer: (referrer, referred) ids.
    pub referrals: &'a [(String, String)],
    /// Interval confidence.
    pub confidence: f64,
    /// Days after a program contact in which a purchase counts as a response.
    pub uplift_days: i64,
    /// Whether P(alive) carries information. It does not when the lifetime-value fit put
    /// a parameter on its boundary or did not converge (P(alive) ≈ 1 for everyone): then
    /// `win_back` and the watch list read a lapse instead ([`rapport_action::lapse`]).
    pub p_alive_informative: bool,
}

/// Add the relationship columns to `table` (one row per timeline, same order).
pub fn add(
    table: &mut CustomerTable,
    context: &Context<'_>,
    inputs: CustomerInputs,
    (windows, gap_counts, needs): (Windows, &BTreeMap<i64, u64>, NeedCounts),
    planned: Option<crate::analyze::PlannedPropensity>,
) -> Result<Relationship, EngineError> {
    let Context { customers, as_of, zone, config, previous, .. } = *context;
    let mut tables = Vec::new();
    let n = customers.len();

    // Predicted spend over the next 52 weeks, where the run has the models.
    let expected = column_or_nan(table, "expected_purchases_52_weeks");
    let spend_per_purchase = column_or_nan(table, "expected_average_spend");
    let predicted: Vec<f64> = expected.iter().zip(&spend_per_purchase).map(|(a, b)| a * b).collect();
    table.push_f64("predicted_spend_52_weeks", predicted.clone())?;
    // A column's worth of memory (80 MB at 10M customers) each: the intermediate lists of
    // this stage are dropped as soon as they are used, not held to its end beside the
    // timelines, where they made the analysis's peak.
    drop((expected, spend_per_purchase));

    // Each sub-stage's time, with RAPPORT_TIMINGS=1.
    let started = std::time::Instant::now();
    let lap = |what: &str| tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "relationship: {what} done");

    // Strength.
    // Learned on the customers known at the split (their first event at or before it).
    let CustomerInputs {
        first_event,
        last_purchase,
        purchase_days,
        conversations,
        engagement,
        strength: strength_inputs,
        rhythm,
        signals,
        ror: ror_inputs,
        playbook: playbook_facts,
    } = inputs;
    let first = first_event.iter().flatten().min().copied().unwrap_or(as_of);
    let (split, period) = split_of(as_of, PERIOD_DAYS, first);
    let known: Vec<&StrengthInputs> = first_event
        .iter()
        .zip(&strength_inputs)
        .filter(|(time, _)| time.is_some_and(|time| time <= split))
        .map(|(_, inputs)| inputs)
        .collect();
    let raw: Vec<[Option<f64>; 6]> = known.iter().map(|inputs| inputs.at_split.raw(split)).collect();
    let spend: Vec<i128> = known.iter().map(|inputs| inputs.spend_after_split).collect();
    let model = learn_from(&raw, &spend, split, period);
    drop((known, raw, spend));
    let factors = scale(&strength_inputs.iter().map(|inputs| inputs.at_end.raw(as_of)).collect::<Vec<_>>());
    drop(strength_inputs);
    let strength: Vec<f64> = factors.iter().map(|row| model.index(row)).collect();
    table.push_f64("strength", strength.clone())?;
    table.push("strength_level", Arc::new(StringArray::from(strength.iter().map(|&s| level(s)).collect::<Vec<_>>())))?;
    let top: Vec<String> = factors.iter().map(|row| model.top_factors(row, 2).join(", ")).collect();
    table.push("top_factors", Arc::new(StringArray::from(top)))?;
    drop(factors);

    lap("strength");
    // The matrix.
    let matrix_config = config.matrix.as_ref();
    let (longevity_bands, strength_bands) = (MatrixConfig::longevity_bands(matrix_config), MatrixConfig::strength_bands(matrix_config));
    let longevity: Vec<i64> = first_event.iter().map(|first| first.map_or(0, |time| (as_of - time).max(0) / DAY)).collect();
    drop(first_event);
    let net_spend = column_or_nan(table, "net_spend");
    let clv = column_or_nan(table, "clv");
    let p_alive = column_or_nan(table, "p_alive");
    let placed_customers: Vec<Placed> = (0..n)
        .map(|i| Placed {
            longevity_days: longevity[i],
            strength: strength[i],
            net_spend: net_spend[i],
            predicted_spend: predicted[i],
            clv: clv[i],
            p_alive: p_alive[i],
        })
        .collect();
    let placed = place(&placed_customers, longevity_bands, strength_bands);
    table.push_f64("longevity_days", longevity.iter().map(|&d| d as f64).collect())?;
    table.push("longevity_band", Arc::new(UInt32Array::from(placed.iter().map(|p| p.0).collect::<Vec<_>>())))?;
    table.push("strength_band", Arc::new(UInt32Array::from(placed.iter().map(|p| p.1).collect::<Vec<_>>())))?;
    let mut warnings = Vec::new();
    warnings.extend(empty_bands(
        "the Customer Matrix's longevity band",
        placed.iter().map(|p| p.0),
        longevity_bands,
        &longevity,
        "longevity",
        &|days| format!("{days} days"),
    ));
    let strength_keys: Vec<Ranked> = strength.iter().map(|&s| Ranked(s)).collect();
    warnings.extend(empty_bands(
        "the Customer Matrix's strength band",
        placed.iter().map(|p| p.1),
        strength_bands,
        &strength_keys,
        "strength",
        &|value| format!("{:.1}", value.0),
    ));
    drop(strength_keys);
    let mut grid =
        if placed_customers.is_empty() { Vec::new() } else { cells(&placed_customers, &placed, longevity_bands, strength_bands) };
    // Where the fit's P(alive) says nothing (0.9998 in "Lost"), its means are left blank,
    // as the watch list leaves each customer's (the run's warning says why).
    if !context.p_alive_informative {
        grid.iter_mut().for_each(|cell| cell.mean_p_alive = f64::NAN);
    }
    drop((placed_customers, longevity, predicted));
    if !grid.is_empty() {
        tables.push(matrix_table(&grid));
    }

    // The top tier and its risk signals.
    let tier_text = MatrixConfig::top_tier(matrix_config);
    let tier = evaluate_condition(table, &tier_text, "[matrix] top_tier")?;
    table.push("top_tier", Arc::new(BooleanArray::from(tier.clone())))?;
    let watch_days = i64::from(MatrixConfig::watch_days(matrix_config));
    let previous_p_alive = previous.and_then(previous_p_alive);
    // Where P(alive) says nothing, a lapse takes its place (the rule and each customer's).
    let today = zone.local_seconds(ParsedTime::Instant(as_of)).div_euclid(DAY);
    let lapse_rule = match context.p_alive_informative {
        true => None,
        false => LapseRule::from_gap_counts(gap_counts).map(|rule| {
            let lapses: Vec<Option<Lapse>> =
                rhythm.par_iter().map(|rhythm| rhythm.and_then(|rhythm| rule.lapse_of(&rhythm, today))).collect();
            (rule, lapses)
        }),
    };
    let lapses = lapse_rule.as_ref().map(|(rule, lapses)| (rule, lapses.as_slice()));
    drop(rhythm);
    let watch = watch_list(customers, &signals, &tier, &p_alive, previous_p_alive.as_ref(), lapses, watch_days, zone);
    // Where P(alive) says nothing (the lapse speaks instead), the watch list leaves it
    // blank rather than show 0.99 beside "lapsing".
    drop(signals);
    let shown_p_alive = context.p_alive_informative.then_some(p_alive.as_slice());
    tables.push(watch_table(&watch, customers, &placed, &strength, &clv, shown_p_alive));

    lap("matrix and watch list");
    // RFM.
    let currency: Currency = config.currency.parse().unwrap_or(Currency::USD);
    let end_day = zone.local_seconds(ParsedTime::Instant(as_of)).div_euclid(DAY);
    let rfm: Vec<Option<RfmInput>> =
        (0..n).map(|i| rfm_input(last_purchase[i], purchase_days[i], net_spend[i], end_day, zone, currency)).collect();
    drop((last_purchase, purchase_days));
    let scored: Vec<usize> = (0..n).filter(|&i| rfm[i].is_some()).collect();
    let rfm_inputs: Vec<RfmInput> = scored.iter().filter_map(|&i| rfm[i]).collect();
    let scores = score(&rfm_inputs);
    {
        let recency: Vec<i64> = rfm_inputs.iter().map(|input| -input.recency_days).collect();
        let frequency: Vec<u32> = rfm_inputs.iter().map(|input| input.purchase_days).collect();
        warnings.extend(empty_bands(
            "the RFM recency score",
            scores.iter().map(|score| u32::from(score.recency)),
            5,
            &recency,
            "days since the last purchase",
            &|days| format!("{} days", -days),
        ));
        warnings.extend(empty_bands(
            "the RFM frequency score",
            scores.iter().map(|score| u32::from(score.frequency)),
            5,
            &frequency,
            "days with a purchase",
            &|days| format!("{days} day{}", if days == 1 { "" } else { "s" }),
        ));
    }
    drop(rfm_inputs);
    let mut per_customer = vec![None; n];
    for (&i, score) in scored.iter().zip(scores) {
        per_customer[i] = Some(score);
    }
    let score_column = |pick: &dyn Fn(&rapport_action::rfm::RfmScore) -> u32| -> ArrayRef {
        Arc::new(UInt32Array::from(per_customer.iter().map(|s| s.as_ref().map(pick)).collect::<Vec<_>>()))
    };
    table.push("recency_score", score_column(&|s| u32::from(s.recency)))?;
    table.push("frequency_score", score_column(&|s| u32::from(s.frequency)))?;
    table.push("monetary_score", score_column(&|s| u32::from(s.monetary)))?;
    table
        .push("rfm_code", Arc::new(StringArray::from(per_customer.iter().map(|s| s.map(|s| s.code().to_string())).collect::<Vec<_>>())))?;
    let segment: Vec<Option<&str>> = per_customer.iter().map(|s| s.map(|s| s.segment())).collect();
    table.push("segment", Arc::new(StringArray::from(segment.clone())))?;
    drop(per_customer);

    lap("RFM");
    // Clusters of the customers who bought.
    let features: Vec<[f64; 5]> = scored
        .iter()
        .map(|&i| {
            let input = rfm[i].unwrap_or(RfmInput { recency_days: 0, purchase_days: 0, monetary_minor: 0 });
            [
                input.recency_days as f64,
                f64::from(input.purchase_days).ln_1p(),
                net_spend[i].max(0.0).ln_1p(),
                f64::from(conversations[i]).ln_1p(),
                f64::from(engagement[i]).ln_1p(),
            ]
        })
        .collect();
    drop((rfm, conversations, engagement));
    // The playbook's built-in proposals, made here from what they read (every input is
    // known by now) so that its facts (a couple of hundred bytes a customer) are not held
    // through propensity, where the analysis peaks; the few proposals are.
    let builtin = {
        let on_watch: std::collections::HashSet<usize> = watch.iter().map(|(i, _)| *i).collect();
        let previous_silence = previous.and_then(previous_silence);
        let facts = Facts {
            tier: &tier,
            on_watch: &on_watch,
            p_alive: &p_alive,
            net_spend: &net_spend,
            strength: &strength,
            clv: &clv,
            previous: previous_p_alive.as_ref(),
            lapses,
            previous_silence: previous_silence.as_ref(),
            playbook: &playbook_facts,
        };
        builtin_proposals_of(context, &facts, needs)
    };
    drop(playbook_facts);
    let points = Points { values: features.iter().flatten().copied().collect(), dims: 5 };
    let clustering = cluster(&points.standardised(), 2..=8, 2_000, CLUSTER_SEED);
    drop(points);
    let mut cluster_column: Vec<Option<u32>> = vec![None; n];
    let mut cluster_json = Json::Null;
    if let Some(clustering) = &clustering {
        // Number clusters by mean net spend, highest first, so that 1 is the most valuable.
        let mut spend = vec![(0.0, 0_usize); clustering.k];
        for (position, &label) in clustering.labels.iter().enumerate() {
            spend[label].0 += net_spend[scored[position]].max(0.0);
            spend[label].1 += 1;
        }
        let mut order: Vec<usize> = (0..clustering.k).collect();
        order.sort_by(|&a, &b| (spend[b].0 / spend[b].1.max(1) as f64).total_cmp(&(spend[a].0 / spend[a].1.max(1) as f64)));
        let mut number = vec![0_u32; clustering.k];
        for (rank, &label) in order.iter().enumerate() {
            number[label] = rank as u32 + 1;
        }
        for (position, &label) in clustering.labels.iter().enumerate() {
            cluster_column[scored[position]] = Some(number[label]);
        }
        tables.push(clusters_table(&features, &clustering.labels, &number, clustering.k));
        cluster_json = json!({
            "k": clustering.k,
            "silhouette": clustering.silhouette,
            "tried": clustering.tried.iter().map(|(k, s)| json!({"k": k, "silhouette": s})).collect::<Vec<_>>(),
            "features": ["recency_days", "ln(1 + purchase_days)", "ln(1 + net_spend)", "ln(1 + conversations)", "ln(1 + engagement)"],
            "seed": CLUSTER_SEED,
            "silhouette_sample": clustering.labels.len().min(2_000),
            "k_chosen_on": clustering.labels.len().min(rapport_action::kmeans::SELECTION_POINTS),
        });
    }
    table.push("cluster", Arc::new(UInt32Array::from(cluster_column.clone())))?;
    let rfm_customers = scored.len();
    drop((scored, features, clustering));

    lap("clusters");
    // Return on Relationship (before the user segments and the playbook, which may read it).
    let ror = crate::ror::add(
        table,
        &crate::ror::Inputs {
            ids: customers,
            customers: &ror_inputs,
            referrals: context.referrals,
            clv: &clv,
            segment: &segment,
            cells: &placed,
            costs: config.costs.as_ref(),
            confidence: context.confidence,
            currency: &config.currency,
            minor: 10f64.powi(currency.minor_digits() as i32),
        },
    )?;
    tables.extend(ror.table);
    drop(ror_inputs);

    lap("ROR");
    // Purchase and churn propensity (also before the segments and the playbook).
    let horizon = i64::from(rapport_core::config::PropensityConfig::horizon_days(config.propensity.as_ref()));
    // On an engine, the plans found the cut-offs' facts: propensity's three, and the
    // response's (the observation end's again, then one before each program).
    let (cutoffs, response_planned) = match planned {
        None => (None, None),
        Some(crate::analyze::PlannedPropensity { mut cutoffs, programs }) => {
            let mut response = Vec::new();
            if !programs.is_empty() {
                response.push(cutoffs.get(2).cloned().unwrap_or_default());
                response.extend(cutoffs.drain(3.min(cutoffs.len())..));
            }
            (Some(cutoffs), Some(crate::analyze::PlannedPropensity { cutoffs: response, programs }))
        }
    };
    let propensity = crate::propensity::add(table, customers.timelines(), cutoffs, as_of, zone, horizon, context.confidence)?;
    tables.extend(propensity.tables);
    lap("propensity");
    // Propensity to respond to each program.
    let response = crate::propensity::add_response(
        table,
        customers.timelines(),
        response_planned,
        as_of,
        zone,
        context.uplift_days,
        context.confidence,
    )?;
    tables.extend(response.tables);
    lap("response to programs");
    // User-defined segments, each a true/false column (after next_action; the playbook's
    // rules may read them).
    let mut user: Vec<(String, Vec<bool>)> = Vec::new();
    for (name, condition) in &config.segments {
        let member = evaluate_condition(table, condition.get_ref(), &format!("[segments] {name}"))?;
        user.push((name.clone(), member));
    }
    let mut with_segments = table.clone();
    for (name, member) in &user {
        with_segments.push(name, Arc::new(BooleanArray::from(member.clone())))?;
    }

    lap("user segments");
    // The playbook.
    let (actions, action_json) = playbook(&with_segments, context, builtin)?;
    let mut next: Vec<Option<String>> = vec![None; n];
    for action in actions.iter().filter(|action| !action.control) {
        next[action.row] = Some(action.action.clone());
    }
    table.push("next_action", Arc::new(StringArray::from(next)))?;
    tables.push(actions_table(&actions, customers));
    for (name, member) in &user {
        table.push(name, Arc::new(BooleanArray::from(member.clone())))?;
    }
    // Where P(alive) says nothing, the segments' means of it are blank too.
    let blank = vec![f64::NAN; if context.p_alive_informative { 0 } else { p_alive.len() }];
    let shown_p_alive = if context.p_alive_informative { &p_alive } else { &blank };
    tables.push(segments_table(&segment, &cluster_column, &user, (&net_spend, &clv, shown_p_alive), currency.minor_digits()));

    lap("playbook");
    // Alerts on the leading indicators.
    let (indicators, alert_json) = indicator_alerts(&windows, as_of, zone);
    drop(windows);
    tables.push(indicators);

    lap("alerts");
    let aggregates = json!({
        "strength": {
            "factors": FACTORS,
            "weights": model.weights,
            "learned": model.learned,
            "note": model.note,
            "customers_at_split": model.customers,
            "split": rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(model.split))),
            "spearman_index_vs_next_period_spend": model.spearman,
        },
        "matrix": { "longevity_bands": longevity_bands, "strength_bands": strength_bands, "top_tier": tier_text, "watch_days": watch_days },
        "rfm_customers": rfm_customers,
        "clusters": cluster_json,
        "actions": action_json,
        "alerts": alert_json,
        "ror": ror.aggregates,
        "propensity": propensity.aggregates,
        "program_response": response.aggregates,
        "segments": config.segments.iter().map(|(name, condition)| (name.clone(), Json::String(condition.get_ref().clone()))).collect::<serde_json::Map<_, _>>(),
    });
    warnings.extend(ror.warnings);
    let mut headlines = vec![("ror".to_string(), ror.headline)];
    headlines.extend(propensity.headlines);
    headlines.extend(response.headlines);
    Ok(Relationship { tables, aggregates, headlines, warnings })
}

/// RFM's view of a customer: `None` without a purchase (a positive or zero amount).
/// RFM's inputs of a customer with a purchase: days since the local day of the last one,
/// local days with one, and the net spend (`net_spend`, the customer table's: summed
/// exactly, rounded once) in minor units.
fn rfm_input(
    last_purchase: Option<i64>,
    purchase_days: u32,
    net_spend: f64,
    end_day: i64,
    zone: Zone,
    currency: Currency,
) -> Option<RfmInput> {
    let last = zone.local_day(last_purchase?);
    let monetary_minor = if net_spend.is_finite() { (net_spend * 10f64.powi(currency.minor_digits() as i32)).round() as i64 } else { 0 };
    Some(RfmInput { recency_days: end_day - last, purchase_days, monetary_minor })
}

/// Evaluate a condition over every row of the customer table (NaN and nulls are NULL).
fn evaluate_condition(table: &CustomerTable, text: &str, what: &str) -> Result<Vec<bool>, EngineError> {
    Ok(evaluate_with_values(table, text, what)?.into_iter().map(|matched| matched.is_some()).collect())
}

/// Evaluate a condition over every row: for the rows where it is true, the values of the
/// columns it reads (`net_spend = 612.3, p_alive = 0.44`).
fn evaluate_with_values(table: &CustomerTable, text: &str, what: &str) -> Result<Vec<Option<String>>, EngineError> {
    let expression = Expression::parse_condition(text).map_err(|error| EngineError::Request(format!("{what} in rapport.toml: {error}")))?;
    let batch = table.to_record_batch();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for name in expression.columns() {
        let index = batch
            .schema()
            .index_of(name)
            .map_err(|_| EngineError::Request(format!("{what} in rapport.toml reads {name:?}, which the customer table does not have")))?;
        arrays.push(batch.column(index).clone());
    }
    let options = FormatOptions::default();
    let rows = batch.num_rows();
    // Formatters are not Sync: each chunk of rows makes its own.
    let chunks: Vec<Result<Vec<Option<String>>, EngineError>> = (0..rows.div_ceil(65_536))
        .into_par_iter()
        .map(|chunk| {
            let formatters: Vec<ArrayFormatter> =
                arrays.iter().map(|array| ArrayFormatter::try_new(array.as_ref(), &options)).collect::<Result<_, _>>().map_err(internal)?;
            (chunk * 65_536..((chunk + 1) * 65_536).min(rows))
                .map(|row| {
                    let cells: Vec<Option<String>> = arrays
                        .iter()
                        .zip(&formatters)
                        .map(|(array, formatter)| {
                            let nan = array
                                .as_primitive_opt::<arrow::datatypes::Float64Type>()
                                .is_some_and(|values| values.is_valid(row) && values.value(row).is_nan());
                            (array.is_valid(row) && !nan).then(|| formatter.value(row).to_string())
                        })
                        .collect();
                    let field = |index: usize| cells.get(index).and_then(|cell| cell.as_deref());
                    let keep = expression.keeps(&field, Default::default()).map_err(|error| {
                        EngineError::Request(format!("{what} in rapport.toml: {} (found {:?})", error.expected, error.value))
                    })?;
                    Ok(keep.then(|| {
                        expression
                            .columns()
                            .iter()
                            .zip(&cells)
                            .map(|(name, cell)| format!("{name} = {}", cell.as_deref().unwrap_or("NULL")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }))
                })
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(rows);
    for chunk in chunks {
        out.extend(chunk?);
    }
    Ok(out)
}

fn previous_p_alive(batch: &RecordBatch) -> Option<HashMap<String, f64>> {
    previous_numbers(batch, "p_alive")
}

/// Days since the last purchase at the previous analysis, by customer id.
fn previous_silence(batch: &RecordBatch) -> Option<HashMap<String, f64>> {
    previous_numbers(batch, "days_since_last_purchase")
}

/// A number column of an earlier customer table by customer id (its values, where
/// valid and finite).
fn previous_numbers(batch: &RecordBatch, column: &str) -> Option<HashMap<String, f64>> {
    let ids = batch.column_by_name("customer_id")?;
    let values = batch.column_by_name(column)?.as_primitive_opt::<arrow::datatypes::Float64Type>()?;
    let text = |row: usize| -> Option<String> {
        ids.as_string_opt::<i64>()
            .map(|ids| ids.value(row).to_string())
            .or_else(|| ids.as_string_opt::<i32>().map(|ids| ids.value(row).to_string()))
    };
    Some(
        (0..batch.num_rows())
            .filter(|&row| values.is_valid(row) && values.value(row).is_finite())
            .filter_map(|row| Some((text(row)?, values.value(row))))
            .collect(),
    )
}

/// Why some bands (1 … `bands`) hold no customers, when they do not: customers with equal
/// values share a band (`rapport_action::rank::bands`), so a value shared by more than one
/// customer in `bands` fills its band and can leave the next one empty (most customers of
/// a short export bought once). `subject` names the bands ("the Customer Matrix's
/// strength band"), `what` the value; the values shared that widely are named, with how
/// many share each.
fn empty_bands<T: Ord + Copy>(
    subject: &str,
    placed: impl Iterator<Item = u32>,
    bands: u32,
    values: &[T],
    what: &str,
    show: &dyn Fn(T) -> String,
) -> Option<String> {
    let n = values.len();
    if n < bands as usize * 2 {
        return None;
    }
    let mut filled = vec![false; bands as usize];
    placed.for_each(|band| filled[band.clamp(1, bands) as usize - 1] = true);
    let empty: Vec<String> = (1..=bands).filter(|band| !filled[*band as usize - 1]).map(|band| band.to_string()).collect();
    if empty.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    // A tie spans a band when its rank step, size / (n − 1), exceeds a band's width.
    let mut wide: Vec<(usize, T)> =
        sorted.chunk_by(|a, b| a == b).filter(|tie| tie.len() * bands as usize > n - 1).map(|tie| (tie.len(), tie[0])).collect();
    wide.sort_by_key(|tie| std::cmp::Reverse(tie.0));
    let named: Vec<String> = wide
        .iter()
        .take(3)
        .map(|&(count, value)| format!("{} ({count} customers, {:.0}%)", show(value), 100.0 * count as f64 / n as f64))
        .collect();
    let ties = match wide.len() {
        0 => String::new(),
        1 => format!("; one value of {what} is shared by more than one customer in {bands}: {}", named[0]),
        more => format!(
            "; {more} values of {what} are each shared by more than one customer in {bands}: {}{}",
            join_and(&named),
            if more > 3 { ", and others" } else { "" }
        ),
    };
    Some(format!(
        "{subject}{} {} of 1–{bands} hold{} no customers of the {n}: customers with equal {what} share a band{ties}; read it as the bands it shows",
        if empty.len() == 1 { "" } else { "s" },
        join_and(&empty),
        if empty.len() == 1 { "s" } else { "" },
    ))
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A top-tier customer's new risk signals since the watch window began (`watch_days`
/// before the end; the customers' [`Signal`]s were read from that time).
#[allow(clippy::too_many_arguments)]
fn watch_list(
    customers: crate::customers::Customers<'_>,
    risk_signals: &[Vec<Signal>],
    tier: &[bool],
    p_alive: &[f64],
    previous: Option<&HashMap<String, f64>>,
    lapses: Option<(&LapseRule, &[Option<Lapse>])>,
    watch_days: i64,
    zone: Zone,
) -> Vec<(usize, Vec<String>)> {
    (0..customers.len())
        .into_par_iter()
        .filter(|&i| tier[i])
        .filter_map(|i| {
            let mut signals = Vec::new();
            if let Some(before) = previous.and_then(|previous| previous.get(customers.id(i)))
                && p_alive[i].is_finite()
                && p_alive[i] < before - 0.1
            {
                signals.push(format!("P(alive) fell from {before:.2} to {:.2}", p_alive[i]));
            }
            // Without an informative P(alive): a silence that passed the customer's lapse
            // threshold within the watch window.
            if let Some((rule, lapses)) = lapses
                && let Some(lapse) = lapses[i]
                && lapse.crossed_within(watch_days)
            {
                signals.push(format!("lapsing: {}", lapse.describe(rule)));
            }
            signals.extend(risk_signals[i].iter().map(|signal| signal.describe(zone)));
            (!signals.is_empty()).then_some((i, signals))
        })
        .collect()
}

fn watch_table(
    watch: &[(usize, Vec<String>)],
    customers: crate::customers::Customers<'_>,
    placed: &[(u32, u32)],
    strength: &[f64],
    clv: &[f64],
    // None where P(alive) is uninformative: the column is left blank.
    p_alive: Option<&[f64]>,
) -> Table {
    Table::new("top_tier_watch")
        .column("customer_id", Values::Text(watch.iter().map(|(i, _)| Some(customers.id(*i).to_string())).collect()))
        .column("longevity_band", Values::Count(watch.iter().map(|(i, _)| u64::from(placed[*i].0)).collect()))
        .column("strength_band", Values::Count(watch.iter().map(|(i, _)| u64::from(placed[*i].1)).collect()))
        .column("strength", Values::Number(watch.iter().map(|(i, _)| strength[*i]).collect()))
        .column("clv", Values::Number(watch.iter().map(|(i, _)| clv[*i]).collect()))
        .column("p_alive", Values::Number(watch.iter().map(|(i, _)| p_alive.map_or(f64::NAN, |p_alive| p_alive[*i])).collect()))
        .column("signals", Values::Count(watch.iter().map(|(_, s)| s.len() as u64).collect()))
        .column("reasons", Values::Text(watch.iter().map(|(_, s)| Some(s.join("; "))).collect()))
}

fn matrix_table(grid: &[rapport_action::matrix::Cell]) -> Table {
    let number = |pick: &dyn Fn(&rapport_action::matrix::Cell) -> f64| Values::Number(grid.iter().map(pick).collect());
    Table::new("matrix")
        .column("longevity_band", Values::Count(grid.iter().map(|c| u64::from(c.longevity_band)).collect()))
        .column("strength_band", Values::Count(grid.iter().map(|c| u64::from(c.strength_band)).collect()))
        .column("customers", Values::Count(grid.iter().map(|c| c.customers).collect()))
        .column("customers_predicted", Values::Count(grid.iter().map(|c| c.customers_predicted).collect()))
        .column("share_of_customers", number(&|c| c.share_of_customers))
        .column("longevity_days_min", number(&|c| c.longevity_days_min))
        .column("longevity_days_max", number(&|c| c.longevity_days_max))
        .column("strength_min", number(&|c| c.strength_min))
        .column("strength_max", number(&|c| c.strength_max))
        .column("net_spend", number(&|c| c.net_spend))
        .column("predicted_spend_52_weeks", number(&|c| c.predicted_spend))
        .column("predicted_spend_per_customer", number(&|c| c.predicted_spend_per_customer))
        .column("clv", number(&|c| c.clv))
        .column("share_of_value", number(&|c| c.share_of_value))
        .column("mean_p_alive", number(&|c| c.mean_p_alive))
}

fn clusters_table(features: &[[f64; 5]], labels: &[usize], number: &[u32], k: usize) -> Table {
    let mut sums = vec![[0.0; 5]; k];
    let mut counts = vec![0_u64; k];
    for (row, &label) in features.iter().zip(labels) {
        counts[label] += 1;
        for d in 0..5 {
            sums[label][d] += row[d];
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by_key(|&label| number[label]);
    let mean = |d: usize, back: &dyn Fn(f64) -> f64| {
        Values::Number(order.iter().map(|&label| back(sums[label][d] / counts[label].max(1) as f64)).collect())
    };
    // Means of the log features are shown back on their scale (geometric means − 1).
    let unlog = |value: f64| value.exp_m1();
    Table::new("clusters")
        .column("cluster", Values::Count(order.iter().map(|&label| u64::from(number[label])).collect()))
        .column("customers", Values::Count(order.iter().map(|&label| counts[label]).collect()))
        .column("mean_recency_days", mean(0, &|v| v))
        .column("typical_purchase_days", mean(1, &unlog))
        .column("typical_net_spend", mean(2, &unlog))
        .column("typical_conversations", mean(3, &unlog))
        .column("typical_engagement", mean(4, &unlog))
}

/// Customers, net spend, CLV, P(alive) sum and count of one segment.
/// Customers, net spend and CLV in exact millionths, P(alive) sum and count.
type Group = (u64, i128, i128, f64, u64);

fn segments_table(
    rfm: &[Option<&str>],
    clusters: &[Option<u32>],
    user: &[(String, Vec<bool>)],
    (net_spend, clv, p_alive): (&[f64], &[f64], &[f64]),
    minor_digits: u32,
) -> Table {
    // (kind, segment) → customers, net spend, clv, p_alive sum and count.
    let mut groups: BTreeMap<(u8, String), Group> = BTreeMap::new();
    let n = net_spend.len();
    let mut add = |key: (u8, String), i: usize| {
        let entry = groups.entry(key).or_default();
        entry.0 += 1;
        // Money is summed exactly and rounded once to the minor unit, so equal totals print
        // equal (and 12.30 as 12.3, not 12.299999999999999).
        entry.1 += if net_spend[i].is_finite() { i128::from(rapport_core::summary::to_micros(net_spend[i])) } else { 0 };
        entry.2 += if clv[i].is_finite() { i128::from(rapport_core::summary::to_micros(clv[i])) } else { 0 };
        if p_alive[i].is_finite() {
            entry.3 += p_alive[i];
            entry.4 += 1;
        }
    };
    for i in 0..n {
        if let Some(segment) = rfm[i] {
            let order = rapport_action::rfm::SEGMENTS.iter().position(|s| *s == segment).unwrap_or(99);
            add((0, format!("{order:02}{segment}")), i);
        }
        if let Some(cluster) = clusters[i] {
            add((1, format!("{cluster:02}")), i);
        }
        for (name, members) in user {
            if members[i] {
                add((2, name.clone()), i);
            }
        }
    }
    // RFM and clusters cover the customers who bought; user segments every customer.
    let scored = rfm.iter().filter(|segment| segment.is_some()).count().max(1) as f64;
    let total = n.max(1) as f64;
    let kinds = ["rfm", "cluster", "user"];
    let label = |(kind, key): &(u8, String)| match kind {
        0 => key[2..].to_string(),
        1 => format!("cluster {}", key.trim_start_matches('0')),
        _ => key.clone(),
    };
    Table::new("segments")
        .column("kind", Values::Text(groups.keys().map(|(kind, _)| Some(kinds[*kind as usize].to_string())).collect()))
        .column("segment", Values::Text(groups.keys().map(|key| Some(label(key))).collect()))
        .column("customers", Values::Count(groups.values().map(|g| g.0).collect()))
        .column(
            "share_of_customers",
            Values::Number(groups.iter().map(|((kind, _), g)| g.0 as f64 / if *kind == 2 { total } else { scored }).collect()),
        )
        .column("net_spend", Values::Number(groups.values().map(|g| micros_to_minor(g.1, minor_digits)).collect()))
        .column("clv", Values::Number(groups.values().map(|g| micros_to_minor(g.2, minor_digits)).collect()))
        .column("mean_p_alive", Values::Number(groups.values().map(|g| if g.4 > 0 { g.3 / g.4 as f64 } else { f64::NAN }).collect()))
}

/// Which run's segments to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentsRequest {
    /// The workspace.
    pub workspace: std::path::PathBuf,
    /// The run (default: the latest).
    pub run: Option<String>,
    /// Include customers without a purchase (their RFM columns empty).
    pub all: bool,
    /// An earlier run to compare with: the moves between segments.
    pub compare: Option<String>,
}

/// A run's segments.
#[derive(Debug)]
pub struct SegmentsReport {
    /// The run read.
    pub run: rapport_store::runs::RunInfo,
    /// Per customer: `customer_id, recency_score, frequency_score, monetary_score,
    /// rfm_code, segment, cluster` and one true/false column per user-defined segment.
    pub customers: RecordBatch,
    /// The run's `segments` table: sizes and value of every segment.
    pub sizes: RecordBatch,
    /// With `compare`: `kind, from, to, customers, net_spend` (an empty side: not in
    /// that run, or not in that segment).
    pub migration: Option<RecordBatch>,
    /// Segments rapport.toml defines that the run has no column for (defined after it):
    /// the next `analyze` adds them.
    pub not_in_run: Vec<String>,
}

/// The columns `analyze` writes for segments, before the user-defined ones.
const SEGMENT_COLUMNS: [&str; 7] = ["customer_id", "recency_score", "frequency_score", "monetary_score", "rfm_code", "segment", "cluster"];

fn read_run_table(workspace: &rapport_store::workspace::Workspace, run: &str, name: &str) -> Result<RecordBatch, EngineError> {
    let path = workspace.run_directory(run).join(format!("{name}.parquet"));
    Ok(rapport_store::input::read_parquet_file(&path)?)
}

/// A run's `aggregates.json`.
fn read_aggregates(workspace: &rapport_store::workspace::Workspace, run: &str) -> Result<Json, EngineError> {
    let path = workspace.run_directory(run).join("aggregates.json");
    std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| EngineError::Request(format!("{} is missing or unreadable", path.display())))
}

fn analysis_run(
    workspace: &rapport_store::workspace::Workspace,
    id: Option<&str>,
    what: &str,
) -> Result<rapport_store::runs::RunInfo, EngineError> {
    let run = workspace.run(id)?;
    let directory = workspace.run_directory(&run.id);
    if !directory.join("matrix.parquet").is_file() {
        return Err(EngineError::Request(format!(
            "run {} ({}) has no {what}: it was not written by this version's `rapport analyze`; run `rapport analyze --workspace {}`",
            run.id,
            run.command,
            workspace.root().display()
        )));
    }
    Ok(run)
}

/// The warnings of an `analyze` run about its lifetime-value fit (a parameter on its
/// boundary, a fit that did not converge): the commands that read the run's P(alive), CLV,
/// matrix, segments' value, actions or propensity repeat them, since those rest on the fit.
pub fn fit_warnings(workspace: &std::path::Path, run: &str) -> Vec<String> {
    run_warnings(workspace, run, "fit is not well identified")
}

/// The warnings of an `analyze` run about its Customer Matrix (bands that hold no
/// customers): `rapport matrix` repeats them beside the grid.
pub fn matrix_warnings(workspace: &std::path::Path, run: &str) -> Vec<String> {
    run_warnings(workspace, run, "the Customer Matrix's")
}

/// The warnings of an `analyze` run about its RFM scores (scores that hold no customers):
/// `rapport segments` repeats them.
pub fn rfm_warnings(workspace: &std::path::Path, run: &str) -> Vec<String> {
    run_warnings(workspace, run, "the RFM ")
}

/// The warnings of a run that contain `about`, each prefixed with the run.
fn run_warnings(workspace: &std::path::Path, run: &str, about: &str) -> Vec<String> {
    let path = workspace.join("results").join(run).join("summary.json");
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(summary) = serde_json::from_str::<Json>(&text) else { return Vec::new() };
    summary["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .filter(|warning| warning.contains(about))
        .map(|warning| format!("run {run}: {warning}"))
        .collect()
}

/// The user-defined segment columns of a customer table: the true/false columns after
/// `cluster`.
fn user_segments(batch: &RecordBatch) -> Vec<String> {
    let schema = batch.schema();
    let Ok(start) = schema.index_of("cluster") else { return Vec::new() };
    schema
        .fields()
        .iter()
        .skip(start + 1)
        .filter(|field| field.data_type() == &arrow::datatypes::DataType::Boolean)
        .map(|field| field.name().clone())
        .collect()
}

/// Read a run's segments.
pub fn segments(request: &SegmentsRequest) -> Result<SegmentsReport, EngineError> {
    let workspace = rapport_store::workspace::Workspace::open(&request.workspace)?;
    let run = analysis_run(&workspace, request.run.as_deref(), "segments")?;
    let table = read_run_table(&workspace, &run.id, "customers")?;
    let select = |table: &RecordBatch| -> Result<RecordBatch, EngineError> {
        let mut names: Vec<String> = SEGMENT_COLUMNS.iter().map(|name| name.to_string()).collect();
        names.extend(user_segments(table));
        let indexes = names.iter().map(|name| table.schema().index_of(name).map_err(internal)).collect::<Result<Vec<_>, _>>()?;
        table.project(&indexes).map_err(internal)
    };
    let mut customers = select(&table)?;
    if !request.all {
        let scored = arrow::compute::is_not_null(customers.column(4).as_ref()).map_err(internal)?;
        customers = arrow::compute::filter_record_batch(&customers, &scored).map_err(internal)?;
    }
    let sizes = read_run_table(&workspace, &run.id, "segments")?;
    let migration = match &request.compare {
        None => None,
        Some(compare) => {
            let earlier_run = analysis_run(&workspace, Some(compare), "segments")?;
            check_order(&run, &earlier_run)?;
            let earlier = read_run_table(&workspace, &earlier_run.id, "customers")?;
            Some(segment_migration(&earlier, &table)?)
        }
    };
    let in_run = user_segments(&table);
    let not_in_run = workspace.config().segments.keys().filter(|name| !in_run.contains(name)).cloned().collect();
    Ok(SegmentsReport { run, customers, sizes, migration, not_in_run })
}

fn ids_of(batch: &RecordBatch) -> Result<Vec<String>, EngineError> {
    let column = batch.column_by_name("customer_id").ok_or_else(|| internal("no customer_id column"))?;
    let options = FormatOptions::default();
    let formatter = ArrayFormatter::try_new(column.as_ref(), &options).map_err(internal)?;
    Ok((0..batch.num_rows()).map(|row| formatter.value(row).to_string()).collect())
}

/// Each row's value of a column as text (`None` when null or absent).
fn texts_of(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, EngineError> {
    let Some(column) = batch.column_by_name(name) else { return Ok(vec![None; batch.num_rows()]) };
    let options = FormatOptions::default();
    let formatter = ArrayFormatter::try_new(column.as_ref(), &options).map_err(internal)?;
    Ok((0..batch.num_rows()).map(|row| column.is_valid(row).then(|| formatter.value(row).to_string())).collect())
}

fn numbers_of(batch: &RecordBatch, name: &str) -> Vec<f64> {
    batch.column_by_name(name).and_then(|column| column.as_primitive_opt::<arrow::datatypes::Float64Type>()).map_or_else(
        || vec![f64::NAN; batch.num_rows()],
        |values| (0..values.len()).map(|row| if values.is_valid(row) { values.value(row) } else { f64::NAN }).collect(),
    )
}

fn segment_migration(earlier: &RecordBatch, later: &RecordBatch) -> Result<RecordBatch, EngineError> {
    let earlier_ids = ids_of(earlier)?;
    let later_ids = ids_of(later)?;
    let spend = numbers_of(later, "net_spend");
    let earlier_row: HashMap<&str, usize> = earlier_ids.iter().enumerate().map(|(row, id)| (id.as_str(), row)).collect();
    let later_set: std::collections::HashSet<&str> = later_ids.iter().map(String::as_str).collect();
    let mut kinds: Vec<(String, String)> = vec![("rfm".into(), "segment".into()), ("cluster".into(), "cluster".into())];
    let mut names = user_segments(later);
    for name in user_segments(earlier) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    kinds.extend(names.into_iter().map(|name| ("user".to_string(), name)));
    // Spend summed exactly, in millionths (each customer's is already in minor units), so
    // a total prints as the sum of its parts rather than 32741.249999999996.
    let mut moves: BTreeMap<(String, String, String), (u64, i64)> = BTreeMap::new();
    for (kind, column) in &kinds {
        let before = texts_of(earlier, column)?;
        let after = texts_of(later, column)?;
        // A user segment's column says true or false; show the segment's name for true.
        let label = |value: &Option<String>| -> Option<String> {
            match (kind.as_str(), value.as_deref()) {
                (_, None) => None,
                ("user", Some("true")) => Some(column.clone()),
                ("user", Some(_)) => None,
                ("cluster", Some(number)) => Some(format!("cluster {number}")),
                (_, Some(value)) => Some(value.to_string()),
            }
        };
        // Named rather than left blank: outside a user segment, no RFM segment or cluster
        // (no purchase), a customer the earlier run did not have, one the later run lacks.
        let none = if kind == "user" { "(outside)" } else { "(none)" };
        for (row, id) in later_ids.iter().enumerate() {
            let (from, new) = match earlier_row.get(id.as_str()) {
                Some(&e) => (label(&before[e]), false),
                None => (None, true),
            };
            let to = label(&after[row]);
            if from.is_none() && to.is_none() {
                continue;
            }
            let from = if new { "(new customer)".to_string() } else { from.unwrap_or_else(|| none.to_string()) };
            let entry = moves.entry((kind.clone(), from, to.unwrap_or_else(|| none.to_string()))).or_default();
            entry.0 += 1;
            entry.1 += if spend[row].is_finite() { (spend[row] * 1e6).round() as i64 } else { 0 };
        }
        for (row, id) in earlier_ids.iter().enumerate() {
            if !later_set.contains(id.as_str())
                && let Some(from) = label(&before[row])
            {
                moves.entry((kind.clone(), from, "(not in this run)".to_string())).or_default().0 += 1;
            }
        }
    }
    rapport_store::output::TableBuilder::default()
        .text("kind", moves.keys().map(|key| key.0.as_str()))
        .text("from", moves.keys().map(|key| key.1.as_str()))
        .text("to", moves.keys().map(|key| key.2.as_str()))
        .count("customers", moves.values().map(|value| value.0))
        .float("net_spend", moves.values().map(|value| value.1 as f64 / 1e6))
        .build()
        .map_err(EngineError::from)
}

/// Which run's matrix to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixRequest {
    /// The workspace.
    pub workspace: std::path::PathBuf,
    /// The run (default: the latest).
    pub run: Option<String>,
    /// An earlier run to compare with.
    pub compare: Option<String>,
}

/// A run's Customer Matrix.
#[derive(Debug, Clone)]
pub struct MatrixReport {
    /// The run read.
    pub run: rapport_store::runs::RunInfo,
    /// The run compared with.
    pub compare: Option<rapport_store::runs::RunInfo>,
    /// The cells (`matrix.parquet`).
    pub cells: RecordBatch,
    /// Top-tier customers with new risk signals (`top_tier_watch.parquet`).
    pub watch: RecordBatch,
    /// The strength model and the grid's settings (from `aggregates.json`).
    pub settings: Json,
    /// With `compare`: `from_longevity_band, from_strength_band, to_longevity_band,
    /// to_strength_band, customers, value` (empty bands: not in that run).
    pub migration: Option<RecordBatch>,
    /// With `compare`: every customer who moved up or slipped a strength band:
    /// `customer_id, direction, from_cell, to_cell, strength_before, strength, value`.
    pub movers: Option<RecordBatch>,
    /// With `compare`: customers by direction (moved_up, slipped, stayed, new, gone).
    pub directions: BTreeMap<String, u64>,
}

/// A customer's cell, value and strength.
type Placement = ((u32, u32), f64, f64);

fn cells_of(batch: &RecordBatch) -> Result<(Vec<String>, HashMap<String, Placement>), EngineError> {
    let ids = ids_of(batch)?;
    let band = |name: &str| -> Result<Vec<u32>, EngineError> {
        let column = batch
            .column_by_name(name)
            .and_then(|column| column.as_primitive_opt::<arrow::datatypes::UInt32Type>())
            .ok_or_else(|| internal(format!("no {name} column")))?;
        Ok((0..column.len()).map(|row| column.value(row)).collect())
    };
    let (longevity, strength_band) = (band("longevity_band")?, band("strength_band")?);
    let (spend, clv, strength) = (numbers_of(batch, "net_spend"), numbers_of(batch, "clv"), numbers_of(batch, "strength"));
    let finite = |value: f64| if value.is_finite() { value } else { 0.0 };
    let map = ids
        .iter()
        .enumerate()
        .map(|(row, id)| (id.clone(), ((longevity[row], strength_band[row]), finite(spend[row]) + finite(clv[row]), strength[row])))
        .collect();
    Ok((ids, map))
}

/// A customer who changed strength band: id, direction, cells, strengths, value.
type Mover = (String, rapport_action::matrix::Direction, (u32, u32), (u32, u32), f64, f64, f64);

/// Moves are read from an earlier run to a later one: `earlier`'s observation end must
/// not be after `run`'s.
fn check_order(run: &rapport_store::runs::RunInfo, earlier: &rapport_store::runs::RunInfo) -> Result<(), EngineError> {
    let (now, then) = (run.options["as_of"].as_str().unwrap_or(""), earlier.options["as_of"].as_str().unwrap_or(""));
    if then > now {
        return Err(EngineError::Request(format!(
            "--compare {}: that run is as of {then}, after this one ({now}); compare with an earlier run, or pass --run {} --compare {}",
            earlier.id, earlier.id, run.id
        )));
    }
    Ok(())
}

/// Two runs compare when the earlier one's observation end is not after the later one's
/// and both cut the same grid (band numbers of different grids do not compare).
fn check_comparable(
    workspace: &rapport_store::workspace::Workspace,
    run: &rapport_store::runs::RunInfo,
    earlier: &rapport_store::runs::RunInfo,
    settings: &Json,
) -> Result<(), EngineError> {
    check_order(run, earlier)?;
    let aggregates = read_aggregates(workspace, &earlier.id).unwrap_or(Json::Null);
    let grid = |settings: &Json| (settings["matrix"]["longevity_bands"].as_u64(), settings["matrix"]["strength_bands"].as_u64());
    let (a, b) = (grid(settings), grid(&aggregates["relationship"]));
    if a != b {
        return Err(EngineError::Request(format!(
            "--compare {}: that run's grid is {} × {} bands and this one's {} × {}; moves compare only on the same grid (set [matrix] back, or analyze again)",
            earlier.id,
            b.0.unwrap_or(0),
            b.1.unwrap_or(0),
            a.0.unwrap_or(0),
            a.1.unwrap_or(0)
        )));
    }
    Ok(())
}

/// Read a run's matrix, and with `compare` how customers moved since an earlier run.
pub fn matrix(request: &MatrixRequest) -> Result<MatrixReport, EngineError> {
    use rapport_action::matrix::{Direction, direction, migration};
    let workspace = rapport_store::workspace::Workspace::open(&request.workspace)?;
    let run = analysis_run(&workspace, request.run.as_deref(), "Customer Matrix")?;
    let cells = read_run_table(&workspace, &run.id, "matrix")?;
    let watch = read_run_table(&workspace, &run.id, "top_tier_watch")?;
    let settings = read_aggregates(&workspace, &run.id)?["relationship"].clone();
    let mut report =
        MatrixReport { run, compare: None, cells, watch, settings, migration: None, movers: None, directions: BTreeMap::new() };
    let Some(compare) = &request.compare else { return Ok(report) };
    let earlier_run = analysis_run(&workspace, Some(compare), "Customer Matrix")?;
    check_comparable(&workspace, &report.run, &earlier_run, &report.settings)?;
    let later = read_run_table(&workspace, &report.run.id, "customers")?;
    let earlier = read_run_table(&workspace, &earlier_run.id, "customers")?;
    let (later_ids, later_cells) = cells_of(&later)?;
    let (earlier_ids, earlier_cells) = cells_of(&earlier)?;
    let to_moves = |cells: &HashMap<String, ((u32, u32), f64, f64)>| -> HashMap<String, ((u32, u32), f64)> {
        cells.iter().map(|(id, (cell, value, _))| (id.clone(), (*cell, *value))).collect()
    };
    let (earlier_moves, later_moves) = (to_moves(&earlier_cells), to_moves(&later_cells));
    let moves = migration(&borrow(&earlier_moves), &borrow(&later_moves));
    let band = |cell: Option<(u32, u32)>, pick: fn((u32, u32)) -> u32| cell.map(|cell| u64::from(pick(cell)));
    let bands = |pick: fn(&rapport_action::matrix::Move) -> Option<(u32, u32)>, axis: fn((u32, u32)) -> u32| -> ArrayRef {
        Arc::new(arrow::array::UInt64Array::from(moves.iter().map(|m| band(pick(m), axis)).collect::<Vec<_>>()))
    };
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("from_longevity_band", arrow::datatypes::DataType::UInt64, true),
        arrow::datatypes::Field::new("from_strength_band", arrow::datatypes::DataType::UInt64, true),
        arrow::datatypes::Field::new("to_longevity_band", arrow::datatypes::DataType::UInt64, true),
        arrow::datatypes::Field::new("to_strength_band", arrow::datatypes::DataType::UInt64, true),
        arrow::datatypes::Field::new("customers", arrow::datatypes::DataType::UInt64, false),
        arrow::datatypes::Field::new("value", arrow::datatypes::DataType::Float64, false),
    ]));
    report.migration = Some(
        RecordBatch::try_new(
            schema,
            vec![
                bands(|m| m.from, |c| c.0),
                bands(|m| m.from, |c| c.1),
                bands(|m| m.to, |c| c.0),
                bands(|m| m.to, |c| c.1),
                Arc::new(arrow::array::UInt64Array::from(moves.iter().map(|m| m.customers).collect::<Vec<_>>())),
                Arc::new(arrow::array::Float64Array::from(moves.iter().map(|m| m.value).collect::<Vec<_>>())),
            ],
        )
        .map_err(internal)?,
    );
    let name = |d: Direction| serde_json::to_value(d).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let mut movers: Vec<Mover> = Vec::new();
    for id in &later_ids {
        let (to, value, strength) = later_cells[id];
        let before = earlier_cells.get(id);
        let way = direction(before.map(|b| b.0), Some(to));
        *report.directions.entry(name(way)).or_default() += 1;
        if let (Some(before), Direction::MovedUp | Direction::Slipped) = (before, way) {
            movers.push((id.clone(), way, before.0, to, before.2, strength, value));
        }
    }
    let gone = earlier_ids.iter().filter(|id| !later_cells.contains_key(*id)).count() as u64;
    if gone > 0 {
        report.directions.insert(name(Direction::Gone), gone);
    }
    let cell_text = |cell: (u32, u32)| format!("L{}-S{}", cell.0, cell.1);
    report.movers = Some(
        rapport_store::output::TableBuilder::default()
            .text("customer_id", movers.iter().map(|m| m.0.as_str()))
            .text("direction", movers.iter().map(|m| name(m.1)))
            .text("from_cell", movers.iter().map(|m| cell_text(m.2)))
            .text("to_cell", movers.iter().map(|m| cell_text(m.3)))
            .float("strength_before", movers.iter().map(|m| m.4))
            .float("strength", movers.iter().map(|m| m.5))
            .float("value", movers.iter().map(|m| m.6))
            .build()
            .map_err(EngineError::from)?,
    );
    report.compare = Some(earlier_run);
    Ok(report)
}

fn borrow(map: &HashMap<String, ((u32, u32), f64)>) -> HashMap<&str, ((u32, u32), f64)> {
    map.iter().map(|(id, value)| (id.as_str(), *value)).collect()
}

/// Per-customer facts the built-in rules read, beside the timelines.
struct Facts<'a> {
    tier: &'a [bool],
    on_watch: &'a std::collections::HashSet<usize>,
    p_alive: &'a [f64],
    net_spend: &'a [f64],
    strength: &'a [f64],
    clv: &'a [f64],
    previous: Option<&'a HashMap<String, f64>>,
    /// Where P(alive) says nothing: the lapse rule and each customer's lapse.
    lapses: Option<(&'a LapseRule, &'a [Option<Lapse>])>,
    /// Days since the last purchase at the previous analysis.
    previous_silence: Option<&'a HashMap<String, f64>>,
    /// What the built-in rules read of each customer's events.
    /// (`None`: read from the customer's timeline when the proposals are made.)
    playbook: &'a [Option<Box<PlaybookFacts>>],
}

/// Actions of earlier analyses: per customer, `(action, local day of the run's
/// observation end, control)`.
#[derive(Debug, Default)]
pub struct ActionHistory {
    sent: HashMap<String, Vec<(String, i64, bool)>>,
}

/// Read the actions of every earlier analysis run.
pub fn action_history(workspace: &rapport_store::workspace::Workspace) -> Result<ActionHistory, EngineError> {
    let mut history = ActionHistory::default();
    for run in workspace.runs()? {
        let path = workspace.run_directory(&run.id).join("actions.parquet");
        if !path.is_file() {
            continue;
        }
        let batch = rapport_store::input::read_parquet_file(&path)?;
        let ids = texts_of(&batch, "customer_id")?;
        let actions = texts_of(&batch, "action")?;
        let dates = texts_of(&batch, "as_of")?;
        let control = texts_of(&batch, "control")?;
        for row in 0..batch.num_rows() {
            let (Some(id), Some(action), Some(date)) = (&ids[row], &actions[row], &dates[row]) else { continue };
            let Ok(date) = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") else { continue };
            let day = date.signed_duration_since(chrono::NaiveDate::default()).num_days();
            // A boolean column, or the text "true" in runs written before it was one.
            history.sent.entry(id.clone()).or_default().push((action.clone(), day, control[row].as_deref() == Some("true")));
        }
    }
    Ok(history)
}

/// One action chosen for a customer.
#[derive(Debug, Clone)]
struct Action {
    row: usize,
    action: String,
    channel: String,
    priority: u8,
    reason: String,
    control: bool,
    key: String,
    as_of: String,
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A predictable support need: contacts within [`FOLLOW_DAYS`] after a kind of event.
#[derive(Debug, Clone, PartialEq)]
struct Need {
    trigger: &'static str,
    followed: u64,
    n: u64,
    lower: f64,
    upper: f64,
}

/// Learn which events are often followed by a contact: of the events at least
/// [`FOLLOW_DAYS`] before the observation end, the share followed by a conversation
/// within that many days (the customers' counts summed), with a Wilson interval; a
/// trigger qualifies with 30 events and a lower bound of 10% or more.
fn predictable_needs(counts: NeedCounts) -> Vec<Need> {
    TRIGGERS
        .iter()
        .zip(counts.0)
        .filter_map(|(&trigger, (followed, n))| {
            let interval = rapport_stats::intervals::wilson(followed, n, 0.95);
            (n >= 30 && interval.lower >= 0.10).then_some(Need { trigger, followed, n, lower: interval.lower, upper: interval.upper })
        })
        .collect()
}

/// The built-in rules' proposals for customer `i`.
#[allow(clippy::too_many_arguments)]
fn builtin_proposals(
    i: usize,
    customer: &str,
    timeline: Option<&Timeline>,
    facts: &Facts<'_>,
    as_of: i64,
    zone: Zone,
    needs: &[Need],
    valuable: f64,
) -> Vec<Proposal> {
    let local_date = |time: i64| {
        chrono::DateTime::from_timestamp(zone.local_seconds(ParsedTime::Instant(time)), 0).map(|t| t.date_naive()).unwrap_or_default()
    };
    let today = local_date(as_of);
    let recent = as_of - RECENT_DAYS * DAY;
    let rule = |action: &str| DEFAULT_RULES.iter().find(|(name, ..)| *name == action).copied().unwrap_or((action_name(action), 50, 30));
    let propose = |action: &str, reason: String| {
        let (_, priority, cooldown_days) = rule(action);
        Proposal { action: action.to_string(), priority, cooldown_days, channel: None, reason }
    };
    let mut proposals = Vec::new();
    let read;
    let events = match &facts.playbook[i] {
        Some(events) => events.as_ref(),
        // Read from the timeline on the embedded path (an engine's plans found every
        // customer's).
        None => {
            read = timeline.map(|timeline| PlaybookFacts::of(timeline, as_of)).unwrap_or_default();
            &read
        }
    };

    // service_recovery: an unresolved conversation that opened negative, recently.
    if let Some((start, channel)) = &events.complaint {
        proposals.push(propose(
            "service_recovery",
            format!("unresolved complaint on {channel}, opened {} ({} days ago)", local_date(*start), (as_of - start) / DAY),
        ));
    }
    // win_back: P(alive) has fallen below ½ (but not below 0.1: long gone is not falling)
    // for a customer in the top fifth by spend or in the top tier (whose watch list names
    // the same lapse: a watched customer with no action would be a signal left unanswered).
    let p = facts.p_alive[i];
    let top_spend = facts.net_spend[i] >= valuable && valuable > 0.0;
    let valued = top_spend || (facts.tier[i] && facts.net_spend[i] > 0.0);
    let why_valued = if top_spend {
        format!("net spend {:.2}, in the top 20% (from {valuable:.2})", facts.net_spend[i])
    } else {
        format!("net spend {:.2}, in the top tier", facts.net_spend[i])
    };
    if let Some((rule, lapses)) = facts.lapses {
        // P(alive) says nothing here (the fit sees no one leave): a lapse that began
        // since the previous analysis (or any, without one), not long gone.
        if let Some(lapse) = lapses[i]
            && lapse.is_lapsing()
            && valued
        {
            let before = facts.previous_silence.and_then(|previous| previous.get(customer)).copied();
            if before.is_none_or(|before| (before as i64) < lapse.threshold) {
                proposals.push(propose(
                    "win_back",
                    format!(
                        "{}; {why_valued}; P(alive) is not informative in this run (the fit sees no customer leave)",
                        lapse.describe(rule)
                    ),
                ));
            }
        }
    } else if p.is_finite() && (0.1..0.5).contains(&p) && valued {
        let before = facts.previous.and_then(|previous| previous.get(customer)).copied();
        if before.is_none_or(|before| before >= 0.5) {
            let was = before.map(|before| format!(" (was {before:.2} at the last analysis)")).unwrap_or_default();
            proposals.push(propose("win_back", format!("P(alive) {p:.2}{was}; {why_valued}")));
        }
    }
    // proactive_help: a recent event that is often followed by a contact, and no contact since.
    for need in needs {
        let last = match need.trigger {
            "article-view" => events.last_article_view,
            _ => events.last_orders.1,
        };
        if let Some(time) = last
            && time >= as_of - 3 * DAY
            && events.last_contact.is_none_or(|contact| contact <= time)
        {
            proposals.push(propose(
                "proactive_help",
                format!(
                    "{} on {}: {}s are followed by a contact within {FOLLOW_DAYS} days {:.0}% of the time (95% CI {:.0}–{:.0}%, n = {})",
                    need.trigger,
                    local_date(time),
                    need.trigger,
                    100.0 * need.followed as f64 / need.n as f64,
                    100.0 * need.lower,
                    100.0 * need.upper,
                    need.n
                ),
            ));
            break;
        }
    }
    // welcome_back: a recent order after a lapse of 180 days or more.
    if let (Some(before), Some(last)) = events.last_orders
        && last >= recent
        && last - before >= 180 * DAY
    {
        proposals.push(propose("welcome_back", format!("ordered on {} after {} days away", local_date(last), (last - before) / DAY)));
    }
    // thank_you: a milestone order or an anniversary of the first order in the last week.
    if let Some((n, time)) = events.new_milestone() {
        proposals.push(propose("thank_you", format!("{} order, on {}", ordinal(n), local_date(time))));
    } else if let Some(first) = events.first_order {
        use chrono::Datelike;
        let first_date = local_date(first);
        let years = today.year() - first_date.year();
        let anniversary = first_date.with_year(today.year()).or_else(|| first_date.with_day(28).and_then(|d| d.with_year(today.year())));
        if let Some(anniversary) = anniversary
            && years >= 1
            && anniversary <= today
            && (today - anniversary).num_days() < MILESTONE_DAYS
        {
            proposals.push(propose(
                "thank_you",
                format!("anniversary: {years} year{} since the first order ({first_date})", if years == 1 { "" } else { "s" }),
            ));
        }
    }
    // ask_for_review / ask_for_referral: a promoter's answer in the last 30 days.
    if let Some((time, score)) = events.last_nps
        && score >= 9.0
        && time >= as_of - 30 * DAY
    {
        let year = as_of - 365 * DAY;
        let reviewed = events.last_review.filter(|&review| review >= year);
        let referred = events.last_referral.is_some_and(|referral| referral >= year);
        match reviewed {
            None => proposals.push(propose("ask_for_review", format!("NPS {score} on {}; no review in the last year", local_date(time)))),
            Some(review) if !referred => proposals.push(propose(
                "ask_for_referral",
                format!("NPS {score} on {}; reviewed on {}; no referral in the last year", local_date(time), local_date(review)),
            )),
            Some(_) => {}
        }
    }
    // surprise_and_delight: the top tier without a risk signal. Being past the lapse
    // threshold (where a lapse stands in for P(alive)) or a P(alive) below ½ is one,
    // however long ago it began: the watch list sees only what changed in its window, and
    // a customer silent for years is no one to surprise.
    let lapsed = match facts.lapses {
        Some((_, lapses)) => lapses[i].is_some_and(|lapse| lapse.days_since >= lapse.threshold),
        None => facts.p_alive[i] < 0.5,
    };
    if facts.tier[i] && !facts.on_watch.contains(&i) && !lapsed && facts.net_spend[i] > 0.0 {
        let clv = if facts.clv[i].is_finite() { format!(", CLV {:.2}", facts.clv[i]) } else { String::new() };
        proposals.push(propose("surprise_and_delight", format!("top tier: strength {:.1}{clv}, no risk signal", facts.strength[i])));
    }
    proposals
}

fn action_name(action: &str) -> &'static str {
    DEFAULT_RULES.iter().find(|(name, ..)| *name == action).map_or("action", |(name, ..)| name)
}

/// Run the playbook: built-in and user rules, one action per customer, consent, cooldown,
/// frequency cap and control.
/// The built-in rules' proposals for every customer (none where `[actions] builtin` is
/// off), and the predictable needs learned for them.
fn builtin_proposals_of(context: &Context<'_>, facts: &Facts<'_>, needs: NeedCounts) -> Builtin {
    let Context { customers, as_of, zone, config, .. } = *context;
    if !ActionsConfig::builtin(config.actions.as_ref()) {
        return Builtin { proposals: vec![Vec::new(); customers.len()], needs: Vec::new() };
    }
    let needs = predictable_needs(needs);
    // "Valuable": the top fifth of customers who bought, by net spend.
    let mut spend: Vec<f64> = facts.net_spend.iter().copied().filter(|s| s.is_finite() && *s > 0.0).collect();
    spend.sort_by(f64::total_cmp);
    let valuable = if spend.is_empty() { f64::INFINITY } else { spend[(spend.len() * 4 / 5).min(spend.len() - 1)] };
    let timelines = customers.timelines();
    let proposals = (0..customers.len())
        .into_par_iter()
        .map(|i| builtin_proposals(i, customers.id(i), timelines.get(i), facts, as_of, zone, &needs, valuable))
        .collect();
    Builtin { proposals, needs }
}

/// What [`builtin_proposals_of`] makes.
struct Builtin {
    /// Per customer, in the timelines' order.
    proposals: Vec<Vec<Proposal>>,
    needs: Vec<Need>,
}

fn playbook(table: &CustomerTable, context: &Context<'_>, builtin: Builtin) -> Result<(Vec<Action>, Json), EngineError> {
    let Context { customers, as_of, zone, config, consent, history, .. } = *context;
    let settings = config.actions.as_ref();
    let (control_share, cap) = (ActionsConfig::control_share(settings), ActionsConfig::frequency_cap_days(settings));
    let local = zone.local_seconds(ParsedTime::Instant(as_of));
    let today = local.div_euclid(DAY);
    let as_of_date = rapport_core::time::format_local(local)[..10].to_string();
    let Builtin { proposals: builtin_proposals, needs } = builtin;
    let builtin = ActionsConfig::builtin(settings);
    let mut user: Vec<(usize, Vec<Option<String>>)> = Vec::new();
    for (index, rule) in config.playbook.iter().enumerate() {
        user.push((index, evaluate_with_values(table, rule.when.get_ref(), &format!("[[playbook]] {}", rule.action))?));
    }
    let no_consent = Consent::default();
    let actions: Vec<Action> = builtin_proposals
        .into_par_iter()
        .enumerate()
        .filter_map(|(i, mut proposals)| {
            let customer = customers.id(i);
            for (index, matched) in &user {
                if let Some(values) = &matched[i] {
                    let rule = &config.playbook[*index];
                    proposals.push(Proposal {
                        action: rule.action.clone(),
                        priority: rule.priority.as_ref().map_or(50, |p| *p.get_ref()),
                        cooldown_days: rule.cooldown_days.unwrap_or(30),
                        channel: rule.channel.as_ref().map(|c| c.get_ref().clone()),
                        reason: format!("{} ({values})", rule.when.get_ref()),
                    });
                }
            }
            if proposals.is_empty() {
                return None;
            }
            // Only actions of earlier observation ends count for cooldown and the cap.
            let sent: Vec<&(String, i64, bool)> =
                history.sent.get(customer).map(|sent| sent.iter().filter(|(_, day, _)| *day < today).collect()).unwrap_or_default();
            let days_since = |action: &str| sent.iter().filter(|(name, _, _)| name == action).map(|(_, day, _)| today - day).min();
            let days_since_any = sent.iter().filter(|(_, _, control)| !control).map(|(_, day, _)| today - day).min();
            let stated = consent.get(i).and_then(Option::as_ref).unwrap_or(&no_consent);
            let chosen = choose(&proposals, stated, &days_since, days_since_any, cap)?;
            let key = blake3::hash(format!("{customer}|{}|{as_of_date}", chosen.proposal.action).as_bytes());
            Some(Action {
                row: i,
                action: chosen.proposal.action,
                channel: chosen.channel,
                priority: chosen.proposal.priority,
                reason: chosen.proposal.reason,
                control: is_control(key.as_bytes(), control_share),
                key: key.to_hex()[..32].to_string(),
                as_of: as_of_date.clone(),
            })
        })
        .collect();
    let mut counts: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for action in &actions {
        let entry = counts.entry(action.action.as_str()).or_default();
        if action.control { entry.1 += 1 } else { entry.0 += 1 }
    }
    let json = json!({
        "builtin": builtin,
        "control_share": control_share,
        "frequency_cap_days": cap,
        "actions": counts.iter().map(|(name, (sent, held))| (name.to_string(), json!({"send": sent, "control": held}))).collect::<serde_json::Map<_, _>>(),
        "predictable_needs": needs.iter().map(|need| json!({"trigger": need.trigger, "followed_by_contact_within_days": FOLLOW_DAYS, "followed": need.followed, "n": need.n, "lower": need.lower, "upper": need.upper})).collect::<Vec<_>>(),
        "opted_out_customers": consent.iter().flatten().filter(|consent| consent.opted_out).count(),
    });
    Ok((actions, json))
}

fn actions_table(actions: &[Action], customers: crate::customers::Customers<'_>) -> Table {
    Table::new("actions")
        .column("customer_id", Values::Text(actions.iter().map(|a| Some(customers.id(a.row).to_string())).collect()))
        .column("action", Values::Text(actions.iter().map(|a| Some(a.action.clone())).collect()))
        .column("channel", Values::Text(actions.iter().map(|a| Some(a.channel.clone())).collect()))
        .column("priority", Values::Count(actions.iter().map(|a| u64::from(a.priority)).collect()))
        .column("reason", Values::Text(actions.iter().map(|a| Some(a.reason.clone())).collect()))
        .column("control", Values::Flag(actions.iter().map(|a| a.control).collect()))
        .column("idempotency_key", Values::Text(actions.iter().map(|a| Some(a.key.clone())).collect()))
        .column("as_of", Values::Text(actions.iter().map(|a| Some(a.as_of.clone())).collect()))
}

/// Which run's actions to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsRequest {
    /// The workspace.
    pub workspace: std::path::PathBuf,
    /// The run (default: the latest).
    pub run: Option<String>,
    /// Leave out the control group's rows.
    pub without_control: bool,
}

/// A run's actions: `customer_id, action, channel, priority, reason, control,
/// idempotency_key, as_of`, by priority.
pub fn actions(request: &ActionsRequest) -> Result<(rapport_store::runs::RunInfo, RecordBatch), EngineError> {
    let workspace = rapport_store::workspace::Workspace::open(&request.workspace)?;
    let run = analysis_run(&workspace, request.run.as_deref(), "actions")?;
    let path = workspace.run_directory(&run.id).join("actions.parquet");
    if !path.is_file() {
        return Err(EngineError::Request(format!(
            "run {} has no actions: it was written before the playbook existed; run `rapport analyze --workspace {}`",
            run.id,
            workspace.root().display()
        )));
    }
    let mut batch = read_run_table(&workspace, &run.id, "actions")?;
    if request.without_control {
        // A boolean column, or the text "true" in runs written before it was one.
        let control = texts_of(&batch, "control")?;
        let keep = BooleanArray::from(control.iter().map(|value| value.as_deref() != Some("true")).collect::<Vec<_>>());
        batch = arrow::compute::filter_record_batch(&batch, &keep).map_err(internal)?;
    }
    Ok((run, batch))
}

/// Control limits: k, baseline weekly windows, baseline daily windows.
const ALERT_K: f64 = 3.0;
const WEEKLY_BASELINE: usize = 12;
const DAILY_BASELINE: usize = 28;

/// An indicator: name, window days, each window's n, values, noise floor, baseline windows.
type Indicator<'a> = (&'static str, usize, &'a [f64], Vec<f64>, &'a dyn Fn(f64) -> f64, usize);
/// Whether an indicator's value is a count of events in its window (contacts,
/// engagements), not a share, a score or a time: printed as a whole number.
pub fn is_counted_indicator(name: &str) -> bool {
    matches!(name, "contacts_per_week" | "contacts_per_day" | "engagement_per_week")
}

/// The values an indicator can take.
fn indicator_range(name: &str) -> (f64, f64) {
    match name {
        "negative_contact_share" => (0.0, 1.0),
        "nps" => (-100.0, 100.0),
        _ => (0.0, f64::INFINITY),
    }
}

/// One window of an indicator: name, days, end, value, n, median, lower, upper, signal.
type IndicatorRow = (String, usize, String, f64, f64, f64, f64, f64, i8);

/// The leading indicators over 7-day windows (and contacts over days) ending at the
/// observation end, each window judged against the windows before it; the table of every
/// window and, for `aggregates.json`, the current alerts and each indicator's false
/// alarms over the history.
fn indicator_alerts(windows: &Windows, as_of: i64, zone: Zone) -> (Table, Json) {
    use rapport_action::alerts::judge;
    let Windows { contacts, contacts_daily, engagement, toned, nps, responses } = windows;
    let (contacts, contacts_daily, engagement) = (contacts.clone(), contacts_daily.clone(), engagement.clone());
    let typical = |counts: &[f64]| {
        let mut counts: Vec<f64> = counts.iter().copied().filter(|n| *n > 0.0).collect();
        counts.sort_by(f64::total_cmp);
        counts.get(counts.len() / 2).copied().unwrap_or(1.0).max(1.0)
    };
    let toned_n: Vec<f64> = toned.iter().map(|t| t.1).collect();
    let nps_n: Vec<f64> = nps.iter().map(|t| t.2).collect();
    let response_n: Vec<f64> = responses.iter().map(|(n, _)| *n).collect();
    let (typical_toned, typical_nps) = (typical(&toned_n), typical(&nps_n));
    let negative_share: Vec<f64> = toned.iter().map(|(negative, n)| if *n >= 20.0 { negative / n } else { f64::NAN }).collect();
    let nps_score: Vec<f64> = nps.iter().map(|(p, d, n)| if *n >= 30.0 { 100.0 * (p - d) / n } else { f64::NAN }).collect();
    // The weekly upper median of first responses, in hours, where 10 or more were replied.
    let response: Vec<f64> = responses
        .iter()
        .map(|&(n, median)| match median {
            Some(seconds) if n >= 10.0 => seconds as f64 / 3_600.0,
            _ => f64::NAN,
        })
        .collect();
    let poisson = |median: f64| median.max(1.0).sqrt();
    let share_floor = move |median: f64| (median.clamp(0.01, 0.99) * (1.0 - median.clamp(0.01, 0.99)) / typical_toned).sqrt();
    let nps_floor = move |_: f64| 100.0 / typical_nps.sqrt();
    // Reply times are judged on the log scale: they grow and shrink by factors (a week of
    // e-mail waiting out a weekend, a team short-staffed), and their weekly median mixes
    // channels that wait minutes with channels that wait hours, so on the hours scale a
    // quiet week often lands beyond limits drawn from 12 others (9.7 false alarms per 100
    // quiet weeks over five seeds of the synthetic brand; 3.8 on the log scale). The floor
    // is a tenth, as a ratio. A minute is the least time counted, so that a reply within
    // the second has a logarithm.
    // (`f64::max` would turn a week without enough replies, NaN, into a minute.)
    let response_log: Vec<f64> = response.iter().map(|&hours| if hours.is_nan() { f64::NAN } else { hours.max(1.0 / 60.0).ln() }).collect();
    let tenth = |_: f64| 0.1;
    let series: [Indicator<'_>; 6] = [
        ("contacts_per_week", 7, &contacts, contacts.clone(), &poisson, WEEKLY_BASELINE),
        ("contacts_per_day", 1, &contacts_daily, contacts_daily.clone(), &poisson, DAILY_BASELINE),
        ("negative_contact_share", 7, &toned_n, negative_share, &share_floor, WEEKLY_BASELINE),
        ("nps", 7, &nps_n, nps_score, &nps_floor, WEEKLY_BASELINE),
        ("engagement_per_week", 7, &engagement, engagement.clone(), &poisson, WEEKLY_BASELINE),
        ("first_response_hours_median", 7, &response_n, response_log, &tenth, WEEKLY_BASELINE),
    ];
    let date = |time: i64| rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(time)))[..10].to_string();
    let mut table: Vec<IndicatorRow> = Vec::new();
    let mut current = Vec::new();
    let mut history = serde_json::Map::new();
    let mut skipped = serde_json::Map::new();
    let mut latest_unjudged = serde_json::Map::new();
    let no_conversations = contacts.iter().chain(&contacts_daily).all(|n| *n == 0.0);
    for (name, length, ns, values, floor, baseline) in series {
        // An indicator with nothing to count (contacts on a brand without conversations,
        // NPS without NPS answers) is not judged: its zeros would sit inside limits drawn
        // from zeros and read as "in control". One whose windows never hold enough
        // answers to be measured is judged in no window either; both are named with why.
        let empty = ns.iter().all(|n| *n == 0.0);
        let never = values.iter().all(|value| value.is_nan());
        let conversational = !matches!(name, "nps" | "engagement_per_week");
        let reason = match (name, empty, never) {
            _ if conversational && no_conversations => Some("no conversations (interactions) before the observation end"),
            _ if ns.is_empty() => {
                Some(if length == 1 { "the history is shorter than a day" } else { "the history is shorter than 7 days" })
            }
            ("negative_contact_share", true, _) => Some("no conversation opens with a customer message scored for tone"),
            ("first_response_hours_median", true, _) => Some("no conversation has a reply after a customer message"),
            ("nps", true, _) => Some("no NPS answers before the observation end"),
            ("engagement_per_week", true, _) => Some("no social engagement before the observation end"),
            ("negative_contact_share", false, true) => Some("no 7-day window has 20 conversations scored for tone"),
            ("nps", false, true) => Some("no 7-day window has 30 NPS answers"),
            ("first_response_hours_median", false, true) => Some("no 7-day window has 10 replied conversations"),
            _ => None,
        };
        if let Some(reason) = reason {
            skipped.insert(name.to_string(), json!(reason));
            // The windows' counts still say how close the data came, when there are any.
            if empty {
                continue;
            }
        }
        // Windows before the indicator's first data are not part of its history: ten years
        // of purchases before the first conversation are not ten years of quiet contacts.
        let span = ns.iter().rposition(|n| *n > 0.0).map_or(0, |oldest| oldest + 1);
        let judged = judge(&values[..span], baseline, ALERT_K, floor);
        // The log-scale indicator goes back to hours for the table and the alerts.
        let on_log = name == "first_response_hours_median";
        let scale = |value: f64| if on_log { value.exp() } else { value };
        let judged: Vec<_> = judged
            .into_iter()
            .map(|mut judgement| {
                if on_log {
                    judgement.value = response[judgement.window];
                }
                // A limit beyond what the measure can take (fewer than no contacts, an NPS
                // above 100, a share above 1) is reported at the measure's bound: no value
                // passes either, so the signal is the same (judging is strict).
                let (least, most) = indicator_range(name);
                judgement.limits = judgement.limits.map(|limits| rapport_action::alerts::Limits {
                    median: scale(limits.median),
                    lower: scale(limits.lower).clamp(least, most),
                    upper: scale(limits.upper).clamp(least, most),
                });
                judgement
            })
            .collect();
        let (mut windows, mut alarms) = (0_u64, 0_u64);
        for judgement in &judged {
            let end = as_of - (judgement.window as i64) * (length as i64) * DAY;
            let (median, lower, upper) = judgement.limits.map_or((f64::NAN, f64::NAN, f64::NAN), |l| (l.median, l.lower, l.upper));
            table.push((
                name.to_string(),
                length,
                date(end),
                judgement.value,
                ns[judgement.window],
                median,
                lower,
                upper,
                judgement.signal,
            ));
            if judgement.window > 0 && judgement.limits.is_some() && judgement.value.is_finite() {
                windows += 1;
                alarms += u64::from(judgement.signal != 0);
            }
            if judgement.window == 0 && judgement.signal != 0 {
                current.push(json!({
                    "indicator": name,
                    "window_days": length,
                    "window_end": date(end),
                    "value": judgement.value,
                    "n": ns[0] as u64,
                    "baseline_median": median,
                    "lower": lower,
                    "upper": upper,
                    "direction": if judgement.signal > 0 { "up" } else { "down" },
                }));
            }
        }
        let unit = if length == 1 { "day" } else { "week" };
        let measured = |judgement: &rapport_action::alerts::Judged| judgement.limits.is_some() && judgement.value.is_finite();
        if !skipped.contains_key(name) && !judged.iter().any(measured) {
            skipped.insert(name.to_string(), json!(format!("no {unit} has {baseline} measured {unit}s before it to draw limits from")));
        }
        if skipped.contains_key(name) {
            continue;
        }
        // Judged over the history but not in the latest window: said, so that no alert is
        // not read as "in control".
        if let Some(latest) = judged.first().filter(|latest| !measured(latest)) {
            let reason = match latest.value.is_finite() {
                false => format!("too few in the latest {unit} to measure it (n = {})", ns[0] as u64),
                true => format!("fewer than {baseline} measured {unit}s before the latest"),
            };
            latest_unjudged.insert(name.to_string(), json!(reason));
        }
        history.insert(
            name.to_string(),
            json!({"windows_judged": windows, "alarms": alarms, "alarms_per_100_windows": if windows > 0 { 100.0 * alarms as f64 / windows as f64 } else { f64::NAN }}),
        );
    }
    let table = Table::new("indicators")
        .column("indicator", Values::Text(table.iter().map(|row| Some(row.0.clone())).collect()))
        .column("window_days", Values::Count(table.iter().map(|row| row.1 as u64).collect()))
        .column("window_end", Values::Text(table.iter().map(|row| Some(row.2.clone())).collect()))
        .column("value", Values::Number(table.iter().map(|row| row.3).collect()))
        // The windows' sizes are counts (contacts, scored conversations, answers, replies).
        .column("n", Values::Count(table.iter().map(|row| row.4 as u64).collect()))
        .column("baseline_median", Values::Number(table.iter().map(|row| row.5).collect()))
        .column("lower", Values::Number(table.iter().map(|row| row.6).collect()))
        .column("upper", Values::Number(table.iter().map(|row| row.7).collect()))
        .column("signal", Values::Integer(table.iter().map(|row| i64::from(row.8)).collect()));
    (
        table,
        json!({"k": ALERT_K, "weekly_baseline_windows": WEEKLY_BASELINE, "daily_baseline_windows": DAILY_BASELINE, "current": current, "history": history, "skipped": skipped, "latest_unjudged": latest_unjudged}),
    )
}

/// A run's alerts: the indicators outside their limits in the latest window, each
/// indicator's false alarms over the history, and the watched top tier.
#[derive(Debug, Clone)]
pub struct AlertsReport {
    /// The run read.
    pub run: rapport_store::runs::RunInfo,
    /// Current alerts (from `aggregates.json`).
    pub alerts: Json,
    /// Per indicator: windows judged and alarms over the history.
    pub history: Json,
    /// Indicators not judged, each with why (`{}` in runs written before it was recorded).
    pub skipped: Json,
    /// Indicators judged over the history but not in the latest window, each with why.
    pub latest_unjudged: Json,
    /// Top-tier customers with new risk signals.
    pub watch: RecordBatch,
}

/// Read a run's alerts.
pub fn alerts(request: &MatrixRequest) -> Result<AlertsReport, EngineError> {
    let workspace = rapport_store::workspace::Workspace::open(&request.workspace)?;
    let run = analysis_run(&workspace, request.run.as_deref(), "alerts")?;
    let aggregates = read_aggregates(&workspace, &run.id)?;
    let alerts = &aggregates["relationship"]["alerts"];
    if alerts.is_null() {
        return Err(EngineError::Request(format!(
            "run {} has no alerts: run `rapport analyze --workspace {}`",
            run.id,
            workspace.root().display()
        )));
    }
    let watch = read_run_table(&workspace, &run.id, "top_tier_watch")?;
    let object = |key: &str| if alerts[key].is_object() { alerts[key].clone() } else { json!({}) };
    Ok(AlertsReport {
        alerts: alerts["current"].clone(),
        history: alerts["history"].clone(),
        skipped: object("skipped"),
        latest_unjudged: object("latest_unjudged"),
        run,
        watch,
    })
}

/// What `rapport ror` and `rapport propensity` read from a run.
#[derive(Debug)]
pub struct ValueReport {
    /// The run read.
    pub run: rapport_store::runs::RunInfo,
    /// `ror.parquet`, the rows of `dimension` when one was asked for.
    pub ror: RecordBatch,
    /// `programs.parquet`, when the run has programs.
    pub programs: Option<RecordBatch>,
    /// `propensity.parquet`, `propensity_lift.parquet` and `propensity_calibration.parquet`,
    /// when propensity was learned.
    pub propensity: Option<[RecordBatch; 3]>,
    /// `program_response.parquet`, when a response to a program was learned.
    pub response: Option<RecordBatch>,
    /// `relationship.ror` and `relationship.propensity` of `aggregates.json`.
    pub settings: Json,
    /// Why Return on Relationship was not measured (the run's `skipped.ror`), when it was not.
    pub ror_skipped: Option<String>,
}

/// Which rows of a run's value tables.
#[derive(Debug, Clone)]
pub struct ValueRequest {
    /// The workspace.
    pub workspace: std::path::PathBuf,
    /// The run (default: the latest analysis).
    pub run: Option<String>,
    /// Only this dimension of `ror.parquet` (`all`, `segment`, `cell`, `channel`,
    /// `program`), or `customer`: each customer's value, cost and ROR.
    pub dimension: Option<String>,
}

/// Read a run's Return on Relationship, program and propensity tables.
pub fn value(request: &ValueRequest) -> Result<ValueReport, EngineError> {
    let workspace = rapport_store::workspace::Workspace::open(&request.workspace)?;
    let run = analysis_run(&workspace, request.run.as_deref(), "Return on Relationship")?;
    let aggregates = read_aggregates(&workspace, &run.id)?;
    let settings = json!({ "ror": aggregates["relationship"]["ror"], "propensity": aggregates["relationship"]["propensity"] });
    if settings["ror"].is_null() {
        return Err(EngineError::Request(format!(
            "run {} was written before Return on Relationship existed: run `rapport analyze --workspace {}` again",
            run.id,
            workspace.root().display()
        )));
    }
    let exists = |name: &str| workspace.run_directory(&run.id).join(format!("{name}.parquet")).exists();
    // A run that measured no ROR (no relationship cost) has no `ror` table:
    // `ror_skipped` says why, and each customer's value is in the customer table.
    let mut ror = if exists("ror") {
        read_run_table(&workspace, &run.id, "ror")?
    } else {
        RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()))
    };
    if request.dimension.as_deref() == Some("customer") {
        let customers = read_run_table(&workspace, &run.id, "customers")?;
        let columns = [
            "customer_id",
            "segment",
            "longevity_band",
            "strength_band",
            "value_realised",
            "value_referred",
            "value_predicted",
            "value",
            "relationship_cost",
            "ror",
        ];
        let indices: Vec<usize> = columns.iter().filter_map(|name| customers.schema().index_of(name).ok()).collect();
        ror = customers.project(&indices).map_err(internal)?;
    } else if let Some(dimension) = request.dimension.as_ref().filter(|_| ror.num_columns() > 0) {
        let column = ror.column_by_name("dimension").ok_or_else(|| internal("ror.parquet has no dimension"))?;
        let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).map_err(internal)?;
        let column = column.as_string::<i32>();
        let keep = BooleanArray::from((0..column.len()).map(|row| column.value(row) == dimension).collect::<Vec<_>>());
        ror = arrow::compute::filter_record_batch(&ror, &keep).map_err(internal)?;
    }
    let programs = if exists("programs") { Some(read_run_table(&workspace, &run.id, "programs")?) } else { None };
    let propensity = if exists("propensity") {
        Some([
            read_run_table(&workspace, &run.id, "propensity")?,
            read_run_table(&workspace, &run.id, "propensity_lift")?,
            read_run_table(&workspace, &run.id, "propensity_calibration")?,
        ])
    } else {
        None
    };
    let response = if exists("program_response") { Some(read_run_table(&workspace, &run.id, "program_response")?) } else { None };
    // Why Return on Relationship was not measured, when it was not (no relationship costs).
    let summary = std::fs::read(workspace.run_directory(&run.id).join("summary.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Json>(&bytes).ok())
        .unwrap_or(Json::Null);
    let ror_skipped = summary["skipped"]["ror"].as_str().map(str::to_string);
    Ok(ValueReport { run, ror, programs, propensity, response, settings, ror_skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Most customers of a short export share one strength: their band fills and its
    /// neighbours stay empty, which the run says with the share (quantile bands of tied
    /// values, `rapport_action::rank::bands`).
    #[test]
    fn empty_matrix_bands_are_explained() {
        let show = |value: i64| value.to_string();
        // 80 tied at the bottom, 20 distinct above: bands 1 and 5 only.
        let values: Vec<i64> = (0..100).map(|i| if i < 80 { 0 } else { i }).collect();
        let placed = rapport_action::rank::bands(&values, 5);
        assert_eq!(placed.iter().copied().collect::<std::collections::BTreeSet<u32>>(), [1, 5].into());
        let warning = empty_bands("strength band", placed.into_iter(), 5, &values, "strength", &show).expect("bands 2-4 are empty");
        assert_eq!(
            warning,
            "strength bands 2, 3 and 4 of 1–5 hold no customers of the 100: customers with equal strength share a band; one value of strength is shared by more than one customer in 5: 0 (80 customers, 80%); read it as the bands it shows"
        );
        // Three wide ties, the largest of them at the bottom where it empties nothing: each
        // is named, not only the largest (the tweets of a support export gave this shape).
        let values: Vec<i64> = (0..100)
            .map(|i| {
                if i < 35 {
                    1
                } else if i < 63 {
                    2
                } else if i < 67 {
                    3 + i
                } else {
                    100
                }
            })
            .collect();
        let placed = rapport_action::rank::bands(&values, 5);
        let warning = empty_bands("strength band", placed.into_iter(), 5, &values, "strength", &show).expect("bands are empty");
        assert!(warning.contains("3 values of strength are each shared by more than one customer in 5: 1 (35 customers, 35%), 100 (33 customers, 33%) and 2 (28 customers, 28%)"), "{warning}");
        // Distinct values fill every band; too few customers to fill them is not news.
        let distinct: Vec<i64> = (0..100).collect();
        assert_eq!(empty_bands("longevity band", rapport_action::rank::bands(&distinct, 5).into_iter(), 5, &distinct, "days", &show), None);
        assert_eq!(empty_bands("longevity band", [1, 5].into_iter(), 5, &[0, 1], "days", &show), None);
    }

    /// A top-tier customer with spend, off the watch list, gets surprise_and_delight only
    /// while P(alive) is ½ or more: one silent for years (P(alive) 0.05, which no recent
    /// change put on the watch list) has a risk signal, and is no one to surprise.
    #[test]
    fn surprise_and_delight_needs_a_customer_likely_alive() {
        let on_watch = std::collections::HashSet::new();
        let proposed = |p_alive: f64| {
            let facts = Facts {
                tier: &[true],
                on_watch: &on_watch,
                p_alive: &[p_alive],
                net_spend: &[500.0],
                strength: &[80.0],
                clv: &[120.0],
                previous: None,
                lapses: None,
                previous_silence: None,
                playbook: &[Some(Box::default())],
            };
            let as_of = 1_767_139_200; // 2025-12-31
            builtin_proposals(
                0,
                "c",
                Some(&Timeline { customer: "c".into(), ..Timeline::default() }),
                &facts,
                as_of,
                Zone::Utc,
                &[],
                f64::INFINITY,
            )
            .into_iter()
            .map(|proposal| proposal.action)
            .collect::<Vec<_>>()
        };
        assert_eq!(proposed(0.9), ["surprise_and_delight"]);
        assert!(proposed(0.05).is_empty());
        assert_eq!(proposed(f64::NAN), ["surprise_and_delight"], "no fit: no P(alive) to read");
    }

    /// A top-tier customer whose P(alive) is falling is won back even outside the top 20%
    /// by spend (the watch list names them); a customer in neither is not.
    #[test]
    fn win_back_reaches_the_top_tier() {
        let on_watch = std::collections::HashSet::from([0]);
        let proposed = |tier: bool| {
            let facts = Facts {
                tier: &[tier],
                on_watch: &on_watch,
                p_alive: &[0.3],
                net_spend: &[80.0],
                strength: &[80.0],
                clv: &[20.0],
                previous: None,
                lapses: None,
                previous_silence: None,
                playbook: &[Some(Box::default())],
            };
            builtin_proposals(
                0,
                "c",
                Some(&Timeline { customer: "c".into(), ..Timeline::default() }),
                &facts,
                1_767_139_200,
                Zone::Utc,
                &[],
                500.0,
            )
            .into_iter()
            .map(|proposal| (proposal.action, proposal.reason))
            .collect::<Vec<_>>()
        };
        assert_eq!(proposed(true), [("win_back".to_string(), "P(alive) 0.30; net spend 80.00, in the top tier".to_string())]);
        assert!(proposed(false).is_empty());
    }
}
