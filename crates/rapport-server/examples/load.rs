//! Load against a running `rapport serve`: customer look-ups and event ingest at a fixed
//! rate (open loop: requests are sent on schedule whether or not earlier ones have been
//! answered, and each latency counts from its scheduled time, so a stalled server shows
//! as latency rather than as fewer requests), then at the most the server takes.
//!
//! ```text
//! cargo run --release -p rapport-server --example load -- \
//!     --url http://127.0.0.1:8080 --token TOKEN [--lookups 2000] [--ingest 5000] \
//!     [--batch 500] [--seconds 30] [--pid SERVER_PID]
//! ```
//!
//! The token must be an admin's (ingest needs one); the server should run with a rate
//! limit above the rates asked for (`rapport serve --rate-limit 100000`). Ingested events
//! go to customers `load-…` with fresh event ids.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Options {
    url: String,
    token: String,
    lookups: u64,
    ingest: u64,
    batch: u64,
    seconds: u64,
    pid: Option<u32>,
}

fn options() -> Options {
    let mut options =
        Options { url: String::new(), token: String::new(), lookups: 2_000, ingest: 5_000, batch: 500, seconds: 30, pid: None };
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    for pair in arguments.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        let number = || value.parse::<u64>().unwrap_or_else(|_| panic!("{} takes a number", pair[0]));
        match pair[0].as_str() {
            "--url" => options.url = value.trim_end_matches('/').to_string(),
            "--token" => options.token = value.clone(),
            "--lookups" => options.lookups = number(),
            "--ingest" => options.ingest = number(),
            "--batch" => options.batch = number().max(1),
            "--seconds" => options.seconds = number().max(1),
            "--pid" => options.pid = Some(number() as u32),
            other => panic!("unknown option {other}"),
        }
    }
    assert!(!options.url.is_empty() && !options.token.is_empty(), "--url and --token are needed");
    options
}

/// Latencies in microseconds.
#[derive(Default)]
struct Latencies {
    values: Vec<u64>,
    failures: u64,
}

impl Latencies {
    /// The `p`th percentile, ms (nearest rank; the values sorted).
    fn percentile(&self, p: f64) -> f64 {
        if self.values.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.values.len() as f64).ceil() as usize;
        self.values[rank.clamp(1, self.values.len()) - 1] as f64 / 1000.0
    }
}

async fn send(client: &HttpClient, request: hyper::Request<Full<Bytes>>) -> Result<(u16, Bytes), String> {
    let response = client.request(request).await.map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|error| error.to_string())?.to_bytes();
    Ok((status, body))
}

fn get(options: &Options, path: &str) -> hyper::Request<Full<Bytes>> {
    hyper::Request::get(format!("{}{path}", options.url))
        .header("authorization", format!("Bearer {}", options.token))
        .body(Full::new(Bytes::new()))
        .expect("request")
}

fn post(options: &Options, path: &str, body: String) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(format!("{}{path}", options.url))
        .header("authorization", format!("Bearer {}", options.token))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

/// Send `make(i)` at `rate` per second for `seconds`, open loop; latencies from schedule.
async fn fixed_rate(client: &HttpClient, rate: f64, seconds: u64, make: impl Fn(u64) -> hyper::Request<Full<Bytes>>) -> (Latencies, f64) {
    let total = (rate * seconds as f64) as u64;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(total as usize);
    for index in 0..total {
        let due = start + Duration::from_secs_f64(index as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let client = client.clone();
        let request = make(index);
        handles.push(tokio::spawn(async move {
            let answer = send(&client, request).await;
            (answer, due.elapsed())
        }));
    }
    let mut latencies = Latencies::default();
    for handle in handles {
        let (answer, elapsed) = handle.await.expect("task");
        match answer {
            Ok((200, _)) => latencies.values.push(elapsed.as_micros() as u64),
            Ok((status, body)) => {
                latencies.failures += 1;
                if latencies.failures <= 3 {
                    eprintln!("status {status}: {}", String::from_utf8_lossy(&body));
                }
            }
            Err(error) => {
                latencies.failures += 1;
                if latencies.failures <= 3 {
                    eprintln!("{error}");
                }
            }
        }
    }
    latencies.values.sort_unstable();
    (latencies, start.elapsed().as_secs_f64())
}

/// As many requests as `concurrency` clients get answered in `seconds` (closed loop).
async fn saturate(
    client: &HttpClient,
    concurrency: u64,
    seconds: u64,
    make: Arc<dyn Fn(u64) -> hyper::Request<Full<Bytes>> + Send + Sync>,
) -> (u64, f64) {
    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for _ in 0..concurrency {
        let (client, counter, done, make) = (client.clone(), counter.clone(), done.clone(), make.clone());
        handles.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let index = counter.fetch_add(1, Ordering::Relaxed);
                if let Ok((200, _)) = send(&client, make(index)).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    (done.load(Ordering::Relaxed), start.elapsed().as_secs_f64())
}

fn peak_memory(pid: Option<u32>) -> String {
    let Some(pid) = pid else { return "not measured (no --pid)".into() };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap_or("VmHWM: ?");
    line.trim_start_matches("VmHWM:").trim().to_string()
}

fn batch_body(batch: u64, size: u64, run: u128) -> String {
    let events: Vec<String> = (0..size)
        .map(|event| {
            format!(
                r#"{{"event_id":"load-{run}-{batch}-{event}","customer_id":"load-{}","time":"2025-06-{:02}T10:00:00Z","amount":{}.25}}"#,
                (batch * size + event) % 50_000,
                1 + event % 28,
                1 + event % 90
            )
        })
        .collect();
    format!("[{}]", events.join(","))
}

#[tokio::main]
async fn main() {
    let options = Arc::new(options());
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build_http();
    // Customer ids to look up, from the server itself.
    let (status, body) = send(&client, get(&options, "/api/v1/customers?limit=10000")).await.expect("list customers");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let ids: Arc<Vec<String>> = Arc::new(
        page["customers"].as_array().expect("customers").iter().filter_map(|row| row["customer_id"].as_str().map(str::to_string)).collect(),
    );
    println!("server: {} customers in its analysis; {} ids sampled for look-ups", page["total"], ids.len());
    println!("server peak memory before load (VmHWM): {}", peak_memory(options.pid));
    let pick = |index: u64| ids[((index.wrapping_mul(2_654_435_761)) % ids.len() as u64) as usize].clone();

    let lookup_options = options.clone();
    let lookup = move |index: u64| get(&lookup_options, &format!("/api/v1/customers/{}", pick(index)));
    let (latencies, seconds) = fixed_rate(&client, options.lookups as f64, options.seconds, &lookup).await;
    println!(
        "look-ups at {} req/s for {} s: {} ok, {} failed, {:.0} req/s answered; latency ms p50 {:.2}, p99 {:.2}, max {:.2}",
        options.lookups,
        options.seconds,
        latencies.values.len(),
        latencies.failures,
        latencies.values.len() as f64 / seconds,
        latencies.percentile(50.0),
        latencies.percentile(99.0),
        latencies.percentile(100.0)
    );

    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|time| time.as_nanos()).unwrap_or_default();
    let batches = options.ingest as f64 / options.batch as f64;
    let ingest_options = options.clone();
    let ingest = move |index: u64| post(&ingest_options, "/api/v1/events/purchases", batch_body(index, ingest_options.batch, run));
    let (latencies, seconds) = fixed_rate(&client, batches, options.seconds, &ingest).await;
    println!(
        "ingest at {} events/s in batches of {} for {} s: {} batches ok, {} failed, {:.0} events/s stored; latency ms p50 {:.1}, p99 {:.1}, max {:.1}",
        options.ingest,
        options.batch,
        options.seconds,
        latencies.values.len(),
        latencies.failures,
        latencies.values.len() as f64 * options.batch as f64 / seconds,
        latencies.percentile(50.0),
        latencies.percentile(99.0),
        latencies.percentile(100.0)
    );

    let ids_again = ids.clone();
    let saturate_options = options.clone();
    let most: Arc<dyn Fn(u64) -> hyper::Request<Full<Bytes>> + Send + Sync> = Arc::new(move |index: u64| {
        get(
            &saturate_options,
            &format!("/api/v1/customers/{}", ids_again[((index.wrapping_mul(2_654_435_761)) % ids_again.len() as u64) as usize]),
        )
    });
    let (done, seconds) = saturate(&client, 64, 10, most).await;
    println!("look-ups, 64 clients as fast as answered for 10 s: {:.0} req/s", done as f64 / seconds);
    let run2 = run + 1;
    let saturate_options = options.clone();
    let most: Arc<dyn Fn(u64) -> hyper::Request<Full<Bytes>> + Send + Sync> =
        Arc::new(move |index: u64| post(&saturate_options, "/api/v1/events/purchases", batch_body(index, saturate_options.batch, run2)));
    let (done, seconds) = saturate(&client, 8, 10, most).await;
    println!("ingest, 8 clients as fast as answered for 10 s: {:.0} events/s", done as f64 * options.batch as f64 / seconds);
    println!("server peak memory (VmHWM): {}", peak_memory(options.pid));
}
