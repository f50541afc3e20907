//! One customer's timeline: every event of that customer, grouped and sorted, in the
//! shape the measures read. Times are UTC seconds.
//!
//! The rules that turn raw interaction rows into conversations live here, so that the
//! analysis of a workspace and the synthetic brand's ground truth apply the same ones:
//!
//! * A conversation starts at its first **inbound** (customer) message. Rows before it
//!   (an agent reply timestamped before the message it answers — clock skew between
//!   systems — or a proactive outbound message) are not replies: the first response is
//!   the first outbound message at or after the start.
//! * A conversation with no inbound message is outreach, not a contact: it is left out
//!   of the service measures.
//! * A conversation with no agent reply has no response time (it counts in the
//!   conversations, not in the response-time median) and is unresolved unless a row
//!   says it was resolved.
//! * Resolved: the last row that says whether it was resolved decides.
//! * The opening and closing tones are those of the first and the last inbound message
//!   that carries a text; with one such message both are its tone.

use serde::{Deserialize, Serialize};

use rapport_core::event::EngagementType;
use rapport_core::survey::SurveyType;

/// The tone of a customer's message, from the sentiment scorer's compound score with
/// VADER's published cut-offs (compound ≤ −0.05 negative, ≥ 0.05 positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// compound ≤ −0.05.
    Negative,
    /// In between.
    Neutral,
    /// compound ≥ 0.05.
    Positive,
}

impl Tone {
    /// The compound score at or below which a text is negative (and at or above whose
    /// opposite it is positive).
    pub const NEGATIVE_AT_MOST: f64 = -0.05;

    /// The tone of a compound score (Hutto & Gilbert 2014's thresholds, as
    /// vaderSentiment's README recommends).
    pub fn of_compound(compound: f64) -> Tone {
        if compound <= Tone::NEGATIVE_AT_MOST {
            Tone::Negative
        } else if compound >= -Tone::NEGATIVE_AT_MOST {
            Tone::Positive
        } else {
            Tone::Neutral
        }
    }
}

/// A purchase (amount > 0) or a refund (amount < 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Purchase {
    /// UTC seconds.
    pub time: i64,
    /// Amount in the currency unit; negative for a refund.
    pub amount: f64,
    /// The row's margin, when the purchases carry one.
    #[serde(default)]
    pub margin: Option<f64>,
    /// For a refund naming an order that one of the customer's purchases carries: that
    /// purchase's time (UTC seconds). The customer summary nets the refund against that
    /// purchase's period, as `rapport summary` does, rather than counting it on its own day.
    #[serde(default)]
    pub order_time: Option<i64>,
    /// Local day number (days since 1970-01-01 in the workspace's zone); `i32` so that it
    /// and `order` fit where one `i64` did (a purchase stays 56 bytes: there is one per
    /// purchase row in memory).
    pub day: i32,
    /// The row's order, when it names one: a 32-bit hash of the order id ([`order_key`]),
    /// 0 for none. It tells a customer's orders apart (`purchases` counts them); two of one
    /// customer's orders share a hash with a chance of about n²/2³³ for n orders.
    #[serde(default)]
    pub order: u32,
}

/// The [`Purchase::order`] of an order id: a 32-bit FNV-1a hash, never 0.
// Written by hand: a fixed, fast 32-bit hash of a short string, the same in every process.
pub fn order_key(order_id: &str) -> u32 {
    let hash = order_id.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    hash.max(1)
}

/// A local day number as stored in [`Purchase::day`].
pub fn day_number(day: i64) -> i32 {
    // Days since 1970 in i32 reach beyond the year 5.8 million.
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}

impl Purchase {
    /// The UTC time the customer summary counts this row at.
    pub fn summary_time(&self) -> i64 {
        self.order_time.unwrap_or(self.time)
    }
}

/// One interaction row of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// UTC seconds.
    pub time: i64,
    /// From the customer (true) or from the brand (false).
    pub inbound: bool,
    /// The tone of the message's text, when it has one and was scored.
    pub tone: Option<Tone>,
    /// What the row says about the conversation being resolved.
    pub resolved: Option<bool>,
    /// The agent who wrote an outbound message.
    pub agent: Option<String>,
    /// The complaint topic of a negative customer message (an index into the run's
    /// complaint topics), when topics were found.
    pub topic: Option<u16>,
}

/// A service conversation, summarised by the rules of this module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The first inbound message.
    pub start: i64,
    /// The channel.
    pub channel: String,
    /// The agent of the first reply.
    pub agent: Option<String>,
    /// Seconds from the start to the first reply at or after it.
    pub first_response_seconds: Option<i64>,
    /// Seconds from the start to the last row.
    pub duration_seconds: i64,
    /// Whether the conversation was resolved.
    pub resolved: bool,
    /// Whether some row said whether it was resolved (an export without a resolved
    /// column says nothing, and its resolution rate is not 0%).
    pub resolution_stated: bool,
    /// Tone of the first inbound text.
    pub opening: Option<Tone>,
    /// Tone of the last inbound text.
    pub closing: Option<Tone>,
    /// Inbound messages with a tone: with fewer than two (and no stated resolution) the
    /// closing tone is the opening one, and a recovery could not show.
    pub customer_texts: u32,
    /// Rows timestamped before the start (replies before the message they answer).
    pub replies_before_start: u32,
    /// The complaint topic of its first customer message that has one.
    pub topic: Option<u16>,
}

impl Conversation {
    /// Summarise a conversation's rows; `None` when no row is inbound (outreach).
    pub fn from_messages(channel: &str, messages: &mut [Message]) -> Option<Conversation> {
        // Inbound first at equal times: a reply in the same second answers the message.
        messages.sort_by_key(|message| (message.time, !message.inbound));
        let start = messages.iter().find(|message| message.inbound)?.time;
        let reply = messages.iter().find(|message| !message.inbound && message.time >= start);
        let texts: Vec<Tone> = messages.iter().filter(|message| message.inbound).filter_map(|message| message.tone).collect();
        let resolved = messages.iter().rev().find_map(|message| message.resolved).unwrap_or(false);
        let last = messages.last().map_or(start, |message| message.time);
        Some(Conversation {
            start,
            channel: channel.to_string(),
            agent: reply.and_then(|reply| reply.agent.clone()),
            first_response_seconds: reply.map(|reply| reply.time - start),
            duration_seconds: (last - start).max(0),
            resolved,
            resolution_stated: messages.iter().any(|message| message.resolved.is_some()),
            opening: texts.first().copied(),
            closing: texts.last().copied(),
            customer_texts: texts.len() as u32,
            replies_before_start: messages.iter().filter(|message| message.time < start).count() as u32,
            topic: messages.iter().filter(|message| message.inbound).find_map(|message| message.topic),
        })
    }

    /// Opened negative.
    pub fn opened_negative(&self) -> bool {
        self.opening == Some(Tone::Negative)
    }

    /// Whether a recovery could show: it opened negative, and the customer wrote again or
    /// a row states whether it was resolved.
    pub fn recoverable(&self) -> bool {
        self.opened_negative() && (self.resolution_stated || self.customer_texts >= 2)
    }

    /// Recovered: opened negative and closed non-negative or resolved (judged on the
    /// opening and closing customer messages).
    pub fn recovered(&self) -> bool {
        self.opened_negative() && (self.resolved || self.closing.is_some_and(|tone| tone != Tone::Negative))
    }
}

/// Without a conversation id, a channel's rows split into conversations where more than
/// this many seconds (72 hours) pass between rows.
pub const CONVERSATION_GAP: i64 = 72 * 3_600;

/// One interaction row of a customer, before rows are grouped into conversations.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadRow {
    /// The conversation id the row names, if any.
    pub conversation: Option<String>,
    /// The channel.
    pub channel: String,
    /// The row.
    pub message: Message,
}

/// One customer's interaction rows as conversations: rows naming the same conversation id
/// on the same channel are one conversation; rows without an id are split per channel
/// where more than [`CONVERSATION_GAP`] passes. Outreach (no inbound row) is left out.
///
/// The rows are sorted first by every field, so the result does not depend on the order
/// they arrive in (the embedded analysis and the DataFusion plan group them differently).
pub fn conversations(rows: &mut [ThreadRow]) -> Vec<Conversation> {
    fn key(row: &ThreadRow) -> (Option<&str>, &str, i64, bool, Option<Tone>, Option<bool>) {
        let message = &row.message;
        (row.conversation.as_deref(), row.channel.as_str(), message.time, !message.inbound, message.tone, message.resolved)
    }
    rows.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| (&a.message.agent, a.message.topic).cmp(&(&b.message.agent, b.message.topic))));
    let mut found = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let first = &rows[start];
        let mut end = start + 1;
        while end < rows.len() && rows[end].conversation == first.conversation && rows[end].channel == first.channel {
            end += 1;
        }
        let channel = first.channel.clone();
        let named = first.conversation.is_some();
        let mut messages: Vec<Message> = rows[start..end].iter().map(|row| row.message.clone()).collect();
        if named {
            found.extend(Conversation::from_messages(&channel, &mut messages));
        } else {
            let mut from = 0;
            for index in 1..=messages.len() {
                if index == messages.len() || messages[index].time - messages[index - 1].time > CONVERSATION_GAP {
                    found.extend(Conversation::from_messages(&channel, &mut messages[from..index]));
                    from = index;
                }
            }
        }
        start = end;
    }
    found
}

/// A survey answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// NPS, CSAT or CES.
    pub survey: SurveyType,
    /// The answer on the survey's scale.
    pub score: f64,
    /// UTC seconds.
    pub time: i64,
    /// Where it was asked (store, checkout, chat…).
    pub touchpoint: Option<String>,
    /// Journey stage.
    pub stage: Option<String>,
    /// The channel it was asked on.
    pub channel: Option<String>,
}

/// An engagement event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    /// What kind.
    pub kind: EngagementType,
    /// UTC seconds.
    pub time: i64,
    /// A review's rating (0–5).
    pub rating: Option<f64>,
}

/// A program sent to the customer, or withheld as control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramContact {
    /// The program's name.
    pub program: String,
    /// UTC seconds.
    pub time: i64,
    /// In the held-out control group.
    pub control: bool,
    /// What the contact cost: its message cost and any rewards paid for it.
    #[serde(default)]
    pub cost: f64,
    /// The same in millionths of the currency unit, summed exactly (ROR's sums, the
    /// same bits in any order of rows).
    #[serde(default)]
    pub cost_micros: i64,
    /// The channel it went on.
    #[serde(default)]
    pub channel: Option<String>,
}

/// A cost of the relationship that is not a program's: a contact or a reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// UTC seconds.
    pub time: i64,
    /// A reward (true) or a contact (false).
    pub reward: bool,
    /// The channel, when stated.
    pub channel: Option<String>,
    /// Amount in the currency unit.
    pub amount: f64,
}

/// Every event of one customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The customer's id.
    pub customer: String,
    /// Region from the customer file.
    pub region: Option<String>,
    /// Distance from the customer's home (customer file) to the nearest store, km.
    pub store_distance_km: Option<f64>,
    /// Named as the referred customer of a referral.
    pub referred: bool,
    /// Referrals this customer made.
    pub referrals_made: u32,
    /// Purchases and refunds, by time.
    pub purchases: Vec<Purchase>,
    /// Conversations, by start.
    pub conversations: Vec<Conversation>,
    /// Survey answers, by time.
    pub answers: Vec<Answer>,
    /// Engagement, by time.
    pub engagement: Vec<Engagement>,
    /// Programs, by time.
    pub programs: Vec<ProgramContact>,
    /// Contact and reward costs not paid for a program, by time.
    #[serde(default)]
    pub costs: Vec<Cost>,
}

impl Timeline {
    /// Sort every list by time (the measures assume it).
    pub fn sort(&mut self) {
        self.purchases.sort_by(|a, b| a.time.cmp(&b.time).then(b.amount.total_cmp(&a.amount)));
        self.conversations.sort_by_key(|conversation| conversation.start);
        // Answers in the same second: by score, so "the latest answer" does not depend on
        // the order rows were stored in.
        self.answers.sort_by(|a, b| a.time.cmp(&b.time).then(a.score.total_cmp(&b.score)));
        self.engagement.sort_by_key(|engagement| engagement.time);
        // Contacts in the same second: a treated one first, then by program, cost and
        // channel, so that a customer's first contact with a program (the measures'
        // arms) does not depend on the order rows were stored in.
        self.programs.sort_by(|a, b| {
            (a.time, a.control, &a.program, a.cost_micros, &a.channel).cmp(&(b.time, b.control, &b.program, b.cost_micros, &b.channel))
        });
        self.costs.sort_by_key(|cost| cost.time);
    }

    /// Return every list's spare capacity (a list grown by pushes holds up to twice its
    /// rows): the timelines of a large brand are most of an analysis's memory.
    pub fn shrink_to_fit(&mut self) {
        self.purchases.shrink_to_fit();
        self.conversations.shrink_to_fit();
        self.answers.shrink_to_fit();
        self.engagement.shrink_to_fit();
        self.programs.shrink_to_fit();
        self.costs.shrink_to_fit();
    }
}

/// One customer's event columns in the customer table, from their timeline or from the
/// DataFusion plans of the same aggregation (`rapport_sql::features`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerEvents {
    /// Orders: distinct order ids of the non-negative purchase rows, or their distinct
    /// times where rows name no order (a zero amount is a free order; an export with a row
    /// per line item gives an order's lines one time).
    pub purchases: u64,
    /// Refunds: distinct times of the negative rows.
    pub refunds: u64,
    /// Net spend in millionths of the currency unit, summed exactly.
    pub net_micros: i128,
    /// UTC seconds of the first order.
    pub first_purchase: Option<i64>,
    /// UTC seconds of the last order.
    pub last_purchase: Option<i64>,
    /// Conversations (each with a customer message).
    pub conversations: u64,
    /// Of them, opened negative.
    pub opened_negative: u64,
    /// Of them, recovered.
    pub recovered: u64,
    /// Of them, unresolved.
    pub unresolved: u64,
    /// The latest NPS answer.
    pub last_nps: Option<f64>,
    /// Follows, likes, shares, reposts and mentions.
    pub social_engagement: u64,
    /// Reviews written.
    pub reviews: u64,
    /// Referrals made.
    pub referrals_made: u64,
    /// Named as the referred customer of a referral.
    pub referred: bool,
    /// UTC seconds of the first event of any kind the relationship stage reads (a purchase
    /// or refund row, a conversation's start, a survey answer, an engagement): where the
    /// relationship starts (longevity, and the strength model's split).
    pub first_event: Option<i64>,
    /// Distinct local days (in the workspace's zone) with a non-negative purchase row:
    /// RFM's frequency.
    pub purchase_days: u64,
    /// Engagement events of the kinds Rapport knows (one of the clusters' inputs).
    pub engagement: u64,
    /// Shares and reposts (advocacy).
    pub shares: u64,
    /// Reviews rated 4 or more (advocacy).
    pub positive_reviews: u64,
}

impl CustomerEvents {
    /// The customer's advocacy (the latest NPS answer, shares, positive reviews and
    /// referrals), as [`Advocacy::of`] reads it from the timeline.
    pub fn advocacy(&self) -> Advocacy {
        let count = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
        Advocacy {
            promoter: self.last_nps.is_some_and(|score| score >= 9.0),
            shares: count(self.shares),
            positive_reviews: count(self.positive_reviews),
            referrals: count(self.referrals_made),
        }
    }

    /// The columns of a sorted timeline; local days in `zone`.
    pub fn of(timeline: &Timeline, zone: rapport_core::time::Zone) -> CustomerEvents {
        // Refunds: distinct times (a partial refund of an order, then another, are two).
        let refunds = {
            let mut times: Vec<i64> =
                timeline.purchases.iter().filter(|purchase| purchase.amount < 0.0).map(|purchase| purchase.time).collect();
            times.dedup();
            times.len() as u64
        };
        // Orders: distinct order ids where rows name one, distinct times where they do not.
        let purchases = {
            let mut keys: Vec<(bool, i64)> = timeline
                .purchases
                .iter()
                .filter(|purchase| purchase.amount >= 0.0)
                .map(|purchase| if purchase.order == 0 { (false, purchase.time) } else { (true, i64::from(purchase.order)) })
                .collect();
            keys.sort_unstable();
            keys.dedup();
            keys.len() as u64
        };
        let count = |test: &dyn Fn(&Conversation) -> bool| timeline.conversations.iter().filter(|found| test(found)).count() as u64;
        let orders_only = || timeline.purchases.iter().filter(|purchase| purchase.amount >= 0.0);
        CustomerEvents {
            purchases,
            refunds,
            net_micros: timeline.purchases.iter().map(|purchase| i128::from(rapport_core::summary::to_micros(purchase.amount))).sum(),
            first_purchase: orders_only().map(|purchase| purchase.time).min(),
            last_purchase: orders_only().map(|purchase| purchase.time).max(),
            conversations: timeline.conversations.len() as u64,
            opened_negative: count(&Conversation::opened_negative),
            recovered: count(&Conversation::recovered),
            unresolved: count(&|conversation| !conversation.resolved),
            last_nps: timeline.answers.iter().rev().find(|answer| answer.survey == SurveyType::Nps).map(|answer| answer.score),
            social_engagement: timeline.engagement.iter().filter(|event| is_social(event.kind)).count() as u64,
            reviews: timeline.engagement.iter().filter(|event| event.kind == EngagementType::Review).count() as u64,
            referrals_made: u64::from(timeline.referrals_made),
            referred: timeline.referred,
            first_event: [
                timeline.purchases.first().map(|purchase| purchase.time),
                timeline.conversations.first().map(|conversation| conversation.start),
                timeline.answers.first().map(|answer| answer.time),
                timeline.engagement.first().map(|event| event.time),
            ]
            .into_iter()
            .flatten()
            .min(),
            purchase_days: {
                let mut days: Vec<i64> = orders_only().map(|purchase| zone.local_day(purchase.time)).collect();
                days.sort_unstable();
                days.dedup();
                days.len() as u64
            },
            engagement: timeline.engagement.len() as u64,
            shares: timeline.engagement.iter().filter(|event| matches!(event.kind, EngagementType::Share | EngagementType::Retweet)).count()
                as u64,
            positive_reviews: timeline
                .engagement
                .iter()
                .filter(|event| event.kind == EngagementType::Review && event.rating.is_some_and(|rating| rating >= 4.0))
                .count() as u64,
        }
    }
}

/// Whether an engagement kind is social engagement with the brand (follows, likes,
/// shares, reposts, mentions) as opposed to reviews, referrals, visits and views.
pub fn is_social(kind: EngagementType) -> bool {
    matches!(
        kind,
        EngagementType::Follow | EngagementType::Like | EngagementType::Share | EngagementType::Retweet | EngagementType::Mention
    )
}

/// Advocacy of one customer as of `as_of`: the latest NPS answer, shares, positive
/// reviews (rating 4 or more) and referrals made, over the whole history.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Advocacy {
    /// The latest NPS answer is 9 or 10.
    pub promoter: bool,
    /// Shares and reposts.
    pub shares: u32,
    /// Reviews rated 4 or 5.
    pub positive_reviews: u32,
    /// Referrals made.
    pub referrals: u32,
}

impl Advocacy {
    /// Read a timeline (lists sorted by time) as of `as_of`.
    pub fn of(timeline: &Timeline, as_of: i64) -> Advocacy {
        let latest_nps = timeline.answers.iter().rev().find(|answer| answer.time <= as_of && answer.survey == SurveyType::Nps);
        let count = |keep: &dyn Fn(&Engagement) -> bool| {
            timeline.engagement.iter().filter(|event| event.time <= as_of && keep(event)).count() as u32
        };
        Advocacy {
            promoter: latest_nps.is_some_and(|answer| answer.score >= 9.0),
            shares: count(&|event| matches!(event.kind, EngagementType::Share | EngagementType::Retweet)),
            positive_reviews: count(&|event| event.kind == EngagementType::Review && event.rating.is_some_and(|rating| rating >= 4.0)),
            referrals: count(&|event| event.kind == EngagementType::Referral),
        }
    }

    /// The advocacy score, 0–100: 25 points each for being a promoter, for sharing (full
    /// at 3 shares), for positive reviews (full at 2) and for referring (full at 1).
    pub fn score(&self) -> f64 {
        let part = |count: u32, full: u32| f64::from(count.min(full)) / f64::from(full);
        25.0 * (f64::from(u8::from(self.promoter)) + part(self.shares, 3) + part(self.positive_reviews, 2) + part(self.referrals, 1))
    }

    /// An ambassador: a promoter who also shares, reviews positively or refers.
    pub fn ambassador(&self) -> bool {
        self.promoter && (self.shares > 0 || self.positive_reviews > 0 || self.referrals > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(time: i64, inbound: bool, tone: Option<Tone>, resolved: Option<bool>) -> Message {
        Message { time, inbound, tone, resolved, agent: (!inbound).then(|| "ana".to_string()), topic: None }
    }

    /// Orders are told apart by their order ids where rows carry one (an invoice whose
    /// lines are stamped a minute apart is one), by their times where rows carry none;
    /// refunds by their times.
    #[test]
    fn orders_by_id_else_by_time() {
        let row = |time: i64, amount: f64, order: Option<&str>| Purchase {
            time,
            amount,
            margin: None,
            order_time: None,
            day: day_number(time / 86_400),
            order: order.map_or(0, order_key),
        };
        let mut timeline = Timeline {
            purchases: vec![
                row(1_000, 5.0, Some("536365")),
                row(1_060, 6.0, Some("536365")),
                row(1_060, 2.0, Some("536366")),
                row(2_000, 1.0, None),
                row(2_000, 1.5, None),
                row(3_000, 0.0, None),
                row(4_000, -2.0, Some("536365")),
                row(5_000, -1.0, Some("536365")),
            ],
            ..Timeline::default()
        };
        timeline.sort();
        let events = CustomerEvents::of(&timeline, rapport_core::time::Zone::Utc);
        assert_eq!((events.purchases, events.refunds), (4, 2));
        assert_eq!((events.first_purchase, events.last_purchase), (Some(1_000), Some(3_000)));
        assert_ne!(order_key("536365"), order_key("536366"));
        assert_ne!(order_key(""), 0);
        // The order costs no memory: a purchase row is as large as before it was kept.
        assert_eq!(std::mem::size_of::<Purchase>(), 56);
    }

    #[test]
    fn a_reply_before_the_message_is_not_a_response() {
        let mut rows =
            vec![message(90, false, None, None), message(100, true, Some(Tone::Negative), None), message(160, false, None, Some(true))];
        let conversation = Conversation::from_messages("chat", &mut rows).expect("inbound");
        assert_eq!(conversation.first_response_seconds, Some(60));
        assert_eq!(conversation.replies_before_start, 1);
        assert!(conversation.resolved && conversation.recovered());
    }

    #[test]
    fn no_reply_no_response_time_and_unresolved() {
        let mut rows = vec![message(100, true, Some(Tone::Negative), None)];
        let conversation = Conversation::from_messages("email", &mut rows).expect("inbound");
        assert_eq!(conversation.first_response_seconds, None);
        assert!(!conversation.resolved && !conversation.recovered());
        let mut outreach = vec![message(100, false, None, None)];
        assert!(Conversation::from_messages("email", &mut outreach).is_none());
    }

    #[test]
    fn recovery_is_judged_on_opening_and_closing_messages() {
        let mut rows = vec![
            message(0, true, Some(Tone::Negative), None),
            message(10, false, None, Some(false)),
            message(20, true, Some(Tone::Positive), None),
        ];
        let conversation = Conversation::from_messages("social", &mut rows).expect("inbound");
        assert!(conversation.recovered() && !conversation.resolved);
        assert_eq!((conversation.opening, conversation.closing), (Some(Tone::Negative), Some(Tone::Positive)));
    }

    #[test]
    fn advocacy_score_and_ambassadors() {
        let answer = |score: f64, time: i64| Answer { survey: SurveyType::Nps, score, time, touchpoint: None, stage: None, channel: None };
        let event = |kind: EngagementType, rating: Option<f64>| Engagement { kind, time: 5, rating };
        let mut timeline = Timeline { answers: vec![answer(3.0, 1), answer(10.0, 2)], ..Timeline::default() };
        timeline.engagement =
            vec![event(EngagementType::Share, None), event(EngagementType::Review, Some(5.0)), event(EngagementType::Review, Some(2.0))];
        let advocacy = Advocacy::of(&timeline, 10);
        assert!(advocacy.promoter && advocacy.ambassador());
        assert!((advocacy.score() - (25.0 + 25.0 / 3.0 + 12.5)).abs() < 1e-12);
        // As of before the promoter answer, the detractor answer is the latest.
        assert!(!Advocacy::of(&timeline, 1).promoter);
    }

    #[test]
    fn tones_follow_vaders_cut_offs() {
        assert_eq!(Tone::of_compound(-0.05), Tone::Negative);
        assert_eq!(Tone::of_compound(0.0), Tone::Neutral);
        assert_eq!(Tone::of_compound(0.05), Tone::Positive);
    }
}
