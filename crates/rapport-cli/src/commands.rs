//! What each subcommand does: turn arguments into an engine request, call the engine,
//! render the result.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use rapport_engine::clv::{ClvSpec, CustomerSource, DiscountPeriod, FitRequest, PredictRequest, TrackRequest};
use rapport_engine::input::{FileInput, TransactionColumns, WindowSpec};
use rapport_engine::output::{OutputFormat, TableBuilder};
use rapport_engine::summary::{PurchaseSource, SummaryRequest, summarize_on};
use rapport_engine::workspace::IngestRequest;
use rapport_engine::{
    Delimiter, EngineError, EventKind, FitOptions, InputFormat, ModelKind, MonthDefinition, Period, Rejected, SentimentModel, TimeFormat,
    TimeUnit,
};

use crate::args::{
    Cli, ClusterCommand, ClvCommand, ClvInput, Command, DelimiterArg, DiscountPeriodArg, Format, InputFormatArg, KindArg, MatrixArgs,
    MatrixView, ModelArg, ModelKindArg, MonthArg, PeriodArg, PropensityView, QuarantineCommand, ReadArgs, RorBy, SentimentArgs,
    SentimentOutput, ServeArgs, TimeUnitArg, TokenCommand, TopicsArgs, TopicsOutput, TransactionColumns as Columns, TrendPeriod,
    WindowArgs,
};

/// Rejected rows shown on stderr before "… and N more".
const SHOWN_REJECTS: usize = 10;

pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Demo(args) if args.cdnow => demo(&args.workspace, args.format, quiet),
        Command::Demo(args) => brand_demo(&args, quiet),
        Command::Generate(args) => {
            let stages = Stages::new(quiet);
            let report = rapport_engine::demo::generate(
                args.customers,
                args.seed,
                args.truth_customers.unwrap_or_else(|| rapport_engine::demo::truth_customers_for(args.customers)),
                &args.output,
                &|message| stages.show(message),
            );
            stages.finish();
            let report = report?;
            let planted = if args.plant_playbook { Some(rapport_engine::demo::plant_playbook(&args.output)?) } else { None };
            if !quiet {
                for (file, rows) in &report.rows {
                    say!("{:>12} rows  {}", rows, args.output.join(file).display());
                }
                say!("ground truth: {}", args.output.join("ground_truth.json").display());
                say!(
                    "settings: {} (a workspace starts from them with `rapport init WORKSPACE --config {}`)",
                    args.output.join("rapport.toml").display(),
                    args.output.join("rapport.toml").display()
                );
                if let Some(planted) = planted {
                    say!(
                        "planted {planted} customers for the playbook (not in the ground truth): {}",
                        args.output.join("planted_actions.csv").display()
                    );
                }
            }
            Ok(())
        }
        Command::Analyze(args) => {
            let engine = engine_of(args.engine.as_deref(), args.memory_limit)?;
            let stages = Stages::new(quiet);
            let request = rapport_engine::analyze::AnalyzeRequest { workspace: args.workspace.clone(), as_of: args.as_of.clone() };
            let outcome = rapport_engine::analyze::analyze_on(&request, &engine, &|message| stages.show(message));
            stages.finish();
            let outcome = outcome?;
            if args.format == Format::Json {
                let mut out = std::io::stdout().lock();
                serde_json::to_writer_pretty(&mut out, &outcome.summary)?;
                writeln!(out)?;
            } else if outcome.headlines.is_empty() && args.format == Format::Table {
                // An empty aligned table says nothing; the reasons follow (skipped:). The
                // overview (buyers, repeat rate, spend per buyer) is measured from purchases
                // alone, so it is shown in the headlines' place.
                say!(
                    "no headline could be measured from this data (why, for each: `skipped` below, or the run's summary.json); the results run still has each customer's figures"
                );
                let overview = overview_headlines(&outcome.summary["overview"]);
                if !overview.is_empty() {
                    say!("the overview, from the purchases:");
                    emit(&headline_table(&overview, None)?, args.format, None)?;
                }
            } else {
                emit(&headline_table(&outcome.headlines, None)?, args.format, None)?;
            }
            // Warnings are shown even with --quiet: they qualify the figures just printed.
            for warning in outcome.summary["warnings"].as_array().into_iter().flatten() {
                say!("warning: {}", warning.as_str().unwrap_or_default());
            }
            if !quiet {
                report_skipped(&outcome.skipped);
                let summary = &outcome.summary;
                // Only what there is: "0 not in the customers file" without one, or an
                // empty "unlinked events {}", reads as a finding.
                let mut data = format!("data: {} customers", summary["customers"]);
                if summary["customers_not_in_customer_file"].as_u64().is_some_and(|count| count > 0) {
                    data.push_str(&format!(" ({} not in the customers file)", summary["customers_not_in_customer_file"]));
                }
                let plural = |count: &serde_json::Value, one: &str, many: &str| {
                    format!("{count} {}", if count.as_u64() == Some(1) { one } else { many })
                };
                data.push_str(&format!(
                    ", {} rejected at ingest, {} after the as-of date",
                    plural(&summary["rejected_rows"], "row", "rows"),
                    plural(&summary["events_after_as_of"], "event", "events")
                ));
                if let Some(unlinked) = summary["unlinked_events"].as_object() {
                    // Costs name a customer, one with no event of any other kind.
                    let kinds: Vec<String> =
                        unlinked.iter().filter(|(kind, _)| *kind != "costs").map(|(kind, count)| format!("{count} {kind}")).collect();
                    if !kinds.is_empty() {
                        data.push_str(&format!(
                            ", left out for naming no customer and an order no customer's purchase carries: {}",
                            kinds.join(", ")
                        ));
                    }
                    if let Some(costs) = unlinked.get("costs") {
                        data.push_str(&format!(
                            ", {} left out for naming a customer with no other events",
                            plural(costs, "cost row", "cost rows")
                        ));
                    }
                }
                say!("{data}");
                say!(
                    "results run {} (as of {}): {}",
                    outcome.run.id,
                    outcome.summary["as_of"].as_str().unwrap_or(""),
                    args.workspace.join("results").join(&outcome.run.id).display()
                );
            }
            Ok(())
        }
        Command::Coverage(args) => {
            let scratch =
                args.scratch.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("rapport-coverage-{}", std::process::id())));
            let stages = Stages::new(quiet);
            let rows = rapport_engine::demo::coverage(
                args.first_seed..args.first_seed.saturating_add(args.seeds),
                args.customers,
                &scratch,
                &|message| stages.show(message),
            );
            stages.finish();
            let rows = rows?;
            let table = TableBuilder::default()
                .text("headline", rows.iter().map(|row| row.name.as_str()))
                .float("truth", rows.iter().map(|row| row.truth))
                .float("mean_estimate", rows.iter().map(|row| row.mean_estimate))
                .float("mean_margin", rows.iter().map(|row| row.mean_margin))
                .float("sd_estimate", rows.iter().map(|row| row.sd_estimate))
                .count("covered", rows.iter().map(|row| row.covered))
                .count("runs", rows.iter().map(|row| row.runs))
                .build()
                .map_err(EngineError::from)?;
            emit(&table, args.format, None)
        }
        Command::Clv(command) => clv(command, quiet),
        Command::Sentiment(args) => sentiment(&args, quiet),
        Command::Topics(args) => topics(&args, quiet),
        Command::Export(args) => {
            let request = rapport_engine::postgres::ExportRequest {
                workspace: args.workspace.clone(),
                run: args.run.clone(),
                connection: args.postgres.clone(),
                table: args.table.clone(),
                columns: args.columns.clone(),
            };
            let progress = spinner(quiet, format!("writing to {}", rapport_engine::postgres::redacted(&args.postgres)));
            let report = rapport_engine::postgres::export_postgres(&request);
            progress.finish_and_clear();
            let report = report?;
            let table = TableBuilder::default()
                .text("table", [report.table.as_str()])
                .count("inserted", [report.inserted])
                .count("updated", [report.updated])
                .build()
                .map_err(EngineError::from)?;
            emit(&table, args.format, None)
        }
        Command::Sql(args) => {
            let default = if args.output.is_some() { Format::Csv } else { Format::Table };
            let format = resolve_format(args.format, args.output.as_deref(), default);
            if args.tables {
                let tables = rapport_engine::sql::tables(&args.workspace)?;
                let table = TableBuilder::default()
                    .text("table", tables.iter().map(|table| table.name.as_str()))
                    .text("origin", tables.iter().map(|table| table.origin.as_str()))
                    .count("files", tables.iter().map(|table| table.files as u64))
                    .build()
                    .map_err(EngineError::from)?;
                return emit(&table, format, args.output.as_deref());
            }
            check_output(Some(format), args.output.as_deref())?;
            let request = rapport_engine::sql::SqlRequest {
                workspace: args.workspace.clone(),
                query: args.query.clone().unwrap_or_default(),
                memory_limit: args.memory_limit.map(|size| size.as_u64()),
            };
            let batch = rapport_engine::sql::sql(&request)?;
            emit(&batch, format, args.output.as_deref())
        }
        Command::Segments(args) => {
            let format = resolve_format(args.format, args.output.as_deref(), Format::Csv);
            check_output(Some(format), args.output.as_deref())?;
            let request = rapport_engine::relationship::SegmentsRequest {
                workspace: args.workspace.clone(),
                run: args.run.clone(),
                all: args.all,
                compare: args.compare.clone(),
            };
            let report = rapport_engine::relationship::segments(&request)?;
            warn_fit(&args.workspace, &report.run.id);
            for warning in rapport_engine::relationship::rfm_warnings(&args.workspace, &report.run.id) {
                say!("warning: {warning}");
            }
            if !report.not_in_run.is_empty() {
                say!(
                    "note: run {} has no column for {} (defined in rapport.toml after it); `rapport analyze` adds {}",
                    report.run.id,
                    report.not_in_run.join(", "),
                    if report.not_in_run.len() == 1 { "it" } else { "them" }
                );
            }
            let table = match (&report.migration, args.sizes) {
                (Some(migration), _) => migration,
                (None, true) => &report.sizes,
                (None, false) => &report.customers,
            };
            emit(table, format, args.output.as_deref())
        }
        Command::Matrix(args) => matrix(&args, quiet),
        Command::Alerts(args) => {
            let request =
                rapport_engine::relationship::MatrixRequest { workspace: args.workspace.clone(), run: args.run.clone(), compare: None };
            let report = rapport_engine::relationship::alerts(&request)?;
            warn_fit(&args.workspace, &report.run.id);
            let mut out = std::io::stdout().lock();
            if args.format == Format::Json {
                let document = serde_json::json!({
                    "run": report.run.id,
                    "alerts": report.alerts,
                    "history": report.history,
                    "not_judged": report.skipped,
                    "not_judged_in_latest_window": report.latest_unjudged,
                    "top_tier_watch": rapport_engine::output::json_rows(&report.watch),
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
                return Ok(());
            }
            let alerts = report.alerts.as_array().cloned().unwrap_or_default();
            let plural = |n: usize| if n == 1 { "" } else { "s" };
            let listed = |reasons: &serde_json::Value| -> Vec<String> {
                reasons
                    .as_object()
                    .map(|reasons| reasons.iter().map(|(name, reason)| format!("{name} ({})", reason.as_str().unwrap_or("?"))).collect())
                    .unwrap_or_default()
            };
            let (skipped, latest) = (listed(&report.skipped), listed(&report.latest_unjudged));
            let judged = report.history.as_object().map_or(0, serde_json::Map::len) - latest.len();
            writeln!(
                out,
                "Alerts, run {}: {} indicator{} outside the baseline ({judged} judged in the latest window, {} not)",
                report.run.id,
                alerts.len(),
                plural(alerts.len()),
                skipped.len() + latest.len()
            )?;
            for alert in &alerts {
                let number = |name: &str| alert[name].as_f64().unwrap_or(f64::NAN);
                let indicator = alert["indicator"].as_str().unwrap_or("");
                // A count of contacts or engagements prints as one (231, not 231.00).
                let counted = rapport_engine::relationship::is_counted_indicator(indicator);
                writeln!(
                    out,
                    "  {} {}: {} (n = {}) in the {} day(s) to {}; baseline median {:.2}, limits [{:.2}, {:.2}]",
                    indicator,
                    alert["direction"].as_str().unwrap_or(""),
                    if counted { format!("{:.0}", number("value")) } else { format!("{:.2}", number("value")) },
                    number("n"),
                    alert["window_days"],
                    alert["window_end"].as_str().unwrap_or(""),
                    number("baseline_median"),
                    number("lower"),
                    number("upper")
                )?;
            }
            let watched = report.watch.num_rows();
            // What could not be judged is part of the answer: no alert is not "in control".
            if !skipped.is_empty() {
                writeln!(out, "  not judged: {}", skipped.join("; "))?;
            }
            if !latest.is_empty() {
                writeln!(out, "  not judged in the latest window: {}", latest.join("; "))?;
            }
            writeln!(out, "Top tier: {watched} customer{} with new risk signals (rapport matrix --view watch)", plural(watched))?;
            if !quiet {
                let history: Vec<String> = report
                    .history
                    .as_object()
                    .map(|history| history.iter().map(|(name, h)| format!("{name} {}/{}", h["alarms"], h["windows_judged"])).collect())
                    .unwrap_or_default();
                if !history.is_empty() {
                    say!("alarms over the history (alarms / windows judged): {}", history.join(", "));
                }
            }
            Ok(())
        }
        Command::Ror(args) => {
            let format = resolve_format(args.format, args.output.as_deref(), Format::Table);
            check_output(Some(format), args.output.as_deref())?;
            let dimension = match args.by {
                None | Some(RorBy::Uplift) => None,
                Some(RorBy::Customer) => Some("customer"),
                Some(RorBy::All) => Some("all"),
                Some(RorBy::Segment) => Some("segment"),
                Some(RorBy::Cell) => Some("cell"),
                Some(RorBy::Channel) => Some("channel"),
                Some(RorBy::Program) => Some("program"),
            };
            let request = rapport_engine::relationship::ValueRequest {
                workspace: args.workspace.clone(),
                run: args.run.clone(),
                dimension: dimension.map(str::to_string),
            };
            let report = rapport_engine::relationship::value(&request)?;
            warn_fit(&args.workspace, &report.run.id);
            if args.by == Some(RorBy::Uplift) {
                let Some(programs) = &report.programs else {
                    return Err(EngineError::Request(format!(
                        "run {} judged no program against its control group: that needs program contacts at least 90 days before the observation end",
                        report.run.id
                    ))
                    .into());
                };
                return emit(programs, format, args.output.as_deref());
            }
            if let Some(reason) = &report.ror_skipped {
                // Per customer, the value columns stand without costs; a grouping's ratio does not.
                if dimension != Some("customer") {
                    return Err(EngineError::Request(format!(
                        "run {}: Return on Relationship was not measured: {reason} (`rapport ror --by customer` lists each customer's value)",
                        report.run.id
                    ))
                    .into());
                }
                if !quiet {
                    say!("run {}: no relationship cost, so no ror: {reason}", report.run.id);
                }
            } else if format == Format::Table && !quiet {
                let ror = &report.settings["ror"];
                say!(
                    "Return on Relationship, run {}: value on {} ({}), contact costs from {}",
                    report.run.id,
                    ror["value_basis"].as_str().unwrap_or("?"),
                    ror["currency"].as_str().unwrap_or(""),
                    ror["contact_costs"].as_str().unwrap_or("?")
                );
            }
            if report.ror.num_rows() == 0 && !quiet {
                say!("no rows: nothing was spent on customers in this grouping (see `rapport ror` for every grouping)");
            }
            emit(&report.ror, format, args.output.as_deref())?;
            // Every grouping, then (on a terminal: one table per stream otherwise) what the
            // programs caused, against their control groups.
            if let (None, Some(programs)) = (args.by, &report.programs) {
                if format == Format::Table && args.output.is_none() {
                    say!("Programs against their control groups (what they caused; also `--by uplift`):");
                    emit(programs, format, None)?;
                } else if !quiet {
                    say!("the programs' uplift against their control groups: `rapport ror --by uplift`");
                }
            }
            Ok(())
        }
        Command::Propensity(args) => {
            let format = resolve_format(args.format, args.output.as_deref(), Format::Table);
            check_output(Some(format), args.output.as_deref())?;
            let request =
                rapport_engine::relationship::ValueRequest { workspace: args.workspace.clone(), run: args.run.clone(), dimension: None };
            let report = rapport_engine::relationship::value(&request)?;
            warn_fit(&args.workspace, &report.run.id);
            if args.view == PropensityView::Response {
                let table = report.response.ok_or_else(|| {
                    EngineError::Request(format!(
                        "run {}: no program's response was learned (its summary.json says why under `skipped`, response_gain_<program>; a run without programs has none)",
                        report.run.id
                    ))
                })?;
                return emit(&table, format, args.output.as_deref());
            }
            let Some([models, lift, calibration]) = &report.propensity else {
                let reason = report.settings["propensity"]["skipped"].as_str().unwrap_or("the run has no propensity tables").to_string();
                return Err(EngineError::Request(format!("run {}: propensity was not learned: {reason}", report.run.id)).into());
            };
            if format == Format::Table && !quiet {
                let settings = &report.settings["propensity"];
                let days = &settings["horizon_days"];
                say!(
                    "Propensity, run {}: P(a purchase in the next {days} days). Trained on features as of the end of {} (labels: the {days} days after); judged on features as of the end of {} (labels: the {days} days after, to the observation end), {} of {} holdout customers; customers scored with {} (the supervised model of the highest holdout AUC scores them when its lead over the BG/NBD baseline has an interval above 0; otherwise the baseline does)",
                    report.run.id,
                    settings["training_cutoff"].as_str().unwrap_or("?"),
                    settings["holdout_cutoff"].as_str().unwrap_or("?"),
                    settings["holdout_customers_judged"],
                    settings["holdout_customers"],
                    settings["scored_with"].as_str().unwrap_or("?")
                );
                if let Some(failed) = settings["models_failed"].as_array().filter(|failed| !failed.is_empty()) {
                    for reason in failed {
                        say!("  not fitted: {}", reason.as_str().unwrap_or("?"));
                    }
                }
            }
            let table = match args.view {
                PropensityView::Models => models,
                PropensityView::Lift => lift,
                PropensityView::Calibration => calibration,
                PropensityView::Response => unreachable!("answered above"),
            };
            emit(table, format, args.output.as_deref())
        }
        Command::Actions(args) => {
            let format = resolve_format(args.format, args.output.as_deref(), Format::Csv);
            check_output(Some(format), args.output.as_deref())?;
            let request = rapport_engine::relationship::ActionsRequest {
                workspace: args.workspace.clone(),
                run: args.run.clone(),
                without_control: args.without_control,
            };
            let (run, actions) = rapport_engine::relationship::actions(&request)?;
            warn_fit(&args.workspace, &run.id);
            let Some(url) = &args.webhook else {
                return emit(&actions, format, args.output.as_deref());
            };
            let webhook = rapport_engine::webhook::WebhookRequest {
                retries: args.webhook_retries,
                ..rapport_engine::webhook::WebhookRequest::new(url)
            };
            let progress = spinner(quiet, format!("posting actions to {url}"));
            let report = rapport_engine::webhook::post_actions(&actions, &webhook);
            progress.finish_and_clear();
            let report = report?;
            if !quiet {
                say!(
                    "posted {} actions to {url} ({} after a retry); {} held out as control; {} failed",
                    report.posted,
                    report.after_retry,
                    report.held_out,
                    report.failed.len()
                );
            }
            if report.failed.is_empty() {
                return Ok(());
            }
            let failed = &report.failed;
            let table = TableBuilder::default()
                .text("customer_id", failed.iter().map(|f| f.customer_id.as_str()))
                .text("action", failed.iter().map(|f| f.action.as_str()))
                .text("idempotency_key", failed.iter().map(|f| f.idempotency_key.as_str()))
                .count("attempts", failed.iter().map(|f| u64::from(f.attempts)))
                .text("error", failed.iter().map(|f| f.error.as_str()))
                .build()
                .map_err(EngineError::from)?;
            emit(&table, format, args.output.as_deref())?;
            anyhow::bail!(
                "{} of {} actions could not be posted to {url} (listed on stdout; posting again is safe: each action carries its idempotency key)",
                failed.len(),
                report.posted + failed.len() as u64
            )
        }
        Command::Report(args) => {
            let request =
                rapport_report::ReportRequest { workspace: args.workspace.clone(), run: args.run.clone(), output: args.output.clone() };
            let progress = spinner(quiet, "writing the report".to_string());
            let run = rapport_report::write_report(&request);
            progress.finish_and_clear();
            let run = run?;
            if !quiet {
                say!("report of run {run}: {}", args.output.display());
            }
            Ok(())
        }
        Command::Forget(args) => {
            let report = rapport_engine::workspace::forget(&args.workspace, &args.customer)?;
            if !quiet {
                say!(
                    "forgotten: {} event(s) removed, {} reference(s) in other customers' events cleared, {} quarantined row(s) and {} results row(s) removed ({} file(s) rewritten); recorded in {} without the id",
                    report.events_removed,
                    report.references_cleared,
                    report.quarantined_removed,
                    report.result_rows_removed,
                    report.files_rewritten,
                    args.workspace.join("audit.jsonl").display()
                );
                say!(
                    "aggregates of existing runs still count them: run `rapport analyze --workspace {}` for new ones",
                    args.workspace.display()
                );
            }
            Ok(())
        }
        Command::Serve(args) => serve(&args, quiet),
        Command::Compact(args) => {
            let kinds: Vec<EventKind> = match args.kind {
                Some(kind) => vec![event_kind(kind)],
                None => EventKind::ALL.to_vec(),
            };
            let mut reports = Vec::new();
            for kind in kinds {
                if let Some(report) = rapport_engine::workspace::compact(&args.workspace, kind, args.below, 2, None)? {
                    reports.push(report);
                }
            }
            if !quiet {
                if reports.is_empty() {
                    say!("nothing to compact: no kind has two batches under {} events without quarantined rows", args.below);
                }
                for report in &reports {
                    say!("{}: {} batches merged into batch {} ({} events)", report.kind, report.merged, report.batch, report.events);
                }
            }
            Ok(())
        }
        Command::Token(TokenCommand::Create(args)) => {
            let role: rapport_engine::workspace::Role = args.role.parse().map_err(EngineError::from)?;
            let (record, token) = rapport_engine::workspace::create_token(&args.workspace, role, &args.name)?;
            println!("{token}");
            if !quiet {
                say!(
                    "token {} ({}, {}) created: it is shown only now; keep it secret (send it as Authorization: Bearer TOKEN, or sign in to the dashboard with it)",
                    record.id,
                    record.name,
                    record.role.name()
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::List(args)) => {
            let tokens = rapport_engine::workspace::list_tokens(&args.workspace)?;
            let table = TableBuilder::default()
                .text("id", tokens.iter().map(|token| token.id.as_str()))
                .text("name", tokens.iter().map(|token| token.name.as_str()))
                .text("role", tokens.iter().map(|token| token.role.name()))
                .text("created_at", tokens.iter().map(|token| token.created_at.as_str()))
                .text("revoked_at", tokens.iter().map(|token| token.revoked_at.as_deref().unwrap_or("")))
                .build()
                .map_err(EngineError::from)?;
            emit(&table, args.format, None)
        }
        Command::Token(TokenCommand::Revoke(args)) => {
            let (record, newly) = rapport_engine::workspace::revoke_token(&args.workspace, &args.token)?;
            if !quiet {
                let when = record.revoked_at.as_deref().unwrap_or("?");
                if newly {
                    say!(
                        "token {} ({}, {}) revoked at {when}; a running server refuses it within seconds",
                        record.id,
                        record.name,
                        record.role.name()
                    );
                } else {
                    say!("token {} ({}, {}) was already revoked, at {when}", record.id, record.name, record.role.name());
                }
            }
            Ok(())
        }
        Command::Runs(args) => {
            let runs = rapport_engine::workspace::runs(&args.workspace)?;
            if runs.is_empty() && !quiet {
                say!("no results runs yet in {}", args.workspace.display());
            }
            let table = TableBuilder::default()
                .text("run", runs.iter().map(|run| run.id.as_str()))
                .text("command", runs.iter().map(|run| run.command.as_str()))
                // The observation end of an analysis (what `--compare` orders runs by).
                .text("as_of", runs.iter().map(|run| run.options["as_of"].as_str().unwrap_or("")))
                .count("customers", runs.iter().map(|run| run.customers))
                .text("started_at", runs.iter().map(|run| run.started_at.as_str()))
                .text("finished_at", runs.iter().map(|run| run.finished_at.as_str()))
                .text("rapport_version", runs.iter().map(|run| run.rapport_version.as_str()))
                // Which engine aggregated, last so that scripts reading by position still work (blank in runs that did not record it).
                .text("engine", runs.iter().map(|run| run.options["engine"].as_str().unwrap_or("")))
                .build()
                .map_err(EngineError::from)?;
            emit(&table, args.format, None)
        }
        Command::Cluster(ClusterCommand::Scheduler(args)) => {
            let request = rapport_engine::cluster::SchedulerRequest { bind: args.bind, external_host: args.external_host.clone() };
            if rapport_engine::cluster::AVAILABLE && !quiet {
                say!("starting a scheduler on {} — connect with --engine ballista://{}; stop with Ctrl-C", args.bind, args.bind);
            }
            Ok(rapport_engine::cluster::scheduler(&request)?)
        }
        Command::Cluster(ClusterCommand::Executor(args)) => {
            let concurrency = args.concurrency.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            // Each task's share of the pool must hold a sort's merge (DataFusion reserves
            // 10 MB for it up front) and some rows: below 32 MiB a task every query fails.
            const TASK_MINIMUM: u64 = 32 << 20;
            if let Some(limit) = args.memory_limit
                && limit.as_u64() / (concurrency.max(1) as u64) < TASK_MINIMUM
            {
                return Err(EngineError::Request(format!(
                    "--memory-limit {} leaves {} to each of the {concurrency} task(s) run at once, and a query needs at least 32 MiB a task: give --memory-limit {}MiB or more{}",
                    limit.display().iec(),
                    bytesize::ByteSize::b(limit.as_u64() / concurrency.max(1) as u64).display().iec(),
                    32 * concurrency.max(1),
                    if concurrency > 1 { " (or a lower --concurrency)" } else { "" }
                ))
                .into());
            }
            let request = rapport_engine::cluster::ExecutorRequest {
                scheduler: args.scheduler.clone(),
                bind: args.bind,
                external_host: args.external_host.clone(),
                concurrency,
                work_dir: args.work_dir.clone(),
                memory_limit: args.memory_limit.map(|size| size.as_u64()),
            };
            if rapport_engine::cluster::AVAILABLE && !quiet {
                say!(
                    "starting an executor on {} ({concurrency} {} at once{}) for the scheduler at {}; stop with Ctrl-C",
                    args.bind,
                    if concurrency == 1 { "task" } else { "tasks" },
                    args.memory_limit.map(|size| format!(", queries spilling past {}", size.display().iec())).unwrap_or_default(),
                    args.scheduler
                );
            }
            Ok(rapport_engine::cluster::executor(&request)?)
        }
        Command::Quarantine(command) => {
            let select = match &command {
                QuarantineCommand::List(args) => &args.select,
                QuarantineCommand::Export(args) => &args.select,
            };
            let request = rapport_engine::workspace::QuarantineRequest {
                workspace: select.workspace.clone(),
                batch: select.batch,
                kind: select.kind.map(event_kind),
            };
            match command {
                QuarantineCommand::List(args) => {
                    let rows = rapport_engine::workspace::quarantine_list(&request)?;
                    if rows.is_empty() && !quiet {
                        say!("no rejected rows in {}", args.select.workspace.display());
                    }
                    let table = TableBuilder::default()
                        .count("batch", rows.iter().map(|row| row.batch))
                        .text("kind", rows.iter().map(|row| row.kind.name()))
                        .text("file", rows.iter().map(|row| row.rejected.file.as_str()))
                        .count("line", rows.iter().map(|row| row.rejected.line))
                        .text("column", rows.iter().map(|row| row.rejected.column.as_str()))
                        .text("value", rows.iter().map(|row| row.rejected.value.as_str()))
                        .text("expected", rows.iter().map(|row| row.rejected.expected.as_str()))
                        .build()
                        .map_err(EngineError::from)?;
                    check_output(args.format, args.output.as_deref())?;
                    emit(&table, resolve_format(args.format, args.output.as_deref(), Format::Table), args.output.as_deref())
                }
                QuarantineCommand::Export(args) => {
                    let written = match &args.output {
                        Some(path) => {
                            // Written aside and renamed, so a failed export leaves no half file.
                            let aside = path.with_extension("partial");
                            let mut file = std::io::BufWriter::new(
                                std::fs::File::create(&aside).with_context(|| format!("creating {}", aside.display()))?,
                            );
                            let written = rapport_engine::workspace::quarantine_export(&request, &mut file)?;
                            file.into_inner()
                                .map_err(|error| error.into_error())
                                .with_context(|| format!("writing {}", aside.display()))?;
                            std::fs::rename(&aside, path).with_context(|| format!("writing {}", path.display()))?;
                            written
                        }
                        None => rapport_engine::workspace::quarantine_export(&request, &mut std::io::stdout().lock())?,
                    };
                    if !quiet {
                        say!("{written} rejected row(s) exported");
                    }
                    Ok(())
                }
            }
        }
        Command::Init(args) => {
            let settings = rapport_engine::workspace::init_from(
                args.path(),
                args.config.as_deref(),
                args.timezone.as_deref(),
                args.currency.as_deref(),
            )?;
            if !quiet {
                // The defaults are said: money and days are read in them from now on.
                say!(
                    "created workspace {} (time zone {}, currency {}{}; change them with --timezone and --currency, or in {})",
                    args.path().display(),
                    settings.timezone,
                    settings.currency.to_uppercase(),
                    if settings.service.is_some() { ", service hours" } else { "" },
                    args.path().join("rapport.toml").display()
                );
            }
            Ok(())
        }
        Command::Ingest(args) => {
            let kind = event_kind(args.kind);
            let source = args.postgres.as_ref().map(|connection| rapport_engine::postgres::PostgresSource {
                connection: connection.clone(),
                relation: match (&args.table, &args.query) {
                    (Some(table), _) => rapport_engine::postgres::Relation::Table(table.clone()),
                    (None, query) => rapport_engine::postgres::Relation::Query(query.clone().unwrap_or_default()),
                },
            });
            // An object store prefix (s3://…, gs://…, az://…): its objects, each fetched
            // when its turn comes.
            let remote = match (&source, args.file.as_deref().and_then(Path::to_str)) {
                (None, Some(url)) if rapport_engine::remote::is_remote(url) => {
                    let progress = spinner(quiet, format!("listing {url}"));
                    let remote = rapport_engine::remote::RemoteSource::open(url);
                    let objects = remote.and_then(|remote| remote.objects().map(|objects| (remote, objects)));
                    progress.finish_and_clear();
                    Some(objects?)
                }
                _ => None,
            };
            let files = match (&source, &args.file) {
                (Some(source), _) => vec![(source.label(), PathBuf::new())],
                (None, Some(_)) if remote.is_some() => {
                    let objects = remote.as_ref().map(|(_, objects)| objects.as_slice()).unwrap_or_default();
                    if objects.len() > 1 && args.replace.is_some() {
                        anyhow::bail!("--replace replaces a batch with one file; the prefix holds {} objects", objects.len());
                    }
                    objects.iter().map(|object| (object.url.clone(), PathBuf::from(&object.key))).collect()
                }
                (None, Some(file)) => {
                    let files = rapport_engine::input::input_files(file)?;
                    if files.len() > 1 && args.replace.is_some() {
                        anyhow::bail!("--replace replaces a batch with one file; {} holds {} files", file.display(), files.len());
                    }
                    files.into_iter().map(|path| (path.display().to_string(), path)).collect()
                }
                (None, None) => anyhow::bail!("give a FILE to ingest, or --postgres with --table or --query"),
            };
            let mut rows: Vec<(String, rapport_engine::workspace::IngestReport)> = Vec::new();
            for (index, (name, path)) in files.iter().enumerate() {
                let request = IngestRequest {
                    workspace: args.workspace.clone(),
                    kind,
                    input: file_input(path, &args.read)?,
                    mappings: args.mappings.clone(),
                    sets: args.sets.clone(),
                    filter: args.filter.clone(),
                    max_rejects: args.max_rejects,
                    replace: args.replace,
                    profile: args.profile.clone(),
                };
                let counter = if files.len() > 1 { format!(" ({} of {})", index + 1, files.len()) } else { String::new() };
                let progress = spinner(quiet, format!("ingesting {name}{counter}"));
                let report = match (&source, &remote) {
                    (Some(source), _) => rapport_engine::postgres::ingest_postgres(&request, source),
                    (None, Some((remote, objects))) => rapport_engine::remote::ingest_object(&request, remote, &objects[index]),
                    (None, None) => rapport_engine::workspace::ingest(&request),
                };
                progress.finish_and_clear();
                let report = match report {
                    Ok(report) => report,
                    Err(error) => {
                        if index > 0 {
                            // Each file is its own batch: those before are in the workspace
                            // (the table says which this run published), and the same
                            // command skips them once this one is fixed.
                            emit(&ingest_table(kind, &rows)?, args.format, None)?;
                            let published = rows.iter().filter(|(_, report)| report.batch.is_some()).count();
                            say!(
                                "{name} failed and nothing of it was written; the {index} file(s) before it are in the workspace ({published} published by this run, {} ingested before). Once it is fixed, the same command skips them and goes on from it ({} file(s) left)",
                                index - published,
                                files.len() - index
                            );
                        }
                        return Err(error.into());
                    }
                };
                report_ingest(&args.workspace, name, &report, quiet);
                rows.push((name.clone(), report));
            }
            if !quiet && args.profile.is_none() && rows.iter().any(|(_, report)| report.batch.is_some()) {
                let flags = rapport_engine::workspace::IngestFlags {
                    mappings: &args.mappings,
                    sets: &args.sets,
                    filter: args.filter.as_deref(),
                    time_format: args.read.time_format.as_deref(),
                    decimal_comma: args.read.decimal_comma,
                };
                if let Some(lines) = rapport_engine::workspace::unsaved_mapping(&args.workspace, kind, &flags)? {
                    say!(
                        "these flags read this ingest only; for the next export of this layout to need none, put these lines in {} (merged into its tables of the same name, replacing what it says of the same fields):\n{}",
                        args.workspace.join("rapport.toml").display(),
                        lines.trim_end()
                    );
                }
            }
            emit(&ingest_table(kind, &rows)?, args.format, None)
        }
        Command::Summary(args) => {
            check_output(args.format, args.output.as_deref())?;
            let source = match (&args.workspace, &args.file) {
                (Some(workspace), _) => PurchaseSource::Workspace(workspace.clone()),
                (None, Some(file)) => PurchaseSource::File { input: file_input(file, &args.read)?, columns: columns(&args.columns) },
                (None, None) => anyhow::bail!("give a transactions FILE or --workspace DIR"),
            };
            let request = SummaryRequest { source, window: window(&args.window)?, max_rejects: args.max_rejects };
            let progress = spinner(quiet, "summarising".to_string());
            let engine = engine_of(args.engine.as_deref(), args.memory_limit)?;
            let outcome = summarize_on(&request, &engine);
            progress.finish_and_clear();
            let outcome = outcome?;
            report_rejects(&outcome.rejected, args.rejects.as_deref(), quiet)?;
            if let Some(suspect) = &outcome.suspect_time_format {
                // Said whatever --quiet says: the output may be wrong.
                say!("warning: {suspect}; check --time-format");
            }
            let counts = outcome.summary.counts;
            if !quiet {
                say!(
                    "{} {} → {} {} ({} {}; {} after the observation end, left out; {} rejected)",
                    counts.rows,
                    plural_word(counts.rows, "row", "rows"),
                    outcome.summary.customers.len(),
                    plural_word(outcome.summary.customers.len() as u64, "customer", "customers"),
                    counts.refunds,
                    plural_word(counts.refunds, "refund", "refunds"),
                    counts.after_observation_end,
                    outcome.rejected.len()
                );
                if outcome.refunds_by_order > 0 {
                    let others = counts.refunds.saturating_sub(outcome.refunds_by_order);
                    // (The summary does not count refunds after the end apart from other
                    // rows after it: with any, the others are either kind.)
                    let why = if counts.after_observation_end > 0 {
                        "they name no order or another customer's, or were made after the observation end and are left out"
                    } else {
                        "they name no order, or another customer's"
                    };
                    say!(
                        "{} refund(s) netted against the purchase of the order they name{}",
                        outcome.refunds_by_order,
                        match others {
                            0 => String::new(),
                            _ => format!("; {others} other(s) are not ({why})"),
                        }
                    );
                }
                if outcome.unlinked > 0 {
                    say!(
                        "left out: {} row(s) naming only an order that no purchase with a customer carries ({} purchase(s), {} refund(s))",
                        outcome.unlinked,
                        outcome.unlinked - outcome.unlinked_refunds,
                        outcome.unlinked_refunds
                    );
                }
                if counts.refund_only_customers + counts.holdout_only_customers > 0 {
                    let mut left_out = vec![format!("{} customer(s) with only refunds", counts.refund_only_customers)];
                    if request.window.calibration_end.is_some() {
                        left_out.push(format!("{} who first bought after the calibration end", counts.holdout_only_customers));
                    }
                    say!("left out: {}", left_out.join(", "));
                }
            }
            let started = std::time::Instant::now();
            let format = resolve_format(args.format, args.output.as_deref(), Format::Csv);
            let written = emit(&outcome.summary.customers.to_record_batch(), format, args.output.as_deref());
            tracing::info!(target: "rapport::timings", write = ?started.elapsed(), "summary output");
            written
        }
    }
}

pub(crate) fn event_kind(kind: KindArg) -> EventKind {
    match kind {
        KindArg::Customers => EventKind::Customers,
        KindArg::Purchases => EventKind::Purchases,
        KindArg::Interactions => EventKind::Interactions,
        KindArg::Surveys => EventKind::Surveys,
        KindArg::Engagement => EventKind::Engagement,
        KindArg::Programs => EventKind::Programs,
        KindArg::Costs => EventKind::Costs,
        KindArg::Stores => EventKind::Stores,
    }
}

fn model_kind(model: ModelKindArg) -> ModelKind {
    match model {
        ModelKindArg::BgNbd => ModelKind::BgNbd,
        ModelKindArg::MbgNbd => ModelKind::MbgNbd,
        ModelKindArg::ParetoNbd => ModelKind::ParetoNbd,
        ModelKindArg::BgBb => ModelKind::BgBb,
        ModelKindArg::GammaGamma => ModelKind::GammaGamma,
    }
}

fn time_unit(unit: TimeUnitArg) -> TimeUnit {
    match unit {
        TimeUnitArg::Hours => TimeUnit::Hours,
        TimeUnitArg::Days => TimeUnit::Days,
        TimeUnitArg::Weeks => TimeUnit::Weeks,
        TimeUnitArg::Months => TimeUnit::Months,
    }
}

fn period(period: PeriodArg) -> Period {
    match period {
        PeriodArg::Hour => Period::Hour,
        PeriodArg::Day => Period::Day,
        PeriodArg::Week => Period::Week,
        PeriodArg::Month => Period::Month,
    }
}

fn input_format(format: InputFormatArg) -> InputFormat {
    match format {
        InputFormatArg::Auto => InputFormat::Auto,
        InputFormatArg::Csv | InputFormatArg::Tsv => InputFormat::Delimited,
        InputFormatArg::Jsonl => InputFormat::JsonLines,
        InputFormatArg::Parquet => InputFormat::Parquet,
        InputFormatArg::Lines => InputFormat::Lines,
    }
}

/// The delimiter: `--delimiter`, else a tab for `--input-format tsv`.
fn delimiter(delimiter: DelimiterArg, format: InputFormatArg) -> Delimiter {
    match delimiter {
        DelimiterArg::Auto if format == InputFormatArg::Tsv => Delimiter::Byte(b'\t'),
        DelimiterArg::Auto => Delimiter::Auto,
        DelimiterArg::Comma => Delimiter::Byte(b','),
        DelimiterArg::Semicolon => Delimiter::Byte(b';'),
        DelimiterArg::Tab => Delimiter::Byte(b'\t'),
        DelimiterArg::Pipe => Delimiter::Byte(b'|'),
        DelimiterArg::Whitespace => Delimiter::Whitespace,
    }
}

/// One row per file ingested (with a `file` column when there are several).
fn ingest_table(
    kind: rapport_engine::EventKind,
    rows: &[(String, rapport_engine::workspace::IngestReport)],
) -> Result<rapport_engine::output::RecordBatch> {
    let batch = |report: &rapport_engine::workspace::IngestReport| {
        report.batch.as_ref().map_or_else(|| "(nothing new)".to_string(), |batch| format!("{:06}", batch.id))
    };
    let mut table = TableBuilder::default();
    if rows.len() > 1 {
        table = table.text("file", rows.iter().map(|(name, _)| name.as_str()));
    }
    Ok(table
        .text("kind", rows.iter().map(|_| kind.name()))
        .count("accepted", rows.iter().map(|(_, report)| report.accepted))
        .count("rejected", rows.iter().map(|(_, report)| report.rejected))
        .count("duplicates", rows.iter().map(|(_, report)| report.duplicates))
        .count("filtered", rows.iter().map(|(_, report)| report.filtered))
        .text("batch", rows.iter().map(|(_, report)| batch(report)))
        .build()
        .map_err(EngineError::from)?)
}

/// What an ingest of one file did, on stderr: its first rejects, where the rest are
/// kept and how to correct them, rows the filter skipped, a file ingested before.
fn report_ingest(workspace: &Path, name: &str, report: &rapport_engine::workspace::IngestReport, quiet: bool) {
    // Said whatever --quiet says, as `summary` does: the accepted rows may be misread.
    let rows = report.accepted + report.rejected + report.duplicates + report.filtered + report.forgotten;
    if let Some(column) = &report.time_column
        && report.time_rejects > 0
        && report.time_rejects as f64 >= rapport_engine::summary::SuspectTimeFormat::SHARE * rows as f64
    {
        let suspect = rapport_engine::summary::SuspectTimeFormat { rejected: report.time_rejects, rows, column: column.clone() };
        let fix = match report.batch.as_ref() {
            Some(batch) if report.accepted > 0 => format!(", then ingest the file again with --replace {}", batch.id),
            _ => String::new(),
        };
        say!("warning: {name}: {suspect}; check --time-format{fix}");
    }
    if report.float_customer_ids > 0 {
        // Said whatever --quiet says: a customer split in two is not visible later.
        say!(
            "warning: {name}: {} row(s) write their customer id as a float (17850.0), which another file's 17850 does not match; to read it as 17850, ingest with --map 'customer_id==round(COLUMN)' (and --replace the batch)",
            report.float_customer_ids
        );
    }
    if quiet {
        return;
    }
    show_rejects(&report.first_rejects, report.rejected as usize);
    if let Some(earlier) = report.already_ingested {
        say!("{name} was ingested before with the same options (batch {earlier:06}): nothing new");
    }
    if let Some(file) = rapport_engine::workspace::quarantine_path(workspace, report) {
        let already = if report.already_quarantined.is_some() { " already (this file was ingested before)" } else { "" };
        say!("{} rejected row(s), all kept{already} in {}", report.rejected, file.display());
        let batch = report.batch.as_ref().map(|batch| batch.id).or(report.already_ingested);
        if let Some(batch) = batch {
            say!(
                "to fix them: rapport quarantine export --workspace {} --batch {batch} --output fixed.csv, correct, then ingest fixed.csv",
                workspace.display()
            );
        }
    }
    if !report.unmapped.is_empty() {
        // Said, so that a column meant for a field (a differently named amount, say) is
        // not lost without a word.
        let shown: Vec<&str> = report.unmapped.iter().take(8).map(String::as_str).collect();
        let more = report.unmapped.len() - shown.len();
        say!(
            "{name}: not stored, no field maps {}: {}{} (`rapport ingest --help` lists the fields; --map FIELD=COLUMN maps one)",
            if report.unmapped.len() == 1 { "it" } else { "them" },
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        );
    }
    if report.content_duplicates > 0 && report.accepted > 0 {
        // Part of the file was new and part repeated stored rows exactly: a re-sent overlap,
        // or identical line items that only an event id tells apart (a file split in parts).
        say!(
            "{name}: {} row(s) repeat a stored row in every column and were taken as the same events; if they are new events (a second identical line item in another file), map a column that tells them apart: --map event_id=COLUMN",
            report.content_duplicates
        );
    }
    if report.filtered > 0 {
        say!("{name}: {} row(s) skipped by the filter", report.filtered);
    }
    if report.without_customer > 0 {
        // Said at ingest, not first in `summary`: a retail export's guest checkouts (a
        // third of Online Retail's rows) belong to no one unless a purchase names them.
        let read = report.accepted + report.rejected + report.duplicates + report.filtered + report.forgotten;
        say!(
            "{name}: {} of {read} row(s) ({:.0}%) name no customer, only an order: the analysis gives each to the customer whose purchase carries its order, and leaves out those no purchase with a customer carries",
            report.without_customer,
            100.0 * report.without_customer as f64 / read.max(1) as f64
        );
    }
    if report.forgotten > 0 {
        say!("{name}: {} row(s) of customers forgotten in this workspace skipped (rapport forget; audit.jsonl)", report.forgotten);
    }
}

fn file_input(path: &Path, read: &ReadArgs) -> Result<FileInput> {
    Ok(FileInput {
        path: path.to_path_buf(),
        format: input_format(read.input_format),
        delimiter: delimiter(read.delimiter, read.input_format),
        columns: read.columns.clone(),
        time_format: read.time_format.as_deref().map(str::parse::<TimeFormat>).transpose().map_err(EngineError::from)?.unwrap_or_default(),
        numbers: rapport_engine::NumberFormat { decimal_comma: read.decimal_comma },
        encoding: read.encoding.as_deref().map(rapport_engine::input::text_encoding).transpose().map_err(EngineError::from)?,
    })
}

fn columns(columns: &Columns) -> TransactionColumns {
    TransactionColumns {
        customer: columns.customer_column.clone(),
        time: columns.time_column.clone(),
        amount: columns.amount_column.clone(),
    }
}

fn window(window: &WindowArgs) -> Result<WindowSpec> {
    Ok(WindowSpec {
        period: period(window.period),
        time_unit: window.time_unit.map(time_unit),
        observation_end: window.observation_end.clone(),
        calibration_end: window.calibration_end.clone(),
        zone: window.timezone.as_deref().map(str::parse).transpose().map_err(EngineError::from)?,
    })
}

/// The output format: as given, else from the output file's extension, else `default`.
/// Refuse Parquet to standard output before any work is done.
/// Repeat a run's warnings about its lifetime-value fit on stderr (even with --quiet, as
/// `analyze` does): the figures a command prints from the run rest on it.
fn warn_fit(workspace: &Path, run: &str) {
    for warning in rapport_engine::relationship::fit_warnings(workspace, run) {
        say!("warning: {warning}");
    }
}

fn matrix(args: &MatrixArgs, quiet: bool) -> Result<()> {
    check_output(Some(args.format), args.output.as_deref())?;
    let request = rapport_engine::relationship::MatrixRequest {
        workspace: args.workspace.clone(),
        run: args.run.clone(),
        compare: args.compare.clone(),
    };
    let report = rapport_engine::relationship::matrix(&request)?;
    warn_fit(&args.workspace, &report.run.id);
    for warning in rapport_engine::relationship::matrix_warnings(&args.workspace, &report.run.id) {
        say!("warning: {warning}");
    }
    let needs_compare =
        |view: &str| anyhow::anyhow!("--view {view} needs --compare RUN (an earlier analysis run; `rapport runs` lists them)");
    let chosen = |view: MatrixView| -> Result<&rapport_engine::output::RecordBatch> {
        Ok(match view {
            MatrixView::Cells => &report.cells,
            MatrixView::Watch => &report.watch,
            MatrixView::Migration => report.migration.as_ref().ok_or_else(|| needs_compare("migration"))?,
            MatrixView::Movers => report.movers.as_ref().ok_or_else(|| needs_compare("movers"))?,
        })
    };
    match (args.format, args.view) {
        (Format::Json, _) => {
            let rows = |batch: &rapport_engine::output::RecordBatch| serde_json::Value::Array(rapport_engine::output::json_rows(batch));
            let document = serde_json::json!({
                "run": report.run.id,
                "compare": report.compare.as_ref().map(|run| run.id.clone()),
                "settings": report.settings,
                "cells": rows(&report.cells),
                "top_tier_watch": rows(&report.watch),
                "directions": report.directions,
                "migration": report.migration.as_ref().map(rows),
                "movers": report.movers.as_ref().map(rows),
            });
            let text = serde_json::to_string_pretty(&document)? + "\n";
            match &args.output {
                Some(path) => {
                    std::fs::write(path, text).map_err(|source| EngineError::Write { target: path.display().to_string(), source })?
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        (Format::Table, None) if args.output.is_none() => {
            let mut out = std::io::stdout().lock();
            write_grid(&mut out, &report)?;
            if !quiet && report.compare.is_none() {
                say!("more: --view cells|watch for the tables, --compare RUN for movement, --format json for everything");
            }
            Ok(())
        }
        (format, view) => {
            let view = view.unwrap_or(MatrixView::Cells);
            let table = chosen(view)?;
            if table.num_rows() == 0 && !quiet && matches!(view, MatrixView::Watch) {
                say!("no top-tier customer has a new risk signal in this run");
            }
            emit(table, format, args.output.as_deref())
        }
    }
}

/// The grid as text: longevity bands down, strength bands across; each cell's customers
/// and predicted spend per customer over the next 52 weeks.
fn write_grid(out: &mut dyn Write, report: &rapport_engine::relationship::MatrixReport) -> Result<()> {
    use rapport_engine::output::{Array, AsArray, UInt64Type};
    let cells = &report.cells;
    let column = |name: &str| cells.column_by_name(name).cloned();
    let (Some(longevity), Some(strength), Some(customers), Some(predicted)) =
        (column("longevity_band"), column("strength_band"), column("customers"), column("predicted_spend_per_customer"))
    else {
        return Ok(());
    };
    let (longevity, strength, customers) =
        (longevity.as_primitive::<UInt64Type>(), strength.as_primitive::<UInt64Type>(), customers.as_primitive::<UInt64Type>());
    let predicted = predicted.as_primitive::<rapport_engine::output::Float64Type>();
    // Every band the run cut, with those no customer fell in (ties share a band) shown
    // empty, not left out: a missing top column would read as "S4 is the strongest".
    let configured = |name: &str| report.settings["matrix"][name].as_u64().unwrap_or(0);
    let rows = longevity.values().iter().copied().max().unwrap_or(0).max(configured("longevity_bands"));
    let columns = strength.values().iter().copied().max().unwrap_or(0).max(configured("strength_bands"));
    let mut grid = std::collections::HashMap::new();
    for row in 0..cells.num_rows() {
        let spend = if predicted.is_null(row) { f64::NAN } else { predicted.value(row) };
        grid.insert((longevity.value(row), strength.value(row)), (customers.value(row), spend));
    }
    writeln!(out, "Customer Matrix, run {}: customers / predicted spend per customer, next 52 weeks", report.run.id)?;
    write!(out, "{:<16}", "longevity \\ strength")?;
    for s in 1..=columns {
        write!(
            out,
            "{:>18}",
            format!(
                "S{s}{}",
                if s == 1 {
                    " weakest"
                } else if s == columns {
                    " strongest"
                } else {
                    ""
                }
            )
        )?;
    }
    writeln!(out)?;
    for l in (1..=rows).rev() {
        write!(
            out,
            "{:<16}",
            format!(
                "L{l}{}",
                if l == 1 {
                    " newest"
                } else if l == rows {
                    " longest"
                } else {
                    ""
                }
            )
        )?;
        for s in 1..=columns {
            match grid.get(&(l, s)) {
                Some((n, spend)) if spend.is_finite() => write!(out, "{:>18}", format!("{n} / {spend:.2}"))?,
                Some((n, _)) => write!(out, "{:>18}", format!("{n} / –"))?,
                None => write!(out, "{:>18}", "·")?,
            }
        }
        writeln!(out)?;
    }
    let watched = report.watch.num_rows();
    let customers = if watched == 1 { "customer" } else { "customers" };
    writeln!(
        out,
        "Top tier ({}): {watched} {customers} with new risk signals (--view watch)",
        report.settings["matrix"]["top_tier"].as_str().unwrap_or("?")
    )?;
    if let Some(compare) = &report.compare {
        let parts: Vec<String> = report.directions.iter().map(|(way, n)| format!("{n} {}", way.replace('_', " "))).collect();
        writeln!(out, "Since run {}: {} (--view movers, --view migration)", compare.id, parts.join(", "))?;
    }
    Ok(())
}

fn check_output(format: Option<Format>, output: Option<&Path>) -> Result<()> {
    if format == Some(Format::Parquet) && output.is_none() {
        return Err(EngineError::OutputFileNeeded.into());
    }
    Ok(())
}

fn resolve_format(format: Option<Format>, output: Option<&Path>, default: Format) -> Format {
    let from_extension = || match output?.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "parquet" | "pq" => Some(Format::Parquet),
        "json" => Some(Format::Json),
        "jsonl" | "ndjson" => Some(Format::Jsonl),
        "csv" => Some(Format::Csv),
        _ => None,
    };
    format.or_else(from_extension).unwrap_or(default)
}

fn customer_source(input: &ClvInput) -> Result<CustomerSource> {
    if let Some(path) = &input.summary {
        return Ok(CustomerSource::SummaryFile { path: path.clone(), time_unit: input.window.time_unit.map(time_unit) });
    }
    let source = match (&input.workspace, &input.transactions) {
        (Some(workspace), _) => PurchaseSource::Workspace(workspace.clone()),
        (None, Some(file)) => PurchaseSource::File { input: file_input(file, &input.read)?, columns: columns(&input.columns) },
        (None, None) => anyhow::bail!("give a transactions FILE, --summary FILE or --workspace DIR"),
    };
    Ok(CustomerSource::Purchases(SummaryRequest { source, window: window(&input.window)?, max_rejects: input.max_rejects }))
}

fn clv(command: ClvCommand, quiet: bool) -> Result<()> {
    match command {
        ClvCommand::Fit(args) => {
            check_output(args.format, args.output.as_deref())?;
            let request = FitRequest {
                source: customer_source(&args.input)?,
                model: model_kind(args.input.model.unwrap_or(ModelKindArg::BgNbd)),
                options: FitOptions { penalizer: args.input.penalizer },
            };
            let progress = spinner(quiet, format!("fitting {}", request.model));
            let outcome = rapport_engine::clv::fit(&request);
            progress.finish_and_clear();
            let outcome = outcome?;
            report_rejects(&outcome.rejected, None, quiet)?;
            if let Some(path) = &args.save {
                rapport_engine::clv::save_model(path, &outcome.saved)?;
                if !quiet && outcome.saved.time_unit().is_none() && outcome.saved.model.kind().is_count_model() {
                    say!(
                        "warning: {} is saved without a time unit: it applies only to data whose unit is unknown too; give \
                         --time-unit when fitting so that it can be applied to data in any unit",
                        path.display()
                    );
                }
            }
            let report = outcome.saved.model.report();
            warn_unidentified(report, quiet);
            match resolve_format(args.format, args.output.as_deref(), Format::Json) {
                Format::Json | Format::Jsonl => {
                    let text = serde_json::to_string_pretty(&rapport_engine::clv::fit_json(report))? + "\n";
                    match &args.output {
                        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
                        None => std::io::stdout().lock().write_all(text.as_bytes())?,
                    }
                    Ok(())
                }
                format => {
                    let table = TableBuilder::default()
                        .text("parameter", &report.names)
                        .float("estimate", report.params.iter().copied())
                        .float("std_error", report.std_errors.iter().copied())
                        .float("ci95_low", report.intervals.iter().map(|interval| interval.0))
                        .float("ci95_high", report.intervals.iter().map(|interval| interval.1))
                        .build()
                        .map_err(EngineError::from)?;
                    if !quiet {
                        say!(
                            "{}: log-likelihood {:.4}, {} customers, converged: {}, {} iterations",
                            report.model,
                            report.log_likelihood,
                            report.n_customers,
                            report.converged,
                            report.iterations
                        );
                    }
                    emit(&table, format, args.output.as_deref())
                }
            }
        }
        ClvCommand::Track(args) => {
            check_output(args.format, args.output.as_deref())?;
            let request = TrackRequest {
                input: file_input(&args.transactions, &args.read)?,
                columns: columns(&args.columns),
                window: window(&args.window)?,
                model: args.model.map(model_kind),
                saved: args.params.clone(),
                step: args.step,
                periods: args.periods,
                max_rejects: args.max_rejects,
                options: FitOptions { penalizer: args.penalizer },
            };
            let outcome = rapport_engine::clv::track(&request)?;
            report_rejects(&outcome.rejected, None, quiet)?;
            let points = &outcome.points;
            let table = TableBuilder::default()
                .count("step", points.iter().map(|point| point.step as u64))
                .text("date", points.iter().map(|point| point.date.as_str()))
                .float("time", points.iter().map(|point| point.time))
                .count("actual", points.iter().map(|point| point.actual))
                .float("expected", points.iter().map(|point| point.expected))
                .build()
                .map_err(EngineError::from)?;
            emit(&table, resolve_format(args.format, args.output.as_deref(), Format::Csv), args.output.as_deref())
        }
        ClvCommand::Predict(args) => {
            check_output(args.format, args.output.as_deref())?;
            let request = PredictRequest {
                source: customer_source(&args.input)?,
                model: args.input.model.map(model_kind),
                saved: args.params.clone(),
                horizon: args.horizon,
                clv: ClvSpec {
                    months: args.clv_months,
                    discount_rate: args.discount_rate,
                    discount_period: match args.discount_period {
                        DiscountPeriodArg::Month => DiscountPeriod::Month,
                        DiscountPeriodArg::Year => DiscountPeriod::Year,
                    },
                    month: match args.month {
                        MonthArg::Mean => MonthDefinition::Mean,
                        MonthArg::Lifetimes => MonthDefinition::Lifetimes,
                    },
                },
                options: FitOptions { penalizer: args.input.penalizer },
            };
            let engine = engine_of(args.engine.as_deref(), args.memory_limit)?;
            if engine != rapport_engine::summary::Engine::Embedded && args.input.workspace.is_none() {
                return Err(
                    EngineError::Request(format!("--engine {engine} predicts for a workspace's customers: give --workspace")).into()
                );
            }
            let progress = spinner(quiet, "predicting".to_string());
            let outcome = rapport_engine::clv::predict_on(&request, &engine);
            progress.finish_and_clear();
            let outcome = outcome?;
            report_rejects(&outcome.rejected, None, quiet)?;
            for report in &outcome.models {
                if !quiet {
                    let params: Vec<String> = report.named_params().map(|(name, value)| format!("{name} = {value:.4}")).collect();
                    say!(
                        "{}: {} (log-likelihood {:.2}, {} customers)",
                        report.model,
                        params.join(", "),
                        report.log_likelihood,
                        report.n_customers
                    );
                }
                warn_unidentified(report, quiet);
            }
            if !quiet && outcome.spend_left_out > 0 {
                say!(
                    "{} repeat buyer(s) with a mean spend of zero or less (refunds outweighing purchases, or purchases of zero) were left out of the \
                     Gamma-Gamma spend model; their expected spend is the model's for a mean spend of 0",
                    outcome.spend_left_out
                );
            }
            if !quiet {
                let unit = outcome.customers.window().time_unit.map_or_else(|| "time units".to_string(), |unit| unit.to_string());
                say!("expected_purchases: over the next {} {unit} (--horizon)", args.horizon);
                if let Some(holdout) = &outcome.holdout {
                    say!("holdout: {holdout}");
                }
                if let Some(run) = &outcome.run {
                    say!("results run {} written ({} customers)", run.id, run.customers);
                }
            }
            emit(
                &outcome.customers.to_record_batch(),
                resolve_format(args.format, args.output.as_deref(), Format::Csv),
                args.output.as_deref(),
            )
        }
    }
}

fn sentiment_model(arg: ModelArg) -> SentimentModel {
    match arg {
        ModelArg::Service => SentimentModel::Service,
        ModelArg::Vader => SentimentModel::Vader,
    }
}

/// A text input: the file (or `stdin` for `-` or nothing, with standard input as the
/// stream) and how to read it.
fn text_input(
    file: Option<&PathBuf>,
    format: InputFormatArg,
    encoding: Option<&str>,
) -> Result<(FileInput, Option<Box<dyn std::io::Read>>), EngineError> {
    let path = file.filter(|path| path.as_os_str() != "-");
    let input = FileInput {
        path: path.cloned().unwrap_or_else(|| PathBuf::from("stdin")),
        format: input_format(format),
        delimiter: delimiter(DelimiterArg::Auto, format),
        encoding: encoding.map(rapport_engine::input::text_encoding).transpose().map_err(EngineError::from)?,
        ..FileInput::default()
    };
    let stream: Option<Box<dyn std::io::Read>> = match path {
        Some(_) => None,
        None => Some(Box::new(std::io::stdin())),
    };
    Ok((input, stream))
}

fn sentiment(args: &SentimentArgs, quiet: bool) -> Result<()> {
    use rapport_engine::sentiment::{SentimentFormat, TextRequest, score_stream};
    let model = sentiment_model(args.model);
    if args.evaluate || args.evaluate_labels {
        return evaluate_sentiment(args);
    }
    let (input, stream) = text_input(args.file.as_ref(), args.input_format, args.encoding.as_deref())?;
    let request = TextRequest {
        input,
        text_column: args.text_column.clone(),
        id_column: args.id_column.clone(),
        max_rejects: args.text_rejects.max_rejects,
    };
    let format = match args.format {
        SentimentOutput::Csv => SentimentFormat::Csv,
        SentimentOutput::Jsonl => SentimentFormat::Jsonl,
    };
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock())),
    };
    let outcome = score_stream(&request, stream, model, format, &mut out)?;
    report_rejects(&outcome.rejected, args.text_rejects.rejects.as_deref(), quiet)?;
    for warning in &outcome.warnings {
        say!("warning: {warning}");
    }
    if !quiet {
        let counts = outcome.counts;
        say!(
            "{} texts scored{}",
            counts.texts,
            if counts.missing > 0 { format!(", {} without text (scored as empty)", counts.missing) } else { String::new() }
        );
    }
    Ok(())
}

/// `sentiment --evaluate` and `--evaluate-labels`: the reference comparisons.
fn evaluate_sentiment(args: &SentimentArgs) -> Result<()> {
    use rapport_engine::sentiment::{CLASSES, evaluate_labels, paper_correlation};
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
    {
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
    }
    Ok(())
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
    let (input, stream) = text_input(args.file.as_ref(), args.input_format, args.encoding.as_deref())?;
    let only = match args.only.as_deref().map(|condition| condition.split_once('=')) {
        None => None,
        Some(Some((column, value))) if !column.trim().is_empty() => Some((column.trim().to_string(), value.to_string())),
        Some(_) => {
            return Err(EngineError::Request(format!(
                "--only {:?} is not COLUMN=VALUE (e.g. --only inbound=true)",
                args.only.as_deref().unwrap_or_default()
            ))
            .into());
        }
    };
    let request = TopicsRequest {
        input,
        columns: TextColumns {
            text: args.text_column.clone(),
            id: args.id_column.clone(),
            time: args.time_column.clone(),
            label: args.label_column.clone(),
            only,
        },
        max_rejects: args.text_rejects.max_rejects,
        model: sentiment_model(args.model),
        all: args.all,
        options: TopicOptions { topics: args.topics, max_topics: args.max_topics.max(2), seed: args.seed, ..TopicOptions::default() },
        trend_period: match args.trend_period {
            TrendPeriod::Day => Period::Day,
            TrendPeriod::Week => Period::Week,
            TrendPeriod::Month => Period::Month,
        },
        time_format: args.time_format.parse::<TimeFormat>().map_err(EngineError::from)?,
        zone: args.timezone.parse().map_err(EngineError::from)?,
        examples: args.examples,
    };
    let progress = spinner(quiet, "finding topics".to_string());
    let report = complaint_topics(&request, stream);
    progress.finish_and_clear();
    let report = report?;
    report_rejects(&report.rejected, args.text_rejects.rejects.as_deref(), quiet)?;
    for warning in &report.warnings {
        say!("warning: {warning}");
    }
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
        say!(
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
        if let Some(only) = &report.only {
            say!("{} row(s) left out by --only: not {}", only.left_out, only.condition);
        }
        for topic in &report.topics {
            say!("  {:>2}. {:<40} {:>6} texts ({:.1}%)", topic.topic, topic.label, topic.size, topic.share * 100.0);
        }
        if report.unassigned > 0 {
            say!(
                "{} grouped text(s) have no topic: none of their words occurs in at least {} and at most half of the grouped \
                 texts, as a topic's words must (very short or unusual texts end up here); each is still listed, with its \
                 sentiment",
                report.unassigned,
                2.max(report.grouped / 1000)
            );
        }
    }
    Ok(())
}

/// Progress on stderr: a spinner on a terminal; otherwise one line per stage (the text
/// before a colon), so logs show where the time went without a line per tick.
struct Stages {
    bar: ProgressBar,
    plain: bool,
    last: std::sync::Mutex<String>,
}

impl Stages {
    fn new(quiet: bool) -> Stages {
        let bar = spinner(quiet, String::new());
        Stages { bar, plain: !quiet && !std::io::stderr().is_terminal(), last: std::sync::Mutex::new(String::new()) }
    }

    fn show(&self, message: &str) {
        self.bar.set_message(message.to_string());
        if self.plain {
            let stage = message.split(':').next().unwrap_or(message).to_string();
            if let Ok(mut last) = self.last.lock()
                && *last != stage
            {
                say!("{stage}…");
                *last = stage;
            }
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Headlines as a table: name, estimate, interval, n, unit (and the truth, if known).
fn headline_table(
    headlines: &std::collections::BTreeMap<String, rapport_engine::analyze::Headline>,
    truth: Option<&std::collections::BTreeMap<String, f64>>,
) -> Result<rapport_engine::output::RecordBatch> {
    let mut builder = TableBuilder::default()
        .text("headline", headlines.keys().map(String::as_str))
        .float("estimate", headlines.values().map(|headline| headline.estimate))
        .float("lower", headlines.values().map(|headline| headline.lower.unwrap_or(f64::NAN)))
        .float("upper", headlines.values().map(|headline| headline.upper.unwrap_or(f64::NAN)))
        .count("n", headlines.values().map(|headline| headline.n))
        .text("of", headlines.values().map(|headline| headline.of.as_str()))
        .text("unit", headlines.values().map(|headline| headline.unit.as_str()));
    if let Some(truth) = truth {
        builder = builder.float("truth", headlines.keys().map(|name| truth.get(name).copied().unwrap_or(f64::NAN)));
    }
    Ok(builder.build().map_err(EngineError::from)?)
}

/// The overview's measured figures (those with an interval) as headlines, for the table
/// printed when no headline could be measured.
fn overview_headlines(overview: &serde_json::Value) -> std::collections::BTreeMap<String, rapport_engine::analyze::Headline> {
    let mut out = std::collections::BTreeMap::new();
    for (name, figure) in overview.as_object().into_iter().flatten() {
        // A figure of no one (CLV without a fit) says nothing here.
        let Some(estimate) = figure.get("estimate").filter(|_| figure["n"].as_u64().is_some_and(|n| n > 0)) else { continue };
        let bound = |key: &str| figure[key].as_f64();
        out.insert(
            name.clone(),
            rapport_engine::analyze::Headline {
                estimate: estimate.as_f64().unwrap_or(f64::NAN),
                lower: bound("lower"),
                upper: bound("upper"),
                n: figure["n"].as_u64().unwrap_or(0),
                unit: figure["unit"].as_str().unwrap_or_default().to_string(),
                of: figure["of"].as_str().unwrap_or_default().to_string(),
            },
        );
    }
    out
}

fn report_skipped(skipped: &std::collections::BTreeMap<String, String>) {
    if !skipped.is_empty() {
        say!("skipped:");
        for (name, reason) in skipped {
            say!("  {name}: {reason}");
        }
    }
}

fn brand_demo(args: &crate::args::DemoArgs, quiet: bool) -> Result<()> {
    let stages = Stages::new(quiet);
    let request = rapport_engine::demo::BrandDemoRequest {
        directory: args.workspace.clone(),
        customers: args.customers,
        seed: args.seed,
        truth_customers: args.truth_customers.unwrap_or_else(|| rapport_engine::demo::truth_customers_for(args.customers)),
    };
    let report = rapport_engine::demo::run_brand_demo(&request, &|message| stages.show(message));
    stages.finish();
    let report = report?;
    let truth = &report.generated.ground_truth.truth;
    if args.format != Format::Table {
        if args.format == Format::Json {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report.analysis.summary)?;
            writeln!(out)?;
            return Ok(());
        }
        return emit(&headline_table(&report.analysis.headlines, Some(truth))?, args.format, None);
    }
    let events: u64 = report.ingests.iter().map(|(_, ingest)| ingest.accepted).sum();
    let rejected: u64 = report.ingests.iter().map(|(_, ingest)| ingest.rejected).sum();
    let [generating, ingesting, analysing] = report.seconds;
    let run = report.workspace.join("results").join(&report.analysis.run.id);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Rapport demo — a synthetic brand of {} customers (seed {}), workspace {}",
        args.customers,
        args.seed,
        report.workspace.display()
    )?;
    writeln!(out, "  generated  {:>10} files in {}  ({generating:.1} s)", report.generated.rows.len(), report.generated.output.display())?;
    writeln!(out, "  ingested   {events:>10} events, {rejected} rejected  ({ingesting:.1} s)")?;
    writeln!(
        out,
        "  analysed   {:>10} customers as of {}  ({analysing:.1} s)",
        report.analysis.summary["customers"],
        report.analysis.summary["as_of"].as_str().unwrap_or("")
    )?;
    writeln!(out)?;
    writeln!(out, "Headlines, each with its 95% interval and sample; truth = the population value the brand was built with:")?;
    for (name, headline) in &report.analysis.headlines {
        let interval = match (headline.lower, headline.upper) {
            (Some(lower), Some(upper)) => format!("[{lower:.2}, {upper:.2}]"),
            _ => "[no interval]".to_string(),
        };
        let truth = truth.get(name).map(|value| format!("truth {value:.2}")).unwrap_or_default();
        writeln!(out, "  {name:<36} {:>9.2} {interval:<20} n = {:<7} {:<14} {}", headline.estimate, headline.n, truth, headline.unit)?;
    }
    writeln!(out)?;
    writeln!(out, "Where everything is:")?;
    writeln!(out, "  {}  headlines with intervals, skipped analyses, rejected rows", run.join("summary.json").display())?;
    writeln!(
        out,
        "  {}  one row per customer (facts, P(alive), CLV, strength, matrix cell, RFM segment, cluster)",
        run.join("customers.parquet").display()
    )?;
    writeln!(
        out,
        "  {}/*.parquet  breakdowns: voice of the customer, detractor drivers, service, programs, regions, distance to stores, sentiment, the Customer Matrix, segments, actions",
        run.display()
    )?;
    writeln!(out, "  {}  the generated files and ground_truth.json", report.generated.output.display())?;
    writeln!(
        out,
        "Next: rapport matrix --workspace {0}   ·   rapport segments --workspace {0}   ·   rapport actions --workspace {0}   ·   rapport demo --cdnow for the CDNOW walk-through",
        report.workspace.display()
    )?;
    if !quiet {
        report_skipped(&report.analysis.skipped);
    }
    Ok(())
}

fn demo(directory: &Path, format: Format, quiet: bool) -> Result<()> {
    let progress = spinner(quiet, "running the demo".to_string());
    let report = rapport_engine::demo::run_demo(directory);
    progress.finish_and_clear();
    let report = report?;
    if format != Format::Table {
        let table = TableBuilder::default()
            .text("workspace", [report.workspace.display().to_string()])
            .count("events_ingested", [report.ingest.accepted])
            .count("customers", [report.customers as u64])
            .count("repeat_customers", [report.repeat_customers as u64])
            .count("repeat_purchases_calibration", [report.repeat_purchases_calibration])
            .count("purchases_holdout", [report.purchases_holdout])
            .float("mean_repeat_value", [report.mean_repeat_value])
            .build()
            .map_err(EngineError::from)?;
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
    let named = |fit: &rapport_engine::FitReport| {
        fit.named_params().map(|(name, value)| format!("{name} = {value:.4}")).collect::<Vec<_>>().join(", ")
    };
    writeln!(out)?;
    writeln!(out, "Lifetime value (fitted on the calibration window; Fader, Hardie & Lee 2005):")?;
    writeln!(out, "  BG/NBD       {}  (LL {:.2})", named(&report.count_model), report.count_model.log_likelihood)?;
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
    rapport_engine::output::write_aligned(&report.summary.customers.to_record_batch(), &mut out, 10)?;
    writeln!(out)?;
    if let Some(run) = &report.run {
        writeln!(
            out,
            "Every customer's P(alive) and CLV: results run {} (rapport runs --workspace {})",
            run.id,
            report.workspace.display()
        )?;
    }
    writeln!(
        out,
        "Next: rapport summary --workspace {} --period day --time-unit weeks --calibration-end 1997-09-30",
        report.workspace.display()
    )?;
    Ok(())
}

/// Say which parameters a fit could not identify, what that means, and what to do.
fn warn_unidentified(report: &rapport_engine::FitReport, quiet: bool) {
    if quiet || report.not_identified.is_empty() {
        return;
    }
    let dropout = report.not_identified.iter().any(|entry| ["a ", "b ", "s ", "beta "].iter().any(|name| entry.starts_with(name)));
    let meaning = if dropout && matches!(report.model.as_str(), "bg-nbd" | "mbg-nbd" | "pareto-nbd") {
        " In plain words: these data show little or no sign of customers leaving, so the model cannot say how fast they leave; \
         P(alive) will be close to 1 for almost everyone and is not informative."
    } else {
        ""
    };
    say!(
        "warning: {}: the data do not pin down {} — the fit is as good whatever their value in that direction, so their \
         estimates are arbitrary and have no interval.{meaning}{}",
        report.model,
        report.not_identified.join(", "),
        if report.penalizer > 0.0 {
            " Try a larger --penalizer."
        } else {
            " A penalty settles them: refit with --penalizer 0.01 (0.001–0.1), and compare."
        }
    );
}

/// Show the first rejected rows on stderr, and how many more there are.
fn show_rejects(shown: &[Rejected], total: usize) {
    for row in shown.iter().take(SHOWN_REJECTS) {
        say!("rejected {row}");
    }
    if total > SHOWN_REJECTS.min(shown.len()) {
        say!("… and {} more rejected row(s)", total - SHOWN_REJECTS.min(shown.len()));
    }
    if shown.iter().any(|row| row.expected.starts_with("valid UTF-8 text")) {
        say!("the file is not UTF-8 throughout: if it is a Windows or Latin-1 export, read it with --encoding windows-1252");
    }
}

fn report_rejects(rejected: &[Rejected], path: Option<&Path>, quiet: bool) -> Result<()> {
    if !quiet {
        show_rejects(rejected, rejected.len());
        if rejected.len() > SHOWN_REJECTS && path.is_none() {
            say!("(--rejects FILE writes every rejected row)");
        }
    }
    if let Some(path) = path {
        emit(&rapport_engine::output::rejects_table(rejected)?, Format::Csv, Some(path))?;
    }
    Ok(())
}

/// Print or write a table.
pub fn emit(batch: &rapport_engine::output::RecordBatch, format: Format, output: Option<&Path>) -> Result<()> {
    let format = match format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Jsonl => OutputFormat::Jsonl,
        Format::Parquet => OutputFormat::Parquet,
    };
    match rapport_engine::output::write(batch, format, output, &mut std::io::stdout().lock()) {
        Err(error) if error.is_broken_pipe() => Ok(()),
        other => Ok(other?),
    }
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

/// `rapport serve`: until Ctrl-C or SIGTERM.
fn serve(args: &ServeArgs, quiet: bool) -> anyhow::Result<()> {
    let mut options = rapport_server::ServeOptions::new(args.workspace.clone());
    options.rate_limit = args.rate_limit;
    options.max_body_bytes = (args.max_body_mb as usize) << 20;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let workspace = args.workspace.clone();
    runtime.block_on(async move {
        let shutdown = async {
            let interrupt = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(signal) => signal,
                    Err(_) => return,
                };
                tokio::select! { _ = interrupt => {}, _ = terminate.recv() => {} }
            }
            #[cfg(not(unix))]
            {
                let _ = interrupt.await;
            }
        };
        let ready = move |bound: std::net::SocketAddr| {
            // The address on stdout (for scripts that asked for port 0), the rest on stderr.
            println!("http://{bound}/");
            if !quiet {
                say!(
                    "serving {} on http://{bound}/ (API under /api/v1/, OpenAPI at /openapi.json, kiosk at /kiosk/nps); Ctrl-C stops",
                    workspace.display()
                );
                if rapport_engine::workspace::list_tokens(&workspace)
                    .map(|tokens| tokens.iter().all(|token| token.revoked_at.is_some()))
                    .unwrap_or(false)
                {
                    say!("no token yet: `rapport token create --workspace {} --role admin` makes one", workspace.display());
                }
            }
        };
        rapport_server::serve(options, args.addr, ready, shutdown).await
    })?;
    Ok(())
}

/// `singular` for one, `plural` otherwise.
fn plural_word(count: u64, singular: &'static str, plural: &'static str) -> &'static str {
    if count == 1 { singular } else { plural }
}

/// The engine `--engine` names (embedded when none), bounded by `--memory-limit`.
fn engine_of(engine: Option<&str>, memory_limit: Option<bytesize::ByteSize>) -> Result<rapport_engine::summary::Engine> {
    Ok(engine
        .unwrap_or("embedded")
        .parse::<rapport_engine::summary::Engine>()?
        .with_memory_limit(memory_limit.map(|size| size.as_u64()))?)
}
