//! Configuration loading: defaults < `c4forge.toml` < `C4FORGE_*`
//! environment < command-line flags.

use anyhow::{Context, Result, bail};
use runtime::Config;
use std::path::Path;

/// Environment variables read on top of the file, with what they set.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("C4FORGE_DATA_DIR", "data_dir"),
    ("C4FORGE_LISTEN", "http.listen"),
    ("C4FORGE_PUBLIC_URL", "http.public_url"),
    ("C4FORGE_MAX_UPLOAD_BYTES", "http.max_upload_bytes"),
    ("C4FORGE_ADMIN_LISTEN", "http.admin_listen"),
    ("C4FORGE_UPLOADS_PER_MINUTE", "http.uploads_per_minute"),
    ("C4FORGE_AUTH_PER_MINUTE", "http.auth_per_minute"),
    ("C4FORGE_MAX_ACTIVE_JOBS", "http.max_active_jobs"),
    ("C4FORGE_CORS_ORIGINS", "http.cors_origins"),
    (
        "C4FORGE_HEADER_READ_TIMEOUT_SECS",
        "http.header_read_timeout_secs",
    ),
    (
        "C4FORGE_BODY_READ_TIMEOUT_SECS",
        "http.body_read_timeout_secs",
    ),
    ("C4FORGE_IDLE_TIMEOUT_SECS", "http.idle_timeout_secs"),
    ("C4FORGE_MAX_CONNECTIONS", "http.max_connections"),
    (
        "C4FORGE_MAX_WEBSOCKETS_PER_USER",
        "http.max_websockets_per_user",
    ),
    ("C4FORGE_BUS", "bus.url"),
    ("C4FORGE_BUS_PREFIX", "bus.prefix"),
    ("C4FORGE_PREFETCH", "bus.prefetch"),
    ("C4FORGE_DATABASE", "database.url"),
    (
        "C4FORGE_DATABASE_MAX_CONNECTIONS",
        "database.max_connections",
    ),
    (
        "C4FORGE_DATABASE_SQLITE_FULL_SYNC",
        "database.sqlite_full_sync",
    ),
    ("C4FORGE_OBJECTS", "objects.url"),
    ("C4FORGE_JWT_SECRET", "auth.jwt_secret"),
    ("C4FORGE_TOKEN_TTL_SECS", "auth.token_ttl_secs"),
    ("C4FORGE_REFRESH_TTL_SECS", "auth.refresh_ttl_secs"),
    ("C4FORGE_ALLOW_REGISTER", "auth.allow_register"),
    ("C4FORGE_MAX_ATTEMPTS", "stages.max_attempts"),
    ("C4FORGE_RETRY_BASE_MS", "stages.retry_base_ms"),
    ("C4FORGE_RETRY_MAX_MS", "stages.retry_max_ms"),
    ("C4FORGE_STALE_AFTER_SECS", "stages.stale_after_secs"),
    ("C4FORGE_RUN_TIMEOUT_SECS", "stages.run_timeout_secs"),
    ("C4FORGE_LEASE_SECS", "stages.lease_secs"),
    ("C4FORGE_HEARTBEAT_SECS", "stages.heartbeat_secs"),
    ("C4FORGE_FILL_URL", "fill.url"),
    ("C4FORGE_FILL_MODEL", "fill.models"),
    ("C4FORGE_FILL_API_KEY", "fill.api_key"),
    ("C4FORGE_FILL_PYTHON", "fill.python"),
    ("C4FORGE_FILL_MAX_REQUESTS", "fill.max_requests"),
    ("C4FORGE_FILL_MAX_SECONDS", "fill.max_seconds"),
    (
        "C4FORGE_FILL_REQUEST_TIMEOUT_SECS",
        "fill.request_timeout_secs",
    ),
    ("C4FORGE_FILL_MAX_RETRIES", "fill.max_retries"),
    ("C4FORGE_FILL_CONCURRENCY", "fill.concurrency"),
    ("C4FORGE_GENERATE_MAX_ELEMENTS", "generate.max_elements"),
    (
        "C4FORGE_GENERATE_MAX_RELATIONSHIPS",
        "generate.max_relationships",
    ),
    ("C4FORGE_GENERATE_MAX_TEXT_BYTES", "generate.max_text_bytes"),
    (
        "C4FORGE_GENERATE_MAX_OUTPUT_BYTES",
        "generate.max_output_bytes",
    ),
    (
        "C4FORGE_GENERATE_DEFLATE_ABOVE_BYTES",
        "generate.deflate_above_bytes",
    ),
];

fn parse_env<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("environment variable {name}={value:?} is not a valid value"))
}

/// Loads the configuration. `file` is an explicit path (must exist);
/// without it `./c4forge.toml` is read when present.
pub fn load(file: Option<&Path>, lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
    let mut cfg = match file {
        Some(path) => read_file(path)?,
        None if Path::new("c4forge.toml").exists() => read_file(Path::new("c4forge.toml"))?,
        None => Config::default(),
    };
    for (name, field) in ENV_VARS {
        let Some(v) = lookup(name) else { continue };
        match *field {
            "data_dir" => cfg.data_dir = v.into(),
            "http.listen" => cfg.http.listen = v,
            "http.public_url" => cfg.http.public_url = v,
            "http.max_upload_bytes" => cfg.http.max_upload_bytes = parse_env(name, &v)?,
            "http.admin_listen" => cfg.http.admin_listen = v,
            "http.uploads_per_minute" => cfg.http.uploads_per_minute = parse_env(name, &v)?,
            "http.auth_per_minute" => cfg.http.auth_per_minute = parse_env(name, &v)?,
            "http.max_active_jobs" => cfg.http.max_active_jobs = parse_env(name, &v)?,
            "http.cors_origins" => {
                cfg.http.cors_origins = v
                    .split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(String::from)
                    .collect();
            }
            "http.header_read_timeout_secs" => {
                cfg.http.header_read_timeout_secs = parse_env(name, &v)?;
            }
            "http.body_read_timeout_secs" => cfg.http.body_read_timeout_secs = parse_env(name, &v)?,
            "http.idle_timeout_secs" => cfg.http.idle_timeout_secs = parse_env(name, &v)?,
            "http.max_connections" => cfg.http.max_connections = parse_env(name, &v)?,
            "http.max_websockets_per_user" => {
                cfg.http.max_websockets_per_user = parse_env(name, &v)?;
            }
            "bus.url" => cfg.bus.url = v,
            "bus.prefix" => cfg.bus.prefix = v,
            "bus.prefetch" => cfg.bus.prefetch = parse_env(name, &v)?,
            "database.url" => cfg.database.url = v,
            "database.max_connections" => cfg.database.max_connections = parse_env(name, &v)?,
            "database.sqlite_full_sync" => cfg.database.sqlite_full_sync = parse_env(name, &v)?,
            "objects.url" => cfg.objects.url = v,
            "auth.jwt_secret" => cfg.auth.jwt_secret = v,
            "auth.token_ttl_secs" => cfg.auth.token_ttl_secs = parse_env(name, &v)?,
            "auth.refresh_ttl_secs" => cfg.auth.refresh_ttl_secs = parse_env(name, &v)?,
            "auth.allow_register" => cfg.auth.allow_register = parse_env(name, &v)?,
            "stages.max_attempts" => cfg.stages.max_attempts = parse_env(name, &v)?,
            "stages.retry_base_ms" => cfg.stages.retry_base_ms = parse_env(name, &v)?,
            "stages.retry_max_ms" => cfg.stages.retry_max_ms = parse_env(name, &v)?,
            "stages.stale_after_secs" => cfg.stages.stale_after_secs = parse_env(name, &v)?,
            "stages.run_timeout_secs" => cfg.stages.run_timeout_secs = parse_env(name, &v)?,
            "stages.lease_secs" => cfg.stages.lease_secs = parse_env(name, &v)?,
            "stages.heartbeat_secs" => cfg.stages.heartbeat_secs = parse_env(name, &v)?,
            "generate.max_elements" => cfg.generate.max_elements = parse_env(name, &v)?,
            "generate.max_relationships" => {
                cfg.generate.max_relationships = parse_env(name, &v)?;
            }
            "generate.max_text_bytes" => cfg.generate.max_text_bytes = parse_env(name, &v)?,
            "generate.max_output_bytes" => cfg.generate.max_output_bytes = parse_env(name, &v)?,
            "generate.deflate_above_bytes" => {
                cfg.generate.deflate_above_bytes = parse_env(name, &v)?;
            }
            "fill.url" => cfg.fill.url = v,
            "fill.models" => {
                cfg.fill.models = v
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect();
            }
            "fill.api_key" => cfg.fill.api_key = runtime::config::ApiKey::new(v),
            "fill.python" => cfg.fill.python = v,
            "fill.max_requests" => cfg.fill.max_requests = parse_env(name, &v)?,
            "fill.max_seconds" => cfg.fill.max_seconds = parse_env(name, &v)?,
            "fill.request_timeout_secs" => cfg.fill.request_timeout_secs = parse_env(name, &v)?,
            "fill.max_retries" => cfg.fill.max_retries = parse_env(name, &v)?,
            "fill.concurrency" => cfg.fill.concurrency = parse_env(name, &v)?,
            other => bail!("unhandled setting {other}"),
        }
    }
    if cfg.bus.prefix.is_empty()
        || !cfg
            .bus
            .prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        bail!(
            "bus.prefix {:?} must be non-empty ASCII letters, digits, '.', '_' or '-'",
            cfg.bus.prefix
        );
    }
    cfg.stages.validate()?;
    for (key, value) in [
        (
            "http.header_read_timeout_secs",
            cfg.http.header_read_timeout_secs,
        ),
        (
            "http.body_read_timeout_secs",
            cfg.http.body_read_timeout_secs,
        ),
        ("http.idle_timeout_secs", cfg.http.idle_timeout_secs),
        ("http.max_connections", cfg.http.max_connections as u64),
        ("fill.concurrency", cfg.fill.concurrency as u64),
        ("fill.max_answers", u64::from(cfg.fill.max_answers)),
        ("fill.max_seconds", cfg.fill.max_seconds),
        ("fill.request_timeout_secs", cfg.fill.request_timeout_secs),
        (
            "http.max_websockets_per_user",
            cfg.http.max_websockets_per_user as u64,
        ),
    ] {
        if value == 0 {
            bail!("{key} must be at least 1");
        }
    }
    Ok(cfg)
}

fn read_file(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let cfg = load(None, |k| match k {
            "C4FORGE_BUS" => Some("amqp://localhost".into()),
            "C4FORGE_PREFETCH" => Some("3".into()),
            _ => None,
        })
        .expect("loads");
        assert_eq!(cfg.bus.url, "amqp://localhost");
        assert_eq!(cfg.bus.prefetch, 3);
        assert!(!cfg.is_embedded());
    }

    #[test]
    fn fill_settings_come_from_the_environment_and_the_key_never_shows() {
        let cfg = load(None, |k| match k {
            "C4FORGE_FILL_URL" => Some("http://127.0.0.1:11434/v1".into()),
            "C4FORGE_FILL_MODEL" => Some("qwen2.5-coder:7b, tiny".into()),
            "C4FORGE_FILL_API_KEY" => Some("sk-never-shown".into()),
            _ => None,
        })
        .expect("loads");
        assert!(cfg.fill.enabled());
        assert_eq!(cfg.fill.models, ["qwen2.5-coder:7b", "tiny"]);
        assert_eq!(cfg.fill.api_key.expose(), "sk-never-shown");
        let shown = toml::to_string_pretty(&cfg.masked()).expect("renders");
        assert!(shown.contains("[fill]"), "{shown}");
        assert!(!shown.contains("sk-never-shown"), "{shown}");
        assert!(!format!("{cfg:?}").contains("sk-never-shown"));
        let zero = load(None, |k| {
            (k == "C4FORGE_FILL_CONCURRENCY").then(|| "0".into())
        });
        assert!(zero.is_err_and(|e| e.to_string().contains("fill.concurrency")));
    }

    #[test]
    fn bad_environment_values_are_named() {
        let err = load(None, |k| {
            (k == "C4FORGE_PREFETCH").then(|| "many".to_string())
        })
        .expect_err("rejected");
        assert!(err.to_string().contains("C4FORGE_PREFETCH"), "{err}");
    }

    /// The budget messages of `infer` name keys and variables that exist.
    #[test]
    fn generation_budget_hints_name_real_settings() {
        for (key, env) in [
            infer::limits::MAX_ELEMENTS_KEY,
            infer::limits::MAX_RELATIONSHIPS_KEY,
            infer::limits::MAX_TEXT_BYTES_KEY,
            infer::limits::MAX_OUTPUT_BYTES_KEY,
        ] {
            assert!(ENV_VARS.contains(&(env, key)), "{env} -> {key}");
            let cfg = load(None, |k| (k == env).then(|| "7".to_string())).expect("loads");
            assert_eq!(
                infer::GenerateLimits::from(&cfg.generate).max_elements == 7,
                key == "generate.max_elements"
            );
        }
    }

    #[test]
    fn a_heartbeat_not_below_the_lease_is_refused() {
        let err = load(None, |k| match k {
            "C4FORGE_LEASE_SECS" => Some("10".into()),
            "C4FORGE_HEARTBEAT_SECS" => Some("10".into()),
            _ => None,
        })
        .expect_err("rejected");
        assert!(err.to_string().contains("stages.heartbeat_secs"), "{err}");
    }

    #[test]
    fn connection_limits_come_from_the_environment_and_zero_is_refused() {
        let cfg = load(None, |k| match k {
            "C4FORGE_HEADER_READ_TIMEOUT_SECS" => Some("3".into()),
            "C4FORGE_BODY_READ_TIMEOUT_SECS" => Some("4".into()),
            "C4FORGE_IDLE_TIMEOUT_SECS" => Some("5".into()),
            "C4FORGE_MAX_CONNECTIONS" => Some("6".into()),
            "C4FORGE_MAX_WEBSOCKETS_PER_USER" => Some("7".into()),
            _ => None,
        })
        .expect("loads");
        let h = &cfg.http;
        assert_eq!(
            (
                h.header_read_timeout_secs,
                h.body_read_timeout_secs,
                h.idle_timeout_secs,
                h.max_connections,
                h.max_websockets_per_user
            ),
            (3, 4, 5, 6, 7)
        );
        let err = load(None, |k| {
            (k == "C4FORGE_MAX_CONNECTIONS").then(|| "0".to_string())
        })
        .expect_err("zero refused");
        assert!(err.to_string().contains("http.max_connections"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[http]\nlisten = \"0.0.0.0:1\"\nlistn = 1\n").expect("write");
        let err = load(Some(&p), |_| None).expect_err("rejected");
        assert!(format!("{err:#}").contains("listn"), "{err:#}");
    }
}
