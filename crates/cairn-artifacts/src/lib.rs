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
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact not found: {0}")]
    NotFound(String),
    #[error("artifact storage location '{url}' is not usable: {reason}")]
    BadLocation { url: String, reason: String },
    #[error("the upload stream failed: {0}")]
    Upload(String),
    #[error("artifact storage failed: {0}")]
    Storage(String),
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

    fn build(self, location: &str, options: &[(&str, &str)]) -> object_store::Result<Arc<dyn ObjectStore>> {
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
                Arc::new(configured(b, options, |b, k, v| b.with_config(k, v))?.build()?)
            }
            Cloud::Gcs => {
                let b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(location);
                Arc::new(configured(b, options, |b, k, v| b.with_config(k, v))?.build()?)
            }
            Cloud::Azure => {
                let b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(location);
                Arc::new(configured(b, options, |b, k, v| b.with_config(k, v))?.build()?)
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
            let store = cloud.build(location, options).map_err(|e| bad(e.to_string()))?;
            let prefix = ObjectPath::parse(url.path().trim_matches('/')).map_err(|e| bad(e.to_string()))?;
            return Ok(ArtifactStore { store, prefix, url: location.to_owned() });
        }
        if location == "memory://" {
            let store = object_store::memory::InMemory::new();
            return Ok(ArtifactStore {
                store: Arc::new(store),
                prefix: ObjectPath::default(),
                url: location.to_owned(),
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
        Ok(ArtifactStore { store: Arc::new(fs), prefix: ObjectPath::default(), url: location.to_owned() })
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

    /// Stores a stream of bytes; returns its size and BLAKE3 hash. A failed stream
    /// aborts the upload, leaving any earlier version of the artifact in place.
    pub async fn put_stream<S, E>(&self, run: RunId, path: &ArtifactPath, body: S) -> Result<Stored, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let loc = self.location(run, path);
        let upload = self.store.put_multipart(&loc).await?;
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
            if let Err(e) = writer.wait_for_capacity(MAX_IN_FLIGHT).await {
                return Err(e.into());
            }
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
        let got = self.store.get(&self.location(run, path)).await?;
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
        let got = self.store.get_opts(&self.location(run, path), opts).await?;
        Ok(got.into_stream().map_err(ArtifactError::from).boxed())
    }

    pub async fn delete(&self, run: RunId, path: &ArtifactPath) -> Result<(), ArtifactError> {
        self.store.delete(&self.location(run, path)).await?;
        Ok(())
    }
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
