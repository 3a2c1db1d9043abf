//! Artifacts on a real S3-compatible server: `moto_server` (PyPI `moto[server]`) on
//! loopback, started here. The test command installs it.

use bytes::Bytes;
use cairn_artifacts::ArtifactStore;
use cairn_domain::{ArtifactPath, RunId};
use futures::TryStreamExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Moto(Child);
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_moto() -> (Moto, String) {
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server must be installed for the S3 tests: pip install 'moto[server]'");
    let guard = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (guard, format!("http://127.0.0.1:{port}"))
}

/// A store at `location` on the moto server at `endpoint`.
fn moto_store(endpoint: &str, location: &str) -> ArtifactStore {
    let options = [
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
        ("aws_region", "us-east-1"),
    ];
    ArtifactStore::open_with(location, &options).unwrap()
}

#[tokio::test]
async fn s3_round_trip_is_byte_identical_and_streamed() {
    let (_moto, endpoint) = start_moto();
    // Create the bucket with a plain S3 call (object_store does not manage buckets).
    let status = reqwest_put(&format!("{endpoint}/cairn-test")).await;
    assert!(status < 300, "bucket creation answered {status}");
    let store = moto_store(&endpoint, "s3://cairn-test/team-a");
    let run = RunId(uuid::Uuid::now_v7());
    let path = ArtifactPath::parse("checkpoints/big.bin").unwrap();
    // 20 MB in 1 MB pieces: several multipart parts.
    let data: Vec<u8> = (0..20_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let parts: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(1 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let stored = store.put_stream(run, &path, futures::stream::iter(parts)).await.unwrap();
    assert_eq!(stored.size, data.len() as u64);
    assert_eq!(stored.blake3, blake3::hash(&data).to_hex().to_string());
    let (size, stream) = store.get_stream(run, &path).await.unwrap();
    assert_eq!(size, data.len() as u64);
    let back: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert!(back.concat() == data, "byte-identical through S3");
    let small = ArtifactPath::parse("notes.txt").unwrap();
    store
        .put_stream(run, &small, futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"hi"))]))
        .await
        .unwrap();
    let (size, _) = store.get_stream(run, &small).await.unwrap();
    assert_eq!(size, 2);
}

async fn reqwest_put(url: &str) -> u16 {
    http_put(url, b"").await.0
}

/// A tiny HTTP/1.1 PUT without pulling an HTTP client into this crate's tests: the
/// status and the ETag header.
async fn http_put(url: &str, body: &[u8]) -> (u16, Option<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req =
        format!("PUT /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(999);
    let etag = text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("etag")).map(|(_, v)| v.trim().to_owned())
    });
    (status, etag)
}

#[tokio::test]
async fn s3_multipart_parts_go_straight_to_the_bucket_through_signed_urls() {
    let (_moto, endpoint) = start_moto();
    assert!(reqwest_put(&format!("{endpoint}/cairn-mpu")).await < 300);
    let store = moto_store(&endpoint, "s3://cairn-mpu/team-b");
    let run = RunId(uuid::Uuid::now_v7());
    let path = ArtifactPath::parse("models/weights.bin").unwrap();
    // S3 parts are at least 5 MiB but the last.
    let data: Vec<u8> = (0..12_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    let start = store.start_multipart(run, &path, 3).await.unwrap();
    let urls = start.part_urls.expect("S3 parts are sent to signed URLs");
    assert_eq!(urls.len(), 3);
    let mut parts = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        assert!(url.contains("partNumber") && url.contains("X-Amz-Signature"), "{url}");
        let chunk = &data[i * 5 * 1024 * 1024..((i + 1) * 5 * 1024 * 1024).min(data.len())];
        let (status, etag) = http_put(url, chunk).await;
        assert_eq!(status, 200, "part {} answered {status}", i + 1);
        parts
            .push(cairn_artifacts::Part { number: i as u32 + 1, etag: etag.expect("S3 answers a part with its ETag") });
    }
    let stored = store.complete_multipart(run, &path, &start.upload_id, parts).await.unwrap();
    assert_eq!((stored.size, stored.blake3), (data.len() as u64, blake3::hash(&data).to_hex().to_string()));
    let (_, stream) = store.get_stream(run, &path).await.unwrap();
    let back: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert!(back.concat() == data, "byte-identical through S3");
    // An aborted upload cannot be completed.
    let other = store.start_multipart(run, &path, 1).await.unwrap();
    store.abort_multipart(run, &path, &other.upload_id).await.unwrap();
    let late = vec![cairn_artifacts::Part { number: 1, etag: "\"x\"".into() }];
    assert!(store.complete_multipart(run, &path, &other.upload_id, late).await.is_err());
}
