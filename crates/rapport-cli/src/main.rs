//! `rapport`: the Return-on-Relationship engine's command line.
//!
//! Data goes to stdout, logs and progress to stderr. Exit codes: 0 success, 1 user or
//! data error, 2 internal error.

/// `eprintln!` that never panics: when stderr is a pipe whose reader has gone
/// (`rapport … 2>&1 | head -1`), `eprintln!` panics and the command exits 101 in the
/// middle of its work. A message nobody can read is dropped; the command goes on and
/// exits with its own code.
macro_rules! say {
    ($($message:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($message)*);
    }};
}

mod args;
mod commands;

use std::process::ExitCode;

/// mimalloc instead of the system allocator: it reuses freed memory across threads
/// where glibc unmapped and faulted in again the multi-megabyte buffers of a scan, and
/// freeing a million summary rows takes half the time (measured on the ten-million-row
/// summary: 1.06 -> 0.9 s). Built without transparent huge pages (`no_thp`): on the
/// development VM, faulting in 2 MiB pages cost 0.8-1.1 s of system time per run
/// against 0.3 s with 4 KiB pages, for the same memory. The `system-allocator` feature
/// leaves it out, for heap profilers (heaptrack) that see only the system allocator.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Log library events on stderr: `RAPPORT_LOG` is a tracing filter (default: warnings
/// only); `RAPPORT_TIMINGS` adds the `rapport::timings` events of each stage.
fn install_logging() {
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_from_env("RAPPORT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    if std::env::var_os("RAPPORT_TIMINGS").is_some()
        && let Ok(directive) = "rapport::timings=info".parse()
    {
        filter = filter.add_directive(directive);
    }
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).without_time().try_init();
}

fn main() -> ExitCode {
    install_logging();
    // `ingest --help` lists every kind's fields, from the event model itself.
    let command = <args::Cli as clap::CommandFactory>::command().mut_subcommand("ingest", |ingest| ingest.after_long_help(ingest_fields()));
    let parsed = command.try_get_matches().and_then(|matches| <args::Cli as clap::FromArgMatches>::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            let code = match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    // `serve` and the cluster's processes stop gracefully on these signals themselves.
    match &cli.command {
        args::Command::Serve(_) | args::Command::Cluster(_) => {}
        // The generator writes plain files, not a workspace: what it leaves is partial.
        args::Command::Generate(generate) => say_when_interrupted(format!(
            "interrupted: {} holds partly written files; run generate again before ingesting them",
            generate.output.display()
        )),
        _ => say_when_interrupted(
            "interrupted: nothing half-written is published; the workspace holds what the last completed command left (the next command removes this one's scratch files)".into(),
        ),
    }
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => {
            // The reader of our output went away (e.g. `| head`): not an error.
            ExitCode::SUCCESS
        }
        Err(error) => {
            let internal = error
                .chain()
                .any(|cause| cause.downcast_ref::<rapport_engine::EngineError>().is_some_and(rapport_engine::EngineError::is_internal));
            say!("error: {}", message(&error));
            // The subcommand, for hints in its own flags' words.
            let subcommand = std::env::args().skip(1).find(|arg| !arg.starts_with('-')).unwrap_or_default();
            if let Some(hint) = error
                .chain()
                .find_map(|cause| cause.downcast_ref::<rapport_engine::EngineError>())
                .and_then(|error| hint(error, &subcommand))
            {
                say!("hint: {hint}");
            }
            if internal {
                say!("This is a bug in Rapport; please report it with the command you ran.");
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// On Ctrl-C or SIGTERM, say so and what is left (`message`), and exit with the shell's
/// code for the signal (130, 143) rather than vanish without a word. Nothing needs
/// undoing: batches and results runs are published by one rename of their manifest, so
/// a command stopped at any point leaves what was last published, and the next command
/// removes the scratch files it left (`rapport_store::scratch`). A thread with its own
/// small tokio runtime waits for the signals (tokio's handlers chain with any others).
fn say_when_interrupted(message: String) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_io().build() else {
        return;
    };
    // Registered here, before the command starts, not when the thread gets to it.
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        let _context = runtime.enter();
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(interrupt), Ok(terminate)) => (interrupt, terminate),
            _ => return,
        }
    };
    std::thread::spawn(move || {
        #[cfg(unix)]
        let code = {
            let (mut interrupt, mut terminate) = signals;
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => 130,
                    _ = terminate.recv() => 143,
                }
            })
        };
        #[cfg(not(unix))]
        let code = match runtime.block_on(tokio::signal::ctrl_c()) {
            Ok(()) => 130,
            Err(_) => return,
        };
        say!("\n{message}");
        std::process::exit(code);
    });
}

/// The fields of every event kind, for `ingest --help`.
fn ingest_fields() -> String {
    // The paragraph is one line, which clap wraps to the terminal; the table's rows are
    // wrapped here, under 80 columns with their fields aligned, so clap leaves them be.
    let mut text = String::from(
        "Fields of each kind (required ones marked *; + marks customer_id or order_id, one of which is required). \
         An input column with the field's name is used as it is; map others with --map FIELD=COLUMN, e.g. \
         --map time=order_date --map customer_id=CustomerID; compute one with --map 'amount==Quantity * UnitPrice', \
         set one with --set survey_type=csat, and keep only some rows with --where \"Status != 'cancelled'\" (SQL syntax).\n",
    );
    const WIDTH: usize = 80;
    for kind in rapport_engine::EventKind::ALL {
        let by_order = kind.fields().iter().any(|field| field.name == "order_id") && !kind.fields()[1].required;
        let fields: Vec<String> = kind
            .fields()
            .iter()
            .map(|field| {
                let mark = if by_order && matches!(field.name, "customer_id" | "order_id") {
                    "+"
                } else if field.required {
                    "*"
                } else {
                    ""
                };
                format!("{}{mark}", field.name)
            })
            .collect();
        let indent = " ".repeat(16);
        let mut line = format!("  {:<13} ", kind.name());
        for (index, field) in fields.iter().enumerate() {
            let piece = if index + 1 < fields.len() { format!("{field},") } else { field.clone() };
            if line.len() > indent.len() && line.len() + piece.len() + 1 > WIDTH {
                text.push('\n');
                text.push_str(line.trim_end());
                line = indent.clone();
            } else if !line.ends_with(' ') {
                line.push(' ');
            }
            line.push_str(&piece);
        }
        text.push('\n');
        text.push_str(line.trim_end());
    }
    text.push_str("\n\nRejected rows are kept whole in the workspace's quarantine: rapport quarantine list|export.");
    text
}

/// Whether the first rejected value of a "too many rejects" message is a number written
/// with a decimal comma (`found "2,55"`, `found "0,195"`, `found "1.234,50"`).
fn looks_like_decimal_comma(message: &str) -> bool {
    let Some(value) = message.split("found \"").nth(1).and_then(|rest| rest.split('"').next()) else {
        return false;
    };
    let value = value.trim().trim_start_matches('-').trim_matches(|c: char| !c.is_ascii_digit() && c != ',' && c != '.');
    let Some((whole, fraction)) = value.rsplit_once(',') else {
        return false;
    };
    !whole.is_empty()
        && whole.bytes().all(|byte| byte.is_ascii_digit() || byte == b'.')
        && !fraction.is_empty()
        && fraction.bytes().all(|byte| byte.is_ascii_digit())
        && !message.contains("--decimal-comma")
}

/// The input column and value of a reject whose customer id is blank (empty, `(blank)`,
/// `NA`, `null`): the column as named in the input, when the message names a plain one.
fn blank_customer(message: &str) -> Option<(String, String)> {
    message.split("column \"").skip(1).find_map(|rest| {
        let (column, rest) = rest.split_once("\": found \"")?;
        let (value, rest) = rest.split_once('"')?;
        let blank = matches!(value.trim().to_ascii_lowercase().as_str(), "" | "(blank)" | "na" | "n/a" | "null" | "none");
        let about_customer = column.to_ascii_lowercase().contains("customer") || rest.starts_with(", expected a customer id");
        let plain = !column.is_empty() && column.chars().all(|c| c.is_alphanumeric() || c == '_');
        (blank && about_customer && plain).then(|| (column.to_string(), value.to_string()))
    })
}

/// A value outside a field's fixed names (`found "twitter", expected one of phone, email,
/// chat, social, …`): the mapping that renames it, to the name it plainly means where it
/// has one (a platform is `social`, a call `phone`), else to a placeholder.
fn one_of_hint(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("column \"")?;
    let (column, rest) = rest.split_once("\": found \"")?;
    let (value, rest) = rest.split_once("\", expected one of ")?;
    let allowed: Vec<&str> = rest.split(')').next()?.split(", ").map(str::trim).collect();
    // The field whose names these are, of the kind ingested (`--kind`; the column may be
    // mapped from another name): the one the column is named after, else the first.
    let kind = option_value(std::env::args(), &["--kind", "-k"]).and_then(|kind| kind_named(&kind));
    let expected = format!("one of {}", allowed.join(", "));
    let fields: Vec<&'static str> = rapport_engine::EventKind::ALL
        .iter()
        .filter(|candidate| kind.is_none_or(|kind| kind == **candidate))
        .flat_map(|kind| kind.fields())
        .filter(|spec| spec.field_type.expected() == expected)
        .map(|spec| spec.name)
        .collect();
    let field = fields.iter().find(|name| **name == column).or(fields.first()).copied()?;
    let lower = value.to_lowercase();
    let synonyms: &[(&str, &[&str])] = &[
        ("social", &["twitter", "x", "facebook", "fb", "instagram", "ig", "tiktok", "linkedin", "youtube", "social media"]),
        ("chat", &["webchat", "web chat", "live chat", "livechat", "messenger", "whatsapp", "in-app", "in app", "im"]),
        ("phone", &["call", "calls", "telephone", "voice", "tel", "call center", "callcenter", "ivr"]),
        ("email", &["e-mail", "emails", "e_mail"]),
        ("sms", &["text", "txt", "text message", "mms"]),
        ("store", &["in-store", "in store", "shop", "retail", "branch", "pos"]),
        ("self-service", &["faq", "help center", "helpcenter", "knowledge base", "kb", "self service", "selfservice"]),
    ];
    let target =
        synonyms.iter().find(|(name, words)| allowed.contains(name) && words.contains(&lower.as_str())).map_or("VALUE", |(name, _)| name);
    // Double quotes around the --map for the shell, single ones around SQL text inside it.
    let plain = column.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !column.starts_with(|c: char| c.is_ascii_digit());
    let column = if plain { column.to_string() } else { format!("\\\"{column}\\\"") };
    let text = lower.replace('\'', "''");
    Some(format!(
        "rename the file's values to Rapport's {field} names: --map \"{field}==CASE WHEN lower({column}) = '{text}' THEN '{target}' ELSE {column} END\" (a WHEN for each other value; the names: {}), or keep the rows in quarantine/ with --max-rejects N",
        allowed.join(", ")
    ))
}

/// The kind of events a `--kind` value names, aliases included (`orders`).
fn kind_named(name: &str) -> Option<rapport_engine::EventKind> {
    <args::KindArg as clap::ValueEnum>::from_str(name, true).ok().map(commands::event_kind)
}

/// The value of the first of `names` given (`--kind purchases`, `-k purchases`,
/// `--kind=purchases`).
fn option_value(args: impl Iterator<Item = String>, names: &[&str]) -> Option<String> {
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if names.contains(&arg.as_str()) {
            return args.next();
        }
        if let Some(value) = names.iter().find_map(|name| arg.strip_prefix(&format!("{name}="))) {
            return Some(value.to_string());
        }
    }
    None
}

/// A column that names an order (InvoiceNo, Order ID, transaction_number), when the file
/// has one that is not already called `order_id`: the word, then nothing or an id's suffix
/// (so that InvoiceDate and order_total are not taken).
fn order_id_column<'a>(found: &[&'a str]) -> Option<&'a str> {
    if found.contains(&"order_id") {
        return None;
    }
    found.iter().copied().find(|name| {
        let plain: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
        ["invoice", "order", "transaction", "receipt"].iter().any(|word| {
            plain.strip_prefix(word).is_some_and(|rest| ["", "no", "nr", "num", "number", "id", "ref", "reference"].contains(&rest))
        })
    })
}

/// Whether `text` names `word` as a whole word (not inside a longer name), ignoring case.
fn names_word(text: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    text.split(|c: char| !is_name(c)).any(|part| part.eq_ignore_ascii_case(word))
}

/// The input column a rejected row's order id is read from, where the reject says that a
/// customer or an order was expected (`… or an order id in column "InvoiceNo"`), when it
/// is a plain name a `--where` can test.
fn order_column(message: &str) -> Option<String> {
    let rest = message.split(", or an order id in column \"").nth(1)?;
    let (column, _) = rest.split_once('"')?;
    (!column.is_empty() && column.chars().all(|c| c.is_alphanumeric() || c == '_')).then(|| column.to_string())
}

/// The `--time-format` hint for a rejected time: the layout the first rejected value
/// suggests (`12/13/2010 8:26` is month first, `13/12/2010` day first; `12/1/2010` could
/// be either, and the hint says so rather than guess).
fn time_format_hint(message: &str) -> String {
    let tail = "; or --max-rejects N to skip N rows";
    // The first value rejected as a time (the error's first reject may be in another column).
    let value = message
        .split("found \"")
        .skip(1)
        .find_map(|rest| {
            rest.split_once('"')
                .filter(|(_, after)| after.starts_with(", expected a date") || after.starts_with(", expected a time matching"))
                .map(|(value, _)| value)
        })
        .unwrap_or_default();
    // A time without a digit is no time at all: on the file's first line, a header row
    // read as data (`--columns` given to a file that names its columns); elsewhere, the
    // wrong column mapped to `time`.
    if !value.is_empty() && !value.bytes().any(|byte| byte.is_ascii_digit()) {
        return if message.contains(":1: column \"") {
            format!(
                "line 1 looks like a header row ({value:?} is not a time): the file names its columns, so leave out --columns \
                 and map them with --map (e.g. --map time={value}){tail}"
            )
        } else {
            format!("{value:?} is not a time: check which column --map time= names{tail}")
        };
    }
    match guess_time_format(value) {
        Some(TimeLayout::Known(format)) => format!("{value:?} looks like --time-format '{format}'{tail}"),
        Some(TimeLayout::Either { month_first, day_first }) => format!(
            "{value:?} could be month first (--time-format '{month_first}', as in US exports) or day first \
             (--time-format '{day_first}'): check a date whose day is over 12{tail}"
        ),
        None => format!("give the times' layout with --time-format, e.g. --time-format '%d/%m/%Y %H:%M'{tail}"),
    }
}

/// What a time's text says about its layout.
#[derive(Debug, PartialEq)]
enum TimeLayout {
    Known(String),
    Either { month_first: String, day_first: String },
}

/// The strftime layout of a numeric date (`12/13/2010`, `13.12.10`, `2010/12/13`) with an
/// optional clock time (`8:26`, `08:26:00`, `8:26 PM`), when its text tells.
fn guess_time_format(value: &str) -> Option<TimeLayout> {
    if let Some(layout) = guess_worded_time(value) {
        return Some(TimeLayout::Known(layout));
    }
    let mut words = value.split_whitespace();
    let date = words.next()?;
    let separator = date.chars().find(|c| matches!(c, '/' | '.' | '-'))?;
    let parts: Vec<&str> = date.split(separator).collect();
    if parts.len() != 3 || parts.iter().any(|part| part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit())) {
        return None;
    }
    let (time, after) = (words.next(), words.next());
    let clock = time.map(|time| {
        let hour = if after.is_some_and(|word| matches!(word.to_ascii_uppercase().as_str(), "AM" | "PM")) { "%I" } else { "%H" };
        let seconds = if time.matches(':').count() >= 2 { ":%S" } else { "" };
        let meridiem = if hour == "%I" { " %p" } else { "" };
        // A zone's name after the clock is matched as it is written (BigQuery's
        // `2010-12-01 08:26:00 UTC`); any other word leaves the layout unknown.
        let zone = match after {
            Some(zone @ ("UTC" | "GMT" | "Z")) => format!(" {zone}"),
            _ => String::new(),
        };
        format!(" {hour}:%M{seconds}{meridiem}{zone}")
    });
    if after.is_some_and(|word| !matches!(word.to_ascii_uppercase().as_str(), "AM" | "PM" | "UTC" | "GMT" | "Z")) || words.next().is_some()
    {
        return None;
    }
    let clock = clock.unwrap_or_default();
    let year = |part: &str| if part.len() == 4 { "%Y" } else { "%y" };
    let number = |part: &str| part.parse::<u32>().unwrap_or(0);
    let s = separator;
    if parts[0].len() == 4 {
        return Some(TimeLayout::Known(format!("%Y{s}%m{s}%d{clock}")));
    }
    let y = year(parts[2]);
    let month_first = format!("%m{s}%d{s}{y}{clock}");
    let day_first = format!("%d{s}%m{s}{y}{clock}");
    match (number(parts[0]) > 12, number(parts[1]) > 12) {
        (true, false) => Some(TimeLayout::Known(day_first)),
        (false, true) => Some(TimeLayout::Known(month_first)),
        (false, false) => Some(TimeLayout::Either { month_first, day_first }),
        (true, true) => None,
    }
}

/// The strftime layout of a time that names its month (`Tue Oct 31 22:10:47 +0000 2017`,
/// as Twitter's API writes it; `31-Oct-2017`, `October 31, 2017 8:26 PM`), when every word
/// of it is a weekday, a month, a number, a clock time, an offset or AM/PM.
fn guess_worded_time(value: &str) -> Option<String> {
    const MONTHS: [&str; 12] =
        ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];
    const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let named = |word: &str, names: &[&str], short: &'static str, long: &'static str| -> Option<&'static str> {
        let word = word.to_ascii_lowercase();
        names
            .iter()
            .find_map(|name| if word == *name { Some(long) } else { (word.len() == 3 && name.starts_with(word.as_str())).then_some(short) })
    };
    let (mut month, mut numbers, mut twelve_hour) = (false, 0, false);
    let mut part = |part: &str| -> Option<String> {
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
        if let Some(format) = named(part, &MONTHS, "%b", "%B") {
            month = true;
            return Some(format.into());
        }
        if let Some(format) = named(part, &DAYS, "%a", "%A") {
            return Some(format.into());
        }
        if matches!(part.to_ascii_uppercase().as_str(), "AM" | "PM") {
            twelve_hour = true;
            return Some("%p".into());
        }
        if digits(part) && part.len() == 4 {
            return Some("%Y".into());
        }
        if digits(part) && part.len() <= 2 {
            numbers += 1;
            return Some(if numbers == 1 { "%d" } else { "%y" }.into());
        }
        if let Some(offset) = part.strip_prefix(['+', '-'])
            && digits(&offset.replace(':', ""))
            && offset.replace(':', "").len() == 4
        {
            return Some("%z".into());
        }
        let clock: Vec<&str> = part.split(':').collect();
        if (2..=3).contains(&clock.len()) && clock[..2].iter().all(|unit| digits(unit) && unit.len() <= 2) {
            return match clock.get(2) {
                None => Some("%H:%M".into()),
                Some(seconds) if digits(seconds) => Some("%H:%M:%S".into()),
                Some(seconds) => {
                    let (whole, fraction) = seconds.split_once('.')?;
                    (digits(whole) && digits(fraction)).then(|| "%H:%M:%S%.f".into())
                }
            };
        }
        matches!(part, "UTC" | "GMT" | "Z").then(|| part.to_string())
    };
    let mut layout = Vec::new();
    for word in value.split_whitespace() {
        let (word, comma) = word.strip_suffix(',').map_or((word, ""), |word| (word, ","));
        let separator = word.chars().find(|c| matches!(c, '-' | '/' | '.'));
        let format = match separator {
            Some(separator) if !word.contains(':') => {
                word.split(separator).map(&mut part).collect::<Option<Vec<String>>>()?.join(&separator.to_string())
            }
            _ => part(word)?,
        };
        layout.push(format!("{format}{comma}"));
    }
    let layout = layout.join(" ");
    (month && layout.contains("%d")).then(|| if twelve_hour { layout.replace("%H", "%I") } else { layout })
}

/// A column of `found` that probably holds `field` (by common export names), for hints.
fn guess_column<'a>(field: &str, found: &[&'a str]) -> Option<&'a str> {
    let clues: &[&str] = match field {
        "time" => &["date", "time", "timestamp", "created", "ordered", "at"],
        "customer_id" => &["customer", "client", "user", "member", "account", "buyer"],
        "amount" => &["amount", "total", "revenue", "value", "price", "sales", "spend"],
        "text" => &["text", "body", "message", "comment", "content", "review"],
        "channel" => &["channel", "platform", "medium", "source"],
        _ => &[],
    };
    clues.iter().find_map(|clue| found.iter().copied().find(|name| name.to_ascii_lowercase().contains(clue)))
}

/// A line-item export's amount, quantity × unit price, when the columns say so: a price
/// column beside a quantity column is a unit price, and mapping it alone would make
/// every line's spend its unit price (Online Retail's UnitPrice).
fn line_amount(found: &[&str]) -> Option<String> {
    let quantity = found.iter().find(|name| {
        let name = name.to_ascii_lowercase();
        name.contains("quantity") || name == "qty"
    })?;
    let price = found.iter().find(|name| name.to_ascii_lowercase().contains("price"))?;
    // Names that are not plain identifiers are quoted, as the expression language reads them.
    let plain = |name: &str| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.starts_with(|c: char| c.is_ascii_digit());
    let name = |name: &str| if plain(name) { name.to_string() } else { format!("\"{name}\"") };
    Some(format!("--map 'amount=={} * {}'", name(quantity), name(price)))
}

/// The error and its causes, each cause once: the library's messages already include
/// the operating system's reason, which is also their `source`.
fn message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    message
}

/// What to do about an error, in the command line's words (the library's errors name no
/// flags).
fn hint(error: &rapport_engine::EngineError, subcommand: &str) -> Option<String> {
    let flag = |option: &str| match option {
        "calibration end" => "--calibration-end",
        "observation end" => "--observation-end",
        "time zone" => "--timezone",
        "time format" => "--time-format",
        "delimiter" => "--delimiter",
        "input format" => "--input-format",
        "discount rate" => "--discount-rate",
        "period" => "--period",
        "time unit" => "--time-unit",
        _ => "",
    };
    match error.code() {
        // DataFusion's words when a query's operators cannot get memory from the pool
        // (an executor's --memory-limit, shared by its tasks, or the datafusion engine's)
        // even after spilling: as the executor reports it, and as DataFusion prints it here.
        _ if error.to_string().contains("ResourcesExhausted") || error.to_string().contains("Resources exhausted") => Some(
            "a query ran out of the memory --memory-limit allows (shared by the tasks or partitions it runs at once): a larger --memory-limit usually helps (on a cluster, the executors'; there, where --concurrency is above 1, fewer tasks at once also helps). A sort can also fail at some limits and run at a smaller one (Apache DataFusion issue 16979): where a larger limit fails too, try a smaller one, or none".into(),
        ),
        "too_many_rejects" | "bad_value" | "invalid_value" if error.to_string().contains("a decimal comma?") => {
            Some("amounts written with a decimal comma (12,50): give --decimal-comma".into())
        }
        "too_many_rejects" if looks_like_decimal_comma(&error.to_string()) => {
            Some("the amounts look written with a decimal comma (12,50): give --decimal-comma (or [decimal_comma] in rapport.toml)".into())
        }
        "too_many_rejects" if error.to_string().contains("expected a date") || error.to_string().contains("expected a time matching") => {
            Some(time_format_hint(&error.to_string()))
        }
        "too_many_rejects" if error.to_string().contains("valid UTF-8 text") && !matches!(subcommand, "sentiment" | "topics") => Some(
            "the file is not UTF-8: if it is a Windows or Latin-1 export, give --encoding windows-1252 (or --max-rejects N to keep the other rows)"
                .into(),
        ),
        "too_many_rejects" if subcommand == "ingest" && one_of_hint(&error.to_string()).is_some() => one_of_hint(&error.to_string()),
        "too_many_rejects" if subcommand == "ingest" && blank_customer(&error.to_string()).is_some() => {
            let (column, value) = blank_customer(&error.to_string()).unwrap_or_default();
            let named = match value.as_str() {
                "" => format!("{column} IS NOT NULL"),
                other => format!("{column} IS NOT NULL AND {column} <> '{other}'"),
            };
            // A row with an order id but no customer is kept (the analysis links it through
            // the order), so the condition keeps those too.
            Some(match order_column(&error.to_string()) {
                Some(order) => format!(
                    "rows naming neither a customer nor an order cannot be linked to anyone: skip them with --where \"({named}) OR {order} IS NOT NULL\", or keep them in quarantine/ with --max-rejects N"
                ),
                None => format!(
                    "rows without a customer cannot be linked to anyone: skip them with --where \"{named}\", or keep them in quarantine/ with --max-rejects N"
                ),
            })
        }
        "too_many_rejects" if subcommand == "ingest" => {
            Some("run again with --max-rejects N to accept up to N rejected rows; ingest then keeps them in quarantine/ (rapport quarantine list)".into())
        }
        "too_many_rejects" if matches!(subcommand, "summary" | "sentiment" | "topics") => {
            Some("--max-rejects N accepts up to N rejected rows; --rejects FILE writes them all".into())
        }
        "too_many_rejects" => Some("--max-rejects N accepts up to N rejected rows".into()),
        "time_unit_needed" => Some("give --time-unit (the unit of the summary file's recency and T)".into()),
        "invalid_saved_model" | "invalid_request" if error.to_string().contains("fit report") => {
            Some("write a model file with clv fit --save FILE, and give that to --params".into())
        }
        "time_unit_mismatch" if error.to_string().contains("fitted on data in an unknown unit") => {
            Some("the saved model's time unit is unknown: refit it with --time-unit (or from a Parquet summary) and --save".into())
        }
        "time_unit_mismatch" => Some("give --time-unit so that the saved model can be converted".into()),
        "calibration_end_needed" => Some("give --calibration-end, or --params FITTED.json".into()),
        "output_file_needed" => Some("give --output FILE with --format parquet".into()),
        "missing_column" if error.to_string().contains("give the delimiter") => Some("set it with --delimiter".into()),
        "invalid_request" if matches!(subcommand, "sentiment" | "topics") && error.to_string().contains("delimited text") => {
            Some("give --text-column NAME, or --input-format lines to score every line (header included)".into())
        }
        "missing_column" if matches!(subcommand, "sentiment" | "topics") => {
            Some("name the columns with --text-column (and --id-column, --time-column, --label-column, --only)".into())
        }
        "ingested_with_other_options" => {
            let text = error.to_string();
            let batch = text.split("as batch ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap_or("N");
            Some(format!("to replace batch {batch} with this ingest, give --replace {batch}"))
        }
        "missing_column" if subcommand == "ingest" => {
            // "…: no column "time" (nor "amount"); found 3 column(s) from the header: "a", "b", "c""
            let text = error.to_string();
            let missing = text.split("no column ").nth(1).and_then(|rest| rest.split("; found").next()).unwrap_or("");
            let names: Vec<&str> = missing.split('"').skip(1).step_by(2).collect();
            let found: Vec<&str> = text.split(": ").last().unwrap_or("").split(", ").map(|name| name.trim_matches('"')).collect();
            let is_field =
                |name: &str| rapport_engine::EventKind::ALL.iter().any(|kind| kind.fields().iter().any(|spec| spec.name == name));
            // A --where written with Rapport's field names: it reads the file's columns.
            if let Some(condition) = option_value(std::env::args(), &["--where"])
                && names.iter().any(|name| names_word(&condition, name))
            {
                return Some(format!(
                    "--where reads the file's own column names ({}), not Rapport's fields: write {condition:?} with the file's names",
                    found.iter().map(|name| format!("{name:?}")).collect::<Vec<_>>().join(", ")
                ));
            }
            if let Some(column) = names.iter().find(|name| !is_field(name)) {
                return Some(format!(
                    "{column:?} is the column a mapping names (--map, or rapport.toml's [mapping] / [filter]), and the file has no such column: correct the mapping"
                ));
            }
            let mut maps: Vec<String> = names
                .iter()
                .map(|field| match (*field, line_amount(&found)) {
                    ("amount", Some(computed)) => computed,
                    _ => format!("--map {field}={}", guess_column(field, &found).unwrap_or("COLUMN")),
                })
                .collect();
            // An optional field the header plainly holds (Online Retail's InvoiceNo): without
            // it, an invoice's lines are each an order, and the refunds' lines name no order.
            let kind = option_value(std::env::args(), &["--kind", "-k"]);
            let has_order_id = kind.and_then(|kind| kind_named(&kind))
                .is_some_and(|kind| kind.fields().iter().any(|spec| spec.name == "order_id"));
            if has_order_id
                && !names.contains(&"order_id")
                && let Some(column) = order_id_column(&found)
            {
                maps.push(format!("--map order_id={column}"));
            }
            // A field no column holds may be one value for the whole file (every row from one
            // channel, say): --set says so.
            let unheld: Vec<String> = names
                .iter()
                .filter(|field| guess_column(field, &found).is_none() && !(**field == "amount" && line_amount(&found).is_some()))
                .map(|field| {
                    // A field of fixed names lists them: the file's one value may be any.
                    let allowed = rapport_engine::EventKind::ALL
                        .iter()
                        .flat_map(|kind| kind.fields())
                        .find(|spec| spec.name == *field)
                        .map(|spec| spec.field_type.expected())
                        .filter(|expected| expected.starts_with("one of "));
                    match allowed {
                        Some(allowed) => format!("--set {field}=VALUE ({allowed})"),
                        None => format!("--set {field}=VALUE"),
                    }
                })
                .collect();
            Some(format!(
                "map {}: {} (rapport ingest --help lists every kind's fields){}",
                if maps.len() == 1 { "it" } else { "them" },
                if maps.is_empty() { "--map FIELD=COLUMN".to_string() } else { maps.join(" ") },
                if unheld.is_empty() { String::new() } else { format!("; or, where every row has the same value, {}", unheld.join(" ")) }
            ))
        }
        "missing_column" => {
            Some("name your columns: --customer-column, --time-column, --amount-column (summary, clv); --map FIELD=COLUMN (ingest)".into())
        }
        "invalid_option" | "invalid_value" => {
            error.option().map(flag).filter(|flag| !flag.is_empty()).map(|flag| format!("see {flag} in --help"))
        }
        _ => None,
    }
}

/// Whether the error is our reader going away (`rapport summary … | head`). The csv
/// crate wraps the pipe error in an `io::Error` of kind `Other`, so the kind alone is
/// not enough.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.to_string().contains("Broken pipe (os error 32)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_layouts_are_read_from_the_rejected_value() {
        let known = |format: &str| Some(TimeLayout::Known(format.to_string()));
        // Online Retail's US export: month first, a day over 12 tells.
        assert_eq!(guess_time_format("12/13/2010 8:26"), known("%m/%d/%Y %H:%M"));
        assert_eq!(guess_time_format("13/12/2010 08:26:00"), known("%d/%m/%Y %H:%M:%S"));
        assert_eq!(guess_time_format("13.12.10"), known("%d.%m.%y"));
        // BigQuery's export names the zone after the clock.
        assert_eq!(guess_time_format("2010-12-01 08:26:00 UTC"), known("%Y-%m-%d %H:%M:%S UTC"));
        assert_eq!(guess_time_format("2010-12-01 08:26:00 local"), None);
        assert_eq!(guess_time_format("2010/12/01 8:26 PM"), known("%Y/%m/%d %I:%M %p"));
        assert_eq!(
            guess_time_format("12/1/2010 8:26"),
            Some(TimeLayout::Either { month_first: "%m/%d/%Y %H:%M".into(), day_first: "%d/%m/%Y %H:%M".into() })
        );
        assert_eq!(guess_time_format("yesterday"), None);
        // Times that name their month: Twitter's API (the TWCS export), and common others.
        assert_eq!(guess_time_format("Tue Oct 31 22:10:47 +0000 2017"), known("%a %b %d %H:%M:%S %z %Y"));
        assert_eq!(guess_time_format("31-Oct-2017"), known("%d-%b-%Y"));
        assert_eq!(guess_time_format("October 31, 2017 8:26 PM"), known("%B %d, %Y %I:%M %p"));
        assert_eq!(guess_time_format("31 Dec 2017 23:59:59.250 UTC"), known("%d %b %Y %H:%M:%S%.f UTC"));
        assert_eq!(guess_time_format("Tue 31 gone"), None);
        for value in ["Tue Oct 31 22:10:47 +0000 2017", "31-Oct-2017", "October 31, 2017 8:26 PM", "31 Dec 2017 23:59:59.250 UTC"] {
            let Some(TimeLayout::Known(layout)) = guess_time_format(value) else { panic!("{value}") };
            let format: rapport_engine::TimeFormat = layout.parse().expect("layout");
            assert!(format.parse(value).is_ok(), "the suggested {layout:?} reads {value:?}");
        }
        assert_eq!(guess_time_format("13/13/2010"), None);
        let hint = time_format_hint(r#"first: a.csv:2: column "time": found "12/13/2010 8:26", expected a date"#);
        assert!(hint.contains("--time-format '%m/%d/%Y %H:%M'"), "{hint}");
        let hint = time_format_hint(
            r#"(first: a.csv:45: column "CustomerID": found "(blank)", expected a number, 3 in this column; 9 in column "time", first a.csv:3: found "12/13/2010 9:02", expected a date or date-time)"#,
        );
        assert!(hint.contains("'%m/%d/%Y %H:%M'"), "the time column's value, not the first reject's: {hint}");
        let hint = time_format_hint(r#"found "12/13/2010 9:02", expected a time matching "%d/%m/%Y %H:%M""#);
        assert!(hint.contains("'%m/%d/%Y %H:%M'"), "a wrong --time-format: {hint}");
        assert_eq!(
            blank_customer(r#"(first: a.csv:45: column "CustomerID": found "(blank)", expected a number (in round(CustomerID)))"#),
            Some(("CustomerID".to_string(), "(blank)".to_string()))
        );
        assert_eq!(
            blank_customer(r#"first: a.csv:5: column "customer_id": found "", expected a customer id, or an order id"#),
            Some(("customer_id".to_string(), String::new()))
        );
        assert_eq!(blank_customer(r#"column "amount": found "", expected a decimal number"#), None);
        assert_eq!(
            order_column(r#"first: a.csv:4: column "Customer": found "", expected a customer id, or an order id in column "InvoiceNo""#),
            Some("InvoiceNo".to_string())
        );
        assert_eq!(order_column(r#"column "Customer": found "", expected a customer id, or an order id in column "Invoice No""#), None);
        assert_eq!(order_column(r#"column "Customer": found "", expected a customer id (the file maps no order id)"#), None);
        let args = |list: &[&str]| list.iter().map(|arg| arg.to_string()).collect::<Vec<_>>().into_iter();
        let condition = option_value(args(&["ingest", "--where", "customer_id IS NOT NULL", "-k", "purchases"]), &["--where"]);
        assert_eq!(condition.as_deref(), Some("customer_id IS NOT NULL"));
        assert_eq!(option_value(args(&["ingest", "--where=x > 1"]), &["--where"]).as_deref(), Some("x > 1"));
        assert_eq!(option_value(args(&["ingest", "-k", "purchases"]), &["--where"]), None);
        assert_eq!(option_value(args(&["ingest", "-k", "purchases"]), &["--kind", "-k"]).as_deref(), Some("purchases"));
        assert_eq!(option_value(args(&["ingest", "--kind=surveys"]), &["--kind", "-k"]).as_deref(), Some("surveys"));
        assert_eq!(kind_named("orders"), Some(rapport_engine::EventKind::Purchases));
        assert_eq!(kind_named("Tickets"), Some(rapport_engine::EventKind::Interactions));
        // The column that names an order, not its date or total.
        assert_eq!(order_id_column(&["InvoiceNo", "InvoiceDate", "CustomerID"]), Some("InvoiceNo"));
        assert_eq!(order_id_column(&["order_date", "Order ID"]), Some("Order ID"));
        assert_eq!(order_id_column(&["InvoiceDate", "order_total", "transaction_notes"]), None);
        assert_eq!(order_id_column(&["order_id", "InvoiceNo"]), None);
        // A platform's name where a channel was expected: renamed to social, in a mapping
        // the shell passes whole.
        let message = r#"2 row(s) rejected, more than the 0 allowed; nothing was written (first: i.csv:2: column "channel": found "Twitter", expected one of phone, email, chat, social, store, self-service, sms, push, mail)"#;
        let hint = one_of_hint(message).expect("a hint");
        assert!(hint.contains(r#"--map "channel==CASE WHEN lower(channel) = 'twitter' THEN 'social' ELSE channel END""#), "{hint}");
        let message = r#"first: i.csv:2: column "Medium Used": found "pigeon", expected one of phone, email, chat, social, store, self-service, sms, push, mail)"#;
        let hint = one_of_hint(message).expect("a hint");
        assert!(hint.contains(r#"lower(\"Medium Used\") = 'pigeon' THEN 'VALUE'"#), "{hint}");
        assert_eq!(one_of_hint(r#"column "amount": found "x", expected a decimal number such as 12.50"#), None);
        assert!(names_word("customer_id IS NOT NULL OR order_id IS NOT NULL", "order_id"));
        assert!(!names_word("my_order_id IS NOT NULL", "order_id"));
        // A header row read as data (CDNOW's master file with --columns), and a word in the
        // time column further down.
        let hint = time_format_hint(r#"first: CDNOW_master.txt:1: column "time": found "date", expected a time matching "%Y%m%d""#);
        assert!(hint.contains("header row") && hint.contains("leave out --columns") && hint.contains("--map time=date"), "{hint}");
        let hint = time_format_hint(r#"first: a.csv:7: column "time": found "pending", expected a date"#);
        assert!(hint.contains("\"pending\" is not a time") && !hint.contains("header"), "{hint}");
        let hint = time_format_hint(r#"found "12/1/2010 8:26", expected a date"#);
        assert!(hint.contains("month first") && hint.contains("day first"), "{hint}");
    }
}
