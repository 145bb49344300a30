//! The client state directory: where `c4forge login` keeps the session and
//! `c4forge submit` keeps its outbox.
//!
//! The directory is `--client-dir`, else `C4FORGE_CLIENT_DIR`, else
//! `$XDG_CONFIG_HOME/c4forge`, else `~/.config/c4forge`. It is created with
//! mode 0700 and the session file (it holds a bearer token) with mode 0600,
//! written to a temporary file and renamed so a crash never leaves half a
//! token behind.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the session inside the client directory.
pub const SESSION_FILE: &str = "session.json";
/// File name of the outbox database inside the client directory.
pub const OUTBOX_FILE: &str = "outbox.db";

/// What `c4forge login` remembers: the server and a token for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Session {
    /// Base URL of the server, without a trailing slash.
    pub server: String,
    /// The login name, so an expired token can be renewed with
    /// `C4FORGE_PASSWORD` without asking again.
    pub email: String,
    /// The bearer token (a JWT).
    pub token: String,
    /// The single-use refresh token of the last token response, which
    /// renews an expired token without the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the token expires (epoch seconds, informative only: the server
    /// decides, and a 401 triggers a renewal).
    #[serde(default)]
    pub expires_at: i64,
}

/// The resolved client directory.
#[derive(Debug, Clone)]
pub struct ClientDir {
    root: PathBuf,
}

impl ClientDir {
    /// Resolves the directory from the flag (which clap already filled from
    /// `C4FORGE_CLIENT_DIR`) or the XDG default, and creates it.
    pub fn resolve(flag: Option<&Path>) -> Result<Self> {
        let root = match flag {
            Some(p) => p.to_path_buf(),
            None => default_dir().context(
                "cannot find a home directory for the client state: pass --client-dir or set C4FORGE_CLIENT_DIR",
            )?,
        };
        create_private_dir(&root)
            .with_context(|| format!("creating the client directory {}", root.display()))?;
        Ok(Self { root })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Path of the outbox database.
    pub fn outbox_path(&self) -> PathBuf {
        self.root.join(OUTBOX_FILE)
    }

    /// Path of the session file.
    pub fn session_path(&self) -> PathBuf {
        self.root.join(SESSION_FILE)
    }

    /// The stored session, if `c4forge login` ran.
    pub fn load_session(&self) -> Result<Option<Session>> {
        let path = self.session_path();
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("reading {}", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Stores the session with owner-only permissions (0600), atomically.
    pub fn save_session(&self, session: &Session) -> Result<()> {
        let path = self.session_path();
        let tmp = self
            .root
            .join(format!(".{SESSION_FILE}.{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec_pretty(session)?;
        write_private(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

fn default_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("c4forge"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config").join("c4forge"))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // The mode above only applies to a new file; make sure of it anyway.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_round_trips_with_owner_only_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cd = ClientDir::resolve(Some(&dir.path().join("nested"))).expect("dir");
        assert!(cd.load_session().expect("load").is_none());
        let s = Session {
            server: "http://127.0.0.1:1".into(),
            email: "a@b".into(),
            token: "t".into(),
            refresh_token: None,
            expires_at: 1,
        };
        cd.save_session(&s).expect("save");
        let back = cd.load_session().expect("load").expect("some");
        assert_eq!(back.token, "t");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cd.session_path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
