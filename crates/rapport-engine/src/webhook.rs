//! Posting actions to a webhook: one JSON POST per action, with its idempotency key, retried
//! with exponential backoff on network errors, timeouts, 408, 429 and 5xx (honouring
//! `Retry-After`), never retried on other 4xx (the request itself is wrong), and every
//! failure reported.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::EngineError;
use crate::output::RecordBatch;

/// Where and how to post.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRequest {
    /// The URL (http or https).
    pub url: String,
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff; doubled after each attempt, at most 30 s.
    pub backoff: Duration,
    /// Time allowed for one request.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl WebhookRequest {
    /// Defaults: 4 retries, 500 ms first backoff, 30 s per request, 8 at once.
    pub fn new(url: &str) -> WebhookRequest {
        WebhookRequest {
            url: url.to_string(),
            retries: 4,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(30),
            concurrency: 8,
        }
    }
}

/// An action that could not be posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFailure {
    /// The customer.
    pub customer_id: String,
    /// The action.
    pub action: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error: the HTTP status and the start of the body, or the network error.
    pub error: String,
}

/// What posting did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookReport {
    /// Actions accepted (a 2xx answer).
    pub posted: u64,
    /// Of those, accepted only after a retry.
    pub after_retry: u64,
    /// Control-group actions, not posted.
    pub held_out: u64,
    /// Actions that failed, with why.
    pub failed: Vec<WebhookFailure>,
}

enum Outcome {
    Done,
    Retry(String, Option<Duration>),
    Fail(String),
}

fn attempt(agent: &ureq::Agent, url: &str, key: &str, body: &str) -> Outcome {
    match agent.post(url).header("Idempotency-Key", key).content_type("application/json").send(body) {
        Ok(mut response) => {
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Outcome::Done;
            }
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = response.body_mut().read_to_string().unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            let error = format!("HTTP {status}{}{}", if text.is_empty() { "" } else { ": " }, text.trim());
            if status == 408 || status == 429 || status >= 500 { Outcome::Retry(error, wait) } else { Outcome::Fail(error) }
        }
        Err(error) => Outcome::Retry(error.to_string(), None),
    }
}

/// Post every action of `actions` (the table `rapport actions` prints) that is not held
/// out as control.
pub fn post_actions(actions: &RecordBatch, request: &WebhookRequest) -> Result<WebhookReport, EngineError> {
    if !(request.url.starts_with("http://") || request.url.starts_with("https://")) {
        return Err(EngineError::Request(format!("--webhook {:?}: expected an http:// or https:// URL", request.url)));
    }
    let rows = crate::output::json_rows(actions);
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(request.timeout)).http_status_as_error(false).build().into();
    let next = AtomicUsize::new(0);
    // A hook that refuses every connection is down: after this many network failures in a
    // row with no success, the rest are reported as not attempted instead of each waiting
    // out its retries.
    const DOWN_AFTER: usize = 10;
    let (succeeded, unreachable) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let report = Mutex::new(WebhookReport::default());
    let field = |row: &Json, name: &str| row[name].as_str().map(str::to_string).unwrap_or_else(|| row[name].to_string());
    std::thread::scope(|scope| {
        for _ in 0..request.concurrency.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(row) = rows.get(index) else { break };
                    if row["control"] == json!("true") || row["control"] == json!(true) {
                        report.lock().map(|mut report| report.held_out += 1).ok();
                        continue;
                    }
                    let key = field(row, "idempotency_key");
                    if succeeded.load(Ordering::Relaxed) == 0 && unreachable.load(Ordering::Relaxed) >= DOWN_AFTER {
                        if let Ok(mut report) = report.lock() {
                            report.failed.push(WebhookFailure {
                                customer_id: field(row, "customer_id"),
                                action: field(row, "action"),
                                idempotency_key: key,
                                attempts: 0,
                                error: format!("not attempted: the first {DOWN_AFTER} actions could not reach the hook"),
                            });
                        }
                        continue;
                    }
                    let mut body = row.clone();
                    if let Some(object) = body.as_object_mut() {
                        object.remove("control");
                    }
                    let body = body.to_string();
                    let mut attempts = 0;
                    let mut backoff = request.backoff;
                    let mut network = false;
                    let result = loop {
                        attempts += 1;
                        match attempt(&agent, &request.url, &key, &body) {
                            Outcome::Done => break Ok(()),
                            Outcome::Fail(error) => break Err(error),
                            Outcome::Retry(error, wait) => {
                                network = !error.starts_with("HTTP ");
                                if attempts > request.retries {
                                    break Err(error);
                                }
                                std::thread::sleep(wait.unwrap_or(backoff).min(Duration::from_secs(30)));
                                backoff = (backoff * 2).min(Duration::from_secs(30));
                            }
                        }
                    };
                    match (&result, network) {
                        (Ok(()), _) => {
                            succeeded.fetch_add(1, Ordering::Relaxed);
                        }
                        (Err(_), true) => {
                            unreachable.fetch_add(1, Ordering::Relaxed);
                        }
                        (Err(_), false) => {}
                    }
                    if let Ok(mut report) = report.lock() {
                        match result {
                            Ok(()) => {
                                report.posted += 1;
                                report.after_retry += u64::from(attempts > 1);
                            }
                            Err(error) => report.failed.push(WebhookFailure {
                                customer_id: field(row, "customer_id"),
                                action: field(row, "action"),
                                idempotency_key: key,
                                attempts,
                                error,
                            }),
                        }
                    }
                }
            });
        }
    });
    let mut report = report.into_inner().map_err(|_| EngineError::Internal("a webhook worker panicked".into()))?;
    report.failed.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    Ok(report)
}
