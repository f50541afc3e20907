//! The analysis of a whole brand: `analyze` over a generated brand's workspace.

use arrow::array::AsArray;
use rapport_engine::SentimentModel;

/// Every customer text of the synthetic brand is read by the service model with the
/// tone it was planted with, so recovery measured on tones targets exactly what the
/// ground truth counts.
#[test]
fn the_service_model_reads_every_planted_tone() {
    let mut wrong = Vec::new();
    for (text, tone) in rapport_synth::text::planted() {
        let compound = SentimentModel::Service.polarity_scores(text).compound;
        let read = rapport_measures::Tone::of_compound(compound);
        if read != tone {
            wrong.push(format!("{text:?}: planted {tone:?}, read {read:?} ({compound:.3})"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

use rapport_engine::analyze::load_timelines;
use rapport_engine::demo::{BrandDemoRequest, run_brand_demo};
use rapport_measures::Timeline;
use rapport_synth::story::story;

const HEADLINES: [&str; 15] = [
    "nps",
    "csat",
    "ces",
    "first_response_hours_median",
    "resolution_rate",
    "recovery_rate",
    "deflection_rate",
    "engagement_basket_effect",
    "engagement_frequency_effect",
    "bad_experience_churn_effect",
    "recovered_spend_effect",
    "recovered_retention_effect",
    "referred_customer_value",
    "uplift_spring_winback",
    "uplift_autumn_voucher",
];

fn canonical(mut timelines: Vec<Timeline>) -> Vec<Timeline> {
    for timeline in &mut timelines {
        timeline.conversations.sort_by(|a, b| (a.start, &a.channel).cmp(&(b.start, &b.channel)));
        // Complaint topics are found by the analysis; the planted timelines have none.
        timeline.conversations.iter_mut().for_each(|conversation| conversation.topic = None);
        timeline.engagement.sort_by(|a, b| (a.time, format!("{:?}", a.kind)).cmp(&(b.time, format!("{:?}", b.kind))));
    }
    timelines
}

/// The whole pipeline — generated files, ingest, timelines — reproduces the planted
/// stories exactly, so the analysis estimates what the ground truth counts.
#[test]
fn analysis_reads_back_exactly_the_planted_timelines() {
    let directory = tempfile::tempdir().expect("temp");
    let customers = 1_200;
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers, seed: 11, truth_customers: 20_000 };
    let report = run_brand_demo(&request, &|_| {}).expect("demo");
    for (kind, ingest) in &report.ingests {
        assert_eq!(ingest.rejected, 0, "{kind}: {:?}", ingest.first_rejects);
    }
    let workspace = rapport_store::workspace::Workspace::open(&request.directory).expect("open");
    let loaded = load_timelines(&workspace, Some("2025-12-31"), &|_| {}).expect("timelines");
    let zone = "Europe/London".parse().expect("zone");
    let made = rapport_synth::referrals_made(11, customers);
    let expected: Vec<Timeline> = (0..customers)
        .map(|index| {
            let mut timeline = story(11, index, customers).timeline(zone);
            rapport_synth::add_referrals(&mut timeline, made.get(&index).map_or(&[], Vec::as_slice));
            timeline
        })
        .collect();
    let (actual, expected) = (canonical(loaded.timelines), canonical(expected));
    assert_eq!(actual.len(), expected.len());
    for (actual, expected) in actual.iter().zip(&expected) {
        assert_eq!(actual, expected, "customer {}", expected.customer);
    }

    // Every headline is estimated, with an interval and a sample, and the truth names it.
    let summary = &report.analysis.summary;
    for name in HEADLINES {
        let headline = &summary["headline"][name];
        assert!(headline["estimate"].is_f64(), "{name}: {summary:#}");
        assert!(
            headline["lower"].as_f64() <= headline["estimate"].as_f64() && headline["estimate"].as_f64() <= headline["upper"].as_f64(),
            "{name}: {headline}"
        );
        assert!(headline["n"].as_u64().is_some_and(|n| n > 0), "{name}");
        assert!(report.generated.ground_truth.truth.contains_key(name), "truth lacks {name}");
    }
    let run = request.directory.join("results").join(report.analysis.run.id.as_str());
    for file in [
        "summary.json",
        "customers.parquet",
        "voice_of_customer.parquet",
        "service.parquet",
        "programs.parquet",
        "regions.parquet",
        "sentiment_by_channel_week.parquet",
        "complaint_topics.parquet",
        "detractor_drivers.parquet",
        "tracking.parquet",
    ] {
        assert!(run.join(file).is_file(), "{file} missing from the run");
    }

    // The tracking plot: cumulative repeat purchase days never fall, never pass the
    // customers' repeat days (lifetimes' frequency) to the end, and the fit, which is
    // right for this brand, ends within 10% of what happened.
    let tracking = rapport_store::input::read_parquet_file(&run.join("tracking.parquet")).expect("tracking");
    let actual: Vec<u64> =
        tracking.column_by_name("actual").expect("actual").as_primitive::<arrow::datatypes::UInt64Type>().values().to_vec();
    let expected = tracking.column_by_name("expected").expect("expected").as_primitive::<arrow::datatypes::Float64Type>().values().to_vec();
    assert!(actual.windows(2).all(|pair| pair[0] <= pair[1]) && expected.windows(2).all(|pair| pair[0] <= pair[1] + 1e-9));
    let customers = rapport_store::input::read_parquet_file(&run.join("customers.parquet")).expect("customers");
    let frequency: f64 = customers
        .column_by_name("frequency")
        .expect("frequency")
        .as_primitive::<arrow::datatypes::Float64Type>()
        .iter()
        .flatten()
        .filter(|value| value.is_finite())
        .sum();
    let (last, predicted) = (*actual.last().expect("points") as f64, *expected.last().expect("points"));
    assert!(last <= frequency && last > 0.9 * frequency, "actual {last} against {frequency} repeat days");
    assert!((predicted - last).abs() < 0.1 * last, "expected {predicted} against actual {last}");
}

/// The ground truth and the analysis are the same definitions over the same stories:
/// a brand drawn with the truth's own seed, at the truth's size, is analysed (from its
/// written files, through ingest) to exactly the truth, headline by headline. What is
/// left between a brand's estimate and the truth is then only sampling.
#[test]
fn the_truth_seed_brand_is_analysed_to_exactly_the_truth() {
    let directory = tempfile::tempdir().expect("temp");
    let customers = 1_500;
    let request = BrandDemoRequest {
        directory: directory.path().join("demo"),
        customers,
        seed: rapport_synth::TRUTH_SEED,
        truth_customers: customers,
    };
    let report = run_brand_demo(&request, &|_| {}).expect("demo");
    let truth = &report.generated.ground_truth.truth;
    assert!(truth.len() >= HEADLINES.len(), "{truth:?}");
    for (name, value) in truth {
        let estimate = report.analysis.headlines.get(name).unwrap_or_else(|| panic!("{name} not estimated")).estimate;
        assert!((estimate - value).abs() <= 1e-9 * value.abs().max(1.0), "{name}: estimate {estimate}, truth {value}");
    }
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// A workspace `name` under `directory` (default settings) with each CSV text ingested
/// as its kind, none of its rows rejected.
fn workspace_of(directory: &std::path::Path, name: &str, files: &[(rapport_core::event::EventKind, &str)]) -> std::path::PathBuf {
    use rapport_store::input::InputSpec;
    use rapport_store::workspace::{IngestOptions, Workspace};
    let root = directory.join(name);
    let mut workspace = Workspace::init(&root, rapport_core::config::WorkspaceConfig::default()).expect("init");
    for (index, (kind, content)) in files.iter().enumerate() {
        let path = crate::write(directory, &format!("{name}-{index}.csv"), content);
        let options = IngestOptions { input: InputSpec { path, ..InputSpec::default() }, ..IngestOptions::default() };
        let report = workspace.ingest(*kind, &options).expect("ingest");
        assert_eq!(report.rejected, 0, "{:?}", report.first_rejects);
    }
    root
}

/// Odd data, each by its written rule: a survey out of range is rejected and counted in
/// the run; a survey with no touchpoint is grouped under "(none)"; a customer missing
/// from the customers file is analysed and counted; a conversation with no reply has no
/// response time; a reply stamped before the message is not a response; a workspace
/// with only surveys and conversations gets those measures and lists what it skipped.
#[test]
fn odd_data_follows_the_written_rules() {
    use rapport_engine::analyze::{AnalyzeRequest, analyze};
    use rapport_store::input::InputSpec;
    use rapport_store::workspace::{IngestOptions, Workspace};
    let directory = tempfile::tempdir().expect("temp");
    let root = directory.path().join("ws");
    let mut workspace = Workspace::init(&root, rapport_core::config::WorkspaceConfig::default()).expect("init");
    let files = directory.path();
    write(&files.join("customers.csv"), "customer_id,region\nc1,North\nc2,North\nc3,Fair Isle\n");
    write(
        &files.join("surveys.csv"),
        "customer_id,time,survey_type,score,touchpoint\r\nc1,2025-03-01,nps,10,store\r\nc2,2025-03-02,nps,3,\r\nc3,2025-03-03,nps,11,store\r\nc3,2025-04-03,nps,9,store\r\nc9,2025-04-04,nps,8,app\r\n",
    );
    write(
        &files.join("interactions.csv"),
        "customer_id,time,conversation_id,channel,direction,text,agent,resolved\n\
         c1,2025-03-01T10:00:00Z,k1,email,inbound,\"My order is late,\nand nobody answers. Terrible.\",,\n\
         c2,2025-03-01T09:59:00Z,k2,chat,outbound,Hello,Ana,\n\
         c2,2025-03-01T10:00:00Z,k2,chat,inbound,Where is my parcel? This is awful.,,\n\
         c2,2025-03-01T10:30:00Z,k2,chat,outbound,Sorted for you,Ana,true\n",
    );
    let ingest = |workspace: &mut Workspace, kind: rapport_core::event::EventKind, file: &str, max_rejects: u64| {
        let options =
            IngestOptions { input: InputSpec { path: files.join(file), ..InputSpec::default() }, max_rejects, ..IngestOptions::default() };
        workspace.ingest(kind, &options).expect("ingest")
    };
    ingest(&mut workspace, rapport_core::event::EventKind::Customers, "customers.csv", 0);
    let surveys = ingest(&mut workspace, rapport_core::event::EventKind::Surveys, "surveys.csv", 1);
    assert_eq!((surveys.accepted, surveys.rejected), (4, 1));
    ingest(&mut workspace, rapport_core::event::EventKind::Interactions, "interactions.csv", 0);

    let outcome = analyze(&AnalyzeRequest { workspace: root.clone(), as_of: None }, &|_| {}).expect("analyze");
    let summary = &outcome.summary;
    assert_eq!(summary["rejected_rows"], 1);
    assert_eq!(summary["customers_not_in_customer_file"], 1);
    assert_eq!(summary["as_of"], "2025-04-04T23:59:59");
    let nps = &outcome.headlines["nps"];
    assert_eq!(nps.n, 4);
    assert!(nps.lower.is_some() && nps.upper.is_some(), "a small sample still has its interval");
    // One conversation without a reply, one whose early "reply" does not count.
    let response = &outcome.headlines["first_response_hours_median"];
    assert_eq!(response.n, 1);
    assert!((response.estimate - 0.5).abs() < 1e-9, "{response:?}");
    assert_eq!(outcome.headlines["resolution_rate"].n, 2);
    for skipped in ["csat", "ces", "engagement_basket_effect", "referred_customer_value", "lifetime_value"] {
        assert!(outcome.skipped.contains_key(skipped), "{skipped} not listed as skipped: {:?}", outcome.skipped);
    }
    // The VoC breakdown names the answer with no touchpoint and the three-customer region.
    let run = root.join("results").join(&outcome.run.id);
    let file = std::fs::File::open(run.join("voice_of_customer.parquet")).expect("voc");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    let mut values = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let column = batch.column_by_name("value").expect("value");
        let strings = arrow::array::AsArray::as_string::<i32>(column);
        values.extend(strings.iter().flatten().map(str::to_string));
    }
    assert!(values.contains(&"(none)".to_string()) && values.contains(&"Fair Isle".to_string()), "{values:?}");
    assert_eq!(summary["warnings"], serde_json::json!([]));

    // An observation end long after the data is allowed, and said.
    let late = analyze(&AnalyzeRequest { workspace: root.clone(), as_of: Some("2025-06-30".into()) }, &|_| {}).expect("analyze");
    let warnings = late.summary["warnings"].as_array().expect("warnings");
    assert!(warnings.len() == 1 && warnings[0].as_str().is_some_and(|text| text.contains("87 days after the last event")), "{warnings:?}");
}

/// Purchases where nobody came back: the lifetime-value fit is skipped with the reason
/// (BG/NBD is not identified without repeat buyers) rather than giving everyone
/// P(alive) = 1, its columns left blank; an order's line items (one time) count as one
/// purchase.
#[test]
fn no_repeat_buyers_no_lifetime_value_and_line_items_count_once() {
    use arrow::array::Array;
    use rapport_engine::analyze::{AnalyzeRequest, analyze};
    use rapport_store::input::InputSpec;
    use rapport_store::workspace::{IngestOptions, Workspace};
    let directory = tempfile::tempdir().expect("temp");
    let root = directory.path().join("ws");
    let mut workspace = Workspace::init(&root, rapport_core::config::WorkspaceConfig::default()).expect("init");
    let mut csv = String::from("customer_id,order_id,time,amount\n");
    for customer in 0..12 {
        for line in 0..3 {
            csv.push_str(&format!("c{customer},o{customer},2025-0{}-0{}T12:00:00Z,{}.50\n", 1 + customer % 9, 1 + customer % 7, 10 + line));
        }
        // A two-line refund, the same day.
        for _ in 0..2 {
            csv.push_str(&format!("c{customer},o{customer},2025-0{}-0{}T18:00:00Z,-1\n", 1 + customer % 9, 1 + customer % 7));
        }
    }
    let file = directory.path().join("purchases.csv");
    write(&file, &csv);
    let options = IngestOptions { input: InputSpec { path: file, ..InputSpec::default() }, ..IngestOptions::default() };
    let report = workspace.ingest(rapport_core::event::EventKind::Purchases, &options).expect("ingest");
    assert_eq!(report.accepted, 60);
    let outcome = analyze(&AnalyzeRequest { workspace: root.clone(), as_of: None }, &|_| {}).expect("analyze");
    let reason = outcome.skipped.get("lifetime_value").expect("lifetime value skipped");
    assert!(reason.contains("0 customers bought on a second day"), "{reason}");
    let file = std::fs::File::open(root.join("results").join(&outcome.run.id).join("customers.parquet")).expect("customers");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    for batch in reader {
        let batch = batch.expect("batch");
        // The lifetime-value columns are there (a saved query reads them on any brand):
        // blank without the fit, the summary's frequency still filled.
        let p_alive = batch.column_by_name("p_alive").expect("p_alive");
        assert_eq!(p_alive.null_count(), p_alive.len());
        for name in ["clv", "expected_purchases_52_weeks", "expected_average_spend", "predicted_spend_52_weeks"] {
            let column = batch.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(column.null_count(), column.len(), "{name}");
        }
        let frequency =
            arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(batch.column_by_name("frequency").expect("frequency"));
        assert!(frequency.iter().all(|count| count == Some(0.0)), "{frequency:?}");
        let purchases =
            arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(batch.column_by_name("purchases").expect("purchases"));
        assert!(purchases.iter().all(|count| count == Some(1.0)), "{purchases:?}");
        let refunds =
            arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(batch.column_by_name("refunds").expect("refunds"));
        assert!(refunds.iter().all(|count| count == Some(1.0)), "{refunds:?}");
    }
}

/// A real export (NHS Friends and Family Test answers, MIT licence; provenance in
/// `tests/data/nhs_fft/PROVENANCE.md`), mapped in `rapport.toml`: computed score (the
/// FFT's 1 = very good … 5 = very poor becomes CSAT's 5 … 1), a constant survey type,
/// a filter (first question, answers 1–5), columns with spaces, quoted multi-line
/// comments, CRLF line ends, blank touchpoints, a day-first time format that rejects
/// the month-first dates. Expected values from Python's csv module and strptime over
/// the same file: 146 rows filtered, 8 rejected, 136 answers, 105 of them very good or
/// good (77.2%).
#[test]
fn a_real_survey_export_mapped_in_rapport_toml() {
    use rapport_engine::analyze::{AnalyzeRequest, analyze};
    use rapport_store::input::InputSpec;
    use rapport_store::workspace::{IngestOptions, Workspace};
    let directory = tempfile::tempdir().expect("temp");
    let root = directory.path().join("ws");
    let config: rapport_core::config::WorkspaceConfig = toml::from_str(
        r#"
        version = 1
        timezone = "Europe/London"
        currency = "GBP"
        [mapping.surveys]
        event_id = "Comment ID"
        customer_id = "Respondent ID"
        time = "Date"
        score = '= 6 - "FFT categorical answer"'
        comment = "FFT answer"
        touchpoint = "Service type 1"
        stage = "Trust"
        [set.surveys]
        survey_type = "csat"
        [filter]
        surveys = '''"Comment ID" LIKE '%Q1' AND "FFT categorical answer" BETWEEN 1 AND 5'''
        [time_format]
        surveys = "%d/%m/%Y"
        "#,
    )
    .expect("config");
    let mut workspace = Workspace::init(&root, config).expect("init");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nhs_fft/nhs_fft_patient_feedback.csv");
    let options = IngestOptions { input: InputSpec { path: file, ..InputSpec::default() }, max_rejects: 20, ..IngestOptions::default() };
    let report = workspace.ingest(rapport_core::event::EventKind::Surveys, &options).expect("ingest");
    assert_eq!((report.accepted, report.rejected, report.filtered, report.duplicates), (136, 8, 146, 0), "{:?}", report.first_rejects);
    assert!(report.first_rejects.iter().all(|reject| reject.column == "Date"), "{:?}", report.first_rejects);

    let outcome = analyze(&AnalyzeRequest { workspace: root, as_of: None }, &|_| {}).expect("analyze");
    let csat = &outcome.headlines["csat"];
    assert_eq!(csat.n, 136);
    assert!((csat.estimate - 100.0 * 105.0 / 136.0).abs() < 1e-9, "{csat:?}");
    assert_eq!(outcome.summary["rejected_rows"], 8);
    assert_eq!(outcome.summary["as_of"], "2022-12-02T23:59:59");
    assert!(outcome.skipped.contains_key("nps") && outcome.skipped.contains_key("resolution_rate"));
}

/// Purchases that end a year before the conversations (an old purchases export beside a
/// current support one): the run says so and how to analyse up to the purchases; and
/// with no interaction row saying whether its conversation was resolved, the service
/// breakdown has no resolution rate (it is not 0%).
#[test]
fn purchases_ending_early_are_said_and_unstated_resolution_is_no_rate() {
    use arrow::array::Array;
    use rapport_core::event::EventKind;
    use rapport_engine::analyze::{AnalyzeRequest, analyze};
    let directory = tempfile::tempdir().expect("temp");
    let mut purchases = String::from("customer_id,time,amount\n");
    let mut interactions = String::from("customer_id,conversation_id,time,channel,direction,text,agent\n");
    for c in 0..30 {
        purchases.push_str(&format!("c{c},2024-0{}-1{} 10:00:00,{}.50\n", 1 + c % 6, c % 9, 10 + c));
        purchases.push_str(&format!("c{c},2024-1{}-0{} 10:00:00,{}.00\n", c % 3, 1 + c % 8, 5 + c));
        interactions.push_str(&format!("c{c},k{c},2025-0{}-1{} 09:00:00,chat,inbound,Where is my parcel?,\n", 1 + c % 6, c % 9));
        interactions.push_str(&format!("c{c},k{c},2025-0{}-1{} 09:30:00,chat,outbound,On its way,ann\n", 1 + c % 6, c % 9));
    }
    let root = workspace_of(directory.path(), "ws", &[(EventKind::Purchases, &purchases), (EventKind::Interactions, &interactions)]);
    let outcome = analyze(&AnalyzeRequest { workspace: root.clone(), as_of: None }, &|_| {}).expect("analyze");
    let warnings = outcome.summary["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .filter_map(|w| w.as_str())
            .any(|w| w.starts_with("the last purchase (2024-12-08) is ") && w.contains("analyse up to it with --as-of 2024-12-08")),
        "{warnings:?}"
    );
    assert!(outcome.skipped.contains_key("resolution_rate"));
    let file = std::fs::File::open(root.join("results").join(&outcome.run.id).join("service.parquet")).expect("service");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    let mut rates = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let column = batch.column_by_name("resolution_rate").expect("resolution_rate");
        let values = column.as_primitive::<arrow::datatypes::Float64Type>();
        rates.extend((0..values.len()).map(|row| if values.is_null(row) { f64::NAN } else { values.value(row) }));
    }
    assert!(!rates.is_empty() && rates.iter().all(|rate| rate.is_nan()), "{rates:?}");
}

/// An analysis as of a date finds its complaint topics in the messages up to that date,
/// as every other measure: none of the negative messages after it.
#[test]
fn complaints_stop_at_the_observation_end() {
    use rapport_engine::analyze::{AnalyzeRequest, analyze};
    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 1500, seed: 11, truth_customers: 1 };
    run_brand_demo(&request, &|_| {}).expect("demo");
    let root = request.directory.clone();
    let outcome = analyze(&AnalyzeRequest { workspace: root.clone(), as_of: Some("2024-06-30".into()) }, &|_| {}).expect("analyze");
    let file = std::fs::File::open(root.join("results").join(&outcome.run.id).join("complaint_messages.parquet")).expect("messages");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    let mut times = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        times.extend(batch.column_by_name("time").expect("time").as_string::<i32>().iter().flatten().map(str::to_string));
    }
    assert!(times.len() >= 20, "{} complaint messages", times.len());
    let late: Vec<&String> = times.iter().filter(|time| time.as_str() > "2024-06-30T23:59:59").collect();
    assert!(late.is_empty(), "{} of {} after the observation end: {:?}", late.len(), times.len(), &late[..late.len().min(3)]);
}

/// A social export mapped with `customer_id` = the tweet's author (as Kaggle's "Customer
/// Support on Twitter" export reads): each brand becomes a customer who never wrote, its
/// replies answer no one, and every complaint is one tweet. The run says what happened
/// and how to map it, and gives no recovery rate (none could show), not 0%.
#[test]
fn brand_replies_mapped_as_customers_are_said_and_recovery_is_no_rate() {
    use rapport_core::event::EventKind;
    use rapport_engine::analyze::{AnalyzeRequest, analyze};
    let directory = tempfile::tempdir().expect("temp");
    let mut tweets = String::from("customer_id,conversation_id,time,channel,direction,text\n");
    for c in 0..40 {
        let (brand, day) = (if c % 2 == 0 { "AcmeHelp" } else { "ShopCares" }, 10 + c % 15);
        tweets.push_str(&format!("{c},{c},2025-03-{day} 09:00:00,social,inbound,my order is late and this is awful\n"));
        tweets.push_str(&format!("{brand},{c},2025-03-{day} 09:20:00,social,outbound,Sorry to hear that! Please DM us.\n"));
    }
    let root = workspace_of(directory.path(), "ws", &[(EventKind::Interactions, &tweets)]);
    let outcome = analyze(&AnalyzeRequest { workspace: root, as_of: Some("2025-03-31".into()) }, &|_| {}).expect("analyze");
    let warnings: Vec<&str> = outcome.summary["warnings"].as_array().expect("warnings").iter().filter_map(|w| w.as_str()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("2 customer(s) whose interaction rows are all outbound hold 40 of the 40 outbound rows (100%")
                && w.contains("\"AcmeHelp\", \"ShopCares\"")),
        "{warnings:?}"
    );
    assert!(outcome.skipped["recovery_rate"].starts_with("none of the 40 conversations that opened negative"), "{:?}", outcome.skipped);

    // One customer writes again: a recovery rate over the 40, and a word that only 1 of
    // them could show one.
    tweets.push_str("0,0,2025-03-10 10:00:00,social,inbound,thanks so much that fixed it\n");
    let root = workspace_of(directory.path(), "ws2", &[(EventKind::Interactions, &tweets)]);
    let outcome = analyze(&AnalyzeRequest { workspace: root, as_of: Some("2025-03-31".into()) }, &|_| {}).expect("analyze");
    assert_eq!(outcome.headlines["recovery_rate"].n, 40);
    let warnings: Vec<&str> = outcome.summary["warnings"].as_array().expect("warnings").iter().filter_map(|w| w.as_str()).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("only 1 of the 40 conversations that opened negative could show a recovery")),
        "{warnings:?}"
    );
}
