//! Artifact bytes: checkpoints, plots, logs. One code path over the `object_store`
//! crate for local disk (the default, `.cairn/artifacts`) and S3-compatible storage.
//!
//! Uploads and downloads stream: a 5 GB checkpoint passes through in parts of a few
//! megabytes and is never held in memory. Every upload is hashed (BLAKE3) and sized
//! on the way through. Objects live under `<prefix>/runs/<run id>/<artifact path>`;
//! [`ArtifactPath`] guarantees a path cannot leave its run's folder.

use bytes::Bytes;
use cairn_domain::{ArtifactPath, RunId};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

mod multipart;
pub use multipart::{MAX_PARTS, MultipartStart, Part};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact not found: {0}")]
    NotFound(String),
    #[error("artifact storage location '{url}' is not usable: {reason}")]
    BadLocation { url: String, reason: String },
    #[error("the upload stream failed: {0}")]
    Upload(String),
    /// A multipart upload step the upload cannot take (a missing part, a wrong count).
    #[error("{0}")]
    Multipart(String),
    #[error("no multipart upload {0}: it completed, was aborted, or never started")]
    UploadNotFound(String),
    #[error("artifact storage failed: {0}")]
    Storage(String),
    /// A link inside the artifact folder would lead the read or write outside it.
    #[error(
        "refusing to follow the symbolic link {0} inside the artifact folder: artifacts are only read and written \
         inside their folder; remove the link"
    )]
    Link(String),
}

impl From<object_store::Error> for ArtifactError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => ArtifactError::NotFound(path),
            e => ArtifactError::Storage(e.to_string()),
        }
    }
}

/// The object stores reached through a URL, each configured from its own environment
/// variables plus explicit options.
#[derive(Clone, Copy)]
enum Cloud {
    S3,
    Gcs,
    Azure,
}

impl Cloud {
    fn from_scheme(scheme: &str) -> Option<Cloud> {
        match scheme {
            "s3" | "s3a" => Some(Cloud::S3),
            "gs" => Some(Cloud::Gcs),
            "az" | "azure" | "abfs" | "abfss" | "adl" => Some(Cloud::Azure),
            _ => None,
        }
    }

    /// The store, and for S3 the same store typed: its multipart uploads can be signed
    /// for clients to send parts straight to it.
    #[allow(clippy::type_complexity)]
    fn build(
        self,
        location: &str,
        options: &[(&str, &str)],
    ) -> object_store::Result<(Arc<dyn ObjectStore>, Option<Arc<AmazonS3>>)> {
        fn configured<B, K>(
            mut b: B,
            options: &[(&str, &str)],
            set: impl Fn(B, K, &str) -> B,
        ) -> object_store::Result<B>
        where
            K: std::str::FromStr<Err = object_store::Error>,
        {
            for (k, v) in options {
                b = set(b, k.parse()?, v);
            }
            Ok(b)
        }
        Ok(match self {
            Cloud::S3 => {
                let b = object_store::aws::AmazonS3Builder::from_env().with_url(location);
                let s3 = Arc::new(configured(b, options, |b, k, v| b.with_config(k, v))?.build()?);
                (s3.clone() as Arc<dyn ObjectStore>, Some(s3))
            }
            Cloud::Gcs => {
                let b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(location);
                (Arc::new(configured(b, options, |b, k, v| b.with_config(k, v))?.build()?), None)
            }
            Cloud::Azure => {
                let b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(location);
                (Arc::new(configured(b, options, |b, k, v| b.with_config(k, v))?.build()?), None)
            }
        })
    }
}

/// Parts of this size are sent as they fill; with [`MAX_IN_FLIGHT`] this bounds the
/// memory an upload may use.
const PART_SIZE: usize = 8 * 1024 * 1024;
const MAX_IN_FLIGHT: usize = 2;

/// Where artifacts are kept.
#[derive(Clone)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    url: String,
    /// The folder, for a store on local disk: every path is checked against links
    /// planted inside it.
    local_root: Option<std::path::PathBuf>,
    /// The store again when it is S3, for signed part uploads.
    s3: Option<Arc<AmazonS3>>,
}

/// The result of storing an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub blake3: String,
}

impl ArtifactStore {
    /// Opens a location: a local folder (plain path or `file://`); `s3://bucket/prefix`
    /// (credentials, region and endpoint from the usual `AWS_*` variables, e.g.
    /// `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for a local S3-compatible server);
    /// `gs://bucket/prefix` (`GOOGLE_*`); `az://container/prefix` or
    /// `abfss://container@account.dfs.core.windows.net/prefix` (`AZURE_*`); or
    /// `memory://` for tests.
    pub fn open(location: &str) -> Result<ArtifactStore, ArtifactError> {
        Self::open_with(location, &[])
    }

    /// Like [`open`](Self::open), with explicit settings for a cloud store
    /// (object_store's config keys, e.g. `("aws_endpoint", "http://127.0.0.1:9000")`)
    /// taking precedence over the environment.
    pub fn open_with(location: &str, options: &[(&str, &str)]) -> Result<ArtifactStore, ArtifactError> {
        let bad = |reason: String| ArtifactError::BadLocation { url: location.to_owned(), reason };
        let scheme = location.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if let Some(cloud) = scheme.as_deref().and_then(Cloud::from_scheme) {
            let url = url::Url::parse(location).map_err(|e| bad(e.to_string()))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(bad("no bucket or container named".into()));
            }
            let (store, s3) = cloud.build(location, options).map_err(|e| bad(e.to_string()))?;
            let prefix = ObjectPath::parse(url.path().trim_matches('/')).map_err(|e| bad(e.to_string()))?;
            return Ok(ArtifactStore { store, prefix, url: location.to_owned(), local_root: None, s3 });
        }
        if location == "memory://" {
            let store = object_store::memory::InMemory::new();
            return Ok(ArtifactStore {
                store: Arc::new(store),
                prefix: ObjectPath::default(),
                url: location.to_owned(),
                local_root: None,
                s3: None,
            });
        }
        if let Some((scheme, _)) = location.split_once("://")
            && scheme != "file"
        {
            return Err(bad(format!(
                "the '{scheme}://' scheme is not supported; use a local folder, file://, s3://, gs:// or az://"
            )));
        }
        let dir = location.strip_prefix("file://").unwrap_or(location);
        std::fs::create_dir_all(dir).map_err(|e| bad(format!("cannot create the folder: {e}")))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| bad(e.to_string()))?;
        let root = std::fs::canonicalize(dir).map_err(|e| bad(format!("cannot resolve the folder: {e}")))?;
        Ok(ArtifactStore {
            store: Arc::new(fs),
            prefix: ObjectPath::default(),
            url: location.to_owned(),
            local_root: Some(root),
            s3: None,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn location(&self, run: RunId, path: &ArtifactPath) -> ObjectPath {
        let mut loc = self.prefix.clone().join("runs").join(run.to_string());
        for seg in path.as_str().split('/') {
            loc = loc.join(seg);
        }
        loc
    }

    /// The location of an artifact, checked first on local disk: no folder on the
    /// way to it, nor the file itself, may be a symbolic link (the object store
    /// would follow one out of the artifact folder).
    fn checked(&self, run: RunId, path: &ArtifactPath) -> Result<ObjectPath, ArtifactError> {
        let loc = self.location(run, path);
        if let Some(root) = &self.local_root {
            let mut at = root.clone();
            for part in loc.parts() {
                at.push(part.as_ref());
                match std::fs::symlink_metadata(&at) {
                    Ok(m) if m.file_type().is_symlink() => {
                        tracing::warn!(link = %at.display(), "symbolic link inside the artifact folder refused");
                        return Err(ArtifactError::Link(format!("runs/{run}/{}", path.as_str())));
                    }
                    Ok(_) => {}
                    // Nothing more exists on the way: nothing more to follow.
                    Err(_) => break,
                }
            }
        }
        Ok(loc)
    }

    /// Removes partial uploads left by a process that died mid-upload (on local
    /// disk: files named `<artifact>#<n>`, which are never artifacts) untouched for
    /// `older_than`. Returns how many were removed. Object stores keep unfinished
    /// multipart uploads out of sight; their own lifecycle rules expire them.
    pub async fn remove_stale_uploads(&self, older_than: std::time::Duration) -> Result<usize, ArtifactError> {
        let Some(root) = self.local_root.clone() else {
            return self.remove_abandoned_uploads(older_than.max(multipart::ABANDONED_AFTER)).await;
        };
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let mut dirs = vec![root.join("runs")];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for e in entries.flatten() {
                    let Ok(ft) = e.file_type() else { continue };
                    if ft.is_dir() {
                        dirs.push(e.path());
                        continue;
                    }
                    if !ft.is_file() || !is_staging_name(&e.file_name().to_string_lossy()) {
                        continue;
                    }
                    let quiet = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
                    if quiet.is_some_and(|q| q >= older_than) && std::fs::remove_file(e.path()).is_ok() {
                        tracing::info!(file = %e.path().display(), "removed a partial upload");
                        removed += 1;
                    }
                }
            }
            // Multipart uploads a client started and left: their parts may wait between
            // steps, so only a day without a new part ends one.
            let kept_for = older_than.max(multipart::ABANDONED_AFTER);
            for upload in std::fs::read_dir(root.join("uploads")).into_iter().flatten().flatten() {
                let newest = std::fs::read_dir(upload.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|f| f.metadata().ok()?.modified().ok())
                    .max();
                let quiet = newest.and_then(|t| t.elapsed().ok());
                if quiet.is_none_or(|q| q >= kept_for) && std::fs::remove_dir_all(upload.path()).is_ok() {
                    tracing::info!(upload = %upload.path().display(), "removed an abandoned multipart upload");
                    removed += 1;
                }
            }
            removed
        })
        .await
        .map_err(|e| ArtifactError::Storage(e.to_string()))
    }

    /// Stores a stream of bytes; returns its size and BLAKE3 hash. A failed stream
    /// aborts the upload, leaving any earlier version of the artifact in place.
    pub async fn put_stream<S, E>(&self, run: RunId, path: &ArtifactPath, body: S) -> Result<Stored, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        self.write_hashed(&self.checked(run, path)?, body).await
    }

    /// Writes a stream to `loc` in parts, hashing and counting it on the way; a failed
    /// stream aborts the write.
    async fn write_hashed<S, E>(&self, loc: &ObjectPath, body: S) -> Result<Stored, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let upload = self.store.put_multipart(loc).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let mut body = std::pin::pin!(body);
        while let Some(next) = body.next().await {
            let chunk = match next {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(ArtifactError::Upload(e.to_string()));
                }
            };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            writer.wait_for_capacity(MAX_IN_FLIGHT).await?;
            writer.put(chunk);
        }
        writer.finish().await?;
        Ok(Stored { size, blake3: hasher.finalize().to_hex().to_string() })
    }

    /// Streams an artifact's bytes; also returns its size.
    pub async fn get_stream(
        &self,
        run: RunId,
        path: &ArtifactPath,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, ArtifactError>>), ArtifactError> {
        let got = self.store.get(&self.checked(run, path)?).await?;
        let size = got.meta.size;
        Ok((size, got.into_stream().map_err(ArtifactError::from).boxed()))
    }

    /// Streams bytes `start..end` (end exclusive) of an artifact.
    pub async fn get_range_stream(
        &self,
        run: RunId,
        path: &ArtifactPath,
        start: u64,
        end: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, ArtifactError>>, ArtifactError> {
        let opts = object_store::GetOptions { range: Some((start..end).into()), ..Default::default() };
        let got = self.store.get_opts(&self.checked(run, path)?, opts).await?;
        Ok(got.into_stream().map_err(ArtifactError::from).boxed())
    }

    pub async fn delete(&self, run: RunId, path: &ArtifactPath) -> Result<(), ArtifactError> {
        self.store.delete(&self.checked(run, path)?).await?;
        Ok(())
    }
}

/// `name#123`: how object_store names a partial upload beside its destination.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(data: &[u8], size: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + use<> {
        let parts: Vec<_> = data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(parts)
    }

    pub(crate) async fn round_trip(store: &ArtifactStore) {
        let run = RunId(uuid_like(7));
        let path = ArtifactPath::parse("ckpt/model.bin").unwrap();
        let data: Vec<u8> = (0..20_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let stored = store.put_stream(run, &path, chunks(&data, 1 << 20)).await.unwrap();
        assert_eq!(stored.size, data.len() as u64);
        assert_eq!(stored.blake3, blake3::hash(&data).to_hex().to_string());
        let (size, stream) = store.get_stream(run, &path).await.unwrap();
        assert_eq!(size, data.len() as u64);
        let back: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert!(back.concat() == data, "byte-identical");
        let missing = store.get_stream(run, &ArtifactPath::parse("nope").unwrap()).await;
        assert!(matches!(missing, Err(ArtifactError::NotFound(_))));
    }

    fn uuid_like(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }

    #[tokio::test]
    async fn local_disk_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path().to_str().unwrap()).unwrap();
        round_trip(&store).await;
        // Files land under runs/<id>/<path> in the folder.
        let expect = dir.path().join("runs").join(RunId(uuid_like(7)).to_string()).join("ckpt/model.bin");
        assert!(expect.is_file(), "{}", expect.display());
    }

    #[tokio::test]
    async fn failed_stream_keeps_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path().to_str().unwrap()).unwrap();
        let run = RunId(uuid_like(1));
        let path = ArtifactPath::parse("a.txt").unwrap();
        store.put_stream(run, &path, chunks(b"first version", 4)).await.unwrap();
        let broken = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other("client went away")),
        ]);
        let err = store.put_stream(run, &path, broken).await.unwrap_err();
        assert!(err.to_string().contains("client went away"), "{err}");
        let (_, s) = store.get_stream(run, &path).await.unwrap();
        let back: Vec<Bytes> = s.try_collect().await.unwrap();
        assert_eq!(back.concat(), b"first version");
    }

    #[tokio::test]
    async fn links_inside_the_folder_are_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        let store = ArtifactStore::open(root.path().to_str().unwrap()).unwrap();
        let run = RunId(uuid_like(3));
        let run_dir = root.path().join("runs").join(run.to_string());
        std::fs::create_dir_all(&run_dir).unwrap();
        // A folder link: writes would land outside, reads would read outside.
        std::os::unix::fs::symlink(outside.path(), run_dir.join("ckpt")).unwrap();
        let p = ArtifactPath::parse("ckpt/model.bin").unwrap();
        let err = store.put_stream(run, &p, chunks(b"x", 1)).await.unwrap_err();
        assert!(matches!(err, ArtifactError::Link(_)), "{err}");
        assert!(!outside.path().join("model.bin").exists(), "nothing written outside the root");
        let secret = ArtifactPath::parse("ckpt/secret").unwrap();
        assert!(matches!(store.get_stream(run, &secret).await, Err(ArtifactError::Link(_))));
        assert!(matches!(store.get_range_stream(run, &secret, 0, 2).await, Err(ArtifactError::Link(_))));
        assert!(matches!(store.delete(run, &secret).await, Err(ArtifactError::Link(_))));
        // A file link too.
        std::os::unix::fs::symlink(outside.path().join("secret"), run_dir.join("plain")).unwrap();
        let plain = ArtifactPath::parse("plain").unwrap();
        assert!(matches!(store.get_stream(run, &plain).await, Err(ArtifactError::Link(_))));
        assert!(matches!(store.put_stream(run, &plain, chunks(b"y", 1)).await, Err(ArtifactError::Link(_))));
        assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"outside");
        // The whole run folder as a link.
        let run2 = RunId(uuid_like(4));
        std::os::unix::fs::symlink(outside.path(), root.path().join("runs").join(run2.to_string())).unwrap();
        assert!(matches!(store.put_stream(run2, &plain, chunks(b"z", 1)).await, Err(ArtifactError::Link(_))));
    }

    #[tokio::test]
    async fn stale_partial_uploads_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(root.path().to_str().unwrap()).unwrap();
        let run = RunId(uuid_like(5));
        let p = ArtifactPath::parse("ckpt/model.bin").unwrap();
        store.put_stream(run, &p, chunks(b"kept", 2)).await.unwrap();
        let dir = root.path().join("runs").join(run.to_string()).join("ckpt");
        // What a SIGKILL mid-upload leaves behind.
        std::fs::write(dir.join("model.bin#1"), vec![0u8; 1024]).unwrap();
        std::fs::write(dir.join("other.bin#17"), b"x").unwrap();
        // A fresh one may still be written to: kept until it is quiet long enough.
        assert_eq!(store.remove_stale_uploads(std::time::Duration::from_secs(3600)).await.unwrap(), 0);
        assert_eq!(store.remove_stale_uploads(std::time::Duration::ZERO).await.unwrap(), 2);
        assert!(!dir.join("model.bin#1").exists() && !dir.join("other.bin#17").exists());
        assert_eq!(std::fs::read(dir.join("model.bin")).unwrap(), b"kept", "artifacts stay");
        assert!(is_staging_name("a#1") && !is_staging_name("a#") && !is_staging_name("a#x1") && !is_staging_name("a"));
    }

    #[test]
    fn unknown_schemes_are_refused_clearly() {
        let err = ArtifactStore::open("ftp://x/y").err().unwrap().to_string();
        assert!(err.contains("'ftp://' scheme is not supported"), "{err}");
        // Cloud URLs go to their builders: a missing bucket or account is named.
        let err = ArtifactStore::open("s3:///prefix").err().unwrap().to_string();
        assert!(err.contains("no bucket"), "{err}");
        let err = ArtifactStore::open("az://container/runs").err().expect("an account is needed").to_string();
        assert!(err.contains("az://container/runs"), "{err}");
        let gcs = ArtifactStore::open_with("gs://team-bucket/cairn", &[("google_bucket", "team-bucket")]).unwrap();
        assert_eq!(gcs.url(), "gs://team-bucket/cairn");
    }
}
