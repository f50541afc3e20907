//! The HTML report of an `analyze` run: one self-contained file (inline SVG charts and
//! style, no script, nothing fetched) with every view of the analysis — headlines with
//! their intervals, the Customer Matrix and its migration, value and P(alive), voice of
//! the customer, sentiment, service, complaint topics, segments, propensity, programs
//! and Return on Relationship, actions, alerts and a map. It reads the run through the
//! engine ([`rapport_engine::results::run_view`]) and computes no measure of its own.

pub mod svg;

pub use maud;

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use maud::{DOCTYPE, Markup, html};
use rapport_engine::EngineError;
use rapport_engine::results::{RunRequest, RunView, run_view};
use serde_json::Value as Json;

use crate::svg::{Bar, Cell, Series, short};

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// The workspace.
    pub workspace: PathBuf,
    /// The run (default: the latest analysis).
    pub run: Option<String>,
    /// The file to write.
    pub output: PathBuf,
}

/// Write the report of a run to `request.output` (atomically: a reader never sees half a
/// file); returns the run's id.
pub fn write_report(request: &ReportRequest) -> Result<String, EngineError> {
    let view = run_view(&RunRequest { workspace: request.workspace.clone(), run: request.run.clone() })?;
    let html = render(&view);
    let target = &request.output;
    let write_error = |source| EngineError::Write { target: target.display().to_string(), source };
    // Beside the target, so the rename is atomic; created with the usual permissions.
    let mut staging = target.clone().into_os_string();
    staging.push(format!(".{}.partial", std::process::id()));
    let staging = PathBuf::from(staging);
    if let Err(error) = std::fs::write(&staging, html.as_bytes()).and_then(|()| std::fs::rename(&staging, target)) {
        let _ = std::fs::remove_file(&staging);
        return Err(write_error(error));
    }
    Ok(view.run.id)
}

/// How to render: as the standalone report, or as the dashboard's home page (cells,
/// segments, topics and customers link to their drill-down pages, a banner on top).
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// Link matrix cells, segments, topics and customers to the dashboard's pages.
    pub links: bool,
    /// Shown above the page's title (the dashboard's navigation).
    pub banner: Option<Markup>,
}

/// The report's HTML.
pub fn render(view: &RunView) -> String {
    render_with(view, &PageOptions::default())
}

/// A text as one URL path segment (every byte but letters and digits percent-encoded).
pub fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A page in the report's style: for the dashboard's drill-down pages.
pub fn page(title: &str, banner: Option<Markup>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Rapport" }
                style { (svg::raw(STYLE)) }
            }
            body {
                header {
                    @if let Some(banner) = banner { (banner) }
                    h1 { (title) }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// The report's HTML, as `options` ask.
pub fn render_with(view: &RunView, options: &PageOptions) -> String {
    let summary = &view.summary;
    let currency = summary["currency"].as_str().unwrap_or("");
    let sections = sections(view, currency, options.links);
    let document = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Rapport report, run " (view.run.id) }
                style { (svg::raw(STYLE)) }
            }
            body {
                header {
                    @if let Some(banner) = &options.banner { (banner) }
                    h1 { "Return on Relationship" }
                    p class="meta" {
                        "Run " code { (view.run.id) } " · as of " (summary["as_of"].as_str().unwrap_or("?"))
                        " (" (summary["timezone"].as_str().unwrap_or("")) ") · " (svg::group(summary["customers"].to_string())) " customers · "
                        "amounts in " (currency)
                    }
                    @if let Some(warnings) = summary["warnings"].as_array().filter(|warnings| !warnings.is_empty()) {
                        div class="warnings" role="note" {
                            strong { "Read with care:" }
                            ul { @for warning in warnings { li { (warning.as_str().unwrap_or("")) } } }
                        }
                    }
                    nav aria-label="Sections" {
                        ul { @for (anchor, name, _) in &sections { li { a href=(format!("#{anchor}")) { (name) } } } }
                    }
                }
                main {
                    @for (anchor, name, body) in &sections {
                        section id=(anchor) aria-labelledby=(format!("{anchor}-h")) {
                            h2 id=(format!("{anchor}-h")) { (name) }
                            (body)
                        }
                    }
                }
                footer {
                    p { "Written by Rapport " (view.run.rapport_version) " from " code { "results/" (view.run.id) } ". Every rate is shown with its 95% interval and sample size; intervals are drawn as whiskers or shaded bands." }
                }
            }
        }
    };
    document.into_string()
}

type Section = (&'static str, &'static str, Markup);

fn sections(view: &RunView, currency: &str, links: bool) -> Vec<Section> {
    let mut sections: Vec<Section> = vec![("headlines", "Headlines", headlines(&view.summary))];
    sections.push(("matrix", "Customer Matrix", matrix(view, currency, links)));
    sections.push(("value", "Lifetime value and P(alive)", value(view, currency)));
    let table = |name: &str| view.tables.get(name);
    if let Some(voice) = table("voice_of_customer") {
        sections.push(("voice", "Voice of the customer", voice_of_customer(voice, table("detractor_drivers"))));
    }
    if let Some(weekly) = table("sentiment_by_channel_week") {
        sections.push(("sentiment", "Sentiment", sentiment(weekly, table("sentiment_baseline"))));
    }
    if let Some(service) = table("service") {
        sections.push(("service", "Customer service", service_section(service)));
    }
    if let Some(topics) = table("complaint_topics") {
        sections.push(("topics", "Complaint topics", complaint_topics(topics, links)));
    }
    if let Some(segments) = table("segments") {
        sections.push(("segments", "Segments", segments_section(segments, table("clusters"), currency, links)));
    }
    if let Some(models) = table("propensity") {
        sections.push(("propensity", "Propensity", propensity(models, table("propensity_lift"), table("propensity_calibration"))));
    }
    sections.push(("ror", "Programs and Return on Relationship", programs(table("programs"), table("ror"), currency)));
    if let Some(actions) = table("actions") {
        sections.push(("actions", "Next-best actions", actions_section(actions, &view.summary)));
    }
    sections.push(("alerts", "Alerts", alerts(view)));
    sections.push(("geography", "Geography", geography(view, table("regions"), table("distance_bands"), currency)));
    sections.push(("skipped", "Not measured", skipped(&view.summary)));
    sections
}

/// Whether the workspace had events of `kind` when the run was made.
fn ingested(summary: &Json, kind: &str) -> bool {
    summary["inputs"]
        .as_array()
        .is_some_and(|inputs| inputs.iter().any(|input| input["kind"] == kind && input["accepted"].as_u64().unwrap_or(0) > 0))
}

/// A column as floats (integers converted; null and non-numeric as NaN).
fn floats(batch: &RecordBatch, name: &str) -> Vec<f64> {
    let Some(column) = batch.column_by_name(name) else { return vec![f64::NAN; batch.num_rows()] };
    match arrow::compute::cast(column, &DataType::Float64) {
        Ok(cast) => {
            let cast = cast.as_primitive::<Float64Type>();
            (0..cast.len()).map(|row| if cast.is_null(row) { f64::NAN } else { cast.value(row) }).collect()
        }
        Err(_) => vec![f64::NAN; batch.num_rows()],
    }
}

/// A column as text (null as empty).
fn texts(batch: &RecordBatch, name: &str) -> Vec<String> {
    let Some(column) = batch.column_by_name(name) else { return vec![String::new(); batch.num_rows()] };
    match arrow::compute::cast(column, &DataType::Utf8) {
        Ok(cast) => {
            let cast = cast.as_string::<i32>();
            (0..cast.len()).map(|row| if cast.is_null(row) { String::new() } else { cast.value(row).to_string() }).collect()
        }
        Err(_) => vec![String::new(); batch.num_rows()],
    }
}

/// A figure: the chart, its caption, and its numbers as a table (the chart's text
/// alternative, and what a printout keeps).
fn figure(chart: Markup, caption: &str, headers: &[&str], rows: Vec<Vec<String>>) -> Markup {
    figure_linked(chart, caption, headers, rows, &[])
}

/// [`figure`], each row's first cell a link where `links` gives one (the dashboard).
fn figure_linked(chart: Markup, caption: &str, headers: &[&str], rows: Vec<Vec<String>>, links: &[Option<String>]) -> Markup {
    let linked = links.iter().any(Option::is_some);
    html! {
        figure {
            div class="scroll" { (chart) }
            figcaption { (caption) }
            @if linked {
                (data_table_linked(headers, &rows, links))
            } @else {
                details {
                    summary { "The numbers" }
                    (data_table(headers, &rows))
                }
            }
        }
    }
}

/// A table of text cells, the first of each row a row header. Public for the dashboard.
pub fn data_table(headers: &[&str], rows: &[Vec<String>]) -> Markup {
    data_table_linked(headers, rows, &[])
}

/// [`data_table`], each row's first cell a link where `links` gives one.
pub fn data_table_linked(headers: &[&str], rows: &[Vec<String>], links: &[Option<String>]) -> Markup {
    html! {
        div class="scroll" {
            table {
                thead { tr { @for header in headers { th scope="col" { (header) } } } }
                tbody { @for (number, row) in rows.iter().enumerate() { tr { @for (index, cell) in row.iter().enumerate() {
                    @if index == 0 {
                        th scope="row" { @if let Some(Some(link)) = links.get(number) { a href=(link) { (cell) } } @else { (cell) } }
                    } @else if numeric(cell) { td class="num" { (cell) } } @else { td { (cell) } }
                } } } }
            }
        }
    }
}

/// A cell that reads as a number (right-aligned).
fn numeric(cell: &str) -> bool {
    cell.chars().next().is_some_and(|first| first.is_ascii_digit() || matches!(first, '−' | '-' | '[' | '–'))
}

/// A count, grouped: `1,771`.
fn count(value: f64) -> String {
    if value.is_finite() { svg::group(format!("{value:.0}")) } else { "–".into() }
}

/// An estimate and its interval in one cell: a dash alone where there is no estimate (a
/// dash for each was "– –"), the estimate alone where it has no interval.
fn estimate(value: f64, low: f64, high: f64) -> String {
    match (value.is_finite(), low.is_finite() && high.is_finite()) {
        (false, _) => "–".into(),
        (true, false) => short(value),
        (true, true) => format!("{} {}", short(value), interval(low, high)),
    }
}

fn interval(low: f64, high: f64) -> String {
    if low.is_finite() && high.is_finite() { format!("[{}, {}]", short(low), short(high)) } else { "–".into() }
}

fn label(name: &str) -> String {
    let words: Vec<String> = name
        .split('_')
        .map(|word| match word {
            "nps" | "csat" | "ces" | "clv" | "roi" | "auc" | "ror" | "btyd" => word.to_uppercase(),
            "p90" => "90th percentile".into(),
            _ => word.to_string(),
        })
        .collect();
    let text = words.join(" ");
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// The brand at a glance (`summary.json`'s `overview`).
fn overview(summary: &Json) -> Markup {
    let overview = &summary["overview"];
    if !overview.is_object() {
        return html! {};
    }
    let currency = summary["currency"].as_str().unwrap_or("");
    let figure = |name: &str| {
        let h = &overview[name];
        let number = |key: &str| h[key].as_f64().unwrap_or(f64::NAN);
        (!h.is_null()).then(|| (short(number("estimate")), interval(number("lower"), number("upper")), h["n"].as_u64().unwrap_or(0)))
    };
    let tiles: Vec<(String, String, String)> = [
        ("Customers who bought", overview["buyers"].as_f64().map(count), String::new()),
        (
            &*format!("Net spend ({currency})"),
            overview["net_spend_total"].as_f64().map(short),
            // Said, so that the total over the buyers is not read as the spend per buyer × buyers.
            match overview["refund_only_customers"].as_u64() {
                Some(n) if n > 0 => format!("with {} customer{} who only had refunds", count(n as f64), if n == 1 { "" } else { "s" }),
                _ => String::new(),
            },
        ),
        (
            "Came back (bought on a second day), %",
            figure("repeat_buyer_rate").map(|f| f.0.clone()),
            figure("repeat_buyer_rate").map(|f| f.1).unwrap_or_default(),
        ),
        (
            &*format!("Net spend per buyer ({currency})"),
            figure("net_spend_per_buyer").map(|f| f.0.clone()),
            figure("net_spend_per_buyer").map(|f| f.1).unwrap_or_default(),
        ),
        (
            &*format!("Mean 12-month CLV ({currency})"),
            figure("clv_mean").map(|f| f.0.clone()),
            figure("clv_mean").map(|f| f.1).unwrap_or_default(),
        ),
        (
            "Mean P(alive)",
            figure("p_alive_mean").map(|f| f.0.clone()),
            // Near 1 where the fit sees no one leave: said beside it, not a confident interval.
            match overview["p_alive_informative"].as_bool() {
                Some(false) => "not informative: the fit sees no customer leave (see the warnings)".to_string(),
                _ => figure("p_alive_mean").map(|f| f.1).unwrap_or_default(),
            },
        ),
    ]
    .into_iter()
    .filter_map(|(name, value, interval)| value.map(|value| (name.to_string(), value, interval)))
    .collect();
    html! {
        div class="tiles" {
            @for (name, value, interval) in &tiles {
                div class="tile" {
                    div class="tile-value" { (value) }
                    div class="tile-name" { (name) }
                    @if interval.starts_with('[') { div class="tile-interval" { "95% " (interval) } }
                    @else if !interval.is_empty() { div class="tile-interval" { (interval) } }
                }
            }
        }
    }
}

fn headlines(summary: &Json) -> Markup {
    let Some(headline) = summary["headline"].as_object().filter(|headline| !headline.is_empty()) else {
        return html! { (overview(summary)) p { "No other headline could be measured from this workspace's events (see Not measured)." } };
    };
    let rows: Vec<Vec<String>> = headline
        .iter()
        .map(|(name, h)| {
            let number = |key: &str| h[key].as_f64().unwrap_or(f64::NAN);
            vec![
                label(name),
                short(number("estimate")),
                interval(number("lower"), number("upper")),
                h["n"].as_u64().map_or("–".into(), |n| svg::group(n.to_string())),
                h["of"].as_str().unwrap_or("").to_string(),
                h["unit"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    html! {
        (overview(summary))
        p { "Each figure with its 95% interval and the sample it rests on." }
        (data_table(&["headline", "estimate", "95% interval", "n", "of", "unit"], &rows))
    }
}

fn matrix(view: &RunView, currency: &str, links: bool) -> Markup {
    let report = &view.matrix;
    let cells = &report.cells;
    let (longevity, strength) = (floats(cells, "longevity_band"), floats(cells, "strength_band"));
    let (customers, per_customer) = (floats(cells, "customers"), floats(cells, "predicted_spend_per_customer"));
    let predicted = floats(cells, "predicted_spend_52_weeks");
    let (share_of_value, p_alive) = (floats(cells, "share_of_value"), floats(cells, "mean_p_alive"));
    let bands = |values: &[f64]| values.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max) as usize;
    let (rows_n, columns_n) = (bands(&longevity).max(1), bands(&strength).max(1));
    let row_names: Vec<String> = (0..rows_n).map(|row| format!("L{} {}", rows_n - row, if row == 0 { "longest" } else { "" })).collect();
    let column_names: Vec<String> = (1..=columns_n).map(|column| format!("S{column}")).collect();
    let grid: Vec<Cell> = (0..cells.num_rows())
        .filter(|&row| longevity[row].is_finite() && strength[row].is_finite())
        .map(|row| Cell {
            row: rows_n - longevity[row] as usize,
            column: strength[row] as usize - 1,
            value: predicted[row].max(0.0),
            text: format!("{} customer{}", count(customers[row]), if customers[row] == 1.0 { "" } else { "s" }),
            detail: if customers[row] > 0.0 { format!("{} {} each", short(per_customer[row]), currency) } else { String::new() },
            // An empty cell (the grid lists every one) has no customers to list.
            link: (links && customers[row] > 0.0).then(|| format!("/matrix/{}/{}", longevity[row], strength[row])),
        })
        .collect();
    let cell_links: Vec<Option<String>> = (0..cells.num_rows())
        .map(|row| (links && customers[row] > 0.0).then(|| format!("/matrix/{}/{}", longevity[row], strength[row])))
        .collect();
    let rows: Vec<Vec<String>> = (0..cells.num_rows())
        .map(|row| {
            vec![
                format!("L{} × S{}", longevity[row], strength[row]),
                count(customers[row]),
                short(per_customer[row]),
                share_percent(share_of_value[row]),
                probability(p_alive[row]),
            ]
        })
        .collect();
    let chart = svg::heatmap(
        "matrix-map",
        "The Customer Matrix",
        "Customers on a grid of relationship longevity (rows, longest at the top) by strength (columns, strongest at the right); shade: predicted spend of the cell's customers in the next 52 weeks",
        &row_names,
        &column_names,
        &grid,
    );
    let directions = &report.directions;
    let watch = &report.watch;
    let (watched, watched_strength, watched_clv) = (texts(watch, "customer_id"), floats(watch, "strength"), floats(watch, "clv"));
    let (watched_alive, reasons) = (floats(watch, "p_alive"), texts(watch, "reasons"));
    let watch_links: Vec<Option<String>> =
        (0..watch.num_rows().min(25)).map(|row| links.then(|| format!("/customers/{}", path_segment(&watched[row])))).collect();
    let watch_rows: Vec<Vec<String>> = (0..watch.num_rows().min(25))
        .map(|row| {
            vec![
                watched[row].clone(),
                short(watched_strength[row]),
                short(watched_clv[row]),
                short(watched_alive[row]),
                reasons[row].clone(),
            ]
        })
        .collect();
    html! {
        (figure_linked(chart, "Rows: longevity band (L1 the newest relationships … L5 the longest); columns: strength band (S1 the weakest … S5 the strongest), each a quantile band. Shade: the cell's predicted spend, next 52 weeks. Each cell: customers, and predicted spend per customer.", &["cell", "customers", &format!("predicted spend per customer ({currency})"), "share of value", "mean P(alive)"], rows, &cell_links))
        @if let Some(compare) = &report.compare {
            h3 { "Since run " (compare.id) }
            p { @for (direction, count) in directions { span class="chip" { (label(direction)) ": " (svg::group(count.to_string())) } " " } }
            @if let Some(migration) = &report.migration {
                @let moved = migration_rows(migration);
                @if !moved.is_empty() {
                    (data_table(&["from → to", "customers", &format!("value ({currency})")], &moved))
                }
            }
        } @else {
            p class="muted" { "Migration between cells appears once there is an earlier analysis to compare with." }
        }
        h3 { "Top tier, watched" }
        @if watch_rows.is_empty() {
            p { "No top-tier customer shows a new risk signal." }
            @if !ingested(&view.summary, "interactions") || !ingested(&view.summary, "surveys") {
                p class="muted" { "Risk signals come from falling P(alive), negative sentiment, detractor answers and unresolved complaints; without conversations or surveys in the workspace only falling P(alive) can show." }
            }
        } @else {
            p { (watch.num_rows()) " top-tier customers with new risk signals" @if watch.num_rows() > 25 { " (the first 25)" } "." }
            (data_table_linked(&["customer", "strength", &format!("CLV ({currency})"), "P(alive)", "signals"], &watch_rows, &watch_links))
        }
    }
}

/// The largest flows between cells (customers who changed cell).
fn migration_rows(migration: &RecordBatch) -> Vec<Vec<String>> {
    // No cell: a customer the earlier run did not have, or one the later run lacks (the
    // words of `segments --compare`).
    let cell = |l: &str, s: &str, none: &str| {
        let (l, s) = (floats(migration, l), floats(migration, s));
        (0..migration.num_rows())
            .map(|row| if l[row].is_finite() { format!("L{}×S{}", l[row], s[row]) } else { none.to_string() })
            .collect::<Vec<_>>()
    };
    let (from, to) = (
        cell("from_longevity_band", "from_strength_band", "(new customer)"),
        cell("to_longevity_band", "to_strength_band", "(not in this run)"),
    );
    let (customers, value) = (floats(migration, "customers"), floats(migration, "value"));
    let mut rows: Vec<(f64, Vec<String>)> = (0..migration.num_rows())
        .filter(|&row| from[row] != to[row])
        .map(|row| (customers[row], vec![format!("{} → {}", from[row], to[row]), count(customers[row]), short(value[row])]))
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows.into_iter().take(15).map(|(_, row)| row).collect()
}

fn value(view: &RunView, currency: &str) -> Markup {
    let clv = floats(&view.customers, "clv");
    let p_alive = floats(&view.customers, "p_alive");
    let mut finite: Vec<f64> = clv.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return html! { p { "No lifetime-value fit in this run (see Not measured)." } };
    }
    finite.sort_by(f64::total_cmp);
    let top = quantile(&finite, 0.99).max(1e-9);
    let mut alive: Vec<f64> = p_alive.iter().copied().filter(|v| v.is_finite()).collect();
    alive.sort_by(f64::total_cmp);
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    // Each histogram's figure carries its own row of figures.
    let (clv_stats, alive_stats) = (
        vec![vec![
            "CLV, 12 months".into(),
            svg::group(finite.len().to_string()),
            short(mean(&finite)),
            short(quantile(&finite, 0.5)),
            short(quantile(&finite, 0.9)),
            short(top),
        ]],
        vec![vec![
            "P(alive)".into(),
            svg::group(alive.len().to_string()),
            short(mean(&alive)),
            short(quantile(&alive, 0.5)),
            short(quantile(&alive, 0.9)),
            short(quantile(&alive, 0.99)),
        ]],
    );
    let tracking = view.tables.get("tracking").map(|tracking| {
        let (date, actual, expected) = (texts(tracking, "date"), floats(tracking, "actual"), floats(tracking, "expected"));
        let series = |name: &str, values: &[f64]| Series {
            name: name.to_string(),
            points: date.iter().zip(values).map(|(date, value)| (date.clone(), *value, f64::NAN, f64::NAN)).collect(),
        };
        let every = date.len().div_ceil(30).max(1);
        let rows = (0..tracking.num_rows()).step_by(every).map(|row| vec![date[row].clone(), count(actual[row]), short(expected[row])]).collect();
        figure(
            svg::lines("tracking", "Tracking: cumulative repeat purchases, actual and expected", "Cumulative repeat purchase days of all customers week by week, as they happened (solid) and as the BG/NBD fit expects (dashed)", &[series("actual", &actual), series("expected (BG/NBD)", &expected)], "cumulative repeat purchase days"),
            "Cumulative repeat purchases, actual against what the BG/NBD fit expects (FHL 2005, Figure 3). The fit saw this whole history: this shows how well it describes it, not a holdout test (rapport clv track does that with a calibration period).",
            &["week from", "actual", "expected"],
            rows,
        )
    });
    html! {
        @if let Some(tracking) = tracking { (tracking) }
        div {
            (figure(
                svg::histogram("clv-hist", "12-month CLV per customer", &format!("Histogram of 12-month customer lifetime value in {currency}, up to the 99th percentile ({}); the top 1% are counted in the last bar", short(top)), &finite, (0.0f64.min(quantile(&finite, 0.0)), top), 30),
                &format!("12-month CLV ({currency}), BG/NBD + Gamma-Gamma; last bar includes the top 1%."),
                &["", "customers", "mean", "median", "90th percentile", "99th percentile"], clv_stats))
            (figure(
                svg::histogram("alive-hist", "P(alive) per customer", "Histogram of the probability that each customer is still active, from 0 to 1", &alive, (0.0, 1.0), 20),
                "P(alive), BG/NBD.", &["", "customers", "mean", "median", "90th percentile", "99th percentile"], alive_stats))
        }
    }
}

/// The `q` quantile of values already sorted (nearest rank); NaN when there are none.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted.get(((sorted.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN)
}

fn voice_of_customer(voice: &RecordBatch, drivers: Option<&RecordBatch>) -> Markup {
    let (dimension, value, survey) = (texts(voice, "dimension"), texts(voice, "value"), texts(voice, "survey"));
    let (n, estimate, lower, upper) = (floats(voice, "n"), floats(voice, "estimate"), floats(voice, "lower"), floats(voice, "upper"));
    let surveys: Vec<String> = {
        let mut surveys = survey.clone();
        surveys.sort();
        surveys.dedup();
        surveys
    };
    let unit = |survey: &str| match survey {
        "nps" => "NPS, points (−100 to 100)",
        "csat" => "CSAT, percent satisfied",
        "ces" => "CES, mean effort (lower is easier)",
        _ => "",
    };
    let mut out = Vec::new();
    for name in &surveys {
        let points: Vec<(String, f64, f64, f64)> = (0..voice.num_rows())
            .filter(|&row| dimension[row] == "month" && &survey[row] == name)
            .map(|row| (value[row].clone(), estimate[row], lower[row], upper[row]))
            .collect();
        if !points.is_empty() {
            let rows = (0..voice.num_rows())
                .filter(|&row| dimension[row] == "month" && &survey[row] == name)
                .map(|row| vec![value[row].clone(), short(estimate[row]), interval(lower[row], upper[row]), count(n[row])])
                .collect();
            let chart = svg::lines(
                &format!("voice-{name}"),
                &format!("{} by month", name.to_uppercase()),
                &format!("{} by month with its 95% interval as a shaded band", unit(name)),
                &[Series { name: name.to_uppercase(), points }],
                unit(name),
            );
            out.push(figure(
                chart,
                &format!("{} by month; band: 95% interval.", unit(name)),
                &["month", "estimate", "95% interval", "answers"],
                rows,
            ));
        }
        if name != "nps" {
            // CSAT and CES by region, touchpoint, channel and stage: one table each.
            let rows: Vec<Vec<String>> = (0..voice.num_rows())
                .filter(|&row| dimension[row] != "month" && &survey[row] == name)
                .map(|row| {
                    vec![
                        format!("{}: {}", dimension[row], value[row]),
                        short(estimate[row]),
                        interval(lower[row], upper[row]),
                        count(n[row]),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                out.push(html! { h3 { (name.to_uppercase()) " by region, touchpoint, channel and stage" } (data_table(&["", "estimate", "95% interval", "answers"], &rows)) });
            }
            continue;
        }
        for by in ["region", "touchpoint", "channel", "stage"] {
            let picked: Vec<usize> = (0..voice.num_rows()).filter(|&row| dimension[row] == by && &survey[row] == name).collect();
            if picked.len() < 2 {
                continue;
            }
            let bars: Vec<Bar> = picked
                .iter()
                .map(|&row| Bar {
                    label: value[row].clone(),
                    value: estimate[row],
                    interval: Some((lower[row], upper[row])),
                    note: format!("n={}", count(n[row])),
                })
                .collect();
            let rows = picked
                .iter()
                .map(|&row| vec![value[row].clone(), short(estimate[row]), interval(lower[row], upper[row]), count(n[row])])
                .collect();
            let chart = svg::bars(
                &format!("voice-{name}-{by}"),
                &format!("{} by {by}", name.to_uppercase()),
                &format!("{} by {by}, with 95% intervals", unit(name)),
                &bars,
                None,
            );
            out.push(figure(
                chart,
                &format!("{} by {by}; whiskers: 95% interval.", unit(name)),
                &[by, "estimate", "95% interval", "answers"],
                rows,
            ));
        }
    }
    if let Some(drivers) = drivers.filter(|drivers| drivers.num_rows() > 0) {
        let (driver, odds, low, high, with) = (
            texts(drivers, "driver"),
            floats(drivers, "odds_ratio"),
            floats(drivers, "odds_ratio_lower"),
            floats(drivers, "odds_ratio_upper"),
            floats(drivers, "answers_with"),
        );
        let bars: Vec<Bar> = (0..drivers.num_rows())
            .map(|row| Bar {
                label: driver[row].clone(),
                value: odds[row],
                interval: Some((low[row], high[row])),
                note: format!("n={}", count(with[row])),
            })
            .collect();
        let rows = (0..drivers.num_rows())
            .map(|row| vec![driver[row].clone(), short(odds[row]), interval(low[row], high[row]), count(with[row])])
            .collect();
        let chart = svg::bars(
            "drivers",
            "Detractor drivers",
            "Odds ratio of a detractor answer with each driver against without it, with 95% intervals; 1 means no difference",
            &bars,
            Some(1.0),
        );
        out.push(figure(
            chart,
            "Detractor drivers: odds of a detractor answer with the driver against without (1 = no difference).",
            &["driver", "odds ratio", "95% interval", "answers with it"],
            rows,
        ));
    }
    html! { @for item in out { (item) } }
}

fn sentiment(weekly: &RecordBatch, baseline: Option<&RecordBatch>) -> Markup {
    let (channel, week, mean, low, high) = (
        texts(weekly, "channel"),
        texts(weekly, "week"),
        floats(weekly, "compound_mean"),
        floats(weekly, "compound_lower"),
        floats(weekly, "compound_upper"),
    );
    let mut by_channel: BTreeMap<&str, Vec<(String, f64, f64, f64)>> = BTreeMap::new();
    for row in 0..weekly.num_rows() {
        by_channel.entry(&channel[row]).or_default().push((week[row].clone(), mean[row], low[row], high[row]));
    }
    // The last 52 weeks: enough to see a trend, few enough to read.
    let series: Vec<Series> = by_channel
        .into_iter()
        .map(|(name, mut points)| {
            points.sort_by(|a, b| a.0.cmp(&b.0));
            let start = points.len().saturating_sub(52);
            Series { name: name.to_string(), points: points.split_off(start) }
        })
        .collect();
    let chart = svg::lines(
        "sentiment",
        "Customer sentiment by channel and week",
        "Mean compound sentiment of customer messages per week and channel over the last 52 weeks, with 95% interval bands",
        &series,
        "mean compound (−1 to 1)",
    );
    let rows = baseline
        .map(|baseline| {
            let (channel, texts_n, base, low, high) = (
                texts(baseline, "channel"),
                floats(baseline, "texts"),
                floats(baseline, "baseline"),
                floats(baseline, "baseline_lower"),
                floats(baseline, "baseline_upper"),
            );
            let (change, change_low, change_high) =
                (floats(baseline, "change_13_weeks"), floats(baseline, "change_lower"), floats(baseline, "change_upper"));
            (0..baseline.num_rows())
                .map(|row| {
                    vec![
                        channel[row].clone(),
                        count(texts_n[row]),
                        short(base[row]),
                        interval(low[row], high[row]),
                        short(change[row]),
                        interval(change_low[row], change_high[row]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    figure(
        chart,
        "Weekly mean sentiment by channel, last 52 weeks; bands: 95% intervals. The table: each channel's baseline and its change over the last 13 weeks.",
        &["channel", "texts", "baseline", "95% interval", "change, 13 weeks", "95% interval"],
        rows,
    )
}

fn service_section(service: &RecordBatch) -> Markup {
    let (dimension, value, conversations) = (texts(service, "dimension"), texts(service, "value"), floats(service, "conversations"));
    let (first, first_low, first_high) = (
        floats(service, "first_response_hours_median"),
        floats(service, "first_response_hours_median_lower"),
        floats(service, "first_response_hours_median_upper"),
    );
    let (resolution, resolution_low, resolution_high) =
        (floats(service, "resolution_rate"), floats(service, "resolution_rate_lower"), floats(service, "resolution_rate_upper"));
    let (recovery, recovery_low, recovery_high) =
        (floats(service, "recovery_rate"), floats(service, "recovery_rate_lower"), floats(service, "recovery_rate_upper"));
    let channels: Vec<usize> = (0..service.num_rows()).filter(|&row| dimension[row] == "channel").collect();
    let bars: Vec<Bar> = channels
        .iter()
        .map(|&row| Bar {
            label: value[row].clone(),
            value: first[row],
            interval: Some((first_low[row], first_high[row])),
            note: format!("n={}", count(conversations[row])),
        })
        .collect();
    let rows: Vec<Vec<String>> = (0..service.num_rows())
        .map(|row| {
            vec![
                format!("{}: {}", dimension[row], value[row]),
                count(conversations[row]),
                estimate(first[row], first_low[row], first_high[row]),
                estimate(resolution[row], resolution_low[row], resolution_high[row]),
                estimate(recovery[row], recovery_low[row], recovery_high[row]),
            ]
        })
        .collect();
    html! {
        @if !bars.is_empty() {
            (svg::bars("service-first", "Median first response by channel", "Median hours to the first agent reply by channel, with 95% intervals", &bars, None))
            p class="caption" { "Median first response, hours, by channel; whiskers: 95% interval." }
        }
        (data_table(&["", "conversations", "first response, median hours [95%]", "resolution rate, % [95%]", "recovery rate, % [95%]"], &rows))
    }
}

fn complaint_topics(topics: &RecordBatch, links: bool) -> Markup {
    let (topic, terms, messages) = (texts(topics, "topic"), texts(topics, "terms"), floats(topics, "messages"));
    // complaint_topics.parquet holds the shares in percent already.
    let (share, low, high) = (floats(topics, "share"), floats(topics, "share_lower"), floats(topics, "share_upper"));
    let percent = |value: f64| value;
    let bars: Vec<Bar> = (0..topics.num_rows())
        .map(|row| Bar {
            label: topic[row].clone(),
            value: percent(share[row]),
            interval: Some((percent(low[row]), percent(high[row]))),
            note: format!("n={}", count(messages[row])),
        })
        .collect();
    let rows = (0..topics.num_rows())
        .map(|row| {
            vec![
                topic[row].clone(),
                terms[row].clone(),
                count(messages[row]),
                format!("{:.1}%", percent(share[row])),
                interval(percent(low[row]), percent(high[row])),
            ]
        })
        .collect();
    let topic_links: Vec<Option<String>> = (0..topics.num_rows()).map(|row| links.then(|| format!("/topics/{row}"))).collect();
    figure_linked(
        svg::bars("topics", "Complaint topics", "Share of negative customer messages by topic, percent, with 95% intervals", &bars, None),
        "Share of negative messages by topic, %; whiskers: 95% interval.",
        &["topic", "terms", "messages", "share", "95% interval"],
        rows,
        &topic_links,
    )
}

fn segments_section(segments: &RecordBatch, clusters: Option<&RecordBatch>, currency: &str, links: bool) -> Markup {
    let (kind, name, customers) = (texts(segments, "kind"), texts(segments, "segment"), floats(segments, "customers"));
    let (net_spend, clv, p_alive) = (floats(segments, "net_spend"), floats(segments, "clv"), floats(segments, "mean_p_alive"));
    let rfm: Vec<usize> = (0..segments.num_rows()).filter(|&row| kind[row] == "rfm").collect();
    let bars: Vec<Bar> = rfm
        .iter()
        .map(|&row| Bar {
            label: name[row].clone(),
            value: customers[row],
            interval: None,
            note: format!("· CLV {} {currency}", short(clv[row])),
        })
        .collect();
    let rows = (0..segments.num_rows())
        .map(|row| {
            vec![
                format!("{}: {}", kind[row], name[row]),
                count(customers[row]),
                short(net_spend[row]),
                short(clv[row]),
                probability(p_alive[row]),
            ]
        })
        .collect();
    let segment_links: Vec<Option<String>> = (0..segments.num_rows())
        .map(|row| links.then(|| format!("/segments/{}/{}", path_segment(&kind[row]), path_segment(&name[row]))))
        .collect();
    let cluster_rows: Vec<Vec<String>> = clusters
        .map(|clusters| {
            let columns = [
                "cluster",
                "customers",
                "mean_recency_days",
                "typical_purchase_days",
                "typical_net_spend",
                "typical_conversations",
                "typical_engagement",
            ];
            let values: Vec<Vec<f64>> = columns.iter().map(|column| floats(clusters, column)).collect();
            (0..clusters.num_rows())
                .map(|row| {
                    values
                        .iter()
                        .enumerate()
                        .map(|(index, column)| if index < 2 { count(column[row]) } else { short(column[row]) })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    html! {
        (figure_linked(svg::bars("segments", "RFM segments", "Customers in each RFM segment, with each segment's 12-month CLV", &bars, None),
            "Customers per RFM segment (and the segment's total 12-month CLV).",
            &["segment", "customers", &format!("net spend ({currency})"), &format!("CLV ({currency})"), "mean P(alive)"], rows, &segment_links))
        @if !cluster_rows.is_empty() {
            h3 { "Clusters (k-means)" }
            (data_table(&["cluster", "customers", "mean recency, days", "typical purchase days", &format!("typical net spend ({currency})"), "typical conversations", "typical engagement"], &cluster_rows))
        }
    }
}

fn propensity(models: &RecordBatch, lift: Option<&RecordBatch>, calibration: Option<&RecordBatch>) -> Markup {
    let (model, auc, low, high, brier, scores) = (
        texts(models, "model"),
        floats(models, "auc"),
        floats(models, "auc_lower"),
        floats(models, "auc_upper"),
        floats(models, "brier"),
        texts(models, "scores_customers"),
    );
    let bars: Vec<Bar> = (0..models.num_rows())
        .map(|row| Bar {
            label: model[row].replace('_', " "),
            value: auc[row],
            interval: Some((low[row], high[row])),
            note: if scores[row] == "true" { "scores customers".into() } else { String::new() },
        })
        .collect();
    let rows = (0..models.num_rows())
        .map(|row| vec![model[row].replace('_', " "), short(auc[row]), interval(low[row], high[row]), short(brier[row])])
        .collect();
    let scoring = (0..models.num_rows()).find(|&row| scores[row] == "true").map(|row| model[row].clone()).unwrap_or_default();
    let lift_figure = lift.map(|lift| {
        let (lift_model, decile, value, customers) = (texts(lift, "model"), floats(lift, "decile_from_highest"), floats(lift, "lift"), floats(lift, "customers"));
        let picked: Vec<usize> = (0..lift.num_rows()).filter(|&row| lift_model[row] == scoring).collect();
        let bars: Vec<Bar> = picked.iter().map(|&row| Bar { label: format!("decile {}", decile[row]), value: value[row], interval: None, note: String::new() }).collect();
        let rows = picked.iter().map(|&row| vec![format!("{}", decile[row]), short(value[row]), count(customers[row])]).collect();
        figure(svg::bars("lift", "Lift by decile", "Purchase rate in each decile of predicted propensity over the overall rate, highest decile first; 1 means no better than random", &bars, Some(1.0)),
            &format!("Lift by decile of the model that scores customers ({}), highest first.", scoring.replace('_', " ")), &["decile", "lift", "customers"], rows)
    });
    let calibration_rows: Vec<Vec<String>> = calibration
        .map(|calibration| {
            let (calibration_model, bin, predicted, observed, low, high) = (
                texts(calibration, "model"),
                floats(calibration, "bin_from_lowest"),
                floats(calibration, "mean_predicted"),
                floats(calibration, "observed_rate"),
                floats(calibration, "observed_rate_lower"),
                floats(calibration, "observed_rate_upper"),
            );
            (0..calibration.num_rows())
                .filter(|&row| calibration_model[row] == scoring)
                .map(|row| vec![format!("{}", bin[row]), short(predicted[row]), short(observed[row]), interval(low[row], high[row])])
                .collect()
        })
        .unwrap_or_default();
    html! {
        (figure(svg::bars("auc", "Holdout AUC by model", "Area under the ROC curve on the holdout customers for each propensity model against the BG/NBD baseline, with 95% intervals; 0.5 is chance", &bars, Some(0.5)),
            "Holdout AUC of P(a purchase in the horizon); whiskers: 95% interval; 0.5 is chance.", &["model", "AUC", "95% interval", "Brier score"], rows))
        @if let Some(lift_figure) = lift_figure { (lift_figure) }
        @if !calibration_rows.is_empty() {
            h3 { "Calibration" }
            (data_table(&["bin (lowest first)", "mean predicted", "observed rate", "95% interval"], &calibration_rows))
        }
    }
}

fn programs(programs: Option<&RecordBatch>, ror: Option<&RecordBatch>, currency: &str) -> Markup {
    let mut out = Vec::new();
    if let Some(programs) = programs.filter(|programs| programs.num_rows() > 0) {
        let name = texts(programs, "program");
        let columns = |prefix: &str| {
            (floats(programs, prefix), floats(programs, &format!("{prefix}_lower")), floats(programs, &format!("{prefix}_upper")))
        };
        // `purchase_uplift`; runs before it was named called it `estimate` (and had `n`).
        let (purchase, purchase_low, purchase_high) = match programs.column_by_name("purchase_uplift") {
            Some(_) => columns("purchase_uplift"),
            None => (floats(programs, "estimate"), floats(programs, "lower"), floats(programs, "upper")),
        };
        let (spend, spend_low, spend_high) = columns("spend_uplift");
        let (retention, retention_low, retention_high) = columns("retention_uplift");
        let (roi, roi_low, roi_high) = columns("incremental_roi");
        let (treated, control, cost) = (floats(programs, "treated"), floats(programs, "control"), floats(programs, "cost"));
        let n: Vec<f64> = treated.iter().zip(&control).map(|(treated, control)| treated + control).collect();
        let bars: Vec<Bar> = (0..programs.num_rows())
            .map(|row| Bar {
                label: name[row].clone(),
                value: purchase[row],
                interval: Some((purchase_low[row], purchase_high[row])),
                note: format!("n={}", count(n[row])),
            })
            .collect();
        let rows = (0..programs.num_rows())
            .map(|row| {
                vec![
                    name[row].clone(),
                    estimate(purchase[row], purchase_low[row], purchase_high[row]),
                    estimate(spend[row], spend_low[row], spend_high[row]),
                    estimate(retention[row], retention_low[row], retention_high[row]),
                    short(cost[row]),
                    estimate(roi[row], roi_low[row], roi_high[row]),
                ]
            })
            .collect();
        out.push(figure(
            svg::bars("uplift", "Program uplift in purchase rate", "Each program's uplift in the share of customers who bought, in percentage points against its control group, with 95% intervals", &bars, None),
            "Uplift in purchase rate against the control group, percentage points; whiskers: 95% interval.",
            &["program", "purchase rate uplift, pp [95%]", &format!("spend uplift, {currency} per customer [95%]"), "retention uplift, pp [95%]", &format!("cost ({currency})"), "incremental ROI [95%]"],
            rows,
        ));
    }
    if let Some(ror) = ror.filter(|ror| ror.num_rows() > 0) {
        let (dimension, group, customers, ror_value, low, high) = (
            texts(ror, "dimension"),
            texts(ror, "group"),
            floats(ror, "customers"),
            floats(ror, "ror"),
            floats(ror, "ror_lower"),
            floats(ror, "ror_upper"),
        );
        let mut dimensions: Vec<&str> = dimension.iter().map(String::as_str).collect();
        dimensions.dedup();
        for name in dimensions.into_iter().filter(|name| *name != "all") {
            // Groups with a return to show (a group whose customers cost nothing has none).
            let picked: Vec<usize> = (0..ror.num_rows()).filter(|&row| dimension[row] == name && ror_value[row].is_finite()).collect();
            if picked.is_empty() {
                continue;
            }
            let bars: Vec<Bar> = picked
                .iter()
                .map(|&row| Bar {
                    label: group[row].clone(),
                    value: ror_value[row],
                    interval: Some((low[row], high[row])),
                    note: format!("n={}", count(customers[row])),
                })
                .collect();
            let rows = picked
                .iter()
                .map(|&row| vec![group[row].clone(), short(ror_value[row]), interval(low[row], high[row]), count(customers[row])])
                .collect();
            out.push(figure(
                svg::bars(
                    &format!("ror-{name}"),
                    &format!("Return on Relationship by {name}"),
                    &format!("(value − relationship cost) / relationship cost by {name}, with 95% intervals"),
                    &bars,
                    None,
                ),
                &format!("ROR by {name}: (value − cost) / cost; whiskers: 95% interval."),
                &[name, "ROR", "95% interval", "customers"],
                rows,
            ));
        }
    }
    if out.is_empty() {
        return html! { p { "No program contacts or relationship costs in this workspace (see Not measured)." } };
    }
    html! { @for item in out { (item) } }
}

fn actions_section(actions: &RecordBatch, summary: &Json) -> Markup {
    let (action, channel, control) = (texts(actions, "action"), texts(actions, "channel"), texts(actions, "control"));
    let mut counts: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for row in 0..actions.num_rows() {
        let entry = counts.entry((action[row].clone(), channel[row].clone())).or_default();
        if control[row] == "true" { entry.1 += 1 } else { entry.0 += 1 }
    }
    let rows: Vec<Vec<String>> = counts
        .iter()
        .map(|((action, channel), (sent, held))| vec![action.replace('_', " "), channel.clone(), sent.to_string(), held.to_string()])
        .collect();
    html! {
        @if ingested(summary, "customers") {
            p { (svg::group(actions.num_rows().to_string())) " actions proposed, each on the customer's preferred channel where their consent allows it (else the next allowed channel, or none); the control share is held out to measure them (" code { "rapport actions" } " lists each with its reason)." }
        } @else {
            p { (svg::group(actions.num_rows().to_string())) " actions proposed. No customers file was ingested, so there is no preferred channel or consent to follow: actions go to email, or to the channel a playbook rule names. The control share is held out to measure them (" code { "rapport actions" } " lists each with its reason)." }
        }
        (data_table(&["action", "channel", "to send", "held out as control"], &rows))
    }
}

fn alerts(view: &RunView) -> Markup {
    let Some(report) = &view.alerts else { return html! { p { "This run has no alerts." } } };
    let alerts = report.alerts.as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|alert| {
            let number = |key: &str| alert[key].as_f64().unwrap_or(f64::NAN);
            let name = alert["indicator"].as_str().unwrap_or("");
            // Contacts and engagements are counted: 38, not 38.0.
            let value =
                if rapport_engine::relationship::is_counted_indicator(name) { count(number("value")) } else { short(number("value")) };
            vec![
                name.replace('_', " "),
                alert["direction"].as_str().unwrap_or("").to_string(),
                value,
                count(number("n")),
                alert["window_end"].as_str().unwrap_or("").to_string(),
                short(number("baseline_median")),
                interval(number("lower"), number("upper")),
            ]
        })
        .collect();
    let history: Vec<Vec<String>> = report
        .history
        .as_object()
        .map(|history| {
            history
                .iter()
                .map(|(name, h)| {
                    vec![
                        label(name),
                        count(h["windows_judged"].as_f64().unwrap_or(f64::NAN)),
                        count(h["alarms"].as_f64().unwrap_or(f64::NAN)),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let summary = &view.summary;
    let missing: Vec<&str> = [("interactions", "conversations"), ("surveys", "survey answers"), ("engagement", "social engagement")]
        .into_iter()
        .filter(|(kind, _)| !ingested(summary, kind))
        .map(|(_, what)| what)
        .collect();
    // The indicators not judged for another reason than a kind the workspace lacks (said
    // once above them); runs written before indicators were skipped list none.
    let source = |indicator: &str| match indicator {
        "nps" => "surveys",
        "engagement_per_week" => "engagement",
        _ => "interactions",
    };
    let skipped: Vec<String> = report
        .skipped
        .as_object()
        .map(|skipped| {
            skipped
                .iter()
                .filter(|(name, _)| ingested(summary, source(name)))
                .map(|(name, reason)| format!("{} ({})", label(name), reason.as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    html! {
        @if rows.is_empty() {
            p { "No leading indicator is outside its control limits (median ± 3 scaled MAD of the weeks before) in the latest window." }
        } @else {
            (data_table(&["indicator", "direction", "value", "n", "window end", "baseline median", "control limits"], &rows))
        }
        @if !missing.is_empty() {
            p class="muted" { "This workspace has no " (missing.join(", no ")) ": the indicators built on them are not judged." }
        }
        @if !skipped.is_empty() {
            p class="muted" { "Not judged: " (skipped.join("; ")) "." }
        }
        @if !history.is_empty() {
            h3 { "Over the history" }
            (data_table(&["indicator", "windows judged", "alarms"], &history))
        }
    }
}

fn geography(view: &RunView, regions: Option<&RecordBatch>, distance: Option<&RecordBatch>, currency: &str) -> Markup {
    let ids = texts(&view.customers, "customer_id");
    let value = floats(&view.customers, "value");
    let value = if value.iter().any(|v| v.is_finite()) { value } else { floats(&view.customers, "net_spend") };
    let by_id: std::collections::HashMap<&str, f64> = ids.iter().map(String::as_str).zip(value.iter().copied()).collect();
    let homes: Vec<(f64, f64, f64)> =
        view.homes.iter().filter_map(|home| by_id.get(home.id.as_str()).map(|value| (home.latitude, home.longitude, *value))).collect();
    let stores: Vec<(String, f64, f64)> = view
        .stores
        .iter()
        .map(|store| (if store.name.is_empty() { store.id.clone() } else { store.name.clone() }, store.latitude, store.longitude))
        .collect();
    let map = (!homes.is_empty() || !stores.is_empty()).then(|| {
        svg::hexmap("map", "Customers, value and stores", &format!("Customers' homes binned into hexagons, shaded by their customers' value in {currency}; stores as triangles; {} customers and {} stores located", homes.len(), stores.len()), &homes, &stores)
    });
    let region_rows: Vec<Vec<String>> = regions
        .map(|regions| {
            let (name, customers, spend, nps, low, high, answers) = (
                texts(regions, "region"),
                floats(regions, "customers"),
                floats(regions, "net_spend"),
                floats(regions, "nps"),
                floats(regions, "nps_lower"),
                floats(regions, "nps_upper"),
                floats(regions, "nps_answers"),
            );
            (0..regions.num_rows())
                .map(|row| {
                    vec![
                        name[row].clone(),
                        count(customers[row]),
                        short(spend[row]),
                        short(nps[row]),
                        interval(low[row], high[row]),
                        count(answers[row]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let distance_rows: Vec<Vec<String>> = distance
        .map(|bands| {
            let (band, customers, spend, spend_low, spend_high, retention, retention_low, retention_high) = (
                texts(bands, "distance_to_store"),
                floats(bands, "customers"),
                floats(bands, "mean_net_spend"),
                floats(bands, "mean_net_spend_lower"),
                floats(bands, "mean_net_spend_upper"),
                floats(bands, "retention_rate"),
                floats(bands, "retention_lower"),
                floats(bands, "retention_upper"),
            );
            (0..bands.num_rows())
                .map(|row| {
                    vec![
                        band[row].clone(),
                        count(customers[row]),
                        estimate(spend[row], spend_low[row], spend_high[row]),
                        estimate(retention[row], retention_low[row], retention_high[row]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    html! {
        @if let Some(map) = map {
            figure { div class="scroll" { (map) } figcaption { "Hexagons: customers' homes (never single homes), shaded by value; triangles: stores. Projection centred on the data." } }
        } @else {
            p { "No customer or store has a latitude and longitude." }
        }
        @if !region_rows.is_empty() {
            h3 { "By region" }
            (data_table(&["region", "customers", &format!("net spend ({currency})"), "NPS", "95% interval", "NPS answers"], &region_rows))
        }
        @if !distance_rows.is_empty() {
            h3 { "By distance to the nearest store" }
            (data_table(&["distance", "customers", &format!("mean net spend ({currency}) [95%]"), "retention, % [95%]"], &distance_rows))
        }
    }
}

fn skipped(summary: &Json) -> Markup {
    let skipped = summary["skipped"].as_object().cloned().unwrap_or_default();
    html! {
        @if skipped.is_empty() {
            p { "Everything was measured." }
        } @else {
            p { "What this run could not measure, and what it would need:" }
            ul { @for (name, why) in &skipped { li { strong { (label(name)) } ": " (why.as_str().unwrap_or("")) } } }
        }
    }
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1f2328; --muted: #57606a; --line: #d0d7de; --accent: #0072B2; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
header, main, footer { max-width: 1040px; margin: 0 auto; padding: 0 16px; }
h1 { font-size: 1.8rem; margin: 1.2rem 0 0.2rem; }
h2 { font-size: 1.35rem; border-bottom: 2px solid var(--line); padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { font-size: 1.1rem; margin-top: 1.4rem; }
.meta, .muted, figcaption, .caption { color: var(--muted); }
figcaption, .caption { font-size: 0.9rem; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; }
a { color: #0550ae; }
.warnings { border-left: 4px solid #bc4c00; background: #fff8f1; padding: 0.5rem 1rem; margin: 1rem 0; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 0.6rem; margin: 1rem 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 0.7rem; }
.tile-value { font-size: 1.5rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.tile-name { font-size: 0.85rem; color: var(--muted); }
.tile-interval { font-size: 0.8rem; color: var(--muted); }
.chip { display: inline-block; border: 1px solid var(--line); border-radius: 1rem; padding: 0 0.6rem; margin: 0.1rem 0; }
figure { margin: 1.2rem 0; }
svg.chart { width: 100%; min-width: 560px; height: auto; display: block; }
svg .tick { font-size: 11px; fill: var(--muted); }
svg .label, svg .value { font-size: 12px; fill: var(--ink); }
svg .cell { font-size: 13px; font-weight: 600; }
svg .cell-detail { font-size: 11px; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th[scope=row], thead th:first-child { text-align: left; }
thead th { border-bottom: 2px solid var(--ink); }
details summary { cursor: pointer; color: #0550ae; font-size: 0.9rem; }
footer { margin: 3rem auto 2rem; color: var(--muted); font-size: 0.9rem; }
@media (max-width: 600px) { body { font-size: 15px; } h1 { font-size: 1.4rem; } }
@media print {
  nav, details summary { display: none; }
  details > *:not(summary) { display: block; }
  section, figure { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// A probability in a table column: always two decimals (`1.00`, `0.95`), so a column
/// of them lines up; `–` when there is none.
fn probability(value: f64) -> String {
    if value.is_finite() { format!("{value:.2}") } else { "–".into() }
}

/// A share as a percentage with one decimal; a share that rounds to nothing is `0.0%`,
/// never `-0.0%`.
fn share_percent(share: f64) -> String {
    if !share.is_finite() {
        return "–".into();
    }
    let tenths = (share * 1000.0).round();
    if tenths == 0.0 { "0.0%".into() } else { format!("{:.1}%", tenths / 10.0).replace('-', "−") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_without_a_value_is_one_dash() {
        assert_eq!(estimate(f64::NAN, f64::NAN, f64::NAN), "–");
        assert_eq!(estimate(16.2, f64::NAN, f64::NAN), "16.2");
        assert_eq!(estimate(16.2, 14.6, 17.8), "16.2 [14.6, 17.8]");
    }
}
