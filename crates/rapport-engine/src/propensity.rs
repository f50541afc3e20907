//! Purchase and churn propensity inside `analyze`: the models of
//! [`rapport_action::propensity`] trained and evaluated on a time split, the chosen one
//! scoring every customer (definitions in `docs/measures.md`).

use serde_json::{Value as Json, json};

use rapport_action::propensity::{
    Cut, Evaluation, FoundCut, HOLDOUT_ROWS, MINIMUM_CLASS, MODELS, Model, Snapshot, TRAINING_ROWS, baseline, cut, cut_of, evaluate,
    snapshot,
};
use rapport_core::table::CustomerTable;
use rapport_core::time::{ParsedTime, Zone};
use rapport_measures::table::{Table, Values};
use rapport_measures::{Headline, Timeline};

use crate::EngineError;

const DAY: i64 = 86_400;

/// Customers scored at a time: their features are held only while they are scored.
const SCORING_ROWS: usize = 65_536;

/// What propensity adds to a run besides its columns.
pub(crate) struct Outcome {
    /// `propensity`, `propensity_lift` and `propensity_calibration`.
    pub tables: Vec<Table>,
    /// For `aggregates.json`.
    pub aggregates: Json,
    /// `purchase_propensity_auc` and `purchase_propensity_auc_btyd`, or why not.
    pub headlines: Vec<(String, Result<Headline, String>)>,
}

/// The three cut-offs of the time split, earliest first: (UTC seconds, local day), a
/// `horizon` of days apart, the last at the observation end.
pub(crate) fn cutoffs(as_of: i64, zone: Zone, horizon: i64) -> [(i64, i64); 3] {
    let end_day = zone.local_seconds(ParsedTime::Instant(as_of)).div_euclid(DAY);
    [2, 1, 0].map(|k| (as_of - k * horizon * DAY, end_day - k * horizon))
}

/// Add `purchase_propensity`, `churn_propensity` and `purchase_probability_btyd` to
/// `table` (empty where the customer has not bought, or when the history is too short).
/// The cut-offs' facts come from `planned` (an engine's plans, at [`cutoffs`]) when
/// given, else from the timelines.
pub(crate) fn add(
    table: &mut CustomerTable,
    timelines: &[Timeline],
    planned: Option<crate::analyze::PlannedCutoffs>,
    as_of: i64,
    zone: Zone,
    horizon_days: i64,
    confidence: f64,
) -> Result<Outcome, EngineError> {
    let n = table.len();
    let mut purchase = vec![f64::NAN; n];
    let mut btyd = vec![f64::NAN; n];
    let found = match planned {
        None => Found::Timelines(timelines),
        Some(mut planned) => {
            referred_from(table, &mut planned);
            Found::Planned(planned)
        }
    };
    let outcome = learn(found, as_of, zone, horizon_days, confidence, &mut purchase, &mut btyd);
    table.push_f64("purchase_propensity", purchase.clone())?;
    table.push_f64("churn_propensity", purchase.iter().map(|p| 1.0 - p).collect())?;
    table.push_f64("purchase_probability_btyd", btyd)?;
    Ok(outcome)
}

/// The plans leave `referred` to the customer table, which has it.
fn referred_from(table: &CustomerTable, planned: &mut crate::analyze::PlannedCutoffs) {
    let referred = table.column("referred").and_then(|column| column.as_any().downcast_ref::<arrow::array::BooleanArray>());
    for (row, facts) in planned.iter_mut().flat_map(FoundCut::held_mut) {
        facts.referred = referred.is_some_and(|referred| row < referred.len() && referred.value(row));
    }
}

/// Which customers of the plans' cut-off `at` (propensity's three, earliest first, then
/// the response's) the steps of [`learn`] and [`add_response`] read whole: the earliest
/// trains on a sample, the holdout is judged on one and trains the final model on
/// another, and the rest score every customer.
#[cfg(feature = "sql")]
pub(crate) fn reads_of(at: usize) -> rapport_action::propensity::Reads {
    use rapport_action::propensity::Reads;
    match at {
        0 => Reads::Samples(&[TRAINING_ROWS]),
        1 => Reads::Samples(&[HOLDOUT_ROWS, TRAINING_ROWS]),
        _ => Reads::All,
    }
}

/// Where the cut-offs' facts come from.
enum Found<'a> {
    /// Read from the timelines, for the rows each step reads.
    Timelines(&'a [Timeline]),
    /// Found by the plans, every customer's at each cut-off (earliest first).
    Planned(crate::analyze::PlannedCutoffs),
}

fn learn(found: Found<'_>, as_of: i64, zone: Zone, horizon: i64, confidence: f64, purchase: &mut [f64], btyd: &mut [f64]) -> Outcome {
    let started = std::time::Instant::now();
    let lap = |what: &str| tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "propensity: {what}");
    let points = cutoffs(as_of, zone, horizon);
    // The cut-offs' customers and BG/NBD fits; features only for the rows each step reads
    // (seeded samples to train and judge, every customer a slice at a time to score).
    let (timelines, mut planned): (&[Timeline], Option<crate::analyze::PlannedCutoffs>) = match found {
        Found::Timelines(timelines) => (timelines, None),
        Found::Planned(planned) => (&[], Some(planned)),
    };
    let mut at = |k: usize, labelled: bool| -> Option<Cut> {
        let (cutoff, cutoff_day) = points[2 - k];
        match planned.as_mut() {
            None => cut(timelines, cutoff, cutoff_day, horizon, labelled),
            // Each cut-off's facts move into its cut.
            Some(planned) => cut_of(planned.get_mut(2 - k).map(std::mem::take).unwrap_or_default(), cutoff, cutoff_day, horizon, labelled),
        }
    };
    let skipped = |reason: String| Outcome {
        tables: Vec::new(),
        aggregates: json!({ "horizon_days": horizon, "skipped": reason }),
        headlines: vec![
            ("purchase_propensity_auc".to_string(), Err(reason.clone())),
            ("purchase_propensity_auc_btyd".to_string(), Err(reason.clone())),
            ("purchase_propensity_auc_lead".to_string(), Err(reason)),
        ],
    };
    let (Some(training), Some(holdout), Some(now)) = (at(2, true), at(1, true), at(0, false)) else {
        return skipped(format!(
            "needs purchases before {} days ago and repeat buyers, for BG/NBD to fit at each cut-off of the time split",
            2 * horizon
        ));
    };
    lap("three cut-offs (BG/NBD fits and features)");
    for (name, cut) in [("training", &training), ("holdout", &holdout)] {
        let buyers = cut.labels().iter().filter(|&&label| label).count();
        let others = cut.labels().len() - buyers;
        if buyers < MINIMUM_CLASS || others < MINIMUM_CLASS {
            return skipped(format!(
                "the {name} window has {buyers} customers who bought and {others} who did not; propensity needs {MINIMUM_CLASS} of each"
            ));
        }
    }
    // Each model trained on the earlier window and judged on the later one.
    // (Judged on a seeded sample of the holdout above HOLDOUT_ROWS customers.)
    let judged = holdout.sample(timelines, HOLDOUT_ROWS);
    // The rows `Model::train` samples (all of them when fewer): the same fit as on the
    // whole snapshot.
    let trained_on = training.sample(timelines, TRAINING_ROWS);
    let reference = baseline(&judged);
    let mut evaluations: Vec<(&str, Evaluation)> = vec![("btyd_baseline", evaluate(&reference, &judged.labels, None, confidence))];
    let mut failed = Vec::new();
    for name in MODELS {
        match Model::train(name, &trained_on) {
            Some(model) => {
                evaluations.push((name, evaluate(&model.predict(&judged.features), &judged.labels, Some(&reference), confidence)))
            }
            None => failed.push(match name {
                "logistic" => "logistic: the fit did not converge in 50 IRLS steps (a feature separating buyers from the rest) or its design was singular",
                _ => "gradient_boosted_trees: forust-ml refused the training data",
            }),
        }
        lap(&format!("{name} trained and judged"));
    }
    // The best supervised model scores customers only if it beats the baseline on the
    // holdout, its paired lead's interval above 0; otherwise the baseline does (a lead
    // within the noise is no reason to trade BG/NBD's transparency for a black box).
    let best = evaluations[1..].iter().max_by(|a, b| a.1.auc.estimate.total_cmp(&b.1.auc.estimate)).map(|(name, _)| *name);
    let chosen = best.filter(|name| evaluations.iter().any(|(model, e)| model == name && e.auc_over_baseline.lower > 0.0));
    drop(trained_on);
    let final_model = chosen.and_then(|name| Model::train(name, &holdout.sample(timelines, TRAINING_ROWS)));
    lap("the chosen model trained on the holdout cut-off");
    // Every customer scored a slice at a time (each row's score depends on its own
    // features only).
    let positions: Vec<usize> = (0..now.len()).collect();
    for slice in positions.chunks(SCORING_ROWS) {
        let now = now.snapshot_of(timelines, slice);
        let baseline = baseline(&now);
        let scores = match &final_model {
            Some(model) => model.predict(&now.features),
            // No supervised model fitted: the baseline scores.
            None => baseline.clone(),
        };
        for ((&row, btyd_value), score) in now.rows.iter().zip(baseline).zip(scores) {
            btyd[row] = btyd_value;
            purchase[row] = score;
        }
    }
    let scored_with = match &final_model {
        Some(_) => chosen.unwrap_or("btyd_baseline"),
        None => "btyd_baseline",
    };
    lap("customers scored");
    let date = |k: usize| rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(points[2 - k].0)))[..10].to_string();
    let spelled = |model: &str| match model {
        "btyd_baseline" => "the BG/NBD baseline".to_string(),
        "logistic" => "logistic regression".to_string(),
        "gradient_boosted_trees" => "gradient-boosted trees".to_string(),
        other => other.replace('_', " "),
    };
    // Where the baseline scores although a supervised model scored a higher AUC, the
    // headline says why, so that equal AUCs beside a positive lead do not read as a slip.
    let kept = match (scored_with, best) {
        ("btyd_baseline", Some(best)) => {
            let lead = evaluations.iter().find(|(model, _)| *model == best).map(|(_, e)| e.auc_over_baseline.estimate);
            lead.filter(|lead| *lead > 0.0).map(|_| format!(" (kept: {}'s lead over it is within the noise)", spelled(best)))
        }
        _ => None,
    };
    let auc_unit = |model: &str, scores: bool| {
        let role = if scores { "the model that scores the customers, " } else { "" };
        let kept = if scores { kept.as_deref().unwrap_or("") } else { "" };
        format!("holdout AUC of P(a purchase in the next {horizon} days): {role}{}{kept}", spelled(model))
    };
    let find = |name: &str| evaluations.iter().find(|(model, _)| *model == name).map(|(_, evaluation)| evaluation);
    let headline = |name: &str, scores: bool| {
        find(name)
            .map(|evaluation| Headline::new(evaluation.auc, &auc_unit(name, scores), "holdout customers"))
            .ok_or_else(|| format!("the {name} model did not fit"))
    };
    // The best supervised model's lead over the baseline (negative when it trails, and
    // then the baseline scores the customers).
    let lead = best
        .and_then(|name| find(name).map(|evaluation| (name, evaluation)))
        .filter(|(_, evaluation)| evaluation.auc_over_baseline.estimate.is_finite())
        .map(|(name, evaluation)| {
            Headline::new(
                evaluation.auc_over_baseline,
                &format!(
                    "AUC of {} − AUC of the BG/NBD baseline, paired (DeLong); it scores the customers only when this interval is above 0",
                    spelled(name)
                ),
                "holdout customers",
            )
        })
        .ok_or_else(|| "no supervised model fitted".to_string());
    let headlines = vec![
        ("purchase_propensity_auc".to_string(), headline(scored_with, true)),
        ("purchase_propensity_auc_btyd".to_string(), headline("btyd_baseline", false)),
        ("purchase_propensity_auc_lead".to_string(), lead),
    ];
    let aggregates = json!({
        "horizon_days": horizon,
        "training_cutoff": date(2),
        "holdout_cutoff": date(1),
        "training_customers": training.len(),
        "holdout_customers": holdout.len(),
        "holdout_customers_judged": judged.rows.len(),
        "scored_customers": now.len(),
        "features": rapport_action::propensity::FEATURES,
        "training_rows_at_most": rapport_action::propensity::TRAINING_ROWS,
        "seed": rapport_action::propensity::SEED,
        "models_failed": failed,
        "scored_with": scored_with,
    });
    Outcome { tables: tables(&evaluations, scored_with, &judged), aggregates, headlines }
}

fn tables(evaluations: &[(&str, Evaluation)], chosen: &str, holdout: &Snapshot) -> Vec<Table> {
    let text = |values: Vec<String>| Values::Text(values.into_iter().map(Some).collect());
    let models: Vec<String> = evaluations.iter().map(|(name, _)| name.to_string()).collect();
    let summary = Table::new("propensity")
        .column("model", text(models.clone()))
        .column("auc", Values::Number(evaluations.iter().map(|(_, e)| e.auc.estimate).collect()))
        .column("auc_lower", Values::Number(evaluations.iter().map(|(_, e)| e.auc.lower).collect()))
        .column("auc_upper", Values::Number(evaluations.iter().map(|(_, e)| e.auc.upper).collect()))
        .column("auc_over_baseline", Values::Number(evaluations.iter().map(|(_, e)| e.auc_over_baseline.estimate).collect()))
        .column("auc_over_baseline_lower", Values::Number(evaluations.iter().map(|(_, e)| e.auc_over_baseline.lower).collect()))
        .column("auc_over_baseline_upper", Values::Number(evaluations.iter().map(|(_, e)| e.auc_over_baseline.upper).collect()))
        .column("brier", Values::Number(evaluations.iter().map(|(_, e)| e.brier).collect()))
        .column("customers", Values::Count(vec![holdout.rows.len() as u64; evaluations.len()]))
        .column("buyers", Values::Count(evaluations.iter().map(|(_, e)| e.positives).collect()))
        .column("scores_customers", text(evaluations.iter().map(|(name, _)| (*name == chosen).to_string()).collect()));
    let (mut model, mut decile, mut customers, mut buyers, mut lift) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (name, evaluation) in evaluations {
        for row in &evaluation.lift {
            model.push(name.to_string());
            decile.push(u64::from(row.decile));
            customers.push(row.customers);
            buyers.push(row.buyers);
            lift.push(row.lift);
        }
    }
    let lift = Table::new("propensity_lift")
        .column("model", text(model))
        .column("decile_from_highest", Values::Count(decile))
        .column("customers", Values::Count(customers))
        .column("buyers", Values::Count(buyers))
        .column("lift", Values::Number(lift));
    let (mut model, mut bin, mut predicted, mut observed, mut lower, mut upper, mut n) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (name, evaluation) in evaluations {
        for row in &evaluation.calibration {
            model.push(name.to_string());
            bin.push(u64::from(row.bin));
            predicted.push(row.predicted);
            observed.push(row.observed.estimate);
            lower.push(row.observed.lower);
            upper.push(row.observed.upper);
            n.push(row.observed.n);
        }
    }
    let calibration = Table::new("propensity_calibration")
        .column("model", text(model))
        .column("bin_from_lowest", Values::Count(bin))
        .column("customers", Values::Count(n))
        .column("mean_predicted", Values::Number(predicted))
        .column("observed_rate", Values::Number(observed))
        .column("observed_rate_lower", Values::Number(lower))
        .column("observed_rate_upper", Values::Number(upper));
    vec![summary, lift, calibration]
}

/// Groups of the evaluation customers, by predicted response.
const RESPONSE_GROUPS: usize = 5;

/// Propensity to respond to each program ([`rapport_action::response`]): every customer
/// who has bought scored for every program whose response could be learned (the
/// predicted uplift of contacting them: the `program_response_scores` table, one row per
/// customer and program), the customer table's `best_program` (the program with the
/// highest predicted response, when it is above 0) and `best_program_response`, the
/// `program_response` table (observed uplift by group of predicted response, on
/// customers the models did not learn from) and a `response_gain_<program>` headline per
/// program.
/// The facts come from `planned` (an engine's plans: the observation end's cut-off, then
/// the second before each program's first contact, and the contacts) when given, else
/// from the timelines.
pub(crate) fn add_response(
    table: &mut CustomerTable,
    timelines: &[Timeline],
    planned: Option<crate::analyze::PlannedPropensity>,
    as_of: i64,
    zone: Zone,
    window_days: i64,
    confidence: f64,
) -> Result<Outcome, EngineError> {
    use rapport_action::response::{ContactFacts, ResponseModel, evaluate as judge, program_rows, program_rows_of, split};
    let n = table.len();
    // The programs with their first contacts (by name) and, from an engine's plans, their
    // cut-offs' facts and contacts.
    type Cuts = std::vec::IntoIter<FoundCut>;
    type Contacts = Vec<Vec<Option<ContactFacts>>>;
    let (programs, mut cuts, contacts): (Vec<(String, i64)>, Option<Cuts>, Option<Contacts>) = match planned {
        None => {
            let mut programs: Vec<(String, i64)> = Vec::new();
            for contact in timelines.iter().flat_map(|timeline| &timeline.programs) {
                match programs.iter_mut().find(|(name, _)| *name == contact.program) {
                    Some((_, first)) => *first = (*first).min(contact.time),
                    None => programs.push((contact.program.clone(), contact.time)),
                }
            }
            programs.sort();
            (programs, None, None)
        }
        Some(crate::analyze::PlannedPropensity { mut cutoffs, programs }) => {
            referred_from(table, &mut cutoffs);
            let (programs, contacts) = programs.into_iter().map(|(program, first, contacts)| ((program, first), contacts)).unzip();
            (programs, Some(cutoffs.into_iter()), Some(contacts))
        }
    };
    let mut headlines = Vec::new();
    let mut aggregates = serde_json::Map::new();
    let mut rows: Vec<(String, rapport_action::response::ResponseGroup)> = Vec::new();
    let mut scored: Vec<(&str, Vec<f64>)> = Vec::new();
    let day = |time: i64| zone.local_seconds(ParsedTime::Instant(time)).div_euclid(DAY);
    // Each snapshot in turn: every customer's features as of the end, for scoring (only
    // when there is a program), then one before each program's first contact.
    let mut snapshot_at = |time: i64| match cuts.as_mut() {
        None => snapshot(timelines, time, day(time), window_days, false),
        Some(cuts) => cut_of(cuts.next().unwrap_or_default(), time, day(time), window_days, false).map(|cut| cut.snapshot(&[])),
    };
    let now = if programs.is_empty() { None } else { snapshot_at(as_of) };
    for (index, (program, first)) in programs.iter().enumerate() {
        let program = program.as_str();
        let name = format!("response_gain_{program}");
        // Features as of the second before the program's first contact.
        let contacted = snapshot_at(first - 1).map(|before| match contacts.as_ref().and_then(|contacts| contacts.get(index)) {
            None => program_rows(timelines, &before, program, window_days, as_of),
            Some(contacts) => program_rows_of(&before, |row| contacts.get(row).copied().flatten()),
        });
        // Cross-fitted: the models learned on each half predict the other half, so every
        // contacted customer is judged by models that did not see them.
        let learned = contacted.as_ref().and_then(|contacted| {
            let half = split(contacted.treated.len());
            let other: Vec<bool> = half.iter().map(|in_half| !in_half).collect();
            let (first, second) = (ResponseModel::train(contacted, Some(&half))?, ResponseModel::train(contacted, Some(&other))?);
            let (by_first, by_second) = (first.predict(&contacted.snapshot.features), second.predict(&contacted.snapshot.features));
            let predicted: Vec<f64> =
                half.iter().enumerate().map(|(row, &in_half)| if in_half { by_second[row] } else { by_first[row] }).collect();
            let evaluation = judge(&predicted, &contacted.treated, &contacted.snapshot.labels, RESPONSE_GROUPS, confidence);
            Some((evaluation, ResponseModel::train(contacted, None)?))
        });
        match (learned, &now) {
            (Some((evaluation, model)), Some(now)) => {
                let mut scores = vec![f64::NAN; n];
                for (&row, value) in now.rows.iter().zip(model.predict(&now.features)) {
                    scores[row] = value;
                }
                scored.push((program, scores));
                headlines.push((
                    name,
                    Ok(Headline::new(
                        evaluation.gain.scaled(100.0),
                        &format!(
                            "percentage points: uplift within {window_days} days of the upper half of customers by predicted response − the lower half's (customers the models did not learn from)"
                        ),
                        "contacted customers judged",
                    )),
                ));
                aggregates.insert(
                    program.to_string(),
                    json!({ "contacted": contacted.as_ref().map_or(0, |rows| rows.treated.len()), "judged": evaluation.customers, "window_days": window_days }),
                );
                rows.extend(evaluation.groups.into_iter().map(|group| (program.to_string(), group)));
            }
            _ => {
                let reason = format!(
                    "needs contacted customers who bought before the program, whose {window_days}-day window has closed, with {MINIMUM_CLASS} buyers and {MINIMUM_CLASS} non-buyers among the contacted and among the control group of each half of them"
                );
                headlines.push((name, Err(reason)));
            }
        }
    }
    // The best program per customer: the highest predicted response, when above 0.
    let mut best: Vec<Option<String>> = vec![None; n];
    let mut best_response = vec![f64::NAN; n];
    for (program, scores) in &scored {
        for (row, &score) in scores.iter().enumerate() {
            if score.is_finite() && (best_response[row].is_nan() || score > best_response[row]) {
                best_response[row] = score;
                best[row] = (score > 0.0).then(|| program.to_string());
            }
        }
    }
    table.push("best_program", std::sync::Arc::new(arrow::array::StringArray::from(best)))?;
    table.push_f64("best_program_response", best_response)?;
    let text = |values: Vec<String>| Values::Text(values.into_iter().map(Some).collect());
    let number = |get: &dyn Fn(&rapport_action::response::ResponseGroup) -> f64| Values::Number(rows.iter().map(|(_, g)| get(g)).collect());
    let count = |get: &dyn Fn(&rapport_action::response::ResponseGroup) -> u64| Values::Count(rows.iter().map(|(_, g)| get(g)).collect());
    let response = Table::new("program_response")
        .column("program", text(rows.iter().map(|(program, _)| program.clone()).collect()))
        .column("group_from_highest", count(&|g| g.group as u64))
        .column("mean_predicted_response", number(&|g| g.predicted))
        .column("treated", count(&|g| g.treated.0))
        .column("treated_buyers", count(&|g| g.treated.1))
        .column("control", count(&|g| g.control.0))
        .column("control_buyers", count(&|g| g.control.1))
        .column("uplift", number(&|g| g.uplift.estimate))
        .column("uplift_lower", number(&|g| g.uplift.lower))
        .column("uplift_upper", number(&|g| g.uplift.upper));
    // Every scored customer for every program, long: (customer, program, predicted response).
    let (mut customer, mut program, mut predicted) = (Vec::new(), Vec::new(), Vec::new());
    for (name, scores) in &scored {
        for (row, &score) in scores.iter().enumerate().filter(|(_, score)| score.is_finite()) {
            customer.push(Some(table.id(row).to_string()));
            program.push(Some(name.to_string()));
            predicted.push(score);
        }
    }
    let scores = Table::new("program_response_scores")
        .column("customer_id", Values::Text(customer))
        .column("program", Values::Text(program))
        .column("predicted_response", Values::Number(predicted));
    let tables = if rows.is_empty() { Vec::new() } else { vec![response, scores] };
    Ok(Outcome { tables, aggregates: Json::Object(aggregates), headlines })
}
