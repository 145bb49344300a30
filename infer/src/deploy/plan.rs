//! The deployment plan of one target: what runs, what it is configured
//! with, and who may talk to whom, decided once from the [`Project`].

use std::collections::{BTreeMap, BTreeSet};

use schemas::deploy::DeployTarget;
use schemas::model::v1::Model;
use serde::Serialize;

use super::nodes::{Placement, placement};
use crate::project::{DepKind, Project};
use crate::techmap::Tech;

/// What a data service runs, from its technology text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// PostgreSQL (also a SQL database with no technology, as compose runs it).
    Postgres,
    /// Redis.
    Redis,
    /// RabbitMQ (any AMQP broker).
    Rabbitmq,
    /// Apache Kafka.
    Kafka,
    /// A SQL database of another engine (MySQL, Oracle, SQL Server...): no
    /// managed mapping; it runs as a workload of its own.
    Other,
}

impl Engine {
    /// The port clients connect to.
    fn port(self) -> u16 {
        match self {
            Self::Postgres | Self::Other => 5432,
            Self::Redis => 6379,
            Self::Rabbitmq => 5672,
            Self::Kafka => 9092,
        }
    }

    /// Whether a client's address holds a credential (a secret, never a
    /// plain environment value).
    fn secret(self) -> bool {
        matches!(self, Self::Postgres | Self::Rabbitmq | Self::Other)
    }
}

/// One environment variable of a workload: a settings field of the service.
#[derive(Debug, Clone, Serialize)]
pub struct EnvVar {
    /// Full name (`ORDERS_API_DB_URL`): the prefix of the settings class and the field.
    pub name: String,
    /// `service`, `grpc` (another workload), `data` (a data service),
    /// `external` (a configurable URL, see [`ExternalUrl`]) or `plain` (`value`).
    pub kind: &'static str,
    /// Host of the workload or data service it points at (`service`, `grpc`, `data`).
    pub target: String,
    /// Identifier of the target (Terraform/Bicep names).
    pub target_ident: String,
    /// Engine of the data service (`data`).
    pub engine: Option<Engine>,
    /// The value (`plain`) or the variable name (`external`).
    pub value: String,
    /// Holds a credential: delivered as a secret, never inline.
    pub secret: bool,
    /// Secret name (kebab, unique per workload), when `secret`.
    pub secret_name: String,
}

/// One generated service as a workload.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// Primary alias.
    pub alias: String,
    /// Aliases it implements.
    pub aliases: Vec<String>,
    /// Display name.
    pub name: String,
    /// Host name (kebab): the name of the workload everywhere.
    pub host: String,
    /// Identifier (snake) for Terraform and Bicep names.
    pub ident: String,
    /// Where declared (`file:line`).
    pub source: String,
    /// Dotted module (the container command runs `<module>.app:app`).
    pub module: String,
    /// Serves gRPC on 50051 besides HTTP on 8000.
    pub grpc: bool,
    /// Reached from outside (a person or external system uses it): behind
    /// the gateway / ingress.
    pub public: bool,
    /// Environment.
    pub env: Vec<EnvVar>,
    /// Relationship ids touching it.
    pub rel_ids: Vec<String>,
    /// Identifier of the cluster it runs in (`main` when no deployment
    /// node places it; see [`Placement`]).
    pub cluster: String,
}

/// A database or broker of our own.
#[derive(Debug, Clone, Serialize)]
pub struct DataService {
    /// Alias.
    pub alias: String,
    /// Display name.
    pub name: String,
    /// Technology text.
    pub technology: String,
    /// Host name (kebab).
    pub host: String,
    /// Identifier (snake).
    pub ident: String,
    /// Engine.
    pub engine: Engine,
    /// Whether this target has a managed service for the engine (else it
    /// runs as a workload of its own, with a comment saying why).
    pub managed: bool,
    /// Container image when it runs as a workload (compose's image).
    pub image: String,
    /// Port clients use.
    pub port: u16,
    /// Where declared (`file:line`), or `implied`.
    pub source: String,
    /// Relationship ids touching it.
    pub rel_ids: Vec<String>,
    /// Cluster it runs in when it is a workload (its node's, else the
    /// first cluster's, else `main`).
    pub cluster: String,
}

/// An allowed connection: exactly one per (from, to, port) the diagram's
/// relationships need.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// Source workload host, or `ingress` (the gateway / load balancer).
    pub from: String,
    /// Source identifier.
    pub from_ident: String,
    /// Destination host.
    pub to: String,
    /// Destination identifier.
    pub to_ident: String,
    /// `workload` or `data`.
    pub to_kind: &'static str,
    /// Engine of a data destination (targets map it to their port).
    pub engine: Option<Engine>,
    /// Port.
    pub port: u16,
    /// Relationships it implements.
    pub rel_ids: Vec<String>,
}

/// An external system (or external database/broker) a workload calls: a
/// variable the user sets, never a value baked in.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalUrl {
    /// Variable name (snake, unique).
    pub var: String,
    /// Environment variable of the workload.
    pub env: String,
    /// Workload host.
    pub workload: String,
    /// The external thing's name.
    pub target_name: String,
    /// Holds a credential (a database or broker URL).
    pub secret: bool,
    /// The placeholder compose uses, for documentation.
    pub example: String,
}

/// Everything a target's templates need.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Target name (`k8s`, `aws-ecs`...).
    pub target: &'static str,
    /// Project title.
    pub title: String,
    /// Distribution name (kebab), the default name prefix of resources.
    pub dist: String,
    /// Diagram source name.
    pub source: String,
    /// Workloads, in project order.
    pub workloads: Vec<Workload>,
    /// Data services, databases first, in project order.
    pub data: Vec<DataService>,
    /// Allowed connections, sorted.
    pub rules: Vec<Rule>,
    /// External URLs, in workload order.
    pub externals: Vec<ExternalUrl>,
    /// Deployment nodes that selected this target (`label [technology]`),
    /// sorted; empty when `--deploy` chose it for every service.
    pub nodes: Vec<String>,
    /// The structure the deployment nodes give (region, network,
    /// clusters); empty when `--deploy` chose the target.
    pub placement: Placement,
    /// Kubernetes namespace a namespace node names (the first cluster's).
    pub namespace: Option<String>,
    /// Engines in use (for the README).
    pub engines: BTreeSet<&'static str>,
    /// Some workload reads a credential (secrets to create before applying).
    pub has_secrets: bool,
}

fn engine_of(tech: Tech, technology: &str) -> Engine {
    let t = technology.to_ascii_lowercase();
    match tech {
        Tech::Redis => Engine::Redis,
        Tech::Kafka => Engine::Kafka,
        Tech::Amqp => Engine::Rabbitmq,
        _ if t.trim().is_empty() || t.contains("postgres") => Engine::Postgres,
        _ => Engine::Other,
    }
}

/// Whether `target` has a managed service for `engine`.
fn managed(target: DeployTarget, engine: Engine) -> bool {
    match target {
        DeployTarget::K8s => false,
        DeployTarget::AwsEcs => engine != Engine::Other,
        DeployTarget::AzureAca => {
            matches!(engine, Engine::Postgres | Engine::Redis | Engine::Kafka)
        }
        DeployTarget::GcpRun => matches!(engine, Engine::Postgres | Engine::Redis),
    }
}

fn loc(src: &crate::project::Src) -> String {
    if src.line == 0 {
        src.file.clone()
    } else {
        format!("{}:{}", src.file, src.line)
    }
}

/// The plan of `target` for project `p` (from `model`'s deployment nodes).
pub fn plan(p: &Project, model: &Model, target: DeployTarget) -> Plan {
    let placement = placement(model, target);
    let placed = placement.aliases();
    let nodes = placement.nodes();
    let cluster_of = |aliases: &[String]| -> String {
        aliases
            .iter()
            .find_map(|a| placement.cluster_of(a))
            .or(placement.clusters.first())
            .map_or_else(|| "main".to_string(), |c| c.ident.clone())
    };
    let selected: Vec<&crate::project::Service> = p
        .services
        .iter()
        .filter(|s| placed.is_empty() || s.aliases.iter().any(|a| placed.contains(a.as_str())))
        .collect();
    let svc_by_alias: BTreeMap<&str, &crate::project::Service> =
        selected.iter().map(|s| (s.alias.as_str(), *s)).collect();
    let ident = |host: &str| host.replace('-', "_");

    // Data services: own databases and brokers a selected service uses (or
    // placed in a node of this target).
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for s in &selected {
        for d in &s.deps {
            used.insert(d.target.as_str());
        }
        for c in &s.consumers {
            used.insert(c.broker.as_str());
        }
    }
    let mut data: Vec<DataService> = Vec::new();
    for d in p.databases.iter().filter(|d| !d.external) {
        if used.contains(d.alias.as_str()) || placed.contains(d.alias.as_str()) {
            let engine = engine_of(d.tech, &d.technology);
            data.push(DataService {
                alias: d.alias.clone(),
                name: d.name.clone(),
                technology: d.technology.clone(),
                host: d.host.clone(),
                ident: ident(&d.host),
                engine,
                managed: managed(target, engine),
                image: d.image.clone(),
                port: engine.port(),
                source: loc(&d.src),
                rel_ids: d.rel_ids.clone(),
                cluster: cluster_of(std::slice::from_ref(&d.alias)),
            });
        }
    }
    for b in p.brokers.iter().filter(|b| !b.external) {
        if used.contains(b.alias.as_str()) || placed.contains(b.alias.as_str()) {
            let engine = engine_of(b.tech, &b.technology);
            data.push(DataService {
                alias: b.alias.clone(),
                name: b.name.clone(),
                technology: b.technology.clone(),
                host: b.host.clone(),
                ident: ident(&b.host),
                engine,
                managed: managed(target, engine),
                image: b.image.clone(),
                port: engine.port(),
                source: if b.implied {
                    "implied by a relationship technology".into()
                } else {
                    loc(&b.src)
                },
                rel_ids: b.rel_ids.clone(),
                cluster: cluster_of(std::slice::from_ref(&b.alias)),
            });
        }
    }
    let data_by_alias: BTreeMap<&str, &DataService> =
        data.iter().map(|d| (d.alias.as_str(), d)).collect();

    // Who is used from outside: persons' and external systems' relationships.
    let inside: BTreeSet<&str> = p
        .services
        .iter()
        .flat_map(|s| s.aliases.iter().map(String::as_str))
        .chain(p.databases.iter().map(|d| d.alias.as_str()))
        .chain(p.brokers.iter().map(|b| b.alias.as_str()))
        .collect();
    let mut public: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &p.relations {
        if inside.contains(r.from.as_str()) {
            continue;
        }
        if let Some(s) = selected.iter().find(|s| s.aliases.contains(&r.to)) {
            public
                .entry(s.alias.as_str())
                .or_default()
                .push(r.id.clone());
        }
    }
    let nobody_public = public.is_empty();

    let mut rules: BTreeMap<(String, String, u16), Rule> = BTreeMap::new();
    let mut add_rule = |from: &str, to: &str, engine: Option<Engine>, port: u16, ids: &[String]| {
        let to_kind = if engine.is_some() { "data" } else { "workload" };
        let r = rules
            .entry((from.to_string(), to.to_string(), port))
            .or_insert_with(|| Rule {
                from: from.to_string(),
                from_ident: ident(from),
                to: to.to_string(),
                to_ident: ident(to),
                to_kind,
                engine,
                port,
                rel_ids: Vec::new(),
            });
        r.rel_ids.extend(ids.iter().cloned());
    };
    let mut workloads = Vec::new();
    let mut externals = Vec::new();
    for s in &selected {
        let is_public = nobody_public || public.contains_key(s.alias.as_str());
        if is_public {
            let ids = public.get(s.alias.as_str()).cloned().unwrap_or_default();
            add_rule("ingress", &s.host, None, 8000, &ids);
        }
        let mut env = Vec::new();
        let mut secrets_seen = BTreeSet::new();
        for d in &s.deps {
            let name = format!("{}{}", s.env_prefix, d.setting.to_ascii_uppercase());
            if let Some(t) = svc_by_alias.get(d.target.as_str()).filter(|_| !d.external) {
                let grpc = d.kind == DepKind::Grpc;
                let port = if grpc { 50051 } else { 8000 };
                add_rule(&s.host, &t.host, None, port, &d.rel_ids);
                env.push(EnvVar {
                    name,
                    kind: if grpc { "grpc" } else { "service" },
                    target: t.host.clone(),
                    target_ident: ident(&t.host),
                    engine: None,
                    value: String::new(),
                    secret: false,
                    secret_name: String::new(),
                });
            } else if let Some(ds) = data_by_alias.get(d.target.as_str()) {
                add_rule(&s.host, &ds.host, Some(ds.engine), ds.port, &d.rel_ids);
                env.push(data_env(name, ds, &mut secrets_seen));
            } else if d.external || !inside.contains(d.target.as_str()) {
                let secret = matches!(
                    d.kind,
                    DepKind::Sql | DepKind::AmqpProducer | DepKind::Redis | DepKind::KafkaProducer
                );
                let var = format!("{}_{}", ident(&s.host), d.setting);
                externals.push(ExternalUrl {
                    var: var.clone(),
                    env: name.clone(),
                    workload: s.host.clone(),
                    target_name: d.target_name.clone(),
                    secret,
                    example: format!(
                        "https://{}.example.invalid",
                        crate::naming::kebab(&crate::naming::snake(&d.target_name, "target"))
                    ),
                });
                env.push(EnvVar {
                    name,
                    kind: "external",
                    target: String::new(),
                    target_ident: String::new(),
                    engine: None,
                    value: var,
                    secret,
                    secret_name: String::new(),
                });
            }
            // A service of ours placed on another target: not reachable
            // from here; the settings default stays (documented in the README).
        }
        for c in &s.consumers {
            if let Some(ds) = data_by_alias.get(c.broker.as_str()) {
                add_rule(&s.host, &ds.host, Some(ds.engine), ds.port, &c.rel_ids);
                let name = format!("{}{}", s.env_prefix, c.setting.to_ascii_uppercase());
                if !env.iter().any(|e: &EnvVar| e.name == name) {
                    env.push(data_env(name, ds, &mut secrets_seen));
                }
            }
        }
        if !s.consumers.is_empty() {
            env.push(plain(format!("{}RUN_CONSUMERS", s.env_prefix), "true"));
        }
        if s.grpc.is_some() {
            env.push(plain(
                format!("{}GRPC_ADDRESS", s.env_prefix),
                "0.0.0.0:50051",
            ));
        }
        if target == DeployTarget::GcpRun {
            // The generated clients send a Google ID token to the services
            // they call (the `run.invoker` bindings admit nothing else).
            env.push(plain(format!("{}CLOUD_RUN_ID_TOKEN", s.env_prefix), "true"));
        }
        env.sort_by(|a, b| a.name.cmp(&b.name));
        env.dedup_by(|a, b| a.name == b.name);
        workloads.push(Workload {
            alias: s.alias.clone(),
            aliases: s.aliases.clone(),
            name: s.name.clone(),
            host: s.host.clone(),
            ident: ident(&s.host),
            source: loc(&s.src),
            module: s.module.clone(),
            grpc: s.grpc.is_some(),
            public: is_public,
            env,
            rel_ids: s.rel_ids.clone(),
            cluster: cluster_of(&s.aliases),
        });
    }
    let mut rules: Vec<Rule> = rules.into_values().collect();
    for r in &mut rules {
        r.rel_ids.sort();
        r.rel_ids.dedup();
    }
    let engines = data
        .iter()
        .map(|d| match d.engine {
            Engine::Postgres => "postgres",
            Engine::Redis => "redis",
            Engine::Rabbitmq => "rabbitmq",
            Engine::Kafka => "kafka",
            Engine::Other => "other",
        })
        .collect();
    let has_secrets = workloads.iter().any(|w| w.env.iter().any(|e| e.secret));
    Plan {
        target: target.name(),
        title: p.title.clone(),
        dist: p.dist.clone(),
        source: p.source.clone(),
        workloads,
        data,
        rules,
        externals,
        has_secrets,
        nodes,
        namespace: placement.clusters.iter().find_map(|c| c.namespace.clone()),
        placement,
        engines,
    }
}

fn plain(name: String, value: &str) -> EnvVar {
    EnvVar {
        name,
        kind: "plain",
        target: String::new(),
        target_ident: String::new(),
        engine: None,
        value: value.to_string(),
        secret: false,
        secret_name: String::new(),
    }
}

fn data_env(name: String, ds: &DataService, seen: &mut BTreeSet<String>) -> EnvVar {
    let secret = ds.engine.secret();
    let mut secret_name = String::new();
    if secret {
        let base = name.to_ascii_lowercase().replace('_', "-");
        secret_name = base.clone();
        let mut n = 2;
        while !seen.insert(secret_name.clone()) {
            secret_name = format!("{base}-{n}");
            n += 1;
        }
    }
    EnvVar {
        name,
        kind: "data",
        target: ds.host.clone(),
        target_ident: ds.ident.clone(),
        engine: Some(ds.engine),
        value: String::new(),
        secret,
        secret_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_follow_the_technology() {
        assert_eq!(engine_of(Tech::Sql, "PostgreSQL 16"), Engine::Postgres);
        assert_eq!(engine_of(Tech::Sql, ""), Engine::Postgres);
        assert_eq!(engine_of(Tech::Sql, "Oracle"), Engine::Other);
        assert!(!managed(DeployTarget::GcpRun, Engine::Rabbitmq));
        assert!(managed(DeployTarget::AwsEcs, Engine::Rabbitmq));
    }
}
