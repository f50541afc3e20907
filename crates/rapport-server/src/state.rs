//! What the server keeps between requests: the latest analysis (read whole once, swapped
//! when a new run appears), the token list (reloaded when the file changes), dashboard
//! sessions, rate limits and the ingest id caches.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use arrow::array::Array;
use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rapport_engine::EventKind;
use rapport_engine::results::{RunRequest, RunView, run_view, text_column, without_personal_data};
use rapport_engine::workspace::{IdCache, Role, TokenRecord};

use crate::error::ApiError;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The workspace.
    pub workspace: PathBuf,
    /// Requests per second allowed to one token (a burst of the same size is allowed).
    pub rate_limit: u32,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// How often to look for a new analysis run.
    pub refresh: Duration,
    /// How long a dashboard session lasts.
    pub session: Duration,
}

impl ServeOptions {
    /// The defaults for `workspace`: 600 requests/s per token, 16 MiB bodies, a new run
    /// looked for every second, sessions of 8 hours.
    pub fn new(workspace: PathBuf) -> ServeOptions {
        ServeOptions {
            workspace,
            rate_limit: 600,
            max_body_bytes: 16 << 20,
            refresh: Duration::from_secs(1),
            session: Duration::from_secs(8 * 3600),
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id.
    pub token_id: String,
    /// The token's name.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// Whether the principal may see personal data (names, contacts, exact locations,
    /// texts).
    pub fn sees_personal_data(&self) -> bool {
        self.role >= Role::Analyst
    }

    /// Refuse unless the role is at least `role`.
    pub fn require(&self, role: Role, what: &str) -> Result<(), ApiError> {
        if self.role >= role {
            return Ok(());
        }
        let article = |role: Role| if matches!(role, Role::Admin | Role::Analyst) { "an" } else { "a" };
        Err(ApiError::forbidden(format!(
            "{what} needs {} {} token; the token {:?} is {} {} token",
            article(role),
            role.name(),
            self.name,
            article(self.role),
            self.role.name()
        )))
    }
}

/// The analysis the server shows, with look-up indexes.
#[derive(Debug)]
pub struct Results {
    /// The run, read whole.
    pub view: RunView,
    /// The run without personal data (agents' names, customers' texts), for viewers.
    pub public: RunView,
    /// Customer id → row of the customer table.
    pub by_id: HashMap<String, usize>,
    /// Customer id → rows of the actions table.
    pub actions: HashMap<String, Vec<usize>>,
}

impl Results {
    fn new(view: RunView) -> Results {
        let ids = text_column(&view.customers, "customer_id");
        let by_id = ids
            .map(|ids| (0..ids.len()).filter(|&row| ids.is_valid(row)).map(|row| (ids.value(row).to_string(), row)).collect())
            .unwrap_or_default();
        let mut actions: HashMap<String, Vec<usize>> = HashMap::new();
        if let Some(ids) = view.tables.get("actions").and_then(|table| text_column(table, "customer_id")) {
            for row in (0..ids.len()).filter(|&row| ids.is_valid(row)) {
                actions.entry(ids.value(row).to_string()).or_default().push(row);
            }
        }
        let public = without_personal_data(&view);
        Results { view, public, by_id, actions }
    }

    /// The run as `principal` may see it.
    pub fn view_for(&self, principal: &Principal) -> &RunView {
        if principal.sees_personal_data() { &self.view } else { &self.public }
    }
}

#[derive(Debug, Default)]
struct TokenTable {
    modified: Option<SystemTime>,
    loaded: Option<Instant>,
    /// Live (not revoked) tokens by hash.
    by_hash: HashMap<String, TokenRecord>,
}

#[derive(Debug, Clone)]
struct Session {
    token_id: String,
    expires: Instant,
}

/// The server's state.
#[derive(Debug)]
pub struct AppState {
    pub(crate) options: ServeOptions,
    results: RwLock<Option<Arc<Results>>>,
    /// Why the latest analysis could not be read, when it could not.
    results_error: RwLock<Option<String>>,
    tokens: RwLock<TokenTable>,
    sessions: Mutex<HashMap<String, Session>>,
    limiter: DefaultKeyedRateLimiter<String>,
    /// Per event kind: the ids stored, between ingests. One ingest at a time.
    pub(crate) ingest: Mutex<HashMap<EventKind, IdCache>>,
}

/// The cookie of a dashboard session.
pub const SESSION_COOKIE: &str = "rapport_session";

impl AppState {
    /// The state for `options`: the latest analysis read, leftovers of a crashed
    /// server's ingests removed.
    pub fn new(options: ServeOptions) -> Result<Arc<AppState>, rapport_engine::EngineError> {
        rapport_engine::workspace::runs(&options.workspace)?;
        rapport_engine::workspace::clear_inbox(&options.workspace);
        let rate = NonZeroU32::new(options.rate_limit.max(1)).unwrap_or(NonZeroU32::MIN);
        let state = Arc::new(AppState {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(rate)),
            options,
            results: RwLock::new(None),
            results_error: RwLock::new(None),
            tokens: RwLock::new(TokenTable::default()),
            sessions: Mutex::new(HashMap::new()),
            ingest: Mutex::new(HashMap::new()),
        });
        state.refresh();
        Ok(state)
    }

    /// Read the latest analysis if it is not the one held; true if it changed.
    pub fn refresh(&self) -> bool {
        self.update(false)
    }

    fn update(&self, force: bool) -> bool {
        let runs = match rapport_engine::workspace::runs(&self.options.workspace) {
            Ok(runs) => runs,
            Err(error) => {
                tracing::warn!("listing runs: {error}");
                return false;
            }
        };
        let latest = runs.iter().rev().find(|run| run.command == "analyze").map(|run| run.id.clone());
        let held = self.results().map(|results| results.view.run.id.clone());
        if (latest == held && !force) || latest.is_none() {
            return false;
        }
        let request = RunRequest { workspace: self.options.workspace.clone(), run: latest.clone() };
        match run_view(&request) {
            Ok(view) => {
                let results = Arc::new(Results::new(view));
                tracing::info!("showing analysis {}", results.view.run.id);
                *self.results.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(results);
                *self.results_error.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                true
            }
            Err(error) => {
                tracing::error!("reading analysis {latest:?}: {error}");
                *self.results_error.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error.to_string());
                false
            }
        }
    }

    /// Read the latest analysis again, even if it is the one held (its files were
    /// rewritten: a customer was forgotten).
    pub fn reload(&self) {
        self.update(true);
    }

    /// The analysis held, if any.
    pub fn results(&self) -> Option<Arc<Results>> {
        self.results.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The analysis held, or the error that says there is none yet.
    pub fn require_results(&self) -> Result<Arc<Results>, ApiError> {
        self.results().ok_or_else(|| {
            let why = self.results_error.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "no_results",
                match why {
                    Some(why) => format!("the latest analysis could not be read: {why}"),
                    None => {
                        "the workspace has no analysis yet: run `rapport analyze --workspace DIR`; the server picks it up without a restart"
                            .to_string()
                    }
                },
            )
        })
    }

    /// The principal of a token's text.
    pub fn principal(&self, token: &str) -> Option<Principal> {
        self.reload_tokens();
        let hash = rapport_engine::workspace::token_hash(token);
        let table = self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        table.by_hash.get(&hash).map(|record| Principal { token_id: record.id.clone(), name: record.name.clone(), role: record.role })
    }

    fn principal_by_id(&self, token_id: &str) -> Option<Principal> {
        self.reload_tokens();
        let table = self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        table.by_hash.values().find(|record| record.id == token_id).map(|record| Principal {
            token_id: record.id.clone(),
            name: record.name.clone(),
            role: record.role,
        })
    }

    /// Reload `tokens.json` when it changed (or every few seconds, whatever the file
    /// system's clock says): a revoked token stops working without a restart.
    fn reload_tokens(&self) {
        let modified = rapport_engine::workspace::tokens_modified(&self.options.workspace);
        {
            let table = self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if table.loaded.is_some_and(|loaded| loaded.elapsed() < Duration::from_secs(5)) && table.modified == modified {
                return;
            }
        }
        match rapport_engine::workspace::list_tokens(&self.options.workspace) {
            Ok(records) => {
                let by_hash =
                    records.into_iter().filter(|record| record.revoked_at.is_none()).map(|record| (record.hash.clone(), record)).collect();
                *self.tokens.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    TokenTable { modified, loaded: Some(Instant::now()), by_hash };
            }
            Err(error) => tracing::error!("reading the token list: {error}"),
        }
    }

    /// The principal of an API request: `Authorization: Bearer TOKEN`, rate limited.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "no token: send Authorization: Bearer TOKEN (rapport token create --workspace DIR --role viewer prints one)",
            ));
        };
        // The scheme's name is case-insensitive (RFC 9110).
        let token = value
            .to_str()
            .ok()
            .and_then(|text| text.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or_default();
        if token.is_empty() {
            return Err(ApiError::unauthorized("the Authorization header must be Bearer TOKEN"));
        }
        let principal = self.principal(token).ok_or_else(|| ApiError::unauthorized("the token is unknown or revoked"))?;
        self.check_rate(&principal)?;
        Ok(principal)
    }

    /// Refuse a request beyond the token's rate.
    pub fn check_rate(&self, principal: &Principal) -> Result<(), ApiError> {
        match self.limiter.check_key(&principal.token_id) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                use governor::clock::Clock;
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                Err(ApiError::rate_limited(wait.as_secs().max(1)))
            }
        }
    }

    /// Start a dashboard session for a token; returns the session's cookie value.
    pub fn start_session(&self, principal: &Principal) -> String {
        let secret: [u8; 32] = rand::random();
        let id: String = secret.iter().map(|byte| format!("{byte:02x}")).collect();
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|_, session| session.expires > Instant::now());
        sessions.insert(id.clone(), Session { token_id: principal.token_id.clone(), expires: Instant::now() + self.options.session });
        id
    }

    /// End the session named by the request's cookie.
    pub fn end_session(&self, headers: &HeaderMap) {
        if let Some(id) = session_cookie(headers) {
            self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
        }
    }

    /// The principal of a dashboard request (its session cookie), while the session
    /// lasts and its token is not revoked.
    pub fn session(&self, headers: &HeaderMap) -> Option<Principal> {
        let id = session_cookie(headers)?;
        let token_id = {
            let sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let session = sessions.get(&id)?;
            if session.expires <= Instant::now() {
                return None;
            }
            session.token_id.clone()
        };
        self.principal_by_id(&token_id)
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}
