//! Writing a brand: chunks of customers drawn in parallel, formatted to CSV text, and
//! appended to the files in customer order, one wave of chunks at a time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat};
use rayon::prelude::*;

use crate::story::{self, PROGRAMS, REGIONS, Story, customer_id};
use crate::{CURRENCY, SynthError, TIMEZONE};

const HEADERS: [(&str, &str); 8] = [
    (
        "customers.csv",
        "customer_id,time,name,email,phone,region,store_id,latitude,longitude,country,preferred_channel,email_consent,sms_consent,opted_out",
    ),
    ("purchases.csv", "event_id,customer_id,time,order_id,amount,currency,items"),
    ("interactions.csv", "event_id,customer_id,time,conversation_id,channel,direction,agent,text,resolved"),
    ("surveys.csv", "event_id,customer_id,time,survey_type,score,touchpoint,stage,channel,comment"),
    ("engagement.csv", "event_id,customer_id,time,engagement_type,rating,text,referred_customer_id"),
    ("programs.csv", "event_id,customer_id,time,program,channel,cost,responded,control_group"),
    ("costs.csv", "event_id,customer_id,time,cost_type,channel,amount,currency,program"),
    ("stores.csv", "store_id,name,region,latitude,longitude"),
];

pub(crate) fn time(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0).map(|time| time.to_rfc3339_opts(SecondsFormat::Secs, true)).unwrap_or_default()
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn quoted(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

fn flag(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// Format one story's rows into the seven event buffers.
fn format_story(story: &Story, buffers: &mut [String; 7], rows: &mut [u64; 7]) {
    let id = customer_id(story.index);
    let profile = &story.profile;
    let (region, stores, _) = REGIONS[profile.region];
    let store = stores[profile.store].0;
    // Records, not lines: a comment may span lines.
    rows[0] += 1;
    rows[1] += story.purchases.len() as u64;
    rows[2] += story.conversations.iter().map(|conversation| conversation.messages.len() as u64).sum::<u64>();
    rows[3] += story.answers.len() as u64;
    rows[4] += story.engagement.len() as u64 + u64::from(story.referred_by.is_some());
    rows[5] += story.programs.len() as u64;
    rows[6] += story.conversations.iter().filter(|conversation| !conversation.messages.is_empty()).count() as u64
        + story.programs.iter().filter(|contact| contact.responded && PROGRAMS[contact.program].6 > 0.0).count() as u64;
    let [customers, purchases, interactions, surveys, engagement, programs, costs] = buffers;
    let _ = writeln!(
        customers,
        "{id},{},{},{},{},{region},{store},{},{},GB,{},{},{},{}",
        time(profile.acquired),
        quoted(&profile.name),
        profile.email,
        profile.phone,
        profile.latitude,
        profile.longitude,
        profile.preferred_channel,
        flag(profile.email_consent),
        flag(profile.sms_consent),
        flag(profile.opted_out)
    );
    for (row, purchase) in story.purchases.iter().enumerate() {
        let _ = writeln!(
            purchases,
            "P{id}-{row},{id},{},O{id}-{},{:.2},{CURRENCY},{}",
            time(purchase.time),
            purchase.order,
            purchase.amount,
            purchase.items
        );
    }
    for (number, conversation) in story.conversations.iter().enumerate() {
        for (row, message) in conversation.messages.iter().enumerate() {
            let resolved = message.resolved.map_or("", flag);
            let direction = if message.inbound { "inbound" } else { "outbound" };
            let _ = writeln!(
                interactions,
                "I{id}-{number}-{row},{id},{},K{id}-{number},{},{direction},{},{},{resolved}",
                time(message.time),
                conversation.channel,
                message.agent.unwrap_or(""),
                quoted(message.text)
            );
        }
        if let Some(first) = conversation.messages.first() {
            let _ = writeln!(
                costs,
                "X{id}-{number},{id},{},contact,{},{:.2},{CURRENCY},",
                time(first.time),
                conversation.channel,
                story::contact_cost(conversation.channel)
            );
        }
    }
    for (row, answer) in story.answers.iter().enumerate() {
        let _ = writeln!(
            surveys,
            "S{id}-{row},{id},{},{},{},{},{},{},{}",
            time(answer.time),
            answer.survey.name(),
            answer.score,
            answer.touchpoint.unwrap_or(""),
            answer.stage,
            answer.channel,
            answer.comment.map(quoted).unwrap_or_default()
        );
    }
    for (row, event) in story.engagement.iter().enumerate() {
        let name = serde_json::to_value(event.kind).ok().and_then(|value| value.as_str().map(str::to_string)).unwrap_or_default();
        let rating = event.rating.map(|rating| rating.to_string()).unwrap_or_default();
        let _ =
            writeln!(engagement, "E{id}-{row},{id},{},{name},{rating},{},", time(event.time), event.text.map(quoted).unwrap_or_default());
    }
    // The referral is the referrer's event, written with the referred customer's story.
    if let Some(referrer) = story.referred_by {
        let when = story.referral_time();
        let _ = writeln!(engagement, "R{id},{},{},referral,,,{id}", customer_id(referrer), time(when));
    }
    for contact in &story.programs {
        let (name, _, _, _, _, message_cost, reward) = PROGRAMS[contact.program];
        let cost = if contact.control { String::new() } else { format!("{message_cost:.2}") };
        let _ = writeln!(
            programs,
            "G{id}-{},{id},{},{name},{},{cost},{},{}",
            contact.program,
            time(contact.time),
            contact.channel,
            flag(contact.responded),
            flag(contact.control)
        );
        if contact.responded && reward > 0.0 {
            let _ = writeln!(
                costs,
                "W{id}-{},{id},{},reward,{},{reward:.2},{CURRENCY},{name}",
                contact.program,
                time(contact.time),
                contact.channel
            );
        }
    }
}

/// Write the brand's files; returns the rows written per file.
pub(crate) fn write_brand(
    directory: &Path,
    seed: u64,
    customers: u64,
    chunk: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BTreeMap<String, u64>, SynthError> {
    let open = |name: &str| {
        let path = directory.join(name);
        File::create(&path).map(|file| BufWriter::with_capacity(1 << 20, file)).map_err(|source| SynthError::Write { path, source })
    };
    let mut files = Vec::new();
    for (name, header) in HEADERS {
        let mut file = open(name)?;
        writeln!(file, "{header}").map_err(|source| SynthError::Write { path: directory.join(name), source })?;
        files.push((name, file, 0_u64));
    }
    let chunks = customers.div_ceil(chunk);
    let wave = (rayon::current_num_threads() as u64 * 2).max(2);
    let mut start = 0;
    while start < chunks {
        let end = (start + wave).min(chunks);
        let formatted: Vec<([String; 7], [u64; 7])> = (start..end)
            .into_par_iter()
            .map(|chunk_index| {
                let mut buffers: [String; 7] = Default::default();
                let mut counts = [0_u64; 7];
                for index in chunk_index * chunk..((chunk_index + 1) * chunk).min(customers) {
                    format_story(&story::story(seed, index, customers), &mut buffers, &mut counts);
                }
                (buffers, counts)
            })
            .collect();
        for (buffers, counts) in formatted {
            for (slot, buffer) in buffers.iter().enumerate() {
                let (name, file, rows) = &mut files[slot];
                *rows += counts[slot];
                file.write_all(buffer.as_bytes()).map_err(|source| SynthError::Write { path: directory.join(*name), source })?;
            }
        }
        progress((end * chunk).min(customers));
        start = end;
    }
    {
        let (name, file, rows) = &mut files[7];
        for (region, stores, _) in REGIONS {
            for (store, label, latitude, longitude) in stores {
                writeln!(file, "{store},{label},{region},{latitude},{longitude}")
                    .map_err(|source| SynthError::Write { path: directory.join(*name), source })?;
                *rows += 1;
            }
        }
    }
    let mut counts = BTreeMap::new();
    for (name, mut file, rows) in files {
        file.flush().map_err(|source| SynthError::Write { path: directory.join(name), source })?;
        counts.insert(name.to_string(), rows);
    }
    let config =
        format!("version = 1\ntimezone = \"{TIMEZONE}\"\ncurrency = \"{CURRENCY}\"\n\n[service]\nhours = \"{}\"\n", crate::SERVICE_HOURS);
    let path = directory.join("rapport.toml");
    std::fs::write(&path, config).map_err(|source| SynthError::Write { path, source })?;
    Ok(counts)
}
