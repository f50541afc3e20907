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

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(action: &str, priority: u8, cooldown_days: u32) -> Proposal {
        Proposal { action: action.into(), priority, cooldown_days, channel: None, reason: String::new() }
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
