//! `rapport report`: one self-contained HTML file of an analysis, checked as text and,
//! where Chromium is installed (CI installs it), as a browser renders it.

use std::path::Path;
use std::process::Command;

use crate::{ok, user_error};

fn analysed(directory: &Path) -> String {
    let workspace = directory.join("ws").to_str().expect("path").to_string();
    ok(&["-q", "demo", "--customers", "1500", "--seed", "5", "--workspace", &workspace]);
    workspace
}

/// Every section is there with its charts and their data tables; the file names nothing
/// outside itself (no script, no stylesheet or image fetched, no tiles); every chart has a
/// title and a description; text from the data is escaped; a printout keeps the tables.
#[test]
fn the_report_is_one_self_contained_file_with_every_view() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = analysed(directory.path());
    let output = directory.path().join("report.html");
    ok(&["-q", "report", "-w", &workspace, "-o", output.to_str().expect("path")]);
    let html = std::fs::read_to_string(&output).expect("report");
    // `rapport propensity` names the model that scores the customers and the rule that
    // chose it.
    let propensity = crate::rapport(&["propensity", "-w", &workspace, "--format", "table"]);
    let header = String::from_utf8_lossy(&propensity.stderr);
    assert!(
        header.contains("customers scored with ") && header.contains("has an interval above 0; otherwise the baseline does"),
        "{header}"
    );
    for section in [
        "headlines",
        "matrix",
        "value",
        "voice",
        "sentiment",
        "service",
        "topics",
        "segments",
        "propensity",
        "ror",
        "actions",
        "alerts",
        "geography",
        "skipped",
    ] {
        assert!(html.contains(&format!("<section id=\"{section}\"")), "section {section}");
    }
    for id in ["tracking", "matrix-map", "clv-hist", "alive-hist", "voice-nps", "topics", "auc", "lift", "uplift", "map"] {
        assert!(html.contains(&format!("aria-labelledby=\"{id}-t {id}-d\"")), "chart {id}");
    }
    assert_eq!(html.matches("<svg").count(), html.matches("<title id=").count(), "every chart has a title");
    assert_eq!(html.matches("<svg").count(), html.matches("<desc id=").count(), "every chart has a description");
    for outside in ["<script", "src=", "http://", "https://", "<link", "@import", "url("] {
        assert!(!html.contains(outside), "the report names something outside itself: {outside}");
    }
    assert!(html.contains("NPS") && html.contains("[") && html.contains("95% interval"), "intervals beside the estimates");
    assert!(html.contains("@media print"), "print styles");
    assert!(html.contains("Customers who bought") && html.contains("Came back (bought on a second day)"), "the brand at a glance");
    assert!(html.contains("name=\"viewport\""), "readable on a phone");
    // Shares of complaints are percentages of a whole: none above 100% (they were scaled
    // twice, "4079.7%").
    let topics = html.split("<section id=\"topics\"").nth(1).and_then(|rest| rest.split("</section>").next()).expect("topics");
    let shares: Vec<f64> = topics
        .split('%')
        .filter_map(|before| {
            let digits: String = before.chars().rev().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',').collect();
            digits.chars().rev().filter(|c| *c != ',').collect::<String>().parse().ok()
        })
        .collect();
    assert!(!shares.is_empty() && shares.iter().all(|share| *share <= 100.0), "{shares:?}");

    // Another run: the report shows the latest, or the one asked for.
    let runs = ok(&["runs", "-w", &workspace, "--format", "csv"]);
    let first = runs.lines().nth(1).expect("a run").split(',').next().expect("id").to_string();
    ok(&["-q", "analyze", "-w", &workspace]);
    ok(&["-q", "report", "-w", &workspace, "-o", output.to_str().expect("path"), "--run", &first]);
    assert!(std::fs::read_to_string(&output).expect("report").contains(&first));
    ok(&["-q", "report", "-w", &workspace, "-o", output.to_str().expect("path")]);
    let latest = std::fs::read_to_string(&output).expect("report");
    assert!(!latest.contains(&format!("Run <code>{first}")), "the latest run by default");
    // A rerun at the same observation end is not "before" it: no migration where everyone
    // would have stayed. An analysis a week later shows migration from the latest before.
    assert!(!latest.contains("Since run"), "a rerun at the same as-of shows no migration");
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&workspace).join("results").join(&first).join("run.json")).expect("run.json"),
    )
    .expect("json");
    let as_of = chrono::NaiveDate::parse_from_str(&run["options"]["as_of"].as_str().expect("as_of")[..10], "%Y-%m-%d").expect("date");
    let later = (as_of + chrono::Duration::days(7)).to_string();
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", &later]);
    ok(&["-q", "report", "-w", &workspace, "-o", output.to_str().expect("path")]);
    let week_later = std::fs::read_to_string(&output).expect("report");
    assert!(week_later.contains("Since run"), "the later analysis shows migration from the one before");
}

/// A workspace without an analysis, an unknown run, a run that is not an analysis, and an
/// output that cannot be written: each a clear error with exit 1 and no file left behind.
#[test]
fn a_report_needs_an_analysis_and_says_so() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let output = directory.path().join("r.html");
    let error = user_error(&["report", "-w", &workspace, "-o", output.to_str().expect("path")]);
    assert!(error.contains("no analysis to show") && error.contains("rapport analyze"), "{error}");
    assert!(!output.exists());
    let file = directory.path().join("p.csv");
    std::fs::write(&file, "customer_id,time,amount\na,2024-01-01,3\na,2024-02-01,4\nb,2024-01-05,2\n").expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "purchases", file.to_str().expect("path")]);
    ok(&["-q", "clv", "predict", "--workspace", &workspace, "--model", "bg-nbd", "--horizon", "4"]);
    let runs = ok(&["runs", "-w", &workspace, "--format", "csv"]);
    let run = runs.lines().nth(1).expect("a run").split(',').next().expect("id").to_string();
    let error = user_error(&["report", "-w", &workspace, "--run", &run, "-o", output.to_str().expect("path")]);
    assert!(error.contains("not `rapport analyze`"), "{error}");
    let error = user_error(&["report", "-w", &workspace, "--run", "20990101T000000.000Z", "-o", output.to_str().expect("path")]);
    assert!(error.contains("20990101T000000.000Z"), "{error}");
    ok(&["-q", "analyze", "-w", &workspace]);
    // Purchases only: the report says what it could not measure and why, and claims
    // nothing the data cannot show (no consent to follow, no contacts to alarm on).
    ok(&["-q", "report", "-w", &workspace, "-o", output.to_str().expect("path")]);
    let html = std::fs::read_to_string(&output).expect("report");
    assert!(html.contains("No customers file was ingested"), "actions without consent data");
    assert!(html.contains("This workspace has no conversations, no survey answers, no social engagement"), "alerts without contacts");
    assert!(html.contains("Not measured") && html.contains("no NPS answers"), "the skipped measures");
    let missing = directory.path().join("no-such-dir").join("r.html");
    let error = user_error(&["report", "-w", &workspace, "-o", missing.to_str().expect("path")]);
    assert!(error.contains("no-such-dir"), "{error}");
    assert!(
        std::fs::read_dir(directory.path()).expect("dir").all(|entry| !entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .contains("partial"))
    );
}

/// Headless Chromium opens the report from disk with the network off, logs no console
/// error, and renders it; the screenshots (laptop and phone widths) are saved under
/// `target/screenshots/` to be looked at. Skipped where Chromium is missing, unless
/// `RAPPORT_REQUIRE_CHROMIUM` is set (CI sets it).
#[test]
fn chromium_renders_the_report_without_errors() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok_and(|output| output.status.success()))
    else {
        assert!(std::env::var_os("RAPPORT_REQUIRE_CHROMIUM").is_none(), "RAPPORT_REQUIRE_CHROMIUM is set but no Chromium was found");
        eprintln!("skipped: no Chromium (apt-get install chromium)");
        return;
    };
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = analysed(directory.path());
    let output = directory.path().join("report.html");
    ok(&["-q", "report", "-w", &workspace, "-o", output.to_str().expect("path")]);
    let screenshots = crate::repo().join("target").join("screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshots dir");
    let url = format!("file://{}", output.display());
    for (name, size) in [("report-laptop.png", "1280,8000"), ("report-phone.png", "390,6000")] {
        let shot = screenshots.join(name);
        let _ = std::fs::remove_file(&shot);
        let run = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"])
            // The network is off: anything the page tried to fetch would fail and log.
            .args(["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"])
            .arg(format!("--window-size={size}"))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(&url)
            .output()
            .expect("run chromium");
        let log = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "chromium failed: {log}");
        let console: Vec<&str> = log.lines().filter(|line| line.contains("CONSOLE") || line.contains("net::ERR")).collect();
        assert!(console.is_empty(), "console errors or failed requests: {console:?}");
        let size = std::fs::metadata(&shot).expect("screenshot written").len();
        assert!(size > 50_000, "{name} is {size} bytes: blank?");
    }
    let dom =
        Command::new(chromium).args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"]).arg(&url).output().expect("dump dom");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("Customer Matrix") && dom.matches("<svg").count() > 10, "rendered DOM");
}
