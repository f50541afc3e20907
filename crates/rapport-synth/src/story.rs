//! One synthetic customer's whole story, drawn from the brand's generative process.
//!
//! Every customer is drawn from their own random stream (ChaCha8, stream = the
//! customer's index), so a brand is reproducible from its seed whatever the order or
//! the number of threads, and a customer's story never depends on another's.
//!
//! The process, with the planted effects marked ★ (documented in `docs/synthetic.md`):
//!
//! * Acquisition spread evenly over 2022-01-01 … 2025-12-31; region, store and home
//!   around the store; name, e-mail, phone; preferred channel; consent (8% opted out).
//! * Purchases: Pareto/NBD — rate λ ~ Gamma(1.2, scale 2)/year, lifetime ~ Exp(μ), μ ~
//!   Gamma(1, scale 0.35)/year; first purchase at acquisition. Spend: Gamma-Gamma —
//!   amount ~ Gamma(6, rate ν), ν ~ Gamma(4, rate 1/22.5). 4% of purchases are refunded.
//! * ★ Social engagement (30% of customers follow, like, share and mention the brand)
//!   multiplies the purchase rate by 1.3 and the amounts by 1.2.
//! * Conversations (0.7 a year while a customer, and for 60 days after) on e-mail, chat,
//!   social and phone, on six themes; a complaint opens negative 65% of the time; agents
//!   reply to 95% (e-mail and phone only in business hours, Europe/London, Mon–Fri
//!   09:00–18:00); 72% resolved (82% on chat and phone). A negative opening is followed
//!   by a positive closing when resolved (80%), by a negative one otherwise (70%).
//! * ★ An unresolved conversation that opened negative ends the relationship (no more
//!   purchases) with probability 0.35.
//! * ★ A recovered customer (opened negative, closed non-negative or resolved) spends
//!   1.25 times as much per purchase afterwards.
//! * Self-service article views (0.5 a year); 30% are followed by a contact within days.
//! * Surveys: NPS after 12% of purchases and yearly (30%); CSAT (35%) and CES (25%)
//!   after replied conversations; answers are worse after an unresolved bad experience
//!   (NPS within 90 days). 1% carry no touchpoint.
//! * 12% of customers were referred by an earlier customer (★ their rate × 1.15).
//! * ★ An incident: deliveries fail in the week of 2025-11-03; 5% of the customers still
//!   buying complain about it (a delivery complaint that opens negative) that week.
//! * Two retention programs sent to random eligible customers, 20% held out as control;
//!   ★ a treated customer still active buys an extra time within 30 days with
//!   probability 0.10 (spring win-back) and 0.07 (autumn voucher) on average: 2.5 times
//!   that for the socially engaged, 0.36 times for the others (who responds varies).

use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Europe::London;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Normal};

use rapport_core::event::EngagementType;
use rapport_core::survey::SurveyType;
use rapport_measures::{Answer, Conversation, Engagement, Message, ProgramContact, Purchase, Timeline, Tone};

use crate::text::{self, Theme};

/// 2022-01-01T00:00:00Z.
pub const START: i64 = 1_640_995_200;
/// 2025-12-31T23:59:59Z: the observation end (London is on GMT then).
pub const END: i64 = 1_767_225_599;
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const YEAR: f64 = 365.25 * 86_400.0;

/// A store: id, name, latitude, longitude.
pub type Store = (&'static str, &'static str, f64, f64);

/// Regions with their stores: (region, [(store id, name, latitude, longitude)], share
/// of customers). Shetland's share is tiny on purpose: a region of a handful of
/// customers, whose figures must come with their (wide) intervals.
pub const REGIONS: [(&str, &[Store], f64); 6] = [
    (
        "London",
        &[("S01", "Oxford Street", 51.5154, -0.1410), ("S02", "Camden", 51.5416, -0.1426), ("S03", "Croydon", 51.3762, -0.0982)],
        0.34,
    ),
    ("North West", &[("S04", "Manchester", 53.4808, -2.2426), ("S05", "Liverpool", 53.4084, -2.9916)], 0.20),
    ("Midlands", &[("S06", "Birmingham", 52.4862, -1.8904), ("S07", "Nottingham", 52.9548, -1.1581)], 0.18),
    ("Scotland", &[("S08", "Glasgow", 55.8642, -4.2518), ("S09", "Edinburgh", 55.9533, -3.1883)], 0.14),
    ("South West", &[("S10", "Bristol", 51.4545, -2.5879)], 0.13985),
    ("Shetland", &[("S11", "Lerwick", 60.1530, -1.1490)], 0.00015),
];

/// The planted incident: deliveries failed from Monday 2025-11-03 to Sunday 2025-11-09
/// (UTC seconds, end exclusive), and that week's complaints surge.
pub const INCIDENT: (i64, i64) = (1_762_128_000, 1_762_732_800);
/// Share of the customers still buying at the incident who complain about it.
pub const INCIDENT_SHARE: f64 = 0.05;

/// Retention programs: (name, send time, eligible if acquired before, share selected,
/// true extra-purchase probability, message cost, reward cost).
pub const PROGRAMS: [(&str, i64, i64, f64, f64, f64, f64); 2] = [
    ("spring_winback", 1_743_501_600, 1_735_689_600, 0.25, 0.10, 0.05, 0.0),
    ("autumn_voucher", 1_757_930_400, 1_754_006_400, 0.20, 0.07, 0.05, 5.0),
];

/// How much more often than a program's mean extra-purchase probability a socially
/// engaged customer responds to it; the others respond [`RESPONSE_OTHERS`] times as often,
/// so that over the 30% engaged the mean is the program's.
pub const RESPONSE_ENGAGED: f64 = 2.5;
/// See [`RESPONSE_ENGAGED`]: (1 − 0.3 × 2.5) / 0.7.
pub const RESPONSE_OTHERS: f64 = (1.0 - 0.3 * RESPONSE_ENGAGED) / 0.7;

/// Contact cost by channel.
pub fn contact_cost(channel: &str) -> f64 {
    match channel {
        "phone" => 6.5,
        "chat" => 2.8,
        "email" => 3.4,
        _ => 2.2,
    }
}

const FIRST_NAMES: [&str; 24] = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Grace", "Sophia", "Priya", "Zara", "Noah", "Oliver", "George",
    "Arthur", "Leo", "Harry", "Oscar", "Jack", "Mohammed", "Theo", "Kwame", "Tomasz",
];
const LAST_NAMES: [&str; 20] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson", "Wright", "Thompson", "Evans",
    "Walker", "Khan", "Roberts", "Green", "Hall", "Nowak", "O'Brien",
];

/// A purchase (or refund) as written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthPurchase {
    /// UTC seconds.
    pub time: i64,
    /// Pounds, to the penny; negative for a refund.
    pub amount: f64,
    /// The order's number within the customer (a refund carries its purchase's).
    pub order: u32,
    /// Items in the basket.
    pub items: u32,
}

/// A message as written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthMessage {
    /// UTC seconds.
    pub time: i64,
    /// From the customer.
    pub inbound: bool,
    /// The text.
    pub text: &'static str,
    /// The planted tone of a customer's text.
    pub tone: Option<Tone>,
    /// Resolved flag on an agent's row.
    pub resolved: Option<bool>,
    /// The agent.
    pub agent: Option<&'static str>,
}

/// A conversation as written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConversation {
    /// Channel name.
    pub channel: &'static str,
    /// Theme.
    pub theme: Theme,
    /// Its rows.
    pub messages: Vec<SynthMessage>,
}

/// A survey answer as written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthAnswer {
    /// Type.
    pub survey: SurveyType,
    /// Score.
    pub score: u32,
    /// UTC seconds.
    pub time: i64,
    /// Touchpoint (1% none).
    pub touchpoint: Option<&'static str>,
    /// Journey stage.
    pub stage: &'static str,
    /// Comment.
    pub comment: Option<&'static str>,
    /// The channel it was asked on (the conversation's, for CSAT and CES; e-mail for NPS).
    pub channel: &'static str,
}

/// An engagement event as written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthEngagement {
    /// Type.
    pub kind: EngagementType,
    /// UTC seconds.
    pub time: i64,
    /// Review rating.
    pub rating: Option<u32>,
    /// Review text.
    pub text: Option<&'static str>,
}

/// A program contact as written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthProgram {
    /// Index into [`PROGRAMS`].
    pub program: usize,
    /// UTC seconds.
    pub time: i64,
    /// Channel of the message.
    pub channel: &'static str,
    /// Held out.
    pub control: bool,
    /// Bought because of it.
    pub responded: bool,
}

/// The customer's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Acquisition (first purchase), UTC seconds.
    pub acquired: i64,
    /// Full name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Phone (Ofcom's drama range, never a real number).
    pub phone: String,
    /// Index into [`REGIONS`].
    pub region: usize,
    /// Store index within the region.
    pub store: usize,
    /// Home latitude.
    pub latitude: f64,
    /// Home longitude.
    pub longitude: f64,
    /// Preferred channel.
    pub preferred_channel: &'static str,
    /// E-mail consent.
    pub email_consent: bool,
    /// SMS consent.
    pub sms_consent: bool,
    /// Opted out of marketing.
    pub opted_out: bool,
}

/// One customer's story.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// Index (the id is `C` and the index, zero-padded).
    pub index: u64,
    /// Profile.
    pub profile: Profile,
    /// Who referred this customer.
    pub referred_by: Option<u64>,
    /// Socially engaged (planted trait).
    pub engaged: bool,
    /// Purchases and refunds.
    pub purchases: Vec<SynthPurchase>,
    /// Conversations.
    pub conversations: Vec<SynthConversation>,
    /// Survey answers.
    pub answers: Vec<SynthAnswer>,
    /// Engagement.
    pub engagement: Vec<SynthEngagement>,
    /// Programs.
    pub programs: Vec<SynthProgram>,
}

/// The customer id of index `index`.
pub fn customer_id(index: u64) -> String {
    format!("C{index:08}")
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut draw = rng.random::<f64>() * total;
    for (index, weight) in weights.iter().enumerate() {
        if draw < *weight {
            return index;
        }
        draw -= weight;
    }
    weights.len() - 1
}

/// Event times of a Poisson process of `rate_per_year` on (from, to].
fn poisson_times(rng: &mut ChaCha8Rng, rate_per_year: f64, from: i64, to: i64) -> Vec<i64> {
    let mut times = Vec::new();
    if rate_per_year <= 0.0 || to <= from {
        return times;
    }
    let gap = Exp::new(rate_per_year / YEAR).expect("positive rate");
    let mut time = from as f64;
    loop {
        time += gap.sample(rng);
        if time > to as f64 {
            return times;
        }
        times.push(time as i64);
    }
}

fn gamma(shape: f64, scale: f64) -> Gamma<f64> {
    Gamma::new(shape, scale).expect("positive parameters")
}

/// Seconds until an e-mail or phone team (Mon–Fri 09:00–18:00 London) can start on a
/// message that arrived at `time`.
fn business_wait(time: i64) -> i64 {
    let mut local =
        London.timestamp_opt(time, 0).single().unwrap_or_else(|| London.timestamp_opt(time + HOUR, 0).earliest().expect("a time"));
    let mut waited = 0;
    for _ in 0..8 {
        let weekday = local.weekday().num_days_from_monday();
        let hour = local.hour();
        if weekday < 5 && (9..18).contains(&hour) {
            return waited;
        }
        // Jump to the next 09:00.
        let next_day = if weekday < 5 && hour < 9 { local.date_naive() } else { local.date_naive() + chrono::Duration::days(1) };
        let opening = next_day.and_hms_opt(9, 0, 0).expect("09:00");
        let next = London.from_local_datetime(&opening).earliest().expect("09:00 exists");
        waited += next.timestamp() - local.timestamp();
        local = next;
    }
    waited
}

fn nps_score(rng: &mut ChaCha8Rng, unhappy: bool) -> u32 {
    let weights: &[f64] = if unhappy {
        &[8.0, 7.0, 8.0, 8.0, 9.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    } else {
        &[1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 8.0, 14.0, 30.0, 35.0]
    };
    weighted(rng, weights) as u32
}

fn comment(rng: &mut ChaCha8Rng, band: usize) -> Option<&'static str> {
    rng.random_bool(0.4).then(|| pick(rng, text::comments(band)))
}

/// The acquisition time of customer `index`: the first draw of the customer's stream.
fn acquisition(rng: &mut ChaCha8Rng, index: u64, customers: u64) -> i64 {
    let span = (END - START - 30 * DAY) as f64;
    START + ((index as f64 + rng.random::<f64>()) / customers as f64 * span) as i64
}

/// Who referred customer `index`, and when the referral was made (two days before the
/// acquisition): drawn from a stream of its own, so the referrer's side of the link can
/// be found without drawing whole stories (the ground truth needs the referrals each
/// customer made).
pub fn referral(seed: u64, index: u64, customers: u64) -> Option<(u64, i64)> {
    if index == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let acquired = acquisition(&mut rng, index, customers);
    let mut links = ChaCha8Rng::seed_from_u64(seed ^ 0x7265_6665_7272_616c);
    links.set_stream(index);
    links.random_bool(0.12).then(|| (links.random_range(0..index), (acquired - 2 * DAY).max(START)))
}

/// Draw customer `index` of a brand of `customers` from stream `index` of `seed`.
pub fn story(seed: u64, index: u64, customers: u64) -> Story {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let acquired = acquisition(&mut rng, index, customers);

    let region = weighted(&mut rng, &REGIONS.map(|region| region.2));
    let stores = REGIONS[region].1;
    let store = rng.random_range(0..stores.len());
    let spread = Normal::new(0.0, 0.06).expect("positive");
    let latitude = ((stores[store].2 + spread.sample(&mut rng)) * 1e5).round() / 1e5;
    let longitude = ((stores[store].3 + 1.6 * spread.sample(&mut rng)) * 1e5).round() / 1e5;
    let (first, last) = (pick(&mut rng, &FIRST_NAMES), pick(&mut rng, &LAST_NAMES));
    let name = format!("{first} {last}");
    let email = format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase().replace('\'', ""), index);
    let phone = format!("+44 7700 9{:05}", index % 100_000);
    let preferred_channel = ["email", "sms", "chat", "social", "phone", "push"][weighted(&mut rng, &[0.4, 0.2, 0.12, 0.12, 0.08, 0.08])];
    let opted_out = rng.random_bool(0.08);
    let email_consent = !opted_out && rng.random_bool(0.8);
    let sms_consent = !opted_out && rng.random_bool(0.5);
    let profile = Profile {
        acquired,
        name,
        email,
        phone,
        region,
        store,
        latitude,
        longitude,
        preferred_channel,
        email_consent,
        sms_consent,
        opted_out,
    };

    let engaged = rng.random_bool(0.3);
    let referred_by = referral(seed, index, customers).map(|(referrer, _)| referrer);
    let lambda = gamma(1.2, 2.0).sample(&mut rng) * if engaged { 1.3 } else { 1.0 } * if referred_by.is_some() { 1.15 } else { 1.0 };
    let mu = gamma(1.0, 0.35).sample(&mut rng).max(1e-9);
    let lifetime = Exp::new(mu).expect("positive").sample(&mut rng) * YEAR;
    let base_death = acquired.saturating_add(lifetime.min(1e12) as i64);
    let nu = gamma(4.0, 1.0 / 22.5).sample(&mut rng);
    let basket = gamma(6.0, 1.0 / nu);

    let mut purchase_times = vec![acquired];
    purchase_times.extend(poisson_times(&mut rng, lambda, acquired, base_death.min(END)));

    // Contacts: spontaneous, and after some self-service article views.
    let contact_end = base_death.saturating_add(60 * DAY).min(END);
    let article_views = poisson_times(&mut rng, 0.5, acquired, contact_end);
    let mut contacts: Vec<(i64, Option<Theme>, bool)> =
        poisson_times(&mut rng, 0.7, acquired, contact_end).into_iter().map(|time| (time, None, false)).collect();
    for &view in &article_views {
        if rng.random_bool(0.3) {
            let after = (Exp::new(1.0 / (1.5 * DAY as f64)).expect("positive").sample(&mut rng)) as i64 + 60;
            contacts.push((view + after, Some(if rng.random_bool(0.5) { Theme::Account } else { Theme::Delivery }), false));
        }
    }
    // ★ The incident: a delivery failure in the week of INCIDENT; customers still buying
    // complain about it (drawn from the incident's own stream, so nobody else's story moves).
    let mut incident = ChaCha8Rng::seed_from_u64(seed ^ 0x696e_6369_6465_6e74);
    incident.set_stream(index);
    if acquired < INCIDENT.0 && base_death > INCIDENT.0 && incident.random_bool(INCIDENT_SHARE) {
        contacts.push((incident.random_range(INCIDENT.0..INCIDENT.1), Some(Theme::Delivery), true));
    }
    contacts.sort_by_key(|contact| contact.0);

    let mut conversations = Vec::new();
    let mut death = base_death;
    let mut recovered_since: Option<i64> = None;
    let mut unhappy_at: Vec<i64> = Vec::new();
    for (start, forced_theme, complaint) in contacts {
        if start > END || start > death.saturating_add(60 * DAY) {
            continue;
        }
        let channel = ["email", "chat", "social", "phone"][weighted(&mut rng, &[0.3, 0.3, 0.25, 0.15])];
        let theme = forced_theme.unwrap_or_else(|| Theme::ALL[weighted(&mut rng, &[0.3, 0.15, 0.2, 0.15, 0.1, 0.1])]);
        let opening_tone = match theme {
            _ if complaint => Tone::Negative,
            Theme::Praise => Tone::Positive,
            _ if rng.random_bool(0.65) => Tone::Negative,
            _ => Tone::Neutral,
        };
        let mut messages = vec![SynthMessage {
            time: start,
            inbound: true,
            text: pick(&mut rng, text::openings(theme, opening_tone)),
            tone: Some(opening_tone),
            resolved: None,
            agent: None,
        }];
        let replied = rng.random_bool(0.95);
        let resolved = replied && rng.random_bool(if matches!(channel, "chat" | "phone") { 0.82 } else { 0.72 });
        let mut last = start;
        if replied {
            let (median, sigma) = match channel {
                "chat" => (4.0 * 60.0, 0.8),
                "social" => (45.0 * 60.0, 1.0),
                "email" => (5.0 * 3600.0, 0.7),
                _ => (3.0 * 60.0, 0.6),
            };
            let base = LogNormal::new(f64::ln(median), sigma).expect("positive").sample(&mut rng) as i64 + 1;
            let wait = if matches!(channel, "email" | "phone") { business_wait(start) } else { 0 };
            // Clock skew between the inbox and the agents' tool: a few replies are
            // stamped a little before the message they answer.
            let skewed = rng.random_bool(0.005);
            let reply_time = if skewed { start - rng.random_range(5..120) } else { start + wait + base };
            last = reply_time.max(start);
            messages.push(SynthMessage {
                time: reply_time,
                inbound: false,
                text: pick(&mut rng, &text::REPLIES),
                tone: None,
                resolved: Some(resolved),
                agent: Some(pick(&mut rng, &text::AGENTS)),
            });
        }
        if rng.random_bool(0.8) {
            let closing_tone = match (opening_tone, resolved) {
                (Tone::Negative, true) => {
                    if rng.random_bool(0.8) {
                        Tone::Positive
                    } else {
                        Tone::Neutral
                    }
                }
                (Tone::Negative, false) => {
                    if rng.random_bool(0.7) {
                        Tone::Negative
                    } else {
                        Tone::Neutral
                    }
                }
                _ => {
                    if rng.random_bool(0.6) {
                        Tone::Positive
                    } else {
                        Tone::Neutral
                    }
                }
            };
            let time = last + rng.random_range(600..DAY);
            messages.push(SynthMessage {
                time,
                inbound: true,
                text: pick(&mut rng, text::closings(closing_tone)),
                tone: Some(closing_tone),
                resolved: None,
                agent: None,
            });
        }
        messages.retain(|message| message.time <= END);
        let negative = opening_tone == Tone::Negative;
        let closing = messages.iter().rev().find(|message| message.inbound).and_then(|message| message.tone);
        let recovered = negative && (resolved || closing.is_some_and(|tone| tone != Tone::Negative));
        if negative && !resolved {
            unhappy_at.push(start);
            if start < death && rng.random_bool(0.35) {
                death = start;
            }
        }
        if recovered && recovered_since.is_none() && start < death {
            recovered_since = Some(start);
        }
        conversations.push(SynthConversation { channel, theme, messages });
    }

    let mut purchases = Vec::new();
    for (order, &time) in purchase_times.iter().filter(|&&time| time == acquired || time < death).enumerate() {
        let multiplier = if engaged { 1.2 } else { 1.0 } * if recovered_since.is_some_and(|since| time > since) { 1.25 } else { 1.0 };
        let amount = ((basket.sample(&mut rng) * multiplier).max(1.0) * 100.0).round() / 100.0;
        purchases.push(SynthPurchase { time, amount, order: order as u32, items: 1 + rng.random_range(0..4) });
    }

    let mut programs = Vec::new();
    for (program, (_, send, eligible_before, share, uplift, _, _)) in PROGRAMS.iter().enumerate() {
        if acquired >= *eligible_before || opted_out || !rng.random_bool(*share) {
            continue;
        }
        let control = rng.random_bool(0.2);
        let channel = match preferred_channel {
            "sms" | "push" | "email" => preferred_channel,
            _ => "email",
        };
        // ★ Response varies by customer: the socially engaged respond RESPONSE_ENGAGED
        // times as often as the program's mean, the others RESPONSE_OTHERS times (a mean of
        // 1 over the 30% engaged).
        let response = uplift * if engaged { RESPONSE_ENGAGED } else { RESPONSE_OTHERS };
        let responded = !control && death > *send && rng.random_bool(response);
        if responded {
            let time = send + rng.random_range(HOUR..30 * DAY);
            let multiplier = if engaged { 1.2 } else { 1.0 } * if recovered_since.is_some_and(|since| time > since) { 1.25 } else { 1.0 };
            let amount = ((basket.sample(&mut rng) * multiplier).max(1.0) * 100.0).round() / 100.0;
            purchases.push(SynthPurchase { time, amount, order: purchases.len() as u32, items: 1 });
        }
        programs.push(SynthProgram { program, time: *send, channel, control, responded });
    }

    // Refunds of 4% of purchases, and what follows a purchase: reviews, NPS.
    let mut answers = Vec::new();
    let mut engagement = Vec::new();
    let unhappy_before = |time: i64, unhappy_at: &[i64]| unhappy_at.iter().any(|&at| at <= time && time - at <= 90 * DAY);
    let bought: Vec<SynthPurchase> = purchases.clone();
    for purchase in &bought {
        if rng.random_bool(0.04) {
            let time = purchase.time + rng.random_range(DAY..20 * DAY);
            let amount = if rng.random_bool(0.7) { -purchase.amount } else { -((purchase.amount * 50.0).round() / 100.0) };
            if time <= END {
                purchases.push(SynthPurchase { time, amount, order: purchase.order, items: 1 });
            }
        }
        if rng.random_bool(0.12) {
            let time = purchase.time + rng.random_range(DAY..4 * DAY);
            let score = nps_score(&mut rng, unhappy_before(time, &unhappy_at));
            let (touchpoint, stage) = if rng.random_bool(0.5) { ("delivery", "delivery") } else { ("checkout", "purchase") };
            let touchpoint = (!rng.random_bool(0.01)).then_some(touchpoint);
            let band = if score <= 6 {
                0
            } else if score <= 8 {
                1
            } else {
                2
            };
            answers.push(SynthAnswer {
                survey: SurveyType::Nps,
                score,
                time,
                touchpoint,
                stage,
                comment: comment(&mut rng, band),
                channel: "email",
            });
        }
        if rng.random_bool(0.05) {
            let rating = 1 + weighted(&mut rng, &[5.0, 5.0, 10.0, 30.0, 50.0]) as u32;
            let time = purchase.time + rng.random_range(3 * DAY..10 * DAY);
            engagement.push(SynthEngagement {
                kind: EngagementType::Review,
                time,
                rating: Some(rating),
                text: Some(pick(&mut rng, text::reviews(rating as usize))),
            });
        }
    }
    // Relationship NPS on each anniversary.
    let mut anniversary = acquired + (YEAR as i64);
    while anniversary <= END {
        if rng.random_bool(0.3) {
            let score = nps_score(&mut rng, unhappy_before(anniversary, &unhappy_at));
            let band = if score <= 6 {
                0
            } else if score <= 8 {
                1
            } else {
                2
            };
            let touchpoint = (!rng.random_bool(0.01)).then_some("relationship");
            answers.push(SynthAnswer {
                survey: SurveyType::Nps,
                score,
                time: anniversary,
                touchpoint,
                stage: "loyalty",
                comment: comment(&mut rng, band),
                channel: "email",
            });
        }
        anniversary += YEAR as i64;
    }
    // CSAT and CES after replied conversations.
    for conversation in &conversations {
        let Some(reply) = conversation.messages.iter().find(|message| !message.inbound) else { continue };
        let resolved = reply.resolved == Some(true);
        let last = conversation.messages.iter().map(|message| message.time).max().unwrap_or(reply.time);
        let touchpoint = (!rng.random_bool(0.01)).then_some(conversation.channel);
        // A CSAT survey after 35% of conversations, a CES survey after 25%.
        let surveys: [(SurveyType, f64, &[f64]); 2] = [
            (SurveyType::Csat, 0.35, if resolved { &[2.0, 4.0, 10.0, 34.0, 50.0] } else { &[25.0, 25.0, 20.0, 20.0, 10.0] }),
            (
                SurveyType::Ces,
                0.25,
                if resolved { &[30.0, 30.0, 20.0, 10.0, 5.0, 3.0, 2.0] } else { &[5.0, 8.0, 12.0, 15.0, 20.0, 20.0, 20.0] },
            ),
        ];
        for (survey, share, weights) in surveys {
            if rng.random_bool(share) {
                let score = 1 + weighted(&mut rng, weights) as u32;
                let time = last + rng.random_range(HOUR..2 * DAY);
                answers.push(SynthAnswer {
                    survey,
                    score,
                    time,
                    touchpoint,
                    stage: "support",
                    comment: None,
                    channel: conversation.channel,
                });
            }
        }
    }
    answers.retain(|answer| answer.time <= END);

    // Social engagement of the engaged, visits and article views of everyone.
    let active_end = death.saturating_add(90 * DAY).min(END);
    if engaged {
        if rng.random_bool(0.85) {
            let time = acquired + (Exp::new(1.0 / (20.0 * DAY as f64)).expect("positive").sample(&mut rng)) as i64;
            engagement.push(SynthEngagement { kind: EngagementType::Follow, time, rating: None, text: None });
        }
        for (kind, rate) in [(EngagementType::Like, 4.0), (EngagementType::Share, 1.0), (EngagementType::Mention, 0.3)] {
            for time in poisson_times(&mut rng, rate, acquired, active_end) {
                engagement.push(SynthEngagement { kind, time, rating: None, text: None });
            }
        }
    }
    for time in poisson_times(&mut rng, 3.0, acquired, death.min(END)) {
        engagement.push(SynthEngagement { kind: EngagementType::SiteVisit, time, rating: None, text: None });
    }
    for &time in &article_views {
        engagement.push(SynthEngagement { kind: EngagementType::ArticleView, time, rating: None, text: None });
    }
    engagement.retain(|event| event.time <= END);

    Story { index, profile, referred_by, engaged, purchases, conversations, answers, engagement, programs }
}

impl Story {
    /// When this customer's referral was made (two days before the acquisition).
    pub fn referral_time(&self) -> i64 {
        (self.profile.acquired - 2 * DAY).max(START)
    }

    /// The customer's timeline, built straight from the story with the planted tones —
    /// the ground truth's view, which the analysis of the written files must reproduce.
    pub fn timeline(&self, zone: rapport_core::time::Zone) -> Timeline {
        let day = |time: i64| zone.local_seconds(rapport_core::time::ParsedTime::Instant(time)).div_euclid(DAY);
        let mut timeline = Timeline {
            customer: customer_id(self.index),
            region: Some(REGIONS[self.profile.region].0.to_string()),
            // The truth's nearest store, by scanning the eleven (the analysis uses a spatial index).
            store_distance_km: REGIONS
                .iter()
                .flat_map(|region| region.1.iter())
                .map(|store| rapport_measures::geo::distance_km((self.profile.latitude, self.profile.longitude), (store.2, store.3)))
                .min_by(f64::total_cmp),
            referred: self.referred_by.is_some(),
            referrals_made: 0,
            purchases: self
                .purchases
                .iter()
                .map(|purchase| Purchase {
                    time: purchase.time,
                    day: rapport_measures::timeline::day_number(day(purchase.time)),
                    // The order id the purchases file writes (write.rs).
                    order: rapport_measures::timeline::order_key(&format!("O{}-{}", customer_id(self.index), purchase.order)),
                    amount: purchase.amount,
                    margin: None,
                    // A refund names its order: the summary nets it against the order's
                    // (earliest) purchase.
                    order_time: (purchase.amount < 0.0)
                        .then(|| {
                            self.purchases
                                .iter()
                                .filter(|bought| bought.order == purchase.order && bought.amount >= 0.0)
                                .map(|bought| bought.time)
                                .min()
                        })
                        .flatten(),
                })
                .collect(),
            conversations: self
                .conversations
                .iter()
                .filter_map(|conversation| {
                    let mut messages: Vec<Message> = conversation
                        .messages
                        .iter()
                        .map(|message| Message {
                            time: message.time,
                            inbound: message.inbound,
                            tone: message.tone,
                            resolved: message.resolved,
                            agent: message.agent.map(str::to_string),
                            topic: None,
                        })
                        .collect();
                    Conversation::from_messages(conversation.channel, &mut messages)
                })
                .collect(),
            answers: self
                .answers
                .iter()
                .map(|answer| Answer {
                    survey: answer.survey,
                    score: f64::from(answer.score),
                    time: answer.time,
                    touchpoint: answer.touchpoint.map(str::to_string),
                    stage: Some(answer.stage.to_string()),
                    channel: Some(answer.channel.to_string()),
                })
                .collect(),
            engagement: self
                .engagement
                .iter()
                .map(|event| Engagement { kind: event.kind, time: event.time, rating: event.rating.map(f64::from) })
                .collect(),
            programs: self
                .programs
                .iter()
                .map(|program| {
                    let (message, reward) = (
                        if program.control { 0.0 } else { PROGRAMS[program.program].5 },
                        if program.responded { PROGRAMS[program.program].6 } else { 0.0 },
                    );
                    ProgramContact {
                        program: PROGRAMS[program.program].0.to_string(),
                        time: program.time,
                        control: program.control,
                        channel: Some(program.channel.to_string()),
                        cost: message + reward,
                        cost_micros: rapport_core::summary::to_micros(message) + rapport_core::summary::to_micros(reward),
                    }
                })
                .collect(),
            // One contact cost per conversation, as the brand's costs file writes it.
            costs: self
                .conversations
                .iter()
                .filter_map(|conversation| {
                    let first = conversation.messages.first()?;
                    Some(rapport_measures::Cost {
                        time: first.time,
                        reward: false,
                        channel: Some(conversation.channel.to_string()),
                        amount: contact_cost(conversation.channel),
                    })
                })
                .collect(),
        };
        timeline.sort();
        timeline
    }
}
