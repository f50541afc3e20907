//! `rapport ingest s3://…`: event files read from an S3 prefix, one batch per object.
//!
//! The store here is a small S3 stand-in on loopback: path-style ListObjectsV2, HEAD and
//! GET, the three requests the `object_store` client makes for a read. It is written out
//! in the test (rather than started from MinIO or moto) so the test needs nothing outside
//! this repository; it does not check request signatures, which the client computes as
//! it would for AWS.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::{csv_rows, ok};

/// A bucket's objects, and every request line the stand-in served.
#[derive(Default)]
struct Bucket {
    objects: BTreeMap<String, Vec<u8>>,
    requests: Vec<String>,
    /// Answer every request 403, as S3 does for a wrong key.
    forbidden: bool,
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).expect("hex"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8")
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8], head: bool) {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).expect("write");
    if !head {
        stream.write_all(body).expect("write");
    }
}

fn serve(stream: TcpStream, bucket: &Arc<Mutex<Bucket>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
        let mut bucket = bucket.lock().expect("lock");
        bucket.requests.push(format!("{method} {}", decode(&target)));
        let head = method == "HEAD";
        if bucket.forbidden {
            let body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
            respond(&mut stream, "403 Forbidden", &[("Content-Type", "application/xml".into())], body, head);
            continue;
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let path = decode(path);
        let key = path.trim_start_matches('/').split_once('/').map(|(_, key)| key.to_string()).unwrap_or_default();
        if key.is_empty() && query.contains("list-type=2") {
            let prefix = query.split('&').find_map(|pair| pair.strip_prefix("prefix=")).map(decode).unwrap_or_default();
            let mut xml = String::from(
                r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name>"#,
            );
            let keys: Vec<(&String, &Vec<u8>)> = bucket.objects.iter().filter(|(key, _)| key.starts_with(&prefix)).collect();
            xml.push_str(&format!(
                "<Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>",
                keys.len()
            ));
            for (key, bytes) in keys {
                xml.push_str(&format!(
                    "<Contents><Key>{key}</Key><LastModified>2025-07-01T00:00:00.000Z</LastModified><ETag>\"{}\"</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                    bytes.len(),
                    bytes.len()
                ));
            }
            xml.push_str("</ListBucketResult>");
            respond(&mut stream, "200 OK", &[("Content-Type", "application/xml".into())], xml.as_bytes(), head);
            continue;
        }
        match bucket.objects.get(&key) {
            Some(bytes) => {
                let headers = [("ETag", format!("\"{}\"", bytes.len())), ("Last-Modified", "Tue, 01 Jul 2025 00:00:00 GMT".into())];
                let bytes = bytes.clone();
                respond(&mut stream, "200 OK", &headers, &bytes, head);
            }
            None => {
                let body = b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
                respond(&mut stream, "404 Not Found", &[("Content-Type", "application/xml".into())], body, head);
            }
        }
    }
}

/// Start the stand-in; returns its endpoint URL.
fn start(bucket: Arc<Mutex<Bucket>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let bucket = Arc::clone(&bucket);
            std::thread::spawn(move || serve(stream, &bucket));
        }
    });
    format!("http://{address}")
}

/// Run `rapport` against the store at `endpoint`.
fn rapport_s3(endpoint: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run rapport")
}

fn parquet_bytes(rows: &[(&str, &str, f64)]) -> Vec<u8> {
    use arrow::array::{Float64Array, StringArray};
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("customer_id", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new("time", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new("amount", arrow::datatypes::DataType::Float64, false),
    ]));
    let batch = arrow::array::RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(rows.iter().map(|row| row.0).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|row| row.1).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|row| row.2).collect::<Vec<_>>())),
        ],
    )
    .expect("batch");
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    bytes
}

#[test]
fn a_prefix_in_s3_is_ingested_object_by_object_and_again_skips_what_it_holds() {
    let bucket = Arc::new(Mutex::new(Bucket::default()));
    {
        let mut bucket = bucket.lock().expect("lock");
        let objects = &mut bucket.objects;
        objects.insert(
            "exports/orders/day=2025-06-01/part 0.csv".into(),
            b"customer_id,time,amount\nc1,2025-06-01T10:00:00Z,10.50\nc2,2025-06-01T11:00:00Z,\"1,200.00\"\n".to_vec(),
        );
        objects.insert(
            "exports/orders/day=2025-06-02/part-0.parquet".into(),
            parquet_bytes(&[("c1", "2025-06-02T09:00:00Z", 20.0), ("c3", "2025-06-02T09:30:00Z", 5.0)]),
        );
        // A key that is not ASCII.
        objects.insert(
            "exports/orders/day=2025-06-03/März ü 注文.csv".into(),
            "customer_id,time,amount\nc5,2025-06-03T10:00:00Z,3\n".as_bytes().to_vec(),
        );
        // What a writer leaves beside its data, and a file no reader knows.
        objects.insert("exports/orders/_SUCCESS".into(), Vec::new());
        objects.insert("exports/orders/day=2025-06-02/.part-0.parquet.crc".into(), b"crc".to_vec());
        objects.insert("exports/orders/README.md".into(), b"# orders".to_vec());
        // Another prefix, not asked for.
        objects.insert("exports/ordersx/part-0.csv".into(), b"customer_id,time,amount\nz,2025-06-01,1\n".to_vec());
    }
    let endpoint = start(Arc::clone(&bucket));
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);

    // An ingest that must succeed; its output.
    let ingest = |url: &str| {
        let output = rapport_s3(&endpoint, &["ingest", "-w", workspace, "-k", "purchases", url]);
        assert!(output.status.success(), "{url}: {}", String::from_utf8_lossy(&output.stderr));
        output
    };
    let manifest = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(std::path::Path::new(workspace).join("manifest.json")).expect("manifest"))
            .expect("json")
    };
    let output = ingest("s3://bucket/exports/orders/");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let rows: Vec<Vec<&str>> = stdout.lines().skip(1).map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(
        rows,
        [
            ["s3://bucket/exports/orders/day=2025-06-01/part", "0.csv", "purchases", "2", "0", "0", "0", "000001"].to_vec(),
            ["s3://bucket/exports/orders/day=2025-06-02/part-0.parquet", "purchases", "2", "0", "0", "0", "000002"].to_vec(),
            ["s3://bucket/exports/orders/day=2025-06-03/März", "ü", "注文.csv", "purchases", "1", "0", "0", "0", "000003"].to_vec(),
        ],
        "{stdout}"
    );
    {
        let bucket = bucket.lock().expect("lock");
        let fetched: Vec<&String> = bucket.requests.iter().filter(|request| request.starts_with("GET /bucket/")).collect();
        assert_eq!(
            fetched,
            [
                "GET /bucket/exports/orders/day=2025-06-01/part 0.csv",
                "GET /bucket/exports/orders/day=2025-06-02/part-0.parquet",
                "GET /bucket/exports/orders/day=2025-06-03/März ü 注文.csv"
            ],
            "only the data files under the prefix, in path order: {:?}",
            bucket.requests
        );
    }
    // Each object is its own batch, named by its URL; nothing was downloaded into the
    // workspace.
    let published = manifest();
    let sources: Vec<&str> =
        published["batches"].as_array().expect("batches").iter().filter_map(|batch| batch["source"].as_str()).collect();
    assert_eq!(
        sources,
        [
            "s3://bucket/exports/orders/day=2025-06-01/part 0.csv",
            "s3://bucket/exports/orders/day=2025-06-02/part-0.parquet",
            "s3://bucket/exports/orders/day=2025-06-03/März ü 注文.csv"
        ]
    );
    let leftovers: Vec<String> = std::fs::read_dir(workspace)
        .expect("read")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".download"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let summary = ok(&["summary", "-w", workspace]);
    let (header, rows) = csv_rows(&summary);
    assert_eq!(header[0], "customer_id");
    assert_eq!(rows.iter().map(|row| row[0].as_str()).collect::<Vec<_>>(), ["c1", "c2", "c3", "c5"]);

    // Again: nothing new is published.
    ingest("s3://bucket/exports/orders/");
    assert_eq!(manifest()["batches"].as_array().map(Vec::len), Some(3));

    // One object by its URL; a prefix without a trailing slash is a prefix.
    bucket
        .lock()
        .expect("lock")
        .objects
        .insert("exports/late.csv".into(), b"customer_id,time,amount\nc4,2025-06-03T08:00:00Z,7\n".to_vec());
    ingest("s3://bucket/exports/late.csv");
    ingest("s3://bucket/exports/ordersx");
    assert_eq!(manifest()["batches"].as_array().map(Vec::len), Some(5));
}

#[test]
fn a_missing_prefix_a_refused_key_and_a_bad_url_are_clear_errors_and_write_nothing() {
    let bucket = Arc::new(Mutex::new(Bucket::default()));
    bucket.lock().expect("lock").objects.insert("a/x.csv".into(), b"customer_id,time,amount\nc1,2025-06-01,1\n".to_vec());
    let endpoint = start(Arc::clone(&bucket));
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let manifest = || std::fs::read_to_string(std::path::Path::new(workspace).join("manifest.json")).expect("manifest");
    let before = manifest();
    let error = |url: &str| {
        let output = rapport_s3(&endpoint, &["ingest", "-w", workspace, "-k", "purchases", url]);
        assert_eq!(output.status.code(), Some(1), "{url}: {}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = error("s3://bucket/nothing/here/");
    assert!(stderr.contains("s3://bucket/nothing/here/: no such object, and no data file under it"), "{stderr}");
    let stderr = error("s3:///a/");
    assert!(stderr.contains("no bucket or container: write s3://BUCKET/PREFIX"), "{stderr}");
    bucket.lock().expect("lock").forbidden = true;
    let stderr = error("s3://bucket/a/");
    assert!(stderr.contains("s3://bucket/a/") && stderr.contains("403"), "{stderr}");
    assert_eq!(manifest(), before, "nothing written");
}
