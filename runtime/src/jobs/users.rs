//! Users and their refresh tokens: sign-up, look-ups for sign-in and
//! access checks, and the rotation of refresh tokens by family.

use super::{Ledger, Result, get, parse};
use crate::now_millis;
use schemas::UserId;
use sea_orm::QueryResult;

/// A registered user.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Inactive users cannot log in.
    pub is_active: bool,
    /// May use admin endpoints.
    pub is_admin: bool,
}

/// A user's standing as an access check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserAccess {
    /// Cleared by an operator: every token of the user stops working.
    pub is_active: bool,
    /// Current role (the token's claim is not trusted for it).
    pub is_admin: bool,
    /// The token's refresh family was revoked (a refresh token was reused).
    pub session_revoked: bool,
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum RefreshUse {
    /// First use: issue a new pair in the same family.
    Valid {
        /// The token's user.
        user: UserId,
        /// The rotation family.
        family: String,
    },
    /// Unknown, expired or revoked.
    Unknown,
    /// Used before: the family is now revoked.
    Reused,
}

impl Ledger {
    // ---- users ----

    /// Creates a user; [`LedgerError::Conflict`] if the e-mail is taken.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<UserRecord> {
        let id = UserId::new();
        self.exec(
            "INSERT INTO users (id, email, password_hash, is_active, is_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![id.to_string().into(), email.into(), password_hash.into(), true.into(), is_admin.into(), now_millis().into()],
        )
        .await?;
        Ok(UserRecord {
            id,
            email: email.to_string(),
            password_hash: password_hash.to_string(),
            is_active: true,
            is_admin,
        })
    }

    fn user_from(row: &QueryResult) -> Result<UserRecord> {
        Ok(UserRecord {
            id: parse(&get::<String>(row, "id")?, "user id")?,
            email: get(row, "email")?,
            password_hash: get(row, "password_hash")?,
            is_active: get(row, "is_active")?,
            is_admin: get(row, "is_admin")?,
        })
    }

    /// Looks a user up by login name.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        self.one(
            "SELECT id, email, password_hash, is_active, is_admin FROM users WHERE email = $1",
            vec![email.into()],
        )
        .await?
        .as_ref()
        .map(Self::user_from)
        .transpose()
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.one(
            "SELECT id, email, password_hash, is_active, is_admin FROM users WHERE id = $1",
            vec![id.to_string().into()],
        )
        .await?
        .as_ref()
        .map(Self::user_from)
        .transpose()
    }

    /// Looks a user up for sign-in: the row whose e-mail is exactly
    /// `typed` (an account kept with its original spelling because it
    /// collided with another when e-mails were case-folded), else the row
    /// of `folded` (the normal case). One query either way.
    pub async fn user_for_login(&self, typed: &str, folded: &str) -> Result<Option<UserRecord>> {
        self.one(
            "SELECT id, email, password_hash, is_active, is_admin FROM users WHERE email = $1 OR email = $2 \
             ORDER BY CASE WHEN email = $1 THEN 0 ELSE 1 END LIMIT 1",
            vec![typed.into(), folded.into()],
        )
        .await?
        .as_ref()
        .map(Self::user_from)
        .transpose()
    }

    /// What an access token of `user` in refresh family `family` may do
    /// now: the user's current flags and whether the family was revoked
    /// (refresh-token reuse). `None` when the user no longer exists.
    pub async fn user_access(
        &self,
        user: UserId,
        family: Option<&str>,
    ) -> Result<Option<UserAccess>> {
        let Some(row) = self
            .one(
                "SELECT u.is_active, u.is_admin, \
                 (SELECT COUNT(*) FROM refresh_tokens r WHERE r.family = $2 AND r.user_id = $1 AND r.revoked_at IS NOT NULL) AS revoked \
                 FROM users u WHERE u.id = $1",
                vec![user.to_string().into(), family.unwrap_or_default().into()],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(UserAccess {
            is_active: get(&row, "is_active")?,
            is_admin: get(&row, "is_admin")?,
            session_revoked: get::<i64>(&row, "revoked")? > 0,
        }))
    }

    // ---- refresh tokens ----

    /// Stores a new refresh token (by hash) in `family`.
    pub async fn store_refresh_token(
        &self,
        user: UserId,
        family: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
            vec![token_hash.into(), user.to_string().into(), family.into(), expires_at.into(), now_millis().into()],
        )
        .await?;
        Ok(())
    }

    /// Uses a refresh token once. A token used before is a theft signal:
    /// its whole family is revoked and `Reused` returned.
    pub async fn use_refresh_token(&self, token_hash: &str) -> Result<RefreshUse> {
        let Some(row) = self
            .one(
                "SELECT user_id, family, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                vec![token_hash.into()],
            )
            .await?
        else {
            return Ok(RefreshUse::Unknown);
        };
        let family: String = get(&row, "family")?;
        let user: UserId = parse(&get::<String>(&row, "user_id")?, "user id")?;
        let revoked: Option<i64> = get(&row, "revoked_at")?;
        let expires_at: i64 = get(&row, "expires_at")?;
        let now = now_millis();
        if revoked.is_some() || expires_at < now {
            return Ok(RefreshUse::Unknown);
        }
        let claimed = self
            .exec(
                "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
                vec![now.into(), token_hash.into()],
            )
            .await?;
        if claimed == 0 {
            self.exec(
                "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
                vec![now.into(), family.into()],
            )
            .await?;
            return Ok(RefreshUse::Reused);
        }
        Ok(RefreshUse::Valid { user, family })
    }
}
