//! The dashboard: the report's views with drill-down (a matrix cell → its customers →
//! one customer; a segment → its customers; a topic → its texts), sign-in with a token
//! (then an HttpOnly, SameSite=Strict session cookie), and the NPS kiosk form. Pages are
//! HTML rendered on the server, with no script at all: nothing to build, nothing
//! fetched, and a Content-Security-Policy that forbids scripts outright.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rapport_engine::EventKind;
use rapport_engine::results::{cell_members, number_column};
use rapport_engine::workspace::Role;
use rapport_report::{PageOptions, data_table, data_table_linked, page, path_segment, render_with};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{cell_exists, customer_detail, events_of, ingest, segment_of, topic_rows};
use crate::error::ApiError;
use crate::state::{AppState, Principal, Results, SESSION_COOKIE};

/// Customers listed on a drill-down page at most (the highest value first).
const LISTED: usize = 200;

/// The dashboard's answer: a page, a redirect, or an error page.
type Page = Result<Response, Response>;

// The error is the page to answer with (a redirect or an error page), made once per
// request: boxing it would buy nothing.
#[allow(clippy::result_large_err)]
fn signed_in(state: &AppState, headers: &HeaderMap, next: &str) -> Result<Principal, Response> {
    let Some(principal) = state.session(headers) else {
        return Err(Redirect::to(&format!("/login?next={}", path_segment(next))).into_response());
    };
    if principal.role == Role::Kiosk {
        return Err(Redirect::to("/kiosk/nps").into_response());
    }
    state.check_rate(&principal).map_err(|error| error_page(error.status(), error_text(&error)))?;
    Ok(principal)
}

fn error_text(error: &ApiError) -> String {
    format!("{} ({})", error.status().canonical_reason().unwrap_or("error"), error.code())
}

fn error_page(status: StatusCode, message: String) -> Response {
    let body = html! { p { (message) } p { a href="/" { "Back to the overview" } } };
    (status, Html(page("Something went wrong", None, body))).into_response()
}

fn api_error_page(error: ApiError) -> Response {
    let status = error.status();
    error_page(status, error.message().to_string())
}

fn banner(principal: &Principal) -> Markup {
    html! {
        div class="banner" style="display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:0.5rem;padding:0.5rem 0;border-bottom:1px solid #d0d7de" {
            // The overview's own contents list links every section the analysis has.
            nav aria-label="Dashboard" { a href="/" { "Overview" } " · " a href="/#matrix" { "Customer Matrix" } }
            form method="post" action="/logout" style="margin:0" {
                span class="muted" { "Signed in: " (principal.name) " (" (principal.role.name()) ") " }
                button type="submit" id="sign-out" { "Sign out" }
            }
        }
    }
}

/// `/`: the report's views, linked for drill-down.
pub(crate) async fn home(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Page {
    let principal = signed_in(&state, &headers, "/")?;
    let results = state.require_results().map_err(|error| {
        let status = error.status();
        let body = html! { (banner(&principal)) p { (error.message()) } };
        (status, Html(page("No analysis yet", None, body))).into_response()
    })?;
    let html = render_with(results.view_for(&principal), &PageOptions { links: true, banner: Some(banner(&principal)) });
    Ok(Html(html).into_response())
}

/// `/matrix/{longevity}/{strength}`: the customers of one cell.
pub(crate) async fn cell(State(state): State<Arc<AppState>>, headers: HeaderMap, Path((longevity, strength)): Path<(u32, u32)>) -> Page {
    let principal = signed_in(&state, &headers, &format!("/matrix/{longevity}/{strength}"))?;
    let results = state.require_results().map_err(api_error_page)?;
    if !cell_exists(&results, longevity, strength) {
        return Err(error_page(StatusCode::NOT_FOUND, format!("The matrix has no cell L{longevity} × S{strength}.")));
    }
    let members = cell_members(&results.view.customers, longevity, strength);
    let title = format!("Matrix cell L{longevity} × S{strength}");
    let body = html! {
        p { a href="/#matrix" { "← The Customer Matrix" } }
        p { (members.len()) " customers: longevity band " (longevity) ", strength band " (strength) "." }
        (customer_list(&results, members))
    };
    Ok(Html(page(&title, Some(banner(&principal)), body)).into_response())
}

/// `/segments/{kind}/{name}`: the customers of one segment.
pub(crate) async fn segment(State(state): State<Arc<AppState>>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Page {
    let principal = signed_in(&state, &headers, &format!("/segments/{}/{}", path_segment(&kind), path_segment(&name)))?;
    let results = state.require_results().map_err(api_error_page)?;
    let members = segment_of(&results, &kind, &name).map_err(api_error_page)?;
    let body = html! {
        p { a href="/#segments" { "← Segments" } }
        p { (members.len()) " customers." }
        (customer_list(&results, members))
    };
    Ok(Html(page(&format!("Segment {kind}: {name}"), Some(banner(&principal)), body)).into_response())
}

/// Customers as a table, highest value first, each linked to their page.
fn customer_list(results: &Results, mut members: Vec<usize>) -> Markup {
    let customers = &results.view.customers;
    let value = number_column(customers, "value").or_else(|| number_column(customers, "net_spend"));
    let key = |row: usize| value.as_ref().map(|column| column.value(row)).filter(|value| value.is_finite()).unwrap_or(f64::NEG_INFINITY);
    members.sort_by(|&a, &b| key(b).total_cmp(&key(a)));
    let shown = &members[..members.len().min(LISTED)];
    let columns = ["segment", "strength", "clv", "p_alive", "value", "next_action"];
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|&row| {
            let mut cells = vec![text_at(customers, "customer_id", row)];
            cells.extend(columns.iter().map(|column| text_at(customers, column, row)));
            cells
        })
        .collect();
    let links: Vec<Option<String>> =
        shown.iter().map(|&row| Some(format!("/customers/{}", path_segment(&text_at(customers, "customer_id", row))))).collect();
    html! {
        @if members.len() > LISTED { p class="muted" { "The " (LISTED) " of highest value; GET /api/v1/… lists them all." } }
        (data_table_linked(&["customer", "segment", "strength", "CLV", "P(alive)", "value", "next action"], &rows, &links))
    }
}

fn text_at(batch: &RecordBatch, name: &str, row: usize) -> String {
    let Some(column) = batch.column_by_name(name) else { return String::new() };
    if column.is_null(row) {
        return String::new();
    }
    if let Some(numbers) = column.as_primitive_opt::<Float64Type>() {
        let value = numbers.value(row);
        return if value.is_finite() { rapport_report::svg::short(value) } else { String::new() };
    }
    arrow::util::display::array_value_to_string(column, row).unwrap_or_default()
}

/// `/customers/{id}`: one customer's scores, segment, actions with their reasons, and
/// timeline.
pub(crate) async fn customer(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Page {
    let principal = signed_in(&state, &headers, &format!("/customers/{}", path_segment(&id)))?;
    let results = state.require_results().map_err(api_error_page)?;
    let detail = customer_detail(&results, &id).map_err(api_error_page)?;
    let events = events_of(&state, &principal, id.clone()).await.map_err(api_error_page)?;
    let scores: Vec<Vec<String>> = detail.customer.iter().map(|(name, value)| vec![name.clone(), plain(value)]).collect();
    let actions: Vec<Vec<String>> = detail
        .actions
        .iter()
        .map(|action| ["action", "channel", "priority", "reason", "control"].iter().map(|name| plain(&action[*name])).collect())
        .collect();
    let personal = principal.sees_personal_data();
    let timeline: Vec<Vec<String>> = events
        .events
        .iter()
        .map(|event| {
            let kind = plain(&event["kind"]);
            let time = plain(&event["time"]);
            let detail: Vec<String> = event
                .iter()
                .filter(|(name, _)| !matches!(name.as_str(), "kind" | "time" | "customer_id" | "event_id"))
                .map(|(name, value)| format!("{name}: {}", plain(value)))
                .collect();
            vec![time, kind, detail.join(" · ")]
        })
        .collect();
    let cell = (
        detail.customer.get("longevity_band").map(plain).unwrap_or_default(),
        detail.customer.get("strength_band").map(plain).unwrap_or_default(),
    );
    let body = html! {
        p {
            "Matrix cell " a href=(format!("/matrix/{}/{}", cell.0, cell.1)) { "L" (cell.0) " × S" (cell.1) }
            " · segment " (detail.customer.get("segment").map(plain).unwrap_or_default())
        }
        h2 { "Next-best actions" }
        @if actions.is_empty() { p { "No action for this customer in this analysis." } }
        @else { (data_table(&["action", "channel", "priority", "reason", "control group"], &actions)) }
        h2 { "Timeline" }
        @if !personal { p class="muted" { "Names, contact details, exact locations and texts are left out for viewer tokens." } }
        (data_table(&["time (UTC)", "kind", "details"], &timeline))
        h2 { "Scores and measures" }
        (data_table(&["column", "value"], &scores))
    };
    Ok(Html(page(&format!("Customer {id}"), Some(banner(&principal)), body)).into_response())
}

fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Number(number) => match number.as_f64() {
            Some(float) if number.is_f64() => rapport_report::svg::short(float),
            _ => number.to_string(),
        },
        other => other.to_string(),
    }
}

/// `/topics/{index}`: a complaint topic's messages (texts for analysts).
pub(crate) async fn topic(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(index): Path<usize>) -> Page {
    let principal = signed_in(&state, &headers, &format!("/topics/{index}"))?;
    let results = state.require_results().map_err(api_error_page)?;
    let (label, rows) = topic_rows(&results, index).map_err(api_error_page)?;
    let messages = results.view.tables.get("complaint_messages");
    let shown: Vec<Vec<String>> = match messages {
        Some(table) if principal.sees_personal_data() => rows
            .iter()
            .take(LISTED)
            .map(|&row| ["time", "customer_id", "channel", "text"].iter().map(|name| text_at(table, name, row)).collect())
            .collect(),
        _ => Vec::new(),
    };
    let links: Vec<Option<String>> =
        shown.iter().map(|row| (!row[1].is_empty()).then(|| format!("/customers/{}", path_segment(&row[1])))).collect();
    // The time first: put the customer link in the first cell instead.
    let linked: Vec<Vec<String>> = shown.iter().map(|row| vec![row[1].clone(), row[0].clone(), row[2].clone(), row[3].clone()]).collect();
    let body = html! {
        p { a href="/#topics" { "← Complaint topics" } }
        p { (rows.len()) " negative customer messages in this topic" @if rows.len() > LISTED { " (the newest " (LISTED) " shown)" } "." }
        @if principal.sees_personal_data() {
            (data_table_linked(&["customer", "time", "channel", "message"], &linked, &links))
        } @else {
            p { "The messages' texts are personal data: viewer tokens never receive them. An analyst token shows them here." }
        }
    };
    Ok(Html(page(&format!("Topic: {label}"), Some(banner(&principal)), body)).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct Next {
    next: Option<String>,
}

/// Only paths of this site (no `//host`, no scheme): an open redirect is a phishing aid.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_string(),
        _ => "/".to_string(),
    }
}

/// `/login`: the sign-in form.
pub(crate) async fn login_form(Query(next): Query<Next>) -> Response {
    sign_in_page(StatusCode::OK, &safe_next(next.next.as_deref()), None)
}

fn sign_in_page(status: StatusCode, next: &str, problem: Option<&str>) -> Response {
    let body = html! {
        @if let Some(problem) = problem { p role="alert" style="color:#a40e26" { (problem) } }
        form method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            p {
                label for="token" { "Access token" } br;
                input type="password" id="token" name="token" autocomplete="off" required size="72";
            }
            p { button type="submit" id="sign-in" { "Sign in" } }
        }
        p class="muted" { "An administrator creates tokens with " code { "rapport token create --workspace DIR --role viewer" } "." }
    };
    (status, Html(page("Sign in to Rapport", None, body))).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignIn {
    token: String,
    next: Option<String>,
}

/// `POST /login`: check the token, start a session.
pub(crate) async fn login(State(state): State<Arc<AppState>>, headers: HeaderMap, Form(form): Form<SignIn>) -> Response {
    if !same_origin(&headers) {
        return error_page(StatusCode::FORBIDDEN, "Cross-site form posts are refused.".to_string());
    }
    let next = safe_next(form.next.as_deref());
    let Some(principal) = state.principal(form.token.trim()) else {
        return sign_in_page(StatusCode::UNAUTHORIZED, &next, Some("That token is unknown or revoked."));
    };
    if let Err(error) = state.check_rate(&principal) {
        return api_error_page(error);
    }
    let session = state.start_session(&principal);
    let target = if principal.role == Role::Kiosk && !next.starts_with("/kiosk/") { "/kiosk/nps".to_string() } else { next };
    let mut response = Redirect::to(&target).into_response();
    let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", state.options.session.as_secs());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /logout`: end the session.
pub(crate) async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return error_page(StatusCode::FORBIDDEN, "Cross-site form posts are refused.".to_string());
    }
    state.end_session(&headers);
    let mut response = Redirect::to("/login").into_response();
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A form post comes from this site: its Sec-Fetch-Site says so, or its Origin (when the
/// browser sends one) names the host it was posted to. With SameSite=Strict cookies this closes cross-site posts.
fn same_origin(headers: &HeaderMap) -> bool {
    // Browsers say where a request comes from (Fetch Metadata); older ones send Origin.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|value| value.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|value| value.to_str().ok()) else { return false };
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Touchpoint {
    touchpoint: Option<String>,
}

// The error is the page to answer with (a redirect or an error page), made once per
// request: boxing it would buy nothing.
#[allow(clippy::result_large_err)]
fn kiosk_principal(state: &AppState, headers: &HeaderMap, touchpoint: &str) -> Result<Principal, Response> {
    let next = format!("/kiosk/nps?touchpoint={}", path_segment(touchpoint));
    let Some(principal) = state.session(headers) else {
        return Err(Redirect::to(&format!("/login?next={}", path_segment(&next))).into_response());
    };
    if !matches!(principal.role, Role::Kiosk | Role::Admin) {
        return Err(error_page(StatusCode::FORBIDDEN, "The kiosk needs a kiosk or admin token.".to_string()));
    }
    state.check_rate(&principal).map_err(api_error_page)?;
    Ok(principal)
}

/// `/kiosk/nps?touchpoint=NAME`: the NPS question, for a store's tablet.
pub(crate) async fn kiosk(State(state): State<Arc<AppState>>, headers: HeaderMap, Query(query): Query<Touchpoint>) -> Page {
    let touchpoint = query.touchpoint.unwrap_or_default();
    kiosk_principal(&state, &headers, &touchpoint)?;
    if touchpoint.trim().is_empty() {
        return Err(no_touchpoint());
    }
    Ok(kiosk_page(StatusCode::OK, &KioskAnswer { touchpoint: Some(touchpoint), ..KioskAnswer::default() }, None))
}

fn no_touchpoint() -> Response {
    let body = html! {
        p { "This kiosk's address names no touchpoint, so its answers could not be told apart from other stores'." }
        p { "Open it as " code { "/kiosk/nps?touchpoint=Store 12" } " (the store's or desk's name)." }
    };
    (StatusCode::BAD_REQUEST, Html(page("Which touchpoint?", None, body))).into_response()
}

/// The form, filled with `answer` (after a problem, what was entered stays). Each form
/// carries a random id that becomes its answer's event id: a double tap or a resent form
/// stores one answer.
fn kiosk_page(status: StatusCode, answer: &KioskAnswer, problem: Option<&str>) -> Response {
    let touchpoint = answer.touchpoint.as_deref().unwrap_or_default();
    let form_id = match answer.form.as_deref() {
        Some(id) if valid_form_id(id) => id.to_string(),
        _ => {
            let random: [u8; 12] = rand::random();
            random.iter().map(|byte| format!("{byte:02x}")).collect()
        }
    };
    let chosen = answer.score.as_deref().and_then(|score| score.parse::<u8>().ok());
    let body = html! {
        form method="post" action="/kiosk/nps" class="kiosk" {
            input type="hidden" name="touchpoint" value=(touchpoint);
            input type="hidden" name="form" value=(form_id);
            fieldset style="border:0;padding:0" {
                legend style="font-size:1.3rem" { "How likely are you to recommend us to a friend or colleague?" }
                p class="muted" { "0 = not at all likely, 10 = extremely likely" }
                div style="display:grid;grid-template-columns:repeat(auto-fit,minmax(3.2rem,1fr));gap:0.4rem" {
                    @for score in 0..=10u8 {
                        label style="display:block;text-align:center;border:1px solid #d0d7de;border-radius:6px;padding:0.6rem 0;font-size:1.3rem" {
                            input type="radio" name="score" value=(score) required checked[chosen == Some(score)]; " " (score)
                        }
                    }
                }
            }
            p {
                label for="customer" { "Loyalty card or customer number" } br;
                input id="customer" name="customer_id" autocomplete="off" value=(answer.customer_id.as_deref().unwrap_or_default());
            }
            p {
                label for="order" { "or receipt number" } br;
                input id="order" name="order_id" autocomplete="off" value=(answer.order_id.as_deref().unwrap_or_default());
            }
            p { label for="comment" { "Anything you would like to tell us? (optional)" } br; textarea id="comment" name="comment" rows="3" cols="50" { (answer.comment.as_deref().unwrap_or_default()) } }
            @if let Some(problem) = problem { p role="alert" style="color:#a40e26" { (problem) } }
            p { button type="submit" id="send" style="font-size:1.2rem;padding:0.4rem 1.4rem" { "Send" } }
        }
    };
    (status, Html(page(&format!("Tell us how we did · {touchpoint}"), None, body))).into_response()
}

fn valid_form_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|byte| byte.is_ascii_hexdigit())
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct KioskAnswer {
    touchpoint: Option<String>,
    form: Option<String>,
    score: Option<String>,
    customer_id: Option<String>,
    order_id: Option<String>,
    comment: Option<String>,
}

/// `POST /kiosk/nps`: store the answer as a survey event through the ingest endpoint's
/// path (same validation, same durability).
pub(crate) async fn kiosk_answer(State(state): State<Arc<AppState>>, headers: HeaderMap, Form(answer): Form<KioskAnswer>) -> Page {
    let touchpoint = answer.touchpoint.clone().unwrap_or_default();
    if !same_origin(&headers) {
        return Err(error_page(StatusCode::FORBIDDEN, "Cross-site form posts are refused.".to_string()));
    }
    let principal = kiosk_principal(&state, &headers, &touchpoint)?;
    if touchpoint.trim().is_empty() {
        return Err(no_touchpoint());
    }
    let filled = |value: &Option<String>| value.as_deref().map(str::trim).filter(|text| !text.is_empty()).map(str::to_string);
    let (customer, order) = (filled(&answer.customer_id), filled(&answer.order_id));
    if customer.is_none() && order.is_none() {
        return Err(kiosk_page(StatusCode::UNPROCESSABLE_ENTITY, &answer, Some("Please give your loyalty number or your receipt number.")));
    }
    let Some(score) = filled(&answer.score).and_then(|score| score.parse::<u8>().ok()).filter(|score| *score <= 10) else {
        return Err(kiosk_page(StatusCode::UNPROCESSABLE_ENTITY, &answer, Some("Please choose a score from 0 to 10.")));
    };
    let Some(form_id) = answer.form.as_deref().filter(|id| valid_form_id(id)) else {
        return Err(kiosk_page(StatusCode::UNPROCESSABLE_ENTITY, &answer, Some("Please send the form again.")));
    };
    let mut event = serde_json::Map::new();
    event.insert("event_id".into(), Value::from(format!("kiosk-{form_id}")));
    event.insert("survey_type".into(), Value::from("nps"));
    event.insert("score".into(), Value::from(score));
    event.insert("time".into(), Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    event.insert("touchpoint".into(), Value::from(touchpoint.trim()));
    for (name, value) in [("customer_id", customer), ("order_id", order), ("comment", filled(&answer.comment))] {
        if let Some(value) = value {
            event.insert(name.into(), Value::from(value));
        }
    }
    let source = format!("kiosk {} ({})", touchpoint.trim(), principal.name);
    ingest(&state, EventKind::Surveys, vec![Value::Object(event)], source, 0)
        .await
        .map_err(|error| kiosk_page(StatusCode::UNPROCESSABLE_ENTITY, &answer, Some(error.message())))?;
    let again = format!("/kiosk/nps?touchpoint={}", path_segment(touchpoint.trim()));
    let body = html! {
        p style="font-size:1.4rem" { "Thank you! Your answer was saved." }
        p { a href=(again) id="again" { "Next customer" } }
    };
    Ok(Html(page("Thank you", None, body)).into_response())
}
