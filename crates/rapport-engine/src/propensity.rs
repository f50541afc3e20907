//! Purchase and churn propensity inside `analyze`: the models of
//! [`rapport_action::propensity`] trained and evaluated on a time split, the chosen one
//! scoring every customer (definitions in `docs/measures.md`).

use serde_json::{Value as Json, json};

use rapport_action::propensity::{Evaluation, HOLDOUT_ROWS, MINIMUM_CLASS, MODELS, Model, Snapshot, baseline, evaluate, snapshot};
use rapport_core::table::CustomerTable;
use rapport_core::time::{ParsedTime, Zone};
use rapport_measures::table::{Table, Values};
use rapport_measures::{Headline, Timeline};

use crate::EngineError;

const DAY: i64 = 86_400;

/// What propensity adds to a run besides its columns.
pub(crate) struct Outcome {
    /// `propensity`, `propensity_lift` and `propensity_calibration`.
    pub tables: Vec<Table>,
    /// For `aggregates.json`.
    pub aggregates: Json,
    /// `purchase_propensity_auc` and `purchase_propensity_auc_btyd`, or why not.
    pub headlines: Vec<(String, Result<Headline, String>)>,
}

/// Add `purchase_propensity`, `churn_propensity` and `purchase_probability_btyd` to
/// `table` (empty where the customer has not bought, or when the history is too short).
pub(crate) fn add(
    table: &mut CustomerTable,
    timelines: &[Timeline],
    as_of: i64,
    zone: Zone,
    horizon_days: i64,
    confidence: f64,
) -> Result<Outcome, EngineError> {
    let n = timelines.len();
    let mut purchase = vec![f64::NAN; n];
    let mut btyd = vec![f64::NAN; n];
    let outcome = learn(timelines, as_of, zone, horizon_days, confidence, &mut purchase, &mut btyd);
    table.push_f64("purchase_propensity", purchase.clone())?;
    table.push_f64("churn_propensity", purchase.iter().map(|p| 1.0 - p).collect())?;
    table.push_f64("purchase_probability_btyd", btyd)?;
    Ok(outcome)
}

fn learn(timelines: &[Timeline], as_of: i64, zone: Zone, horizon: i64, confidence: f64, purchase: &mut [f64], btyd: &mut [f64]) -> Outcome {
    let started = std::time::Instant::now();
    let lap = |what: &str| tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "propensity: {what}");
    let end_day = zone.local_seconds(ParsedTime::Instant(as_of)).div_euclid(DAY);
    let at = |k: i64, labelled: bool| snapshot(timelines, as_of - k * horizon * DAY, end_day - k * horizon, horizon, labelled);
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
    for (name, snapshot) in [("training", &training), ("holdout", &holdout)] {
        let buyers = snapshot.labels.iter().filter(|&&label| label).count();
        let others = snapshot.labels.len() - buyers;
        if buyers < MINIMUM_CLASS || others < MINIMUM_CLASS {
            return skipped(format!(
                "the {name} window has {buyers} customers who bought and {others} who did not; propensity needs {MINIMUM_CLASS} of each"
            ));
        }
    }
    // Each model trained on the earlier window and judged on the later one.
    // (Judged on a seeded sample of the holdout above HOLDOUT_ROWS customers.)
    let judged = holdout.sample(HOLDOUT_ROWS);
    let reference = baseline(&judged);
    let mut evaluations: Vec<(&str, Evaluation)> = vec![("btyd_baseline", evaluate(&reference, &judged.labels, None, confidence))];
    let mut failed = Vec::new();
    for name in MODELS {
        match Model::train(name, &training) {
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
    let final_model = chosen.and_then(|name| Model::train(name, &holdout));
    for (&row, value) in now.rows.iter().zip(baseline(&now)) {
        btyd[row] = value;
    }
    lap("the chosen model trained on the holdout cut-off");
    let scored_with = match &final_model {
        Some(model) => {
            for (&row, value) in now.rows.iter().zip(model.predict(&now.features)) {
                purchase[row] = value;
            }
            chosen.unwrap_or("btyd_baseline")
        }
        None => {
            // No supervised model fitted: the baseline scores.
            for (&row, value) in now.rows.iter().zip(baseline(&now)) {
                purchase[row] = value;
            }
            "btyd_baseline"
        }
    };
    lap("customers scored");
    let date =
        |k: i64| rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(as_of - k * horizon * DAY)))[..10].to_string();
    let auc_unit = |model: &str| format!("holdout AUC of P(a purchase in the next {horizon} days), {model}");
    let find = |name: &str| evaluations.iter().find(|(model, _)| *model == name).map(|(_, evaluation)| evaluation);
    let headline = |name: &str| {
        find(name)
            .map(|evaluation| Headline::new(evaluation.auc, &auc_unit(name), "holdout customers"))
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
                &format!("AUC of {name} − AUC of the BG/NBD baseline, paired (DeLong)"),
                "holdout customers",
            )
        })
        .ok_or_else(|| "no supervised model fitted".to_string());
    let headlines = vec![
        ("purchase_propensity_auc".to_string(), headline(scored_with)),
        ("purchase_propensity_auc_btyd".to_string(), headline("btyd_baseline")),
        ("purchase_propensity_auc_lead".to_string(), lead),
    ];
    let aggregates = json!({
        "horizon_days": horizon,
        "training_cutoff": date(2),
        "holdout_cutoff": date(1),
        "training_customers": training.rows.len(),
        "holdout_customers": holdout.rows.len(),
        "holdout_customers_judged": judged.rows.len(),
        "scored_customers": now.rows.len(),
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
