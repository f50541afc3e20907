//! What each subcommand does: parse options, call the engine, print.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use rapport_core::config::WorkspaceConfig;
use rapport_core::event::EventKind;
use rapport_core::summary::SummaryOptions;
use rapport_core::time::{Period, TimeFormat, TimeUnit, Zone, parse_end_of};
use rapport_engine::sentiment::SentimentModel;
use rapport_engine::summary::{PurchaseSource, SummaryRequest, summarize};
use rapport_engine::table::{Column, OutputFormat, Table};
use rapport_engine::topics::Layout;
use rapport_store::input::{InputSpec, Rejected};
use rapport_store::workspace::{IngestOptions, Workspace};

use crate::args::{
    Cli, ClvCommand, ClvInput, Command, Format, ModelArg, ReadArgs, SentimentArgs, SentimentOutput, TopicsArgs, TopicsOutput,
    TransactionColumns, WindowArgs,
};
use rapport_engine::clv::{self, ModelInput, ModelKind, PredictOptions};
use rapport_models::{ClvOptions, FittedModel};

pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Demo(args) => demo(&args.workspace, args.format, quiet),
        Command::Clv(command) => clv(command, quiet),
        Command::Sentiment(args) => sentiment(&args, quiet),
        Command::Topics(args) => topics(&args, quiet),
        Command::Init(args) => {
            let config = WorkspaceConfig {
                timezone: args.timezone.parse::<Zone>()?.to_string(),
                currency: args.currency.to_uppercase(),
                ..WorkspaceConfig::default()
            };
            Workspace::init(&args.directory, config)?;
            if !quiet {
                eprintln!("created workspace {}", args.directory.display());
            }
            Ok(())
        }
        Command::Ingest(args) => {
            let kind: EventKind = args.kind.parse()?;
            let mut workspace = Workspace::open(&args.workspace)?;
            let mut options =
                IngestOptions { input: input_spec(&args.file, &args.read)?, max_rejects: args.max_rejects, ..IngestOptions::default() };
            for mapping in &args.mappings {
                let Some((field, column)) = mapping.split_once('=') else {
                    bail!("--map {mapping:?}: expected FIELD=COLUMN, e.g. --map customer_id=client")
                };
                if !kind.fields().iter().any(|spec| spec.name == field) {
                    let names: Vec<_> = kind.fields().iter().map(|spec| spec.name).collect();
                    bail!("--map {mapping:?}: {kind} have no field {field:?}; fields are {}", names.join(", "));
                }
                options.mapping.insert(field.to_string(), column.to_string());
            }
            options.time_format = args.read.time_format.as_deref().map(str::parse).transpose()?;
            let progress = spinner(quiet, format!("ingesting {}", args.file.display()));
            let report = workspace.ingest(kind, &options);
            progress.finish_and_clear();
            let report = report?;
            for rejected in &report.first_rejects {
                eprintln!("rejected {rejected}");
            }
            if let Some(file) = report.batch.as_ref().and_then(|batch| batch.quarantine_file.as_ref()) {
                eprintln!("{} rejected row(s) kept in {}", report.rejected, workspace.root().join(file).display());
            }
            let mut table = Table::default();
            table.push("kind", Column::Text(vec![kind.to_string()]));
            table.push("accepted", Column::Count(vec![report.accepted]));
            table.push("rejected", Column::Count(vec![report.rejected]));
            table.push("duplicates", Column::Count(vec![report.duplicates]));
            table.push(
                "batch",
                Column::Text(vec![report.batch.as_ref().map_or_else(|| "(nothing new)".to_string(), |batch| format!("{:06}", batch.id))]),
            );
            emit(&table, args.format, None)
        }
        Command::Summary(args) => {
            let options = window_options(&args.window, args.columns.amount_column.is_some() || args.workspace.is_some())?;
            let zone: Zone = args.window.timezone.parse()?;
            let source = match (&args.workspace, &args.file) {
                (Some(workspace), _) => PurchaseSource::Workspace(workspace.clone()),
                (None, Some(file)) => file_source(file, &args.read, &args.columns)?,
                (None, None) => bail!("give a transactions FILE or --workspace DIR"),
            };
            let request = SummaryRequest { source, options, zone, max_rejects: args.max_rejects };
            let progress = spinner(quiet, "summarising".to_string());
            let outcome = summarize(&request);
            progress.finish_and_clear();
            let outcome = outcome?;
            report_rejects(&outcome.rejected, args.rejects.as_deref(), quiet)?;
            let counts = outcome.table.counts;
            if !quiet {
                eprintln!(
                    "{} rows → {} customers ({} refunds, {} after the observation end, {} rejected)",
                    counts.rows,
                    outcome.table.customers.len(),
                    counts.refunds,
                    counts.after_observation_end,
                    outcome.rejected.len()
                );
            }
            let started = std::time::Instant::now();
            let table = rapport_engine::into_summary_table(outcome.table);
            let written = emit(&table, args.format, args.output.as_deref());
            // The process ends next: the operating system takes the memory back at once,
            // where freeing a million ids one by one took tens of milliseconds.
            std::mem::forget(table);
            if std::env::var_os("RAPPORT_TIMINGS").is_some() {
                eprintln!("write {:?}", started.elapsed());
            }
            written
        }
    }
}

fn clv_input(input: &ClvInput, quiet: bool) -> Result<ModelInput> {
    if let Some(path) = &input.summary {
        let mut model_input = ModelInput::from_csv(path)?;
        model_input.time_unit = input.window.time_unit.clone();
        return Ok(model_input);
    }
    let Some(file) = &input.transactions else { bail!("give a transactions FILE or --summary FILE") };
    let options = window_options(&input.window, input.columns.amount_column.is_some())?;
    let request = SummaryRequest {
        source: file_source(file, &input.read, &input.columns)?,
        options,
        zone: input.window.timezone.parse()?,
        max_rejects: input.max_rejects,
    };
    let outcome = summarize(&request)?;
    report_rejects(&outcome.rejected, None, quiet)?;
    Ok(ModelInput::from_summary(&outcome.table))
}

fn clv(command: ClvCommand, quiet: bool) -> Result<()> {
    match command {
        ClvCommand::Fit(args) => {
            let kind: ModelKind = args.input.model.parse()?;
            let input = clv_input(&args.input, quiet)?;
            let progress = spinner(quiet, format!("fitting {} on {} customers", args.input.model, input.rows.len()));
            let model = clv::fit(kind, &input);
            progress.finish_and_clear();
            let model = model?;
            if let Some(path) = &args.save {
                std::fs::write(path, model.to_json(input.time_unit.as_deref().unwrap_or("unknown")))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            let json = clv::fit_json(&model);
            match args.format {
                Format::Json | Format::Jsonl => {
                    let mut out = std::io::stdout().lock();
                    serde_json::to_writer_pretty(&mut out, &json)?;
                    writeln!(out)?;
                    Ok(())
                }
                format => {
                    let report = model.report();
                    let mut table = Table::default();
                    table.push("parameter", Column::Text(report.names.clone()));
                    table.push("estimate", Column::Float(report.params.clone()));
                    table.push("std_error", Column::Float(report.std_errors.clone()));
                    table.push("ci95_low", Column::Float(report.intervals.iter().map(|interval| interval.0).collect()));
                    table.push("ci95_high", Column::Float(report.intervals.iter().map(|interval| interval.1).collect()));
                    if !quiet {
                        eprintln!(
                            "{}: log-likelihood {:.4}, {} customers, converged: {}, {} iterations",
                            report.model, report.log_likelihood, report.n_customers, report.converged, report.iterations
                        );
                    }
                    emit(&table, format, None)
                }
            }
        }
        ClvCommand::Track(args) => {
            let model = match &args.params {
                Some(path) => load_model(path)?,
                None => {
                    if args.window.calibration_end.is_none() {
                        bail!("give --calibration-end (the model is fitted on the calibration period) or --params FITTED.json");
                    }
                    let input = clv_input(
                        &ClvInput {
                            model: args.model.clone(),
                            summary: None,
                            transactions: Some(args.transactions.clone()),
                            read: args.read.clone(),
                            columns: args.columns.clone(),
                            window: args.window.clone(),
                            max_rejects: args.max_rejects,
                        },
                        quiet,
                    )?;
                    clv::fit(args.model.parse()?, &input)?
                }
            };
            // The histogram covers every purchase: no calibration split, no observation cut
            // (the tracked span is --periods from the first purchase).
            let mut options = window_options(&args.window, args.columns.amount_column.is_some())?;
            options.calibration_end = None;
            options.observation_end = None;
            let request = SummaryRequest {
                source: file_source(&args.transactions, &args.read, &args.columns)?,
                options,
                zone: args.window.timezone.parse()?,
                max_rejects: args.max_rejects,
            };
            let (histogram, rejected) = rapport_engine::summary::purchase_histogram(&request)?;
            report_rejects(&rejected, None, quiet)?;
            let points = clv::tracking(&model, &histogram, options.period, options.time_unit, args.periods, args.step)?;
            emit(&clv::tracking_table(&points), args.format, args.output.as_deref())
        }
        ClvCommand::Predict(args) => {
            let input = clv_input(&args.input, quiet)?;
            let model = match &args.params {
                Some(path) => load_model(path)?,
                None => clv::fit(args.input.model.parse()?, &input)?,
            };
            let spend = if model.as_count_model().is_some() { clv::spend_model(&input)? } else { None };
            let clv_options = match (&spend, input.time_unit.as_deref()) {
                (None, _) => None,
                (Some(_), None) => bail!(
                    "give --time-unit (the unit of recency and T in the summary file) so that CLV months can be converted to model time"
                ),
                (Some(_), Some(unit)) => {
                    let units_per_month = ClvOptions::units_per_month(unit).with_context(|| format!("unknown time unit {unit:?}"))?;
                    let monthly_discount_rate = match args.discount_period.as_str() {
                        "month" | "months" | "monthly" => args.discount_rate,
                        "year" | "years" | "yearly" | "annual" => (1.0 + args.discount_rate).powf(1.0 / 12.0) - 1.0,
                        other => bail!("--discount-period {other:?}: expected month or year"),
                    };
                    Some(ClvOptions { months: args.clv_months, monthly_discount_rate, units_per_month })
                }
            };
            let (table, evaluation) =
                clv::predict(&model, spend.as_ref(), &input, &PredictOptions { horizon: args.horizon, clv: clv_options })?;
            if let (Some(evaluation), false) = (evaluation, quiet) {
                eprintln!("holdout: {evaluation}");
            }
            emit(&table, args.format, args.output.as_deref())
        }
    }
}

fn sentiment(args: &SentimentArgs, quiet: bool) -> Result<()> {
    use rapport_engine::sentiment::{CLASSES, SentimentFormat, TextInput, evaluate_labels, paper_correlation, score_stream};
    let model = sentiment_model(args.model);
    let (name, reader) = open_text_input(args.file.as_ref())?;
    if args.evaluate {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut { reader }, &mut text).with_context(|| format!("reading {name}"))?;
        for model in [SentimentModel::Vader, SentimentModel::Service] {
            let (texts, correlation) = paper_correlation(text.as_slice(), &name, model)?;
            println!("{name}: {texts} texts, {:<7} Pearson r(compound, human mean rating) = {correlation:.3}", model.name());
        }
        return Ok(());
    }
    if args.evaluate_labels {
        let reports = evaluate_labels(reader, &name, &[SentimentModel::Vader, SentimentModel::Service])?;
        let texts: u64 = reports[0].confusion.iter().flatten().sum();
        println!("{name}: {texts} labelled texts (compound >= 0.05 positive, <= -0.05 negative, else neutral)");
        for report in &reports {
            let f1 = report.f1();
            println!(
                "{:<7} macro-F1 {:.3}  accuracy {:.3}  F1 negative {:.3} neutral {:.3} positive {:.3}",
                report.model.name(),
                report.macro_f1(),
                report.accuracy(),
                f1[0],
                f1[1],
                f1[2]
            );
            for (label, row) in CLASSES.iter().zip(&report.confusion) {
                println!("        {label:>8} -> negative {:>5}  neutral {:>5}  positive {:>5}", row[0], row[1], row[2]);
            }
        }
        return Ok(());
    }
    let input = match &args.text_column {
        None => TextInput::Lines,
        Some(text_column) => match text_layout(args.file.as_ref(), &args.input_format) {
            Layout::JsonLines => TextInput::JsonLines { text_column: text_column.clone(), id_column: args.id_column.clone() },
            Layout::Delimited(delimiter) => {
                TextInput::Csv { delimiter, text_column: text_column.clone(), id_column: args.id_column.clone() }
            }
        },
    };
    let format = match args.format {
        SentimentOutput::Csv => SentimentFormat::Csv,
        SentimentOutput::Jsonl => SentimentFormat::Jsonl,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let counts = score_stream(&name, reader, &input, model, format, &mut out)?;
    if !quiet {
        eprintln!(
            "{} texts scored{}",
            counts.texts,
            if counts.missing > 0 { format!(", {} without text (scored as empty)", counts.missing) } else { String::new() }
        );
    }
    Ok(())
}

/// The layout of a text input read by columns: `--input-format`, or the file's extension.
fn text_layout(file: Option<&PathBuf>, input_format: &str) -> Layout {
    let extension = file.and_then(|path| path.extension()).and_then(|extension| extension.to_str()).unwrap_or("").to_ascii_lowercase();
    match if input_format == "auto" { extension.as_str() } else { input_format } {
        "jsonl" | "ndjson" | "json" => Layout::JsonLines,
        "tsv" | "tab" => Layout::Delimited(b'\t'),
        _ => Layout::Delimited(b','),
    }
}

fn sentiment_model(arg: ModelArg) -> SentimentModel {
    match arg {
        ModelArg::Service => SentimentModel::Service,
        ModelArg::Vader => SentimentModel::Vader,
    }
}

/// A fitted model saved by `clv fit --save`.
fn load_model(path: &Path) -> Result<FittedModel> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (model, _unit) =
        FittedModel::from_json(&text).map_err(rapport_engine::EngineError::from).with_context(|| format!("loading {}", path.display()))?;
    Ok(model)
}

/// Open a text input: a file, or standard input for `-` or nothing.
fn open_text_input(file: Option<&PathBuf>) -> Result<(String, Box<dyn std::io::BufRead>)> {
    let path = file.filter(|path| path.as_os_str() != "-");
    let name = path.map_or_else(|| "stdin".to_string(), |path| path.display().to_string());
    let reader: Box<dyn std::io::BufRead> = match path {
        Some(path) => Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    Ok((name, reader))
}

fn topics(args: &TopicsArgs, quiet: bool) -> Result<()> {
    use rapport_engine::topics::{TextColumns, TopicOptions, TopicsRequest, complaint_topics};
    let (name, reader) = open_text_input(args.file.as_ref())?;
    let layout = text_layout(args.file.as_ref(), &args.input_format);
    let request = TopicsRequest {
        columns: TextColumns {
            text: args.text_column.clone(),
            id: args.id_column.clone(),
            time: args.time_column.clone(),
            label: args.label_column.clone(),
            layout,
        },
        model: sentiment_model(args.model),
        all: args.all,
        options: TopicOptions { topics: args.topics, max_topics: args.max_topics.max(2), seed: args.seed, ..TopicOptions::default() },
        trend_period: args.trend_period.parse::<Period>()?,
        time_format: args.time_format.parse::<TimeFormat>()?,
        zone: args.timezone.parse::<Zone>()?,
        examples: args.examples,
    };
    if request.trend_period == Period::Hour {
        bail!(rapport_core::CoreError::InvalidOption { option: "--trend-period", reason: "the trend is by day, week or month".into() });
    }
    let progress = spinner(quiet, "finding topics".to_string());
    let report = complaint_topics(&name, reader, &request);
    progress.finish_and_clear();
    let report = report?;
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => {
            Box::new(std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match args.format {
        TopicsOutput::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        TopicsOutput::Csv => report.write_assignments_csv(&mut out)?,
    }
    out.flush()?;
    if !quiet {
        eprintln!(
            "{} texts, {} grouped ({}), {} topics ({}){}",
            report.texts,
            report.grouped,
            report.selection,
            report.topics.len(),
            report.chosen_by,
            report
                .evaluation
                .as_ref()
                .map(|evaluation| format!("; against the labels: NMI {:.3}, purity {:.3}", evaluation.nmi, evaluation.purity))
                .unwrap_or_default()
        );
        for topic in &report.topics {
            eprintln!("  {:>2}. {:<40} {:>6} texts ({:.1}%)", topic.topic, topic.label, topic.size, topic.share * 100.0);
        }
    }
    Ok(())
}

fn demo(directory: &Path, format: Format, quiet: bool) -> Result<()> {
    let progress = spinner(quiet, "running the demo".to_string());
    let report = rapport_engine::demo::run_demo(directory);
    progress.finish_and_clear();
    let report = report?;
    if format != Format::Table {
        let mut table = Table::default();
        table.push("workspace", Column::Text(vec![report.workspace.display().to_string()]));
        table.push("events_ingested", Column::Count(vec![report.ingest.accepted]));
        table.push("customers", Column::Count(vec![report.customers as u64]));
        table.push("repeat_customers", Column::Count(vec![report.repeat_customers as u64]));
        table.push("repeat_purchases_calibration", Column::Count(vec![report.repeat_purchases_calibration]));
        table.push("purchases_holdout", Column::Count(vec![report.purchases_holdout]));
        table.push("mean_repeat_value", Column::Float(vec![report.mean_repeat_value]));
        return emit(&table, format, None);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "Rapport demo — CDNOW sample (Fader, Hardie & Lee), workspace {}", report.workspace.display())?;
    writeln!(
        out,
        "  events ingested          {:>8}  ({} rejected, {} duplicates)",
        report.ingest.accepted, report.ingest.rejected, report.ingest.duplicates
    )?;
    writeln!(out, "  customers                {:>8}", report.customers)?;
    writeln!(
        out,
        "  repeat customers         {:>8}  ({:.1}%) in the 39-week calibration to 1997-09-30",
        report.repeat_customers,
        100.0 * report.repeat_customers as f64 / report.customers.max(1) as f64
    )?;
    writeln!(out, "  repeat purchase days     {:>8}  in calibration", report.repeat_purchases_calibration)?;
    writeln!(out, "  purchase days            {:>8}  in the 39-week holdout to 1998-06-30", report.purchases_holdout)?;
    writeln!(out, "  mean repeat-day value    {:>8.2}  dollars", report.mean_repeat_value)?;
    let fit = &report.count_model;
    let named = |fit: &rapport_models::FitReport| {
        fit.named_params().map(|(name, value)| format!("{name} = {value:.4}")).collect::<Vec<_>>().join(", ")
    };
    writeln!(out)?;
    writeln!(out, "Lifetime value (fitted on the calibration window; Fader, Hardie & Lee 2005):")?;
    writeln!(out, "  BG/NBD       {}  (LL {:.2})", named(fit), fit.log_likelihood)?;
    writeln!(
        out,
        "  Gamma-Gamma  {}  (LL {:.2}, {} repeat buyers)",
        named(&report.spend_model),
        report.spend_model.log_likelihood,
        report.spend_model.n_customers
    )?;
    writeln!(
        out,
        "  holdout      predicted {:.0} purchase days, actual {:.0}; mean absolute error {:.3} per customer",
        report.holdout.predicted_total, report.holdout.actual_total, report.holdout.mean_absolute_error
    )?;
    writeln!(out, "  likely lapsed repeat buyers (P(alive) < 0.3): {}", report.likely_lapsed)?;
    writeln!(out, "  12-month CLV of the base (1% monthly discount): {:.0} dollars", report.total_clv_12_months)?;
    writeln!(out, "  most valuable customers:")?;
    for (id, alive, clv) in &report.top_customers {
        writeln!(out, "    {id:>6}  P(alive) {alive:.3}  CLV {clv:>8.2}")?;
    }
    writeln!(out)?;
    writeln!(out, "Customer summary (weeks; lifetimes' calibration_and_holdout_data semantics):")?;
    rapport_engine::summary_table(&report.summary).write_aligned(&mut out, 10)?;
    writeln!(out)?;
    writeln!(
        out,
        "Next: rapport summary --workspace {} --period day --time-unit weeks --calibration-end 1997-09-30",
        report.workspace.display()
    )?;
    Ok(())
}

/// Purchases read from a transactions file.
fn file_source(file: &Path, read: &ReadArgs, columns: &TransactionColumns) -> Result<PurchaseSource> {
    Ok(PurchaseSource::File {
        input: input_spec(file, read)?,
        customer_column: columns.customer_column.clone(),
        time_column: columns.time_column.clone(),
        amount_column: columns.amount_column.clone(),
        time_format: read.time_format.as_deref().map(str::parse::<TimeFormat>).transpose()?.unwrap_or_default(),
    })
}

fn input_spec(path: &Path, read: &ReadArgs) -> Result<InputSpec> {
    Ok(InputSpec {
        path: path.to_path_buf(),
        format: read.input_format.parse()?,
        delimiter: read.delimiter.parse()?,
        columns: read.columns.clone(),
    })
}

fn window_options(window: &WindowArgs, monetary: bool) -> Result<SummaryOptions> {
    let period: Period = window.period.parse()?;
    let time_unit = match &window.time_unit {
        Some(unit) => unit.parse::<TimeUnit>()?,
        None => period.natural_unit(),
    };
    let observation_end = window.observation_end.as_deref().map(|text| parse_end_of(text, "--observation-end")).transpose()?;
    let calibration_end = window.calibration_end.as_deref().map(|text| parse_end_of(text, "--calibration-end")).transpose()?;
    if let (Some(calibration), Some(observation)) = (calibration_end, observation_end)
        && calibration >= observation
    {
        bail!("--calibration-end must be before --observation-end");
    }
    Ok(SummaryOptions { period, time_unit, observation_end, calibration_end, monetary })
}

fn report_rejects(rejected: &[Rejected], path: Option<&Path>, quiet: bool) -> Result<()> {
    if !quiet {
        for row in rejected.iter().take(10) {
            eprintln!("rejected {row}");
        }
        if rejected.len() > 10 {
            eprintln!("… and {} more rejected row(s)", rejected.len() - 10);
        }
    }
    if let Some(path) = path {
        let mut table = Table::default();
        table.push("file", Column::Text(rejected.iter().map(|row| row.file.clone()).collect()));
        table.push("line", Column::Count(rejected.iter().map(|row| row.line).collect()));
        table.push("column", Column::Text(rejected.iter().map(|row| row.column.clone()).collect()));
        table.push("value", Column::Text(rejected.iter().map(|row| row.value.clone()).collect()));
        table.push("expected", Column::Text(rejected.iter().map(|row| row.expected.clone()).collect()));
        emit(&table, Format::Csv, Some(path))?;
    }
    Ok(())
}

/// Print or write a table.
pub fn emit(table: &Table, format: Format, output: Option<&Path>) -> Result<()> {
    let format = match format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Jsonl => OutputFormat::Jsonl,
        Format::Parquet => OutputFormat::Parquet,
    };
    match (format, output) {
        (OutputFormat::Parquet, Some(path)) => table.write_parquet(path).with_context(|| format!("writing {}", path.display()))?,
        (OutputFormat::Parquet, None) => bail!("--format parquet needs --output FILE"),
        (format, Some(path)) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            table.write(format, &mut writer)?;
            writer.flush()?;
        }
        (format, None) => {
            let stdout = std::io::stdout();
            let mut writer = std::io::BufWriter::new(stdout.lock());
            match table.write(format, &mut writer).and_then(|()| writer.flush()) {
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// A spinner on stderr for work that can take more than a second; hidden when stderr is
/// not a terminal or with --quiet. No colours, so NO_COLOR needs nothing more.
fn spinner(quiet: bool, message: String) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
