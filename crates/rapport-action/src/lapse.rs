//! Lapse: a model-free sign that a customer has stopped buying, for when P(alive) says
//! nothing.
//!
//! When the BG/NBD fit puts its dropout parameters on their boundary, the data show no
//! sign of customers leaving and P(alive) is about 1 for everyone (lifetimes gives the
//! same fit). The fit is kept as it is, so P(alive) and CLV stay equal to the reference
//! implementations, but the rules that act on a falling P(alive) (`win_back`, the top
//! tier's watch list) read this instead: a customer is lapsing once their silence is
//! at least as long as 90% of the gaps after which this brand's customers did come back, and
//! at least twice their own usual gap.

use rapport_measures::timeline::Timeline;

/// The share of the brand's repeat-purchase gaps a lapse must outlast.
pub const QUANTILE: f64 = 0.9;
/// The rule needs this many observed gaps between purchase days.
pub const MINIMUM_GAPS: usize = 30;
/// A customer's own rhythm counts when they have at least this many gaps.
pub const OWN_GAPS: usize = 2;

/// The brand's repeat-purchase rhythm, learned from its customers' purchase days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LapseRule {
    /// The 90th percentile (nearest rank) of the days between consecutive purchase days.
    pub brand_days: i64,
    /// How many gaps it was learned from.
    pub gaps: usize,
}

/// One customer's lapse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lapse {
    /// Whole days from the last purchase day to today.
    pub days_since: i64,
    /// The silence after which this customer counts as lapsing.
    pub threshold: i64,
    /// The customer's own median gap in days (the mean of the two middle gaps for an
    /// even count), when they have enough gaps for one.
    pub own_gap: Option<f64>,
}

impl Lapse {
    /// Lapsing, and not long gone: silent past the threshold but for less than twice it.
    pub fn is_lapsing(&self) -> bool {
        self.days_since >= self.threshold && self.days_since < 2 * self.threshold
    }

    /// Whether the silence passed the threshold in the last `days` days.
    pub fn crossed_within(&self, days: i64) -> bool {
        self.days_since >= self.threshold && self.days_since - self.threshold < days
    }

    /// The numbers behind it, in words.
    pub fn describe(&self, rule: &LapseRule) -> String {
        // "At least": a lapse starts on the threshold's day (whole days, `is_lapsing`), so
        // "longer than" would read false when the silence equals it.
        let own = self.own_gap.map(|gap| format!(", and at least twice their own usual gap of {gap} days")).unwrap_or_default();
        format!(
            "no purchase for {} days: at least as long as 90% of this brand's repeat-purchase gaps ({} days or less, from {} gaps){own}",
            self.days_since, rule.brand_days, rule.gaps
        )
    }
}

/// A customer's distinct purchase days (refunds left out), ascending.
pub fn purchase_days(timeline: &Timeline) -> Vec<i64> {
    let mut days: Vec<i64> = timeline.purchases.iter().filter(|p| p.amount > 0.0).map(|p| i64::from(p.day)).collect();
    days.sort_unstable();
    days.dedup();
    days
}

/// What a lapse reads of one customer's purchase days: the last, and twice the median gap
/// between consecutive ones. Computed where the customer's purchases are (the embedded
/// path's timeline, or an engine's `rapport_rhythm` aggregate), so the days themselves
/// need not travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rhythm {
    /// The last purchase day (a local day number).
    pub last_day: i64,
    /// Twice the median gap in days, kept whole: the middle gap doubled, or the two middle
    /// gaps' sum for an even count; `None` with fewer than [`OWN_GAPS`] gaps.
    pub twice_median_gap: Option<i64>,
}

impl Rhythm {
    /// The rhythm of these distinct, ascending purchase days; `None` without any.
    pub fn of(days: &[i64]) -> Option<Rhythm> {
        let last_day = *days.last()?;
        let mut own: Vec<i64> = gaps(days).collect();
        let twice_median_gap = (own.len() >= OWN_GAPS).then(|| {
            own.sort_unstable();
            let middle = own.len() / 2;
            if own.len() % 2 == 1 { 2 * own[middle] } else { own[middle - 1] + own[middle] }
        });
        Some(Rhythm { last_day, twice_median_gap })
    }
}

/// The gaps in days between consecutive distinct, ascending purchase days.
pub fn gaps(days: &[i64]) -> impl Iterator<Item = i64> + '_ {
    days.windows(2).map(|pair| pair[1] - pair[0])
}

impl LapseRule {
    /// Learn the rule from every customer's distinct purchase days (ascending), up to
    /// the observation end. `None` with fewer than [`MINIMUM_GAPS`] gaps.
    pub fn learn<'a>(customers: impl IntoIterator<Item = &'a [i64]>) -> Option<LapseRule> {
        let mut counts = std::collections::BTreeMap::new();
        for gap in customers.into_iter().flat_map(gaps) {
            *counts.entry(gap).or_insert(0_u64) += 1;
        }
        LapseRule::from_gap_counts(&counts)
    }

    /// Learn the rule from how many gaps of each length (in days) the brand's customers
    /// have: a histogram, which merges across shards and engines. `None` with fewer than
    /// [`MINIMUM_GAPS`] gaps.
    pub fn from_gap_counts(counts: &std::collections::BTreeMap<i64, u64>) -> Option<LapseRule> {
        let total: u64 = counts.values().sum();
        let gaps = usize::try_from(total).ok()?;
        if gaps < MINIMUM_GAPS {
            return None;
        }
        // The nearest rank: the ⌈q·n⌉-th smallest gap.
        let rank = ((QUANTILE * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        let brand_days = counts.iter().find_map(|(&gap, &count)| {
            seen += count;
            (seen >= rank).then_some(gap)
        })?;
        Some(LapseRule { brand_days, gaps })
    }

    /// The lapse of a customer with these purchase days (distinct, ascending) on `today`
    /// (a local day number); `None` without a purchase on or before it.
    pub fn lapse(&self, days: &[i64], today: i64) -> Option<Lapse> {
        let end = days.partition_point(|&day| day <= today);
        self.lapse_of(&Rhythm::of(&days[..end])?, today)
    }

    /// The lapse of a customer with this rhythm (of purchase days up to `today`).
    pub fn lapse_of(&self, rhythm: &Rhythm, today: i64) -> Option<Lapse> {
        let own_gap = rhythm.twice_median_gap.map(|twice| twice as f64 / 2.0);
        let threshold = self.brand_days.max(rhythm.twice_median_gap.unwrap_or(0)).max(1);
        Some(Lapse { days_since: today - rhythm.last_day, threshold, own_gap })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(gap: i64, count: i64) -> Vec<i64> {
        (0..count).map(|k| k * gap).collect()
    }

    #[test]
    fn the_brand_threshold_is_the_nearest_rank_90th_percentile_of_gaps() {
        // 40 customers with gaps 1..=40 days (one gap each): the 36th smallest is 36.
        let customers: Vec<Vec<i64>> = (1..=40).map(|gap| vec![100, 100 + gap]).collect();
        let rule = LapseRule::learn(customers.iter().map(Vec::as_slice)).expect("enough gaps");
        assert_eq!(rule, LapseRule { brand_days: 36, gaps: 40 });
        // One-day customers and a lone purchase add no gap.
        let few: Vec<Vec<i64>> = (1..30).map(|gap| vec![0, gap]).chain([vec![5]]).collect();
        assert_eq!(LapseRule::learn(few.iter().map(Vec::as_slice)), None, "29 gaps are too few");
    }

    #[test]
    fn a_customer_lapses_past_the_brand_threshold_and_their_own_rhythm() {
        let rule = LapseRule { brand_days: 60, gaps: 1_000 };
        // One purchase: the brand's threshold alone.
        let lone = rule.lapse(&[0], 59).expect("bought");
        assert_eq!((lone.days_since, lone.threshold, lone.own_gap), (59, 60, None));
        assert!(!lone.is_lapsing());
        assert!(rule.lapse(&[0], 60).expect("bought").is_lapsing());
        assert!(!rule.lapse(&[0], 120).expect("bought").is_lapsing(), "long gone is not lapsing");
        // A customer who buys every 50 days lapses at 100, not at 60.
        let regular = every(50, 6);
        let lapse = rule.lapse(&regular, 250 + 99).expect("bought");
        assert_eq!((lapse.threshold, lapse.own_gap), (100, Some(50.0)));
        assert!(!lapse.is_lapsing());
        let lapse = rule.lapse(&regular, 250 + 100).expect("bought");
        assert!(lapse.is_lapsing() && lapse.crossed_within(1) && !lapse.crossed_within(0));
        assert!(lapse.describe(&rule).contains("twice their own usual gap of 50 days"), "{}", lapse.describe(&rule));
        // The median of an even count is the mean of the middle two: gaps 47 and 140
        // make a usual gap of 93.5 days and a threshold of 187.
        let lapse = rule.lapse(&[0, 47, 187], 187 + 137).expect("bought");
        assert_eq!((lapse.own_gap, lapse.threshold, lapse.is_lapsing()), (Some(93.5), 187, false));
        assert!(lapse.describe(&rule).contains("own usual gap of 93.5 days"), "{}", lapse.describe(&rule));
        assert_eq!(rule.lapse(&[0, 11, 36, 88, 186], 300).expect("bought").own_gap, Some(38.5));
        // A single gap is not a rhythm; purchases after today do not count.
        assert_eq!(rule.lapse(&[0, 10], 80).expect("bought").own_gap, None);
        assert_eq!(rule.lapse(&[0, 10, 500], 80).expect("bought").days_since, 70);
        assert_eq!(rule.lapse(&[500], 80), None);
    }
}
