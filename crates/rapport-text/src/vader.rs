//! VADER, exactly as Python vaderSentiment 3.3.2 scores text — quirks included.
//!
//! Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model for
//! Sentiment Analysis of Social Media Text. ICWSM-14. The lexicons are the PyPI
//! release's own files (MIT licence), embedded.
//!
//! Where the Python code has a quirk, this port keeps it and says so: the `but` rule
//! finds each sentiment with `list.index` (the first *equal* value, not its position);
//! emoji are replaced code point by code point; tokens are split on Python's notion of
//! whitespace; "ALL CAPS" is Python's `str.isupper`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

const B_INCR: f64 = 0.293;
const B_DECR: f64 = -0.293;
const C_INCR: f64 = 0.733;
const N_SCALAR: f64 = -0.74;

/// VADER's `NEGATE` list.
pub(crate) const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

const BOOSTERS_UP: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

const BOOSTERS_DOWN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "just enough",
    "kind of",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sort of",
    "sorta",
    "sortof",
    "sort-of",
];

const SPECIAL_CASES: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("badass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

const LEXICON: &str = include_str!("../data/vader_lexicon.txt");
const EMOJI_LEXICON: &str = include_str!("../data/emoji_utf8_lexicon.txt");

/// VADER's four scores.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    /// Share of negative sentiment.
    pub neg: f64,
    /// Share of neutral words.
    pub neu: f64,
    /// Share of positive sentiment.
    pub pos: f64,
    /// Normalised sum of valences, in [−1, 1].
    pub compound: f64,
}

impl Scores {
    /// Rounded as vaderSentiment returns them: neg/neu/pos to 3 decimals, compound to 4
    /// (Python's `round`, i.e. correctly rounded, ties to even).
    pub fn rounded(&self) -> Scores {
        let round = |value: f64, places: usize| {
            // Python rounds the exact binary value. Scaling and rounding agrees with it
            // except next to a tie, where the exact decimal expansion decides.
            let scale = 10f64.powi(places as i32);
            let scaled = value * scale;
            if ((scaled - scaled.trunc()).abs() - 0.5).abs() > 1e-6 {
                return scaled.round() / scale;
            }
            format!("{value:.places$}").parse::<f64>().unwrap_or(value)
        };
        Scores { neg: round(self.neg, 3), neu: round(self.neu, 3), pos: round(self.pos, 3), compound: round(self.compound, 4) }
    }
}

/// The lexicons, parsed once.
#[derive(Debug)]
pub struct Vader {
    /// Everything VADER knows about a word, found with one hash look-up per token: its
    /// lexicon valence, booster scalar, and whether it is a negation.
    words: HashMap<String, WordInfo, FixedState>,
    emoji: HashMap<char, String, FixedState>,
}

/// What VADER knows about one word.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct WordInfo {
    /// Lexicon valence.
    pub valence: Option<f64>,
    /// Booster scalar (±0.293), or 0 for a word that is not a booster.
    pub booster: f64,
    /// In VADER's `NEGATE` list (words containing "n't" are negations too; see [`Tokens`]).
    pub negation: bool,
}

/// Python's `str.isspace`: Unicode white space plus the information separators U+001C–U+001F.
#[inline]
fn is_python_space(character: char) -> bool {
    match character {
        ' ' | '\t'..='\r' | '\u{1c}'..='\u{1f}' => true,
        _ if character.is_ascii() => false,
        _ => character.is_whitespace(),
    }
}

/// Python's `str.isupper`: at least one cased character and no lower-case one.
fn is_upper(text: &str) -> bool {
    if text.is_ascii() {
        let bytes = text.as_bytes();
        return !bytes.iter().any(u8::is_ascii_lowercase) && bytes.iter().any(u8::is_ascii_uppercase);
    }
    let mut cased = false;
    for character in text.chars() {
        if character.is_lowercase() {
            return false;
        }
        if character.is_uppercase() {
            cased = true;
        }
    }
    cased
}

fn negated(word: &str) -> bool {
    NEGATE.contains(&word) || word.contains("n't")
}

impl Vader {
    /// The shared instance (the lexicons are parsed on first use).
    pub fn shared() -> &'static Vader {
        static SHARED: OnceLock<Vader> = OnceLock::new();
        SHARED.get_or_init(Vader::new)
    }

    /// Parse the embedded lexicons as vaderSentiment's `make_lex_dict` / `make_emoji_dict` do.
    pub fn new() -> Vader {
        Vader::with_lexicon_changes(&[])
    }

    /// VADER with some lexicon entries changed: `Some(valence)` sets a word, `None` removes
    /// it. Everything else (negation, boosters, caps, idioms, "but", emphasis) is VADER's.
    /// Used by the customer-service model.
    pub(crate) fn with_lexicon_changes(changes: &[(&str, Option<f64>)]) -> Vader {
        let mut lexicon = HashMap::with_hasher(FixedState::with_seed(7));
        for line in LEXICON.trim_end_matches('\n').split('\n') {
            if line.is_empty() {
                continue;
            }
            let mut fields = line.trim_matches(is_python_space).split('\t');
            if let (Some(word), Some(measure)) = (fields.next(), fields.next())
                && let Ok(measure) = measure.parse::<f64>()
            {
                lexicon.insert(word.to_string(), measure);
            }
        }
        let mut emoji = HashMap::with_hasher(FixedState::with_seed(7));
        for line in EMOJI_LEXICON.trim_end_matches('\n').split('\n') {
            let mut fields = line.trim_matches(is_python_space).split('\t');
            if let (Some(symbol), Some(description)) = (fields.next(), fields.next()) {
                // Python looks emoji up one code point at a time, so only one-code-point
                // entries can ever match.
                let mut characters = symbol.chars();
                if let (Some(character), None) = (characters.next(), characters.next()) {
                    emoji.insert(character, description.to_string());
                }
            }
        }
        for (word, valence) in changes {
            match valence {
                Some(valence) => lexicon.insert((*word).to_string(), *valence),
                None => lexicon.remove(*word),
            };
        }
        let mut words: HashMap<String, WordInfo, FixedState> = HashMap::with_hasher(FixedState::with_seed(7));
        for (word, valence) in lexicon {
            words.entry(word).or_default().valence = Some(valence);
        }
        for (list, scalar) in [(BOOSTERS_UP, B_INCR), (BOOSTERS_DOWN, B_DECR)] {
            for word in list {
                words.entry((*word).to_string()).or_default().booster = scalar;
            }
        }
        for word in NEGATE {
            words.entry((*word).to_string()).or_default().negation = true;
        }
        Vader { words, emoji }
    }

    /// What VADER knows about a lower-case word (one look-up).
    fn word_info(&self, word: &str) -> WordInfo {
        let mut info = self.words.get(word).copied().unwrap_or_default();
        info.negation |= word.len() >= 3 && memchr::memchr(b'\'', word.as_bytes()).is_some() && word.contains("n't");
        info
    }

    /// A text split into VADER's tokens, each with what VADER knows about it. One vector
    /// per text: this is the hot path of scoring.
    pub(crate) fn tokens<'t>(&self, text: &'t str) -> Tokens<'t> {
        let mut tokens: Vec<Token<'t>> = text
            .split(is_python_space)
            .filter(|token| !token.is_empty())
            .map(|token| {
                let word = strip_punctuation_if_word(token);
                // Most tokens are already lower-case ASCII: borrow those instead of copying.
                let lower = if word.bytes().any(|byte| byte.is_ascii_uppercase() || !byte.is_ascii()) {
                    Cow::Owned(word.to_lowercase())
                } else {
                    Cow::Borrowed(word)
                };
                Token { word, upper: is_upper(word), info: WordInfo::default(), lower }
            })
            .collect();
        for token in &mut tokens {
            token.info = self.word_info(&token.lower);
        }
        let upper_count = tokens.iter().filter(|token| token.upper).count();
        let cap_differential = tokens.len() - upper_count;
        let is_cap_diff = 0 < cap_differential && cap_differential < tokens.len();
        Tokens { tokens, is_cap_diff }
    }

    /// `polarity_scores(text)` of vaderSentiment 3.3.2, unrounded.
    pub fn polarity_scores(&self, text: &str) -> Scores {
        let mut replaced = String::new();
        let text = self.prepare(text, &mut replaced);
        let tokens = self.tokens(text);
        let mut sentiments = self.sentiments(&tokens);
        finish(&tokens.tokens, &mut sentiments, text)
    }

    /// Emoji replaced by their descriptions, one code point at a time (ASCII text has none,
    /// and is used as it is), then trimmed as Python's `str.strip` does.
    pub(crate) fn prepare<'a>(&self, text: &'a str, replaced: &'a mut String) -> &'a str {
        let text = if text.is_ascii() { text } else { self.replace_emoji(text, replaced) };
        text.trim_matches(is_python_space)
    }

    fn replace_emoji<'a>(&self, text: &str, replaced: &'a mut String) -> &'a str {
        replaced.reserve(text.len());
        let mut previous_space = true;
        for character in text.chars() {
            match self.emoji.get(&character) {
                Some(description) => {
                    if !previous_space {
                        replaced.push(' ');
                    }
                    replaced.push_str(description);
                    previous_space = false;
                }
                None => {
                    replaced.push(character);
                    previous_space = character == ' ';
                }
            }
        }
        replaced.as_str()
    }

    /// Each token's valence after VADER's word-level rules, before the "but" rule.
    pub(crate) fn sentiments(&self, tokens: &Tokens<'_>) -> Vec<f64> {
        let (t, is_cap_diff) = (tokens.tokens.as_slice(), tokens.is_cap_diff);
        let mut sentiments: Vec<f64> = Vec::with_capacity(t.len());
        for i in 0..t.len() {
            if t[i].info.booster != 0.0 {
                sentiments.push(0.0);
                continue;
            }
            if i + 1 < t.len() && t[i] == "kind" && t[i + 1] == "of" {
                sentiments.push(0.0);
                continue;
            }
            sentiments.push(sentiment_valence(i, t, is_cap_diff));
        }
        sentiments
    }
}

fn scalar_inc_dec(word_is_upper: bool, booster: f64, valence: f64, is_cap_diff: bool) -> f64 {
    if booster == 0.0 {
        return 0.0;
    }
    let mut scalar = if valence < 0.0 { -booster } else { booster };
    if word_is_upper && is_cap_diff {
        scalar += if valence > 0.0 { C_INCR } else { -C_INCR };
    }
    scalar
}

fn sentiment_valence(i: usize, lower: &[Token<'_>], is_cap_diff: bool) -> f64 {
    let item_lower = lower[i].lower.as_ref();
    let item_is_upper = lower[i].upper;
    let Some(base) = lower[i].info.valence else { return 0.0 };
    let in_lexicon = |index: usize| lower[index].info.valence.is_some();
    let mut valence = base;
    // "no" before another lexicon word negates it rather than counting itself.
    if item_lower == "no" && i != lower.len() - 1 && in_lexicon(i + 1) {
        valence = 0.0;
    }
    if (i > 0 && lower[i - 1] == "no")
        || (i > 1 && lower[i - 2] == "no")
        || (i > 2 && lower[i - 3] == "no" && (lower[i - 1] == "or" || lower[i - 1] == "nor"))
    {
        valence = base * N_SCALAR;
    }
    if item_is_upper && is_cap_diff {
        valence += if valence > 0.0 { C_INCR } else { -C_INCR };
    }
    for start in 0..3 {
        if i > start && !in_lexicon(i - (start + 1)) {
            let before = &lower[i - (start + 1)];
            let mut scalar = scalar_inc_dec(before.upper, before.info.booster, valence, is_cap_diff);
            if start == 1 && scalar != 0.0 {
                scalar *= 0.95;
            }
            if start == 2 && scalar != 0.0 {
                scalar *= 0.9;
            }
            valence += scalar;
            valence = negation_check(valence, lower, start, i);
            if start == 2 {
                valence = special_idioms_check(valence, lower, i);
            }
        }
    }
    // "least" as a negation, unless "at least" / "very least".
    if i > 1 && !in_lexicon(i - 1) && lower[i - 1] == "least" {
        if lower[i - 2] != "at" && lower[i - 2] != "very" {
            valence *= N_SCALAR;
        }
    } else if i > 0 && !in_lexicon(i - 1) && lower[i - 1] == "least" {
        valence *= N_SCALAR;
    }
    valence
}

fn special_idioms_check(mut valence: f64, lower: &[Token<'_>], i: usize) -> f64 {
    // Tokens hold no spaces, so a phrase matches a run of tokens exactly when its
    // words equal them one by one: no n-gram strings need to be built.
    let run = |from: usize, to: usize| &lower[from..=to];
    // Every multi-word idiom starts with one of these words: most windows are ruled out
    // by their first token alone.
    let may_start = |token: &Token<'_>| matches!(token.lower.as_ref(), "the" | "bad" | "bus" | "yeah" | "kiss" | "to" | "beating");
    let special = |tokens: &[Token<'_>]| {
        if !may_start(&tokens[0]) {
            return None;
        }
        SPECIAL_CASES.iter().find(|(phrase, _)| phrase_is(phrase, tokens)).map(|(_, value)| *value)
    };
    // one-zero, two-one-zero, two-one, three-two-one, three-two: the first that matches.
    for (from, to) in [(i - 1, i), (i - 2, i), (i - 2, i - 1), (i - 3, i - 1), (i - 3, i - 2)] {
        if let Some(value) = special(run(from, to)) {
            valence = value;
            break;
        }
    }
    if lower.len() - 1 > i
        && let Some(value) = special(run(i, i + 1))
    {
        valence = value;
    }
    if lower.len() - 1 > i + 1
        && let Some(value) = special(run(i, i + 2))
    {
        valence = value;
    }
    for (from, to) in [(i - 3, i - 1), (i - 3, i - 2), (i - 2, i - 1)] {
        if !matches!(lower[from].lower.as_ref(), "just" | "kind" | "sort") {
            continue;
        }
        if let Some(booster) = MULTIWORD_BOOSTERS.iter().find(|(phrase, _)| phrase_is(phrase, run(from, to))).map(|(_, value)| *value) {
            valence += booster;
        }
    }
    valence
}

/// A text split into VADER's tokens.
#[derive(Debug)]
pub(crate) struct Tokens<'t> {
    /// The tokens, in order.
    pub tokens: Vec<Token<'t>>,
    /// Whether some but not all tokens are ALL CAPS.
    pub is_cap_diff: bool,
}

/// One token.
#[derive(Debug)]
pub(crate) struct Token<'t> {
    /// The token with leading and trailing punctuation stripped (unless that leaves ≤ 2 characters).
    pub word: &'t str,
    /// The same, lower-cased.
    pub lower: Cow<'t, str>,
    /// Whether it is ALL CAPS.
    pub upper: bool,
    /// What the lexicons say about it.
    pub info: WordInfo,
}

impl PartialEq<&str> for Token<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.lower == *other
    }
}

impl AsRef<str> for Token<'_> {
    fn as_ref(&self) -> &str {
        &self.lower
    }
}

/// VADER's sentence-level rules: "but", then emphasis and normalisation.
pub(crate) fn finish(lower: &[impl AsRef<str>], sentiments: &mut [f64], text: &str) -> Scores {
    but_check(lower, sentiments);
    score_valence(sentiments, text)
}

/// Whether a token is one of VADER's negations (its `NEGATE` list, or contains "n't").
pub(crate) fn is_negation(word: &str) -> bool {
    negated(word)
}

/// Python's `str.isspace`, for callers that split text as VADER does.
pub(crate) fn is_space(character: char) -> bool {
    is_python_space(character)
}

/// Whether the space-separated `phrase` is exactly these tokens.
fn phrase_is(phrase: &str, tokens: &[impl AsRef<str>]) -> bool {
    let mut words = phrase.split(' ');
    tokens.iter().all(|token| words.next() == Some(token.as_ref())) && words.next().is_none()
}

/// The entries of vaderSentiment's BOOSTER_DICT with more than one word: only these can
/// match the n-grams of the idiom check.
const MULTIWORD_BOOSTERS: &[(&str, f64)] = &[("just enough", B_DECR), ("kind of", B_DECR), ("sort of", B_DECR)];

impl Default for Vader {
    fn default() -> Self {
        Vader::new()
    }
}

/// `_strip_punc_if_word`: strip leading and trailing ASCII punctuation unless that
/// leaves two characters or fewer (an emoticon such as `:)`).
fn strip_punctuation_if_word(token: &str) -> &str {
    // Python's string.punctuation is exactly the 32 ASCII punctuation characters.
    let bytes = token.as_bytes();
    let start = bytes.iter().position(|byte| !byte.is_ascii_punctuation()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|byte| !byte.is_ascii_punctuation()).map_or(start, |end| end + 1);
    // Only ASCII bytes were cut, so both ends are character boundaries.
    let stripped = &token[start..end];
    let short = if stripped.is_ascii() { stripped.len() <= 2 } else { stripped.chars().count() <= 2 };
    if short { token } else { stripped }
}

fn negation_check(mut valence: f64, lower: &[Token<'_>], start: usize, i: usize) -> f64 {
    let negated = |index: usize| lower[index].info.negation;
    match start {
        0 => {
            if negated(i - 1) {
                valence *= N_SCALAR;
            }
        }
        1 => {
            if lower[i - 2] == "never" && (lower[i - 1] == "so" || lower[i - 1] == "this") {
                valence *= 1.25;
            } else if lower[i - 2] == "without" && lower[i - 1] == "doubt" {
            } else if negated(i - 2) {
                valence *= N_SCALAR;
            }
        }
        _ => {
            // Python's precedence: (never and (so or this)) or (so or this).
            if (lower[i - 3] == "never" && (lower[i - 2] == "so" || lower[i - 2] == "this"))
                || (lower[i - 1] == "so" || lower[i - 1] == "this")
            {
                valence *= 1.25;
            } else if lower[i - 3] == "without" && (lower[i - 2] == "doubt" || lower[i - 1] == "doubt") {
            } else if negated(i - 3) {
                valence *= N_SCALAR;
            }
        }
    }
    valence
}

/// `_but_check`, quirk included: each sentiment is located with `list.index`, i.e. the
/// first position holding an equal value, which is then scaled — so repeated values
/// before and after "but" interact exactly as in Python.
fn but_check(lower: &[impl AsRef<str>], sentiments: &mut [f64]) {
    let Some(but) = lower.iter().position(|word| word.as_ref() == "but") else {
        return;
    };
    // `list.index` per element is quadratic, which a 10 MB text with a "but" in it would
    // feel. The same lookups are answered from an index of value → positions holding it,
    // kept up to date as values change: O(n log n), identical results.
    let key = |value: f64| if value == 0.0 { 0u64 } else { value.to_bits() };
    let mut positions: HashMap<u64, BTreeSet<usize>, FixedState> = HashMap::with_hasher(FixedState::with_seed(7));
    for (position, value) in sentiments.iter().enumerate() {
        positions.entry(key(*value)).or_default().insert(position);
    }
    for position in 0..sentiments.len() {
        let sentiment = sentiments[position];
        let Some(&first) = positions.get(&key(sentiment)).and_then(BTreeSet::first) else {
            continue;
        };
        let scaled = if first < but {
            sentiment * 0.5
        } else if first > but {
            sentiment * 1.5
        } else {
            continue;
        };
        if key(scaled) != key(sentiment) {
            if let Some(set) = positions.get_mut(&key(sentiment)) {
                set.remove(&first);
            }
            positions.entry(key(scaled)).or_default().insert(first);
        }
        sentiments[first] = scaled;
    }
}

fn score_valence(sentiments: &[f64], text: &str) -> Scores {
    if sentiments.is_empty() {
        return Scores::default();
    }
    let mut sum: f64 = sentiments.iter().sum();
    let exclamations = text.matches('!').count().min(4) as f64 * 0.292;
    let questions = match text.matches('?').count() {
        count @ 2..=3 => count as f64 * 0.18,
        count if count > 3 => 0.96,
        _ => 0.0,
    };
    let emphasis = exclamations + questions;
    if sum > 0.0 {
        sum += emphasis;
    } else if sum < 0.0 {
        sum -= emphasis;
    }
    let compound = (sum / (sum * sum + 15.0).sqrt()).clamp(-1.0, 1.0);
    let (mut positive, mut negative, mut neutral) = (0.0, 0.0, 0.0);
    for &score in sentiments {
        if score > 0.0 {
            positive += score + 1.0;
        }
        if score < 0.0 {
            negative += score - 1.0;
        }
        if score == 0.0 {
            neutral += 1.0;
        }
    }
    if positive > negative.abs() {
        positive += emphasis;
    } else if positive < negative.abs() {
        negative -= emphasis;
    }
    let total = positive + negative.abs() + neutral;
    Scores { neg: (negative / total).abs(), neu: (neutral / total).abs(), pos: (positive / total).abs(), compound }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// vaderSentiment 3.3.2's own README examples.
    #[test]
    fn ascii_punctuation_is_pythons_string_punctuation() {
        let python = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
        let rust: String = (0u8..128).map(char::from).filter(char::is_ascii_punctuation).collect();
        assert_eq!(rust, python);
        let spaces: String = (0u8..128).map(char::from).filter(|character| is_python_space(*character)).collect();
        assert_eq!(spaces, "\t\n\u{b}\u{c}\r\u{1c}\u{1d}\u{1e}\u{1f} ", "str.isspace over ASCII");
    }

    /// Python's `_but_check`, as written: `list.index` for every element.
    fn but_check_naive(lower: &[Cow<'_, str>], sentiments: &mut [f64]) {
        let Some(but) = lower.iter().position(|word| word == "but") else { return };
        for position in 0..sentiments.len() {
            let sentiment = sentiments[position];
            let Some(first) = sentiments.iter().position(|value| *value == sentiment) else { continue };
            if first < but {
                sentiments[first] = sentiment * 0.5;
            } else if first > but {
                sentiments[first] = sentiment * 1.5;
            }
        }
    }

    proptest::proptest! {
        /// The indexed "but" rule gives exactly what the quadratic one does, repeated and
        /// signed-zero values included.
        #[test]
        fn indexed_but_check_equals_pythons(values in proptest::collection::vec(proptest::sample::select(vec![0.0, -0.0, 1.5, -1.5, 0.75, 2.25, -0.74, 3.0]), 1..40), but in 0usize..40) {
            let lower: Vec<Cow<'_, str>> = (0..values.len()).map(|index| Cow::Borrowed(if index == but % values.len() { "but" } else { "w" })).collect();
            let (mut fast, mut naive) = (values.clone(), values.clone());
            but_check(&lower, &mut fast);
            but_check_naive(&lower, &mut naive);
            proptest::prop_assert_eq!(fast, naive);
        }
    }

    #[test]
    fn readme_examples_match_vader_python() {
        let vader = Vader::shared();
        for (text, compound) in [
            ("VADER is smart, handsome, and funny.", 0.8316),
            ("VADER is smart, handsome, and funny!", 0.8439),
            ("VADER is very smart, handsome, and funny.", 0.8545),
            ("VADER is VERY SMART, handsome, and FUNNY.", 0.9227),
            ("VADER is VERY SMART, handsome, and FUNNY!!!", 0.9342),
            ("VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", 0.9469),
            ("VADER is not smart, handsome, nor funny.", -0.7424),
            ("The book was good.", 0.4404),
            ("At least it isn't a horrible book.", 0.431),
            ("The book was only kind of good.", 0.3832),
            ("The plot was good, but the characters are uncompelling and the dialog is not great.", -0.7042),
            ("Today SUX!", -0.5461),
            ("Today only kinda sux! But I'll get by, lol", 0.5249),
            ("Make sure you :) or :D today!", 0.8633),
            ("Catch utf-8 emoji such as 💘 and 💋 and 😁", 0.875),
            ("Not bad at all", 0.431),
        ] {
            assert_eq!(vader.polarity_scores(text).rounded().compound, compound, "{text}");
        }
        assert_eq!(vader.polarity_scores(""), Scores::default());
    }
}
