//! Queues: producers and consumers of a broker, the brokers relationship
//! technologies imply, and queue/topic names from labels.

use super::builder::Builder;
use super::context::one_line;
use super::methods::MethodReq;
use crate::naming::{self, kebab, snake};
use crate::project::{
    Broker, Consumer, ConsumerKind, DepKind, Drawn, Infra, MethodKind, Src, TestKind, TestSpec,
};
use crate::techmap::{self, Tech};
use schemas::model::v1::Relationship;

impl Builder {
    /// The broker a relationship technology implies (`_amqp`, `_kafka`),
    /// added on first use.
    pub(super) fn implied_broker(&mut self, tech: Tech) -> usize {
        let alias = if tech == Tech::Kafka {
            "_kafka"
        } else {
            "_amqp"
        };
        if let Some(i) = self.brokers.iter().position(|b| b.alias == alias) {
            return i;
        }
        let name = if tech == Tech::Kafka {
            "kafka"
        } else {
            "rabbitmq"
        };
        let host = self.host_scope.alloc_sep(name, "-");
        self.brokers.push(Broker {
            infra: Infra {
                drawn: Drawn {
                    alias: alias.to_string(),
                    name: name.to_string(),
                    description: "Implied by a relationship technology; not drawn in the diagram."
                        .into(),
                    technology: name.to_string(),
                    src: Src {
                        file: String::new(),
                        line: 0,
                    },
                },
                ident: host.replace('-', "_"),
                host,
                tech,
                external: false,
                image: techmap::row(tech).image.to_string(),
                node: Vec::new(),
                network: None,
                rel_ids: Vec::new(),
            },
            implied: true,
        });
        self.brokers.len() - 1
    }

    /// The producer of service `svc` publishing relationship `r` to
    /// `broker`; returns its contract test.
    pub(super) fn producer(
        &mut self,
        svc: usize,
        comp: Option<usize>,
        broker: usize,
        r: &Relationship,
        id: &str,
    ) -> TestSpec {
        let b = self.brokers[broker].clone();
        let kind = if b.tech == Tech::Kafka {
            DepKind::KafkaProducer
        } else {
            DepKind::AmqpProducer
        };
        let key = kebab(&snake(&strip_verbs(&r.label), "events"));
        let dep = self.dep(
            svc,
            kind,
            &b.alias,
            &b.name,
            &key,
            &one_line(&r.technology),
            b.external,
        );
        {
            let (base, family) = if b.tech == Tech::Kafka {
                (format!("{}_bootstrap_servers", b.ident), "kafka")
            } else {
                (format!("{}_url", b.ident), "amqp")
            };
            let setting = self.setting(svc, &base, &b.alias, family);
            let d = &mut self.services[svc].deps[dep];
            d.exchange = b.host.clone();
            d.setting = setting;
        }
        self.add_rel_to_dep(svc, dep, id);
        self.record_use(svc, comp, dep);
        self.touch(svc, comp, id);
        self.brokers[broker].rel_ids.push(id.to_string());
        self.techs.insert(b.tech);
        let s = &self.services[svc];
        let d = &s.deps[dep];
        TestSpec {
            kind: if b.tech == Tech::Kafka {
                TestKind::KafkaProduce
            } else {
                TestKind::AmqpProduce
            },
            module: format!("{}.{}", s.module, d.module),
            class: d.class.clone(),
            path: key,
            ..Default::default()
        }
    }

    /// The consumer of service `svc` (component `comp`) of relationship `r`
    /// from `broker`, and its handler method request; returns its contract test.
    pub(super) fn consumer(
        &mut self,
        svc: usize,
        comp: Option<usize>,
        broker: usize,
        r: &Relationship,
        id: &str,
        caller: String,
    ) -> TestSpec {
        let b = self.brokers[broker].clone();
        let key = kebab(&snake(&strip_verbs(&r.label), "events"));
        let existing = self.services[svc].consumers.iter().position(|c| {
            c.broker == b.alias
                && c.routing_key == key
                && c.component == comp.map(|c| self.services[svc].components[c].ident.clone())
        });
        let ci = match existing {
            Some(i) => i,
            None => {
                let module = self.module_name(
                    svc,
                    "messaging",
                    &format!(
                        "{}_{}_consumer",
                        snake(&b.name, "broker"),
                        snake(&key, "events")
                    ),
                );
                let field = self.field_scopes.entry(svc).or_default().alloc(&module);
                let (base, kind) = if b.tech == Tech::Kafka {
                    (
                        format!("{}_bootstrap_servers", b.ident),
                        ConsumerKind::Kafka,
                    )
                } else {
                    (format!("{}_url", b.ident), ConsumerKind::Amqp)
                };
                let setting = self.setting(svc, &base, &b.alias, kind.as_str());
                let s = &self.services[svc];
                let queue = format!("{}.{}", s.host, key);
                let c = Consumer {
                    field,
                    kind,
                    class: String::new(),
                    module: format!("messaging.{module}"),
                    setting,
                    exchange: b.host.clone(),
                    routing_key: key.clone(),
                    queue,
                    component: comp.map(|c| s.components[c].ident.clone()),
                    method: String::new(),
                    broker: b.alias.clone(),
                    rel_ids: Vec::new(),
                };
                let mut c = c;
                c.class = self.class_name(svc, &module, "consumer");
                self.services[svc].consumers.push(c);
                self.services[svc].consumers.len() - 1
            }
        };
        self.services[svc].consumers[ci]
            .rel_ids
            .push(id.to_string());
        self.touch(svc, comp, id);
        self.brokers[broker].rel_ids.push(id.to_string());
        self.techs.insert(b.tech);
        self.method_reqs.push(MethodReq {
            svc,
            comp,
            label: format!("on {}", strip_verbs(&r.label)),
            display: one_line(&r.label),
            kind: MethodKind::Event,
            rel_id: id.to_string(),
            caller,
            route: false,
            grpc: false,
            client: None,
            consumer: Some((svc, ci)),
        });
        let s = &self.services[svc];
        let c = &s.consumers[ci];
        TestSpec {
            kind: if b.tech == Tech::Kafka {
                TestKind::KafkaConsume
            } else {
                TestKind::AmqpConsume
            },
            module: format!("{}.{}", s.module, c.module),
            class: c.class.clone(),
            path: key,
            ..Default::default()
        }
    }
}

/// Removes a leading verb phrase so "Sends customer update events to" names
/// the events ("customer update events"), for queue and topic names.
pub(super) fn strip_verbs(label: &str) -> String {
    const VERBS: &[&str] = &[
        "sends",
        "send",
        "publishes",
        "publish",
        "emits",
        "emit",
        "produces",
        "produce",
        "consumes",
        "consume",
        "reads",
        "read",
        "writes",
        "write",
        "forwards",
        "forward",
        "pushes",
        "push",
        "streams",
        "stream",
    ];
    const TAIL: &[&str] = &["to", "from", "into", "on", "using", "via"];
    let mut w = naming::words(label);
    if w.len() > 1 && VERBS.contains(&w[0].as_str()) {
        w.remove(0);
    }
    while w.len() > 1 && w.last().is_some_and(|l| TAIL.contains(&l.as_str())) {
        w.pop();
    }
    w.join(" ")
}
