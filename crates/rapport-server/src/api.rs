//! The JSON API under `/api/v1/`, described by the OpenAPI document at `/openapi.json`.
//! Handlers read the analysis the server holds or call the engine; none computes a
//! measure.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use rapport_engine::EventKind;
use rapport_engine::results::{cell_members, customer_events, number_column, row_json, segment_members, text_column};
use rapport_engine::workspace::{PostedEvents, Role, ingest_posted};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Principal, Results};

type Object = Map<String, Value>;
type ApiResult<T> = Result<Json<T>, ApiError>;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Rapport API", description = "Return on Relationship: results of the latest analysis, drill-down, event ingest and forgetting a customer. Every request but /api/v1/health carries Authorization: Bearer TOKEN (rapport token create)."),
    paths(health, summary, runs, matrix, cell_customers, customers, customer, customer_events_route, customer_profile, forget_customer, segments, segment_customers, topics, topic_messages, table, post_events),
    components(schemas(ErrorBody, Health, RunBody, RunList, RunItem, MatrixBody, CustomerPage, CustomerDetail, EventList, TableBody, IngestResult, RejectInfo, ForgetResult)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// Whether the server is up, and which analysis it shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The analysis run shown (none before the first `rapport analyze`).
    pub run: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/health", tag = "server", responses((status = 200, body = Health)))]
pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health { status: "ok".into(), run: state.results().map(|results| results.view.run.id.clone()) })
}

/// An analysis run: its summary (`summary.json`: headlines with intervals and sample
/// sizes, what was skipped, warnings).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunBody {
    /// The run's id.
    pub run: String,
    /// `summary.json`.
    #[schema(value_type = Object)]
    pub summary: Value,
}

#[utoipa::path(get, path = "/api/v1/summary", tag = "results", security(("bearer" = [])),
    responses((status = 200, body = RunBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn summary(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<RunBody> {
    reader(&state, &headers)?;
    let results = state.require_results()?;
    Ok(Json(RunBody { run: results.view.run.id.clone(), summary: results.view.summary.clone() }))
}

/// One results run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunItem {
    /// Its id (its start time, UTC).
    pub id: String,
    /// The command that wrote it.
    pub command: String,
    /// When it finished.
    pub finished_at: String,
    /// Customers in its customer table.
    pub customers: u64,
}

/// The workspace's results runs, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// The runs.
    pub runs: Vec<RunItem>,
    /// The analysis shown.
    pub shown: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/runs", tag = "results", security(("bearer" = [])),
    responses((status = 200, body = RunList), (status = 401, body = ErrorBody)))]
pub(crate) async fn runs(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<RunList> {
    reader(&state, &headers)?;
    let workspace = state.options.workspace.clone();
    let runs = blocking(move || rapport_engine::workspace::runs(&workspace).map_err(ApiError::from)).await?;
    Ok(Json(RunList {
        runs: runs
            .into_iter()
            .map(|run| RunItem { id: run.id, command: run.command, finished_at: run.finished_at, customers: run.customers })
            .collect(),
        shown: state.results().map(|results| results.view.run.id.clone()),
    }))
}

/// The Customer Matrix: one row per cell; migration since the analysis before.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatrixBody {
    /// The run.
    pub run: String,
    /// Cells: longevity and strength band, customers, share of value, realised and
    /// predicted spend, CLV, mean P(alive).
    #[schema(value_type = Vec<Object>)]
    pub cells: Vec<Object>,
    /// The run compared with, if any.
    pub compare: Option<String>,
    /// Customers who moved up, slipped or stayed (when compared).
    pub directions: BTreeMap<String, u64>,
    /// Flows between cells (when compared).
    #[schema(value_type = Vec<Object>)]
    pub migration: Vec<Object>,
    /// Top-tier customers with new risk signals.
    #[schema(value_type = Vec<Object>)]
    pub watch: Vec<Object>,
}

#[utoipa::path(get, path = "/api/v1/matrix", tag = "results", security(("bearer" = [])),
    responses((status = 200, body = MatrixBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn matrix(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<MatrixBody> {
    reader(&state, &headers)?;
    let results = state.require_results()?;
    let report = &results.view.matrix;
    Ok(Json(MatrixBody {
        run: results.view.run.id.clone(),
        cells: rows(&report.cells),
        compare: report.compare.as_ref().map(|run| run.id.clone()),
        directions: report.directions.iter().map(|(name, count)| (name.to_string(), *count)).collect(),
        migration: report.migration.as_ref().map(rows).unwrap_or_default(),
        watch: rows(&report.watch),
    }))
}

/// Which page of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows to skip (default 0).
    pub offset: Option<usize>,
    /// Rows to return (default 100, at most 10,000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// A numeric column of the customer table to sort by, highest first (default: the
    /// table's order, natural by id), e.g. `clv`, `value`, `p_alive`, `strength`.
    pub sort: Option<String>,
}

/// A page of customers (rows of the customer table).
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    /// Customers matching, in all.
    pub total: usize,
    /// Rows skipped.
    pub offset: usize,
    /// Rows asked for.
    pub limit: usize,
    /// The rows.
    #[schema(value_type = Vec<Object>)]
    pub customers: Vec<Object>,
}

#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = CustomerPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn customers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<CustomerPage> {
    reader(&state, &headers)?;
    let Query(query) = query.map_err(bad_query)?;
    let results = state.require_results()?;
    let all: Vec<usize> = (0..results.view.customers.num_rows()).collect();
    Ok(Json(page(&results, all, &query)?))
}

#[utoipa::path(get, path = "/api/v1/matrix/{longevity}/{strength}/customers", tag = "customers", security(("bearer" = [])),
    params(("longevity" = u32, Path, description = "Longevity band, 1 (newest) …"), ("strength" = u32, Path, description = "Strength band, 1 (weakest) …"), PageQuery),
    responses((status = 200, body = CustomerPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn cell_customers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<(u32, u32)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<CustomerPage> {
    reader(&state, &headers)?;
    let Path((longevity, strength)) = path.map_err(bad_path)?;
    let Query(query) = query.map_err(bad_query)?;
    let results = state.require_results()?;
    let members = cell_members(&results.view.customers, longevity, strength);
    if members.is_empty() && !cell_exists(&results, longevity, strength) {
        return Err(ApiError::not_found(format!("the matrix has no cell L{longevity} × S{strength}")));
    }
    Ok(Json(page(&results, members, &query)?))
}

pub(crate) fn cell_exists(results: &Results, longevity: u32, strength: u32) -> bool {
    let cells = &results.view.matrix.cells;
    let column = |name: &str| number_column(cells, name);
    let (Some(l), Some(s)) = (column("longevity_band"), column("strength_band")) else { return false };
    (0..cells.num_rows()).any(|row| l.value(row) == f64::from(longevity) && s.value(row) == f64::from(strength))
}

/// One customer: their row of the customer table (scores, segment, cell, value, ROR,
/// propensities, next action) and their actions with the reasons behind them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDetail {
    /// The analysis run.
    pub run: String,
    /// The customer-table row.
    #[schema(value_type = Object)]
    pub customer: Object,
    /// Their next-best actions, each with its reason.
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Object>,
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, body = CustomerDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn customer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<CustomerDetail> {
    reader(&state, &headers)?;
    let Path(id) = path.map_err(bad_path)?;
    let results = state.require_results()?;
    Ok(Json(customer_detail(&results, &id)?))
}

pub(crate) fn customer_detail(results: &Results, id: &str) -> Result<CustomerDetail, ApiError> {
    let row = *results.by_id.get(id).ok_or_else(|| unknown_customer(id, &results.view.run.id))?;
    let actions = match (results.actions.get(id), results.view.tables.get("actions")) {
        (Some(found), Some(table)) => found.iter().map(|&row| row_json(table, row)).collect(),
        _ => Vec::new(),
    };
    Ok(CustomerDetail { run: results.view.run.id.clone(), customer: row_json(&results.view.customers, row), actions })
}

fn unknown_customer(id: &str, run: &str) -> ApiError {
    ApiError::not_found(format!("no customer {id:?} in analysis {run} (a customer ingested since appears after the next rapport analyze)"))
}

/// A customer's stored events, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// The customer.
    pub customer_id: String,
    /// Whether personal fields (names, contacts, exact locations, texts) are included:
    /// false for viewer tokens, which receive the events without them.
    pub personal_data: bool,
    /// The events: `kind` and the kind's fields.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Object>,
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/events", tag = "customers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, body = EventList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn customer_events_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<EventList> {
    let principal = reader(&state, &headers)?;
    let Path(id) = path.map_err(bad_path)?;
    Ok(Json(events_of(&state, &principal, id).await?))
}

pub(crate) async fn events_of(state: &Arc<AppState>, principal: &Principal, id: String) -> Result<EventList, ApiError> {
    let workspace = state.options.workspace.clone();
    let customer = id.clone();
    let events = blocking(move || customer_events(&workspace, &customer).map_err(ApiError::from)).await?;
    if events.is_empty() && state.results().is_none_or(|results| !results.by_id.contains_key(&id)) {
        return Err(ApiError::not_found(format!("no customer {id:?}: no stored event names them")));
    }
    let personal = principal.sees_personal_data();
    let events = events
        .into_iter()
        .map(|event| {
            let mut object = Object::new();
            object.insert("kind".into(), Value::from(event.kind.name()));
            for (name, value) in event.fields {
                if personal || !event.kind.is_personal(&name) {
                    object.insert(name, value);
                }
            }
            object
        })
        .collect();
    Ok(EventList { customer_id: id, personal_data: personal, events })
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/profile", tag = "customers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, description = "The customer's profile rows (customers events), personal data included", body = EventList),
        (status = 403, description = "A viewer token: personal data", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn customer_profile(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<EventList> {
    let principal = reader(&state, &headers)?;
    let Path(id) = path.map_err(bad_path)?;
    personal(&principal, "a customer's profile (name, contact details, location)")?;
    let mut list = events_of(&state, &principal, id).await?;
    list.events.retain(|event| event.get("kind").and_then(Value::as_str) == Some(EventKind::Customers.name()));
    Ok(Json(list))
}

/// What forgetting a customer removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForgetResult {
    /// Events removed.
    pub events_removed: u64,
    /// References in other customers' events cleared.
    pub references_cleared: u64,
    /// Quarantined rows removed.
    pub quarantined_removed: u64,
    /// Rows removed from results runs.
    pub result_rows_removed: u64,
}

#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, body = ForgetResult), (status = 403, body = ErrorBody), (status = 422, description = "Unknown customer", body = ErrorBody)))]
pub(crate) async fn forget_customer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<ForgetResult> {
    let principal = state.authenticate(&headers)?;
    principal.require(Role::Admin, "forgetting a customer")?;
    let Path(id) = path.map_err(bad_path)?;
    let worker = state.clone();
    let by = format!("DELETE /api/v1/customers with token {} ({})", principal.token_id, principal.name);
    let report = blocking(move || {
        // Hold the ingest lock: no posted event of theirs lands between the forget and the
        // caches being emptied.
        let mut caches = worker.ingest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let report = rapport_engine::workspace::forget_by(&worker.options.workspace, &id, &by).map_err(|error| match error.code() {
            "invalid_request" => ApiError::not_found(error.to_string()),
            _ => ApiError::from(error),
        })?;
        // The caches may hold the forgotten customer's event ids.
        caches.clear();
        drop(caches);
        worker.reload();
        Ok(report)
    })
    .await?;
    tracing::info!("token {} forgot a customer", principal.token_id);
    Ok(Json(ForgetResult {
        events_removed: report.events_removed,
        references_cleared: report.references_cleared,
        quarantined_removed: report.quarantined_removed,
        result_rows_removed: report.result_rows_removed,
    }))
}

/// A results table, row by row.
#[derive(Debug, Serialize, ToSchema)]
pub struct TableBody {
    /// The run.
    pub run: String,
    /// The table's name.
    pub table: String,
    /// Its rows.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Object>,
}

#[utoipa::path(get, path = "/api/v1/segments", tag = "results", security(("bearer" = [])),
    responses((status = 200, description = "Segments: RFM, clusters and user-defined, with sizes and value", body = TableBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn segments(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<TableBody> {
    let principal = reader(&state, &headers)?;
    table_body(&state, &principal, "segments")
}

#[utoipa::path(get, path = "/api/v1/segments/{kind}/{name}/customers", tag = "customers", security(("bearer" = [])),
    params(("kind" = String, Path, description = "rfm, cluster or user"), ("name" = String, Path, description = "The segment, as /api/v1/segments names it"), PageQuery),
    responses((status = 200, body = CustomerPage), (status = 404, body = ErrorBody)))]
pub(crate) async fn segment_customers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<CustomerPage> {
    reader(&state, &headers)?;
    let Path((kind, name)) = path.map_err(bad_path)?;
    let Query(query) = query.map_err(bad_query)?;
    let results = state.require_results()?;
    let members = segment_of(&results, &kind, &name)?;
    Ok(Json(page(&results, members, &query)?))
}

/// The rows of a segment's customers, or why there is no such segment.
pub(crate) fn segment_of(results: &Results, kind: &str, name: &str) -> Result<Vec<usize>, ApiError> {
    if !matches!(kind, "rfm" | "cluster" | "user") {
        return Err(ApiError::not_found(format!("segments are of kind rfm, cluster or user; not {kind:?}")));
    }
    segment_members(&results.view.customers, kind, name)
        .filter(|members| !members.is_empty() || segment_listed(results, kind, name))
        .ok_or_else(|| {
            ApiError::not_found(format!("no {kind} segment {name:?} in analysis {} (GET /api/v1/segments lists them)", results.view.run.id))
        })
}

fn segment_listed(results: &Results, kind: &str, name: &str) -> bool {
    let Some(table) = results.view.tables.get("segments") else { return false };
    let (Some(kinds), Some(names)) = (text_column(table, "kind"), text_column(table, "segment")) else {
        return false;
    };
    (0..table.num_rows()).any(|row| kinds.value(row) == kind && names.value(row) == name)
}

#[utoipa::path(get, path = "/api/v1/topics", tag = "results", security(("bearer" = [])),
    responses((status = 200, description = "Complaint topics with their shares and 95% intervals", body = TableBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn topics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<TableBody> {
    let principal = reader(&state, &headers)?;
    let results = state.require_results()?;
    if !results.view.tables.contains_key("complaint_topics") {
        // No complaints to group (or none negative): an empty list, not an error.
        return Ok(Json(TableBody { run: results.view.run.id.clone(), table: "complaint_topics".into(), rows: Vec::new() }));
    }
    table_body(&state, &principal, "complaint_topics")
}

#[utoipa::path(get, path = "/api/v1/topics/{index}/messages", tag = "results", security(("bearer" = [])),
    params(("index" = usize, Path, description = "The topic's row in /api/v1/topics, from 0"), PageQuery),
    responses((status = 200, description = "The topic's negative customer messages, newest first", body = TableBody),
        (status = 403, description = "A viewer token: the texts are personal data", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn topic_messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<usize>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<TableBody> {
    let principal = reader(&state, &headers)?;
    let Path(index) = path.map_err(bad_path)?;
    let Query(query) = query.map_err(bad_query)?;
    personal(&principal, "the texts of a topic")?;
    let results = state.require_results()?;
    let (label, rows) = topic_rows(&results, index)?;
    let (offset, limit) = bounds(&query)?;
    let table = results.view.tables.get("complaint_messages");
    let rows = match table {
        Some(table) => rows.into_iter().skip(offset).take(limit).map(|row| row_json(table, row)).collect(),
        None => Vec::new(),
    };
    Ok(Json(TableBody { run: results.view.run.id.clone(), table: label, rows }))
}

/// The label of topic `index` and the rows of its messages.
pub(crate) fn topic_rows(results: &Results, index: usize) -> Result<(String, Vec<usize>), ApiError> {
    let topics =
        results.view.tables.get("complaint_topics").ok_or_else(|| ApiError::not_found("this analysis found no complaint topics"))?;
    let labels = text_column(topics, "topic");
    let label = labels
        .filter(|labels| index < labels.len())
        .map(|labels| labels.value(index).to_string())
        .ok_or_else(|| ApiError::not_found(format!("no topic {index}: this analysis has {} (from 0)", topics.num_rows())))?;
    let rows = results
        .view
        .tables
        .get("complaint_messages")
        .and_then(|table| text_column(table, "topic"))
        .map(|topic| (0..topic.len()).filter(|&row| topic.is_valid(row) && topic.value(row) == label).collect())
        .unwrap_or_default();
    Ok((label, rows))
}

#[utoipa::path(get, path = "/api/v1/tables/{name}", tag = "results", security(("bearer" = [])),
    params(("name" = String, Path, description = "A table of the run: voice_of_customer, service, programs, ror, actions, indicators, propensity, regions, …")),
    responses((status = 200, body = TableBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn table(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<TableBody> {
    let principal = reader(&state, &headers)?;
    let Path(name) = path.map_err(bad_path)?;
    if name == "complaint_messages" {
        personal(&principal, "complaint messages")?;
    }
    table_body(&state, &principal, &name)
}

fn table_body(state: &AppState, principal: &Principal, name: &str) -> ApiResult<TableBody> {
    let results = state.require_results()?;
    let view = results.view_for(principal);
    let table = view.tables.get(name).ok_or_else(|| {
        let names: Vec<&str> = view.tables.keys().map(String::as_str).collect();
        ApiError::not_found(format!("analysis {} has no table {name:?}; it has {}", results.view.run.id, names.join(", ")))
    })?;
    Ok(Json(TableBody { run: results.view.run.id.clone(), table: name.to_string(), rows: rows(table) }))
}

/// How a post of events went.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResult {
    /// Events stored.
    pub accepted: u64,
    /// Events rejected (quarantined, when `max_rejects` allowed them).
    pub rejected: u64,
    /// Events already stored (same event id, or the same content without one).
    pub duplicates: u64,
    /// Events of forgotten customers, skipped.
    pub forgotten: u64,
    /// The batch published, if anything new was stored.
    pub batch: Option<u64>,
    /// The first rejected events and why.
    pub rejects: Vec<RejectInfo>,
}

/// One rejected event.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectInfo {
    /// Its position in the request, from 1.
    pub event: u64,
    /// The field at fault.
    pub field: String,
    /// The value found.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

/// Options of a post.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostQuery {
    /// Invalid events allowed: they are quarantined and the rest stored. Default 0: one
    /// invalid event refuses the whole request and stores nothing.
    pub max_rejects: Option<u64>,
}

#[utoipa::path(post, path = "/api/v1/events/{kind}", tag = "ingest", security(("bearer" = [])),
    params(("kind" = String, Path, description = "customers, purchases, interactions, surveys, engagement, programs, costs or stores"), PostQuery),
    request_body(description = "One event (a JSON object keyed by the kind's fields) or an array of them. Idempotent by event_id (else by content).", content_type = "application/json"),
    responses((status = 200, description = "Stored (durably: the batch is published before the response)", body = IngestResult),
        (status = 400, description = "Not JSON", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "No such kind", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, description = "Invalid events", body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn post_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PostQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<IngestResult> {
    let principal = state.authenticate(&headers)?;
    principal.require(Role::Admin, "ingesting events")?;
    let Path(kind) = path.map_err(bad_path)?;
    let Query(query) = query.map_err(bad_query)?;
    let body = body.map_err(|rejection| body_error(rejection, state.options.max_body_bytes))?;
    let kind = kind.parse::<EventKind>().map_err(|_| {
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
        ApiError::not_found(format!("there is no event kind {kind:?}; the kinds are {}", kinds.join(", ")))
    })?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|error| ApiError::bad_request("bad_json", format!("the body is not valid JSON: {error}")))?;
    let events = match value {
        Value::Array(events) => events,
        object @ Value::Object(_) => vec![object],
        _ => return Err(ApiError::bad_request("bad_json", "the body must be one event (a JSON object) or an array of events")),
    };
    let source = format!("POST /api/v1/events/{}", kind.name());
    Ok(Json(ingest(&state, kind, events, source, query.max_rejects.unwrap_or(0)).await?))
}

/// Batches with fewer events than this are merged …
const COMPACT_BELOW: u64 = 10_000;
/// … once there are this many of them.
const COMPACT_AT: usize = 64;

/// Store posted events (the API and the kiosk form).
pub(crate) async fn ingest(
    state: &Arc<AppState>,
    kind: EventKind,
    events: Vec<Value>,
    source: String,
    max_rejects: u64,
) -> Result<IngestResult, ApiError> {
    let worker = state.clone();
    let report = blocking(move || {
        let mut caches = worker.ingest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = caches.entry(kind).or_default();
        let request = PostedEvents { workspace: &worker.options.workspace, kind, events: &events, source: &source, max_rejects };
        let report = ingest_posted(&request, cache).map_err(ApiError::from)?;
        // One batch per request: merge the small ones once there are many, so the
        // manifest and the number of files stay small (the events are already stored;
        // a failed compaction loses nothing and is retried after the next request).
        if report.batch.is_some()
            && let Err(error) = rapport_engine::workspace::compact(&worker.options.workspace, kind, COMPACT_BELOW, COMPACT_AT, Some(cache))
        {
            tracing::warn!("compacting {kind}: {error}");
        }
        Ok(report)
    })
    .await?;
    Ok(IngestResult {
        accepted: report.accepted,
        rejected: report.rejected,
        duplicates: report.duplicates,
        forgotten: report.forgotten,
        batch: report.batch.as_ref().map(|batch| batch.id),
        rejects: report
            .first_rejects
            .iter()
            .map(|reject| RejectInfo {
                event: reject.line,
                field: reject.column.clone(),
                value: reject.value.clone(),
                expected: reject.expected.clone(),
            })
            .collect(),
    })
}

/// The principal of a request that reads results (every role but kiosk).
fn reader(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let principal = state.authenticate(headers)?;
    principal.require(Role::Viewer, "reading results")?;
    Ok(principal)
}

fn personal(principal: &Principal, what: &str) -> Result<(), ApiError> {
    if principal.sees_personal_data() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "personal_data",
        format!("personal data ({what}): viewer tokens never receive it; use an analyst token"),
    ))
}

fn bounds(query: &PageQuery) -> Result<(usize, usize), ApiError> {
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(ApiError::bad_request("invalid_request", format!("limit must be from 1 to 10000; found {limit}")));
    }
    Ok((query.offset.unwrap_or(0), limit))
}

/// A page of the customer table's `members` rows.
fn page(results: &Results, mut members: Vec<usize>, query: &PageQuery) -> Result<CustomerPage, ApiError> {
    let (offset, limit) = bounds(query)?;
    let customers = &results.view.customers;
    if let Some(sort) = &query.sort {
        let column = number_column(customers, sort).ok_or_else(|| {
            let numeric: Vec<String> = customers
                .schema()
                .fields()
                .iter()
                .filter(|field| field.data_type().is_numeric())
                .map(|field| field.name().clone())
                .collect();
            ApiError::bad_request("invalid_request", format!("cannot sort by {sort:?}: the numeric columns are {}", numeric.join(", ")))
        })?;
        let key = |row: usize| if column.is_valid(row) && column.value(row).is_finite() { column.value(row) } else { f64::NEG_INFINITY };
        members.sort_by(|&a, &b| key(b).total_cmp(&key(a)));
    }
    let total = members.len();
    let customers = members.into_iter().skip(offset).take(limit).map(|row| row_json(customers, row)).collect();
    Ok(CustomerPage { total, offset, limit, customers })
}

fn rows(batch: &RecordBatch) -> Vec<Object> {
    (0..batch.num_rows()).map(|row| row_json(batch, row)).collect()
}

fn bad_query(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_request", format!("bad query parameters: {}", rejection.body_text()))
}

fn bad_path(rejection: PathRejection) -> ApiError {
    ApiError::bad_request("invalid_request", format!("bad path: {}", rejection.body_text()))
}

fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body is larger than the {} MiB this server takes (rapport serve --max-body-mb); send the events in smaller batches",
                limit >> 20
            ),
        );
    }
    ApiError::bad_request("bad_body", rejection.body_text())
}

/// Run blocking work (file reads, ingests) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}
