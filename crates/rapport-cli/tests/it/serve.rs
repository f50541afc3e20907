//! `rapport serve` and `rapport token`, as separate processes on loopback: tokens made and
//! revoked from the command line, a new analysis picked up without a restart, no
//! acknowledged event lost or duplicated when the server is killed mid-ingest, forgetting
//! a customer over HTTP, and the dashboard in a real browser.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::{Browser, chromium};
use crate::ok;

/// A running `rapport serve`.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(workspace: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["-q", "serve", "-w", workspace, "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rapport serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the address");
        let url = line.trim().trim_end_matches('/').to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
        Server { child, url }
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().new_agent()
}

/// `(status, JSON body)` of a request.
fn request(method: &str, url: &str, token: &str, body: Option<&str>) -> (u16, Value) {
    let agent = agent();
    let bearer = format!("Bearer {token}");
    let response = match (method, body) {
        ("GET", _) => agent.get(url).header("Authorization", &bearer).call(),
        ("DELETE", _) => agent.delete(url).header("Authorization", &bearer).call(),
        (_, Some(body)) => agent.post(url).header("Authorization", &bearer).header("Content-Type", "application/json").send(body),
        _ => panic!("{method}"),
    };
    let mut response = response.unwrap_or_else(|error| panic!("{method} {url}: {error}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

fn demo(directory: &Path, customers: &str) -> String {
    let workspace = directory.join("ws").to_str().expect("path").to_string();
    ok(&["-q", "demo", "--customers", customers, "--seed", "5", "--workspace", &workspace]);
    workspace
}

fn token(workspace: &str, role: &str, name: &str) -> String {
    ok(&["token", "create", "-w", workspace, "--role", role, "--name", name]).trim().to_string()
}

/// Tokens from the command line; a new analysis shown without a restart; a revoked
/// token refused from then on.
#[test]
fn the_server_follows_new_analyses_and_revoked_tokens() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = demo(directory.path(), "800");
    let viewer = token(&workspace, "viewer", "board");
    assert!(viewer.starts_with("rpt_") && viewer.len() == 68, "{viewer}");
    let listed = crate::csv_rows(&ok(&["token", "list", "-w", &workspace, "--format", "csv"]));
    assert_eq!(listed.0, ["id", "name", "role", "created_at", "revoked_at"]);
    assert_eq!((listed.1[0][1].as_str(), listed.1[0][2].as_str(), listed.1[0][4].as_str()), ("board", "viewer", ""));
    let stored = std::fs::read_to_string(Path::new(&workspace).join("tokens.json")).expect("tokens");
    assert!(!stored.contains(&viewer[4..]), "only the hash is stored");
    let error = crate::user_error(&["token", "create", "-w", &workspace, "--role", "owner"]);
    assert!(error.contains("viewer"), "{error}");

    let server = Server::start(&workspace, &[]);
    let health = |url: &str| request("GET", &format!("{url}/api/v1/health"), "", None).1["run"].clone();
    let first = health(&server.url);
    assert_eq!(request("GET", &format!("{}/api/v1/summary", server.url), &viewer, None).0, 200);
    ok(&["-q", "analyze", "-w", &workspace]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while health(&server.url) == first {
        assert!(Instant::now() < deadline, "the new analysis was not picked up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let id = &listed.1[0][0];
    ok(&["-q", "token", "revoke", "-w", &workspace, id]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = request("GET", &format!("{}/api/v1/summary", server.url), &viewer, None);
        if status == 401 {
            assert_eq!(body["code"], "unauthorized");
            break;
        }
        assert!(Instant::now() < deadline, "a revoked token still works");
        std::thread::sleep(Duration::from_millis(200));
    }
    let error = crate::user_error(&["token", "revoke", "-w", &workspace, "nobody"]);
    assert!(error.contains("token list"), "{error}");
}

/// The server killed with SIGKILL while clients post events: after a restart every
/// acknowledged event is stored, and sending everything again (acknowledged or not)
/// stores each event exactly once.
#[test]
fn a_killed_server_loses_no_acknowledged_event_and_duplicates_none() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let admin = token(&workspace, "admin", "loader");
    let batch = |number: usize| {
        let events: Vec<String> = (0..50)
            .map(|event| {
                format!(
                    r#"{{"event_id":"k{number}-{event}","customer_id":"K{number}","time":"2025-06-01T10:{:02}:00Z","amount":{}.5}}"#,
                    event,
                    event + 1
                )
            })
            .collect();
        format!("[{}]", events.join(","))
    };
    let server = Server::start(&workspace, &[]);
    let url = server.url.clone();
    let token = admin.clone();
    // Two clients post numbered batches until the server dies; each records the batches
    // it saw acknowledged.
    let clients: Vec<_> = (0..2)
        .map(|client| {
            let (url, token) = (url.clone(), token.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for number in (client..10_000).step_by(2) {
                    let agent = agent();
                    let sent = agent
                        .post(format!("{url}/api/v1/events/purchases"))
                        .header("Authorization", &format!("Bearer {token}"))
                        .send(batch(number));
                    match sent {
                        Ok(mut response) if response.status() == 200 => {
                            let body: Value = serde_json::from_str(&response.body_mut().read_to_string().expect("body")).expect("json");
                            assert_eq!(body["accepted"], 50, "{body}");
                            acknowledged.push(number);
                        }
                        Ok(response) => panic!("status {}", response.status()),
                        Err(_) => return (acknowledged, number),
                    }
                }
                (acknowledged, usize::MAX)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_500));
    server.kill();
    let mut acknowledged = Vec::new();
    let mut highest = 0;
    for client in clients {
        let (numbers, stopped) = client.join().expect("client");
        highest = highest.max(numbers.iter().copied().max().unwrap_or(0)).max(stopped.min(10_000));
        acknowledged.extend(numbers);
    }
    assert!(acknowledged.len() >= 4, "the clients were acknowledged some batches before the kill: {}", acknowledged.len());

    let server = Server::start(&workspace, &[]);
    let events = |number: usize| {
        let (status, body) = request("GET", &format!("{}/api/v1/customers/K{number}/events", server.url), &admin, None);
        if status == 404 { 0 } else { body["events"].as_array().expect("events").len() }
    };
    for &number in &acknowledged {
        assert_eq!(events(number), 50, "acknowledged batch {number} is stored whole");
    }
    for number in 0..=highest {
        let stored = events(number);
        assert!(stored == 0 || stored == 50, "batch {number} half stored: {stored}");
        let (status, body) = request("POST", &format!("{}/api/v1/events/purchases", server.url), &admin, Some(&batch(number)));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["accepted"].as_u64().expect("accepted") + body["duplicates"].as_u64().expect("duplicates"), 50);
        assert_eq!(body["duplicates"].as_u64(), Some(stored as u64), "batch {number}: what was stored is recognised");
        assert_eq!(events(number), 50, "batch {number} stored exactly once");
    }
    assert!(
        !Path::new(&workspace).join(".inbox").exists()
            || std::fs::read_dir(Path::new(&workspace).join(".inbox")).expect("dir").count() == 0
    );
}

/// Forgetting a customer over HTTP, then a new analysis: no file of the workspace holds
/// their id, email or phone.
#[test]
fn forgetting_over_http_leaves_no_trace() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = demo(directory.path(), "600");
    let brand = directory.path().join("brand");
    std::fs::rename(Path::new(&workspace).join("brand"), &brand).expect("move the generated exports out");
    let profiles = std::fs::read_to_string(brand.join("customers.csv")).expect("customers");
    let profile: Vec<&str> = profiles.lines().nth(7).expect("a customer").split(',').collect();
    let (customer, email, phone) = (profile[0].to_string(), profile[3].to_string(), profile[4].to_string());
    let admin = token(&workspace, "admin", "ops");
    let analyst = token(&workspace, "analyst", "cx");
    let server = Server::start(&workspace, &[]);
    let (status, profile) = request("GET", &format!("{}/api/v1/customers/{customer}/profile", server.url), &analyst, None);
    assert_eq!(status, 200, "{profile}");
    assert!(profile.to_string().contains(&email), "an analyst reads the profile: {profile}");
    let (status, body) = request("DELETE", &format!("{}/api/v1/customers/{customer}", server.url), &analyst, None);
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, body) = request("DELETE", &format!("{}/api/v1/customers/{customer}", server.url), &admin, None);
    assert_eq!(status, 200, "{body}");
    let (status, _) = request("GET", &format!("{}/api/v1/customers/{customer}", server.url), &analyst, None);
    assert_eq!(status, 404);
    ok(&["-q", "analyze", "-w", &workspace]);
    for (file, text) in crate::forget::contents(Path::new(&workspace)) {
        for secret in [&customer, &email, &phone] {
            assert!(!crate::forget::holds(&text, secret), "{file} still holds {secret:?}");
        }
    }
}

/// The dashboard in headless Chromium: sign in by typing a token, open every view, click
/// a matrix cell and then a customer, open a segment and a topic, sign out; a kiosk token
/// answers the NPS form. No page logs an error or asks for anything but the server.
/// Screenshots are saved under `target/screenshots/`.
#[test]
fn the_dashboard_works_in_a_browser() {
    let Some(binary) = chromium() else { return };
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = demo(directory.path(), "1500");
    let analyst = token(&workspace, "analyst", "cx team");
    let kiosk = token(&workspace, "kiosk", "store 12 tablet");
    let server = Server::start(&workspace, &[]);
    let screenshots = crate::repo().join("target").join("screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshots dir");
    let mut browser = Browser::launch(binary);

    browser.open(&format!("{}/", server.url));
    assert!(browser.url().contains("/login?next="), "signed out, the dashboard asks to sign in: {}", browser.url());
    browser.screenshot(&screenshots.join("dashboard-sign-in.png"), 1280);
    browser.type_into("#token", &analyst);
    browser.click("#sign-in");
    let page = browser.eval("document.body.innerText");
    assert_eq!(browser.url(), format!("{}/", server.url), "{page}");
    let title = browser.eval("document.querySelector('h1').textContent");
    assert_eq!(title, "Return on Relationship");
    let sections = browser.eval("document.querySelectorAll('main section').length").as_u64().expect("sections");
    assert!(sections >= 12, "every view of the report: {sections}");
    browser.screenshot(&screenshots.join("dashboard-home.png"), 1280);
    browser.screenshot(&screenshots.join("dashboard-home-phone.png"), 390);

    browser.click("svg a.cell-link");
    assert!(browser.url().contains("/matrix/"), "{}", browser.url());
    browser.screenshot(&screenshots.join("dashboard-cell.png"), 1280);
    browser.click("main table a[href^='/customers/']");
    assert!(browser.url().contains("/customers/"), "{}", browser.url());
    let headings = browser.eval("[...document.querySelectorAll('h2')].map(h => h.textContent).join('|')");
    assert_eq!(headings, "Next-best actions|Timeline|Scores and measures");
    browser.screenshot(&screenshots.join("dashboard-customer.png"), 1280);

    browser.open(&format!("{}/", server.url));
    browser.click("#segments a[href^='/segments/']");
    assert!(browser.url().contains("/segments/"), "{}", browser.url());
    browser.screenshot(&screenshots.join("dashboard-segment.png"), 1280);
    browser.open(&format!("{}/", server.url));
    browser.click("#topics a[href^='/topics/']");
    let rows = browser.eval("document.querySelectorAll('main tbody tr').length").as_u64().expect("rows");
    assert!(rows > 0, "an analyst reads the topic's messages");
    browser.screenshot(&screenshots.join("dashboard-topic.png"), 1280);

    browser.click("#sign-out");
    assert!(browser.url().contains("/login"), "{}", browser.url());
    browser.open(&format!("{}/", server.url));
    assert!(browser.url().contains("/login"), "signed out: {}", browser.url());

    // The kiosk: a store tablet signed in with a kiosk token.
    browser.open(&format!("{}/kiosk/nps?touchpoint=Store%2012", server.url));
    browser.type_into("#token", &kiosk);
    browser.click("#sign-in");
    assert!(browser.url().contains("/kiosk/nps?touchpoint=Store%2012"), "{}", browser.url());
    browser.screenshot(&screenshots.join("kiosk-nps.png"), 800);
    browser.tick("input[name=score][value='9']");
    browser.type_into("#customer", "C00000004");
    browser.click("#send");
    let said = browser.eval("document.querySelector('main').textContent");
    assert!(said.as_str().expect("text").contains("Thank you"), "{said}");
    browser.screenshot(&screenshots.join("kiosk-thanks.png"), 800);

    assert!(browser.problems.is_empty(), "console errors or failed loads: {:#?}", browser.problems);
    let outside: Vec<&String> = browser.requests.iter().filter(|url| !url.starts_with(&server.url) && !url.starts_with("data:")).collect();
    assert!(outside.is_empty(), "requests outside the server: {outside:?}");
    for name in ["dashboard-home.png", "dashboard-cell.png", "dashboard-customer.png", "kiosk-nps.png"] {
        let size = std::fs::metadata(screenshots.join(name)).expect("screenshot").len();
        assert!(size > 20_000, "{name} is {size} bytes: blank?");
    }
    let admin = token(&workspace, "admin", "ops");
    let (_, events) = request("GET", &format!("{}/api/v1/customers/C00000004/events", server.url), &admin, None);
    let answers = events["events"].as_array().expect("events").iter().filter(|event| event["touchpoint"] == "Store 12").count();
    assert_eq!(answers, 1, "the kiosk's answer is stored");
}
