//! The event model: one customer timeline built from several kinds of events.
//!
//! Every kind has an id (optional in the source; re-sent events with the same id are
//! not counted twice), a customer and a time, plus the fields listed in
//! `PRODUCT.md`. Each kind describes its fields with [`FieldSpec`]s so that readers,
//! validation and storage share one schema, and [`EventKind::validate_row`] applies the
//! rules that involve several fields (an NPS score must lie in 0–10, a CSAT in 1–5).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::survey::SurveyType;

/// The kinds of events a workspace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Customer profile: first seen, location, preferred channel, consent.
    Customers,
    /// Purchases (and refunds: negative amounts).
    Purchases,
    /// Service and social interactions.
    Interactions,
    /// NPS / CSAT / CES survey answers.
    Surveys,
    /// Social and site engagement.
    Engagement,
    /// Retention actions sent, responses and control-group flags.
    Programs,
    /// Costs of contacts and rewards.
    Costs,
    /// The brand's stores and their locations (reference data: no customer).
    Stores,
}

impl EventKind {
    /// All kinds, in storage order.
    pub const ALL: [EventKind; 8] = [
        EventKind::Customers,
        EventKind::Purchases,
        EventKind::Interactions,
        EventKind::Surveys,
        EventKind::Engagement,
        EventKind::Programs,
        EventKind::Costs,
        EventKind::Stores,
    ];

    /// The kind's name as used on the command line and in the workspace.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Customers => "customers",
            EventKind::Purchases => "purchases",
            EventKind::Interactions => "interactions",
            EventKind::Surveys => "surveys",
            EventKind::Engagement => "engagement",
            EventKind::Programs => "programs",
            EventKind::Costs => "costs",
            EventKind::Stores => "stores",
        }
    }

    /// Whether a field of this kind is personal data beyond the customer's id: names,
    /// contact details, exact locations and free text (what a viewer of the server never
    /// receives).
    pub fn is_personal(self, field: &str) -> bool {
        match self {
            EventKind::Customers => matches!(field, "name" | "email" | "phone" | "latitude" | "longitude" | "postal_code"),
            EventKind::Interactions => matches!(field, "text" | "agent"),
            EventKind::Surveys => field == "comment",
            EventKind::Engagement => field == "text",
            _ => false,
        }
    }

    /// The fields of this kind, in storage order. The first three are always
    /// `event_id`, `customer_id` and `time` (but for stores, which name a `store_id`) (optional for customers' profiles, required
    /// for every event). Purchases, interactions, surveys and engagement may name their
    /// customer through an `order_id` instead (a refund or review export that names the
    /// order only): one of the two is required, and the customer is the one whose
    /// purchase carries that order id, resolved when the events are analysed.
    pub fn fields(self) -> &'static [FieldSpec] {
        use FieldType::*;
        const COMMON: [FieldSpec; 3] =
            [FieldSpec::optional("event_id", Text), FieldSpec::required("customer_id", Text), FieldSpec::required("time", Time)];
        const BY_ORDER: [FieldSpec; 3] =
            [FieldSpec::optional("event_id", Text), FieldSpec::optional("customer_id", Text), FieldSpec::required("time", Time)];
        macro_rules! with_common {
            ($($field:expr),* $(,)?) => {{
                const FIELDS: &[FieldSpec] = &[COMMON[0], COMMON[1], COMMON[2], $($field),*];
                FIELDS
            }};
        }
        macro_rules! by_order {
            ($($field:expr),* $(,)?) => {{
                const FIELDS: &[FieldSpec] = &[BY_ORDER[0], BY_ORDER[1], BY_ORDER[2], $($field),*];
                FIELDS
            }};
        }
        match self {
            // A customer master file (profile, location, consent) often has no time: the
            // profile is as of the ingest.
            EventKind::Customers => {
                const FIELDS: &[FieldSpec] = &[
                    COMMON[0],
                    COMMON[1],
                    FieldSpec::optional("time", Time),
                    FieldSpec::optional("latitude", Decimal),
                    FieldSpec::optional("longitude", Decimal),
                    FieldSpec::optional("postal_code", Text),
                    FieldSpec::optional("country", Text),
                    FieldSpec::optional("preferred_channel", OneOf(Channel::NAMES)),
                    FieldSpec::optional("email_consent", Flag),
                    FieldSpec::optional("sms_consent", Flag),
                    FieldSpec::optional("opted_out", Flag),
                    // Personal data, which a viewer never sees and `forget` erases.
                    FieldSpec::optional("name", Text),
                    FieldSpec::optional("email", Text),
                    FieldSpec::optional("phone", Text),
                    FieldSpec::optional("region", Text),
                    FieldSpec::optional("store_id", Text),
                ];
                FIELDS
            }
            EventKind::Purchases => by_order![
                FieldSpec::required("amount", Decimal),
                FieldSpec::optional("currency", Currency),
                FieldSpec::optional("margin", Decimal),
                FieldSpec::optional("order_id", Text),
                FieldSpec::optional("items", Count),
            ],
            EventKind::Interactions => by_order![
                FieldSpec::required("channel", OneOf(Channel::NAMES)),
                FieldSpec::optional("direction", OneOf(&["inbound", "outbound"])),
                FieldSpec::optional("conversation_id", Text),
                FieldSpec::optional("text", Text),
                FieldSpec::optional("agent", Text),
                FieldSpec::optional("resolved", Flag),
                FieldSpec::optional("order_id", Text),
            ],
            EventKind::Surveys => by_order![
                FieldSpec::required("survey_type", OneOf(&["nps", "csat", "ces"])), // SurveyType::ALL
                FieldSpec::required("score", Decimal),
                FieldSpec::optional("comment", Text),
                FieldSpec::optional("touchpoint", Text),
                FieldSpec::optional("order_id", Text),
                FieldSpec::optional("stage", Text),
                FieldSpec::optional("channel", OneOf(Channel::NAMES)),
            ],
            EventKind::Engagement => by_order![
                FieldSpec::required("engagement_type", OneOf(EngagementType::NAMES)),
                FieldSpec::optional("rating", Decimal),
                FieldSpec::optional("text", Text),
                FieldSpec::optional("referred_customer_id", Text),
                FieldSpec::optional("order_id", Text),
            ],
            EventKind::Programs => with_common![
                FieldSpec::required("program", Text),
                FieldSpec::optional("channel", OneOf(Channel::NAMES)),
                FieldSpec::optional("cost", Decimal),
                FieldSpec::optional("responded", Flag),
                FieldSpec::optional("control_group", Flag),
            ],
            EventKind::Costs => with_common![
                FieldSpec::required("cost_type", OneOf(&["contact", "reward"])),
                FieldSpec::optional("channel", OneOf(Channel::NAMES)),
                FieldSpec::required("amount", Decimal),
                FieldSpec::optional("currency", Currency),
                // A reward paid for a program's contact names the program.
                FieldSpec::optional("program", Text),
            ],
            // Reference data: a store list names stores, not customers, and has no time.
            EventKind::Stores => {
                const FIELDS: &[FieldSpec] = &[
                    COMMON[0],
                    FieldSpec::required("store_id", Text),
                    FieldSpec::optional("time", Time),
                    FieldSpec::optional("name", Text),
                    FieldSpec::optional("region", Text),
                    FieldSpec::required("latitude", Decimal),
                    FieldSpec::required("longitude", Decimal),
                ];
                FIELDS
            }
        }
    }

    /// Rules across fields of one row, given the row's validated values in the order of
    /// [`EventKind::fields`]. Returns the offending field's index and the error.
    pub fn validate_row(self, values: &[Value]) -> Result<(), (usize, CoreError)> {
        let field = |name: &str| self.fields().iter().position(|field| field.name == name).unwrap_or(0);
        if let Some(order) = self.fields().iter().position(|field| field.name == "order_id")
            && values[1] == Value::Missing
            && values[order] == Value::Missing
        {
            return Err((1, CoreError::invalid("", "a customer id, or an order id (customer_id or order_id)")));
        }
        match self {
            EventKind::Surveys => {
                let (Value::Text(kind), Value::Decimal(score)) = (&values[field("survey_type")], &values[field("score")]) else {
                    return Ok(());
                };
                let survey_type = kind.parse::<SurveyType>().map_err(|error| (field("survey_type"), error))?;
                let scale = survey_type.scale();
                if !scale.contains(*score) {
                    let whole = if scale.whole { "whole " } else { "" };
                    let expected = format!("a {} score, a {whole}number from {} to {}", kind.to_uppercase(), scale.low, scale.high);
                    return Err((field("score"), CoreError::invalid(&score.to_string(), expected)));
                }
                Ok(())
            }
            EventKind::Customers | EventKind::Stores => {
                for (name, limit) in [("latitude", 90.0), ("longitude", 180.0)] {
                    if let Value::Decimal(degrees) = values[field(name)]
                        && degrees.abs() > limit
                    {
                        return Err((field(name), CoreError::invalid(&degrees.to_string(), format!("{name} within ±{limit} degrees"))));
                    }
                }
                Ok(())
            }
            EventKind::Engagement => {
                if let Value::Decimal(rating) = values[field("rating")]
                    && !(0.0..=5.0).contains(&rating)
                {
                    return Err((field("rating"), CoreError::invalid(&rating.to_string(), "a review rating from 0 to 5")));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl FromStr for EventKind {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        let singular = text.trim_end_matches('s');
        EventKind::ALL.into_iter().find(|kind| kind.name() == text || kind.name().trim_end_matches('s') == singular).ok_or_else(|| {
            CoreError::InvalidOption {
                option: "kind",
                reason: format!("{text:?} is not one of customers, purchases, interactions, surveys, engagement, programs, costs, stores"),
            }
        })
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// How a field's text is validated and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any UTF-8 text.
    Text,
    /// An event time (see [`crate::time::TimeFormat`]).
    Time,
    /// A decimal number; negative allowed.
    Decimal,
    /// A non-negative whole number.
    Count,
    /// true/false, yes/no, 1/0, y/n.
    Flag,
    /// A three-letter ISO-4217 currency code.
    Currency,
    /// One of a fixed set of lower-case names.
    OneOf(&'static [&'static str]),
}

impl FieldType {
    /// What a valid value looks like, for error messages.
    pub fn expected(self) -> String {
        match self {
            FieldType::Text => "text".into(),
            FieldType::Time => "a time".into(),
            FieldType::Decimal => "a decimal number such as 12.50".into(),
            FieldType::Count => "a whole number ≥ 0".into(),
            FieldType::Flag => "true/false, yes/no or 1/0".into(),
            FieldType::Currency => "a three-letter currency code such as USD".into(),
            FieldType::OneOf(names) => format!("one of {}", names.join(", ")),
        }
    }

    /// Validate a (non-time) value. Times are parsed by the reader, which knows the
    /// format and zone.
    pub fn parse(self, text: &str) -> Result<Value, CoreError> {
        self.parse_with(text, NumberFormat::default())
    }

    /// [`FieldType::parse`], reading decimals as `numbers` says (currency symbols and
    /// thousands separators accepted, see [`parse_amount`]).
    pub fn parse_with(self, text: &str, numbers: NumberFormat) -> Result<Value, CoreError> {
        let trimmed = text.trim();
        match self {
            FieldType::Text | FieldType::Time => Ok(Value::Text(text.to_string())),
            FieldType::Decimal => parse_amount(trimmed, numbers).map(Value::Decimal).ok_or_else(|| {
                let hint = if !numbers.decimal_comma && trimmed.contains(',') { " (a decimal comma? say so)" } else { "" };
                CoreError::invalid(trimmed, format!("{}{hint}", self.expected()))
            }),
            FieldType::Count => trimmed.parse::<u64>().map(Value::Count).map_err(|_| CoreError::invalid(trimmed, self.expected())),
            FieldType::Flag => match trimmed.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" => Ok(Value::Flag(true)),
                "false" | "f" | "no" | "n" | "0" => Ok(Value::Flag(false)),
                _ => Err(CoreError::invalid(trimmed, self.expected())),
            },
            FieldType::Currency => {
                if trimmed.len() == 3 && trimmed.bytes().all(|byte| byte.is_ascii_alphabetic()) {
                    Ok(Value::Text(trimmed.to_ascii_uppercase()))
                } else {
                    Err(CoreError::invalid(trimmed, self.expected()))
                }
            }
            FieldType::OneOf(names) => {
                let lower = trimmed.to_ascii_lowercase();
                names
                    .iter()
                    .find(|name| **name == lower)
                    .map(|name| Value::Text((*name).to_string()))
                    .ok_or_else(|| CoreError::invalid(trimmed, self.expected()))
            }
        }
    }
}

/// How amounts are written in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NumberFormat {
    /// A comma is the decimal mark (`1.234,50`, `12,5`); otherwise the point is.
    pub decimal_comma: bool,
}

/// An amount as exports write it: [`parse_decimal`]'s plain numbers, and also with a
/// currency symbol before or after (`€12.50`, `12,50 €`, `-$3`, `$-3`) and thousands
/// separators in groups of three (`1,234.50`; with a decimal comma `1.234,50` or
/// `1 234,50`). A separator that does not group thousands (`12,50` read with a decimal
/// point) is refused, never guessed: the caller says which mark the file uses.
pub fn parse_amount(text: &str, format: NumberFormat) -> Option<f64> {
    let text = text.trim();
    if let Some(value) = (!format.decimal_comma).then(|| parse_decimal(text)).flatten() {
        return Some(value);
    }
    const SYMBOLS: [char; 7] = ['€', '$', '£', '¥', '₹', '₩', '₽'];
    let mut rest = text;
    let mut negative = false;
    for _ in 0..2 {
        if let Some(stripped) = rest.strip_prefix('-') {
            negative = !negative;
            rest = stripped.trim_start();
        }
        rest = rest.trim_start_matches(|c: char| SYMBOLS.contains(&c)).trim_start();
        rest = rest.trim_end_matches(|c: char| SYMBOLS.contains(&c)).trim_end();
    }
    let (decimal, thousands): (char, &[char]) =
        if format.decimal_comma { (',', &['.', ' ', '\u{a0}', '\u{202f}', '\'']) } else { ('.', &[',', ' ', '\u{a0}', '\u{202f}', '\'']) };
    let (whole, fraction) = match rest.rsplit_once(decimal) {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (rest, None),
    };
    let groups: Vec<&str> = whole.split(|c: char| thousands.contains(&c)).collect();
    // A leading group of 0 is a decimal written with a comma (0,195), never thousands.
    let grouped = groups.len() == 1
        || (!groups[0].is_empty()
            && groups[0].len() <= 3
            && !groups[0].starts_with('0')
            && groups[1..].iter().all(|group| group.len() == 3));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !grouped || !groups.iter().all(|group| digits(group)) || fraction.is_some_and(|fraction| !digits(fraction)) {
        return None;
    }
    let mut plain = groups.concat();
    if let Some(fraction) = fraction {
        plain.push('.');
        plain.push_str(fraction);
    }
    let value: f64 = plain.parse().ok().filter(|value: &f64| value.is_finite())?;
    Some(if negative { -value } else { value })
}

/// Parse a plain decimal number (`12`, `-3.5`, `+0.25`, `1e3`); rejects NaN,
/// infinities, thousands separators and currency symbols (see [`parse_amount`]).
pub fn parse_decimal(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'-' | b'+' | b'e' | b'E')) {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// A validated field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The field was empty or absent.
    Missing,
    /// Text (also enum names, currency codes).
    Text(String),
    /// An instant, seconds since the Unix epoch, UTC.
    Time(i64),
    /// A decimal number.
    Decimal(f64),
    /// A whole number.
    Count(u64),
    /// A yes/no flag.
    Flag(bool),
}

/// One field of an event kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Canonical name (the default input column name and the stored column name).
    pub name: &'static str,
    /// Type and validation.
    pub field_type: FieldType,
    /// Whether a row without it is rejected.
    pub required: bool,
}

impl FieldSpec {
    const fn required(name: &'static str, field_type: FieldType) -> Self {
        FieldSpec { name, field_type, required: true }
    }
    const fn optional(name: &'static str, field_type: FieldType) -> Self {
        FieldSpec { name, field_type, required: false }
    }
}

/// Contact channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// Telephone.
    Phone,
    /// E-mail.
    Email,
    /// Live chat.
    Chat,
    /// Social networks.
    Social,
    /// In store.
    Store,
    /// Help centre, FAQ, bots.
    SelfService,
    /// Text messages.
    Sms,
    /// Push notifications.
    Push,
    /// Post.
    Mail,
}

impl Channel {
    /// The names accepted in input files.
    pub const NAMES: &'static [&'static str] = &["phone", "email", "chat", "social", "store", "self-service", "sms", "push", "mail"];
}

/// Kinds of engagement events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngagementType {
    /// Follows the brand.
    Follow,
    /// Likes a post.
    Like,
    /// Shares a post.
    Share,
    /// Retweets / reposts.
    Retweet,
    /// Writes a review (rating + text).
    Review,
    /// Mentions the brand (text).
    Mention,
    /// Refers another customer.
    Referral,
    /// Visits the site.
    SiteVisit,
    /// Watches a video.
    VideoView,
    /// Reads an article.
    ArticleView,
}

impl EngagementType {
    /// The names accepted in input files.
    pub const NAMES: &'static [&'static str] =
        &["follow", "like", "share", "retweet", "review", "mention", "referral", "site-visit", "video-view", "article-view"];
    /// Every kind, in the order of [`Self::NAMES`].
    pub const ALL: [EngagementType; 10] = [
        EngagementType::Follow,
        EngagementType::Like,
        EngagementType::Share,
        EngagementType::Retweet,
        EngagementType::Review,
        EngagementType::Mention,
        EngagementType::Referral,
        EngagementType::SiteVisit,
        EngagementType::VideoView,
        EngagementType::ArticleView,
    ];
}

impl FromStr for EngagementType {
    type Err = CoreError;
    /// A stored name (`site-visit`), exactly as written at ingest.
    fn from_str(text: &str) -> Result<Self, CoreError> {
        EngagementType::NAMES
            .iter()
            .position(|name| *name == text)
            .map(|index| EngagementType::ALL[index])
            .ok_or_else(|| CoreError::invalid(text, "an engagement type"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn engagement_names_parse_as_serde_writes_them() {
        for (name, kind) in EngagementType::NAMES.iter().zip(EngagementType::ALL) {
            assert_eq!(name.parse::<EngagementType>().expect("a stored name parses"), kind);
            assert_eq!(serde_json::to_value(kind).expect("a kind serialises"), serde_json::Value::String(name.to_string()));
        }
        assert!("Like".parse::<EngagementType>().is_err());
    }

    use super::*;

    #[test]
    fn every_kind_starts_with_id_customer_time() {
        for kind in EventKind::ALL.into_iter().filter(|kind| *kind != EventKind::Stores) {
            let names: Vec<_> = kind.fields().iter().take(3).map(|field| field.name).collect();
            assert_eq!(names, ["event_id", "customer_id", "time"], "{kind}");
            assert_eq!(kind.name().parse::<EventKind>(), Ok(kind));
        }
        assert_eq!("purchase".parse::<EventKind>(), Ok(EventKind::Purchases));
        assert!("orders".parse::<EventKind>().is_err());
    }

    #[test]
    fn field_values_are_validated() {
        assert_eq!(FieldType::Decimal.parse(" -12.5 "), Ok(Value::Decimal(-12.5)));
        assert!(FieldType::Decimal.parse("12,50").is_err());
        assert!(FieldType::Decimal.parse("NaN").is_err());
        // A decimal comma is never read as a thousands separator without --decimal-comma.
        assert!(FieldType::Decimal.parse("0,195").is_err());
        assert!(FieldType::Decimal.parse("-0,001").is_err());
        // A currency symbol is read (issue 10); stray text still is not.
        assert_eq!(FieldType::Decimal.parse("$3"), Ok(Value::Decimal(3.0)));
        assert!(FieldType::Decimal.parse("3 dollars").is_err());
        assert_eq!(FieldType::Flag.parse("Yes"), Ok(Value::Flag(true)));
        assert_eq!(FieldType::Currency.parse("eur"), Ok(Value::Text("EUR".into())));
        assert!(FieldType::OneOf(Channel::NAMES).parse("pigeon").is_err());
    }

    #[test]
    fn survey_scores_respect_their_scale() {
        let fields = EventKind::Surveys.fields();
        let mut values = vec![Value::Missing; fields.len()];
        let kind = fields.iter().position(|field| field.name == "survey_type").expect("field");
        let score = fields.iter().position(|field| field.name == "score").expect("field");
        values[1] = Value::Text("c1".into());
        values[kind] = Value::Text("nps".into());
        values[score] = Value::Decimal(11.0);
        assert_eq!(EventKind::Surveys.validate_row(&values).map_err(|(index, _)| index), Err(score));
        values[score] = Value::Decimal(9.0);
        assert!(EventKind::Surveys.validate_row(&values).is_ok());
    }

    /// An answer may name its order instead of its customer, but must name one of them.
    #[test]
    fn events_name_a_customer_or_an_order() {
        let fields = EventKind::Surveys.fields();
        let order = fields.iter().position(|field| field.name == "order_id").expect("field");
        let mut values = vec![Value::Missing; fields.len()];
        assert_eq!(EventKind::Surveys.validate_row(&values).map_err(|(index, _)| index), Err(1));
        values[order] = Value::Text("o-1".into());
        assert!(EventKind::Surveys.validate_row(&values).is_ok());
        // Costs are not a customer's events: their customer field stays required.
        assert!(EventKind::Costs.fields()[1].required);
    }

    #[test]
    fn amounts_as_exports_write_them() {
        let point = NumberFormat::default();
        let comma = NumberFormat { decimal_comma: true };
        for (text, expected) in
            [("12.50", 12.5), ("€12.50", 12.5), ("12.50 €", 12.5), ("-$3", -3.0), ("$-3", -3.0), ("1,234.50", 1234.5), ("1 234", 1234.0)]
        {
            assert_eq!(parse_amount(text, point), Some(expected), "{text}");
        }
        for (text, expected) in [("12,50", 12.5), ("1.234,50 €", 1234.5), ("-1 234,5", -1234.5), ("€ 3", 3.0), ("7", 7.0)] {
            assert_eq!(parse_amount(text, comma), Some(expected), "{text}");
        }
        // Never guessed: a comma that does not group thousands under a decimal point, and
        // the other way round.
        for (text, format) in [("12,50", point), ("1,23,456", point), ("12.50", comma), ("abc", point), ("€", point), ("1e400", point)] {
            assert_eq!(parse_amount(text, format), None, "{text}");
        }
    }
}
