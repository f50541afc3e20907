//! Return on Relationship: what a relationship is worth against what it costs.
//!
//! A customer's **value** is what they brought (net margin, or net spend where the
//! purchases carry no margin), the value of the customers they referred, and their
//! predicted value for the next year; their **cost** is what the brand spent on the
//! relationship: contacts, rewards and program contacts. ROR = (value − cost) / cost.
//!
//! A group's ROR is a ratio of sums, Σ value / Σ cost − 1, with the ratio estimator's
//! interval (Cochran 1977, §6.3: the variance of R̂ = v̄ / c̄ is
//! Σ (vᵢ − R̂ cᵢ)² / (n (n − 1) c̄²)), so a segment of a handful of customers shows how
//! little it says.

use std::collections::BTreeMap;

use rapport_core::summary::to_micros;
use rapport_measures::Timeline;
use rapport_stats::intervals::{Interval, z_for};

/// What ROR reads of one customer's events: sums in millionths of the currency unit
/// (exact, so any engine and any order of rows give the same bits) and counts. Computed
/// where the customer's events are (the embedded path's timeline, or an engine's plans),
/// so the rows themselves need not travel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RorInputs {
    /// Σ margin of the purchase rows (refunds included) that carry one.
    pub margin_micros: i64,
    /// Σ amount of the rows that carry a margin (for the brand's margin rate).
    pub margined_amount_micros: i64,
    /// Σ amount of the rows that carry none (valued at the brand's margin rate).
    pub unmargined_amount_micros: i64,
    /// Purchase rows that carry a margin.
    pub rows_with_margin: u64,
    /// Purchase rows.
    pub rows: u64,
    /// Conversations per channel (read only where `[costs] per_contact` prices them; else
    /// empty).
    pub conversations: BTreeMap<String, u64>,
    /// Contact costs (rows of the costs file that are not rewards) per channel (`None`:
    /// not stated).
    pub contact_costs: BTreeMap<Option<String>, i64>,
    /// Rewards not paid for a program's contact, per channel.
    pub reward_costs: BTreeMap<Option<String>, i64>,
    /// Program contacts' costs, with the rewards paid for them, per program and the
    /// contact's channel (a contact that cost nothing is still here, at 0).
    pub program_costs: BTreeMap<(String, Option<String>), i64>,
}

impl RorInputs {
    /// One customer's inputs; conversations per channel only with `channels`.
    pub fn of(timeline: &Timeline, channels: bool) -> RorInputs {
        let mut inputs = RorInputs::default();
        for purchase in &timeline.purchases {
            inputs.rows += 1;
            match purchase.margin {
                Some(margin) => {
                    inputs.margin_micros += to_micros(margin);
                    inputs.margined_amount_micros += to_micros(purchase.amount);
                    inputs.rows_with_margin += 1;
                }
                None => inputs.unmargined_amount_micros += to_micros(purchase.amount),
            }
        }
        if channels {
            for conversation in &timeline.conversations {
                *inputs.conversations.entry(conversation.channel.clone()).or_default() += 1;
            }
        }
        for cost in &timeline.costs {
            let by_channel = if cost.reward { &mut inputs.reward_costs } else { &mut inputs.contact_costs };
            *by_channel.entry(cost.channel.clone()).or_default() += to_micros(cost.amount);
        }
        for contact in &timeline.programs {
            *inputs.program_costs.entry((contact.program.clone(), contact.channel.clone())).or_default() += contact.cost_micros;
        }
        inputs
    }
}

/// Which of a customer's contacts of a program a reward naming that program was paid for:
/// the latest at or before the reward's `time`, else the first; among contacts at one
/// time, the greatest channel for the latest and the least for the first (`None`, no
/// channel, least), so that any order of rows gives the same contact. `contacts` are the
/// customer's contacts of that program as (index, time, channel); `None` without any.
pub fn reward_contact<'a, I>(contacts: I, time: i64) -> Option<usize>
where
    I: IntoIterator<Item = (usize, i64, Option<&'a str>)>,
    I::IntoIter: Clone,
{
    let contacts = contacts.into_iter();
    let latest = contacts.clone().filter(|(_, at, _)| *at <= time).max_by_key(|(_, at, channel)| (*at, *channel));
    latest.or_else(|| contacts.min_by_key(|(_, at, channel)| (*at, *channel))).map(|(index, _, _)| index)
}

/// Add a reward naming `program`, paid at `time`, to the contact of that program it was
/// paid for ([`reward_contact`]) among a customer's `contacts`; `false` (nothing added)
/// when the customer had no contact of it.
pub fn pay_reward(contacts: &mut [rapport_measures::ProgramContact], program: &str, time: i64, amount: f64) -> bool {
    let of_program = contacts
        .iter()
        .enumerate()
        .filter(|(_, contact)| contact.program == program)
        .map(|(index, contact)| (index, contact.time, contact.channel.as_deref()));
    match reward_contact(of_program, time) {
        Some(index) => {
            contacts[index].cost += amount;
            contacts[index].cost_micros += rapport_core::summary::to_micros(amount);
            true
        }
        None => false,
    }
}

/// One customer's value and cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CustomerValue {
    /// Net margin (or net spend) of their purchases to date.
    pub realised: f64,
    /// The realised value of the customers they referred.
    pub referred: f64,
    /// Predicted value of the next 12 months (0 without a prediction).
    pub predicted: f64,
    /// Contact costs.
    pub contacts: f64,
    /// Rewards not paid for a program.
    pub rewards: f64,
    /// Program contacts and their rewards.
    pub programs: f64,
}

impl CustomerValue {
    /// Value accrued.
    pub fn value(&self) -> f64 {
        self.realised + self.referred + self.predicted
    }

    /// Relationship cost.
    pub fn cost(&self) -> f64 {
        self.contacts + self.rewards + self.programs
    }

    /// (value − cost) / cost; NaN when nothing was spent on the relationship.
    pub fn ror(&self) -> f64 {
        let cost = self.cost();
        if cost > 0.0 { (self.value() - cost) / cost } else { f64::NAN }
    }
}

/// Sums over a group's customers, from which its ROR and interval follow.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ratio {
    /// Customers (or attributed shares of customers) added.
    pub n: u64,
    /// Σ value.
    pub value: f64,
    /// Σ cost.
    pub cost: f64,
    value_squares: f64,
    cost_squares: f64,
    products: f64,
}

impl Ratio {
    /// Add one customer's (value, cost).
    pub fn add(&mut self, value: f64, cost: f64) {
        if !value.is_finite() || !cost.is_finite() {
            return;
        }
        self.n += 1;
        self.value += value;
        self.cost += cost;
        self.value_squares += value * value;
        self.cost_squares += cost * cost;
        self.products += value * cost;
    }

    /// Merge another group's sums.
    pub fn merge(&mut self, other: &Ratio) {
        self.n += other.n;
        self.value += other.value;
        self.cost += other.cost;
        self.value_squares += other.value_squares;
        self.cost_squares += other.cost_squares;
        self.products += other.products;
    }

    /// Σ value / Σ cost − 1 with its interval at `confidence`; NaN without cost, and
    /// no interval under two customers.
    pub fn ror(&self, confidence: f64) -> Interval {
        let n = self.n as f64;
        if self.cost <= 0.0 {
            return Interval { estimate: f64::NAN, lower: f64::NAN, upper: f64::NAN, n: self.n };
        }
        let ratio = self.value / self.cost;
        let estimate = ratio - 1.0;
        if self.n < 2 {
            return Interval { estimate, lower: f64::NAN, upper: f64::NAN, n: self.n };
        }
        // Σ (v − R c)² expanded, so the group needs only its running sums.
        let residual = (self.value_squares - 2.0 * ratio * self.products + ratio * ratio * self.cost_squares).max(0.0);
        let mean_cost = self.cost / n;
        let standard_error = (residual / (n * (n - 1.0))).sqrt() / mean_cost;
        let z = z_for(confidence);
        Interval { estimate, lower: estimate - z * standard_error, upper: estimate + z * standard_error, n: self.n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_with_no_cost_has_no_ror() {
        let customer = CustomerValue { realised: 100.0, ..CustomerValue::default() };
        assert!(customer.ror().is_nan());
        let customer = CustomerValue { realised: 90.0, referred: 20.0, predicted: 10.0, contacts: 30.0, rewards: 5.0, programs: 5.0 };
        assert_eq!(customer.value(), 120.0);
        assert_eq!(customer.cost(), 40.0);
        assert_eq!(customer.ror(), 2.0);
    }

    /// The interval is the ratio estimator's, checked against the residual form computed
    /// directly (Cochran 1977, eq. 6.9) on a small worked example.
    #[test]
    fn ratio_interval_matches_the_residual_form() {
        let pairs = [(120.0, 10.0), (40.0, 8.0), (300.0, 25.0), (0.0, 4.0), (75.0, 5.0)];
        let mut ratio = Ratio::default();
        pairs.iter().for_each(|&(v, c)| ratio.add(v, c));
        let r = 535.0 / 52.0;
        let residual: f64 = pairs.iter().map(|&(v, c)| (v - r * c) * (v - r * c)).sum();
        let se = (residual / (5.0 * 4.0)).sqrt() / (52.0 / 5.0);
        let interval = ratio.ror(0.95);
        assert!((interval.estimate - (r - 1.0)).abs() < 1e-12);
        assert!((interval.upper - interval.estimate - 1.959_963_984_540_054 * se).abs() < 1e-9);
        assert_eq!(interval.n, 5);
        let mut halves = Ratio::default();
        let mut other = Ratio::default();
        pairs[..2].iter().for_each(|&(v, c)| halves.add(v, c));
        pairs[2..].iter().for_each(|&(v, c)| other.add(v, c));
        halves.merge(&other);
        assert!((halves.ror(0.95).lower - interval.lower).abs() < 1e-9);
    }

    #[test]
    fn a_group_without_cost_or_of_one_has_no_interval() {
        let mut ratio = Ratio::default();
        ratio.add(10.0, 0.0);
        assert!(ratio.ror(0.95).estimate.is_nan());
        ratio.add(10.0, 5.0);
        let mut one = Ratio::default();
        one.add(10.0, 5.0);
        assert_eq!(one.ror(0.95).estimate, 1.0);
        assert!(one.ror(0.95).lower.is_nan());
    }

    #[test]
    fn a_reward_is_paid_for_the_latest_contact_before_it_else_the_first() {
        let contacts = [(0, 100, Some("sms")), (1, 100, Some("email")), (2, 300, None), (3, 50, None), (4, 50, Some("app"))];
        // At or before 200: the contacts at 100, the greatest channel of the two.
        assert_eq!(reward_contact(contacts, 200), Some(0));
        assert_eq!(reward_contact(contacts, 300), Some(2));
        // Before every contact: the first, the least channel (none) of the two at 50.
        assert_eq!(reward_contact(contacts, 10), Some(3));
        // Any order of the rows picks the same contact.
        let mut reversed = contacts;
        reversed.reverse();
        assert_eq!((reward_contact(reversed, 200), reward_contact(reversed, 10)), (Some(0), Some(3)));
        assert_eq!(reward_contact([], 10), None);
    }

    #[test]
    fn ror_inputs_sum_a_timeline_in_millionths() {
        use rapport_measures::timeline::{Cost, ProgramContact, Purchase};
        let purchase = |amount: f64, margin: Option<f64>| Purchase { time: 0, amount, margin, order_time: None, day: 0, order: 0 };
        let timeline = Timeline {
            purchases: vec![purchase(0.1, Some(0.03)), purchase(0.2, None), purchase(-0.05, None)],
            costs: vec![
                Cost { time: 0, reward: false, channel: None, amount: 0.7 },
                Cost { time: 0, reward: true, channel: Some("chat".into()), amount: 1.0 },
            ],
            programs: vec![ProgramContact {
                program: "p".into(),
                time: 0,
                control: false,
                cost: 0.3,
                cost_micros: 300_000,
                channel: Some("sms".into()),
            }],
            ..Timeline::default()
        };
        let inputs = RorInputs::of(&timeline, false);
        assert_eq!((inputs.margin_micros, inputs.margined_amount_micros, inputs.unmargined_amount_micros), (30_000, 100_000, 150_000));
        assert_eq!((inputs.rows_with_margin, inputs.rows), (1, 3));
        assert_eq!(inputs.contact_costs, BTreeMap::from([(None, 700_000)]));
        assert_eq!(inputs.reward_costs, BTreeMap::from([(Some("chat".to_string()), 1_000_000)]));
        assert_eq!(inputs.program_costs, BTreeMap::from([(("p".to_string(), Some("sms".to_string())), 300_000)]));
        assert!(inputs.conversations.is_empty(), "conversations are counted only where priced");
    }
}
