//! `rapport sql`: DataFusion over the workspace's published events and results runs.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use rapport_engine::demo::{BrandDemoRequest, run_brand_demo};
use rapport_engine::sql::{SqlRequest, run_table_name, sql, tables};

fn count(workspace: &std::path::Path, query: &str) -> i64 {
    let batch = sql(&SqlRequest { workspace: workspace.to_path_buf(), query: query.into(), memory_limit: None })
        .unwrap_or_else(|error| panic!("{query}: {error}"));
    assert_eq!(batch.num_rows(), 1, "{query}");
    batch.column(0).as_primitive::<Int64Type>().value(0)
}

/// Every event table and every table of the results runs is queryable; each event table
/// holds exactly the rows its ingest accepted; only the published batches are read (a
/// Parquet file left beside them, as an interrupted ingest would, is not); the run's
/// tables are there under their plain names and as run_<id>_<name>; a bad query is a
/// `bad_query` error naming what is wrong.
#[test]
fn events_and_results_are_tables() {
    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 600, seed: 3, truth_customers: 1 };
    let report = run_brand_demo(&request, &|_| {}).expect("demo");
    let workspace = request.directory.clone();

    for (kind, ingest) in &report.ingests {
        let table = if *kind == rapport_engine::EventKind::Customers { "events.customers".to_string() } else { kind.name().to_string() };
        assert_eq!(count(&workspace, &format!("SELECT COUNT(*) FROM {table}")), ingest.accepted as i64, "{table}");
    }
    // A stray file beside a published batch is not part of the table.
    let purchases = workspace.join("events/purchases");
    let published = std::fs::read_dir(&purchases).expect("dir").next().expect("a batch").expect("entry").path();
    std::fs::copy(&published, purchases.join("999999.parquet")).expect("copy");
    let accepted =
        report.ingests.iter().find(|(kind, _)| *kind == rapport_engine::EventKind::Purchases).expect("purchases").1.accepted as i64;
    assert_eq!(count(&workspace, "SELECT COUNT(*) FROM purchases"), accepted);

    // The results run: the customer table and the breakdowns, plain and by run id.
    let run = report.analysis.run.id.clone();
    assert_eq!(count(&workspace, "SELECT COUNT(*) FROM customers"), 600);
    assert_eq!(count(&workspace, "SELECT COUNT(*) FROM results.customers"), 600);
    assert_eq!(count(&workspace, &format!("SELECT COUNT(*) FROM {}", run_table_name(&run, "customers"))), 600);
    let names: Vec<String> = tables(&workspace).expect("tables").into_iter().map(|table| table.name).collect();
    assert!(count(&workspace, "SELECT COUNT(*) FROM results.programs") > 0, "the programs breakdown");
    assert!(names.contains(&"events.customers".to_string()), "{names:?}");
    for name in ["voice_of_customer", "service", "programs", "regions", "detractor_drivers", "purchases", "interactions"] {
        assert!(names.contains(&name.to_string()), "{name} missing from {names:?}");
        count(&workspace, &format!("SELECT COUNT(*) FROM {name}"));
    }
    // A join across events and results: every customer in the table bought or not.
    let joined = count(
        &workspace,
        "SELECT COUNT(DISTINCT c.customer_id) FROM customers c JOIN purchases p ON p.customer_id = c.customer_id WHERE p.amount > 0",
    );
    assert!(joined > 0 && joined <= 600, "{joined}");

    let error = sql(&SqlRequest { workspace: workspace.clone(), query: "SELECT nope FROM purchases".into(), memory_limit: None })
        .expect_err("bad column");
    assert_eq!(error.code(), "bad_query");
    assert!(error.to_string().contains("nope"), "{error}");
    let error = sql(&SqlRequest { workspace: workspace.clone(), query: "SELEC 1".into(), memory_limit: None }).expect_err("syntax");
    assert_eq!(error.code(), "bad_query");
    let error = sql(&SqlRequest { workspace: workspace.clone(), query: "SELECT * FROM no_such_table".into(), memory_limit: None })
        .expect_err("table");
    assert!(error.to_string().contains("no_such_table") && error.to_string().contains("--tables"), "{error}");
    let error =
        sql(&SqlRequest { workspace: workspace.clone(), query: "SELECT * FROM purchase".into(), memory_limit: None }).expect_err("typo");
    assert!(error.to_string().contains("did you mean `purchases`?"), "{error}");

    // A quantity a customer has none of is null in SQL (NaN inside Rapport), skipped by
    // avg rather than a NaN that poisons it (a customer without purchases: the analysis test).
    assert_eq!(count(&workspace, "SELECT COUNT(*) FROM customers WHERE isnan(p_alive)"), 0);
    let batch = sql(&SqlRequest { workspace, query: "SELECT avg(p_alive) FROM customers".into(), memory_limit: None }).expect("avg");
    let mean = batch.column(0).as_primitive::<arrow::datatypes::Float64Type>().value(0);
    assert!(mean > 0.0 && mean < 1.0, "{mean}");
}

/// The customer summary as a DataFusion plan (`rapport_summary` over the workspace's
/// Parquet files, refunds linked through their orders in the plan) equals the embedded
/// path's: every customer, column and count, for days and weeks, with and without a
/// calibration split, in the workspace's time zone.
#[test]
fn datafusion_summary_equals_the_embedded_one() {
    use rapport_engine::input::WindowSpec;
    use rapport_engine::summary::{Engine, PurchaseSource, SummaryRequest, summarize_on};
    use rapport_engine::{Period, TimeUnit};

    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 3000, seed: 11, truth_customers: 1 };
    run_brand_demo(&request, &|_| {}).expect("demo");
    let workspace = request.directory.clone();
    let summary = |window: WindowSpec, engine: Engine| {
        let request = SummaryRequest { source: PurchaseSource::Workspace(workspace.clone()), window, max_rejects: 0 };
        summarize_on(&request, &engine).unwrap_or_else(|error| panic!("{engine:?}: {error}"))
    };
    let embedded = summary(WindowSpec::default(), Engine::Embedded);
    assert!(embedded.refunds_by_order > 0 && embedded.summary.counts.refunds > 0, "the brand's refunds name their orders");
    let end = rapport_core::time::format_local(embedded.summary.observation_end);
    let calibration_end = rapport_core::time::format_local(embedded.summary.observation_end - 200 * 86_400);
    let windows = [
        WindowSpec::default(),
        WindowSpec { period: Period::Week, time_unit: Some(TimeUnit::Days), ..WindowSpec::default() },
        WindowSpec {
            period: Period::Day,
            time_unit: Some(TimeUnit::Weeks),
            observation_end: Some(end[..10].to_string()),
            calibration_end: Some(calibration_end[..10].to_string()),
            ..WindowSpec::default()
        },
        // An observation end before the last purchases: customers who first bought after
        // it are not seen (nor counted as refund-only).
        WindowSpec { observation_end: Some(calibration_end[..10].to_string()), ..WindowSpec::default() },
    ];
    for window in windows {
        let embedded = summary(window.clone(), Engine::Embedded);
        let planned = summary(window.clone(), Engine::DATAFUSION);
        assert!(embedded.summary.customers.len() > 1000, "{window:?}");
        assert_eq!(planned.summary, embedded.summary, "{window:?}");
        assert_eq!(
            (planned.unlinked, planned.unlinked_refunds, planned.refunds_by_order),
            (embedded.unlinked, embedded.unlinked_refunds, embedded.refunds_by_order),
            "{window:?}"
        );
    }
}

/// A refund made after the observation end is left out, even when the order it names was
/// bought inside the window: by then it had not happened. The embedded path and the plan
/// agree, and one made inside the window still nets against its order's purchase.
#[test]
fn a_refund_after_the_observation_end_is_left_out_on_every_engine() {
    use rapport_engine::input::WindowSpec;
    use rapport_engine::summary::{Engine, PurchaseSource, SummaryRequest, summarize_on};
    use rapport_engine::workspace::{IngestRequest, ingest, init};

    let directory = tempfile::tempdir().expect("temp");
    let workspace = directory.path().join("ws");
    init(&workspace, "Europe/Paris", "EUR").expect("init");
    let path = crate::write(
        directory.path(),
        "purchases.csv",
        "customer_id,order_id,time,amount\n\
         a,A1,2020-01-10 10:00:00,100\n\
         a,A2,2020-01-20 10:00:00,50\n\
         ,A1,2020-01-25 10:00:00,-30\n\
         a,A2,2020-02-10 10:00:00,-20\n\
         b,B1,2020-01-05 10:00:00,40\n\
         b,B2,2020-01-28 10:00:00,60\n\
         b,B3,2020-02-03 10:00:00,70\n",
    );
    let request = IngestRequest {
        workspace: workspace.clone(),
        kind: rapport_engine::EventKind::Purchases,
        input: rapport_engine::input::FileInput { path, ..Default::default() },
        mappings: Vec::new(),
        sets: Vec::new(),
        filter: None,
        max_rejects: 0,
        replace: None,
        profile: None,
    };
    assert_eq!(ingest(&request).expect("ingest").accepted, 7);
    for (end, netted, after) in [(None, 2, 0), (Some("2020-01-31"), 1, 2)] {
        let window = WindowSpec { observation_end: end.map(str::to_string), ..WindowSpec::default() };
        let request = SummaryRequest { source: PurchaseSource::Workspace(workspace.clone()), window, max_rejects: 0 };
        let embedded = summarize_on(&request, &Engine::Embedded).expect("embedded");
        let planned = summarize_on(&request, &Engine::DATAFUSION).expect("datafusion");
        assert_eq!(planned.summary, embedded.summary, "{end:?}");
        assert_eq!(planned.refunds_by_order, embedded.refunds_by_order, "{end:?}");
        assert_eq!(embedded.refunds_by_order, netted, "{end:?}");
        assert_eq!(embedded.summary.counts.after_observation_end, after, "{end:?}");
        let table = &embedded.summary.customers;
        let a = (0..table.len()).find(|&row| table.id(row) == "a").expect("a");
        // One repeat purchase day, 20 January: A2's refund nets against it only without an
        // end (50 - 20); A1's nets against the first day, which is not a repeat.
        let expected = if end.is_some() { 50.0 } else { 30.0 };
        let monetary = table.monetary_value().expect("monetary")[a];
        assert!((monetary - expected).abs() < 1e-9, "{end:?}: {monetary}");
    }
}

/// `clv predict` on DataFusion (the summary a plan, the model fitted here, every customer
/// scored by `rapport_score` carrying the fitted model) equals the embedded path: the same
/// models, and every prediction bit for bit, with and without a holdout, for BG/NBD with
/// Gamma-Gamma (CLV) and for Pareto/NBD. The scratch file the customers travel in is gone
/// afterwards.
#[test]
fn datafusion_scoring_equals_the_embedded_one() {
    use rapport_engine::clv::{ClvSpec, CustomerSource, DiscountPeriod, PredictRequest, predict_on};
    use rapport_engine::input::WindowSpec;
    use rapport_engine::summary::{Engine, PurchaseSource, SummaryRequest};
    use rapport_engine::{FitOptions, ModelKind, MonthDefinition, TimeUnit};

    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 2000, seed: 5, truth_customers: 1 };
    run_brand_demo(&request, &|_| {}).expect("demo");
    let workspace = request.directory.clone();
    let predict = |window: WindowSpec, model: ModelKind, engine: Engine| {
        let request = PredictRequest {
            source: CustomerSource::Purchases(SummaryRequest {
                source: PurchaseSource::Workspace(workspace.clone()),
                window,
                max_rejects: 0,
            }),
            model: Some(model),
            saved: None,
            horizon: 10.0,
            clv: ClvSpec { months: 12, discount_rate: 0.01, discount_period: DiscountPeriod::Month, month: MonthDefinition::Mean },
            options: FitOptions::default(),
        };
        predict_on(&request, &engine).unwrap_or_else(|error| panic!("{engine:?}: {error}"))
    };
    let everything = SummaryRequest { source: PurchaseSource::Workspace(workspace.clone()), window: WindowSpec::default(), max_rejects: 0 };
    let end = rapport_engine::summary::summarize(&everything).expect("summary").summary.observation_end;
    let calibration_end = rapport_core::time::format_local(end - 200 * 86_400)[..10].to_string();
    let windows = [
        WindowSpec { time_unit: Some(TimeUnit::Weeks), ..WindowSpec::default() },
        WindowSpec { time_unit: Some(TimeUnit::Weeks), calibration_end: Some(calibration_end), ..WindowSpec::default() },
    ];
    for window in windows {
        for model in [ModelKind::BgNbd, ModelKind::ParetoNbd] {
            let embedded = predict(window.clone(), model, Engine::Embedded);
            let planned = predict(window.clone(), model, Engine::DATAFUSION);
            // Debug text, so that a NaN standard error equals itself.
            assert_eq!(format!("{:?}", planned.models), format!("{:?}", embedded.models), "{model:?} {window:?}");
            assert_eq!(planned.holdout, embedded.holdout, "{model:?} {window:?}");
            let (planned, embedded) = (planned.customers.to_record_batch(), embedded.customers.to_record_batch());
            assert_eq!(planned.schema(), embedded.schema(), "{model:?} {window:?}");
            assert!(embedded.schema().column_with_name("clv").is_some(), "a CLV per customer");
            for (index, field) in embedded.schema().fields().iter().enumerate() {
                assert_eq!(planned.column(index), embedded.column(index), "{} with {model:?} {window:?}", field.name());
            }
        }
    }
    let scratch: Vec<_> = std::fs::read_dir(&workspace)
        .expect("workspace")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".scratch-"))
        .collect();
    assert!(scratch.is_empty(), "scratch left behind: {scratch:?}");
}

/// `analyze` with its per-customer aggregation on DataFusion (every event kind grouped by
/// customer in plans, the conversations and their tones by Rapport's functions, the
/// lifetime-value summary by `rapport_summary` and the scoring by `rapport_score`) writes
/// the same customer table as the embedded analysis: every customer and column, bit for
/// bit. Beside the generated brand, rows that test the rules: an order's lines at two
/// times, rows naming only an order
/// (taken by the order's earliest purchase when two customers' purchases carry it),
/// blank ids, a reply in the same second as the message, two NPS answers in the same
/// second, two answers of different surveys with one score in the same second (strength's
/// satisfaction reads the later survey type), a referral naming a customer with no
/// events, and events after the end.
#[test]
fn datafusion_analysis_equals_the_embedded_one() {
    use rapport_engine::analyze::{AnalyzeRequest, analyze_on};
    use rapport_engine::summary::Engine;
    use rapport_engine::workspace::{IngestRequest, ingest};

    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 1500, seed: 7, truth_customers: 1 };
    run_brand_demo(&request, &|_| {}).expect("demo");
    let workspace = request.directory.clone();
    let extra = [
        (
            rapport_engine::EventKind::Purchases,
            "event_id,customer_id,order_id,time,amount\n\
             x-p1,edge-a,edge-order,2024-03-01 10:00:00,30.10\n\
             x-p2,edge-b,edge-order,2024-03-02 10:00:00,12.00\n\
             x-p3,edge-a,,2024-03-01 10:00:00,0.20\n\
             x-p4,,edge-order,2024-03-05 10:00:00,-0.10\n\
             x-p5,edge-a,,2099-01-01 10:00:00,99\n\
             x-p6,edge-d,edge-two,2024-03-01 10:47:59,5.00\n\
             x-p7,edge-d,edge-two,2024-03-01 10:48:01,6.00\n\
             x-p8,edge-d,,2024-03-02 09:00:00,7.00\n\
             x-p9,edge-d,,2024-03-02 09:00:00,8.00\n",
        ),
        (
            rapport_engine::EventKind::Interactions,
            "event_id,customer_id,order_id,time,channel,direction,text,agent,resolved,conversation_id\n\
             x-i1,,edge-order,2024-03-06 09:00:00,email,inbound,This is terrible and I am angry,,,\n\
             x-i2,,edge-order,2024-03-06 09:00:00,email,outbound,Sorry about that,ann,true,\n\
             x-i3,edge-c,,2024-03-07 09:00:00,chat,,Awful awful service,,,c-9\n\
             x-i4,edge-c,,2024-03-07 09:05:00,chat,,Thanks a lot that is great,,false,c-9\n\
             x-i5,,no-such-order,2024-03-07 09:00:00,chat,inbound,Hello,,,\n",
        ),
        (
            rapport_engine::EventKind::Surveys,
            "event_id,customer_id,order_id,time,survey_type,score\n\
             x-s1,edge-a,,2024-03-08 12:00:00,nps,3\n\
             x-s2,edge-a,,2024-03-08 12:00:00,NPS,9\n\
             x-s3,,edge-order,2024-03-09 12:00:00,csat,4\n\
             x-s4,edge-e,,2024-02-03 12:00:00,csat,4\n\
             x-s5,edge-e,,2024-02-03 12:00:00,ces,4\n",
        ),
        (
            rapport_engine::EventKind::Engagement,
            "event_id,customer_id,order_id,time,engagement_type,referred_customer_id,rating\n\
             x-e1,edge-b,,2024-03-10 12:00:00,referral,edge-new,\n\
             x-e2,edge-b,,2024-03-10 12:00:00,share,,\n\
             x-e3,,edge-order,2024-03-11 12:00:00,review,,5\n\
             x-e4,edge-c,,2099-03-11 12:00:00,like,,\n\
             x-e5,edge-e,,2024-02-01 23:30:00,review,,3\n\
             x-e6,edge-e,,2024-02-02 08:00:00,retweet,,\n",
        ),
        // ROR's inputs: margins on some rows (and a refund's), program contacts at one time
        // on two channels, rewards naming a program (one before any contact, one for a
        // program the customer never had), costs without a channel.
        (
            rapport_engine::EventKind::Purchases,
            "event_id,customer_id,order_id,time,amount,margin\n\
             x-m1,edge-f,,2024-04-01 10:00:00,40.00,12.50\n\
             x-m2,edge-f,,2024-05-01 10:00:00,20.00,\n\
             x-m3,edge-f,,2024-05-02 10:00:00,-5.00,-1.25\n",
        ),
        (
            rapport_engine::EventKind::Programs,
            "event_id,customer_id,time,program,channel,cost,control_group\n\
             x-g1,edge-f,2024-04-02 10:00:00,edge_program,email,0.10,false\n\
             x-g2,edge-f,2024-04-02 10:00:00,edge_program,sms,0.30,false\n\
             x-g3,edge-f,2024-06-02 10:00:00,edge_program,,,false\n",
        ),
        (
            rapport_engine::EventKind::Costs,
            "event_id,customer_id,time,cost_type,channel,amount,program\n\
             x-c1,edge-f,2024-04-03 10:00:00,reward,email,5.00,edge_program\n\
             x-c2,edge-f,2024-04-01 10:00:00,reward,,2.00,edge_program\n\
             x-c3,edge-f,2024-04-03 10:00:00,reward,chat,1.00,no_such_program\n\
             x-c4,edge-f,2024-04-03 10:00:00,contact,,0.70,\n\
             x-c5,nobody-else,2024-04-03 10:00:00,contact,chat,9.00,\n",
        ),
    ];
    for (index, (kind, content)) in extra.iter().enumerate() {
        let path = crate::write(directory.path(), &format!("extra{index}.csv"), content);
        let request = IngestRequest {
            workspace: workspace.clone(),
            kind: *kind,
            input: rapport_engine::input::FileInput { path, ..Default::default() },
            mappings: Vec::new(),
            sets: Vec::new(),
            filter: None,
            max_rejects: 0,
            replace: None,
            profile: None,
        };
        let report = ingest(&request).unwrap_or_else(|error| panic!("{kind}: {error}"));
        assert_eq!(report.rejected, 0, "{kind}");
    }
    let read = |path: &std::path::Path| {
        let file = std::fs::File::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
        let batches: Vec<_> = reader.map(|batch| batch.expect("batch")).collect();
        arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
    };
    let headlines = std::cell::RefCell::new(Vec::new());
    let analyze = |engine: Engine| {
        let request = AnalyzeRequest { workspace: workspace.clone(), as_of: Some("2025-12-31".into()) };
        let outcome = analyze_on(&request, &engine, &|_| {}).unwrap_or_else(|error| panic!("{engine}: {error}"));
        headlines.borrow_mut().push((outcome.headlines, outcome.skipped, outcome.summary));
        workspace.join("results").join(&outcome.run.id)
    };
    // Every table of the run (the indicator alerts' weekly counts, the matrix, segments, …)
    // is the same; the customer table is checked column by column below. The measures'
    // tables are merged from the partitions' partial sums in another order than the
    // embedded path's, so their floats agree to 1e-9 relative (the tolerance), and
    // so are the sentiment cells (summed by day there, by runs of rows here); everything
    // else bit for bit.
    let measures = [
        "voice_of_customer",
        "service",
        "programs",
        "regions",
        "distance_bands",
        "detractor_drivers",
        "sentiment_by_channel_week",
        "sentiment_baseline",
    ];
    let same_tables = |embedded_run: &std::path::Path, planned_run: &std::path::Path| {
        let mut tables = 0;
        for entry in std::fs::read_dir(embedded_run).expect("run") {
            let name = entry.expect("entry").file_name();
            let text = name.to_string_lossy().into_owned();
            if text.ends_with(".parquet") && name != "customers.parquet" {
                let (planned, embedded) = (read(&planned_run.join(&name)), read(&embedded_run.join(&name)));
                if measures.contains(&text.trim_end_matches(".parquet")) {
                    crate::assert_close_batches(&planned, &embedded, 1e-9, &text);
                } else {
                    assert_eq!(planned, embedded, "{name:?}");
                }
                tables += 1;
            }
        }
        assert!(tables >= 15, "{tables} tables compared");
    };
    // And the headlines (with their intervals), and the ones skipped with the reason.
    let same_headlines = || {
        let mut runs = headlines.borrow_mut();
        let (planned, planned_skipped, planned_summary) = runs.pop().expect("the planned run");
        let (embedded, embedded_skipped, embedded_summary) = runs.pop().expect("the embedded run");
        assert_eq!(planned_skipped, embedded_skipped);
        // What the run says of its inputs: counts and warnings.
        for field in [
            "customers",
            "customers_not_in_customer_file",
            "events_after_as_of",
            "unlinked_events",
            "replies_before_message",
            "warnings",
            "as_of",
        ] {
            assert_eq!(planned_summary[field], embedded_summary[field], "summary.json {field}");
        }
        assert!(
            embedded_summary["unlinked_events"]["costs"].as_u64().is_some_and(|costs| costs > 0),
            "{}",
            embedded_summary["unlinked_events"]
        );
        assert_eq!(planned.keys().collect::<Vec<_>>(), embedded.keys().collect::<Vec<_>>());
        assert!(embedded.len() >= 20, "{} headlines", embedded.len());
        for (name, expected) in &embedded {
            let found = &planned[name];
            assert_eq!((found.n, &found.unit, &found.of), (expected.n, &expected.unit, &expected.of), "{name}");
            for (found, expected) in [
                (found.estimate, expected.estimate),
                (found.lower.unwrap_or(0.0), expected.lower.unwrap_or(0.0)),
                (found.upper.unwrap_or(0.0), expected.upper.unwrap_or(0.0)),
            ] {
                assert!(crate::close(found, expected, 1e-9), "{name}: {found} against {expected}");
            }
        }
    };
    let same_customers = |embedded_run: &std::path::Path, planned_run: &std::path::Path| {
        let (embedded, planned) = (read(&embedded_run.join("customers.parquet")), read(&planned_run.join("customers.parquet")));
        assert_eq!(planned.schema(), embedded.schema());
        for (index, field) in embedded.schema().fields().iter().enumerate() {
            assert_eq!(planned.column(index), embedded.column(index), "{}", field.name());
        }
    };
    // With `[costs] per_contact`, ROR prices each customer's conversations by channel.
    let config = workspace.join("rapport.toml");
    let original = std::fs::read_to_string(&config).expect("config");
    assert!(!original.contains("[costs]"), "the demo's rapport.toml prices no contacts");
    std::fs::write(&config, format!("{original}\n[costs]\nper_contact = {{ email = 1.5, chat = 0.25 }}\n")).expect("write");
    let (embedded_run, planned_run) = (analyze(Engine::Embedded), analyze(Engine::DATAFUSION));
    same_tables(&embedded_run, &planned_run);
    same_headlines();
    same_customers(&embedded_run, &planned_run);
    // Without a limit given, the operators are bounded by an eighth of the machine's
    // memory, and the run says so.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(planned_run.join("run.json")).expect("run.json")).expect("json");
    let default = rapport_engine::summary::default_memory_limit().expect("this machine's memory");
    assert_eq!(run["options"]["memory_limit_bytes"], serde_json::json!(default), "{run}");
    std::fs::write(&config, &original).expect("write");
    // With the operators bounded (they spill past the limit): the same results, and the
    // run says what bound it.
    let bounded = Engine::DATAFUSION.with_memory_limit(Some(1 << 30)).expect("a limit");
    let (embedded_run, planned_run) = (analyze(Engine::Embedded), analyze(bounded));
    same_tables(&embedded_run, &planned_run);
    same_headlines();
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(planned_run.join("run.json")).expect("run.json")).expect("json");
    assert_eq!(run["options"]["memory_limit_bytes"], serde_json::json!(1u64 << 30), "{run}");
    // The watch list compared above names conversations and detractor answers, so the
    // planned signals were read (not only the lapse and the P(alive) drop).
    let watch = read(&embedded_run.join("top_tier_watch.parquet"));
    let reasons =
        arrow::compute::cast(watch.column_by_name("reasons").expect("reasons"), &arrow::datatypes::DataType::Utf8).expect("reasons");
    let reasons: Vec<&str> = (0..watch.num_rows()).map(|row| reasons.as_string::<i32>().value(row)).collect();
    for kind in ["on ", "detractor: NPS"] {
        assert!(reasons.iter().any(|reason| reason.contains(kind)), "no {kind:?} among {reasons:?}");
    }
    // The actions compared above include every built-in rule's, so the playbook's facts
    // and predictable needs were read from the plans, not found empty on both sides.
    let actions = read(&embedded_run.join("actions.parquet"));
    let names = arrow::compute::cast(actions.column_by_name("action").expect("action"), &arrow::datatypes::DataType::Utf8).expect("action");
    let names: std::collections::BTreeSet<&str> = (0..actions.num_rows()).map(|row| names.as_string::<i32>().value(row)).collect();
    for (action, ..) in rapport_action::playbook::DEFAULT_RULES {
        assert!(names.contains(action), "no {action} among {names:?}");
    }
    same_customers(&embedded_run, &planned_run);
    let embedded = read(&embedded_run.join("customers.parquet"));
    assert!(embedded.num_rows() > 1500, "{} customers", embedded.num_rows());
    // Propensity learned and scored (its cut-offs' facts from the plans on the engine),
    // so the propensity tables and columns compared above are not empty on both sides.
    assert!(read(&embedded_run.join("propensity.parquet")).num_rows() >= 2, "propensity's models");
    let scored = embedded.column_by_name("purchase_propensity").expect("purchase_propensity");
    assert!(scored.len() - scored.null_count() > 1000, "{} customers scored", scored.len() - scored.null_count());
    // The edge customers, as the rules say.
    let row = |id: &str| {
        let ids = arrow::compute::cast(embedded.column(0), &arrow::datatypes::DataType::Utf8).expect("ids");
        (0..embedded.num_rows()).find(|&row| ids.as_string::<i32>().value(row) == id).unwrap_or_else(|| panic!("no {id}"))
    };
    let number = |name: &str, id: &str| {
        let column = embedded.column_by_name(name).unwrap_or_else(|| panic!("no {name}"));
        column.as_primitive::<arrow::datatypes::Float64Type>().value(row(id))
    };
    // edge-a: a row naming an order and one naming none are two orders, at one time too;
    // the refund naming the order is theirs; the purchase after the end is not counted.
    assert_eq!(number("purchases", "edge-a"), 2.0);
    // edge-d: an order's lines stamped two seconds apart are one order; rows naming no
    // order at one time are one.
    assert_eq!(number("purchases", "edge-d"), 2.0);
    assert_eq!(number("refunds", "edge-a"), 1.0);
    assert_eq!(number("net_spend", "edge-a"), 30.2);
    assert_eq!(number("last_nps", "edge-a"), 9.0);
    assert_eq!(number("conversations", "edge-a"), 1.0);
    assert_eq!(number("opened_negative", "edge-a"), 1.0);
    assert_eq!(number("recovered", "edge-a"), 1.0);
    assert_eq!(number("reviews", "edge-a"), 1.0);
    assert_eq!((number("conversations", "edge-c"), number("unresolved", "edge-c"), number("recovered", "edge-c")), (1.0, 1.0, 1.0));
    assert_eq!(number("social_engagement", "edge-c"), 0.0);
    // edge-c never bought: no P(alive), no CLV, no days since a purchase — null in the file.
    for name in ["p_alive", "clv", "days_since_last_purchase"] {
        assert!(embedded.column_by_name(name).expect(name).is_null(row("edge-c")), "{name} of edge-c");
    }
    assert_eq!((number("referrals_made", "edge-b"), number("social_engagement", "edge-b")), (1.0, 1.0));
    let referred = embedded.column_by_name("referred").expect("referred").as_boolean().value(row("edge-new"));
    assert!(referred, "the referred customer is in the table");
    // Advocacy: edge-a is a promoter (the latest NPS answer, 9: 25 points) with one review
    // rated 5 (half of the reviews' 25) — an ambassador; edge-e's review is rated 3 (not
    // positive) and a retweet is one of the three shares that fill that part.
    assert_eq!(number("advocacy_score", "edge-a"), 37.5);
    assert!(embedded.column_by_name("ambassador").expect("ambassador").as_boolean().value(row("edge-a")));
    assert!((number("advocacy_score", "edge-e") - 25.0 / 3.0).abs() < 1e-12);
    // Longevity is from the first event of any kind: edge-c's first conversation, edge-e's
    // first engagement (days to the observation end, 2025-12-31 23:59:59 in London).
    assert_eq!(number("longevity_days", "edge-c"), 664.0);
    assert_eq!(number("longevity_days", "edge-e"), 699.0);
    // edge-f's ROR: the margin where a row carries one (12.50 − 1.25), the other row at the
    // brand's margin rate (demo rows carry none, so edge-f's rows set it: 11.25 / 35).
    let rate: f64 = 11.25 / 35.0;
    assert!((number("value_realised", "edge-f") - ((11.25 + 20.0 * rate) * 100.0).round() / 100.0).abs() < 1e-9);
    // Costs: the two program contacts (0.10 + 0.30, the third cost nothing), the reward
    // for the program after its contacts (5.00) and the one before them (2.00), the reward
    // naming a program edge-f never had (1.00), and a contact cost (0.70).
    assert!((number("relationship_cost", "edge-f") - 9.10).abs() < 1e-9, "{}", number("relationship_cost", "edge-f"));
}

/// Where P(alive) says nothing (forty customers who buy like clockwork and never stop), the
/// lapse reads each customer's rhythm of purchase days and the brand's gaps: planned on
/// DataFusion (`rapport_rhythm`), they give the embedded run's watch list and actions, with
/// refunds, zero amounts and a second purchase on one day left out of the days.
#[test]
fn datafusion_lapse_equals_the_embedded_one() {
    use rapport_engine::analyze::{AnalyzeRequest, analyze_on};
    use rapport_engine::summary::Engine;
    use rapport_engine::workspace::{IngestRequest, ingest, init};

    let directory = tempfile::tempdir().expect("temp");
    let workspace = directory.path().join("ws");
    init(&workspace, "UTC", "USD").expect("init");
    let mut purchases = String::from("customer_id,time,amount\n");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let end = chrono::NaiveDate::from_ymd_opt(2025, 6, 30).expect("date");
    for c in 0..40_i64 {
        let mut day = start + chrono::Duration::days(c * 3);
        while day <= end {
            purchases.push_str(&format!("c{c},{day} 10:00:00,{}.00\n", 10 + c % 7));
            day += chrono::Duration::days(7 + c % 13);
        }
    }
    // A weekly buyer silent for 24 days; a refund, a free item and a second order on their
    // last day and after it change none of their purchase days.
    let mut day = start + chrono::Duration::days(200);
    let last = end - chrono::Duration::days(23);
    while day <= last {
        purchases.push_str(&format!("lapsing,{day} 10:00:00,400.00\n"));
        day += chrono::Duration::days(7);
    }
    let last = day - chrono::Duration::days(7);
    purchases.push_str(&format!("lapsing,{last} 18:00:00,3.00\nlapsing,{end} 09:00:00,-400.00\nlapsing,{end} 10:00:00,0.00\n"));
    let path = crate::write(directory.path(), "purchases.csv", &purchases);
    let request = IngestRequest {
        workspace: workspace.clone(),
        kind: rapport_engine::EventKind::Purchases,
        input: rapport_engine::input::FileInput { path, ..Default::default() },
        mappings: Vec::new(),
        sets: Vec::new(),
        filter: None,
        max_rejects: 0,
        replace: None,
        profile: None,
    };
    assert_eq!(ingest(&request).expect("ingest").rejected, 0);
    let analyze = |engine: Engine| {
        let request = AnalyzeRequest { workspace: workspace.clone(), as_of: None };
        let outcome = analyze_on(&request, &engine, &|_| {}).unwrap_or_else(|error| panic!("{engine}: {error}"));
        workspace.join("results").join(&outcome.run.id)
    };
    let read = |path: &std::path::Path| {
        let file = std::fs::File::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
        let schema = builder.schema().clone();
        let batches: Vec<_> = builder.build().expect("reader").map(|batch| batch.expect("batch")).collect();
        arrow::compute::concat_batches(&schema, &batches).expect("concat")
    };
    let (embedded_run, planned_run) = (analyze(Engine::Embedded), analyze(Engine::DATAFUSION));
    for entry in std::fs::read_dir(&embedded_run).expect("run") {
        let name = entry.expect("entry").file_name();
        if name.to_string_lossy().ends_with(".parquet") {
            assert_eq!(read(&planned_run.join(&name)), read(&embedded_run.join(&name)), "{name:?}");
        }
    }
    // The planned run proposes the lapsing customer a win-back, with the lapse's numbers.
    let actions = read(&planned_run.join("actions.parquet"));
    let text = |name: &str| {
        let column = arrow::compute::cast(actions.column_by_name(name).expect(name), &arrow::datatypes::DataType::Utf8).expect("text");
        column.as_string::<i32>().iter().map(|value| value.unwrap_or_default().to_string()).collect::<Vec<_>>()
    };
    let (ids, kinds, reasons) = (text("customer_id"), text("action"), text("reason"));
    let win_back: Vec<usize> = (0..ids.len()).filter(|&row| kinds[row] == "win_back").collect();
    assert_eq!(win_back.iter().map(|&row| ids[row].as_str()).collect::<Vec<_>>(), ["lapsing"], "{kinds:?}");
    let reason = &reasons[win_back[0]];
    assert!(reason.starts_with("no purchase for 24 days: at least as long as 90% of this brand's repeat-purchase gaps"), "{reason}");
    assert!(reason.contains("twice their own usual gap of 7 days"), "{reason}");
}

/// Propensity and the response to programs on a brand large enough for the response's
/// T-learner (30 buyers and 30 non-buyers in each arm of each half of the contacted, the
/// brand of `relationship::response_to_programs_finds_the_customers_who_respond`): their
/// tables and columns are the same from the plans as from the timelines.
#[test]
fn datafusion_propensity_and_response_equal_the_embedded_ones() {
    use rapport_engine::analyze::{AnalyzeRequest, analyze_on};
    use rapport_engine::summary::Engine;

    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 25_000, seed: 5, truth_customers: 1 };
    run_brand_demo(&request, &|_| {}).expect("demo");
    let workspace = request.directory.clone();
    let read = |path: &std::path::Path| {
        let file = std::fs::File::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
        let batches: Vec<_> = reader.map(|batch| batch.expect("batch")).collect();
        arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
    };
    let analyze = |engine: Engine| {
        let request = AnalyzeRequest { workspace: workspace.clone(), as_of: None };
        let outcome = analyze_on(&request, &engine, &|_| {}).unwrap_or_else(|error| panic!("{engine}: {error}"));
        workspace.join("results").join(&outcome.run.id)
    };
    let (embedded_run, planned_run) = (analyze(Engine::Embedded), analyze(Engine::DATAFUSION));
    for name in ["propensity", "propensity_lift", "propensity_calibration", "program_response", "program_response_scores"] {
        let file = format!("{name}.parquet");
        let embedded = read(&embedded_run.join(&file));
        assert!(embedded.num_rows() > 0, "{name} is empty");
        assert_eq!(read(&planned_run.join(&file)), embedded, "{name}");
    }
    let (embedded, planned) = (read(&embedded_run.join("customers.parquet")), read(&planned_run.join("customers.parquet")));
    for name in ["purchase_propensity", "churn_propensity", "purchase_probability_btyd", "best_program", "best_program_response"] {
        let column = embedded.column_by_name(name).unwrap_or_else(|| panic!("no {name}"));
        assert!(column.len() - column.null_count() > 1000, "{name}: {} values", column.len() - column.null_count());
        assert_eq!(planned.column_by_name(name), Some(column), "{name}");
    }
}
