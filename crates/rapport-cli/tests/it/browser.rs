//! A headless Chromium driven over the Chrome DevTools Protocol, for the dashboard's
//! browser tests: navigate, click (real mouse events at the element's position), type,
//! take screenshots, and collect console errors, exceptions and every network request.
//!
//! Written here over a WebSocket (tungstenite) rather than with a CDP crate: the
//! `headless_chrome` crate downloads the protocol's definition from the network when it
//! builds (CI builds offline from the registry), and `chromiumoxide`'s generated protocol
//! adds minutes to a cold test build for the seven commands used here.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The Chromium binary, if one is installed. Where none is and `RAPPORT_REQUIRE_CHROMIUM`
/// is set (CI sets it), that is a failure.
pub fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok_and(|output| output.status.success()));
    if found.is_none() {
        assert!(std::env::var_os("RAPPORT_REQUIRE_CHROMIUM").is_none(), "RAPPORT_REQUIRE_CHROMIUM is set but no Chromium was found");
        eprintln!("skipped: no Chromium (apt-get install chromium)");
    }
    found
}

/// One browser with one page.
pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    loads: u64,
    /// Console errors, exceptions and failed loads seen so far.
    pub problems: Vec<String>,
    /// Every URL the page requested.
    pub requests: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start Chromium headless (the network off: only loopback is reachable).
    pub fn launch(binary: &str) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(binary)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--remote-debugging-port=0"])
            // The network off: every request but to loopback (bypassed by default) goes to a
            // proxy that is not there, and fails.
            .args(["--proxy-server=127.0.0.1:9", "--no-first-run", "--no-default-browser-check"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = sender.send(url.trim().to_string());
                }
            }
        });
        let url = receiver.recv_timeout(Duration::from_secs(30)).expect("chromium's DevTools address");
        let (socket, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        }
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            loads: 0,
            problems: Vec::new(),
            requests: Vec::new(),
            _profile: profile,
        };
        let target = browser.command("Target.createTarget", json!({"url": "about:blank"}), false);
        let target = target["targetId"].as_str().expect("target").to_string();
        let attached = browser.command("Target.attachToTarget", json!({"targetId": target, "flatten": true}), false);
        browser.session = attached["sessionId"].as_str().expect("session").to_string();
        for domain in ["Page.enable", "Runtime.enable", "Network.enable", "Log.enable"] {
            browser.command(domain, json!({}), true);
        }
        browser
    }

    /// Send a command and wait for its answer, recording the events that arrive meanwhile.
    fn command(&mut self, method: &str, params: Value, on_page: bool) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if on_page {
            message["sessionId"] = json!(self.session);
        }
        self.socket.send(Message::text(message.to_string())).expect("send");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "no answer to {method}");
            let Some(message) = self.receive() else { continue };
            if message["id"].as_u64() == Some(id) {
                if let Some(error) = message.get("error") {
                    panic!("{method}: {error}");
                }
                return message["result"].clone();
            }
        }
    }

    fn receive(&mut self) -> Option<Value> {
        let message = match self.socket.read() {
            Ok(Message::Text(text)) => serde_json::from_str::<Value>(&text).expect("JSON"),
            Ok(_) => return None,
            Err(tungstenite::Error::Io(error)) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return None;
            }
            Err(error) => panic!("DevTools connection: {error}"),
        };
        let params = &message["params"];
        match message["method"].as_str() {
            Some("Page.loadEventFired") => self.loads += 1,
            Some("Network.requestWillBeSent") => {
                self.requests.push(params["request"]["url"].as_str().unwrap_or_default().to_string());
            }
            Some("Runtime.exceptionThrown") => self.problems.push(format!("exception: {}", params["exceptionDetails"])),
            Some("Runtime.consoleAPICalled") if params["type"] == "error" || params["type"] == "warning" => {
                self.problems.push(format!("console {}: {}", params["type"], params["args"]));
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" || params["entry"]["level"] == "warning" => {
                self.problems.push(format!("log: {} ({})", params["entry"]["text"], params["entry"]["url"]));
            }
            Some("Network.loadingFailed") => self.problems.push(format!("failed load: {params}")),
            _ => {}
        }
        Some(message)
    }

    /// Wait until the page has fired `count` load events in all.
    fn wait_for_load(&mut self, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.loads < count {
            assert!(Instant::now() < deadline, "the page did not load");
            self.receive();
        }
        // Let late events (a failed sub-request, a console message) arrive.
        let settle = Instant::now() + Duration::from_millis(300);
        while Instant::now() < settle {
            self.receive();
        }
    }

    /// Open `url` and wait for it to load.
    pub fn open(&mut self, url: &str) {
        let loads = self.loads;
        let result = self.command("Page.navigate", json!({"url": url}), true);
        assert!(result.get("errorText").is_none(), "navigating to {url}: {result}");
        self.wait_for_load(loads + 1);
    }

    /// Evaluate JavaScript in the page (the test's own probes; the pages run none).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.command("Runtime.evaluate", json!({"expression": expression, "returnByValue": true}), true);
        assert!(result.get("exceptionDetails").is_none(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// The page's address.
    pub fn url(&mut self) -> String {
        self.eval("location.href").as_str().expect("href").to_string()
    }

    /// Click the first element matching `selector` with the mouse (in the middle of its
    /// first line: a link that wraps has a gap between its lines), and wait for the page it
    /// leads to.
    pub fn click(&mut self, selector: &str) {
        let position = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector:?}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
             const r = e.getClientRects()[0]; return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ));
        let (x, y) = (position[0].as_f64(), position[1].as_f64());
        let (Some(x), Some(y)) = (x, y) else { panic!("nothing matches {selector} on {}", self.url()) };
        let loads = self.loads;
        for kind in ["mousePressed", "mouseReleased"] {
            self.command("Input.dispatchMouseEvent", json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}), true);
        }
        self.wait_for_load(loads + 1);
    }

    /// Click an element that does not leave the page (a radio button).
    pub fn tick(&mut self, selector: &str) {
        let position = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector:?}); e.scrollIntoView({{block: 'center'}}); \
             const r = e.getClientRects()[0]; return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ));
        let (x, y) = (position[0].as_f64().expect("x"), position[1].as_f64().expect("y"));
        for kind in ["mousePressed", "mouseReleased"] {
            self.command("Input.dispatchMouseEvent", json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}), true);
        }
    }

    /// Type `text` into the field matching `selector`.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        self.eval(&format!("document.querySelector({selector:?}).focus()"));
        self.command("Input.insertText", json!({"text": text}), true);
    }

    /// Save a screenshot of the whole page at `width` CSS pixels (a phone when narrow).
    pub fn screenshot(&mut self, path: &Path, width: u32) {
        let mobile = width < 600;
        self.command(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}),
            true,
        );
        let metrics = self.command("Page.getLayoutMetrics", json!({}), true);
        let height = metrics["cssContentSize"]["height"].as_f64().unwrap_or(900.0).clamp(300.0, 12_000.0);
        let shot = self.command(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
            true,
        );
        let bytes = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().expect("data")).expect("base64");
        std::fs::write(path, bytes).expect("write screenshot");
        self.command("Emulation.clearDeviceMetricsOverride", json!({}), true);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
