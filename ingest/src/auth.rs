//! Accounts and access checks: passwords (argon2id), the password and
//! e-mail policy, access tokens (HS256 JWT) and the per-request check of
//! the token's user.
//!
//! A valid signature is not enough: every authenticated request (and the
//! websocket at connect and at each heartbeat) looks up the user's current
//! `is_active` flag and role and whether the token's session (its refresh
//! family, claim `sid`) was revoked by refresh-token reuse. The answer is
//! cached per (user, session) for [`ACCESS_CHECK_TTL`], so deactivation,
//! a role change or a revocation takes effect within that many seconds
//! while a busy client costs one small query per TTL. The role always comes
//! from the database; the token's `adm` claim is informational only.
//!
//! Tokens issued before sessions existed have no `sid`: they are accepted
//! (still subject to the user and role checks) until they expire, one
//! access-token lifetime after the upgrade, so an upgrade signs nobody out;
//! only a refresh-reuse revocation cannot reach them.

use crate::problem::ApiError;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use runtime::jobs::{Ledger, UserAccess, UserRecord};
use schemas::UserId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a per-request access check (user active, role, session not
/// revoked) is reused: the longest a deactivation, demotion or revocation
/// takes to reach an access token already handed out.
pub const ACCESS_CHECK_TTL: Duration = Duration::from_secs(5);
/// Cached access checks kept at most; beyond it expired ones are dropped
/// (and all of them if that is not enough), so memory stays bounded.
pub const ACCESS_CACHE_ENTRIES: usize = 10_000;
/// Shortest accepted password, in characters (not bytes).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password, in characters (argon2 hashes any length, but
/// megabytes of password are a denial of service).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest accepted e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Passwords refused as too common, one per line (`#` starts a comment).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");
/// The answer to a failed sign-in, whether the e-mail exists or not.
pub const LOGIN_FAILED: &str = "wrong email or password";
/// The answer to registering a taken e-mail: 409 like before (so clients
/// such as `c4forge login --register` go on to sign in), but it does not
/// name the account.
pub const REGISTER_REFUSED: &str =
    "this e-mail address cannot be registered; if it is yours, sign in instead";

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, made once per process with the same
/// parameters as real ones: sign-in verifies against it when the e-mail is
/// unknown, so an unknown and a known e-mail cost the same argon2 work.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = hex::encode(rand::random::<[u8; 16]>());
        hash_password(&random).unwrap_or_default()
    })
}

/// The PHC string sign-in verifies against: the user's, or the dummy.
fn verification_target(user: Option<&UserRecord>) -> &str {
    match user {
        Some(u) => &u.password_hash,
        None => dummy_hash(),
    }
}

/// Whether `password` signs `user` in. Runs one argon2 verification
/// whether or not the user exists (against [`dummy_hash`] if not), so the
/// answer time does not tell which e-mails have accounts.
pub fn check_login(password: &str, user: Option<&UserRecord>) -> bool {
    let matches = verify_password(password, verification_target(user));
    matches && user.is_some()
}

/// An e-mail address as stored and looked up: trimmed, ASCII letters
/// lowercased (the same folding as SQL `LOWER` on every backend, which the
/// migration of existing rows uses). Only for lookups; [`valid_email`]
/// checks new addresses.
pub fn fold_email(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

/// Checks the syntax of an address for a new account and returns it
/// folded: one `@`, a non-empty local part, a domain with a dot and no
/// empty labels, no spaces or control characters, at most
/// [`MAX_EMAIL_CHARS`] characters.
pub fn valid_email(email: &str) -> Result<String, ApiError> {
    let email = fold_email(email);
    let bad = |why: &str| {
        ApiError::Unprocessable(format!(
            "email `{}` is not an e-mail address: {why}",
            email.chars().take(MAX_EMAIL_CHARS).collect::<String>()
        ))
    };
    if email.is_empty() {
        return Err(ApiError::Unprocessable("email is empty".into()));
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "email is longer than {MAX_EMAIL_CHARS} characters"
        )));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains a space or a control character"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(bad("it has no `@`"));
    };
    if domain.contains('@') {
        return Err(bad("it has more than one `@`"));
    }
    if local.is_empty() {
        return Err(bad("nothing before the `@`"));
    }
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err(bad(
            "the domain after the `@` needs a dot between non-empty parts (example.com)",
        ));
    }
    Ok(email)
}

fn common_passwords() -> &'static std::collections::HashSet<String> {
    static SET: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_lowercase)
            .collect()
    })
}

/// The password policy of new accounts: [`MIN_PASSWORD_CHARS`] to
/// [`MAX_PASSWORD_CHARS`] characters, not only whitespace, not a common
/// password, not the e-mail address.
pub fn check_password_policy(password: &str, email: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "password must have at least {MIN_PASSWORD_CHARS} characters (it has {chars})"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "password must have at most {MAX_PASSWORD_CHARS} characters (it has {chars})"
        )));
    }
    if password.chars().all(char::is_whitespace) {
        return Err(ApiError::Unprocessable(
            "password must not be only spaces".into(),
        ));
    }
    let lower = password.to_lowercase();
    if common_passwords().contains(&lower) {
        return Err(ApiError::Unprocessable(
            "password is one of the most common passwords; choose another".into(),
        ));
    }
    if lower.trim() == fold_email(email) {
        return Err(ApiError::Unprocessable(
            "password must not be the e-mail address".into(),
        ));
    }
    Ok(())
}

/// Access token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry (seconds since epoch).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Admin role when issued (informational: access checks read the
    /// current role from the database).
    #[serde(default)]
    pub adm: bool,
    /// The session: the refresh-token family the token was issued with,
    /// so revoking the family (refresh-token reuse) revokes the token.
    /// Absent in tokens issued before sessions existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Cached answers of the per-request access check, keyed by user and
/// session, each valid for [`ACCESS_CHECK_TTL`].
#[derive(Debug, Default)]
struct AccessCache {
    entries: Mutex<HashMap<SessionKey, (Instant, Option<UserAccess>)>>,
}

/// A user and the session (`sid`) of a token.
type SessionKey = (UserId, Option<String>);

impl AccessCache {
    fn get(&self, key: &SessionKey) -> Option<Option<UserAccess>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < ACCESS_CHECK_TTL)
            .map(|(_, access)| *access)
    }

    fn put(&self, key: SessionKey, access: Option<UserAccess>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= ACCESS_CACHE_ENTRIES {
                entries.retain(|_, (at, _)| at.elapsed() < ACCESS_CHECK_TTL);
                if entries.len() >= ACCESS_CACHE_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(key, (Instant::now(), access));
        }
    }
}

/// Signs and verifies access tokens with one shared secret, and checks
/// their user's current standing (through a short-lived cache).
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: u64,
    cache: AccessCache,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from a secret; tokens live `ttl_secs`.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        // Made now rather than at the first unknown-e-mail sign-in, which
        // would otherwise cost one argon2 hash more than the others.
        let _ = dummy_hash();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_secs,
            cache: AccessCache::default(),
        }
    }

    /// Token lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Issues an access token for `user` in session `sid` (the refresh
    /// family issued with it).
    pub fn issue(&self, user: UserId, admin: bool, sid: &str) -> Result<String, ApiError> {
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
        let claims = Claims {
            sub: user.to_string(),
            exp: now + self.ttl_secs,
            iat: now,
            adm: admin,
            sid: Some(sid.to_string()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))
    }

    fn decode(&self, token: &str, check_expiry: bool) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.validate_exp = check_expiry;
        if !check_expiry {
            validation.required_spec_claims.remove("exp");
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// The claims of a valid, unexpired token (signature and expiry only;
    /// [`TokenKeys::authorize`] also checks the user).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.decode(token, true)
    }

    /// The user of a validly signed, unexpired token (no user check).
    pub fn verify_user(&self, token: &str) -> Option<UserId> {
        self.verify(token).and_then(|c| c.sub.parse().ok())
    }

    /// The caller of `token` as of now: the signature (and, unless
    /// `check_expiry` is false, the expiry) is valid, the user exists and
    /// is active and the session was not revoked; the role is the current
    /// one. Database answers are cached for [`ACCESS_CHECK_TTL`].
    pub async fn authorize(
        &self,
        ledger: &Ledger,
        token: &str,
        check_expiry: bool,
    ) -> Result<AuthUser, ApiError> {
        let claims = self
            .decode(token, check_expiry)
            .ok_or_else(|| ApiError::Unauthorized("invalid or expired access token".into()))?;
        let id: UserId = claims
            .sub
            .parse()
            .map_err(|_| ApiError::Unauthorized("invalid token subject".into()))?;
        let key = (id, claims.sid);
        let access = match self.cache.get(&key) {
            Some(access) => access,
            None => {
                let access = ledger.user_access(id, key.1.as_deref()).await?;
                self.cache.put(key, access);
                access
            }
        };
        match access {
            None => Err(ApiError::Unauthorized(
                "the token's account no longer exists".into(),
            )),
            Some(a) if !a.is_active => {
                Err(ApiError::Unauthorized("this account is deactivated".into()))
            }
            Some(a) if a.session_revoked => Err(ApiError::Unauthorized(
                "this session was revoked (a refresh token was used twice); sign in again".into(),
            )),
            Some(a) => Ok(AuthUser {
                id,
                admin: a.is_admin,
            }),
        }
    }
}

/// The token of an `Authorization` header value: scheme `Bearer` in any
/// case (RFC 7235 schemes are case-insensitive), then the token.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What the websocket's token check returns: the user, or `None`.
type WsCheck = std::pin::Pin<Box<dyn std::future::Future<Output = Option<UserId>> + Send>>;

/// The websocket's token check (connect: full check; recheck at each
/// heartbeat: the same without the expiry, so a connection outlives its
/// token but not its user's deactivation or its session's revocation).
///
/// When the database cannot answer, a validly signed token is let through
/// (as before per-request checks existed) instead of closing every
/// websocket during a database outage; the next heartbeat checks again.
pub fn websocket_verifier(keys: Arc<TokenKeys>, ledger: Ledger) -> notifier::TokenVerifier {
    Arc::new(
        move |token: String, check: notifier::TokenCheck| -> WsCheck {
            let keys = keys.clone();
            let ledger = ledger.clone();
            Box::pin(async move {
                let check_expiry = check == notifier::TokenCheck::Connect;
                match keys.authorize(&ledger, &token, check_expiry).await {
                    Ok(user) => Some(user.id),
                    Err(ApiError::Unavailable(_)) => keys
                        .decode(&token, check_expiry)
                        .and_then(|c| c.sub.parse().ok()),
                    Err(_) => None,
                }
            })
        },
    )
}

/// An authenticated caller, extracted from `Authorization: Bearer`.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// The user.
    pub id: UserId,
    /// Admin role (current, from the database).
    pub admin: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_when_equal() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
    }

    /// The PHC prefix before the salt: algorithm, version and parameters.
    fn phc_params(phc: &str) -> String {
        phc.split('$').take(4).collect::<Vec<_>>().join("$")
    }

    #[test]
    fn sign_in_of_an_unknown_email_verifies_against_a_real_argon2_hash() {
        // The work of an unknown e-mail is a verification against the dummy
        // hash: a parseable argon2id hash with the parameters real hashes
        // have (an unparseable one would fail fast and leak the difference).
        let target = verification_target(None);
        assert!(PasswordHash::new(target).is_ok(), "{target}");
        let real = hash_password("some password").expect("hash");
        assert_eq!(phc_params(target), phc_params(&real));
        // Made once: the same for every call.
        assert_eq!(verification_target(None), target);
        // And it never signs anyone in.
        assert!(!check_login("", None));
        assert!(!check_login("some password", None));
        let user = UserRecord {
            id: UserId::new(),
            email: "a@example.com".into(),
            password_hash: real,
            is_active: true,
            is_admin: false,
        };
        assert_eq!(verification_target(Some(&user)), user.password_hash);
        assert!(check_login("some password", Some(&user)));
        assert!(!check_login("other password", Some(&user)));
    }

    #[test]
    fn tokens_round_trip_and_reject_other_keys() {
        let keys = TokenKeys::new(b"one secret", 60);
        let user = UserId::new();
        let token = keys.issue(user, false, "family").expect("issue");
        assert_eq!(keys.verify_user(&token), Some(user));
        assert_eq!(
            keys.verify(&token).and_then(|c| c.sid).as_deref(),
            Some("family")
        );
        assert_eq!(TokenKeys::new(b"another", 60).verify_user(&token), None);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn emails_are_checked_and_folded() {
        assert_eq!(
            valid_email("  Alice@Example.COM ").expect("valid"),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@example",
            "alice@@example.com",
            "a@b@example.com",
            "al ice@example.com",
            "alice@example..com",
            "alice@.example.com",
            "alice\u{7}@example.com",
        ] {
            assert!(valid_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(valid_email(&long).is_err());
    }

    #[test]
    fn password_policy_counts_characters_and_refuses_common_ones() {
        let ok = |p: &str| check_password_policy(p, "me@example.com").is_ok();
        // The README's example.
        assert!(ok("change-me-please"));
        assert!(ok("correct horse battery"));
        // Twelve characters of four bytes each pass; 11 do not.
        assert!(ok(&"é".repeat(12)));
        assert!(!ok(&"é".repeat(11)));
        let msg = check_password_policy("short", "me@example.com")
            .expect_err("short")
            .to_string();
        assert!(msg.contains("12 characters"), "{msg}");
        assert!(!ok("password"));
        assert!(!ok("12345678"));
        assert!(!ok(&" ".repeat(8)));
        assert!(!ok(&" ".repeat(20)));
        assert!(!ok("Password1234"));
        assert!(!ok("qwertyuiop123"));
        assert!(!ok("me@example.com"));
        assert!(!ok(&"x".repeat(MAX_PASSWORD_CHARS + 1)));
        assert!(common_passwords().len() >= 100);
    }
}
