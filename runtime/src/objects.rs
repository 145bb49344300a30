//! The object store: a local directory in embedded mode, S3 (or any
//! S3-compatible server) in distributed mode, one API for both through
//! `object_store`. Keys are [`ObjectKey`]s, deterministic per job.
//!
//! S3 endpoint, region and credentials come from the standard `AWS_*`
//! variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ALLOW_HTTP`).

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use schemas::ObjectKey;
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::sync::Arc;

/// Object store failures.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// No object under that key.
    #[error("object `{0}` not found")]
    NotFound(String),
    /// The store failed (usually transient: network, 5xx).
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// The configured URL is not usable.
    #[error("invalid object store url `{0}`: {1}")]
    InvalidUrl(String, String),
    /// A local object file or directory could not be restricted to the
    /// service's user.
    #[error("restricting the permissions of {path}: {source}")]
    Permissions {
        /// The file or directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Mode of the local object directory (embedded mode): the uploaded diagrams
/// and the generated code are readable by the service's user only, like the
/// JWT secret file beside them.
pub const LOCAL_DIR_MODE: u32 = 0o700;

/// Mode of each local object file.
pub const LOCAL_FILE_MODE: u32 = 0o600;

/// Sets `mode` on `path` (Unix only; elsewhere the platform's ACLs apply).
fn restrict(path: &std::path::Path, mode: u32) -> Result<(), ObjectsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(
            |source| ObjectsError::Permissions {
                path: path.display().to_string(),
                source,
            },
        )?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// What a PUT stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Hex sha256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A handle to the configured object store.
#[derive(Debug, Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory: its files get
    /// [`LOCAL_FILE_MODE`] after each write.
    local: Option<Arc<LocalFileSystem>>,
    description: String,
}

impl Objects {
    /// Opens the store named by `url`: empty for `{data_dir}/objects`,
    /// `file:///abs/dir`, or `s3://bucket[/prefix]`.
    pub fn open(url: &str, data_dir: &std::path::Path) -> Result<Self, ObjectsError> {
        let invalid =
            |e: &dyn std::fmt::Display| ObjectsError::InvalidUrl(url.to_string(), e.to_string());
        if url.is_empty() || url.starts_with("file://") {
            let dir = if url.is_empty() {
                data_dir.join("objects")
            } else {
                std::path::PathBuf::from(url.trim_start_matches("file://"))
            };
            // The default directory is the service's own: created, or
            // tightened when an older version left it world-readable. A
            // `file://` directory given by the operator keeps its mode
            // unless this creates it.
            if url.is_empty() || !dir.exists() {
                std::fs::create_dir_all(&dir).map_err(|e| invalid(&e))?;
                restrict(&dir, LOCAL_DIR_MODE)?;
            }
            let fs = Arc::new(
                LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| invalid(&e))?
                    .with_automatic_cleanup(true),
            );
            return Ok(Self {
                store: fs.clone(),
                local: Some(fs),
                description: format!("local directory {}", dir.display()),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid(&"missing bucket name"));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                builder = builder.with_region("us-east-1");
            }
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                builder = builder.with_endpoint(endpoint);
            }
            let s3 = builder.build().map_err(|e| invalid(&e))?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            };
            return Ok(Self {
                store,
                local: None,
                description: format!("s3 bucket {bucket}/{prefix}"),
            });
        }
        Err(invalid(&"expected s3://bucket[/prefix] or file:///dir"))
    }

    /// Where objects go, for logs and `/readyz`.
    pub fn description(&self) -> &str {
        &self.description
    }

    fn path(key: &ObjectKey) -> Path {
        Path::from(key.as_str())
    }

    /// Stores `bytes` under `key` (overwriting: keys are deterministic, so a
    /// retry rewrites the same object).
    pub async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<Stored, ObjectsError> {
        let stored = Stored {
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
        };
        let path = Self::path(key);
        self.store.put(&path, PutPayload::from(bytes)).await?;
        if let Some(local) = &self.local {
            restrict(&local.path_to_filesystem(&path)?, LOCAL_FILE_MODE)?;
        }
        Ok(stored)
    }

    fn map_missing(key: &ObjectKey, e: object_store::Error) -> ObjectsError {
        match e {
            object_store::Error::NotFound { .. } => ObjectsError::NotFound(key.to_string()),
            other => ObjectsError::Store(other),
        }
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &ObjectKey) -> Result<Bytes, ObjectsError> {
        let res = self
            .store
            .get(&Self::path(key))
            .await
            .map_err(|e| Self::map_missing(key, e))?;
        res.bytes().await.map_err(|e| Self::map_missing(key, e))
    }

    /// Reads a byte range of an object (one ranged GET on S3).
    pub async fn get_range(
        &self,
        key: &ObjectKey,
        range: Range<u64>,
    ) -> Result<Bytes, ObjectsError> {
        self.store
            .get_range(&Self::path(key), range)
            .await
            .map_err(|e| Self::map_missing(key, e))
    }

    /// Size of an object, or `NotFound`.
    pub async fn size(&self, key: &ObjectKey) -> Result<u64, ObjectsError> {
        let meta = self
            .store
            .head(&Self::path(key))
            .await
            .map_err(|e| Self::map_missing(key, e))?;
        Ok(meta.size)
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectsError> {
        match self.store.delete(&Self::path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store answers (for `/readyz`): a HEAD of a key that need not exist.
    pub async fn check(&self) -> Result<(), ObjectsError> {
        match self.store.head(&Path::from("_c4forge_readyz")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_round_trips_and_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let objects = Objects::open("", dir.path()).expect("open");
        let key = ObjectKey::code_zip(schemas::JobId::new());
        let stored = objects
            .put(&key, Bytes::from_static(b"hello world"))
            .await
            .expect("put");
        assert_eq!(stored.size, 11);
        assert_eq!(
            objects.get(&key).await.expect("get"),
            Bytes::from_static(b"hello world")
        );
        assert_eq!(
            objects.get_range(&key, 6..11).await.expect("range"),
            Bytes::from_static(b"world")
        );
        objects.delete(&key).await.expect("delete");
        assert!(matches!(
            objects.get(&key).await,
            Err(ObjectsError::NotFound(_))
        ));
    }
}
