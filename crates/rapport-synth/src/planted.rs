//! Customers planted for the playbook: one scripted customer per built-in rule of the
//! "like a friend" playbook, each with an opted-out twin, appended to a generated brand's
//! files, and `planted_actions.csv` saying which action each should get (and that the
//! twins get none). The brand's other customers are the background the rules are judged
//! against (BG/NBD's P(alive), the strength bands, how often article views lead to a
//! contact).
//!
//! The planted customers are not in the ground-truth simulation: a brand generated with
//! them is for checking actions, not for checking headline coverage.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::SynthError;
use crate::story::END;

const DAY: i64 = 86_400;

/// The planted customers' names and the action each should get.
pub const PLANTED: [(&str, &str); 8] = [
    ("recover", "service_recovery"),
    ("winback", "win_back"),
    ("helpme", "proactive_help"),
    ("welcome", "welcome_back"),
    ("milestone", "thank_you"),
    ("promoter", "ask_for_review"),
    ("referrer", "ask_for_referral"),
    ("vip", "surprise_and_delight"),
];

fn time(seconds: i64) -> String {
    crate::write::time(seconds)
}

/// Noon UTC `days` days before the brand's observation end.
fn days_before(days: i64) -> i64 {
    END - END.rem_euclid(DAY) + 12 * 3_600 - days * DAY
}

#[derive(Default)]
struct Rows {
    customers: String,
    purchases: String,
    interactions: String,
    surveys: String,
    engagement: String,
    planted: String,
}

/// Append the planted customers to the brand in `output` (written by
/// [`crate::generate`]) and write `planted_actions.csv`; returns the customers planted.
pub fn plant_playbook(output: &Path) -> Result<u64, SynthError> {
    let mut rows = Rows { planted: "customer_id,expected_action,opted_out\n".into(), ..Rows::default() };
    let mut order = 0;
    for twin in ["", "-out"] {
        let out = !twin.is_empty();
        let id = |name: &str| format!("PLANT-{name}{twin}");
        let mut buy = |rows: &mut Rows, name: &str, days: i64, amount: f64| {
            order += 1;
            let _ = writeln!(rows.purchases, "PP{order},{},{},PO{order},{amount:.2},GBP,1", id(name), time(days_before(days)));
        };
        let customer = |rows: &mut Rows, name: &str, preferred: &str, email: bool, sms: bool| {
            let _ = writeln!(
                rows.customers,
                "{},{},Planted {name},{name}{twin}@example.com,,London,S01,51.5154,-0.1410,GB,{preferred},{email},{sms},{out}",
                id(name),
                time(days_before(1_000))
            );
        };
        // service_recovery: an unresolved complaint five days ago; prefers SMS without
        // consenting to it, so e-mail.
        customer(&mut rows, "recover", "sms", true, false);
        buy(&mut rows, "recover", 200, 40.0);
        buy(&mut rows, "recover", 30, 40.0);
        let _ = writeln!(
            rows.interactions,
            "PI-{0},{0},{1},PK-{0},chat,inbound,,This is terrible. My order arrived broken and nobody answers.,false",
            id("recover"),
            time(days_before(5))
        );
        // win_back: a valuable regular who stopped buying seven months ago.
        customer(&mut rows, "winback", "email", true, true);
        for k in 0..14 {
            buy(&mut rows, "winback", 600 - k * 30, 400.0);
        }
        // proactive_help: read a help article yesterday, no contact since.
        customer(&mut rows, "helpme", "chat", true, true);
        buy(&mut rows, "helpme", 300, 30.0);
        buy(&mut rows, "helpme", 100, 30.0);
        let _ = writeln!(rows.engagement, "PE-{0}-1,{0},{1},article-view,,,", id("helpme"), time(days_before(1)));
        // welcome_back: ordered three days ago after 250 days away.
        customer(&mut rows, "welcome", "email", true, true);
        for days in [400, 253, 3] {
            buy(&mut rows, "welcome", days, 35.0);
        }
        // thank_you: the fifth order, two days ago.
        customer(&mut rows, "milestone", "email", true, true);
        for days in [160, 120, 80, 40, 2] {
            buy(&mut rows, "milestone", days, 25.0);
        }
        // ask_for_review: a promoter ten days ago who never reviewed; no e-mail or SMS
        // consent, so by post.
        customer(&mut rows, "promoter", "email", false, false);
        buy(&mut rows, "promoter", 90, 50.0);
        buy(&mut rows, "promoter", 45, 50.0);
        let _ = writeln!(rows.surveys, "PS-{0},{0},{1},nps,10,,,,", id("promoter"), time(days_before(10)));
        // ask_for_referral: a promoter who has already reviewed.
        customer(&mut rows, "referrer", "email", true, true);
        buy(&mut rows, "referrer", 95, 50.0);
        buy(&mut rows, "referrer", 40, 50.0);
        let _ = writeln!(rows.surveys, "PS-{0},{0},{1},nps,9,,,,", id("referrer"), time(days_before(12)));
        let _ = writeln!(rows.engagement, "PE-{0}-1,{0},{1},review,5,,", id("referrer"), time(days_before(60)));
        // surprise_and_delight: a long, strong relationship with no risk signal.
        customer(&mut rows, "vip", "email", true, true);
        for k in 0..31 {
            buy(&mut rows, "vip", 920 - k * 30, 120.0);
        }
        for k in 0..6 {
            let _ = writeln!(rows.engagement, "PE-{0}-s{k},{0},{1},share,,,", id("vip"), time(days_before(200 - k * 30)));
        }
        for (name, action) in PLANTED {
            let _ = writeln!(rows.planted, "{},{},{out}", id(name), if out { "" } else { action });
        }
    }
    for (file, text) in [
        ("customers.csv", &rows.customers),
        ("purchases.csv", &rows.purchases),
        ("interactions.csv", &rows.interactions),
        ("surveys.csv", &rows.surveys),
        ("engagement.csv", &rows.engagement),
    ] {
        let path = output.join(file);
        let mut handle =
            std::fs::OpenOptions::new().append(true).open(&path).map_err(|source| SynthError::Write { path: path.clone(), source })?;
        handle.write_all(text.as_bytes()).map_err(|source| SynthError::Write { path: path.clone(), source })?;
    }
    let path = output.join("planted_actions.csv");
    std::fs::write(&path, &rows.planted).map_err(|source| SynthError::Write { path, source })?;
    Ok(2 * PLANTED.len() as u64)
}
