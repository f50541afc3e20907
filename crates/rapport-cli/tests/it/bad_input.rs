//! Bad input: a clear message naming file, line and column; nothing lost; exit code 1.

use std::path::Path;

use crate::{csv_rows, ok, rapport, user_error};

fn write(directory: &Path, name: &str, bytes: &[u8]) -> String {
    let path = directory.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.display().to_string()
}

fn summary(file: &str, extra: &[&str]) -> Vec<String> {
    [&["summary", file, "--amount-column", "amount"][..], extra].concat().iter().map(|arg| arg.to_string()).collect()
}

fn run_user_error(args: &[String]) -> String {
    user_error(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn missing_column() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "p.csv", b"customer_id,date,total\na,2020-01-01,3\n");
    let message = run_user_error(&summary(&file, &[]));
    assert!(message.contains("p.csv:1: no column \"amount\""), "{message}");
    assert!(message.contains("\"total\""), "lists the columns found: {message}");
    // Names given with --columns have no line to point at.
    let headerless = write(directory.path(), "q.txt", b"a,2020-01-01,3\n");
    let message = run_user_error(&summary(&headerless, &["--columns", "customer_id,date,total"]));
    assert!(message.contains("q.txt: no column \"amount\"; found 3 column(s) from the given column names"), "{message}");
}

#[test]
fn unparseable_date_and_non_numeric_amount_name_line_and_column() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "p.csv", b"customer_id,date,amount\na,2020-01-01,3\nb,01/02/2020,4\nc,2020-01-02,four\n");
    let message = run_user_error(&summary(&file, &[]));
    assert!(message.contains("p.csv:3: column \"date\": found \"01/02/2020\", expected a date"), "{message}");
    assert!(message.contains("2 row(s) rejected"), "{message}");
    // With --max-rejects the rows are counted, listed and kept in --rejects.
    let rejects = directory.path().join("rejects.csv");
    let output = rapport(
        &summary(&file, &["--max-rejects", "2", "--rejects", rejects.to_str().expect("path")])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("p.csv:4: column \"amount\": found \"four\", expected a decimal number"), "{stderr}");
    assert!(stderr.contains("2 rejected"), "{stderr}");
    let (header, rows) = csv_rows(&std::fs::read_to_string(rejects).expect("rejects"));
    assert_eq!(header, ["file", "line", "column", "value", "expected"]);
    assert_eq!(rows.iter().map(|row| row[1].as_str()).collect::<Vec<_>>(), ["3", "4"]);
    let (_, summary_rows) = csv_rows(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(summary_rows.len(), 1);
}

#[test]
fn refund_nets_against_its_period_and_is_not_a_purchase() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file =
        write(directory.path(), "p.csv", b"customer_id,date,amount\na,2020-01-01,10\na,2020-01-03,30\na,2020-01-03,-5\na,2020-01-05,-10\n");
    let out = ok(&summary(&file, &["--format", "json"]).iter().map(String::as_str).collect::<Vec<_>>());
    let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(rows[0]["frequency"], 1);
    assert_eq!(rows[0]["recency"], 2.0);
    assert_eq!(rows[0]["T"], 4.0, "the refund's day still moves the observation end");
    assert_eq!(rows[0]["monetary_value"], 25.0);
}

/// `rapport summary FILE` reads the time from `date` (lifetimes' name) or, in a file
/// with no `date` column, from `time` (what `rapport generate` writes); a named
/// `--time-column` is read as named.
#[test]
fn the_default_time_column_is_date_or_time() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "p.csv", b"customer_id,time,amount\na,2020-01-01,10\na,2020-01-03,30\n");
    let out = ok(&summary(&file, &["--format", "json"]).iter().map(String::as_str).collect::<Vec<_>>());
    let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!((rows[0]["frequency"].as_u64(), rows[0]["recency"].as_f64()), (Some(1), Some(2.0)), "{rows}");
    let both = write(directory.path(), "q.csv", b"customer_id,time,date,amount\na,2020-01-01,2020-01-01,10\na,2020-01-03,2020-01-09,30\n");
    let out = ok(&summary(&both, &["--format", "json"]).iter().map(String::as_str).collect::<Vec<_>>());
    let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(rows[0]["recency"].as_f64(), Some(8.0), "`date` first: {rows}");
    let mut args = summary(&file, &[]);
    args.extend(["--time-column".to_string(), "when".to_string()]);
    let message = run_user_error(&args);
    assert!(message.contains("when"), "{message}");
}

#[test]
fn empty_file() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "p.csv", b"");
    let message = run_user_error(&summary(&file, &[]));
    assert!(message.contains("p.csv: the file is empty"), "{message}");
}

#[test]
fn invalid_utf8() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "p.csv", b"customer_id,date,amount\ncaf\xe9,2020-01-01,3\n");
    let message = run_user_error(&summary(&file, &[]));
    assert!(message.contains("p.csv:2: column \"customer_id\""), "{message}");
    assert!(message.contains("valid UTF-8"), "{message}");
    // Read with its encoding (é is 0xE9 in Windows-1252), the file summarises.
    let args = summary(&file, &["--encoding", "windows-1252", "--format", "csv"]);
    let output = rapport(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("café,"), "{}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn truncated_last_line() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "p.csv", b"customer_id,date,amount\na,2020-01-01,3\nb,2020-01-0");
    let message = run_user_error(&summary(&file, &[]));
    assert!(
        message.contains(
            "p.csv:3: column \"amount\": found \"b,2020-01-0\", expected 3 fields as in the header, found 2: the line ends early"
        ),
        "{message}"
    );
    let file = write(directory.path(), "q.csv", b"customer_id,date,amount\na,2020-01-01,3\nb,2020-01-0,");
    let message = run_user_error(&summary(&file, &[]));
    assert!(message.contains("q.csv:3: column \"date\""), "{message}");
    // Of the columns a short row lacks, the message names the first missing in the file
    // (here `date`, though `customer_id` comes first among the fields).
    let file = write(directory.path(), "r.csv", b"note,amount,date,customer_id\nx,3,2020-01-01,a\ny,4");
    let message = run_user_error(&summary(&file, &[]));
    assert!(
        message.contains("r.csv:3: column \"date\": found \"y,4\", expected 4 fields as in the header, found 2: the line ends early"),
        "{message}"
    );
}

#[test]
fn ten_megabyte_field_is_read_and_reported_short() {
    let directory = tempfile::tempdir().expect("tempdir");
    let mut content = b"customer_id,date,amount,note\n".to_vec();
    content.extend_from_slice(format!("a,2020-01-01,3,{}\n", "n".repeat(10 << 20)).as_bytes());
    content.extend_from_slice(format!("{},2020-01-02,3,x\n", "b".repeat(10 << 20)).as_bytes());
    let file = write(directory.path(), "p.csv", &content);
    let out = ok(&summary(&file, &["--format", "json"]).iter().map(String::as_str).collect::<Vec<_>>());
    let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "a 10 MB customer id is a valid (if odd) id");
    let file = write(directory.path(), "q.csv", format!("customer_id,date,amount\na,2020-01-01,{}\n", "9".repeat(10 << 20)).as_bytes());
    let message = run_user_error(&summary(&file, &[]));
    assert!(message.contains("q.csv:2: column \"amount\""), "{message}");
    assert!(message.len() < 2000, "the message quotes a truncated value, not 10 MB");
}

#[test]
fn wrong_delimiter() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "p.csv", b"customer_id;date;amount\na;2020-01-01;3\n");
    let message = run_user_error(&summary(&file, &["--delimiter", ","]));
    assert!(message.contains("read with delimiter ','"), "{message}");
    assert!(message.contains("';'"), "{message}");
    assert!(message.contains("--delimiter"), "{message}");
}

#[test]
fn invalid_options_are_user_errors() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(directory.path(), "p.csv", b"customer_id,date,amount\na,2020-01-01,3\n");
    let message = run_user_error(&summary(&file, &["--period", "fortnight"]));
    assert!(message.contains("--period") && message.contains("week"), "lists the choices: {message}");
    assert!(run_user_error(&summary(&file, &["--calibration-end", "2020-13-01"])).contains("--calibration-end"));
    assert!(run_user_error(&summary(&file, &["--timezone", "Mars/Base"])).contains("IANA"));
    assert!(user_error(&["summary", "/nonexistent/p.csv"]).contains("/nonexistent/p.csv"));
    assert!(user_error(&["frobnicate"]).contains("unrecognized subcommand"));
}

/// A missing file is named once with its reason; no arguments at all is a usage error.
#[test]
fn messages_say_things_once() {
    let message = user_error(&["summary", "/nonexistent/p.csv"]);
    assert_eq!(message.matches("No such file").count(), 1, "{message}");
    let output = rapport(&[]);
    assert_eq!(output.status.code(), Some(1));
    // analyze offers only the formats it prints headlines in: Parquet is a usage error
    // that lists them (its Parquet tables are in the results run).
    let message = user_error(&["analyze", "-w", "/nonexistent", "--format", "parquet"]);
    assert!(message.contains("[possible values: table, csv, json, jsonl]"), "{message}");
    let help = String::from_utf8_lossy(&rapport(&["analyze", "--help"]).stdout).into_owned();
    assert!(!help.contains("needs --output"), "{help}");
}

/// A CRLF file with quoted fields: rejected rows keep their true line numbers (the csv
/// crate's count fell one behind per quoted record; found on the UCI Online Retail log).
#[test]
fn crlf_with_quotes_keeps_line_numbers() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(
        directory.path(),
        "q.csv",
        b"cid,desc,t,amt\r\n1,\"a\",2020-01-01,5\r\n2,\"b, c\",2020-01-02,6\r\n,y,2020-01-03,7\r\n3,\"multi\r\nline\",2020-01-04,8\r\n4,z,not-a-date,9\r\n",
    );
    let output =
        rapport(&["summary", &file, "--customer-column", "cid", "--time-column", "t", "--amount-column", "amt", "--max-rejects", "5"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("q.csv:4: column \"cid\""), "{stderr}");
    assert!(stderr.contains("q.csv:7: column \"t\""), "{stderr}");
}

/// European exports: a decimal comma is refused with a hint unless asked for; currency
/// symbols and thousands separators are read.
#[test]
fn decimal_commas_and_currency_symbols() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = write(
        directory.path(),
        "eu.csv",
        "customer_id,date,amount\na,2024-01-01,\"1.234,50 €\"\na,2024-01-05,\"12,50\"\nb,2024-01-02,€3\n".as_bytes(),
    );
    let message = run_user_error(&summary(&file, &[]));
    assert!(message.contains("--decimal-comma"), "{message}");
    let out = ok(&["summary", &file, "--amount-column", "amount", "--decimal-comma", "-q"]);
    assert_eq!(out, "customer_id,frequency,recency,T,monetary_value\na,1,4,4,12.5\nb,0,0,3,0\n");
}

/// stderr is a pipe whose reader has gone (`rapport … 2>&1 | head -1`): the command
/// still finishes, with its own exit code (not a panic's 101), and its output is whole.
#[test]
fn a_closed_stderr_does_not_stop_the_command() {
    use std::process::{Command, Stdio};
    let directory = tempfile::tempdir().expect("tempdir");
    let refunds = write(directory.path(), "p.csv", b"customer_id,date,amount\na,2020-01-01,10\na,2020-01-03,30\na,2020-01-05,-10\n");
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rapport");
        drop(child.stderr.take());
        child.wait_with_output().expect("wait")
    };
    // A refund is said on stderr; the table still comes out whole.
    let output = run(&["summary", &refunds, "--format", "csv"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2, "the header and customer a");
    // An error is exit 1, said or not.
    let missing = directory.path().join("missing.csv");
    assert_eq!(run(&["summary", missing.to_str().expect("path")]).status.code(), Some(1));
}

/// An empty workspace in `directory`.
fn new_workspace(directory: &Path) -> String {
    let workspace = directory.join("ws").display().to_string();
    crate::ok(&["init", &workspace]);
    workspace
}

/// A time layout the reader does not know (BigQuery's `… UTC`) gets a hint whose
/// --time-format, given back, reads the file.
#[test]
fn a_time_layout_hint_reads_the_file_when_given_back() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = new_workspace(directory.path());
    let workspace = workspace.as_str();
    let file = write(directory.path(), "bq.csv", b"customer_id,time,amount\n1,2010-12-01 08:26:00 UTC,5\n2,2010-12-02 17:05:59 UTC,6\n");
    let file = file.as_str();
    let message = user_error(&["ingest", "-w", workspace, "-k", "purchases", file]);
    let hint = "--time-format '%Y-%m-%d %H:%M:%S UTC'";
    assert!(message.contains(hint), "{message}");
    crate::ok(&["-q", "ingest", "-w", workspace, "-k", "purchases", "--time-format", "%Y-%m-%d %H:%M:%S UTC", file]);
}

/// A value outside a field's names (a platform where a channel was expected) gets a
/// mapping that renames it, which, given back as it is printed, ingests the file.
#[test]
fn a_channel_named_by_its_platform_gets_a_mapping_that_ingests_it() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = new_workspace(directory.path());
    let workspace = workspace.as_str();
    let file = write(
        directory.path(),
        "tweets.csv",
        b"customer_id,time,channel,text\n1,2024-01-01T10:00:00Z,twitter,hi\n2,2024-01-02T10:00:00Z,email,hello\n3,2024-01-02T11:00:00Z,Twitter,thanks\n",
    );
    let message = user_error(&["ingest", "-w", workspace, "-k", "interactions", &file]);
    let map = "channel==CASE WHEN lower(channel) = 'twitter' THEN 'social' ELSE channel END";
    assert!(message.contains(&format!("--map \"{map}\"")), "{message}");
    let report = crate::ok(&["ingest", "-w", workspace, "-k", "interactions", "--map", map, "--format", "json", &file]);
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    assert_eq!(report[0]["accepted"].as_u64(), Some(3), "{report}");
}
