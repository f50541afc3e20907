//! The workspace from the command line: init, ingest, duplicates, quarantine, kill -9.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{ok, rapport, user_error};

#[test]
fn ingest_reports_counts_and_duplicates() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let file = directory.path().join("p.csv");
    std::fs::write(&file, "event_id,customer_id,time,amount\n1,a,2020-01-01,3\n2,a,2020-01-02,4\n1,a,2020-01-01,3\n").expect("write");
    let file = file.to_str().expect("path");
    let first: serde_json::Value =
        serde_json::from_str(&ok(&["ingest", "-w", workspace, "-k", "purchases", file, "--format", "json"])).expect("json");
    assert_eq!((first[0]["accepted"].as_u64(), first[0]["duplicates"].as_u64()), (Some(2), Some(1)));
    let second: serde_json::Value =
        serde_json::from_str(&ok(&["ingest", "-w", workspace, "-k", "purchases", file, "--format", "json"])).expect("json");
    assert_eq!((second[0]["accepted"].as_u64(), second[0]["duplicates"].as_u64()), (Some(0), Some(3)));
    assert_eq!(second[0]["batch"], "(nothing new)");
    // Too many rejects: exit 1, nothing published.
    let bad = directory.path().join("bad.csv");
    std::fs::write(&bad, "customer_id,time,amount\nz,2020-01-01,x\n").expect("write");
    let message = user_error(&["ingest", "-w", workspace, "-k", "purchases", bad.to_str().expect("path")]);
    assert!(message.contains("bad.csv:2: column \"amount\""), "{message}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(directory.path().join("ws/manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["batches"].as_array().map(Vec::len), Some(1));
    assert!(user_error(&["ingest", "-w", workspace, "-k", "invoices2", file]).contains("--kind"));
    // An export's own word for a kind is read as it: orders are purchases (the same rows
    // again, so nothing new).
    let again = ok(&["ingest", "-w", workspace, "-k", "orders", file]);
    assert!(again.contains("purchases") && again.contains("(nothing new)"), "{again}");
    assert!(user_error(&["ingest", "-w", "/nonexistent", "-k", "purchases", file]).contains("not a Rapport workspace"));
    // Columns no field maps are named, not dropped without a word.
    let extra = directory.path().join("extra.csv");
    std::fs::write(&extra, "customer_id,time,amount,note,Total Paid\nq,2020-01-01,3,hi,3.6\n").expect("write");
    let output = rapport(&["ingest", "-w", workspace, "-k", "purchases", extra.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("not stored, no field maps them: note, Total Paid"), "{stderr}");
    // Rows that name an order but no customer (a retail export's guest checkouts) are
    // counted at ingest, with what the analysis does with them.
    let guests = directory.path().join("guests.csv");
    std::fs::write(
        &guests,
        "customer_id,order_id,time,amount
,G1,2020-01-01,3
,G2,2020-01-02,4
q,G3,2020-01-03,5
",
    )
    .expect("write");
    let output = rapport(&["ingest", "-w", workspace, "-k", "purchases", guests.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("2 of 3 row(s) (67%) name no customer, only an order"), "{stderr}");
    // A file split in two whose parts share an identical line: the second part's copy is
    // taken as the stored row, and ingest says how to keep it (an event id).
    let (part1, part2) = (directory.path().join("part1.csv"), directory.path().join("part2.csv"));
    std::fs::write(
        &part1,
        "customer_id,time,amount
m,2020-02-01,5
m,2020-02-01,7
",
    )
    .expect("write");
    std::fs::write(
        &part2,
        "customer_id,time,amount
m,2020-02-01,5
n,2020-02-02,9
",
    )
    .expect("write");
    ok(&["-q", "ingest", "-w", workspace, "-k", "purchases", part1.to_str().expect("path")]);
    let output = rapport(&["ingest", "-w", workspace, "-k", "purchases", part2.to_str().expect("path"), "--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("part2.csv: 1 row(s) repeat a stored row in every column") && stderr.contains("--map event_id=COLUMN"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!((report[0]["accepted"].as_u64(), report[0]["duplicates"].as_u64()), (Some(1), Some(1)), "{report}");
}

/// kill -9 at random moments of an ingest: the workspace is always exactly as before
/// (one batch) or exactly as after (two), and its events are readable.
#[test]
fn kill_nine_during_ingest_leaves_before_or_after() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace_text = workspace.to_str().expect("path");
    ok(&["init", workspace_text]);
    let small = directory.path().join("small.csv");
    std::fs::write(&small, "customer_id,time,amount\na,2020-01-01,1\n").expect("write");
    ok(&["ingest", "-w", workspace_text, "-k", "purchases", small.to_str().expect("path")]);
    let mut big = String::from("customer_id,time,amount\n");
    for row in 0..300_000 {
        big.push_str(&format!("c{},2020-01-{:02},{}.5\n", row % 5000, row % 28 + 1, row % 97));
    }
    let big_path = directory.path().join("big.csv");
    std::fs::write(&big_path, big).expect("write");
    let mut outcomes = Vec::new();
    for delay in [5u64, 40, 120, 250, 600] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["ingest", "-w", workspace_text, "-k", "purchases", big_path.to_str().expect("path"), "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let out = rapport(&["summary", "--workspace", workspace_text, "--format", "csv", "-q"]);
        assert!(out.status.success(), "workspace unreadable after kill at {delay} ms: {}", String::from_utf8_lossy(&out.stderr));
        let customers = String::from_utf8_lossy(&out.stdout).lines().count() - 1;
        assert!(customers == 1 || customers == 5001, "half-written workspace after kill at {delay} ms: {customers} customers");
        outcomes.push(customers);
    }
    // Whatever happened, finishing the ingest publishes everything exactly once.
    ok(&["ingest", "-w", workspace_text, "-k", "purchases", big_path.to_str().expect("path")]);
    let out = ok(&["summary", "--workspace", workspace_text, "--format", "csv"]);
    assert_eq!(out.lines().count() - 1, 5001, "{outcomes:?}");
}

/// `--timezone` with `--workspace` buckets days in that zone instead of the workspace's
/// (a purchase at 23:30 UTC is the next day in Auckland).
#[test]
fn a_given_timezone_overrides_the_workspace_zone() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace, "--timezone", "Pacific/Auckland"]);
    let file = directory.path().join("p.csv");
    std::fs::write(&file, "customer_id,time,amount\na,2020-01-01T10:00:00Z,3\na,2020-01-01T23:30:00Z,4\n").expect("write");
    ok(&["ingest", "-w", workspace, "-k", "purchases", file.to_str().expect("path"), "-q"]);
    let frequency = |extra: &[&str]| {
        let mut args = vec!["summary", "--workspace", workspace, "--format", "json", "-q"];
        args.extend_from_slice(extra);
        let rows: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
        rows[0]["frequency"].as_u64().expect("frequency")
    };
    assert_eq!(frequency(&[]), 1, "two Auckland days");
    assert_eq!(frequency(&["--timezone", "UTC"]), 0, "one UTC day");
}

/// `init` takes the directory as every other command does (`-w`) or as its argument;
/// naming none, or both, is a usage error (exit 1) that says which.
#[test]
fn init_names_its_workspace_either_way() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (first, second) = (directory.path().join("a"), directory.path().join("b"));
    let (first, second) = (first.to_str().expect("path"), second.to_str().expect("path"));
    ok(&["init", "-w", first, "-q"]);
    ok(&["init", second, "-q"]);
    for made in [first, second] {
        assert!(std::path::Path::new(made).join("rapport.toml").is_file(), "{made}");
    }
    let error = user_error(&["init"]);
    assert!(error.contains("<DIRECTORY>"), "{error}");
    let third = directory.path().join("c");
    let error = user_error(&["init", third.to_str().expect("path"), "-w", third.to_str().expect("path")]);
    assert!(error.contains("cannot be used with"), "{error}");
    assert!(!third.exists(), "nothing made on a usage error");
}

/// `init --config` starts a workspace from a rapport.toml (here the one `generate`
/// writes: its time zone, currency and service hours), a flag overriding it; a broken
/// file is an error naming it and its line, and nothing is made.
#[test]
fn init_starts_from_a_brands_settings() {
    let directory = tempfile::tempdir().expect("tempdir");
    let brand = directory.path().join("brand");
    ok(&["generate", "-q", "--customers", "50", "--truth-customers", "1", "--output", brand.to_str().expect("path")]);
    let settings = brand.join("rapport.toml");
    let generated = std::fs::read_to_string(&settings).expect("rapport.toml");
    let workspace = directory.path().join("ws");
    let output = rapport(&["init", workspace.to_str().expect("path"), "--config", settings.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("service hours"), "{stderr}");
    let written: toml::Value = toml::from_str(&std::fs::read_to_string(workspace.join("rapport.toml")).expect("toml")).expect("toml");
    let expected: toml::Value = toml::from_str(&generated).expect("toml");
    assert_eq!(written["service"]["hours"], expected["service"]["hours"]);
    assert_eq!((&written["timezone"], &written["currency"]), (&expected["timezone"], &expected["currency"]));

    let other = directory.path().join("other");
    ok(&["init", "-q", other.to_str().expect("path"), "--config", settings.to_str().expect("path"), "--currency", "jpy"]);
    let written: toml::Value = toml::from_str(&std::fs::read_to_string(other.join("rapport.toml")).expect("toml")).expect("toml");
    assert_eq!(written["currency"].as_str(), Some("JPY"));
    assert_eq!(written["service"]["hours"], expected["service"]["hours"]);

    let broken = directory.path().join("broken.toml");
    std::fs::write(&broken, "version = 1\ntimezone = \"Mars/Olympus\"\n").expect("write");
    let third = directory.path().join("third");
    let error = user_error(&["init", third.to_str().expect("path"), "--config", broken.to_str().expect("path")]);
    assert!(error.contains("broken.toml") && error.contains("Mars/Olympus"), "{error}");
    assert!(!third.exists(), "nothing made from a broken file");
}

/// A missing field suggests the `--map` that fixes it, and `ingest --help` lists every
/// kind's fields.
#[test]
fn a_missing_field_suggests_its_mapping() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("ws");
    ok(&["init", root.to_str().expect("path")]);
    let file = directory.path().join("orders.csv");
    std::fs::write(&file, "CustomerID,order_date,total\n1,2024-01-01,5\n").expect("write");
    let message = user_error(&["ingest", "--workspace", root.to_str().expect("path"), "--kind", "purchases", file.to_str().expect("path")]);
    // Ids written as floats are ingested, with a warning and the mapping that reads them
    // as integers (which then match another file's 17850).
    let floats = directory.path().join("floats.csv");
    std::fs::write(&floats, "CustomerID,order_date,total\n17850.0,2024-01-01,5\n17851.00,2024-01-02,6\n17852,2024-01-03,7\n")
        .expect("write");
    let ws = root.to_str().expect("path");
    let map = ["--map", "customer_id=CustomerID", "--map", "time=order_date", "--map", "amount=total"];
    let output = crate::rapport(&[&["-q", "ingest", "-w", ws, "-k", "purchases", floats.to_str().expect("path")][..], &map].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.contains("warning: ") && stderr.contains("2 row(s) write their customer id as a float"),
        "{stderr}"
    );
    let rounded = ["--map", "customer_id==round(CustomerID)", "--map", "time=order_date", "--map", "amount=total", "--replace", "1"];
    let output = crate::rapport(&[&["ingest", "-w", ws, "-k", "purchases", floats.to_str().expect("path")][..], &rounded].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && !stderr.contains("as a float"), "{stderr}");
    // Every missing field at once, each with the column that looks like it.
    assert!(message.contains("no column \"customer_id\" (nor \"time\", \"amount\")"), "{message}");
    assert!(message.contains("map them: --map customer_id=CustomerID --map time=order_date --map amount=total"), "{message}");
    // A line-item export: the amount is quantity × unit price, not the unit price.
    let lines = directory.path().join("lines.csv");
    std::fs::write(&lines, "InvoiceNo,Quantity,InvoiceDate,Unit Price,CustomerID\n536365,6,2010-12-01 08:26,2.55,17850\n").expect("write");
    let message =
        user_error(&["ingest", "--workspace", root.to_str().expect("path"), "--kind", "purchases", lines.to_str().expect("path")]);
    assert!(message.contains("--map 'amount==Quantity * \"Unit Price\"'"), "{message}");
    // Its invoice number groups the lines into orders: named too, though optional.
    assert!(message.contains("--map order_id=InvoiceNo"), "{message}");
    assert!(!message.contains("order_id=CustomerID"), "{message}");
    // A field no column holds (tweets all from one channel): one value for every row.
    let tweets = directory.path().join("tweets.csv");
    std::fs::write(&tweets, "author_id,created_at,text\nu1,2017-10-31T22:10:47Z,my order is late\n").expect("write");
    let map = ["--map", "customer_id=author_id", "--map", "time=created_at"];
    let message = user_error(&[&["ingest", "-w", ws, "-k", "interactions", tweets.to_str().expect("path")][..], &map].concat());
    assert!(
        message.contains("--map channel=COLUMN") && message.contains("--set channel=VALUE (one of ") && message.contains("social"),
        "{message}"
    );
    let help = ok(&["ingest", "--help"]);
    assert!(help.contains("purchases") && help.contains("amount*") && help.contains("survey_type*"), "{help}");
    // The table of fields keeps its columns: each row starts with its kind or with the
    // fields' indent, and none is so long that clap breaks it where it likes.
    let table = help.split("(SQL syntax).").nth(1).and_then(|rest| rest.split("Rejected rows").next()).expect("the fields table");
    for line in table.lines().filter(|line| !line.trim().is_empty()) {
        let starts_a_kind = rapport_engine::EventKind::ALL.iter().any(|kind| line.starts_with(&format!("  {:<13} ", kind.name())));
        assert!(line.len() <= 80 && (starts_a_kind || line.starts_with(&" ".repeat(16))), "{line:?} in\n{table}");
    }
}

/// Issue 10, items 5 and 6, as an analyst meets them: a retail export whose amount is
/// quantity × price, with cancelled orders to skip and one bad row; the bad row is
/// listed, exported, corrected and ingested; a refund export names orders only; a review
/// export is all CSAT answers.
#[test]
fn a_retail_export_mapped_filtered_corrected_and_linked_by_order() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let file = directory.path().join("retail.csv");
    std::fs::write(
        &file,
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n\
         536365,85123A,6,2010-12-01 08:26,2.55,17850\n\
         C536379,D,-1,2010-12-01 09:41,27.50,14527\n\
         536366,22633,6,2010-12-01 08:28,1.85,17850\n\
         536367,84879,x32,2010-12-01 08:34,1.69,13047\n\
         536368,22960,6,2010-12-20 08:34,4.25,13047\n",
    )
    .expect("write");
    let file = file.to_str().expect("path");
    let mapped = [
        "--map",
        "customer_id=CustomerID",
        "--map",
        "time=InvoiceDate",
        "--map",
        "order_id=InvoiceNo",
        "--map",
        "amount==Quantity * UnitPrice",
        "--where",
        "InvoiceNo NOT LIKE 'C%'",
    ];
    // Over the limit (none by default): nothing is written, and the hint says how to
    // accept the rows and where they will be kept.
    let mut refused = vec!["ingest", "-w", workspace, "-k", "purchases", file];
    refused.extend_from_slice(&mapped);
    let message = crate::user_error(&refused);
    assert!(message.contains("nothing was written") && message.contains("run again with --max-rejects N"), "{message}");
    assert!(message.contains("ingest then keeps them in quarantine/"), "{message}");
    let listed = ok(&["quarantine", "list", "-w", workspace, "--format", "json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&listed).expect("json"), serde_json::json!([]), "{listed}");
    let mut args = vec!["ingest", "-w", workspace, "-k", "purchases", file, "--max-rejects", "1", "--format", "json"];
    args.extend_from_slice(&mapped);
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
    assert_eq!(
        (report[0]["accepted"].as_u64(), report[0]["rejected"].as_u64(), report[0]["filtered"].as_u64()),
        (Some(3), Some(1), Some(1))
    );

    let listed: serde_json::Value = serde_json::from_str(&ok(&["quarantine", "list", "-w", workspace, "--format", "json"])).expect("json");
    assert_eq!(
        (listed[0]["line"].as_u64(), listed[0]["column"].as_str(), listed[0]["value"].as_str()),
        (Some(5), Some("Quantity"), Some("x32"))
    );
    let fixed = directory.path().join("fixed.csv");
    ok(&["quarantine", "export", "-w", workspace, "--batch", "1", "--output", fixed.to_str().expect("path")]);
    let exported = std::fs::read_to_string(&fixed).expect("read");
    assert_eq!(exported, "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n536367,84879,x32,2010-12-01 08:34,1.69,13047\n");
    std::fs::write(&fixed, exported.replace(",x32,", ",32,")).expect("correct");
    let mut args = vec!["ingest", "-w", workspace, "-k", "purchases", fixed.to_str().expect("path"), "--format", "json"];
    args.extend_from_slice(&mapped);
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
    assert_eq!(report[0]["accepted"].as_u64(), Some(1));

    // A refund export that names the order only: the refund, a week later, nets against
    // its order's purchase (on its own day, with no purchase of the customer's, it would
    // change nothing).
    let refunds = directory.path().join("refunds.csv");
    std::fs::write(&refunds, "order_id,refunded_at,amount\n536368,2010-12-28 10:00,-25.50\n999999,2010-12-21,-1\n").expect("write");
    ok(&["ingest", "-w", workspace, "-k", "purchases", refunds.to_str().expect("path"), "--map", "time=refunded_at"]);
    let output = crate::rapport(&["summary", "--workspace", workspace, "--format", "json"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 refund(s) netted against the purchase of the order they name"), "{stderr}");
    assert!(
        stderr.contains("left out: 1 row(s) naming only an order that no purchase with a customer carries (0 purchase(s), 1 refund(s))"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let customer = summary.as_array().expect("rows").iter().find(|row| row["customer_id"] == "13047").expect("13047");
    // Two purchase days (1 Dec: 32 × 1.69 = 54.08; 20 Dec: 25.50 − 25.50 refunded = 0).
    assert_eq!((customer["frequency"].as_f64(), customer["monetary_value"].as_f64()), (Some(1.0), Some(0.0)));

    // Every row of a review export is a CSAT answer.
    let reviews = directory.path().join("reviews.csv");
    std::fs::write(&reviews, "order_id,review_score,review_creation_date\n536365,5,2010-12-05\n536366,2,2010-12-06\n").expect("write");
    let args = [
        "ingest",
        "-w",
        workspace,
        "-k",
        "surveys",
        reviews.to_str().expect("path"),
        "--set",
        "survey_type=csat",
        "--map",
        "score=review_score",
        "--map",
        "time=review_creation_date",
        "--format",
        "json",
    ];
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
    assert_eq!(report[0]["accepted"].as_u64(), Some(2));
    assert!(
        user_error(&["ingest", "-w", workspace, "-k", "surveys", reviews.to_str().expect("path"), "--set", "kind=csat"])
            .contains("survey_type")
    );
    let message = user_error(&["ingest", "-w", workspace, "-k", "purchases", file, "--map", "amount==Quantity *"]);
    assert!(message.contains("invalid expression"), "{message}");
}

/// Amounts written with a decimal comma and read without --decimal-comma are rejected
/// (never read as thousands when the leading group is 0), and the hint names the option.
#[test]
fn a_decimal_comma_export_read_without_the_option_gets_a_hint() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let file = directory.path().join("eu.csv");
    std::fs::write(&file, "customer_id;time;amount\na;2020-01-01;0,195\nb;2020-01-02;2,55\n").expect("write");
    let file = file.to_str().expect("path");
    let message = user_error(&["ingest", "-w", workspace, "-k", "purchases", file]);
    assert!(message.contains("give --decimal-comma"), "{message}");
    let report: serde_json::Value =
        serde_json::from_str(&ok(&["ingest", "-w", workspace, "-k", "purchases", file, "--decimal-comma", "--format", "json"]))
            .expect("json");
    assert_eq!(report[0]["accepted"].as_u64(), Some(2));
}

/// A workspace configured for one export layout takes another layout of the same kind
/// through a mapping profile: the retail export through rapport.toml, the refund export
/// through `--mapping refunds.toml`.
#[test]
fn a_second_export_layout_ingests_with_a_mapping_profile() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("ws");
    let workspace = root.to_str().expect("path");
    ok(&["init", workspace]);
    let config = std::fs::read_to_string(root.join("rapport.toml")).expect("config");
    std::fs::write(
        root.join("rapport.toml"),
        config
            + "\n[mapping.purchases]\ncustomer_id = \"CustomerID\"\ntime = \"InvoiceDate\"\norder_id = \"InvoiceNo\"\namount = \"= Quantity * UnitPrice\"\n\n[filter]\npurchases = \"InvoiceNo NOT LIKE 'C%'\"\n",
    )
    .expect("config");
    let retail = directory.path().join("retail.csv");
    std::fs::write(
        &retail,
        "InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID\n536365,6,2010-12-01 08:26,2.55,17850\n536366,2,2010-12-02 08:26,5,17850\n",
    )
    .expect("write");
    ok(&["ingest", "-w", workspace, "-k", "purchases", retail.to_str().expect("path")]);
    let refunds = directory.path().join("refunds.csv");
    std::fs::write(&refunds, "order,refunded_at,refund_total\n536366,2010-12-09,4\n").expect("write");
    // The workspace's mapping does not fit the refund export…
    let message = user_error(&["ingest", "-w", workspace, "-k", "purchases", refunds.to_str().expect("path")]);
    assert!(message.contains("no column \"CustomerID\"") || message.contains("no column \"InvoiceDate\""), "{message}");
    // …its own profile does.
    let profile = directory.path().join("refunds.toml");
    std::fs::write(&profile, "[mapping.purchases]\norder_id = \"order\"\ntime = \"refunded_at\"\namount = \"= -refund_total\"\n")
        .expect("write");
    let args = [
        "ingest",
        "-w",
        workspace,
        "-k",
        "purchases",
        refunds.to_str().expect("path"),
        "--mapping",
        profile.to_str().expect("path"),
        "--format",
        "json",
    ];
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
    assert_eq!(report[0]["accepted"].as_u64(), Some(1));
    let summary: serde_json::Value =
        serde_json::from_str(&ok(&["summary", "--workspace", workspace, "--format", "json", "-q"])).expect("json");
    // The refund nets against the 2 December purchase: 10 − 4 = 6.
    assert_eq!(summary[0]["monetary_value"].as_f64(), Some(6.0), "{summary}");
    std::fs::write(&profile, "[mapping.purchase]\norder_id = \"order\"\n").expect("write");
    let args =
        ["ingest", "-w", workspace, "-k", "purchases", refunds.to_str().expect("path"), "--mapping", profile.to_str().expect("path")];
    assert!(user_error(&args).contains("not a kind"), "a profile's tables must name kinds too");
}

/// A data lake's folder: Parquet parts in partition directories, as Spark writes them
/// (microsecond UTC timestamps, a `_SUCCESS` marker, `.crc` files), plus a CSV beside
/// them. Each data file is its own batch, in path order; the same command again adds
/// nothing; a new part is picked up alone; a bad part names its file, and the parts
/// before it stay published.
#[test]
fn a_directory_of_parquet_parts_is_ingested_file_by_file() {
    use std::sync::Arc;

    use arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    let directory = tempfile::tempdir().expect("tempdir");
    let lake = directory.path().join("lake");
    let part = |relative: &str, rows: &[(&str, &str, i64, f64)]| {
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("customer_id", DataType::Utf8, true),
            Field::new("time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            Field::new("amount", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|row| row.0))),
                Arc::new(StringArray::from_iter(rows.iter().map(|row| (!row.1.is_empty()).then_some(row.1)))),
                Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|row| row.2 * 1_000_000)).with_timezone("UTC")),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|row| row.3))),
            ],
        )
        .expect("batch");
        let path = lake.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).expect("create"), schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    };
    let day = 86_400;
    let january = 1_704_067_200; // 2024-01-01T00:00:00Z
    part("month=01/part-00000.parquet", &[("e1", "a", january, 10.0), ("e2", "b", january + day, 20.5)]);
    part("month=01/part-00001.parquet", &[("e3", "a", january + 9 * day, 5.0)]);
    part("month=02/part-00000.parquet", &[("e4", "c", january + 35 * day, 7.25), ("e1", "a", january, 10.0)]);
    std::fs::write(lake.join("month=01/_SUCCESS"), "").expect("marker");
    std::fs::write(lake.join("month=01/.part-00000.parquet.crc"), "crc").expect("crc");
    std::fs::write(lake.join("late.csv"), "event_id,customer_id,time,amount\ne5,b,2024-03-01,1.50\n").expect("csv");

    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    let lake_arg = lake.to_str().expect("path");
    ok(&["init", workspace]);
    let out = ok(&["ingest", "-w", workspace, "-k", "purchases", lake_arg, "--format", "csv"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "file,kind,accepted,rejected,duplicates,filtered,batch");
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[1].ends_with("late.csv,purchases,1,0,0,0,000001"), "{out}");
    assert!(lines[2].ends_with("part-00000.parquet,purchases,2,0,0,0,000002"), "{out}");
    assert!(lines[3].ends_with("part-00001.parquet,purchases,1,0,0,0,000003"), "{out}");
    // e1 again in February's part: a duplicate of January's, counted once.
    assert!(lines[4].ends_with("part-00000.parquet,purchases,1,0,1,0,000004"), "{out}");
    assert!(lines[2].contains("month=01") && lines[4].contains("month=02"), "{out}");
    let summary = ok(&["summary", "-w", workspace, "--format", "csv"]);
    assert_eq!(summary.lines().count(), 4, "a, b, c: {summary}");
    assert!(summary.contains("a,1,9,"), "a bought on two days, nine apart: {summary}");

    // Again: nothing new. A new part: only it is read.
    let again = ok(&["ingest", "-w", workspace, "-k", "purchases", lake_arg, "--format", "csv"]);
    assert_eq!(again.matches("(nothing new)").count(), 4, "{again}");
    part("month=02/part-00001.parquet", &[("e6", "d", january + 40 * day, 3.0)]);
    let more = ok(&["ingest", "-w", workspace, "-k", "purchases", lake_arg, "--format", "csv"]);
    assert!(more.contains("month=02/part-00001.parquet,purchases,1,0,0,0,000005"), "{more}");

    // A part without a customer: refused with its file named; the parts before it stay.
    part("month=03/part-00000.parquet", &[("e7", "", january + 70 * day, 3.0)]);
    part("month=04/part-00000.parquet", &[("e8", "e", january + 100 * day, 3.0)]);
    let error = user_error(&["ingest", "-w", workspace, "-k", "purchases", lake_arg]);
    assert!(error.contains("month=03/part-00000.parquet"), "{error}");
    assert!(error.contains("the 5 file(s) before it are in the workspace (0 published by this run, 5 ingested before)"), "{error}");
    let error = user_error(&["ingest", "-w", workspace, "-k", "purchases", lake_arg, "--replace", "1"]);
    assert!(error.contains("--replace replaces a batch with one file"), "{error}");
    let empty = directory.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let error = user_error(&["ingest", "-w", workspace, "-k", "purchases", empty.to_str().expect("path")]);
    assert!(error.contains("holds no data file"), "{error}");
}

/// Rows without a customer (Online Retail writes `(blank)`): the hint says how to skip
/// them with a filter, and the filter it names works.
#[test]
fn blank_customers_get_a_filter_hint_that_works() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let file = directory.path().join("retail.csv");
    std::fs::write(
        &file,
        "CustomerID,InvoiceDate,Amount\n17850.0,2010-12-01 08:26,15.30\n(blank),2010-12-01 08:28,3.00\n13047.0,2010-12-01 08:34,20.00\n",
    )
    .expect("write");
    let file = file.to_str().expect("path");
    let maps = ["--map", "customer_id==round(CustomerID)", "--map", "time=InvoiceDate", "--map", "amount=Amount"];
    let mut args = vec!["ingest", "-w", workspace, "-k", "purchases", file];
    args.extend_from_slice(&maps);
    let error = user_error(&args);
    let condition = "CustomerID IS NOT NULL AND CustomerID <> '(blank)'";
    assert!(error.contains(&format!("--where \"{condition}\"")), "{error}");
    args.extend_from_slice(&["--where", condition, "--format", "csv"]);
    let accepted = ok(&args);
    assert!(accepted.contains("purchases,2,0,0,1,000001"), "{accepted}");
}

/// A row naming neither a customer nor an order is rejected; the hint's filter skips it
/// and keeps the row that names only an order (which the analysis links through it).
#[test]
fn rows_naming_neither_customer_nor_order_get_a_filter_that_keeps_order_rows() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let file = directory.path().join("orders.csv");
    std::fs::write(
        &file,
        "Customer,InvoiceNo,InvoiceDate,Amount\nc1,536365,2010-12-01 08:26,15.30\n,536365,2010-12-01 08:26,3.00\n,,2010-12-01 08:34,20.00\n",
    )
    .expect("write");
    let file = file.to_str().expect("path");
    let maps = ["--map", "customer_id=Customer", "--map", "order_id=InvoiceNo", "--map", "time=InvoiceDate", "--map", "amount=Amount"];
    let mut args = vec!["ingest", "-w", workspace, "-k", "purchases", file];
    args.extend_from_slice(&maps);
    let error = user_error(&args);
    assert!(error.contains(r#"expected a customer id, or an order id in column "InvoiceNo""#), "{error}");
    let condition = "(Customer IS NOT NULL) OR InvoiceNo IS NOT NULL";
    assert!(error.contains(&format!("--where \"{condition}\"")), "{error}");
    // Written with Rapport's field names, the filter is refused with what it reads.
    let mut fields = args.clone();
    fields.extend_from_slice(&["--where", "customer_id IS NOT NULL OR order_id IS NOT NULL"]);
    let error = user_error(&fields);
    assert!(error.contains("--where reads the file's own column names (\"Customer\", \"InvoiceNo\""), "{error}");
    args.extend_from_slice(&["--where", condition, "--format", "csv"]);
    let accepted = ok(&args);
    assert!(accepted.contains("purchases,2,0,0,1,000001"), "{accepted}");

    // Without an order column, the filter tests the customer alone.
    let file = directory.path().join("no-orders.csv");
    std::fs::write(&file, "Customer,InvoiceDate,Amount\nc1,2010-12-01 08:26,15.30\n,2010-12-01 08:34,20.00\n").expect("write");
    let file = file.to_str().expect("path");
    let maps = ["--map", "customer_id=Customer", "--map", "time=InvoiceDate", "--map", "amount=Amount"];
    let mut args = vec!["ingest", "-w", workspace, "-k", "purchases", file];
    args.extend_from_slice(&maps);
    let error = user_error(&args);
    assert!(error.contains("expected a customer id (the file maps no order id to link the row through)"), "{error}");
    assert!(error.contains("--where \"Customer IS NOT NULL\""), "{error}");
}

/// `rapport compact`: small batches merged into one; the customer summary is the same
/// before and after; a second run has nothing to do.
#[test]
fn compact_merges_small_batches_without_changing_the_data() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let ws = workspace.to_str().expect("path");
    crate::ok(&["init", ws]);
    for part in 0..3 {
        let file = directory.path().join(format!("part-{part}.csv"));
        let rows: String = (0..5).map(|row| format!("c{row},2024-0{}-1{row},{}.25\n", part + 1, row + part)).collect();
        std::fs::write(&file, format!("customer_id,time,amount\n{rows}")).expect("write");
        crate::ok(&["-q", "ingest", "-w", ws, "-k", "purchases", file.to_str().expect("path")]);
    }
    let before = crate::ok(&["summary", "--workspace", ws, "--format", "csv"]);
    let output = crate::rapport(&["compact", "-w", ws]);
    assert!(output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("purchases: 3 batches merged into batch 4 (15 events)"), "{said}");
    assert_eq!(crate::ok(&["summary", "--workspace", ws, "--format", "csv"]), before);
    let output = crate::rapport(&["compact", "-w", ws, "--kind", "purchases"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to compact"));
    let files = std::fs::read_dir(workspace.join("events/purchases")).expect("dir").count();
    assert_eq!(files, 1);
}

/// Ctrl-C (SIGINT) or SIGTERM during a command: it says it was interrupted and what is
/// left (here the generator's partly written files), and exits with the shell's code for
/// the signal.
#[cfg(unix)]
#[test]
fn an_interrupted_command_says_so() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (brand, demo) = (directory.path().join("brand"), directory.path().join("demo"));
    // Each takes far longer than the half second before the signal.
    let cases = [
        ("INT", 130, vec!["generate", "--customers", "2000000", "--output", brand.to_str().expect("path")], "holds partly written files"),
        (
            "TERM",
            143,
            vec!["demo", "--customers", "500000", "-w", demo.to_str().expect("path")],
            "nothing half-written is published; the workspace holds what the last completed command left",
        ),
    ];
    for (signal, code, args, said) in cases {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(500));
        let sent = std::process::Command::new("kill").args([format!("-{signal}"), child.id().to_string()]).status().expect("kill");
        assert!(sent.success());
        let finished = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&finished.stderr);
        assert_eq!(finished.status.code(), Some(code), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted: ") && stderr.contains(said), "{signal}: {stderr}");
    }
}

/// A time format that rejects many rows while others parse (day and month swapped) is
/// warned about at ingest, as in `summary`: the rows it accepted may be misread. The
/// warning names the batch to replace.
#[test]
fn ingest_warns_of_a_time_format_that_rejects_many_rows() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", "-q", workspace]);
    let mut csv = String::from("customer_id,time,amount\n");
    for day in 1..=28 {
        csv.push_str(&format!("c{day},03/{day:02}/2024,10\n"));
    }
    let file = directory.path().join("us.csv");
    std::fs::write(&file, csv).expect("write");
    let output = rapport(&[
        "ingest",
        "-q",
        "-w",
        workspace,
        "-k",
        "purchases",
        file.to_str().expect("path"),
        "--time-format",
        "%d/%m/%Y",
        "--max-rejects",
        "100",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("warning: ") && stderr.contains("rejected 16 of 28 rows") && stderr.contains("--replace 1"), "{stderr}");
}

/// An analysis of a workspace without events is refused with or without an as-of date,
/// and writes no run (a run of no customers broke every view that read it).
#[test]
fn analyze_without_events_is_refused_at_any_date() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    for extra in [&[][..], &["--as-of", "2020-01-01"][..]] {
        let message = user_error(&[&["analyze", "-w", workspace][..], extra].concat());
        assert!(message.contains("no events"), "{extra:?}: {message}");
    }
    assert!(!std::path::Path::new(workspace).join("results").read_dir().is_ok_and(|mut runs| runs.next().is_some()), "no run written");
}

/// Three purchases measure no headline: analyze says so, with the reasons, instead of
/// printing the header of an empty table.
#[test]
fn analyze_without_any_headline_says_so() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let file = directory.path().join("p.csv");
    std::fs::write(&file, "customer_id,time,amount\na,2025-01-01,3\nb,2025-01-05,4\na,2025-02-01,5\n").expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "purchases", file.to_str().expect("path")]);
    let output = rapport(&["analyze", "-w", &workspace]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no headline could be measured from this data") && stderr.contains("nps: no NPS answers"), "{stderr}");
    // In the headlines' place, the overview measured from the purchases: a of a and b
    // bought on a second day (50%), spending 8 and 4 (6 per buyer).
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stderr.contains("the overview, from the purchases"), "{stderr}");
    let row = |name: &str| {
        stdout.lines().find(|line| line.starts_with(name)).map(|line| line.split_whitespace().nth(1).unwrap_or("").to_string())
    };
    let number = |name: &str| row(name).and_then(|value| value.parse::<f64>().ok());
    assert_eq!(number("repeat_buyer_rate"), Some(50.0), "{stdout}");
    assert_eq!(number("net_spend_per_buyer"), Some(6.0), "{stdout}");
    // Figures of no one (CLV without a fit) are left out.
    assert!(!stdout.contains("clv_mean") && !stdout.contains("p_alive_mean"), "{stdout}");
    // A pipeline still gets the (empty) table it asked for.
    assert_eq!(ok(&["-q", "analyze", "-w", &workspace, "--format", "csv"]).lines().next(), Some("headline,estimate,lower,upper,n,of,unit"));
}

/// The overview's total counts every customer, the spend per buyer only buyers: a
/// customer with only a refund is in the first and counted apart, so the two agree.
#[test]
fn the_overview_counts_refund_only_customers_apart() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let file = directory.path().join("p.csv");
    std::fs::write(&file, "customer_id,time,amount\na,2025-01-01,10\na,2025-02-01,20\nb,2025-01-05,30\nz,2025-01-10,-5\n").expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "purchases", file.to_str().expect("path")]);
    let summary: serde_json::Value = serde_json::from_str(&ok(&["-q", "analyze", "-w", &workspace, "--format", "json"])).expect("json");
    let overview = &summary["overview"];
    assert_eq!((overview["buyers"].as_u64(), overview["refund_only_customers"].as_u64()), (Some(2), Some(1)), "{overview:#}");
    assert_eq!((overview["net_spend_total"].as_f64(), overview["net_spend_per_buyer"]["estimate"].as_f64()), (Some(55.0), Some(30.0)));
    // Three customers are too few for a fit: no CLV, so no warning that it extrapolates.
    let warnings = summary["warnings"].as_array().expect("warnings");
    assert!(summary["skipped"]["lifetime_value"].is_string(), "{summary:#}");
    assert!(!warnings.iter().filter_map(|w| w.as_str()).any(|w| w.starts_with("the purchases span")), "{warnings:?}");
    // With a fit, a month of purchases looked at 12 months ahead is said, with the factor.
    let file = directory.path().join("more.csv");
    let rows: String = (0..60)
        .flat_map(|i| {
            let days = [1 + i % 9, 10 + i % 13, 24 + i % 8];
            days.into_iter().take(1 + i % 3).map(move |day| format!("c{i},2025-01-{day:02},{}\n", 5 + i % 7))
        })
        .collect();
    std::fs::write(&file, format!("customer_id,time,amount\n{rows}")).expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "purchases", file.to_str().expect("path")]);
    let summary: serde_json::Value = serde_json::from_str(&ok(&["-q", "analyze", "-w", &workspace, "--format", "json"])).expect("json");
    assert!(summary["skipped"]["lifetime_value"].is_null(), "{:#}", summary["skipped"]);
    let warnings = summary["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().filter_map(|w| w.as_str()).any(|w| w.starts_with("the purchases span 32 days") && w.contains("about 11× as long")),
        "{warnings:?}"
    );
}

/// A Windows-1252 export (the £ of "£40.00" is one byte, 0xA3): read as UTF-8 its rows are
/// rejected, with the option that reads it; with `--encoding latin1` it ingests whole.
#[test]
fn a_windows_export_is_read_with_its_encoding() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let file = directory.path().join("retail.csv");
    let map = ["--map", "customer_id=CustomerID", "--map", "time=InvoiceDate", "--map", "amount=Amount", "--map", "order_id=InvoiceNo"];
    // A Latin-1 byte in a column no field maps (read only to tell rows apart) costs no
    // row: its bytes are kept, escaped.
    let unmapped = directory.path().join("described.csv");
    std::fs::write(&unmapped, b"InvoiceNo,Description,CustomerID,InvoiceDate,Amount\n7,Gift Voucher \xa340.00,17851,2010-12-01 08:26,40\n")
        .expect("write");
    let mut args = vec!["ingest", "-w", &workspace, "-k", "purchases", unmapped.to_str().expect("path"), "--format", "json"];
    args.extend_from_slice(&map);
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
    assert_eq!((report[0]["accepted"].as_u64(), report[0]["rejected"].as_u64()), (Some(1), Some(0)), "{report}");
    // In a mapped column it rejects the row, naming the option.
    std::fs::write(&file, b"InvoiceNo,Description,CustomerID,InvoiceDate,Amount\n1,Gift Voucher,17850,2010-12-01 08:26,\xa340.00\n2,Mug,17850,2010-12-02 09:00,3.5\n")
        .expect("write");
    let file = file.to_str().expect("path");
    let mut args = vec!["ingest", "-w", &workspace, "-k", "purchases", file];
    args.extend_from_slice(&map);
    let message = user_error(&args);
    assert!(message.contains("expected valid UTF-8 text") && message.contains("--encoding windows-1252"), "{message}");
    // Kept in quarantine, the row keeps its bytes: exported, it reads right with the
    // encoding (it used to come back with � in place of £).
    let mut keep = args.clone();
    keep.extend_from_slice(&["--max-rejects", "1", "-q"]);
    ok(&keep);
    let fixed = directory.path().join("fixed.csv");
    ok(&["quarantine", "export", "-w", &workspace, "--batch", "2", "--output", fixed.to_str().expect("path")]);
    let exported = std::fs::read(&fixed).expect("export");
    assert!(exported.windows(6).any(|bytes| bytes == b"\xa340.00"), "{}", String::from_utf8_lossy(&exported));
    let mut again =
        vec!["ingest", "-w", &workspace, "-k", "purchases", fixed.to_str().expect("path"), "--encoding", "latin1", "--format", "json"];
    again.extend_from_slice(&map);
    let report: serde_json::Value = serde_json::from_str(&ok(&again)).expect("json");
    assert_eq!((report[0]["accepted"].as_u64(), report[0]["rejected"].as_u64()), (Some(1), Some(0)), "{report}");
    // The whole file again with its encoding, in place of the batch read without it: the
    // voucher is the row already ingested from the export.
    args.extend_from_slice(&["--encoding", "latin1", "--replace", "2", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
    assert_eq!((report[0]["accepted"].as_u64(), report[0]["duplicates"].as_u64()), (Some(1), Some(1)), "{report}");
    assert!(user_error(&["ingest", "-w", &workspace, "-k", "purchases", file, "--encoding", "klingon"]).contains("not an encoding"));
}

/// `--map`, `--set`, `--where` and `--time-format` read one ingest; ingest prints the
/// `rapport.toml` lines that would make them the workspace's (the filter with the one
/// rapport.toml already has, since both apply), which, merged in, make the next export of
/// the same layout ingest without flags (and the hint goes quiet).
#[test]
fn ingest_with_flags_says_how_to_keep_them() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let ws = workspace.to_str().expect("path");
    ok(&["init", ws]);
    let config = workspace.join("rapport.toml");
    let initial = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{initial}\n[filter]\npurchases = \"Qty > 0\"\n")).expect("write");
    let file = directory.path().join("orders.csv");
    std::fs::write(&file, "Client,When,Qty,Price,Status\na,01/01/2025,2,5.5,ok\nb,05/01/2025,1,4,cancelled\nc,06/01/2025,0,9,ok\n")
        .expect("write");
    let flags = [
        "--map",
        "customer_id=Client",
        "--map",
        "time=When",
        "--map",
        "amount==Qty * Price",
        "--where",
        "Status != 'cancelled'",
        "--time-format",
        "%d/%m/%Y",
    ];
    let output = rapport(&[&["ingest", "-w", ws, "-k", "purchases", file.to_str().expect("path")][..], &flags[..]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (_, lines) = stderr.split_once("put these lines in ").expect("the hint");
    let lines = lines.split_once('\n').expect("lines").1;
    for expected in [
        "[mapping.purchases]",
        "customer_id = \"Client\"",
        "amount = \"=Qty * Price\"",
        "[filter]",
        "purchases = \"(Qty > 0) AND (Status != 'cancelled')\"",
        "[time_format]",
        "purchases = \"%d/%m/%Y\"",
    ] {
        assert!(lines.contains(expected), "{expected}: {lines}");
    }
    // Merged in (the hint's filter replacing the file's; rapport.toml starts without
    // empty tables, so the others go at its end), the next export needs no flags, and the
    // same flags print nothing more.
    let pasted: String =
        lines.lines().take_while(|line| !line.starts_with("warning") && !line.contains("rows")).map(|line| format!("{line}\n")).collect();
    std::fs::write(&config, format!("{initial}\n{pasted}")).expect("write");
    let later = directory.path().join("later.csv");
    std::fs::write(&later, "Client,When,Qty,Price,Status\nd,01/02/2025,3,2,ok\n").expect("write");
    ok(&["-q", "ingest", "-w", ws, "-k", "purchases", later.to_str().expect("path")]);
    let summary: serde_json::Value = serde_json::from_str(&ok(&["-q", "analyze", "-w", ws, "--format", "json"])).expect("json");
    assert_eq!(summary["overview"]["net_spend_total"].as_f64(), Some(17.0), "11 + 6: the cancelled order and the empty one left out");
    let again = directory.path().join("again.csv");
    std::fs::write(&again, "Client,When,Qty,Price,Status\ne,01/03/2025,1,1,ok\n").expect("write");
    let output = rapport(&[&["ingest", "-w", ws, "-k", "purchases", again.to_str().expect("path")][..], &flags[..]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("put these lines"), "{}", String::from_utf8_lossy(&output.stderr));
}
