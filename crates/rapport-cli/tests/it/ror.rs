//! Return on Relationship and propensity from the command line: value and cost worked by
//! hand on a small workspace (margins, a refund, a referral, contact and reward costs, a
//! program with its reward), `[costs] per_contact`, and config errors.

use crate::{csv_rows, ok, user_error};

const PURCHASES: &str = "customer_id,order_id,time,amount,margin
a,o1,2025-01-10T12:00:00Z,100.00,40.00
a,o2,2025-02-10T12:00:00Z,50.00,
b,o3,2025-01-15T12:00:00Z,80.00,30.00
b,o3,2025-01-20T12:00:00Z,-20.00,-8.00
c,o4,2025-03-01T12:00:00Z,60.00,20.00
";
const ENGAGEMENT: &str = "event_id,customer_id,time,engagement_type,referred_customer_id
r1,a,2025-02-20T12:00:00Z,referral,c
";
const INTERACTIONS: &str = "customer_id,time,channel,conversation_id,text
a,2025-01-11T10:00:00Z,chat,k1,Where is my order?
b,2025-01-16T10:00:00Z,phone,k2,The item arrived broken
b,2025-01-21T10:00:00Z,phone,k3,Still waiting for the refund
";
const COSTS: &str = "customer_id,time,cost_type,channel,amount,program
a,2025-01-11T10:00:00Z,contact,chat,3.00,
b,2025-01-16T10:00:00Z,contact,phone,6.00,
b,2025-01-21T10:00:00Z,contact,phone,6.00,
a,2025-03-01T12:00:00Z,reward,email,5.00,spring
c,2025-03-01T13:00:00Z,reward,,2.00,
";
const PROGRAMS: &str = "customer_id,time,program,channel,cost,control_group
a,2025-02-25T09:00:00Z,spring,email,0.50,false
b,2025-02-25T09:00:00Z,spring,email,,true
";

fn workspace(directory: &std::path::Path) -> String {
    workspace_with_costs(directory, COSTS)
}

fn workspace_with_costs(directory: &std::path::Path, costs: &str) -> String {
    let workspace = directory.join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    for (kind, text) in
        [("purchases", PURCHASES), ("engagement", ENGAGEMENT), ("interactions", INTERACTIONS), ("costs", costs), ("programs", PROGRAMS)]
    {
        let file = directory.join(format!("{kind}.csv"));
        std::fs::write(&file, text).expect("write");
        ok(&["-q", "ingest", "-w", &workspace, "-k", kind, file.to_str().expect("path")]);
    }
    workspace
}

/// Per customer: (value_realised, value_referred, value, relationship_cost, ror).
fn per_customer(workspace: &str) -> Vec<(String, [f64; 5])> {
    let (header, rows) = csv_rows(&ok(&["ror", "-w", workspace, "--by", "customer", "--format", "csv"]));
    let at = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let number = |row: &[String], name: &str| row[at(name)].parse::<f64>().unwrap_or(f64::NAN);
    rows.iter()
        .map(|row| {
            let values = ["value_realised", "value_referred", "value", "relationship_cost", "ror"].map(|name| number(row, name));
            (row[at("customer_id")].clone(), values)
        })
        .collect()
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0)
}

#[test]
fn value_and_cost_follow_the_definitions_by_hand() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = workspace(directory.path());
    ok(&["-q", "analyze", "-w", &workspace]);
    // Margin rate over the rows with a margin: (40 + 30 − 8 + 20) / (100 + 80 − 20 + 60)
    // = 82 / 220; a's second purchase has none, so it is valued at that rate. Three
    // customers are too few for a CLV fit: no predicted value.
    let rate = 82.0 / 220.0;
    // Realised value is rounded to the penny, as net spend is: 58.636… → 58.64.
    let a_realised = ((40.0 + 50.0 * rate) * 100.0_f64).round() / 100.0;
    assert_eq!(a_realised, 58.64);
    // a: contact 3 (chat); the spring contact 0.50 and its reward 5 (the reward names the
    // program): 8.50. a referred c, whose realised value is 20.
    // b: two phone contacts, 12; its spring contact was held out (no cost).
    // c: a reward naming no program, 2.
    let expected = [
        ("a", [a_realised, 20.0, a_realised + 20.0, 8.5, (a_realised + 20.0 - 8.5) / 8.5]),
        ("b", [22.0, 0.0, 22.0, 12.0, (22.0 - 12.0) / 12.0]),
        ("c", [20.0, 0.0, 20.0, 2.0, 9.0]),
    ];
    let actual = per_customer(&workspace);
    assert_eq!(actual.len(), 3, "{actual:?}");
    for ((id, values), (want_id, want)) in actual.iter().zip(expected) {
        assert_eq!(id, want_id);
        for (value, want) in values.iter().zip(want) {
            assert!(close(*value, want), "{id}: {values:?} against {want:?}");
        }
    }

    // Groups: all customers as a ratio of sums; by channel, each customer's value split by
    // the share of their cost spent there.
    let (header, rows) = csv_rows(&ok(&["ror", "-w", &workspace, "--format", "csv"]));
    let at = |name: &str| header.iter().position(|h| h == name).expect("column");
    let find = |dimension: &str, group: &str| {
        rows.iter()
            .find(|row| row[at("dimension")] == dimension && row[at("group")] == group)
            .unwrap_or_else(|| panic!("{dimension} {group}"))
    };
    let all = find("all", "all customers");
    let value = a_realised + 20.0 + 22.0 + 20.0;
    assert!(close(all[at("value")].parse().expect("value"), value));
    assert!(close(all[at("ror")].parse().expect("ror"), value / 22.5 - 1.0));
    assert!(!all[at("ror_lower")].is_empty(), "an interval beside the ratio");
    let email = find("channel", "email");
    assert!(close(email[at("relationship_cost")].parse().expect("cost"), 5.5));
    // b's contact was held out and cost nothing: not one of email's customers.
    assert_eq!(email[at("customers")], "1");
    assert!(close(email[at("value")].parse().expect("value"), (a_realised + 20.0) * 5.5 / 8.5));
    let spring = find("program", "spring");
    assert!(close(spring[at("relationship_cost")].parse().expect("cost"), 5.5));
    let unstated = find("channel", "unstated");
    assert!(close(unstated[at("value")].parse().expect("value"), 20.0));

    // The program's contacts are four days old: too recent to judge against the control group.
    let stderr = user_error(&["ror", "-w", &workspace, "--by", "uplift"]);
    assert!(stderr.contains("at least 90 days before the observation end"), "{stderr}");

    // Too little history for propensity: skipped with the reason, and `rapport propensity` says so.
    let stderr = user_error(&["propensity", "-w", &workspace]);
    assert!(stderr.contains("propensity was not learned"), "{stderr}");
    // Nor is the response to the program (four contacts): said, not an empty table.
    let stderr = user_error(&["propensity", "-w", &workspace, "--view", "response"]);
    assert!(stderr.contains("no program's response was learned"), "{stderr}");
}

#[test]
fn per_contact_rates_price_conversations_instead_of_contact_rows() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = workspace(directory.path());
    let config = std::path::Path::new(&workspace).join("rapport.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("\n[costs]\nper_contact = { phone = 4.0, chat = 1.25 }\n");
    std::fs::write(&config, text).expect("write");
    let output = crate::rapport(&["-q", "analyze", "-w", &workspace]);
    assert!(output.status.success());
    // The contact rows the rates replace are said, with their total (3 + 6 + 6).
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the costs file's contact rows (15.00 USD in all) are not counted"), "{stderr}");
    let actual = per_customer(&workspace);
    // a: one chat conversation (1.25) + the program 5.50; b: two phone conversations (8); c: the reward 2.
    let costs: Vec<f64> = actual.iter().map(|(_, values)| values[3]).collect();
    assert!(close(costs[0], 6.75) && close(costs[1], 8.0) && close(costs[2], 2.0), "{actual:?}");
}

#[test]
fn bad_costs_and_propensity_settings_are_caught_when_the_config_loads() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let config = std::path::Path::new(&workspace).join("rapport.toml");
    let original = std::fs::read_to_string(&config).expect("config");
    let lines = original.lines().count();

    std::fs::write(&config, format!("{original}\n[costs]\nper_contact = {{ fax = 2.0 }}\n")).expect("write");
    let stderr = user_error(&["analyze", "-w", &workspace]);
    assert!(stderr.contains("\"fax\", which is not a channel"), "{stderr}");
    assert!(stderr.contains(&format!("line {}", lines + 3)), "{stderr}");

    std::fs::write(&config, format!("{original}\n[costs]\nper_contact = {{ phone = -1 }}\n")).expect("write");
    let stderr = user_error(&["analyze", "-w", &workspace]);
    assert!(stderr.contains("a cost is a number, 0 or more"), "{stderr}");

    std::fs::write(&config, format!("{original}\n[propensity]\nhorizon_days = 3\n")).expect("write");
    let stderr = user_error(&["analyze", "-w", &workspace]);
    assert!(stderr.contains("horizon_days = 3: the window is 7 to 365 days"), "{stderr}");
    assert!(stderr.contains(&format!("line {}", lines + 3)), "{stderr}");
}

/// Conversations that nothing prices (no contact rows in the costs file, no `[costs]
/// per_contact`) cost nothing: the run says so beside a ROR of rewards alone, and says
/// nothing where contact rows price them.
#[test]
fn unpriced_conversations_are_a_warning() {
    let directory = tempfile::tempdir().expect("tempdir");
    let rewards_only: String = COSTS.lines().filter(|line| !line.contains(",contact,")).map(|line| format!("{line}\n")).collect();
    let unpriced = workspace_with_costs(directory.path(), &rewards_only);
    let output = crate::rapport(&["analyze", "-w", &unpriced]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("the 3 conversations cost nothing in ROR") && stderr.contains("[costs] per_contact"), "{stderr}");
    let priced = tempfile::tempdir().expect("tempdir");
    let priced = workspace(priced.path());
    let output = crate::rapport(&["analyze", "-w", &priced]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && !stderr.contains("cost nothing in ROR"), "{stderr}");
}

/// Blank P(alive) means in a run's matrix and segments tables (the column present, no
/// value in it): how many rows the table has, and how many show one.
fn shown_mean_p_alive(run: &std::path::Path, table: &str) -> (usize, usize) {
    let file = std::fs::File::open(run.join(format!("{table}.parquet"))).expect("table");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    let (mut rows, mut shown) = (0, 0);
    for batch in reader {
        let batch = batch.expect("batch");
        let column = batch.column_by_name("mean_p_alive").expect("mean_p_alive");
        rows += batch.num_rows();
        shown += column.len() - column.null_count();
    }
    (rows, shown)
}

/// The latest results run of a workspace.
fn latest_run(workspace: &str) -> std::path::PathBuf {
    let mut runs: Vec<std::path::PathBuf> = std::fs::read_dir(std::path::Path::new(workspace).join("results"))
        .expect("results")
        .map(|entry| entry.expect("entry").path())
        .collect();
    runs.sort();
    runs.pop().expect("a results run")
}

/// Online Retail's customers (rapport-models' test data: their summaries to 2011-12-09,
/// CC BY 4.0), rebuilt as purchase days with the same frequency, recency and age. To
/// 2011-12-09 BG/NBD's `a` has no standard error; four days later every parameter has
/// one, yet the fit still sees no one leave (the repeat buyers' mean P(alive) 0.9974, as
/// on the full export). Both runs read a lapse instead of P(alive), say why, and leave
/// the matrix's and segments' mean P(alive) blank.
#[test]
fn a_fit_that_sees_no_customer_leave_reads_a_lapse() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace, "--timezone", "Europe/London", "--currency", "GBP"]);
    let summaries = concat!(env!("CARGO_MANIFEST_DIR"), "/../rapport-models/tests/data/online_retail_days.csv");
    let end = chrono::NaiveDate::from_ymd_opt(2011, 12, 9).expect("date");
    let mut purchases = String::from("customer_id,time,amount\n");
    let mut reader = csv::Reader::from_path(summaries).expect("summaries");
    for row in reader.records() {
        let row = row.expect("row");
        let number = |index: usize| row[index].parse::<f64>().expect("number");
        let (frequency, recency, age, spend) = (number(1) as i64, number(2) as i64, number(3) as i64, number(4).max(1.0));
        let first = end - chrono::Duration::days(age);
        purchases.push_str(&format!("{},{first},{:.2}\n", &row[0], if frequency > 0 { spend } else { 20.0 }));
        for k in 1..=frequency {
            let day = first + chrono::Duration::days((recency as f64 * k as f64 / frequency as f64).round() as i64);
            purchases.push_str(&format!("{},{day},{spend:.2}\n", &row[0]));
        }
    }
    let file = directory.path().join("purchases.csv");
    std::fs::write(&file, purchases).expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "purchases", file.to_str().expect("path")]);
    for (as_of, warning) in [
        ("2011-12-09", "the bg-nbd fit is not well identified: a, b have no standard error"),
        ("2011-12-13", "the bg-nbd fit sees almost no customer leave: the repeat buyers' mean P(alive) is 0.997"),
    ] {
        let output = crate::rapport(&["analyze", "-w", &workspace, "--as-of", as_of]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success() && stderr.contains(warning), "{as_of}: {stderr}");
        assert!(stderr.contains("win_back and the top tier's watch list read a lapse instead"), "{as_of}: {stderr}");
        let run = latest_run(&workspace);
        for table in ["matrix", "segments"] {
            let (rows, shown) = shown_mean_p_alive(&run, table);
            assert!(rows > 0 && shown == 0, "{as_of} {table}: {shown} of {rows} rows show a mean P(alive)");
        }
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).expect("summary")).expect("json");
        assert_eq!(summary["overview"]["p_alive_informative"], false, "{as_of}");
    }
    // The report's mean P(alive) says so instead of a confident interval.
    let report = directory.path().join("report.html");
    ok(&["-q", "report", "-w", &workspace, "-o", report.to_str().expect("path")]);
    let html = std::fs::read_to_string(&report).expect("report");
    assert!(html.contains("not informative: the fit sees no customer leave"), "the Mean P(alive) tile");
    // The lapse speaks in win_back's reasons.
    let (header, rows) = csv_rows(&ok(&["actions", "-w", &workspace]));
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (action, reason) = (column("action"), column("reason"));
    let win_back: Vec<&Vec<String>> = rows.iter().filter(|row| row[action] == "win_back").collect();
    assert!(!win_back.is_empty(), "{rows:?}");
    assert!(win_back.iter().all(|row| row[reason].contains("P(alive) is not informative")), "{win_back:?}");
}

/// Forty customers who buy like clockwork and never stop: BG/NBD's dropout parameter sits
/// on its boundary (no standard error), and `analyze` says so, since predicted value and
/// the propensity baseline rest on that fit; so do the commands that read the run.
/// P(alive) is then about 1 for everyone, so `win_back` reads a lapse instead: a valuable
/// weekly buyer silent for 24 days (past the brand's 90th-percentile gap and twice their
/// own) is proposed one, with the numbers; a lapsing customer of little value is not.
#[test]
fn a_lifetime_value_fit_on_its_boundary_is_a_warning() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let mut purchases = String::from("customer_id,time,amount\n");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let end = chrono::NaiveDate::from_ymd_opt(2025, 6, 30).expect("date");
    for c in 0..40_i64 {
        let mut day = start + chrono::Duration::days(c * 3);
        while day <= end {
            purchases.push_str(&format!("c{c},{day},{}.00\n", 10 + c % 7));
            day += chrono::Duration::days(7 + c % 13);
        }
    }
    for (id, amount) in [("lapsing", 400), ("small", 5)] {
        let mut day = start + chrono::Duration::days(200);
        while day <= end - chrono::Duration::days(23) {
            purchases.push_str(&format!("{id},{day},{amount}.00\n"));
            day += chrono::Duration::days(7);
        }
    }
    let file = directory.path().join("purchases.csv");
    std::fs::write(&file, purchases).expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "purchases", file.to_str().expect("path")]);
    let output = crate::rapport(&["analyze", "-w", &workspace]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the bg-nbd fit is not well identified: a") && stderr.contains("no standard error"), "{stderr}");
    // With the values, so that the parameter on its boundary can be seen.
    assert!(stderr.contains("on or near its boundary (") && stderr.contains("alpha = "), "{stderr}");
    assert!(stderr.contains("win_back and the top tier's watch list read a lapse instead"), "{stderr}");
    // The commands that read the run's P(alive), CLV and what rests on them repeat it,
    // even with --quiet.
    for command in [&["matrix"][..], &["segments", "--sizes"], &["actions"], &["ror", "--by", "customer"], &["alerts"]] {
        let mut args = vec!["-q"];
        args.extend_from_slice(command);
        args.extend_from_slice(&["-w", &workspace]);
        let output = crate::rapport(&args);
        assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("warning: run ") && stderr.contains("no standard error"), "{command:?}: {stderr}");
    }
    // Without relationship costs a grouping has no ratio: `ror` says so rather than print
    // a row of zeros, and per customer it says why the ror column is empty.
    let message = user_error(&["ror", "-w", &workspace]);
    assert!(message.contains("Return on Relationship was not measured: needs relationship costs: contact or reward rows"), "{message}");
    let output = crate::rapport(&["ror", "-w", &workspace, "--by", "customer"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("no relationship cost, so no ror: needs relationship costs"), "{stderr}");
    // Nor is a table of zeros written for SQL to read as a measured zero.
    let latest = latest_run(&workspace);
    assert!(latest.join("customers.parquet").exists() && !latest.join("ror.parquet").exists(), "{latest:?}");
    // The matrix's and the segments' means of that P(alive) are blank, as the watch list's
    // P(alive) is, rather than a confident 0.99 beside "Lost".
    for table in ["matrix", "segments"] {
        let (rows, shown) = shown_mean_p_alive(&latest, table);
        assert!(rows > 0 && shown == 0, "{table}: {shown} of {rows} rows show a mean P(alive)");
    }
    let (header, rows) = crate::csv_rows(&ok(&["actions", "-w", &workspace]));
    assert_eq!(header[..2], ["customer_id", "action"]);
    let win_back: Vec<&Vec<String>> = rows.iter().filter(|row| row[1] == "win_back").collect();
    assert_eq!(win_back.len(), 1, "{rows:?}");
    assert_eq!(win_back[0][0], "lapsing");
    let reason = &win_back[0][4];
    assert!(reason.starts_with("no purchase for 24 days: at least as long as 90% of this brand's repeat-purchase gaps"), "{reason}");
    assert!(reason.contains("twice their own usual gap of 7 days") && reason.contains("P(alive) is not informative"), "{reason}");
}
