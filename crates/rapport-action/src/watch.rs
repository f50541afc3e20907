//! The top tier's watch list: the risk signals of a customer's recent conversations and
//! NPS answers.

use rapport_core::survey::SurveyType;
use rapport_core::time::{ParsedTime, Zone};
use rapport_measures::timeline::Conversation;
use rapport_measures::{Timeline, Tone};

/// A risk signal the top tier's watch list reads: a conversation or an NPS answer since
/// the watch window began. A customer's signals are ordered conversations first, by start,
/// channel and kind, then answers by time and score, so that every engine lists them alike.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// A conversation opened negative and left unresolved (`complaint`), or one that
    /// opened or closed negative.
    Conversation {
        /// UTC seconds of its first message.
        start: i64,
        /// Its channel.
        channel: String,
        /// Opened negative and left unresolved (else a negative opening or closing).
        complaint: bool,
    },
    /// An NPS answer of 6 or less.
    Detractor {
        /// UTC seconds.
        time: i64,
        /// The answer, 0–10.
        score: f64,
    },
}

impl Signal {
    /// Whether a conversation is a signal: `Some(true)` an unresolved complaint,
    /// `Some(false)` negative sentiment, `None` neither.
    pub fn of_conversation(conversation: &Conversation) -> Option<bool> {
        if conversation.opened_negative() && !conversation.resolved {
            Some(true)
        } else {
            (conversation.closing == Some(Tone::Negative) || conversation.opening == Some(Tone::Negative)).then_some(false)
        }
    }

    /// A timeline's signals at or after `since`, in order.
    pub fn recent(timeline: &Timeline, since: i64) -> Vec<Signal> {
        let mut signals: Vec<Signal> = timeline
            .conversations
            .iter()
            .filter(|conversation| conversation.start >= since)
            .filter_map(|conversation| {
                Signal::of_conversation(conversation).map(|complaint| Signal::Conversation {
                    start: conversation.start,
                    channel: conversation.channel.clone(),
                    complaint,
                })
            })
            .chain(
                timeline
                    .answers
                    .iter()
                    .filter(|answer| answer.time >= since && answer.survey == SurveyType::Nps && answer.score <= 6.0)
                    .map(|answer| Signal::Detractor { time: answer.time, score: answer.score }),
            )
            .collect();
        Signal::order(&mut signals);
        signals
    }

    /// Put a customer's signals in order.
    pub fn order(signals: &mut [Signal]) {
        let key = |signal: &Signal| match signal {
            Signal::Conversation { start, channel, complaint } => (0, *start, channel.clone(), !complaint, 0.0),
            Signal::Detractor { time, score } => (1, *time, String::new(), false, *score),
        };
        signals.sort_by(|a, b| {
            let (a, b) = (key(a), key(b));
            (a.0, a.1, &a.2, a.3).cmp(&(b.0, b.1, &b.2, b.3)).then(a.4.total_cmp(&b.4))
        });
    }

    /// The signal in words, its date in `zone`.
    pub fn describe(&self, zone: Zone) -> String {
        let date = |time: i64| rapport_core::time::format_local(zone.local_seconds(ParsedTime::Instant(time)))[..10].to_string();
        match self {
            Signal::Conversation { start, channel, complaint: true } => format!("unresolved complaint on {channel} ({})", date(*start)),
            Signal::Conversation { start, channel, complaint: false } => format!("negative sentiment on {channel} ({})", date(*start)),
            Signal::Detractor { time, score } => format!("detractor: NPS {score} ({})", date(*time)),
        }
    }
}
