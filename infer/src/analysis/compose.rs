//! docker-compose wiring of every service (environment, `depends_on`) and
//! the pip requirements the technologies used imply.

use std::collections::{BTreeMap, BTreeSet};

use super::builder::Builder;
use crate::project::{DepKind, Service};
use crate::techmap::{self, Tech};

impl Builder {
    /// Compose environment and dependencies of every service.
    pub(super) fn finish_compose(&mut self) {
        let db_hosts: BTreeMap<String, (String, Tech, bool)> = self
            .databases
            .iter()
            .map(|d| (d.alias.clone(), (d.host.clone(), d.tech, d.external)))
            .collect();
        let broker_hosts: BTreeMap<String, (String, Tech, bool)> = self
            .brokers
            .iter()
            .map(|b| (b.alias.clone(), (b.host.clone(), b.tech, b.external)))
            .collect();
        let svc_hosts: BTreeMap<String, String> = self
            .services
            .iter()
            .map(|s| (s.alias.clone(), s.host.clone()))
            .collect();
        for s in &mut self.services {
            let mut env: Vec<(String, String)> = Vec::new();
            let mut deps: Vec<(String, String)> = Vec::new();
            let prefix = s.env_prefix.clone();
            for d in &s.deps {
                let key = format!("{prefix}{}", d.setting.to_ascii_uppercase());
                let value = match d.kind {
                    DepKind::Sql | DepKind::Redis => match db_hosts.get(&d.target) {
                        Some((h, Tech::Redis, false)) => {
                            deps.push((h.clone(), "service_started".into()));
                            format!("redis://{h}:6379/0")
                        }
                        Some((h, _, false)) => {
                            deps.push((h.clone(), "service_healthy".into()));
                            format!("postgresql+psycopg://app:app@{h}:5432/app")
                        }
                        _ => continue,
                    },
                    DepKind::AmqpProducer | DepKind::KafkaProducer => {
                        match broker_hosts.get(&d.target) {
                            Some((h, Tech::Kafka, false)) => {
                                deps.push((h.clone(), "service_started".into()));
                                format!("{h}:9092")
                            }
                            Some((h, _, false)) => {
                                deps.push((h.clone(), "service_started".into()));
                                format!("amqp://guest:guest@{h}:5672/")
                            }
                            _ => continue,
                        }
                    }
                    // No depends_on between services: calls are lazy, and
                    // services calling each other would make a cycle compose rejects.
                    _ => match svc_hosts.get(&d.target) {
                        Some(h) if !d.external => {
                            if d.kind == DepKind::Grpc {
                                format!("{h}:50051")
                            } else {
                                format!("http://{h}:8000")
                            }
                        }
                        _ => continue,
                    },
                };
                env.push((key, value));
            }
            for c in &s.consumers {
                if let Some((h, t, false)) = broker_hosts.get(&c.broker) {
                    deps.push((h.clone(), "service_started".into()));
                    let v = if *t == Tech::Kafka {
                        format!("{h}:9092")
                    } else {
                        format!("amqp://guest:guest@{h}:5672/")
                    };
                    env.push((format!("{prefix}{}", c.setting.to_ascii_uppercase()), v));
                }
            }
            if !s.consumers.is_empty() {
                env.push((format!("{prefix}RUN_CONSUMERS"), "true".into()));
            }
            if s.grpc.is_some() {
                env.push((format!("{prefix}GRPC_ADDRESS"), "0.0.0.0:50051".into()));
            }
            env.sort();
            env.dedup();
            deps.sort();
            deps.dedup();
            deps.retain(|h| h.0 != s.host);
            s.env = env;
            s.depends_on = deps;
        }
    }
}

/// Extra pip requirements implied by the technologies used.
pub(super) fn requirements(techs: &BTreeSet<Tech>, services: &[Service]) -> Vec<String> {
    let mut requirements: Vec<String> = techs
        .iter()
        // grpcio is optional for clients (imported lazily), required to serve.
        .filter(|t| **t != Tech::Grpc || services.iter().any(|s| s.grpc.is_some()))
        .map(|t| techmap::row(*t).requirement.to_string())
        .collect();
    if techs.contains(&Tech::Sql) {
        requirements.push("psycopg[binary]>=3.1".into());
    }
    requirements.sort();
    requirements.dedup();
    requirements
}
