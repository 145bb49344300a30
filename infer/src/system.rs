//! The system test plan of a generated project (`tests/system_plan.json`):
//! which services to start and with which compose environment, and one check
//! per relationship that crosses a process or reaches infrastructure.
//!
//! `tests/test_system.py` (static code, `pytest -m system`) reads the plan,
//! starts every service as its own process with the environment compose
//! gives it (compose host names rewritten to loopback ports and to the
//! `SYSTEM_TEST_*` infrastructure), performs the checks and stops everything.
//! Keeping the data in JSON keeps the Python free of generated literals.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::project::{DepKind, Project, TestKind};
use crate::techmap::Tech;
use crate::typed::Typed;

/// A service process to start.
#[derive(Debug, Clone, Serialize)]
pub struct SysService {
    /// Compose host name (the key other entries use).
    pub host: String,
    /// Module run with `python -m`.
    pub module: String,
    /// Prefix of its settings' environment variables.
    pub env_prefix: String,
    /// Its compose environment (name, value), compose host names included.
    pub env: Vec<(String, String)>,
    /// Whether it serves gRPC (gets a second port).
    pub grpc: bool,
}

/// A consumer a message should reach.
#[derive(Debug, Clone, Serialize)]
pub struct SysConsumer {
    /// Host of the service that runs it.
    pub host: String,
    /// `amqp` or `kafka`.
    pub kind: String,
    /// Exchange (AMQP).
    pub exchange: String,
    /// Routing key or topic.
    pub routing_key: String,
    /// Queue (AMQP) or group (Kafka), removed afterwards.
    pub queue: String,
    /// The line the handler logs when it receives a message.
    pub log: String,
}

/// One relationship performed across processes.
#[derive(Debug, Clone, Serialize)]
pub struct SysCheck {
    /// Relationship id.
    pub rel_id: String,
    /// Index in a dynamic diagram, if any.
    pub index: Option<String>,
    /// `http` (client to running service), `route` (request to a running
    /// service), `grpc`, `sql`, `redis`, `produce` (producer to broker, then the
    /// consumers), `consume` (broker to a running consumer), `skip`.
    pub kind: String,
    /// Why it is skipped (`skip`), else empty.
    pub why: String,
    /// Module of the class used (client, repository, cache, producer).
    pub module: String,
    /// That class.
    pub class: String,
    /// Method called on it (clients) or route path (routes).
    pub method: String,
    /// HTTP method (`route`).
    pub http: String,
    /// URL path (`route`), parameters filled in.
    pub path: String,
    /// Host of the service called or consumed by.
    pub target: String,
    /// Path parameter values (JSON).
    pub params: Vec<serde_json::Value>,
    /// Request model and where it is defined (empty: none).
    pub request_model: String,
    /// Module defining the models.
    pub models_module: String,
    /// Whether `request_model` is a declared model with `example()`.
    pub typed_request: bool,
    /// Whether the request goes as JSON body (else query).
    pub body: bool,
    /// Database host (`sql`: a database of its own per host).
    pub database: String,
    /// Entities to write and read (`sql`): (class, key field, repository attribute).
    pub entities: Vec<(String, String, String)>,
    /// `amqp` or `kafka` (queue checks).
    pub broker: String,
    /// What the target service logs when its handler runs (`name: ` of the
    /// handler method), for the order of a flow; empty when nothing is logged.
    pub handler: String,
    /// Message model (queues), empty: a JSON object.
    pub message: String,
    /// Consumers that must receive the message.
    pub consumers: Vec<SysConsumer>,
}

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct SystemPlan {
    /// The do-not-edit line and the source, as every generated file has.
    #[serde(rename = "_comment")]
    pub comment: String,
    /// Root package (`models` lives there).
    pub package: String,
    /// Services to start.
    pub services: Vec<SysService>,
    /// Compose hosts by what they are: `sql`, `redis`, `amqp`, `kafka`.
    pub infra: BTreeMap<String, String>,
    /// Checks, in relationship order.
    pub checks: Vec<SysCheck>,
    /// Dynamic flows: relationship ids in call order.
    pub flows: Vec<Vec<String>>,
}

fn json_example(py: &str, example: &str) -> serde_json::Value {
    if py == "int" {
        serde_json::Value::from(example.parse::<i64>().unwrap_or(1))
    } else {
        serde_json::Value::from(example.trim_matches('"').to_string())
    }
}

/// Builds the plan of `p`.
pub fn plan(p: &Project, typed: &Typed) -> SystemPlan {
    let mut infra = BTreeMap::new();
    for d in p.databases.iter().filter(|d| !d.external) {
        let kind = if d.tech == Tech::Redis {
            "redis"
        } else {
            "sql"
        };
        infra.insert(d.host.clone(), kind.to_string());
    }
    for b in p.brokers.iter().filter(|b| !b.external) {
        let kind = if b.tech == Tech::Kafka {
            "kafka"
        } else {
            "amqp"
        };
        infra.insert(b.host.clone(), kind.to_string());
    }
    let services = p
        .services
        .iter()
        .map(|s| SysService {
            host: s.host.clone(),
            module: s.module.clone(),
            env_prefix: s.env_prefix.clone(),
            env: s.env.clone(),
            grpc: s.grpc.is_some(),
        })
        .collect();
    let host_of_module: BTreeMap<&str, &str> = p
        .services
        .iter()
        .map(|s| (s.module.as_str(), s.host.as_str()))
        .collect();
    // Consumers and repositories by relationship id.
    let mut consumers: BTreeMap<&str, Vec<SysConsumer>> = BTreeMap::new();
    let mut db_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut all_consumers: Vec<SysConsumer> = Vec::new();
    for s in &p.services {
        for c in &s.consumers {
            let sc = SysConsumer {
                host: s.host.clone(),
                kind: c.kind.to_string(),
                exchange: c.exchange.clone(),
                routing_key: c.routing_key.clone(),
                queue: c.queue.clone(),
                log: c.method.clone(),
            };
            for id in &c.rel_ids {
                consumers.entry(id).or_default().push(sc.clone());
            }
            all_consumers.push(sc);
        }
        for d in s
            .deps
            .iter()
            .filter(|d| matches!(d.kind, DepKind::Sql | DepKind::Redis))
        {
            let host = p
                .databases
                .iter()
                .find(|db| db.alias == d.target)
                .map(|db| db.host.clone())
                .unwrap_or_default();
            for id in &d.rel_ids {
                db_of.insert(id, host.clone());
            }
        }
    }
    let mut checks = Vec::new();
    for r in &p.relations {
        let t = &r.spec;
        let mut c = SysCheck {
            rel_id: r.id.clone(),
            index: r.index.clone(),
            kind: String::new(),
            why: String::new(),
            module: t.module.clone(),
            class: t.class.clone(),
            method: t.method.clone(),
            http: t.http.to_string(),
            path: t.path.clone(),
            target: host_of_module
                .get(t.provider.as_str())
                .map(|h| h.to_string())
                .unwrap_or_default(),
            params: t
                .params
                .iter()
                .map(|p| json_example(&p.py, &p.example))
                .collect(),
            request_model: t.request_model.clone(),
            models_module: t.models_module.clone(),
            typed_request: typed.models.contains_key(&t.request_model),
            body: t.body,
            database: db_of.get(r.id.as_str()).cloned().unwrap_or_default(),
            entities: Vec::new(),
            broker: match t.kind {
                TestKind::AmqpProduce | TestKind::AmqpConsume => "amqp".to_string(),
                TestKind::KafkaProduce | TestKind::KafkaConsume => "kafka".to_string(),
                _ => String::new(),
            },
            handler: p
                .services
                .iter()
                .flat_map(|s| s.routes.iter())
                .find(|x| x.rel_ids.contains(&r.id))
                .map(|x| x.method.clone())
                .or_else(|| {
                    p.services
                        .iter()
                        .flat_map(|s| s.grpc.iter().flat_map(|g| g.rpcs.iter()))
                        .find(|x| x.rel_ids.contains(&r.id))
                        .map(|x| x.method.clone())
                })
                .unwrap_or_default(),
            message: t.message.clone(),
            consumers: consumers.get(r.id.as_str()).cloned().unwrap_or_default(),
        };
        for prm in &t.params {
            c.path = c
                .path
                .replace(&format!("{{{}}}", prm.name), prm.example.trim_matches('"'));
        }
        let skip = |why: &str| ("skip".to_string(), why.to_string());
        let (kind, why) = match t.kind {
            TestKind::HttpInternal => ("http".to_string(), String::new()),
            TestKind::HttpRoute => ("route".to_string(), String::new()),
            TestKind::GrpcInternal => ("grpc".to_string(), String::new()),
            TestKind::Sql if !c.database.is_empty() => {
                let owner = p
                    .services
                    .iter()
                    .find(|s| s.deps.iter().any(|d| d.rel_ids.contains(&r.id)));
                if let Some(s) = owner
                    && let Some(d) = s.deps.iter().find(|d| d.rel_ids.contains(&r.id))
                {
                    c.entities = typed
                        .entities_of(&d.target, &s.aliases)
                        .into_iter()
                        .map(|m| {
                            let attr = format!("{}_repository", m.table);
                            (m.name, m.key, attr)
                        })
                        .collect();
                }
                ("sql".to_string(), String::new())
            }
            TestKind::Redis if !c.database.is_empty() => ("redis".to_string(), String::new()),
            TestKind::AmqpProduce | TestKind::KafkaProduce => {
                ("produce".to_string(), String::new())
            }
            TestKind::AmqpConsume | TestKind::KafkaConsume if !c.consumers.is_empty() => {
                // Broker -> ours: published straight to the broker, since the
                // producer (if any) is another relationship's check.
                ("consume".to_string(), String::new())
            }
            TestKind::Direct => {
                skip("an in-process call between components (its contract test covers it)")
            }
            TestKind::HttpExternal | TestKind::Grpc | TestKind::Generic => {
                skip("the target is outside our systems (its contract test uses a stub)")
            }
            TestKind::Sql | TestKind::Redis => skip("the database is outside our systems"),
            _ => skip("no code implements it (documentation only)"),
        };
        c.kind = kind;
        c.why = why;
        if c.kind == "produce" {
            // Every consumer of ours bound to what the producer publishes,
            // whichever relationship drew it (`api -> bus`, `bus -> worker`).
            let dep = p
                .services
                .iter()
                .flat_map(|s| s.deps.iter())
                .find(|d| d.rel_ids.contains(&r.id));
            if let Some(d) = dep {
                c.consumers = all_consumers
                    .iter()
                    .filter(|x| x.exchange == d.exchange && x.routing_key == d.routing_key)
                    .cloned()
                    .collect();
            }
        }
        checks.push(c);
    }
    let flows = p
        .flows
        .iter()
        .map(|f| f.steps.iter().map(|s| s.rel_id.clone()).collect())
        .collect();
    SystemPlan {
        comment: format!(
            "{}. source: {} (system test plan, read by tests/test_system.py)",
            crate::python_fastapi::DO_NOT_EDIT,
            p.source
        ),
        package: p.package.clone(),
        services,
        infra,
        checks,
        flows,
    }
}
