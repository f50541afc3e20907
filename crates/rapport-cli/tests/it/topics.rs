//! `rapport topics`: complaint themes recovered from a corpus with known themes, labels in
//! customers' words, trend, determinism, and bad input.

use crate::{csv_rows, ok, rapport, repo, user_error};

fn corpus() -> String {
    repo().join("data/topics/complaints_generated.csv").to_str().expect("path").to_string()
}

fn report(extra: &[&str]) -> serde_json::Value {
    let corpus = corpus();
    let mut args =
        vec!["topics", corpus.as_str(), "--text-column", "text", "--id-column", "id", "--time-column", "time", "--label-column", "theme"];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&args)).expect("json")
}

/// data/topics/complaints_generated.csv (bench/gen_complaints.py, seed 7): 3,000 posts,
/// seven complaint themes plus 15% praise and questions. Measured with the default seed:
/// 7 topics, NMI 0.933, purity 0.979 (seeds 1–5: NMI 0.89–0.93, purity ≥ 0.978).
#[test]
fn generated_complaint_themes_are_recovered() {
    let report = report(&[]);
    assert_eq!(report["texts"], 3000);
    let evaluation = &report["evaluation"];
    let (nmi, purity) = (evaluation["nmi"].as_f64().expect("nmi"), evaluation["purity"].as_f64().expect("purity"));
    assert!(nmi >= 0.85 && purity >= 0.90, "{evaluation}");
    let topics = report["topics"].as_array().expect("topics");
    assert!((6..=9).contains(&topics.len()), "{} topics", topics.len());
    // Praise and questions are not complaints: the 450 "none" texts stay out.
    let grouped = report["grouped"].as_u64().expect("grouped");
    assert!((2300..=2550).contains(&grouped), "{grouped}");
    // Labels are the customers' words.
    let labels: Vec<&str> = topics.iter().map(|topic| topic["label"].as_str().expect("label")).collect();
    for expected in ["refund", "app", "charged", "rude"] {
        assert!(labels.iter().any(|label| label.contains(expected)), "{expected} in {labels:?}");
    }
    for topic in topics {
        assert_eq!(topic["examples"].as_array().expect("examples").len(), 3);
        assert_eq!(topic["trend"].as_array().expect("trend").len(), 12, "every month of 2025");
    }
    // The generator triples app complaints in June and July: the trend shows it.
    let app = topics.iter().find(|topic| topic["label"].as_str().expect("label").contains("app")).expect("app topic");
    let counts: Vec<u64> = app["trend"].as_array().expect("trend").iter().map(|point| point["count"].as_u64().expect("count")).collect();
    let summer = (counts[5] + counts[6]) as f64 / 2.0;
    let rest = counts.iter().enumerate().filter(|(month, _)| !(5..=6).contains(month)).map(|(_, count)| *count).sum::<u64>() as f64 / 10.0;
    assert!(summer > 2.0 * rest, "{counts:?}");
}

#[test]
fn same_seed_same_topics_and_topics_can_be_given() {
    assert_eq!(report(&["--seed", "3"]), report(&["--seed", "3"]));
    let given = report(&["--topics", "4"]);
    assert_eq!(given["topics"].as_array().expect("topics").len(), 4);
    assert_eq!(given["chosen_by"], "given");
}

#[test]
fn csv_gives_every_text_its_topic_in_order() {
    let corpus = corpus();
    let out = ok(&["topics", corpus.as_str(), "--text-column", "text", "--id-column", "id", "--format", "csv"]);
    let (header, rows) = csv_rows(&out);
    assert_eq!(header, ["row", "id", "compound", "topic", "label"]);
    assert_eq!(rows.len(), 3000);
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row[0], (index + 1).to_string());
        assert_eq!(row[1], (index + 1).to_string());
        let compound: f64 = row[2].parse().expect("compound");
        assert_eq!(row[3].is_empty(), compound > -0.05, "only negative texts get a topic: {row:?}");
        assert_eq!(row[3].is_empty(), row[4].is_empty());
    }
}

#[test]
fn one_text_per_line_and_tiny_inputs() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("texts.txt");
    std::fs::write(&file, "my refund never came\n\nthe app crashed again\nthanks, all good\n").expect("write");
    let report: serde_json::Value = serde_json::from_str(&ok(&["topics", file.to_str().expect("path")])).expect("json");
    assert_eq!(report["texts"], 4);
    assert_eq!(report["grouped"], 2);
    std::fs::write(&file, "").expect("write");
    let report: serde_json::Value = serde_json::from_str(&ok(&["topics", file.to_str().expect("path")])).expect("json");
    assert_eq!(report["topics"].as_array().expect("topics").len(), 0);
}

#[test]
fn bad_input_names_file_line_and_column() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("posts.csv");
    std::fs::write(&file, "id,body\n1,late again\n").expect("write");
    let message = user_error(&["topics", file.to_str().expect("path"), "--text-column", "text"]);
    assert!(message.contains("posts.csv:1: no column \"text\"") && message.contains("body"), "{message}");
    std::fs::write(&file, "id,text,when\n1,delivery late again and no refund,2025-01-02\n2,still no refund and rude staff,last tuesday\n")
        .expect("write");
    let message = user_error(&["topics", file.to_str().expect("path"), "--text-column", "text", "--time-column", "when"]);
    assert!(message.contains("posts.csv:3: column \"when\"") && message.contains("last tuesday"), "{message}");
    let output = rapport(&["topics", file.to_str().expect("path"), "--text-column", "text", "--trend-period", "hour"]);
    assert_eq!(output.status.code(), Some(1));
}

/// `--only inbound=true` reads a conversation export's customer messages alone (the
/// agents' apologies are negative too); every text keeps its input row, a rejected row
/// counted.
#[test]
fn only_reads_the_rows_asked_for_and_rows_keep_their_number() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("tweets.csv");
    let mut content = String::from("id,inbound,text\n");
    for index in 0..40 {
        let (inbound, text) = match index % 4 {
            0 => ("True", "my refund never came, terrible"),
            1 => ("False", "we are so sorry for the trouble, terrible experience"),
            2 => ("true", "the app crashed again, awful"),
            _ => ("False", "sorry to hear that, please DM us about this awful issue"),
        };
        content.push_str(&format!("{index},{inbound},\"{text}\"\n"));
    }
    content.push_str("40,True,\"broken quote\" here\n41,True,\"late delivery again and no refund, horrible\"\n");
    std::fs::write(&file, content).expect("write");
    let path = file.to_str().expect("path");
    let args = ["topics", path, "--text-column", "text", "--id-column", "id", "--max-rejects", "1", "--only", "inbound=TRUE"];
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
    assert_eq!(report["texts"], 21, "20 customer texts and the last row");
    assert_eq!(report["only"]["left_out"], 20);
    assert_eq!(report["only"]["condition"], "inbound = TRUE");
    let assignments = report["assignments"].as_array().expect("assignments");
    assert_eq!(assignments[1]["row"], 3, "the second customer text is the third data row");
    assert_eq!(assignments[20]["id"], "41");
    assert_eq!(assignments[20]["row"], 42, "after a rejected row, rows are still the input's");
    // A value no row holds is said, not just a report of nothing.
    let output = crate::rapport(&["topics", path, "--text-column", "text", "--max-rejects", "1", "--only", "inbound=maybe"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("--only inbound=maybe matched none of the 41 rows read"), "{stderr}");
    let message = user_error(&["topics", path, "--text-column", "text", "--only", "inbound"]);
    assert!(message.contains("COLUMN=VALUE"), "{message}");
    let message = user_error(&["topics", path, "--text-column", "text", "--only", "direction=in"]);
    assert!(message.contains("direction"), "{message}");
    // Without --only, the brand's negative replies are grouped too, and that is said.
    let output = crate::rapport(&["topics", path, "--text-column", "text", "--max-rejects", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("20 of the 41 grouped texts (49%) are the brand's own") && stderr.contains("--only inbound=true"), "{stderr}");
}
