//! `rapport serve`: the HTTP API under `/api/v1/` (JSON, described by the OpenAPI 3
//! document at `/openapi.json`), the dashboard at `/`, and the NPS kiosk form. The server
//! reads the latest `analyze` run through the engine and picks up a new one without a
//! restart; it computes nothing of its own.
//!
//! Access is by token (`rapport token create`): `Authorization: Bearer TOKEN` for the
//! API, a session cookie (HttpOnly, SameSite=Strict) after signing in for the dashboard.
//! Viewers never receive personal data; analysts do; only admins ingest and forget.

mod api;
mod dashboard;
mod error;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use utoipa::OpenApi;

pub use error::{ApiError, ErrorBody};
pub use state::{AppState, Principal, SESSION_COOKIE, ServeOptions};

/// The server's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.options.max_body_bytes;
    Router::new()
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/summary", get(api::summary))
        .route("/api/v1/runs", get(api::runs))
        .route("/api/v1/matrix", get(api::matrix))
        .route("/api/v1/matrix/{longevity}/{strength}/customers", get(api::cell_customers))
        .route("/api/v1/customers", get(api::customers))
        .route("/api/v1/customers/{id}", get(api::customer).delete(api::forget_customer))
        .route("/api/v1/customers/{id}/events", get(api::customer_events_route))
        .route("/api/v1/customers/{id}/profile", get(api::customer_profile))
        .route("/api/v1/segments", get(api::segments))
        .route("/api/v1/segments/{kind}/{name}/customers", get(api::segment_customers))
        .route("/api/v1/topics", get(api::topics))
        .route("/api/v1/topics/{index}/messages", get(api::topic_messages))
        .route("/api/v1/tables/{name}", get(api::table))
        .route("/api/v1/events/{kind}", post(api::post_events))
        .route("/openapi.json", get(openapi))
        .route("/", get(dashboard::home))
        .route("/login", get(dashboard::login_form).post(dashboard::login))
        .route("/logout", post(dashboard::logout))
        .route("/matrix/{longevity}/{strength}", get(dashboard::cell))
        .route("/customers/{id}", get(dashboard::customer))
        .route("/segments/{kind}/{name}", get(dashboard::segment))
        .route("/topics/{index}", get(dashboard::topic))
        .route("/kiosk/nps", get(dashboard::kiosk).post(dashboard::kiosk_answer))
        // Browsers ask for it on every page; nothing to send.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// The OpenAPI document of the API.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api::ApiDoc::openapi()
}

async fn openapi() -> impl IntoResponse {
    axum::Json(openapi_document())
}

async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return ApiError::not_found(format!("no endpoint {}; /openapi.json lists them", uri.path())).into_response();
    }
    let body = maud::html! { p { "There is no page " code { (uri.path()) } "." } p { a href="/" { "Back to the overview" } } };
    (StatusCode::NOT_FOUND, Html(rapport_report::page("Not found", None, body))).into_response()
}

async fn method_not_allowed(uri: Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take this method; /openapi.json lists what it takes", uri.path()),
    )
    .into_response()
}

/// Headers on every response: no sniffing, no framing, no referrer to other sites, nothing cached, and
/// on pages a Content-Security-Policy that allows no script and nothing from elsewhere.
/// No CORS header is ever sent: browsers on other origins cannot read the API.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // Same-origin requests keep their Origin (the form posts' check needs it); nothing
    // leaves for other sites.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(headers, header::HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()");
    response
}

/// Serve until `shutdown` resolves: bind `addr`, call `ready` with the address bound
/// (port 0 picks a free one), look for a new analysis every `refresh`.
pub async fn serve(
    options: ServeOptions,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = tokio::task::spawn_blocking(move || AppState::new(options))
        .await
        .map_err(|error| ServeError::Engine(rapport_engine::EngineError::Internal(error.to_string())))??;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    // Read the stored event ids for the ingest endpoint now, not on the first post.
    let warm = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut caches = warm.ingest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = std::time::Instant::now();
        match rapport_engine::workspace::warm_id_caches(&warm.options.workspace, &mut caches) {
            Ok(()) => tracing::info!("stored event ids read in {:.1} s", started.elapsed().as_secs_f64()),
            Err(error) => tracing::warn!("reading the stored event ids: {error}"),
        }
    });
    let watcher = state.clone();
    let refresh = state.options.refresh;
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(refresh);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let state = watcher.clone();
            let _ = tokio::task::spawn_blocking(move || state.refresh()).await;
        }
    });
    ready(bound);
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServeError::Bind { addr: bound, source })
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The workspace could not be opened.
    #[error(transparent)]
    Engine(#[from] rapport_engine::EngineError),
    /// The address could not be bound (or the listener failed).
    #[error("serving on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl ServeError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Engine(error) => error.code(),
            ServeError::Bind { .. } => "bind_failed",
        }
    }
}
