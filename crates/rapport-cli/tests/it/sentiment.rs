//! `rapport sentiment`: exact VADER and the service model, scores in input order, ids
//! carried, bad input handled.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{ok, repo, user_error};

fn with_stdin(args: &[&str], input: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(input).expect("write");
    let output = child.wait_with_output().expect("wait");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn lines_in_order_with_empty_lines_invalid_utf8_and_emoji() {
    let mut input = b"I love it!\n\nNot bad at all\r\n".to_vec();
    input.extend_from_slice(b"caf\xe9 is great\n");
    input.extend_from_slice("Catch utf-8 emoji such as 💘 and 💋 and 😁\n".as_bytes());
    input.extend_from_slice("Привет мир 你好 good\n".as_bytes());
    let (success, out, err) = with_stdin(&["sentiment", "-", "--model", "vader"], &input);
    assert!(success);
    assert!(
        err.contains("warning: 1 line(s) hold bytes that are not UTF-8 (the first at line 4)") && err.contains("--encoding windows-1252"),
        "replaced bytes are said, with the option that reads them: {err}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "line,neg,neu,pos,compound", "without an id, each row names its input line");
    assert_eq!(lines[1], "1,0,0.308,0.692,0.6696");
    assert_eq!(lines[2], "2,0,0,0,0", "an empty line is an empty text");
    assert_eq!(lines[3], "3,0,0.513,0.487,0.431");
    assert!(lines[4].ends_with(",0.6249"), "invalid UTF-8 is replaced, the rest still scored: {}", lines[4]);
    assert!(lines[5].ends_with(",0.875"), "{}", lines[5]);
    assert_eq!(lines.len(), 7);
}

#[test]
fn csv_with_text_and_id_columns_keeps_order_across_batches() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("texts.csv");
    let mut content = String::from("id,text\n");
    for index in 0..40_000 {
        content.push_str(&format!("{index},\"{}\"\n", if index % 2 == 0 { "great, thanks!" } else { "terrible service" }));
    }
    std::fs::write(&file, content).expect("write");
    let out = ok(&["sentiment", file.to_str().expect("path"), "--text-column", "text", "--id-column", "id"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 40_001);
    assert_eq!(lines[0], "id,neg,neu,pos,compound");
    for (index, line) in lines[1..].iter().enumerate() {
        assert!(line.starts_with(&format!("{index},")), "{line}");
        assert_eq!(line.ends_with("-0.4767"), index % 2 == 1, "{line}");
    }
}

#[test]
fn jsonl_and_missing_column() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("texts.jsonl");
    std::fs::write(&file, "{\"id\": 7, \"text\": \"good\"}\n{\"id\": 8}\n").expect("write");
    let out = ok(&[
        "sentiment",
        file.to_str().expect("path"),
        "--text-column",
        "text",
        "--id-column",
        "id",
        "--format",
        "jsonl",
        "--model",
        "vader",
    ]);
    let rows: Vec<serde_json::Value> = out.lines().map(|line| serde_json::from_str(line).expect("json")).collect();
    assert_eq!(rows[0]["id"], "7");
    assert_eq!(rows[0]["compound"], 0.4404);
    assert_eq!(rows[1]["compound"], 0.0);
    let csv_file = directory.path().join("texts.csv");
    std::fs::write(&csv_file, "id,body\n1,good\n").expect("write");
    let message = user_error(&["sentiment", csv_file.to_str().expect("path"), "--text-column", "text"]);
    assert!(message.contains("texts.csv:1: no column \"text\"") && message.contains("body"), "{message}");
    assert!(message.contains("--text-column"), "the hint speaks of the text column: {message}");
}

#[test]
fn ten_megabyte_text_is_scored() {
    let text = "good ".repeat(2 << 20);
    let (success, out, _) = with_stdin(&["sentiment"], text.as_bytes());
    assert!(success);
    assert!(out.lines().nth(1).expect("row").ends_with(",1"), "{}", &out[..out.len().min(200)]);
}

/// Hutto & Gilbert (2014): correlation with the human ratings, tweets r ≈ 0.87, Amazon
/// r ≈ 0.59 (vaderSentiment 3.3.2 gives 0.872 and 0.590).
#[test]
fn paper_correlations_are_reproduced() {
    let tweets = ok(&["sentiment", "--evaluate", repo().join("data/vader/tweets_GroundTruth.txt").to_str().expect("path")]);
    assert!(tweets.contains("4200 texts, vader   Pearson r(compound, human mean rating) = 0.872"), "{tweets}");
    let amazon = ok(&["sentiment", "--evaluate", repo().join("data/vader/amazonReviewSnippets_GroundTruth.txt").to_str().expect("path")]);
    assert!(amazon.contains("3708 texts, vader   Pearson r(compound, human mean rating) = 0.590"), "{amazon}");
    // The service model keeps VADER's strength on general text: within 0.02 of its
    // correlation on both paper corpora (issue 4).
    for out in [&tweets, &amazon] {
        let r = |model: &str| -> f64 {
            let line = out.lines().find(|line| line.contains(&format!(", {model:<7} Pearson"))).expect("model line");
            line.rsplit("= ").next().expect("value").trim().parse().expect("number")
        };
        assert!(r("service") >= r("vader") - 0.02, "{out}");
    }
}

fn macro_f1(out: &str, model: &str) -> f64 {
    let line = out.lines().find(|line| line.starts_with(&format!("{model:<7} macro-F1"))).expect("model line");
    line.split_whitespace().nth(2).expect("value").parse().expect("number")
}

/// The held-out customer-service set (data/service/test.tsv, written before the model):
/// the service model must be clearly better than VADER. Measured: VADER 0.617, service
/// 0.868; the bounds leave room for rule changes but not for losing the gain.
#[test]
fn service_model_beats_vader_on_held_out_customer_service_set() {
    let out = ok(&["sentiment", "--evaluate-labels", repo().join("data/service/test.tsv").to_str().expect("path")]);
    assert!(out.contains("198 labelled texts"), "{out}");
    let (vader, service) = (macro_f1(&out, "vader"), macro_f1(&out, "service"));
    assert!((vader - 0.617).abs() < 1e-3, "VADER is exact, so its score on a fixed set is fixed: {out}");
    assert!(service >= 0.80 && service >= vader + 0.15, "{out}");
}

#[test]
fn service_is_the_default_and_reads_complaints_vader_misses() {
    let texts = "flight delayed 3 hours, still on hold\nmy package never arrived\ncan you help me reset my password?\n";
    let (_, service, _) = with_stdin(&["sentiment"], texts.as_bytes());
    let (_, vader, _) = with_stdin(&["sentiment", "--model", "vader"], texts.as_bytes());
    let compound =
        |out: &str, row: usize| -> f64 { out.lines().nth(row).expect("row").rsplit(',').next().expect("field").parse().expect("number") };
    assert!(compound(&service, 1) < -0.5 && compound(&vader, 1) > -0.3, "{service}{vader}");
    assert!(compound(&service, 2) < -0.05 && compound(&vader, 2) == 0.0, "{service}{vader}");
    assert!(compound(&service, 3) == 0.0 && compound(&vader, 3) > 0.05, "a request is not praise: {service}{vader}");
}

#[test]
fn labelled_file_errors_name_line_and_column() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("labels.tsv");
    std::fs::write(&file, "label\ttext\nnegative\tlate again\nangry\tno refund\n").expect("write");
    let message = user_error(&["sentiment", "--evaluate-labels", file.to_str().expect("path")]);
    assert!(message.contains("labels.tsv:3: column \"label\"") && message.contains("\"angry\""), "{message}");
    std::fs::write(&file, "sentiment\ttext\nnegative\tlate again\n").expect("write");
    let message = user_error(&["sentiment", "--evaluate-labels", file.to_str().expect("path")]);
    assert!(message.contains("labels.tsv:1: column \"label\""), "{message}");
}

#[test]
fn unreadable_rows_are_listed_and_written_with_rejects() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("posts.csv");
    std::fs::write(&file, "id,when,text\n1,2025-01-01,good\n2\n3,2025-01-03,bad\n").expect("write");
    let message = user_error(&["sentiment", file.to_str().expect("path"), "--text-column", "text"]);
    assert!(message.contains("posts.csv:3") && message.contains("--max-rejects"), "{message}");
    let rejects = directory.path().join("rejects.csv");
    let out = ok(&[
        "sentiment",
        file.to_str().expect("path"),
        "--text-column",
        "text",
        "--max-rejects",
        "1",
        "--rejects",
        rejects.to_str().expect("path"),
    ]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let written = std::fs::read_to_string(&rejects).expect("rejects");
    assert!(written.starts_with("file,line,column,value,expected\n") && written.contains(",3,text,"), "{written}");
}

/// A CSV without --text-column is not scored line by line (its header would be a text).
#[test]
fn a_csv_needs_its_text_column_or_lines_asked_for() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("posts.csv");
    std::fs::write(&file, "id,body\n1,good\n").expect("write");
    let message = user_error(&["sentiment", file.to_str().expect("path")]);
    assert!(message.contains("id,body") && message.contains("--text-column"), "{message}");
    let out = ok(&["sentiment", file.to_str().expect("path"), "--input-format", "lines"]);
    assert_eq!(out.lines().count(), 3, "header row and both lines: {out}");
    let written = directory.path().join("scores.csv");
    ok(&["sentiment", file.to_str().expect("path"), "--text-column", "body", "--output", written.to_str().expect("path")]);
    assert!(std::fs::read_to_string(&written).expect("written").starts_with("line,neg,neu,pos,compound\n2,"), "the CSV's line numbers");
}

/// A Windows export (é as the single byte 0xE9) read with its encoding scores the words
/// the writer wrote, with no warning; read as UTF-8 it is scored with U+FFFD and said.
#[test]
fn a_latin1_csv_is_read_with_its_encoding() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("reviews.csv");
    std::fs::write(&file, b"id,text\n1,\"tr\xe8s bien, I love the caf\xe9\"\n2,awful\n").expect("write");
    let path = file.to_str().expect("path");
    let read = |extra: &[&str]| {
        let mut args = vec!["sentiment", path, "--text-column", "text", "--id-column", "id", "--format", "jsonl"];
        args.extend_from_slice(extra);
        let output = crate::rapport(&args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        (String::from_utf8(output.stdout).expect("utf-8"), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (decoded, quiet) = read(&["--encoding", "windows-1252"]);
    assert!(!quiet.contains("warning"), "{quiet}");
    let (lossy, warned) = read(&[]);
    assert!(warned.contains("1 line(s) hold bytes that are not UTF-8 (the first at line 2)"), "{warned}");
    assert_eq!(decoded.lines().count(), 2);
    assert_eq!(decoded.lines().nth(1), lossy.lines().nth(1), "the ASCII row is the same either way");
    // A file cut off mid-row: the last row keeps its text column, and is said.
    std::fs::write(&file, "id,text,stars\n1,lovely,5\n2,awful").expect("write");
    let output = crate::rapport(&["sentiment", path, "--text-column", "text"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("1 row(s) have fewer fields than the header (the first at line 3)"), "{stderr}");
    let message = user_error(&["sentiment", path, "--text-column", "text", "--encoding", "klingon"]);
    assert!(message.contains("klingon") && message.contains("windows-1252"), "{message}");
}
