//! A sentiment model for customer-service text: VADER plus what VADER does not know
//! about customers talking to brands.
//!
//! VADER was built for social media at large. Customer text breaks it in a few
//! systematic ways, and this model fixes exactly those, keeping every VADER rule
//! (negation, boosters, caps, "but", punctuation emphasis, emoji) and its output scale:
//!
//! * **Requests are not praise.** "please", "help", "like" ("I'd like to"), "want", "hope",
//!   "sure", "chance" make VADER call a plain question positive. They carry no valence here.
//! * **Complaint vocabulary.** Delays, cancellations, outages, crashes, holds, lost or
//!   damaged items, overcharges, rudeness: words VADER lacks or underweights, in any
//!   industry (travel, telecoms, retail and delivery, banking, software, utilities,
//!   hospitality). Service outcomes that are good ("fixed", "sorted", "on time", "quickly")
//!   are added too.
//! * **Failures of service are negated neutral verbs.** "never arrived", "doesn't work",
//!   "no response", "can't log in", "without any explanation": VADER only negates words
//!   that have a valence, so these score 0.
//! * **Waiting is measured in units.** "45 minutes", "3 hours", "two weeks" next to a wait,
//!   hold, queue or delay is a complaint; "fixed in 20 minutes" is not.
//! * **Questions that are complaints.** "where is my order", "why am I being charged",
//!   "is anyone there", "still no update".
//! * **Thanks inside a complaint.** Sarcastic thanks and praise ("thanks for cancelling my
//!   flight", "great job losing my bag", "love sitting on the tarmac", "#not") flip to
//!   negative; polite thanks at the end of a complaint count as nothing.
//!
//! Every rule is a word list or a construction, none is tied to a brand or a data set. The
//! model is measured on a held-out, hand-labelled set (`data/service/test.tsv`) against
//! VADER, and on the VADER paper's corpora, where it must stay within 0.02 of VADER's
//! correlation with the human ratings.

use std::sync::OnceLock;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use crate::vader::{NEGATE, Scores, Tokens, Vader, finish, is_negation, is_space};

/// Lexicon changes for customer text: `None` removes a word, `Some(v)` sets its valence
/// (VADER's −4…4 scale).
const LEXICON_CHANGES: &[(&str, Option<f64>)] = &[
    // Requests and fillers: no sentiment in a message to a brand.
    ("please", None),
    ("pls", None),
    ("plz", None),
    ("help", None),
    ("like", None),
    ("want", None),
    ("hope", None),
    ("sure", None),
    ("chance", None),
    ("favor", None),
    ("promise", None),
    ("promised", None),
    ("joke", None),
    ("unbelievable", None),
    ("cancel", None),
    // Order, phone and case numbers.
    ("number", None),
    // Travel.
    ("delay", Some(-1.8)),
    ("delays", Some(-1.8)),
    ("delayed", Some(-1.8)),
    ("delaying", Some(-1.6)),
    ("cancelled", Some(-1.8)),
    ("canceled", Some(-1.8)),
    ("cancelling", Some(-1.5)),
    ("canceling", Some(-1.5)),
    ("cancellation", Some(-1.2)),
    ("cancellations", Some(-1.2)),
    ("stuck", Some(-1.8)),
    ("stranded", Some(-2.2)),
    ("overbooked", Some(-2.0)),
    ("oversold", Some(-1.4)),
    ("bumped", Some(-1.0)),
    ("diverted", Some(-1.0)),
    ("late", Some(-1.2)),
    ("lost", Some(-1.8)),
    ("missing", Some(-1.6)),
    ("nobody", Some(-0.8)),
    ("closed", Some(-0.8)),
    ("locked", Some(-1.2)),
    ("transferred", Some(-0.6)),
    ("transferring", Some(-0.6)),
    // Telecoms, software, utilities.
    ("outage", Some(-2.0)),
    ("outages", Some(-2.0)),
    ("crashes", Some(-1.8)),
    ("crashed", Some(-1.8)),
    ("crashing", Some(-1.8)),
    ("glitch", Some(-1.5)),
    ("glitches", Some(-1.5)),
    ("glitchy", Some(-1.6)),
    ("buggy", Some(-1.8)),
    ("bug", Some(-1.0)),
    ("bugs", Some(-1.0)),
    ("buffering", Some(-1.4)),
    ("lag", Some(-1.0)),
    ("laggy", Some(-1.4)),
    ("freezes", Some(-1.4)),
    ("disconnected", Some(-1.4)),
    ("disconnects", Some(-1.4)),
    ("dropped", Some(-1.0)),
    ("unusable", Some(-2.0)),
    ("unreachable", Some(-1.4)),
    ("unresponsive", Some(-1.6)),
    ("slow", Some(-1.0)),
    ("hacked", Some(-1.8)),
    // Money.
    ("overcharged", Some(-2.2)),
    ("overcharging", Some(-2.2)),
    ("overbilled", Some(-2.2)),
    ("overpriced", Some(-1.6)),
    ("unauthorized", Some(-1.8)),
    ("unauthorised", Some(-1.8)),
    ("declined", Some(-1.2)),
    ("fee", Some(-0.6)),
    ("fees", Some(-0.8)),
    ("bounced", Some(-1.0)),
    ("bouncing", Some(-1.0)),
    ("ripoff", Some(-2.2)),
    ("rip-off", Some(-2.2)),
    ("scammed", Some(-2.4)),
    ("shady", Some(-1.6)),
    ("refund", Some(-0.4)),
    // Goods.
    ("defective", Some(-2.0)),
    ("faulty", Some(-2.0)),
    ("cracked", Some(-1.4)),
    ("dent", Some(-1.0)),
    ("dented", Some(-1.4)),
    ("leaking", Some(-1.4)),
    ("ripped", Some(-1.2)),
    ("torn", Some(-1.2)),
    ("soaked", Some(-1.2)),
    ("spoiled", Some(-1.8)),
    ("stale", Some(-1.4)),
    ("moldy", Some(-2.0)),
    ("expired", Some(-1.0)),
    ("incorrect", Some(-1.4)),
    ("misled", Some(-1.6)),
    ("mix-up", Some(-1.0)),
    ("mixup", Some(-1.0)),
    // People and process.
    ("unhelpful", Some(-2.0)),
    ("unprofessional", Some(-2.0)),
    ("yelled", Some(-1.8)),
    ("shrugged", Some(-1.0)),
    ("excuses", Some(-1.2)),
    ("ignoring", Some(-1.4)),
    ("ghosted", Some(-1.6)),
    ("unanswered", Some(-1.4)),
    ("runaround", Some(-1.6)),
    ("looping", Some(-1.0)),
    ("understaffed", Some(-1.4)),
    ("waited", Some(-0.8)),
    ("waiting", Some(-0.8)),
    ("nightmare", Some(-2.2)),
    ("hassle", Some(-1.2)),
    ("noisy", Some(-1.2)),
    ("smelly", Some(-1.4)),
    ("filthy", Some(-2.2)),
    ("complaint", Some(-1.0)),
    ("complaints", Some(-1.0)),
    // Good outcomes of service.
    ("fixed", Some(1.0)),
    ("sorted", Some(1.0)),
    ("resolved", Some(1.4)),
    ("solved", Some(1.4)),
    ("quick", Some(1.0)),
    ("quickly", Some(1.0)),
    ("fast", Some(1.0)),
    ("speedy", Some(1.4)),
    ("promptly", Some(1.2)),
    ("smooth", Some(1.4)),
    ("smoother", Some(1.4)),
    ("smoothest", Some(1.8)),
    ("seamless", Some(1.6)),
    ("effortless", Some(1.4)),
    ("early", Some(0.6)),
    ("upgraded", Some(1.4)),
    ("lifesavers", Some(2.8)),
    ("shoutout", Some(1.6)),
    ("refunded", Some(0.6)),
    ("clearer", Some(1.0)),
];

/// Words after which a neutral service word means a failure ("no response", "never arrived").
const SERVICE_NEGATORS: &[&str] = &["no", "nobody", "zero", "unable", "failed", "fails", "stopped", "refuses", "refused", "refuse"];

/// Neutral words whose negation is a failure of service.
const SERVICE_WORDS: &[&str] = &[
    "work",
    "works",
    "working",
    "worked",
    "arrive",
    "arrived",
    "arrives",
    "arriving",
    "came",
    "come",
    "receive",
    "received",
    "respond",
    "responded",
    "response",
    "responses",
    "reply",
    "replies",
    "replied",
    "answer",
    "answered",
    "answers",
    "callback",
    "call",
    "called",
    "show",
    "showed",
    "shown",
    "deliver",
    "delivered",
    "delivery",
    "fix",
    "fixed",
    "refund",
    "refunded",
    "load",
    "loads",
    "loading",
    "connect",
    "connects",
    "connection",
    "help",
    "helped",
    "helping",
    "resolve",
    "resolved",
    "process",
    "processed",
    "open",
    "opens",
    "accept",
    "accepted",
    "honor",
    "honored",
    "honour",
    "honoured",
    "update",
    "updated",
    "updates",
    "reach",
    "reached",
    "hear",
    "heard",
    "contact",
    "contacted",
    "ship",
    "shipped",
    "sent",
    "access",
    "log",
    "login",
    "sign",
    "signal",
    "service",
    "wifi",
    "internet",
    "power",
    "info",
    "information",
    "confirmation",
    "email",
    "emails",
    "word",
    "assistance",
    "support",
    "ordered",
    "requested",
    "authorized",
    "authorised",
    "agreed",
    "signed",
];

/// Nouns whose absence is a failure, but only when plainly absent ("no explanation",
/// "without notice", "zero compensation"): after other negations they are usually verbs
/// ("I did not notice").
const ABSENT_NOUNS: &[&str] = &[
    "explanation",
    "reason",
    "apology",
    "notice",
    "warning",
    "water",
    "food",
    "towels",
    "heat",
    "heating",
    "ac",
    "progress",
    "record",
    "option",
    "options",
    "human",
    "compensation",
    "word",
];

/// Units of a wait.
const TIME_UNITS: &[&str] =
    &["min", "mins", "minute", "minutes", "hr", "hrs", "hour", "hours", "day", "days", "week", "weeks", "month", "months"];

/// Spelled-out amounts before a unit ("two hours", "an hour", "a few days").
const NUMBER_WORDS: &[&str] = &[
    "a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "fifteen", "twenty",
    "thirty", "forty", "fifty", "ninety", "few", "several", "couple", "many", "multiple",
];

/// Words that make a duration a wait.
const WAIT_CONTEXT: &[&str] = &[
    "wait", "waiting", "waited", "hold", "queue", "line", "delay", "delayed", "delays", "late", "later", "still", "stuck", "tarmac",
    "transit", "pending", "over", "been", "another", "spent", "sitting", "sat", "since", "ago",
];

/// What follows "still" in a complaint ("still waiting", "still no signal").
const STILL_CUES: &[&str] = &[
    "waiting",
    "no",
    "not",
    "nothing",
    "haven't",
    "havent",
    "hasn't",
    "hasnt",
    "isn't",
    "isnt",
    "can't",
    "cant",
    "cannot",
    "don't",
    "dont",
    "doesn't",
    "doesnt",
    "didn't",
    "didnt",
    "won't",
    "wont",
    "broken",
    "down",
    "charging",
    "missing",
    "stuck",
    "on",
    "in",
    "pending",
    "processing",
    "without",
    "getting",
    "having",
];

/// Gratitude and praise: the words sarcasm turns around.
const PRAISE: &[&str] = &[
    "thanks",
    "thank",
    "thx",
    "ty",
    "appreciate",
    "appreciated",
    "love",
    "loving",
    "great",
    "good",
    "nice",
    "awesome",
    "wonderful",
    "fantastic",
    "brilliant",
    "perfect",
    "amazing",
    "lovely",
    "excellent",
    "super",
    "cool",
    "best",
    "fun",
    "wow",
    "yay",
    "happy",
    "glad",
    "bravo",
];

/// Gratitude: polite, and nothing more, at the end of a complaint.
const GRATITUDE: &[&str] = &["thanks", "thank", "thx", "ty", "appreciate", "appreciated"];

/// What someone is sarcastically thanked *for* ("thanks for losing my bag").
const SARCASTIC_FOR: &[&str] = &[
    "losing",
    "cancelling",
    "canceling",
    "ruining",
    "ignoring",
    "delaying",
    "wasting",
    "charging",
    "overcharging",
    "breaking",
    "forgetting",
    "ghosting",
    "stranding",
    "bumping",
    "nothing",
    "nada",
];

/// Words skipped between "for" and what is thanked for.
const FOR_FILLER: &[&str] = &["the", "a", "an", "my", "your", "our", "another", "this", "that", "all", "me", "us", "such", "so", "yet"];

/// Auxiliaries that make "why" a complaint ("why is", "why am I", "why can't").
const WHY_AUX: &[&str] = &[
    "is", "are", "am", "was", "were", "does", "do", "did", "has", "have", "can't", "cant", "won't", "wont", "isn't", "isnt", "doesn't",
    "doesnt", "didn't", "didnt", "would", "should", "must", "on", "the", "it's", "its",
];

/// Subjects after which "down" means out of service ("internet down", "site is down").
const DOWN_CONTEXT: &[&str] = &[
    "is", "was", "been", "are", "were", "still", "again", "went", "goes", "internet", "wifi", "site", "website", "app", "server",
    "servers", "system", "network", "service", "line", "lines", "phones",
];

/// Words before "support" that make it a department.
const SUPPORT_DEPARTMENT_BEFORE: &[&str] = &[
    "customer",
    "tech",
    "technical",
    "contacted",
    "emailed",
    "called",
    "calling",
    "contacting",
    "emailing",
    "24/7",
    "to",
    "from",
    "with",
    "contact",
    "call",
    "email",
    "your",
];

/// Words after "support" that make it a department.
const SUPPORT_DEPARTMENT_AFTER: &[&str] = &[
    "team", "line", "lines", "agent", "agents", "ticket", "chat", "staff", "desk", "page", "center", "centre", "site", "number", "email",
    "person", "people", "rep", "reps", "hours", "case",
];

/// Claims of loyalty and politeness that, inside a complaint, are leverage rather than praise.
const COMPLAINT_NEUTRAL: &[&str] = &["loyal", "faithful"];

/// Verbs whose repetition is a complaint only once the text already complains.
const REPEAT_WORDS: &[&str] = &["again", "everytime", "keeps", "constantly", "nonstop"];

/// What makes "again" a good sign ("will shop again").
const AGAIN_POSITIVE: &[&str] =
    &["will", "would", "i'll", "we'll", "buy", "order", "shop", "fly", "stay", "come", "use", "visit", "book", "recommend", "back"];

/// The customer-service sentiment model.
#[derive(Debug)]
pub struct ServiceModel {
    vader: Vader,
    /// Each listed word's classes (bits of `Class`), so that a rule's "is this word one of
    /// …" is a bit test on a flag looked up once per token, not a scan of a list.
    classes: HashMap<&'static str, u32, FixedState>,
}

/// Word classes of the rules, as bits.
#[derive(Debug, Clone, Copy)]
struct Class;

impl Class {
    const NEGATOR: u32 = 1;
    const SERVICE_WORD: u32 = 1 << 1;
    const ABSENT_NOUN: u32 = 1 << 2;
    const TIME_UNIT: u32 = 1 << 3;
    const NUMBER_WORD: u32 = 1 << 4;
    const WAIT_CONTEXT: u32 = 1 << 5;
    const STILL_CUE: u32 = 1 << 6;
    const PRAISE: u32 = 1 << 7;
    const GRATITUDE: u32 = 1 << 8;
    const SARCASTIC_FOR: u32 = 1 << 9;
    const FOR_FILLER: u32 = 1 << 10;
    const WHY_AUX: u32 = 1 << 11;
    const DOWN_CONTEXT: u32 = 1 << 12;
    const REPEAT: u32 = 1 << 13;
    const AGAIN_POSITIVE: u32 = 1 << 14;
    const SUPPORT_BEFORE: u32 = 1 << 15;
    const SUPPORT_AFTER: u32 = 1 << 16;
    const COMPLAINT_NEUTRAL: u32 = 1 << 17;
    const PHRASE_START: u32 = 1 << 18;
}

impl Default for ServiceModel {
    fn default() -> Self {
        ServiceModel::new()
    }
}

/// Per-text state the rules work on.
struct Text<'t> {
    /// Lower-case tokens without surrounding punctuation ("hours," → "hours").
    bare: Vec<&'t str>,
    /// Index of the sentence each token is in (a token ending in . ! ? ends one).
    sentence: Vec<u32>,
    /// Each token's valence.
    sentiments: Vec<f64>,
    /// Each token's word classes (`Class` bits).
    flags: Vec<u32>,
}

impl<'t> Text<'t> {
    fn word(&self, index: usize) -> &str {
        self.bare.get(index).copied().unwrap_or("")
    }

    /// Whether token `index` exists and is of `class`.
    fn is(&self, index: usize, class: u32) -> bool {
        self.flags.get(index).is_some_and(|flags| flags & class != 0)
    }

    /// Whether `phrase` starts at token `index`.
    fn phrase_at(&self, index: usize, phrase: &[&str]) -> bool {
        phrase.iter().enumerate().all(|(offset, word)| self.word(index + offset) == *word)
    }

    /// Tokens before `index` (nearest first), at most `window`, within its sentence.
    fn before(&self, index: usize, window: usize) -> impl Iterator<Item = (usize, &str)> {
        let sentence = self.sentence[index];
        (index.saturating_sub(window)..index).rev().take_while(move |&j| self.sentence[j] == sentence).map(|j| (j, self.bare[j]))
    }

    /// The sum of negative valences.
    fn complaint(&self) -> f64 {
        self.sentiments.iter().filter(|value| **value < 0.0).sum()
    }

    /// For each token, whether a negative token follows it in its sentence (one pass).
    fn negative_follows(&self) -> Vec<bool> {
        let mut follows = vec![false; self.bare.len()];
        let mut seen = false;
        for i in (0..self.bare.len()).rev() {
            follows[i] = seen;
            if i > 0 && self.sentence[i - 1] != self.sentence[i] {
                seen = false;
            } else if self.sentiments[i] < 0.0 {
                seen = true;
            }
        }
        follows
    }
}

/// "45", "2+", "3hrs", "90min": a number, perhaps with a unit glued on.
fn number_with_unit(text: &Text<'_>, index: usize, classes: &HashMap<&'static str, u32, FixedState>) -> (bool, bool) {
    let word = text.word(index);
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return (text.is(index, Class::NUMBER_WORD), false);
    }
    let rest = word[digits..].trim_start_matches(['+', '-']);
    let unit = classes.get(rest).is_some_and(|flags| flags & Class::TIME_UNIT != 0);
    (rest.is_empty(), unit || matches!(rest, "h" | "m" | "d"))
}

impl ServiceModel {
    /// The shared instance.
    pub fn shared() -> &'static ServiceModel {
        static SHARED: OnceLock<ServiceModel> = OnceLock::new();
        SHARED.get_or_init(ServiceModel::new)
    }

    /// Build the model (VADER's lexicons with the service changes).
    pub fn new() -> ServiceModel {
        let mut classes: HashMap<&'static str, u32, FixedState> = HashMap::with_hasher(FixedState::with_seed(7));
        let phrase_starts: Vec<&'static str> = PHRASES.iter().map(|(phrase, _, _)| phrase[0]).chain(["on", "so", "why"]).collect();
        for (list, class) in [
            (SERVICE_NEGATORS, Class::NEGATOR),
            (NEGATE, Class::NEGATOR),
            (SERVICE_WORDS, Class::SERVICE_WORD),
            (ABSENT_NOUNS, Class::ABSENT_NOUN),
            (TIME_UNITS, Class::TIME_UNIT),
            (NUMBER_WORDS, Class::NUMBER_WORD),
            (WAIT_CONTEXT, Class::WAIT_CONTEXT),
            (STILL_CUES, Class::STILL_CUE),
            (PRAISE, Class::PRAISE),
            (GRATITUDE, Class::GRATITUDE),
            (SARCASTIC_FOR, Class::SARCASTIC_FOR),
            (FOR_FILLER, Class::FOR_FILLER),
            (WHY_AUX, Class::WHY_AUX),
            (DOWN_CONTEXT, Class::DOWN_CONTEXT),
            (REPEAT_WORDS, Class::REPEAT),
            (AGAIN_POSITIVE, Class::AGAIN_POSITIVE),
            (SUPPORT_DEPARTMENT_BEFORE, Class::SUPPORT_BEFORE),
            (SUPPORT_DEPARTMENT_AFTER, Class::SUPPORT_AFTER),
            (COMPLAINT_NEUTRAL, Class::COMPLAINT_NEUTRAL),
            (phrase_starts.as_slice(), Class::PHRASE_START),
        ] {
            for word in list {
                *classes.entry(*word).or_default() |= class;
            }
        }
        ServiceModel { vader: Vader::with_lexicon_changes(LEXICON_CHANGES), classes }
    }

    /// `neg, neu, pos, compound` on VADER's scale, unrounded.
    pub fn polarity_scores(&self, text: &str) -> Scores {
        let plain = plain_quotes(text);
        let text = plain.as_deref().unwrap_or(text);
        let mut replaced = String::new();
        let text = self.vader.prepare(text, &mut replaced);
        let tokens = self.vader.tokens(text);
        let mut state = self.state(&tokens, text);
        self.apply_rules(&mut state, text);
        let Text { mut sentiments, .. } = state;
        finish(&tokens.tokens, &mut sentiments, text)
    }

    /// Each token with its valence after every rule: why a text scored as it did.
    pub fn explain(&self, text: &str) -> Vec<(String, f64)> {
        let plain = plain_quotes(text);
        let text = plain.as_deref().unwrap_or(text);
        let mut replaced = String::new();
        let text = self.vader.prepare(text, &mut replaced);
        let tokens = self.vader.tokens(text);
        let mut state = self.state(&tokens, text);
        self.apply_rules(&mut state, text);
        tokens.tokens.iter().map(|token| token.word.to_string()).zip(state.sentiments).collect()
    }

    fn state<'t>(&self, tokens: &'t Tokens<'t>, text: &str) -> Text<'t> {
        let sentiments = self.vader.sentiments(tokens);
        let mut sentence = Vec::with_capacity(sentiments.len());
        let mut current = 0u32;
        for raw in text.split(is_space).filter(|token| !token.is_empty()) {
            sentence.push(current);
            if raw.ends_with(['.', '!', '?']) {
                current += 1;
            }
        }
        let bare: Vec<&str> =
            tokens.tokens.iter().map(|token| token.lower.trim_matches(|character: char| character.is_ascii_punctuation())).collect();
        let flags = bare
            .iter()
            .map(|word| {
                let mut flags = self.classes.get(word).copied().unwrap_or(0);
                if is_negation(word) {
                    flags |= Class::NEGATOR;
                }
                flags
            })
            .collect();
        Text { bare, sentence, sentiments, flags }
    }

    fn apply_rules(&self, text: &mut Text<'_>, raw: &str) {
        context_words(text);
        phrases(text);
        still(text);
        failures_of_service(text);
        waits(text, &self.classes);
        repetition(text);
        sarcasm(text, raw);
        polite_thanks(text);
    }
}

/// Typographic quotes as ASCII ones, when the text has any: a phone's keyboard writes
/// "don’t" and “great”, which VADER (exactly as published) reads as unknown words, so a
/// negation was missed ("I don’t love this" scored +0.64) and a quoted word lost its
/// valence. 36 of 219 real support tweets with "n’t" changed sign (TWCS sample).
fn plain_quotes(text: &str) -> Option<String> {
    const TYPOGRAPHIC: [char; 6] = ['\u{2018}', '\u{2019}', '\u{02BC}', '\u{201B}', '\u{201C}', '\u{201D}'];
    text.contains(TYPOGRAPHIC).then(|| {
        text.chars()
            .map(|character| match character {
                '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{201B}' => '\'',
                '\u{201C}' | '\u{201D}' => '"',
                other => other,
            })
            .collect()
    })
}

/// Words whose valence depends on the words around them.
fn context_words(text: &mut Text<'_>) {
    for i in 0..text.bare.len() {
        let previous = if i > 0 { text.word(i - 1) } else { "" };
        match text.word(i) {
            // "customer care" is a department.
            "care" | "caring" if previous == "customer" => text.sentiments[i] = 0.0,
            // "problem solved", "issue resolved": the problem is gone.
            "problem" | "problems" | "issue" | "issues"
                if (1..=2).any(|offset| matches!(text.word(i + offset), "solved" | "fixed" | "resolved" | "sorted")) =>
            {
                text.sentiments[i] = 0.0
            }
            // "this is a joke": contempt, not humour.
            "joke" if matches!(previous, "a" | "such" | "total" | "complete" | "absolute" | "is" | "big") => text.sentiments[i] = -1.8,
            "down" if (i > 0 && text.is(i - 1, Class::DOWN_CONTEXT)) || text.word(i + 1) == "again" => text.sentiments[i] = -1.5,
            // "customer support", "emailed support", "support line": a department.
            "support" if (i > 0 && text.is(i - 1, Class::SUPPORT_BEFORE)) || text.is(i + 1, Class::SUPPORT_AFTER) => {
                text.sentiments[i] = 0.0
            }
            // "as well" and a sentence-opening "Well," are fillers.
            "well" if previous == "as" || i == 0 || text.sentence[i - 1] != text.sentence[i] => text.sentiments[i] = 0.0,
            // "late check-out" is a request.
            "late" if matches!(text.word(i + 1), "check" | "checkout" | "check-out" | "checkin" | "check-in") => text.sentiments[i] = 0.0,
            _ => {}
        }
    }
}

/// Fixed phrases: (words, which word carries the valence, valence).
const PHRASES: &[(&[&str], usize, f64)] = &[
    (&["hung", "up"], 0, -2.0),
    (&["hang", "up"], 0, -1.6),
    (&["on", "hold"], 1, -1.5),
    (&["out", "of", "stock"], 2, -1.2),
    (&["sold", "out"], 1, -1.0),
    (&["power", "out"], 1, -1.6),
    (&["never", "again"], 1, -2.2),
    (&["above", "and", "beyond"], 2, 2.5),
    (&["no", "one"], 1, -1.2),
    (&["anyone", "there"], 0, -1.2),
    (&["anybody", "there"], 0, -1.2),
    (&["what", "happened"], 1, -0.8),
    (&["where's", "my"], 0, -1.2),
    (&["wheres", "my"], 0, -1.2),
    (&["where", "is", "my"], 0, -1.2),
    (&["where", "are", "my"], 0, -1.2),
    (&["where", "is", "our"], 0, -1.2),
    (&["thanks", "for", "nothing"], 0, -2.0),
    (&["thank", "you", "for", "nothing"], 0, -2.0),
    (&["let", "down"], 1, -1.8),
    (&["let", "me", "down"], 2, -1.8),
    (&["let", "us", "down"], 2, -1.8),
    (&["run", "around"], 1, -1.6),
    (&["back", "and", "forth"], 2, -0.8),
    (&["fell", "through"], 1, -1.2),
    (&["cut", "off"], 0, -1.4),
    (&["did", "nothing"], 1, -1.2),
    (&["in", "the", "rain"], 2, -1.0),
    (&["locked", "out"], 0, -1.4),
    // Billing complaints: a charge repeated, or money asked back.
    (&["billed", "twice"], 0, -1.8),
    (&["charged", "twice"], 0, -1.8),
    (&["double", "charged"], 1, -1.8),
    (&["double", "billed"], 1, -1.8),
    (&["want", "my", "money", "back"], 2, -1.6),
    (&["give", "me", "my", "money", "back"], 3, -1.6),
    (&["how", "you", "treat"], 2, -2.0),
    (&["how", "they", "treat"], 2, -2.0),
    (&["way", "to", "treat"], 2, -2.0),
];

/// Fixed phrases: the valence goes on one token, the others count as neutral.
fn phrases(text: &mut Text<'_>) {
    for i in 0..text.bare.len() {
        if !text.is(i, Class::PHRASE_START) {
            continue;
        }
        for (phrase, head, valence) in PHRASES {
            if text.phrase_at(i, phrase) {
                for offset in 0..phrase.len() {
                    text.sentiments[i + offset] = if offset == *head { *valence } else { 0.0 };
                }
            }
        }
        // "on time" is good, "not on time" is not.
        if text.phrase_at(i, &["on", "time"]) {
            let negated = text.before(i, 2).any(|(_, word)| is_negation(word));
            text.sentiments[i + 1] = if negated { -1.5 } else { 1.2 };
        }
        // "so much for fast shipping" (but not "thank you so much for").
        if text.phrase_at(i, &["so", "much", "for"]) && !text.before(i, 2).any(|(j, word)| text.is(j, Class::GRATITUDE) || word == "you") {
            text.sentiments[i + 2] = -1.5;
        }
        // "why is it so hard", "why am I being charged": a question that complains.
        if text.word(i) == "why" && text.is(i + 1, Class::WHY_AUX) {
            text.sentiments[i] = -0.8;
        }
    }
}

/// "still waiting", "still no signal", "still broken".
fn still(text: &mut Text<'_>) {
    for i in 0..text.bare.len() {
        if text.word(i) == "still" && (1..=2).any(|offset| text.is(i + offset, Class::STILL_CUE)) {
            text.sentiments[i] = -1.2;
        }
    }
}

/// A negated service word is a failure: "never arrived", "doesn't work", "no response",
/// "can't log in", "without any explanation", "nobody cares".
fn failures_of_service(text: &mut Text<'_>) {
    for i in 0..text.bare.len() {
        let negator = if text.is(i, Class::SERVICE_WORD) {
            text.before(i, 3).find(|(j, _)| text.is(*j, Class::NEGATOR)).map(|(j, _)| j)
        } else if text.is(i, Class::ABSENT_NOUN) {
            text.before(i, 3).find(|(_, before)| matches!(*before, "no" | "zero" | "without")).map(|(j, _)| j)
        } else {
            None
        };
        if let Some(j) = negator {
            // VADER scores a lone "no" −1.2: the failure carries the valence instead.
            text.sentiments[i] = -1.6;
            if text.bare[j] == "no" {
                text.sentiments[j] = 0.0;
            }
        } else if text.sentiments[i] > 0.0 && text.before(i, 3).any(|(_, before)| before == "nobody" || before == "noone") {
            text.sentiments[i] *= -0.74;
        }
    }
}

/// "45 minutes on hold", "3 hours late", "two weeks and still waiting".
fn waits(text: &mut Text<'_>, classes: &HashMap<&'static str, u32, FixedState>) {
    let complains = text.complaint() < 0.0;
    for i in 0..text.bare.len() {
        let word = text.word(i);
        let (unit_index, counted) = match number_with_unit(text, i, classes) {
            (_, true) => (i, true),
            (true, false) if text.is(i + 1, Class::TIME_UNIT) => (i + 1, true),
            // "hours in line", "days on hold": a plural unit on its own.
            _ if matches!(word, "hours" | "days" | "weeks" | "months") && (i == 0 || !number_with_unit(text, i - 1, classes).0) => {
                (i, true)
            }
            _ => (i, false),
        };
        if !counted || text.sentiments[unit_index] != 0.0 {
            continue;
        }
        let sentence = text.sentence[unit_index];
        let lo = i.saturating_sub(5);
        let hi = (unit_index + 5).min(text.bare.len() - 1);
        let waiting = (lo..=hi).any(|j| text.sentence[j] == sentence && j != i && j != unit_index && text.is(j, Class::WAIT_CONTEXT));
        let for_after_complaint = complains && i > 0 && matches!(text.word(i - 1), "for" | "over" | "after" | "nearly" | "almost");
        if waiting || for_after_complaint {
            text.sentiments[unit_index] = -1.2;
        }
    }
}

/// "again", "keeps", "every time" add to a complaint, and only to one.
fn repetition(text: &mut Text<'_>) {
    if text.complaint() >= 0.0 {
        return;
    }
    for i in 0..text.bare.len() {
        let word = text.word(i);
        let repeated = text.is(i, Class::REPEAT) || text.phrase_at(i, &["every", "time"]);
        if repeated && text.sentiments[i] == 0.0 && !(word == "again" && text.before(i, 3).any(|(j, _)| text.is(j, Class::AGAIN_POSITIVE)))
        {
            text.sentiments[i] = -0.8;
        }
    }
}

/// Sarcastic thanks and praise turn negative.
fn sarcasm(text: &mut Text<'_>, raw: &str) {
    let praise: Vec<usize> = (0..text.bare.len()).filter(|&i| text.sentiments[i] > 0.0 && text.is(i, Class::PRAISE)).collect();
    if praise.is_empty() {
        return;
    }
    let lower = raw.to_lowercase();
    let marked = ["#not", "#sarcasm", " /s"].iter().any(|marker| {
        lower.match_indices(marker).any(|(at, _)| !lower[at + marker.len()..].starts_with(|character: char| character.is_alphanumeric()))
    });
    // Complaint evidence (praise tokens are positive, so this is all outside them).
    let complains = text.complaint() < 0.0;
    let follows = text.negative_follows();
    let mut sarcastic = marked;
    for &i in &praise {
        let word = text.word(i);
        // "thanks for cancelling my flight", "thank you for the delay".
        let thanked_for = if matches!(word, "thanks" | "thank" | "thx") {
            let start = if text.word(i + 1) == "you" { i + 2 } else { i + 1 };
            if text.word(start) == "for" {
                (start + 1..text.bare.len().min(start + 6)).find(|&j| !text.is(j, Class::FOR_FILLER))
            } else {
                None
            }
        } else {
            None
        };
        if let Some(j) = thanked_for
            && (text.is(j, Class::SARCASTIC_FOR) || text.sentiments[j] < 0.0)
        {
            sarcastic = true;
        }
        // The other constructions are sarcastic only when a complaint follows in the same
        // sentence ("great job losing my bag", "oh great, another cancelled flight").
        let complaint_follows = follows[i];
        if !complains {
            continue;
        }
        let next = text.word(i + 1);
        let previous = if i > 0 { text.word(i - 1) } else { "" };
        // "thanks a lot", "wow thanks", "great job", "nice work", "oh great", "just perfect",
        // "love sitting on the tarmac", "gotta love how…".
        if (matches!(word, "thanks" | "thank") && (matches!(next, "again") || text.phrase_at(i + 1, &["a", "lot"])))
            || (matches!(word, "thanks" | "thank" | "thx") && matches!(previous, "wow" | "gee" | "great"))
            || (complaint_follows && matches!(next, "job" | "work" | "going"))
            || (complaint_follows
                && matches!(previous, "oh" | "just")
                && matches!(word, "great" | "wonderful" | "perfect" | "fantastic" | "lovely" | "brilliant" | "awesome" | "nice" | "good"))
            || (complaint_follows && matches!(word, "love" | "loving") && {
                let after = [text.word(i + 1), text.word(i + 2)];
                after.iter().any(|word| matches!(*word, "how" | "when" | "being" | "waiting" | "sitting" | "getting" | "paying" | "having"))
            })
        {
            sarcastic = true;
        }
    }
    if sarcastic {
        for &i in &praise {
            text.sentiments[i] = -text.sentiments[i];
        }
        if marked {
            for value in &mut text.sentiments {
                *value = -value.abs();
            }
        }
    }
}

/// Thanks at the end of a clear complaint is politeness: it counts as nothing, unless its
/// sentence also names a good outcome ("thanks for catching that fraudulent charge so fast").
fn polite_thanks(text: &mut Text<'_>) {
    let gratitude: Vec<usize> = (0..text.bare.len()).filter(|&i| text.sentiments[i] > 0.0 && text.is(i, Class::GRATITUDE)).collect();
    let loyalty: Vec<usize> = (0..text.bare.len()).filter(|&i| text.sentiments[i] > 0.0 && text.is(i, Class::COMPLAINT_NEUTRAL)).collect();
    if text.complaint() > -1.5 {
        return;
    }
    // "a loyal customer for 8 years and this is how you treat me".
    for i in loyalty {
        text.sentiments[i] = 0.0;
    }
    // Per sentence: its negative sum, and whether it names a good outcome; and the negative
    // sum before each sentence. One pass, so a 10 MB text costs no more than it should.
    let sentences = text.sentence.last().map_or(0, |last| *last as usize + 1);
    let mut negative = vec![0.0; sentences];
    let mut good_outcome = vec![false; sentences];
    for j in 0..text.bare.len() {
        let sentence = text.sentence[j] as usize;
        if text.sentiments[j] < 0.0 {
            negative[sentence] += text.sentiments[j];
        } else if text.sentiments[j] > 0.0 && !text.is(j, Class::GRATITUDE) {
            good_outcome[sentence] = true;
        }
    }
    let mut before = vec![0.0; sentences];
    for sentence in 1..sentences {
        before[sentence] = before[sentence - 1] + negative[sentence - 1];
    }
    for i in gratitude {
        let sentence = text.sentence[i] as usize;
        // Only thanks that come with or after the complaint: "thanks so much. … albeit numb"
        // is gratitude first.
        if before[sentence] + negative[sentence] <= -1.5 && !good_outcome[sentence] {
            text.sentiments[i] = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compound(text: &str) -> f64 {
        ServiceModel::shared().polarity_scores(text).compound
    }

    #[test]
    fn service_failures_vader_misses_are_negative() {
        let vader = Vader::shared();
        for text in [
            "flight delayed 3 hours, still on hold",
            "my package never arrived",
            "the app doesn't work since the update",
            "no response to my email",
            "been on hold for 45 minutes",
            "where is my order?",
            "thanks for cancelling my flight",
            "great job losing my luggage",
            "Was billed twice, want my money back",
            "I was charged twice for one order",
        ] {
            assert!(compound(text) <= -0.05, "{text}: service {} (VADER {})", compound(text), vader.polarity_scores(text).compound);
        }
    }

    /// A phone writes "don’t" and “great”: read as "don't" and "great" (the VADER model
    /// keeps vaderSentiment's exact behaviour, which does not).
    #[test]
    fn typographic_quotes_read_as_plain_ones() {
        for (typed, plain) in [
            ("I don\u{2019}t love this caf\u{e9}", "I don't love this caf\u{e9}"),
            ("\u{201C}great\u{201D} service", "\"great\" service"),
            ("it isn\u{2018}t working and I can\u{02BC}t log in", "it isn't working and I can't log in"),
        ] {
            assert_eq!(compound(typed), compound(plain), "{typed}");
        }
        assert!(compound("I don\u{2019}t love this") <= -0.05);
        let vader = Vader::shared();
        assert!(vader.polarity_scores("I don\u{2019}t love this").compound > 0.0, "VADER as published misses the negation");
    }

    #[test]
    fn requests_are_neutral_and_praise_stays_positive() {
        for text in ["can you help me reset my password?", "I'd like to change my seat please", "I want to add a line for my son"] {
            assert!(compound(text).abs() < 0.05, "{text}: {}", compound(text));
        }
        for text in ["fixed in 20 minutes, thank you!", "package arrived a day early, thanks!"] {
            assert!(compound(text) >= 0.05, "{text}: {}", compound(text));
        }
    }

    #[test]
    fn empty_and_symbol_only_texts_are_neutral() {
        for text in ["", "   ", "???", "@brand", "😀😀", "日本語のテキスト"] {
            let scores = ServiceModel::shared().polarity_scores(text);
            assert!(scores.compound.is_finite() && (-1.0..=1.0).contains(&scores.compound), "{text}");
        }
    }
}
