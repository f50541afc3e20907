//! RFM scores and the named segments.
//!
//! The rule, as of an observation end: recency = whole days from the customer's last
//! purchase day to the observation-end day; frequency = distinct purchase days (lifetimes'
//! frequency + 1: a refund never makes a purchase day); monetary = total net spend in the
//! currency's minor units (refunds net against it, and equal totals tie exactly). Only
//! customers with a purchase are scored. Each score is `min(5, 1 + floor(5 ×
//! percent_rank))` with SQL's `PERCENT_RANK` (ties take the lowest rank) over the scored
//! customers, ascending for frequency and monetary and descending for recency (the most
//! recent scores 5); with a single customer every score is 3. The code `RFM` names a
//! segment by `data/rfm_segments.csv`.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::rank::bands;

/// What RFM reads of one customer who bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmInput {
    /// Whole days from the last purchase day to the observation-end day.
    pub recency_days: i64,
    /// Distinct purchase days.
    pub purchase_days: u32,
    /// Net spend in minor units.
    pub monetary_minor: i64,
}

/// One customer's scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmScore {
    /// 1–5, 5 the most recent.
    pub recency: u8,
    /// 1–5, 5 the most frequent.
    pub frequency: u8,
    /// 1–5, 5 the highest spend.
    pub monetary: u8,
}

impl RfmScore {
    /// The three-digit code, e.g. 545.
    pub fn code(&self) -> u16 {
        u16::from(self.recency) * 100 + u16::from(self.frequency) * 10 + u16::from(self.monetary)
    }

    /// The named segment of the code.
    pub fn segment(&self) -> &'static str {
        segment_of(self.code())
    }
}

/// Score every customer, in the order given.
pub fn score(customers: &[RfmInput]) -> Vec<RfmScore> {
    // Descending recency: rank the negated days, so the fewest days rank highest.
    let recency: Vec<i64> = customers.iter().map(|customer| -customer.recency_days).collect();
    let frequency: Vec<u32> = customers.iter().map(|customer| customer.purchase_days).collect();
    let monetary: Vec<i64> = customers.iter().map(|customer| customer.monetary_minor).collect();
    let (r, f, m) = (bands(&recency, 5), bands(&frequency, 5), bands(&monetary, 5));
    (0..customers.len()).map(|i| RfmScore { recency: r[i] as u8, frequency: f[i] as u8, monetary: m[i] as u8 }).collect()
}

const TABLE: &str = include_str!("../data/rfm_segments.csv");

/// The 11 segment names, best first.
pub const SEGMENTS: [&str; 11] = [
    "Champions",
    "Loyal Customers",
    "Potential Loyalist",
    "New Customers",
    "Promising",
    "Need Attention",
    "About To Sleep",
    "Can't Lose Them",
    "At Risk",
    "Hibernating",
    "Lost",
];

fn table() -> &'static HashMap<u16, &'static str> {
    static TABLE_MAP: OnceLock<HashMap<u16, &'static str>> = OnceLock::new();
    TABLE_MAP.get_or_init(|| {
        TABLE
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut fields = line.split(',');
                let code = fields.next()?.trim().parse::<u16>().ok()?;
                let segment = fields.nth(3)?.trim();
                Some((code, segment))
            })
            .collect()
    })
}

/// The segment a code names (`Lost` for a code the table does not list).
pub fn segment_of(code: u16) -> &'static str {
    table().get(&code).copied().unwrap_or("Lost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(recency_days: i64, purchase_days: u32, monetary_minor: i64) -> RfmInput {
        RfmInput { recency_days, purchase_days, monetary_minor }
    }

    #[test]
    fn the_table_has_every_code_and_the_eleven_names() {
        // Reference: rfm_segments.csv (125 codes, 11 segments).
        assert_eq!(table().len(), 125);
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    let name = segment_of(r * 100 + f * 10 + m);
                    assert!(SEGMENTS.contains(&name), "{name}");
                }
            }
        }
        let mut names: Vec<&str> = table().values().copied().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 11);
        assert_eq!(segment_of(555), "Champions");
        assert_eq!(segment_of(553), "Potential Loyalist");
        assert_eq!(segment_of(111), "Lost");
    }

    #[test]
    fn scores_follow_the_rule_with_ties() {
        // Six customers: percent ranks (rank − 1)/(n − 1) with ties at the lowest rank.
        let customers =
            [input(0, 1, 1000), input(10, 2, 2000), input(10, 2, 2000), input(30, 3, 500), input(60, 5, 9000), input(400, 1, -300)];
        let scores = score(&customers);
        // Recency descending: −400 < −60 < −30 < −10 = −10 < 0 → ranks 1, 2, 3, 4, 4, 6.
        // pr: 0, .2, .4, .6, .6, 1 → scores 1, 2, 3, 4, 4, 5.
        let recency: Vec<u8> = scores.iter().map(|s| s.recency).collect();
        assert_eq!(recency, vec![5, 4, 4, 3, 2, 1]);
        // Frequency 1, 2, 2, 3, 5, 1 → ranks 1, 3, 3, 5, 6, 1 → pr 0, .4, .4, .8, 1, 0 → 1, 3, 3, 5, 5, 1.
        let frequency: Vec<u8> = scores.iter().map(|s| s.frequency).collect();
        assert_eq!(frequency, vec![1, 3, 3, 5, 5, 1]);
        // Monetary 1000, 2000, 2000, 500, 9000, −300 → ranks 3, 4, 4, 2, 6, 1 → pr .4, .6, .6, .2, 1, 0.
        let monetary: Vec<u8> = scores.iter().map(|s| s.monetary).collect();
        assert_eq!(monetary, vec![3, 4, 4, 2, 5, 1]);
        assert_eq!(scores[0].code(), 513);
    }

    #[test]
    fn one_customer_scores_three_everywhere() {
        let scores = score(&[input(5, 3, 100)]);
        assert_eq!(scores[0].code(), 333);
        assert_eq!(scores[0].segment(), segment_of(333));
    }
}
