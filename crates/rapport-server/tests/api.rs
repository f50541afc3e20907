//! The server's routes, called in-process with `oneshot` on a synthetic brand's analysed
//! workspace: every endpoint, every error path (each a JSON `{code, message}`), roles and
//! personal data, ingest, forgetting, the dashboard's sessions and the kiosk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rapport_engine::workspace::{Role, create_token, revoke_token};
use rapport_server::{AppState, ServeOptions, router};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The analysed demo brand every test starts from, and its tokens.
struct Fixture {
    _directory: tempfile::TempDir,
    workspace: PathBuf,
    tokens: Tokens,
}

#[derive(Clone)]
struct Tokens {
    admin: String,
    analyst: String,
    viewer: String,
    kiosk: String,
    revoked: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let directory = tempfile::tempdir().expect("tempdir");
        let workspace = directory.path().join("ws");
        let request = rapport_engine::demo::BrandDemoRequest {
            directory: workspace.clone(),
            customers: 1_500,
            seed: 5,
            truth_customers: rapport_engine::demo::truth_customers_for(1_500),
        };
        rapport_engine::demo::run_brand_demo(&request, &|_| {}).expect("demo");
        let token = |role: Role, name: &str| create_token(&workspace, role, name).expect("token").1;
        let tokens = Tokens {
            admin: token(Role::Admin, "ops"),
            analyst: token(Role::Analyst, "cx team"),
            viewer: token(Role::Viewer, "board"),
            kiosk: token(Role::Kiosk, "store 12"),
            revoked: token(Role::Admin, "old"),
        };
        revoke_token(&workspace, "old").expect("revoke");
        Fixture { _directory: directory, workspace, tokens }
    })
}

/// A copy of the fixture's workspace, for tests that write to it.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let directory = tempfile::tempdir().expect("tempdir");
    let target = directory.path().join("ws");
    copy_dir(&fixture().workspace, &target);
    (directory, target)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn state(workspace: &Path) -> Arc<AppState> {
    AppState::new(ServeOptions::new(workspace.to_path_buf())).expect("state")
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }

    /// An error reply: the status, and a JSON body with a code and a message.
    fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(
            self.headers.get(header::CONTENT_TYPE).is_some_and(|value| value == "application/json"),
            "errors are JSON: {:?}",
            self.headers
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        let message = body["message"].as_str().expect("a message").to_string();
        assert!(!message.is_empty() && body.as_object().expect("object").len() == 2, "{body}");
        message
    }
}

async fn call(state: &Arc<AppState>, method: Method, uri: &str, token: Option<&str>, body: Option<&str>) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .expect("request");
    send(state, request).await
}

async fn send(state: &Arc<AppState>, request: Request<Body>) -> Reply {
    let response = router(state.clone()).oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    Reply { status, headers, text: String::from_utf8(bytes.to_vec()).expect("utf-8") }
}

async fn get(state: &Arc<AppState>, uri: &str, token: &str) -> Value {
    let reply = call(state, Method::GET, uri, Some(token), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
    reply.json()
}

/// Every read endpoint answers a viewer with the analysis' numbers; lists page and sort;
/// the drill-down endpoints agree with the matrix and segment tables.
#[tokio::test]
async fn every_read_endpoint_answers() {
    let fixture = fixture();
    let state = state(&fixture.workspace);
    let viewer = fixture.tokens.viewer.as_str();
    let health = call(&state, Method::GET, "/api/v1/health", None, None).await.json();
    assert_eq!(health["status"], "ok");
    let run = health["run"].as_str().expect("a run").to_string();
    let summary = get(&state, "/api/v1/summary", viewer).await;
    assert_eq!(summary["run"], run.as_str());
    assert!(summary["summary"]["headline"]["nps"]["n"].as_u64().is_some_and(|n| n > 0), "{summary}");
    let runs = get(&state, "/api/v1/runs", viewer).await;
    assert_eq!(runs["shown"], run.as_str());
    assert!(runs["runs"].as_array().expect("runs").iter().any(|item| item["command"] == "analyze"));

    let matrix = get(&state, "/api/v1/matrix", viewer).await;
    let cells = matrix["cells"].as_array().expect("cells");
    assert!(cells.len() >= 20, "a 5 × 5 grid: {}", cells.len());
    let total: u64 = cells.iter().map(|cell| cell["customers"].as_f64().expect("customers") as u64).sum();
    let all = get(&state, "/api/v1/customers?limit=3&sort=clv", viewer).await;
    assert_eq!(all["total"].as_u64(), Some(total), "every customer is in one cell");
    let clvs: Vec<f64> = all["customers"].as_array().expect("rows").iter().map(|row| row["clv"].as_f64().expect("clv")).collect();
    assert!(clvs.len() == 3 && clvs.windows(2).all(|pair| pair[0] >= pair[1]), "sorted by CLV, highest first: {clvs:?}");
    let cell = &cells[0];
    let (l, s) = (cell["longevity_band"].as_f64().expect("l"), cell["strength_band"].as_f64().expect("s"));
    let members = get(&state, &format!("/api/v1/matrix/{l}/{s}/customers?limit=10000"), viewer).await;
    assert_eq!(members["total"].as_f64(), cell["customers"].as_f64());
    for row in members["customers"].as_array().expect("rows") {
        assert_eq!((row["longevity_band"].as_f64(), row["strength_band"].as_f64()), (Some(l), Some(s)));
    }

    let id = all["customers"][0]["customer_id"].as_str().expect("id").to_string();
    let detail = get(&state, &format!("/api/v1/customers/{id}"), viewer).await;
    assert_eq!(detail["customer"]["customer_id"], id.as_str());
    for action in detail["actions"].as_array().expect("actions") {
        assert!(!action["reason"].as_str().expect("reason").is_empty(), "every action names its reason");
    }
    let events = get(&state, &format!("/api/v1/customers/{id}/events"), viewer).await;
    assert_eq!(events["personal_data"], false);
    let listed = events["events"].as_array().expect("events");
    assert!(listed.iter().any(|event| event["kind"] == "purchases"), "their purchases");
    for event in listed {
        for field in ["name", "email", "phone", "latitude", "longitude", "postal_code", "text", "comment"] {
            assert!(event.get(field).is_none(), "a viewer receives no {field}: {event}");
        }
    }
    let analyst = get(&state, &format!("/api/v1/customers/{id}/profile"), &fixture.tokens.analyst).await;
    assert_eq!(analyst["personal_data"], true);
    assert!(analyst["events"].as_array().expect("events").iter().all(|event| event["kind"] == "customers"));

    let segments = get(&state, "/api/v1/segments", viewer).await;
    let champions = segments["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["kind"] == "rfm" && row["segment"] == "Champions")
        .expect("Champions")
        .clone();
    let members = get(&state, "/api/v1/segments/rfm/Champions/customers?limit=1", viewer).await;
    assert_eq!(members["total"].as_f64(), champions["customers"].as_f64());
    let cluster = get(&state, "/api/v1/segments/cluster/cluster%201/customers?limit=1", viewer).await;
    assert!(cluster["total"].as_u64().expect("total") > 0);

    let topics = get(&state, "/api/v1/topics", viewer).await;
    let first = &topics["rows"][0];
    let messages = get(&state, "/api/v1/topics/0/messages?limit=10000", &fixture.tokens.analyst).await;
    assert_eq!(messages["table"], first["topic"]);
    assert_eq!(messages["rows"].as_array().expect("rows").len() as f64, first["messages"].as_f64().expect("messages"));
    // Agents' names are personal data: a viewer sees them numbered, an analyst by name.
    let agents = |table: &Value| -> Vec<String> {
        let rows = table["rows"].as_array().expect("rows");
        rows.iter().filter(|row| row["dimension"] == "agent").map(|row| row["value"].as_str().expect("value").to_string()).collect()
    };
    let public = agents(&get(&state, "/api/v1/tables/service", viewer).await);
    let named = agents(&get(&state, "/api/v1/tables/service", &fixture.tokens.analyst).await);
    assert!(!public.is_empty() && public.len() == named.len());
    let numbered: Vec<&String> = public.iter().filter(|name| *name != "(no reply)").collect();
    assert!(numbered.iter().enumerate().all(|(index, name)| **name == format!("agent {}", index + 1)), "{public:?}");
    assert!(named.iter().any(|name| !name.starts_with("agent ")), "{named:?}");
    // The scheme's name is case-insensitive.
    let reply = send(
        &state,
        Request::builder()
            .uri("/api/v1/health")
            .header(header::AUTHORIZATION, format!("bearer {viewer}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let lower = Request::builder()
        .uri("/api/v1/summary")
        .header(header::AUTHORIZATION, format!("bearer {viewer}"))
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&state, lower).await.status, StatusCode::OK);
}

/// Every error path answers JSON `{code, message}` with the right status.
#[tokio::test]
async fn every_error_is_json_with_a_code() {
    let fixture = fixture();
    let (_directory, workspace) = copy();
    let state = state(&workspace);
    let tokens = &fixture.tokens;
    let reply = call(&state, Method::GET, "/api/v1/summary", None, None).await;
    assert!(reply.error(StatusCode::UNAUTHORIZED, "unauthorized").contains("rapport token create"));
    let mut request =
        Request::builder().uri("/api/v1/summary").header(header::AUTHORIZATION, "Basic abc").body(Body::empty()).expect("request");
    send(&state, request).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    call(&state, Method::GET, "/api/v1/summary", Some("rpt_0000"), None).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    let message =
        call(&state, Method::GET, "/api/v1/summary", Some(&tokens.revoked), None).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("revoked"), "{message}");
    call(&state, Method::GET, "/api/v1/summary", Some(&tokens.kiosk), None).await.error(StatusCode::FORBIDDEN, "forbidden");
    let message = call(&state, Method::POST, "/api/v1/events/purchases", Some(&tokens.analyst), Some("{}"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("admin"), "{message}");
    call(&state, Method::DELETE, "/api/v1/customers/C00000001", Some(&tokens.viewer), None).await.error(StatusCode::FORBIDDEN, "forbidden");
    for uri in ["/api/v1/topics/0/messages", "/api/v1/customers/C00000001/profile", "/api/v1/tables/complaint_messages"] {
        call(&state, Method::GET, uri, Some(&tokens.viewer), None).await.error(StatusCode::FORBIDDEN, "personal_data");
    }
    let message =
        call(&state, Method::GET, "/api/v1/customers/nobody", Some(&tokens.viewer), None).await.error(StatusCode::NOT_FOUND, "not_found");
    assert!(message.contains("nobody"), "{message}");
    call(&state, Method::GET, "/api/v1/customers/nobody/events", Some(&tokens.viewer), None)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    call(&state, Method::GET, "/api/v1/segments/rfm/Nobody/customers", Some(&tokens.viewer), None)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    call(&state, Method::GET, "/api/v1/matrix/9/9/customers", Some(&tokens.viewer), None).await.error(StatusCode::NOT_FOUND, "not_found");
    call(&state, Method::GET, "/api/v1/matrix/x/1/customers", Some(&tokens.viewer), None)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    call(&state, Method::GET, "/api/v1/customers?limit=abc", Some(&tokens.viewer), None)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    call(&state, Method::GET, "/api/v1/customers?limit=0", Some(&tokens.viewer), None)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    let message = call(&state, Method::GET, "/api/v1/customers?sort=segment", Some(&tokens.viewer), None)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(message.contains("clv"), "names the columns it can sort by: {message}");
    call(&state, Method::GET, "/api/v1/topics/99/messages", Some(&tokens.analyst), None).await.error(StatusCode::NOT_FOUND, "not_found");
    call(&state, Method::GET, "/api/v1/tables/nothing", Some(&tokens.viewer), None).await.error(StatusCode::NOT_FOUND, "not_found");
    call(&state, Method::GET, "/api/v1/nothing", Some(&tokens.viewer), None).await.error(StatusCode::NOT_FOUND, "not_found");
    call(&state, Method::PUT, "/api/v1/summary", Some(&tokens.viewer), None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    let admin = Some(tokens.admin.as_str());
    call(&state, Method::POST, "/api/v1/events/purchases", admin, Some("{\"customer_id\": "))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_json");
    call(&state, Method::POST, "/api/v1/events/purchases", admin, Some("42")).await.error(StatusCode::BAD_REQUEST, "bad_json");
    call(&state, Method::POST, "/api/v1/events/purchases", admin, Some("[]"))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    call(&state, Method::POST, "/api/v1/events/widgets", admin, Some("{}")).await.error(StatusCode::NOT_FOUND, "not_found");
    let message =
        call(&state, Method::POST, "/api/v1/events/purchases", admin, Some(r#"{"customer_id":"a","time":"2025-01-01","ammount":3}"#))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(message.contains("did you mean \"amount\""), "{message}");
    let message =
        call(&state, Method::POST, "/api/v1/events/purchases", admin, Some(r#"[{"customer_id":"a","time":"2025-01-01","amount":[3]}]"#))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(message.contains("an array"), "{message}");
    let message =
        call(&state, Method::POST, "/api/v1/events/purchases", admin, Some(r#"{"customer_id":"a","time":"2025-01-01","amount":"lots"}"#))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_rejects");
    assert!(message.contains("amount") && message.contains("lots"), "names the field and value: {message}");

    // Oversized bodies and rate limits, on a server configured small.
    let mut options = ServeOptions::new(workspace.clone());
    options.max_body_bytes = 1024;
    options.rate_limit = 3;
    let small = AppState::new(options).expect("state");
    let big = format!("[{}]", vec![r#"{"customer_id":"a","time":"2025-01-01","amount":1}"#; 100].join(","));
    let message =
        call(&small, Method::POST, "/api/v1/events/purchases", admin, Some(&big)).await.error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert!(message.contains("smaller batches"), "{message}");
    let mut limited = None;
    for _ in 0..10 {
        let reply = call(&small, Method::GET, "/api/v1/summary", Some(&tokens.viewer), None).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("the fourth request in a burst is refused");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    limited.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another token has its own budget.
    assert_eq!(call(&small, Method::GET, "/api/v1/summary", Some(&tokens.analyst), None).await.status, StatusCode::OK);
    request = Request::builder().uri("/api/v1/summary").body(Body::empty()).expect("request");
    send(&state, request).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// Posted events are validated like a file, stored durably and idempotently (by event
/// id, else by content); invalid ones are quarantined when allowed.
#[tokio::test]
async fn posted_events_are_idempotent_and_quarantined_when_allowed() {
    let fixture = fixture();
    let (_directory, workspace) = copy();
    let state = state(&workspace);
    let admin = Some(fixture.tokens.admin.as_str());
    let batch = r#"[{"event_id":"web-1","customer_id":"C00000001","time":"2025-12-30T10:00:00Z","amount":12.5,"order_id":"W1"},
                    {"event_id":"web-2","customer_id":"NEW-1","time":"2025-12-30T11:00:00+01:00","amount":"3.20"},
                    {"customer_id":"NEW-2","time":"2025-12-30","amount":1}]"#;
    let first = call(&state, Method::POST, "/api/v1/events/purchases", admin, Some(batch)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let first = first.json();
    assert_eq!((first["accepted"].as_u64(), first["duplicates"].as_u64()), (Some(3), Some(0)), "{first}");
    assert!(first["batch"].is_u64());
    let again = call(&state, Method::POST, "/api/v1/events/purchases", admin, Some(batch)).await.json();
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(3)), "a retry stores nothing: {again}");
    let overlap = r#"[{"event_id":"web-2","customer_id":"NEW-1","time":"2025-12-30T10:00:00Z","amount":3.2},
                      {"event_id":"web-3","customer_id":"NEW-1","time":"2025-12-31T10:00:00Z","amount":4}]"#;
    let overlap = call(&state, Method::POST, "/api/v1/events/purchases", admin, Some(overlap)).await.json();
    assert_eq!((overlap["accepted"].as_u64(), overlap["duplicates"].as_u64()), (Some(1), Some(1)), "idempotent by event id: {overlap}");
    let mixed = r#"[{"event_id":"web-4","customer_id":"NEW-3","time":"2025-12-31","amount":4},
                    {"event_id":"web-5","customer_id":"NEW-3","time":"31/12/2025","amount":4}]"#;
    call(&state, Method::POST, "/api/v1/events/purchases", admin, Some(mixed))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_rejects");
    let quarantined = call(&state, Method::POST, "/api/v1/events/purchases?max_rejects=1", admin, Some(mixed)).await.json();
    assert_eq!((quarantined["accepted"].as_u64(), quarantined["rejected"].as_u64()), (Some(1), Some(1)), "{quarantined}");
    assert_eq!(quarantined["rejects"][0]["event"], 2);
    assert_eq!(quarantined["rejects"][0]["field"], "time");
    let retried = call(&state, Method::POST, "/api/v1/events/purchases?max_rejects=1", admin, Some(mixed)).await.json();
    assert_eq!((retried["accepted"].as_u64(), retried["rejected"].as_u64()), (Some(0), Some(1)), "{retried}");
    assert_eq!(retried["rejects"][0]["value"], "31/12/2025", "a retry lists the rejects it had: {retried}");
    // An id sent as a JSON number is the same customer whether written 12347 or 12347.0.
    let numbers = r#"[{"event_id":"n-1","customer_id":12347,"time":"2025-12-01","amount":2},
                      {"event_id":"n-2","customer_id":12347.0,"time":"2025-12-02","amount":3}]"#;
    assert_eq!(call(&state, Method::POST, "/api/v1/events/purchases", admin, Some(numbers)).await.json()["accepted"], 2);
    let events = get(&state, "/api/v1/customers/12347/events", &fixture.tokens.viewer).await;
    assert_eq!(events["events"].as_array().expect("events").len(), 2, "{events}");
    let quarantine = rapport_engine::workspace::quarantine_list(&rapport_engine::workspace::QuarantineRequest {
        workspace: workspace.clone(),
        batch: None,
        kind: None,
    })
    .expect("quarantine");
    assert!(quarantine.iter().any(|row| row.rejected.value == "31/12/2025" && row.rejected.file.contains("/api/v1/events/purchases")));
    let events = get(&state, "/api/v1/customers/NEW-1/events", &fixture.tokens.viewer).await;
    assert_eq!(events["events"].as_array().expect("events").len(), 2, "{events}");
    // A survey answer, as the kiosk and a support tool's webhook send them.
    let survey = r#"{"customer_id":"C00000001","time":"2025-12-31T09:00:00Z","survey_type":"nps","score":9,"touchpoint":"store 12"}"#;
    assert_eq!(call(&state, Method::POST, "/api/v1/events/surveys", admin, Some(survey)).await.json()["accepted"], 1);
    let bad = r#"{"customer_id":"C00000001","time":"2025-12-31T09:00:00Z","survey_type":"nps","score":11}"#;
    let message = call(&state, Method::POST, "/api/v1/events/surveys", admin, Some(bad))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_rejects");
    assert!(message.contains("from 0 to 10"), "{message}");
}

/// An admin forgets a customer over the API: gone from the results the server shows and
/// from the workspace; their events posted later are skipped.
#[tokio::test]
async fn an_admin_forgets_a_customer() {
    let fixture = fixture();
    let (_directory, workspace) = copy();
    let state = state(&workspace);
    let tokens = &fixture.tokens;
    assert_eq!(call(&state, Method::GET, "/api/v1/customers/C00000002", Some(&tokens.viewer), None).await.status, StatusCode::OK);
    let reply = call(&state, Method::DELETE, "/api/v1/customers/C00000002", Some(&tokens.admin), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let report = reply.json();
    assert!(
        report["events_removed"].as_u64().expect("count") > 0 && report["result_rows_removed"].as_u64().expect("count") > 0,
        "{report}"
    );
    call(&state, Method::GET, "/api/v1/customers/C00000002", Some(&tokens.viewer), None).await.error(StatusCode::NOT_FOUND, "not_found");
    call(&state, Method::GET, "/api/v1/customers/C00000002/events", Some(&tokens.viewer), None)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    call(&state, Method::DELETE, "/api/v1/customers/C00000002", Some(&tokens.admin), None).await.error(StatusCode::NOT_FOUND, "not_found");
    let late = r#"{"customer_id":"C00000002","time":"2025-12-31","amount":5}"#;
    let late = call(&state, Method::POST, "/api/v1/events/purchases", Some(&tokens.admin), Some(late)).await.json();
    assert_eq!((late["accepted"].as_u64(), late["forgotten"].as_u64()), (Some(0), Some(1)), "{late}");
    let audit = std::fs::read_to_string(workspace.join("audit.jsonl")).expect("audit");
    assert!(!audit.contains("C00000002"), "the audit log records the request without the id");
    let ops =
        rapport_engine::workspace::list_tokens(&workspace).expect("tokens").into_iter().find(|token| token.name == "ops").expect("ops");
    assert!(audit.contains(&format!("with token {} (ops)", ops.id)), "and who asked: {audit}");
}

/// A new analysis is shown without a restart.
#[tokio::test]
async fn a_new_analysis_is_picked_up() {
    let fixture = fixture();
    let (_directory, workspace) = copy();
    let state = state(&workspace);
    let before = call(&state, Method::GET, "/api/v1/health", None, None).await.json()["run"].clone();
    assert!(!state.refresh(), "nothing new");
    let outcome =
        rapport_engine::analyze::analyze(&rapport_engine::analyze::AnalyzeRequest { workspace: workspace.clone(), as_of: None }, &|_| {})
            .expect("analyze");
    assert!(state.refresh());
    let after = call(&state, Method::GET, "/api/v1/health", None, None).await.json()["run"].clone();
    assert_ne!(before, after);
    assert_eq!(after, outcome.run.id.as_str());
    let _ = fixture;
}

/// The OpenAPI document describes every endpoint, its errors and the bearer scheme.
#[tokio::test]
async fn the_openapi_document_lists_every_endpoint() {
    let state = state(&fixture().workspace);
    let reply = call(&state, Method::GET, "/openapi.json", None, None).await;
    let document = reply.json();
    assert!(document["openapi"].as_str().expect("version").starts_with("3."));
    let paths: Vec<&str> = document["paths"].as_object().expect("paths").keys().map(String::as_str).collect();
    insta::assert_json_snapshot!("openapi_paths", paths);
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    let parameters = document["paths"]["/api/v1/events/{kind}"]["post"]["parameters"].as_array().expect("parameters");
    let max_rejects = parameters.iter().find(|parameter| parameter["name"] == "max_rejects").expect("max_rejects");
    assert_eq!((max_rejects["in"].as_str(), max_rejects["required"].as_bool()), (Some("query"), Some(false)), "{max_rejects}");
    assert!(document["components"]["schemas"]["ErrorBody"].is_object());
}

/// Representative responses, snapshotted (run ids redacted).
#[tokio::test]
async fn representative_responses() {
    let fixture = fixture();
    let state = state(&fixture.workspace);
    let viewer = fixture.tokens.viewer.as_str();
    // A customer with an action, its numbers to 6 significant digits (parallel sums may
    // differ in the last bits between machines).
    let actions = get(&state, "/api/v1/tables/actions", viewer).await;
    let id = actions["rows"][0]["customer_id"].as_str().expect("an action").to_string();
    let detail = rounded(get(&state, &format!("/api/v1/customers/{id}"), viewer).await);
    insta::assert_json_snapshot!("customer_detail", detail, { ".run" => "[run]", ".actions[].idempotency_key" => "[key]" });
    let page = get(&state, "/api/v1/segments/rfm/Champions/customers?limit=2&sort=value", viewer).await;
    let ids: Vec<&Value> = page["customers"].as_array().expect("rows").iter().map(|row| &row["customer_id"]).collect();
    insta::assert_json_snapshot!("champions_by_value", json!({"total": page["total"], "ids": ids}));
    let error = call(&state, Method::GET, "/api/v1/customers/nobody", Some(viewer), None).await.json();
    let message = error["message"].as_str().expect("message");
    let error = json!({"code": error["code"], "message": message.split(" in analysis ").next().unwrap_or(message)});
    insta::assert_json_snapshot!("unknown_customer", error);
}

fn rounded(value: Value) -> Value {
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or_default();
            json!(format!("{float:.6e}").parse::<f64>().unwrap_or(float))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rounded).collect()),
        Value::Object(fields) => Value::Object(fields.into_iter().map(|(name, value)| (name, rounded(value))).collect()),
        other => other,
    }
}

/// The dashboard: pages need a session (sign-in with a token sets an HttpOnly,
/// SameSite=Strict cookie); viewers see no texts; every page carries the security
/// headers; sign-out ends the session; a kiosk token reaches only the kiosk, whose answer
/// is stored as an NPS survey; cross-site form posts are refused.
#[tokio::test]
async fn the_dashboard_signs_in_and_out_and_drills_down() {
    let fixture = fixture();
    let (_directory, workspace) = copy();
    let state = state(&workspace);
    let page = |uri: &str, cookie: Option<&str>| {
        let mut request = Request::builder().uri(uri);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.body(Body::empty()).expect("request")
    };
    let reply = send(&state, page("/", None)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "/login?next=%2F");
    let form = |token: &str, next: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}&next={next}")))
            .expect("request")
    };
    assert_eq!(send(&state, form("rpt_wrong", "%2F")).await.status, StatusCode::UNAUTHORIZED);
    let sign_in = |token: String| {
        let state = state.clone();
        async move {
            let reply = send(&state, form(&token, "%2F")).await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
            let cookie = reply.headers[header::SET_COOKIE].to_str().expect("cookie").to_string();
            assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
            (cookie.split(';').next().expect("pair").to_string(), reply.headers[header::LOCATION].to_str().expect("location").to_string())
        }
    };
    let (viewer, _) = sign_in(fixture.tokens.viewer.clone()).await;
    let home = send(&state, page("/", Some(&viewer))).await;
    assert_eq!(home.status, StatusCode::OK);
    let csp = home.headers[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "no script may run: {csp}");
    assert_eq!(home.headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(!home.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "CORS is off");
    assert!(!home.text.contains("<script"), "no script");
    let cell = home.text.split("href=\"/matrix/").nth(1).expect("a linked cell").split('"').next().expect("cell").to_string();
    let cell_page = send(&state, page(&format!("/matrix/{cell}"), Some(&viewer))).await;
    assert_eq!(cell_page.status, StatusCode::OK);
    let customer = cell_page.text.split("href=\"/customers/").nth(1).expect("a linked customer").split('"').next().expect("id").to_string();
    let customer_page = send(&state, page(&format!("/customers/{customer}"), Some(&viewer))).await;
    assert_eq!(customer_page.status, StatusCode::OK);
    assert!(customer_page.text.contains("Timeline") && customer_page.text.contains("Next-best actions"));
    assert!(customer_page.text.contains("left out for viewer tokens"));
    assert_eq!(send(&state, page("/segments/rfm/Champions", Some(&viewer))).await.status, StatusCode::OK);
    let topic = send(&state, page("/topics/0", Some(&viewer))).await;
    assert!(topic.text.contains("viewer tokens never receive them"), "a viewer sees no texts");
    let (analyst, _) = sign_in(fixture.tokens.analyst.clone()).await;
    let topic = send(&state, page("/topics/0", Some(&analyst))).await;
    assert!(topic.text.contains("<td>") && !topic.text.contains("viewer tokens never receive them"), "an analyst reads the texts");
    assert_eq!(send(&state, page("/customers/nobody", Some(&viewer))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&state, page("/nowhere", Some(&viewer))).await.status, StatusCode::NOT_FOUND);

    // Sign out: the session is gone.
    let logout =
        Request::builder().method(Method::POST).uri("/logout").header(header::COOKIE, &viewer).body(Body::empty()).expect("request");
    let reply = send(&state, logout).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.headers[header::SET_COOKIE].to_str().expect("cookie").contains("Max-Age=0"));
    assert_eq!(send(&state, page("/", Some(&viewer))).await.status, StatusCode::SEE_OTHER);
    // A revoked token's session ends too.
    let (admin, _) = sign_in(fixture.tokens.admin.clone()).await;
    assert_eq!(send(&state, page("/", Some(&admin))).await.status, StatusCode::OK);
    let listed = rapport_engine::workspace::list_tokens(&workspace).expect("tokens");
    let ops = listed.iter().find(|token| token.name == "ops").expect("ops");
    revoke_token(&workspace, &ops.id).expect("revoke");
    // The token list is reloaded when the file changes (or within 5 s on coarse clocks).
    let mut refused = false;
    for _ in 0..60 {
        if send(&state, page("/", Some(&admin))).await.status == StatusCode::SEE_OTHER {
            refused = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(refused, "a revoked token's session no longer opens pages");

    // The kiosk.
    let (kiosk, location) = sign_in(fixture.tokens.kiosk.clone()).await;
    assert_eq!(location, "/kiosk/nps", "a kiosk token goes to the kiosk");
    assert_eq!(send(&state, page("/", Some(&kiosk))).await.status, StatusCode::SEE_OTHER, "and nowhere else");
    call(&state, Method::GET, "/api/v1/summary", Some(&fixture.tokens.kiosk), None).await.error(StatusCode::FORBIDDEN, "forbidden");
    let form_page = send(&state, page("/kiosk/nps?touchpoint=Store%2012", Some(&kiosk))).await;
    assert_eq!(form_page.status, StatusCode::OK);
    assert!(form_page.text.contains("Store 12") && form_page.text.contains("name=\"score\""));
    let answer = |body: &str, origin: Option<&str>| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/kiosk/nps")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::COOKIE, &kiosk)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        request.body(Body::from(body.to_string())).expect("request")
    };
    let form = form_page.text.split("name=\"form\" value=\"").nth(1).expect("a form id").split('"').next().expect("id").to_string();
    let filled = format!("touchpoint=Store+12&form={form}&score=9&customer_id=C00000003&comment=Lovely+staff");
    let thanks = send(&state, answer(&filled, Some("http://127.0.0.1:8080"))).await;
    assert_eq!(thanks.status, StatusCode::OK, "{}", thanks.text);
    assert!(thanks.text.contains("Thank you"));
    // A double tap sends the same form again: one answer is stored.
    assert_eq!(send(&state, answer(&filled, None)).await.status, StatusCode::OK);
    let missing = send(&state, answer(&format!("touchpoint=Store+12&form={form}&score=7&comment=Slow+queue"), None)).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.text.contains("receipt number"));
    assert!(missing.text.contains("Slow queue") && missing.text.contains("value=\"7\" required checked"), "what was entered stays");
    let nowhere = send(&state, page("/kiosk/nps", Some(&kiosk))).await;
    assert_eq!(nowhere.status, StatusCode::BAD_REQUEST, "a kiosk needs its touchpoint");
    let cross =
        send(&state, answer(&format!("touchpoint=Store+12&form={form}&score=1&customer_id=C00000003"), Some("https://evil.example"))).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let events = get(&state, "/api/v1/customers/C00000003/events", &fixture.tokens.analyst).await;
    let answers: Vec<&Value> =
        events["events"].as_array().expect("events").iter().filter(|event| event["touchpoint"] == "Store 12").collect();
    assert_eq!(answers.len(), 1, "one answer stored (a double tap is one), the cross-site one refused: {answers:?}");
    assert_eq!((answers[0]["score"].as_f64(), answers[0]["comment"].as_str()), (Some(9.0), Some("Lovely staff")));
}
