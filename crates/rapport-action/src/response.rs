//! Propensity to respond to a program: whom a program moves, not only who buys. A
//! T-learner (Künzel et al. 2019): for each program, one purchase model on the customers
//! it reached and one on its control group, both on the timeline features of
//! [`crate::propensity`] as of the program's first contact; a customer's predicted
//! response is the difference, P(buys within the window | contacted) − P(buys | held
//! out).
//!
//! Judged on customers the models did not see (cross-fitting): the contacted customers
//! (treated and control) are split in two by a seeded draw; models learned on each half
//! predict the other, and every contacted customer, ranked by that prediction, falls in
//! one of a few groups, each with its observed uplift (purchase rate of its treated minus that of its controls, Newcombe's
//! interval). A model that finds who responds shows uplift falling from the first group
//! to the last; the gap between the upper and the lower half of the ranking
//! ([`ResponseEvaluation::gain`]) says it in one number with its interval. Then the
//! models learn again on every contacted customer and score every customer as of the
//! observation end: whom to contact next time.
//!
//! Only logistic regression (on standardised features) is used here: control groups are
//! small, and trees fitted on a few hundred controls would learn their noise.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use rapport_measures::Timeline;
use rapport_stats::intervals::{Interval, newcombe_difference, z_for};

use crate::propensity::{MINIMUM_CLASS, Model, SEED, Snapshot};

const DAY: i64 = 86_400;

/// One program's contacted customers, with their features as of the program's start.
#[derive(Debug, Clone, Default)]
pub struct ProgramRows {
    /// The customers (features as of the cut-off, labels: bought within the window after
    /// their contact).
    pub snapshot: Snapshot,
    /// Sent the program (true) or held out as control (false).
    pub treated: Vec<bool>,
}

/// What the T-learner reads of one customer's first contact with a program: sent (true)
/// or held out as control, and whether they bought (amount > 0) within the window after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactFacts {
    /// Sent the program (true) or held out as control (false).
    pub treated: bool,
    /// Bought within the window after the contact.
    pub bought: bool,
}

impl ContactFacts {
    /// The customer's first contact with `program` (of contacts at that time, a treated
    /// one before a control one) when its window of `window_days` has closed by `as_of`.
    pub fn of(timeline: &Timeline, program: &str, window_days: i64, as_of: i64) -> Option<ContactFacts> {
        let window = window_days * DAY;
        let contact =
            timeline.programs.iter().filter(|contact| contact.program == program).min_by_key(|contact| (contact.time, contact.control))?;
        if contact.time + window > as_of {
            return None;
        }
        let bought = timeline.purchases.iter().any(|p| p.amount > 0.0 && p.time > contact.time && p.time <= contact.time + window);
        Some(ContactFacts { treated: !contact.control, bought })
    }
}

/// The first contact of `program` per customer, for customers in `snapshot` (features as
/// of the program's first contact) whose window of `window_days` after the contact has
/// closed by `as_of`; labelled with a purchase (amount > 0) within the window.
pub fn program_rows(timelines: &[Timeline], snapshot: &Snapshot, program: &str, window_days: i64, as_of: i64) -> ProgramRows {
    program_rows_of(snapshot, |index| ContactFacts::of(&timelines[index], program, window_days, as_of))
}

/// [`program_rows`] with each customer's contact (by the snapshot's row index) from
/// `contact`: the timelines' or a plan's.
pub fn program_rows_of(snapshot: &Snapshot, contact: impl Fn(usize) -> Option<ContactFacts>) -> ProgramRows {
    let mut rows = ProgramRows::default();
    for (position, &index) in snapshot.rows.iter().enumerate() {
        let Some(contact) = contact(index) else { continue };
        rows.snapshot.rows.push(index);
        rows.snapshot.features.push(snapshot.features[position]);
        rows.snapshot.labels.push(contact.bought);
        rows.treated.push(contact.treated);
    }
    rows
}

/// The two purchase models of a T-learner.
#[derive(Debug)]
pub struct ResponseModel {
    treated: Model,
    control: Model,
}

impl ResponseModel {
    /// Learn on the `subset` of `rows` (all when `None`); `None` when either arm has
    /// fewer than [`MINIMUM_CLASS`] buyers or non-buyers, or a fit fails.
    pub fn train(rows: &ProgramRows, subset: Option<&[bool]>) -> Option<ResponseModel> {
        let arm = |treated: bool| {
            let mut arm = Snapshot::default();
            for row in 0..rows.treated.len() {
                if rows.treated[row] == treated && subset.is_none_or(|subset| subset[row]) {
                    arm.rows.push(rows.snapshot.rows[row]);
                    arm.features.push(rows.snapshot.features[row]);
                    arm.labels.push(rows.snapshot.labels[row]);
                }
            }
            let buyers = arm.labels.iter().filter(|&&label| label).count();
            (buyers >= MINIMUM_CLASS && arm.labels.len() - buyers >= MINIMUM_CLASS).then_some(arm)
        };
        let (treated, control) = (arm(true)?, arm(false)?);
        Some(ResponseModel { treated: Model::train("logistic", &treated)?, control: Model::train("logistic", &control)? })
    }

    /// Predicted response (P(buy | contacted) − P(buy | held out)) for each row.
    pub fn predict(&self, features: &[[f64; crate::propensity::FEATURES.len()]]) -> Vec<f64> {
        let treated = self.treated.predict(features);
        let control = self.control.predict(features);
        treated.iter().zip(&control).map(|(t, c)| t - c).collect()
    }
}

/// One group of the evaluation customers, ranked by predicted response.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseGroup {
    /// 1 = the highest predicted response.
    pub group: usize,
    /// Mean predicted response.
    pub predicted: f64,
    /// Treated customers, and how many bought.
    pub treated: (u64, u64),
    /// Control customers, and how many bought.
    pub control: (u64, u64),
    /// Observed uplift: treated rate − control rate.
    pub uplift: Interval,
}

/// How well the predicted response ranks customers who were not learned from.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseEvaluation {
    /// The groups, highest predicted response first.
    pub groups: Vec<ResponseGroup>,
    /// Observed uplift of the upper half of the ranking minus that of the lower half
    /// (Wald interval of a difference of two differences of proportions).
    pub gain: Interval,
    /// Evaluation customers.
    pub customers: u64,
}

/// Rank the evaluation rows (`subset` false in [`ResponseModel::train`]) by `predicted`
/// response and measure the observed uplift of `groups` equal groups.
pub fn evaluate(predicted: &[f64], treated: &[bool], labels: &[bool], groups: usize, confidence: f64) -> ResponseEvaluation {
    let mut order: Vec<usize> = (0..predicted.len()).collect();
    order.sort_by(|&a, &b| predicted[b].total_cmp(&predicted[a]).then(a.cmp(&b)));
    let counts = |rows: &[usize]| {
        let mut counts = [(0u64, 0u64); 2];
        for &row in rows {
            let arm = &mut counts[usize::from(treated[row])];
            arm.0 += 1;
            arm.1 += u64::from(labels[row]);
        }
        (counts[1], counts[0])
    };
    let n = order.len();
    let groups = groups.clamp(1, n.max(1));
    let found = (0..groups)
        .map(|group| {
            let rows = &order[group * n / groups..(group + 1) * n / groups];
            let ((treated_n, treated_bought), (control_n, control_bought)) = counts(rows);
            ResponseGroup {
                group: group + 1,
                predicted: rows.iter().map(|&row| predicted[row]).sum::<f64>() / rows.len().max(1) as f64,
                treated: (treated_n, treated_bought),
                control: (control_n, control_bought),
                uplift: newcombe_difference(treated_bought, treated_n, control_bought, control_n, confidence),
            }
        })
        .collect();
    let half = |rows: &[usize]| {
        let ((tn, tb), (cn, cb)) = counts(rows);
        let (pt, pc) = (tb as f64 / tn.max(1) as f64, cb as f64 / cn.max(1) as f64);
        (pt - pc, pt * (1.0 - pt) / tn.max(1) as f64 + pc * (1.0 - pc) / cn.max(1) as f64)
    };
    let ((upper, upper_variance), (lower, lower_variance)) = (half(&order[..n / 2]), half(&order[n / 2..]));
    let margin = z_for(confidence) * (upper_variance + lower_variance).sqrt();
    let gain = upper - lower;
    ResponseEvaluation {
        groups: found,
        gain: Interval { estimate: gain, lower: gain - margin, upper: gain + margin, n: n as u64 },
        customers: n as u64,
    }
}

/// A seeded split of `n` rows: true = learn, false = judge (about half each).
pub fn split(n: usize) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0x7265_7370_6f6e_7365);
    (0..n).map(|_| rng.random_bool(0.5)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups of a ranking that puts the responders first show falling uplift and a
    /// positive gain; counts are exact.
    #[test]
    fn evaluation_counts_each_group_and_the_gain() {
        // 8 rows: the first four respond (treated buy, controls do not), the rest do not.
        let predicted = [0.9, 0.8, 0.7, 0.6, 0.1, 0.0, -0.1, -0.2];
        let treated = [true, false, true, false, true, false, true, false];
        let labels = [true, false, true, false, false, false, true, true];
        let evaluation = evaluate(&predicted, &treated, &labels, 2, 0.95);
        assert_eq!(evaluation.customers, 8);
        assert_eq!(evaluation.groups[0].treated, (2, 2));
        assert_eq!(evaluation.groups[0].control, (2, 0));
        assert_eq!(evaluation.groups[1].treated, (2, 1));
        assert_eq!(evaluation.groups[1].control, (2, 1));
        assert!((evaluation.groups[0].uplift.estimate - 1.0).abs() < 1e-12);
        assert!(evaluation.groups[1].uplift.estimate.abs() < 1e-12);
        assert!((evaluation.gain.estimate - 1.0).abs() < 1e-12);
        assert!((evaluation.groups[0].predicted - 0.75).abs() < 1e-12);
    }

    #[test]
    fn the_split_is_seeded_and_about_half() {
        let split = split(10_000);
        assert_eq!(split, super::split(10_000));
        let learn = split.iter().filter(|&&learn| learn).count();
        assert!((4_800..5_200).contains(&learn), "{learn}");
    }
}
