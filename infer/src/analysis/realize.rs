//! Pass 2's decision per relationship: which side is ours, which transport
//! the technology means, and so which code realises it ([`Realization`]).
//! Each kind of code has its own file: [`super::storage`] (repositories,
//! caches), [`super::messaging`] (producers, consumers), [`super::calls`]
//! (clients, in-process calls), [`super::routes`] (routes, rpcs).

use schemas::model::v1::Relationship;

use super::Endpoint;
use super::builder::Builder;
use crate::project::{TestKind, TestSpec};
use crate::techmap::{self, Tech};

/// How one relationship is realised.
pub(super) struct Realization {
    /// The technology chosen (`None`: unknown / not applicable).
    pub(super) tech: Option<Tech>,
    /// True when the technology was empty and HTTP was assumed.
    pub(super) assumed: bool,
    /// One sentence: how it is realised (README, manifest).
    pub(super) text: String,
    /// Its contract test.
    pub(super) spec: TestSpec,
}

impl Builder {
    /// Decides how one relationship is realised; registers what it needs.
    pub(super) fn realize(
        &mut self,
        r: &Relationship,
        id: &str,
        from: Endpoint,
        to: Endpoint,
        name_of: &dyn Fn(&str) -> String,
    ) -> Realization {
        let rtech = techmap::classify(&r.technology);
        let empty = r.technology.trim().is_empty();
        let doc = |why: &str| Realization {
            tech: rtech,
            assumed: false,
            text: why.to_string(),
            spec: TestSpec {
                kind: TestKind::Doc,
                ..Default::default()
            },
        };
        let caller = name_of(&r.from);

        // Databases and brokers are passive: whichever side is ours uses them.
        let (ours, other) = match (Self::owner(from), Self::owner(to)) {
            (Some(o), _) if !matches!(to, Endpoint::Unknown) => (Some(o), to),
            (None, Some(o)) if matches!(from, Endpoint::Database(_)) => (Some(o), from),
            _ => (None, to),
        };
        if let (Some((svc, comp)), Endpoint::Database(db)) = (ours, other) {
            return self.repository(svc, comp, db, r, id, rtech);
        }

        match (from, to) {
            // In-process call between components of one service.
            (Endpoint::Component(s1, c1), Endpoint::Component(s2, c2)) if s1 == s2 => {
                self.direct_call(s1, c1, c2, r, id, rtech, caller)
            }
            // Ours -> broker: producer.
            (f, Endpoint::Broker(bi)) if Self::owner(f).is_some() => {
                let (svc, comp) = Self::owner(f).unwrap_or((0, None));
                let spec = self.producer(svc, comp, bi, r, id);
                let b = &self.brokers[bi];
                Realization {
                    tech: Some(b.tech),
                    assumed: false,
                    text: format!(
                        "{} producer publishing `{}` to {}",
                        techmap::row(b.tech).library,
                        spec.path,
                        b.name
                    ),
                    spec,
                }
            }
            // Broker -> ours: consumer.
            (Endpoint::Broker(bi), t) if Self::owner(t).is_some() => {
                let (svc, comp) = Self::owner(t).unwrap_or((0, None));
                let spec = self.consumer(svc, comp, bi, r, id, caller);
                let b = &self.brokers[bi];
                Realization {
                    tech: Some(b.tech),
                    assumed: false,
                    text: format!(
                        "{} consumer of `{}` from {}",
                        techmap::row(b.tech).library,
                        spec.path,
                        b.name
                    ),
                    spec,
                }
            }
            // Ours -> ours (other service) or ours -> external.
            (f, t)
                if Self::owner(f).is_some()
                    && (Self::owner(t).is_some() || matches!(t, Endpoint::External(_))) =>
            {
                let (svc, comp) = Self::owner(f).unwrap_or((0, None));
                self.call(svc, comp, t, r, id, rtech, caller, name_of)
            }
            // Person / external -> ours over HTTP (or unspecified): a route.
            (Endpoint::Person(_) | Endpoint::External(_) | Endpoint::Unknown, t)
                if Self::owner(t).is_some() && (rtech == Some(Tech::Http) || empty) =>
            {
                self.inbound_route(t, r, id, empty, caller)
            }
            (Endpoint::External(_) | Endpoint::Person(_), t)
                if Self::owner(t).is_some() && matches!(rtech, Some(Tech::Amqp | Tech::Kafka)) =>
            {
                let tech = rtech.unwrap_or(Tech::Amqp);
                let bi = self.implied_broker(tech);
                let (ts, tc) = Self::owner(t).unwrap_or((0, None));
                let spec = self.consumer(ts, tc, bi, r, id, caller);
                Realization {
                    tech: rtech,
                    assumed: false,
                    text: format!(
                        "{} consumer in {}",
                        techmap::row(tech).library,
                        self.services[ts].name
                    ),
                    spec,
                }
            }
            (f, t) => {
                for ep in [f, t] {
                    if let Some((s, c)) = Self::owner(ep) {
                        self.touch(s, c, id);
                    }
                }
                match (f, t) {
                    (Endpoint::Database(a), Endpoint::Database(_)) => {
                        self.databases[a].rel_ids.push(id.to_string());
                        doc("database-level concern (replication, ETL); documented in the README")
                    }
                    (_, Endpoint::Person(_)) => {
                        doc("reaches a person outside the software; documented in the README")
                    }
                    (Endpoint::Unknown, _) | (_, Endpoint::Unknown) => {
                        doc("an end is not an element of the model; documented in the README")
                    }
                    _ => doc(
                        "no code on our side implements it (both ends are outside our systems or the technology has no mapping); documented in the README",
                    ),
                }
            }
        }
    }
}
