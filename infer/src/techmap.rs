//! The technology table: the ONE place that maps technology text written in a
//! diagram (`"async, JSON/HTTPS"`, `"JDBC"`, `"RabbitMQ"`) to the Python
//! library the generated code uses, its pip requirement and the container
//! image docker-compose runs for it.
//!
//! Matching is by whole lowercase tokens (split on anything not
//! alphanumeric), first row wins, so `"Kafka over HTTPS"` is Kafka and
//! `"interest"` never matches `rest`.

use serde::Serialize;

/// A communication or storage technology the generator knows how to realise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tech {
    /// Request/response over HTTP (httpx client, FastAPI route).
    Http,
    /// AMQP 0-9-1 broker such as RabbitMQ (aio-pika).
    Amqp,
    /// Apache Kafka (aiokafka).
    Kafka,
    /// gRPC (a channel-injected stub; no grpcio dependency needed to test).
    Grpc,
    /// A SQL database (SQLAlchemy session and repository).
    Sql,
    /// Redis (redis-py).
    Redis,
}

/// One row of the technology table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TechRow {
    /// The technology.
    pub tech: Tech,
    /// Lowercase tokens that select this row.
    pub tokens: &'static [&'static str],
    /// Python library used by generated code (for docs).
    pub library: &'static str,
    /// pip requirement added to the generated `pyproject.toml` (empty: none).
    pub requirement: &'static str,
    /// docker-compose image for the infrastructure service (empty: none).
    pub image: &'static str,
    /// Port the infrastructure service listens on.
    pub port: u16,
}

/// The table, in priority order.
pub static TABLE: &[TechRow] = &[
    TechRow {
        tech: Tech::Grpc,
        tokens: &["grpc", "protobuf", "grpcs"],
        library: "grpc (channel injected)",
        requirement: "grpcio>=1.60",
        image: "",
        port: 50051,
    },
    TechRow {
        tech: Tech::Kafka,
        tokens: &["kafka"],
        library: "aiokafka",
        requirement: "aiokafka>=0.11",
        image: "apache/kafka:3.8.0",
        port: 9092,
    },
    TechRow {
        tech: Tech::Amqp,
        tokens: &["amqp", "amqps", "rabbitmq", "rabbit"],
        library: "aio-pika",
        requirement: "aio-pika>=9.4",
        image: "rabbitmq:3.13-management",
        port: 5672,
    },
    TechRow {
        tech: Tech::Redis,
        tokens: &["redis"],
        library: "redis",
        requirement: "redis>=5",
        image: "redis:7",
        port: 6379,
    },
    TechRow {
        tech: Tech::Sql,
        tokens: &[
            "sql",
            "jdbc",
            "odbc",
            "mysql",
            "postgresql",
            "postgres",
            "oracle",
            "mariadb",
            "sqlite",
            "mssql",
            "relational",
            "sqlalchemy",
            "rdbms",
            "tsql",
        ],
        library: "SQLAlchemy",
        requirement: "sqlalchemy>=2.0",
        image: "postgres:16",
        port: 5432,
    },
    TechRow {
        tech: Tech::Http,
        tokens: &[
            "http", "https", "rest", "restful", "json", "xml", "soap", "graphql", "openapi",
            "webhook", "webhooks",
        ],
        library: "httpx",
        requirement: "httpx>=0.27",
        image: "",
        port: 8000,
    },
];

/// The row of a technology.
pub fn row(tech: Tech) -> &'static TechRow {
    // Every Tech variant has exactly one row (checked by a unit test).
    TABLE
        .iter()
        .find(|r| r.tech == tech)
        .unwrap_or(&TABLE[TABLE.len() - 1])
}

/// Classifies technology text; `None` when no row matches (including empty text).
pub fn classify(text: &str) -> Option<Tech> {
    // PlantUML's `\n` line break separates tokens (`"HTTPS\nKafka"` names Kafka).
    let lower = text.to_ascii_lowercase().replace("\\n", " ");
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    TABLE
        .iter()
        .find(|r| r.tokens.iter().any(|t| tokens.contains(t)))
        .map(|r| r.tech)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tech_has_a_row() {
        for t in [
            Tech::Http,
            Tech::Amqp,
            Tech::Kafka,
            Tech::Grpc,
            Tech::Sql,
            Tech::Redis,
        ] {
            assert_eq!(row(t).tech, t);
        }
    }

    #[test]
    fn classifies_corpus_texts() {
        assert_eq!(classify("async, JSON/HTTPS"), Some(Tech::Http));
        assert_eq!(classify("sync, JDBC"), Some(Tech::Sql));
        assert_eq!(classify("Oracle 12c"), Some(Tech::Sql));
        assert_eq!(classify("MySQL"), Some(Tech::Sql));
        assert_eq!(classify("RabbitMQ"), Some(Tech::Amqp));
        assert_eq!(classify("Kafka over HTTPS"), Some(Tech::Kafka));
        assert_eq!(classify("gRPC"), Some(Tech::Grpc));
        assert_eq!(classify("Redis cache"), Some(Tech::Redis));
        assert_eq!(classify("sync, SMTP"), None);
        assert_eq!(classify("interest"), None);
        assert_eq!(classify("async,\\nKafka"), Some(Tech::Kafka));
        assert_eq!(classify("kaf\\nka"), None);
        assert_eq!(classify(""), None);
    }
}
