//! The "like a friend" playbook: which action each customer should get next, on which
//! channel, and why — with the numbers behind it.
//!
//! Rules propose actions; a customer then gets at most one, the highest priority that is
//! not in its cooldown (the same action sent within `cooldown_days` before) and not
//! blocked by the frequency cap (any action within `frequency_cap_days`). The channel is
//! the customer's preferred one unless consent forbids it (e-mail and SMS need consent),
//! else the next allowed of e-mail, SMS and post; an opted-out customer gets nothing. A
//! random (but reproducible) share of the actions is held out as control, listed and
//! flagged but not to be sent, so the action's effect can be measured.

use rapport_core::event::EngagementType;
use rapport_core::survey::SurveyType;
use rapport_measures::Timeline;
use serde::{Deserialize, Serialize};

/// The built-in actions: (name, priority, cooldown days).
pub const DEFAULT_RULES: [(&str, u8, u32); 8] = [
    ("service_recovery", 90, 7),
    ("win_back", 80, 60),
    ("proactive_help", 70, 14),
    ("welcome_back", 60, 180),
    ("thank_you", 50, 30),
    ("ask_for_review", 40, 180),
    ("ask_for_referral", 35, 180),
    ("surprise_and_delight", 30, 90),
];

/// One proposed action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The action's name.
    pub action: String,
    /// Higher goes first.
    pub priority: u8,
    /// Days before the same action may go to the same customer again.
    pub cooldown_days: u32,
    /// A channel the rule asks for (`None`: the customer's preferred channel).
    pub channel: Option<String>,
    /// Why, with the numbers behind it.
    pub reason: String,
}

/// What consent allows for one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    /// The preferred channel from the customers file.
    pub preferred: Option<String>,
    /// E-mail consent (`None`: not stated, allowed).
    pub email: Option<bool>,
    /// SMS consent (`None`: not stated, allowed).
    pub sms: Option<bool>,
    /// Opted out of all contact.
    pub opted_out: bool,
}

impl Consent {
    fn allows(&self, channel: &str) -> bool {
        match channel {
            "email" => self.email != Some(false),
            "sms" => self.sms != Some(false),
            _ => true,
        }
    }

    /// The channel to use: the asked or preferred one when allowed, else the first allowed
    /// of e-mail, SMS and post; `None` for an opted-out customer.
    pub fn channel(&self, asked: Option<&str>) -> Option<String> {
        if self.opted_out {
            return None;
        }
        let first = asked.or(self.preferred.as_deref()).unwrap_or("email");
        std::iter::once(first).chain(["email", "sms", "mail"]).find(|channel| self.allows(channel)).map(str::to_string)
    }
}

/// A chosen action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chosen {
    /// The proposal chosen.
    pub proposal: Proposal,
    /// The channel it goes on.
    pub channel: String,
}

/// Choose one proposal for a customer: the highest priority (then the rule's order) whose
/// action is not in cooldown, unless an action went out within the frequency cap.
/// `days_since(action)` gives the days since that action last went to the customer
/// (`None`: never); `days_since_any` the days since any action.
pub fn choose(
    proposals: &[Proposal],
    consent: &Consent,
    days_since: &dyn Fn(&str) -> Option<i64>,
    days_since_any: Option<i64>,
    frequency_cap_days: u32,
) -> Option<Chosen> {
    if days_since_any.is_some_and(|days| days < i64::from(frequency_cap_days)) {
        return None;
    }
    let mut order: Vec<&Proposal> = proposals.iter().collect();
    order.sort_by_key(|proposal| std::cmp::Reverse(proposal.priority));
    order
        .into_iter()
        .filter(|proposal| days_since(&proposal.action).is_none_or(|days| days >= i64::from(proposal.cooldown_days)))
        .find_map(|proposal| Some(Chosen { proposal: proposal.clone(), channel: consent.channel(proposal.channel.as_deref())? }))
}

/// Whether an action is held out as control: a fraction `share` of (customer, action, day)
/// triples, by a hash, so the same run gives the same answer.
pub fn is_control(key: &[u8; 32], share: f64) -> bool {
    let value = u64::from_le_bytes([key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7]]);
    (value as f64 / u64::MAX as f64) < share
}

/// Milestone order counts that earn a thank-you.
pub const MILESTONES: [u32; 6] = [3, 5, 10, 25, 50, 100];
/// How recent a trigger must be for its action, days.
pub const RECENT_DAYS: i64 = 14;
/// Days after a trigger in which a contact counts as following it (proactive help).
pub const FOLLOW_DAYS: i64 = 7;
/// Days back a milestone order counts as new (a thank-you), and an anniversary.
pub const MILESTONE_DAYS: i64 = 7;
const DAY: i64 = 86_400;

/// What the built-in rules read of one customer's events at the observation end: the same
/// from the timeline ([`PlaybookFacts::of`]) or from the plans of another engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaybookFacts {
    /// The latest conversation started in the last [`RECENT_DAYS`] that opened negative
    /// and was left unresolved: its start (UTC seconds) and channel (among several at one
    /// start, the greatest channel name).
    pub complaint: Option<(i64, String)>,
    /// The latest conversation's start.
    pub last_contact: Option<i64>,
    /// The latest article view (self-service session).
    pub last_article_view: Option<i64>,
    /// The latest review.
    pub last_review: Option<i64>,
    /// The latest referral.
    pub last_referral: Option<i64>,
    /// The latest NPS answer: its time and score (among several at one time, the highest).
    pub last_nps: Option<(i64, f64)>,
    /// Orders: the distinct times of the positive purchase rows.
    pub orders: u32,
    /// The first order's time.
    pub first_order: Option<i64>,
    /// The order before the last, and the last.
    pub last_orders: (Option<i64>, Option<i64>),
    /// The orders of the last [`MILESTONE_DAYS`] (after `as_of` − that), ascending.
    pub week_orders: Vec<i64>,
}

impl PlaybookFacts {
    /// A timeline's facts at `as_of`.
    pub fn of(timeline: &Timeline, as_of: i64) -> PlaybookFacts {
        let recent = as_of - RECENT_DAYS * DAY;
        let complaint = timeline
            .conversations
            .iter()
            .filter(|c| c.start >= recent && c.opened_negative() && !c.resolved)
            .max_by(|a, b| (a.start, &a.channel).cmp(&(b.start, &b.channel)))
            .map(|c| (c.start, c.channel.clone()));
        let last_engagement = |kind: EngagementType| timeline.engagement.iter().filter(|e| e.kind == kind).map(|e| e.time).max();
        let last_nps = timeline
            .answers
            .iter()
            .filter(|answer| answer.survey == SurveyType::Nps)
            .map(|answer| (answer.time, answer.score))
            .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut orders: Vec<i64> = timeline.purchases.iter().filter(|p| p.amount > 0.0).map(|p| p.time).collect();
        orders.sort_unstable();
        orders.dedup();
        let week = as_of - MILESTONE_DAYS * DAY;
        let last = orders.len().checked_sub(1);
        PlaybookFacts {
            complaint,
            last_contact: timeline.conversations.iter().map(|c| c.start).max(),
            last_article_view: last_engagement(EngagementType::ArticleView),
            last_review: last_engagement(EngagementType::Review),
            last_referral: last_engagement(EngagementType::Referral),
            last_nps,
            orders: u32::try_from(orders.len()).unwrap_or(u32::MAX),
            first_order: orders.first().copied(),
            last_orders: (last.and_then(|last| last.checked_sub(1)).map(|i| orders[i]), last.map(|i| orders[i])),
            week_orders: orders.iter().copied().filter(|&time| time > week).collect(),
        }
    }

    /// The smallest milestone order count reached by an order of the last
    /// [`MILESTONE_DAYS`], with that order's time.
    pub fn new_milestone(&self) -> Option<(u32, i64)> {
        let before = self.orders - self.week_orders.len() as u32;
        MILESTONES.iter().find(|&&n| n > before && n <= self.orders).map(|&n| (n, self.week_orders[(n - before - 1) as usize]))
    }
}

/// The triggers a predictable need is learned from, in [`NeedCounts`]' order.
pub const TRIGGERS: [&str; 2] = ["article-view", "purchase"];

/// Of each trigger's events at least [`FOLLOW_DAYS`] before the observation end, how
/// many were followed by a conversation within that many days, and how many there were:
/// `(followed, n)` per trigger of [`TRIGGERS`]. Sums over customers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeedCounts(pub [(u64, u64); 2]);

impl NeedCounts {
    /// A timeline's counts at `as_of`.
    pub fn of(timeline: &Timeline, as_of: i64) -> NeedCounts {
        let mut starts: Vec<i64> = timeline.conversations.iter().map(|c| c.start).collect();
        starts.sort_unstable();
        let views: Vec<i64> = timeline.engagement.iter().filter(|e| e.kind == EngagementType::ArticleView).map(|e| e.time).collect();
        let purchases: Vec<i64> = timeline.purchases.iter().filter(|p| p.amount > 0.0).map(|p| p.time).collect();
        NeedCounts([followed(&views, &starts, as_of), followed(&purchases, &starts, as_of)])
    }

    /// Add another customer's (or partition's) counts.
    pub fn add(&mut self, other: NeedCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            (mine.0, mine.1) = (mine.0 + theirs.0, mine.1 + theirs.1);
        }
    }
}

/// Of `triggers` (UTC seconds, any order) at least [`FOLLOW_DAYS`] before `as_of`, how
/// many have a conversation start in the [`FOLLOW_DAYS`] after them (`starts` ascending),
/// and how many there are.
pub fn followed(triggers: &[i64], starts: &[i64], as_of: i64) -> (u64, u64) {
    let follow = FOLLOW_DAYS * DAY;
    let mut counts = (0, 0);
    for &time in triggers.iter().filter(|&&time| time + follow <= as_of) {
        counts.1 += 1;
        // The first conversation after the trigger: is it within the window?
        let next = starts.partition_point(|&start| start <= time);
        counts.0 += u64::from(starts.get(next).is_some_and(|&start| start <= time + follow));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(action: &str, priority: u8, cooldown_days: u32) -> Proposal {
        Proposal { action: action.into(), priority, cooldown_days, channel: None, reason: String::new() }
    }

    /// The fifth order, placed this week after four before it, is the milestone; the
    /// third was earlier; 2 orders this week after 9 reach the tenth.
    #[test]
    fn a_milestone_is_reached_by_an_order_of_the_week() {
        let facts = |orders: u32, week_orders: Vec<i64>| PlaybookFacts { orders, week_orders, ..PlaybookFacts::default() };
        assert_eq!(facts(5, vec![100]).new_milestone(), Some((5, 100)));
        assert_eq!(facts(4, vec![100]).new_milestone(), None);
        assert_eq!(facts(11, vec![100, 200]).new_milestone(), Some((10, 100)));
        assert_eq!(facts(3, vec![10, 20, 30]).new_milestone(), Some((3, 30)));
        assert_eq!(facts(2, vec![]).new_milestone(), None);
    }

    /// A trigger is followed by a contact that starts after it and within FOLLOW_DAYS; a
    /// trigger too close to the end is not counted; one contact can follow several.
    #[test]
    fn followed_counts_contacts_within_the_window() {
        let day = DAY;
        let as_of = 100 * day;
        let triggers = [10 * day, 10 * day, 20 * day, 30 * day, 95 * day];
        let starts = [10 * day, 12 * day, 28 * day + 1, 60 * day];
        // 10 (twice): the start at 10 is not after it, the one at 12 is within 7 days;
        // 20: the next start is 28 days + 1 s, outside; 30: none; 95: too late to judge.
        assert_eq!(followed(&triggers, &starts, as_of), (2, 4));
        assert_eq!(followed(&[20 * day], &[27 * day], as_of), (1, 1), "the window's last second counts");
        assert_eq!(followed(&[], &starts, as_of), (0, 0));
    }

    #[test]
    fn consent_decides_the_channel() {
        let consent = Consent { preferred: Some("sms".into()), email: Some(true), sms: Some(false), opted_out: false };
        assert_eq!(consent.channel(None).as_deref(), Some("email"));
        let consent = Consent { preferred: Some("email".into()), email: Some(false), sms: Some(false), opted_out: false };
        assert_eq!(consent.channel(None).as_deref(), Some("mail"));
        let consent = Consent { preferred: Some("chat".into()), ..Consent::default() };
        assert_eq!(consent.channel(None).as_deref(), Some("chat"));
        assert_eq!(Consent { opted_out: true, ..Consent::default() }.channel(None), None);
    }

    #[test]
    fn the_highest_priority_not_in_cooldown_wins() {
        let proposals = [proposal("thank_you", 50, 30), proposal("win_back", 80, 60)];
        let consent = Consent::default();
        let chosen = choose(&proposals, &consent, &|_| None, None, 7).expect("chosen");
        assert_eq!(chosen.proposal.action, "win_back");
        let recent_win_back = |action: &str| (action == "win_back").then_some(10);
        assert_eq!(choose(&proposals, &consent, &recent_win_back, Some(10), 7).expect("chosen").proposal.action, "thank_you");
        assert!(choose(&proposals, &consent, &|_| None, Some(3), 7).is_none(), "frequency cap");
        assert!(choose(&proposals, &Consent { opted_out: true, ..Consent::default() }, &|_| None, None, 7).is_none());
    }

    #[test]
    fn control_is_about_the_share() {
        let held = (0..10_000_u32).filter(|i| is_control(blake3_like(*i), 0.1)).count();
        assert!((800..1200).contains(&held), "{held}");
    }

    fn blake3_like(i: u32) -> &'static [u8; 32] {
        // A spread of keys: a multiplicative hash of i in the first eight bytes.
        let value = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut key = [0_u8; 32];
        key[..8].copy_from_slice(&value.to_le_bytes());
        Box::leak(Box::new(key))
    }
}
