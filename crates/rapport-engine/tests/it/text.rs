//! Sentiment and topics read through the store's readers: CSV, JSON Lines, Parquet and
//! lines alike, in input order, with unreadable rows counted and kept.

use rapport_engine::input::FileInput;
use rapport_engine::output::{OutputFormat, TableBuilder, write};
use rapport_engine::sentiment::{SentimentFormat, TextRequest, score_stream};
use rapport_engine::topics::{TextColumns, TopicsRequest, complaint_topics};
use rapport_engine::{InputFormat, SentimentModel};

const TEXTS: [&str; 4] = ["the refund never came, awful", "great service, thank you!", "", "meh"];

fn score(request: &TextRequest) -> Result<(String, rapport_engine::sentiment::SentimentOutcome), rapport_engine::EngineError> {
    let mut out = Vec::new();
    let outcome = score_stream(request, None, SentimentModel::Vader, SentimentFormat::Csv, &mut out)?;
    Ok((String::from_utf8(out).expect("utf-8"), outcome))
}

#[test]
fn parquet_csv_and_json_lines_score_the_same_in_order() {
    let directory = tempfile::tempdir().expect("tempdir");
    let ids: Vec<String> = (1..=TEXTS.len()).map(|id| id.to_string()).collect();
    let table = TableBuilder::default().text("id", &ids).text("body", TEXTS).build().expect("table");
    let parquet = directory.path().join("posts.parquet");
    write(&table, OutputFormat::Parquet, Some(&parquet), &mut std::io::sink()).expect("parquet");
    let csv = directory.path().join("posts.csv");
    write(&table, OutputFormat::Csv, Some(&csv), &mut std::io::sink()).expect("csv");
    let jsonl = directory.path().join("posts.jsonl");
    write(&table, OutputFormat::Jsonl, Some(&jsonl), &mut std::io::sink()).expect("jsonl");
    let request = |path: &std::path::Path| TextRequest {
        input: FileInput::new(path),
        text_column: Some("body".into()),
        id_column: Some("id".into()),
        max_rejects: 0,
    };
    let (from_parquet, outcome) = score(&request(&parquet)).expect("parquet scored");
    assert_eq!(outcome.counts.texts, 4);
    assert_eq!(outcome.counts.missing, 1, "the empty text");
    let lines: Vec<&str> = from_parquet.lines().collect();
    assert_eq!(lines[0], "id,neg,neu,pos,compound");
    assert!(lines[1].starts_with("1,") && lines[4].starts_with("4,"), "{from_parquet}");
    assert_eq!(score(&request(&csv)).expect("csv").0, from_parquet);
    assert_eq!(score(&request(&jsonl)).expect("jsonl").0, from_parquet);
}

#[test]
fn unreadable_rows_stop_the_run_or_are_kept_when_allowed() {
    let directory = tempfile::tempdir().expect("tempdir");
    // Line 3 has too few fields for the text column.
    let path = crate::write(directory.path(), "posts.csv", "id,when,text\n1,2025-01-01,good\n2\n3,2025-01-03,\"bad,\nreally bad\"\n");
    let mut request =
        TextRequest { input: FileInput::new(&path), text_column: Some("text".into()), id_column: Some("id".into()), max_rejects: 0 };
    let error = score(&request).expect_err("a rejected row with none allowed");
    assert_eq!(error.code(), "too_many_rejects");
    assert!(error.to_string().contains("posts.csv:3"), "{error}");
    assert!(error.to_string().contains("already written"), "streamed output is not claimed unwritten: {error}");
    request.max_rejects = 1;
    let (out, outcome) = score(&request).expect("one allowed");
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!((outcome.rejected[0].line, outcome.rejected[0].column.as_str()), (3, "text"));
    assert_eq!(out.lines().count(), 3, "header and the two readable rows: {out}");
    assert!(out.lines().nth(2).expect("row").starts_with("3,"));
}

#[test]
fn lines_read_blank_lines_as_empty_texts_and_json_needs_a_column() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = crate::write(directory.path(), "texts.txt", "good\n\nbad\n");
    let (out, outcome) = score(&TextRequest { input: FileInput::new(&path), ..TextRequest::default() }).expect("lines");
    assert_eq!((outcome.counts.texts, outcome.counts.missing), (3, 0));
    assert_eq!(out.lines().nth(2), Some("2,0,0,0,0"), "line 2, empty: scores 0");
    let jsonl = crate::write(directory.path(), "texts.jsonl", "{\"text\": \"good\"}\n");
    let input = FileInput { format: InputFormat::JsonLines, ..FileInput::new(&jsonl) };
    let error = score(&TextRequest { input, ..TextRequest::default() }).expect_err("no text column");
    assert_eq!(error.code(), "invalid_request");
}

#[test]
fn topics_read_parquet_with_ids_and_times() {
    let directory = tempfile::tempdir().expect("tempdir");
    let texts: Vec<String> = (0..40)
        .map(|index| {
            if index % 2 == 0 { format!("my refund never came, awful {index}") } else { format!("the app crashed again, terrible {index}") }
        })
        .collect();
    let ids: Vec<String> = (0..40).map(|index| format!("c{index}")).collect();
    let times: Vec<String> = (0..40).map(|index| format!("2025-01-{:02}", index % 28 + 1)).collect();
    let table = TableBuilder::default().text("id", &ids).text("text", &texts).text("when", &times).build().expect("table");
    let parquet = directory.path().join("posts.parquet");
    write(&table, OutputFormat::Parquet, Some(&parquet), &mut std::io::sink()).expect("parquet");
    let request = TopicsRequest {
        input: FileInput::new(&parquet),
        columns: TextColumns { text: Some("text".into()), id: Some("id".into()), time: Some("when".into()), label: None, only: None },
        max_rejects: 0,
        model: SentimentModel::Vader,
        all: true,
        options: Default::default(),
        trend_period: rapport_engine::Period::Month,
        time_format: Default::default(),
        zone: Default::default(),
        examples: 1,
    };
    let report = complaint_topics(&request, None).expect("topics");
    assert_eq!((report.texts, report.grouped), (40, 40));
    assert_eq!(report.assignments[5].id.as_deref(), Some("c5"));
    assert_eq!(report.assignments[5].row, 6);
    assert!(report.topics.iter().all(|topic| !topic.trend.is_empty()));
}
