//! Multipart uploads a client drives part by part (MLflow's `mpu/create`, `complete`,
//! `abort`). On S3 the client sends each part straight to the bucket through a signed
//! URL; elsewhere it sends them to the server, which keeps them under
//! `<prefix>/uploads/<upload id>/` until the upload completes, then streams them, in
//! order, into the artifact. Either way every replica of the server can take any step:
//! what an upload is for lives in the store, not in a process.

use crate::{ArtifactError, ArtifactStore, Stored};
use bytes::Bytes;
use cairn_domain::{ArtifactPath, RunId};
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{ObjectStoreExt, PutPayload};
use std::time::Duration;

/// A server-kept upload with no new part for this long is abandoned (on S3 the
/// bucket's lifecycle rules expire unfinished uploads).
pub(crate) const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// S3's limit on one part.
const MAX_PART_BYTES: u64 = 5 << 30;

/// S3's limit on the parts of one upload.
pub const MAX_PARTS: u32 = 10_000;

/// How long a signed part URL stays valid: long enough for a large upload over a
/// slow link, short of S3's seven-day limit.
const SIGNED_FOR: Duration = Duration::from_secs(24 * 3600);

/// A started upload: its id, and for S3 a signed URL per part (none: the parts go
/// through the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartStart {
    pub upload_id: String,
    pub part_urls: Option<Vec<String>>,
}

/// A part as the client reports it on completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub etag: String,
}

/// What a server-kept upload is for, stored beside its parts.
#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    run: String,
    path: String,
    parts: u32,
}

fn bad(msg: impl Into<String>) -> ArtifactError {
    ArtifactError::Multipart(msg.into())
}

/// An upload id this server made for kept parts: a UUID in simple form, so it is safe
/// as a folder name and cannot be guessed.
fn check_kept_id(id: &str) -> Result<(), ArtifactError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ArtifactError::UploadNotFound(id.to_owned()))
    }
}

impl ArtifactStore {
    fn upload_dir(&self, id: &str) -> ObjectPath {
        self.prefix.clone().join("uploads").join(id)
    }

    fn part_location(&self, id: &str, part: u32) -> ObjectPath {
        self.upload_dir(id).join(format!("{part:05}"))
    }

    async fn manifest(&self, id: &str) -> Result<Manifest, ArtifactError> {
        check_kept_id(id)?;
        let got = self.store.get(&self.upload_dir(id).join("manifest")).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => ArtifactError::UploadNotFound(id.to_owned()),
            e => e.into(),
        })?;
        serde_json::from_slice(&got.bytes().await?).map_err(|e| ArtifactError::Storage(format!("upload {id}: {e}")))
    }

    /// The manifest of a server-kept upload, which must be for `path` of `run`.
    async fn manifest_for(&self, upload_id: &str, run: RunId, path: &ArtifactPath) -> Result<Manifest, ArtifactError> {
        let m = self.manifest(upload_id).await?;
        if m.run != run.to_string() || m.path != path.as_str() {
            return Err(bad(format!(
                "upload {upload_id} is for {} of run {}, not {} of run {run}",
                m.path,
                m.run,
                path.as_str()
            )));
        }
        Ok(m)
    }

    /// Starts an upload of `parts` parts to `path` of `run`.
    pub async fn start_multipart(
        &self,
        run: RunId,
        path: &ArtifactPath,
        parts: u32,
    ) -> Result<MultipartStart, ArtifactError> {
        if !(1..=MAX_PARTS).contains(&parts) {
            return Err(bad(format!("an upload has 1 to {MAX_PARTS} parts, not {parts}")));
        }
        let loc = self.checked(run, path)?;
        if let Some(s3) = &self.s3 {
            let id = s3.create_multipart(&loc).await?;
            let mut urls = Vec::with_capacity(parts as usize);
            for n in 1..=parts {
                let opts =
                    SignedUrlOptions::default().with_query([("partNumber", n.to_string()), ("uploadId", id.clone())]);
                urls.push(s3.signed_url_opts(http::Method::PUT, &loc, SIGNED_FOR, &opts).await?.to_string());
            }
            return Ok(MultipartStart { upload_id: id, part_urls: Some(urls) });
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let manifest = Manifest { run: run.to_string(), path: path.as_str().to_owned(), parts };
        let body = serde_json::to_vec(&manifest).map_err(|e| ArtifactError::Storage(e.to_string()))?;
        self.store.put(&self.upload_dir(&id).join("manifest"), PutPayload::from(body)).await?;
        Ok(MultipartStart { upload_id: id, part_urls: None })
    }

    /// Keeps one part of a server-kept upload; returns its ETag (the part's BLAKE3).
    /// Sending a part again replaces it.
    pub async fn put_part<S, E>(&self, upload_id: &str, part: u32, body: S) -> Result<String, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let m = self.manifest(upload_id).await?;
        if !(1..=m.parts).contains(&part) {
            return Err(bad(format!("upload {upload_id} has parts 1 to {}, not {part}", m.parts)));
        }
        // A part is at most what S3 takes in one part: a leaked part URL cannot fill
        // the store with one endless request.
        let mut sent = 0u64;
        let capped = body.map(move |chunk| {
            let chunk = chunk.map_err(|e| e.to_string())?;
            sent += chunk.len() as u64;
            if sent > MAX_PART_BYTES {
                return Err(format!("a part is at most {} GiB", MAX_PART_BYTES >> 30));
            }
            Ok(chunk)
        });
        Ok(self.write_hashed(&self.part_location(upload_id, part), capped).await?.blake3)
    }

    /// Joins the parts into the artifact; returns its size and BLAKE3. Every part must
    /// be there, each named once.
    pub async fn complete_multipart(
        &self,
        run: RunId,
        path: &ArtifactPath,
        upload_id: &str,
        mut parts: Vec<Part>,
    ) -> Result<Stored, ArtifactError> {
        parts.sort_by_key(|p| p.number);
        if parts.is_empty() || parts.iter().enumerate().any(|(i, p)| p.number as usize != i + 1) {
            let numbers: Vec<u32> = parts.iter().map(|p| p.number).collect();
            return Err(bad(format!(
                "upload {upload_id}: parts must be numbered 1, 2, … with none missing or repeated; got {numbers:?}"
            )));
        }
        let loc = self.checked(run, path)?;
        if let Some(s3) = &self.s3 {
            let ids = parts.into_iter().map(|p| PartId { content_id: p.etag }).collect();
            s3.complete_multipart(&loc, &upload_id.to_owned(), ids).await?;
            // The bytes never passed through here: read them once for the checksum.
            let (size, stream) = self.get_stream(run, path).await?;
            let mut hasher = blake3::Hasher::new();
            let mut stream = std::pin::pin!(stream);
            while let Some(chunk) = stream.next().await {
                hasher.update(&chunk?);
            }
            return Ok(Stored { size, blake3: hasher.finalize().to_hex().to_string() });
        }
        let m = self.manifest_for(upload_id, run, path).await?;
        if parts.len() as u32 != m.parts {
            return Err(bad(format!(
                "upload {upload_id} was started with {} parts; {} were given",
                m.parts,
                parts.len()
            )));
        }
        for p in &parts {
            let loc = self.part_location(upload_id, p.number);
            self.store.head(&loc).await.map_err(|e| match e {
                object_store::Error::NotFound { .. } => {
                    bad(format!("upload {upload_id}: part {} was never sent", p.number))
                }
                e => e.into(),
            })?;
        }
        let this = self.clone();
        let id = upload_id.to_owned();
        let joined = futures::stream::iter(parts.into_iter().map(|p| p.number))
            .then(move |n| {
                let (store, loc) = (this.store.clone(), this.part_location(&id, n));
                async move { Ok::<_, ArtifactError>(store.get(&loc).await?.into_stream().map_err(ArtifactError::from)) }
            })
            .try_flatten()
            .boxed();
        let stored = self.put_stream(run, path, joined).await?;
        // The artifact is whole: leftover parts are only space, swept later if need be.
        if let Err(e) = self.discard_kept(upload_id).await {
            tracing::warn!(upload = upload_id, error = %e, "the parts of a completed upload were not all removed");
        }
        Ok(stored)
    }

    /// Drops an upload and whatever parts it has.
    pub async fn abort_multipart(&self, run: RunId, path: &ArtifactPath, upload_id: &str) -> Result<(), ArtifactError> {
        if let Some(s3) = &self.s3 {
            let loc = self.checked(run, path)?;
            s3.abort_multipart(&loc, &upload_id.to_owned()).await?;
            return Ok(());
        }
        self.manifest_for(upload_id, run, path).await?;
        self.discard_kept(upload_id).await
    }

    /// Removes server-kept uploads with no new part for `quiet` from a store that is not
    /// on local disk (that one is swept file by file); returns how many.
    pub(crate) async fn remove_abandoned_uploads(&self, quiet: Duration) -> Result<usize, ArtifactError> {
        if self.local_root.is_some() || self.s3.is_some() {
            return Ok(0);
        }
        let root = self.prefix.clone().join("uploads");
        let mut newest: std::collections::BTreeMap<String, chrono::DateTime<chrono::Utc>> = Default::default();
        let mut listing = self.store.list(Some(&root));
        while let Some(meta) = listing.next().await.transpose()? {
            let Some(id) = meta.location.prefix_match(&root).and_then(|mut p| p.next()).map(|p| p.as_ref().to_owned())
            else {
                continue;
            };
            let slot = newest.entry(id).or_insert(meta.last_modified);
            *slot = (*slot).max(meta.last_modified);
        }
        let cutoff = chrono::Utc::now() - quiet;
        let mut removed = 0;
        for (id, at) in newest {
            if at < cutoff && check_kept_id(&id).is_ok() {
                self.discard_kept(&id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn discard_kept(&self, upload_id: &str) -> Result<(), ArtifactError> {
        let dir = self.upload_dir(upload_id);
        let found: Vec<ObjectPath> = self.store.list(Some(&dir)).map_ok(|m| m.location).try_collect().await?;
        for loc in found {
            match self.store.delete(&loc).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(root) = &self.local_root {
            // Empty folders stay behind on local disk.
            let _ = std::fs::remove_dir(root.join("uploads").join(upload_id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn abandoned_uploads_leave_an_object_store() {
        let store = ArtifactStore::open("memory://").unwrap();
        let run = RunId(uuid::Uuid::from_u128(4));
        let path = ArtifactPath::parse("w.bin").unwrap();
        let id = store.start_multipart(run, &path, 2).await.unwrap().upload_id;
        store.put_part(&id, 1, body(b"part")).await.unwrap();
        assert_eq!(store.remove_stale_uploads(Duration::ZERO).await.unwrap(), 0, "a day must pass first");
        assert_eq!(store.remove_abandoned_uploads(Duration::ZERO).await.unwrap(), 1);
        assert!(matches!(store.put_part(&id, 2, body(b"late")).await, Err(ArtifactError::UploadNotFound(_))));
    }

    fn body(data: &[u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + use<> {
        let parts: Vec<_> = data.chunks(100_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(parts)
    }

    #[tokio::test]
    async fn kept_parts_join_in_order_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path().to_str().unwrap()).unwrap();
        let run = RunId(uuid::Uuid::from_u128(9));
        let path = ArtifactPath::parse("models/big.bin").unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect();
        let start = store.start_multipart(run, &path, 3).await.unwrap();
        assert_eq!(start.part_urls, None, "local disk keeps the parts itself");
        let id = start.upload_id;
        // Parts arrive in any order.
        let mut parts = Vec::new();
        for (n, chunk) in [(3u32, &data[2_000_000..]), (1, &data[..1_000_000]), (2, &data[1_000_000..2_000_000])] {
            let etag = store.put_part(&id, n, body(chunk)).await.unwrap();
            assert_eq!(etag, blake3::hash(chunk).to_hex().to_string());
            parts.push(Part { number: n, etag });
        }
        assert!(store.put_part(&id, 4, body(b"x")).await.is_err(), "no part beyond the count");
        let missing = store.complete_multipart(run, &path, &id, parts[..2].to_vec()).await.unwrap_err();
        assert!(missing.to_string().contains("numbered 1, 2"), "{missing}");
        let other = ArtifactPath::parse("elsewhere.bin").unwrap();
        assert!(store.complete_multipart(run, &other, &id, parts.clone()).await.is_err(), "the path is the upload's");
        let stored = store.complete_multipart(run, &path, &id, parts.clone()).await.unwrap();
        assert_eq!((stored.size, stored.blake3.clone()), (data.len() as u64, blake3::hash(&data).to_hex().to_string()));
        let (_, s) = store.get_stream(run, &path).await.unwrap();
        let back: Vec<Bytes> = s.try_collect().await.unwrap();
        assert!(back.concat() == data, "byte-identical");
        assert!(!dir.path().join("uploads").join(&id).exists(), "the parts are gone");
        let again = store.complete_multipart(run, &path, &id, parts).await.unwrap_err();
        assert!(matches!(again, ArtifactError::UploadNotFound(_)), "{again}");
        // An aborted upload leaves nothing; made-up ids are not found.
        let id = store.start_multipart(run, &path, 2).await.unwrap().upload_id;
        store.put_part(&id, 1, body(b"abc")).await.unwrap();
        store.abort_multipart(run, &path, &id).await.unwrap();
        assert!(!dir.path().join("uploads").join(&id).exists());
        assert!(matches!(store.put_part("../../etc", 1, body(b"x")).await, Err(ArtifactError::UploadNotFound(_))));
        assert!(store.start_multipart(run, &path, 0).await.is_err());
        let other = ArtifactPath::parse("other.bin").unwrap();
        let id = store.start_multipart(run, &path, 1).await.unwrap().upload_id;
        assert!(store.abort_multipart(run, &other, &id).await.is_err(), "an upload is aborted for its own path");
        store.abort_multipart(run, &path, &id).await.unwrap();
        assert!(store.start_multipart(run, &path, MAX_PARTS + 1).await.is_err());
    }
}
