//! Calls: an in-process call between components of one service, and the
//! client (HTTP, gRPC or a gateway stub) of a service calling another of
//! ours or something external. Routes and rpcs of ours are matched to the
//! client's methods in pass B ([`super::routes`]).

use schemas::model::v1::Relationship;

use super::Endpoint;
use super::builder::Builder;
use super::context::one_line;
use super::methods::MethodReq;
use super::realize::Realization;
use crate::naming::{kebab, pascal, snake};
use crate::project::{ClientMethod, DepKind, MethodKind, TestKind, TestSpec, Use};
use crate::techmap::{self, Tech};
use crate::verbs;

impl Builder {
    /// Component `c1` calls component `c2` of service `s1` in-process.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn direct_call(
        &mut self,
        s1: usize,
        c1: usize,
        c2: usize,
        r: &Relationship,
        id: &str,
        rtech: Option<Tech>,
        caller: String,
    ) -> Realization {
        let target = self.services[s1].components[c2].clone();
        let u = Use {
            field: target.ident.clone(),
            class: target.class.clone(),
            module: format!("impl.{}", target.ident),
        };
        if c1 != c2 && !self.services[s1].components[c1].calls.contains(&u) {
            self.services[s1].components[c1].calls.push(u);
        }
        self.touch(s1, Some(c1), id);
        self.touch(s1, Some(c2), id);
        self.method_reqs.push(MethodReq {
            svc: s1,
            comp: Some(c2),
            label: r.label.to_string(),
            display: one_line(&r.label),
            kind: MethodKind::Request,
            rel_id: id.to_string(),
            caller,
            route: false,
            grpc: false,
            client: None,
            consumer: None,
        });
        let s = &self.services[s1];
        Realization {
            tech: rtech,
            assumed: false,
            text: format!(
                "in-process call from component `{}` to `{}` in {}",
                s.components[c1].class, target.class, s.name
            ),
            spec: TestSpec {
                kind: TestKind::Direct,
                provider: s.module.clone(),
                owner: Some(s1),
                from_field: s.components[c1].ident.clone(),
                to_field: target.ident.clone(),
                ..Default::default()
            },
        }
    }

    /// Service `svc` (component `comp`) calls `t`, one of ours or an external:
    /// through an implied broker when the technology names one, else a client.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call(
        &mut self,
        svc: usize,
        comp: Option<usize>,
        t: Endpoint,
        r: &Relationship,
        id: &str,
        rtech: Option<Tech>,
        caller: String,
        name_of: &dyn Fn(&str) -> String,
    ) -> Realization {
        let empty = r.technology.trim().is_empty();
        let (tech, assumed) = match rtech {
            Some(t) => (Some(t), false),
            None if empty => (Some(Tech::Http), true),
            None => (None, false),
        };
        match tech {
            Some(Tech::Amqp | Tech::Kafka) if Self::owner(t).is_some() => {
                let bi = self.implied_broker(tech.unwrap_or(Tech::Amqp));
                let spec = self.producer(svc, comp, bi, r, id);
                let (tsvc, tcomp) = Self::owner(t).unwrap_or((0, None));
                let _ = self.consumer(tsvc, tcomp, bi, r, id, caller);
                let b = &self.brokers[bi];
                Realization {
                    tech,
                    assumed: false,
                    text: format!(
                        "{} producer in the source and consumer in the target via {}",
                        techmap::row(b.tech).library,
                        b.host
                    ),
                    spec,
                }
            }
            _ => self.client(svc, comp, t, r, id, tech, assumed, caller, name_of),
        }
    }

    /// The client of service `svc` (component `comp`) for `t`: its method for
    /// the label and, when `t` is ours, the route or rpc request it calls.
    #[allow(clippy::too_many_arguments)]
    fn client(
        &mut self,
        svc: usize,
        comp: Option<usize>,
        t: Endpoint,
        r: &Relationship,
        id: &str,
        tech: Option<Tech>,
        assumed: bool,
        caller: String,
        name_of: &dyn Fn(&str) -> String,
    ) -> Realization {
        let kind = match tech {
            Some(Tech::Http) => DepKind::Http,
            Some(Tech::Grpc) => DepKind::Grpc,
            _ => DepKind::Generic,
        };
        let (target_alias, target_name, external, target_svc) = match t {
            Endpoint::Service(ts) | Endpoint::Component(ts, _) => {
                let s = &self.services[ts];
                (s.alias.clone(), s.name.clone(), false, Some(ts))
            }
            _ => {
                let canon = self
                    .canon
                    .get(r.to.as_str())
                    .cloned()
                    .unwrap_or_else(|| r.to.to_string());
                (canon, name_of(&r.to), true, None)
            }
        };
        let dep = self.dep(
            svc,
            kind,
            &target_alias,
            &target_name,
            "",
            &one_line(&r.technology),
            external,
        );
        self.add_rel_to_dep(svc, dep, id);
        self.record_use(svc, comp, dep);
        self.touch(svc, comp, id);
        if external
            && !self.services[svc].deps[dep]
                .aliases
                .iter()
                .any(|x| *x == r.to)
        {
            self.services[svc].deps[dep].aliases.push(r.to.to_string());
        }
        // Client method (name and path filled in pass B when the target is ours).
        let label_ident = snake(&r.label, "call");
        let verb = verbs::classify(&r.label);
        if let (Some(ts), DepKind::Http) = (target_svc, kind) {
            self.services[svc].deps[dep].schemas_module =
                format!("{}.schemas", self.services[ts].module);
        }
        let dd = &mut self.services[svc].deps[dep];
        let mi = match dd
            .methods
            .iter()
            .position(|m| m.label == one_line(&r.label) && target_svc.is_none())
        {
            Some(i) => i,
            None => {
                let path = match kind {
                    // Ours: the rpc's path in pass B.
                    DepKind::Grpc if target_svc.is_some() => {
                        format!("?{}", dd.methods.len())
                    }
                    DepKind::Grpc => format!(
                        "/{}.{}/{}",
                        snake(&target_name, "svc"),
                        pascal(&target_name, "Svc"),
                        pascal(&r.label, "Call")
                    ),
                    // Ours: a unique placeholder, the route's path in pass B.
                    _ if target_svc.is_some() => {
                        format!("?{}", dd.methods.len())
                    }
                    _ => {
                        format!("/{}", kebab(&snake(&verb.resource, &label_ident)))
                    }
                };
                // Model names of external clients; a route
                // of ours replaces them in pass B.
                let model = pascal(&label_ident, "Call");
                dd.methods.push(ClientMethod {
                    name: label_ident.clone(),
                    path,
                    label: one_line(&r.label),
                    http: verb.method.as_str(),
                    body: verb.method.has_body(),
                    request_model: if verb.method.has_body() {
                        format!("{model}Request")
                    } else {
                        String::new()
                    },
                    response_model: format!("{model}Response"),
                    params: Vec::new(),
                    rel_ids: Vec::new(),
                });
                dd.methods.len() - 1
            }
        };
        dd.methods[mi].rel_ids.push(id.to_string());
        let (tsvc_comp, provider) = match (t, target_svc) {
            (Endpoint::Service(ts), _) => (Some((ts, None)), self.services[ts].module.clone()),
            (Endpoint::Component(ts, tc), _) => {
                (Some((ts, Some(tc))), self.services[ts].module.clone())
            }
            _ => (None, String::new()),
        };
        if let (Some((ts, tc)), DepKind::Http) = (tsvc_comp, kind) {
            self.touch(ts, tc, id);
            self.method_reqs.push(MethodReq {
                svc: ts,
                comp: tc,
                label: r.label.to_string(),
                display: one_line(&r.label),
                kind: MethodKind::Request,
                rel_id: id.to_string(),
                caller: caller.clone(),
                route: true,
                grpc: false,
                client: Some((svc, dep, mi)),
                consumer: None,
            });
        } else if let (Some((ts, tc)), DepKind::Grpc) = (tsvc_comp, kind) {
            self.touch(ts, tc, id);
            self.method_reqs.push(MethodReq {
                svc: ts,
                comp: tc,
                label: r.label.to_string(),
                display: one_line(&r.label),
                kind: MethodKind::Request,
                rel_id: id.to_string(),
                caller: caller.clone(),
                route: false,
                grpc: true,
                client: Some((svc, dep, mi)),
                consumer: None,
            });
        } else if let Some((ts, tc)) = tsvc_comp {
            self.touch(ts, tc, id);
        }
        if let Some(t) = tech {
            self.techs.insert(t);
        }
        let s = &self.services[svc];
        let d = &s.deps[dep];
        let spec_kind = match (kind, target_svc.is_some()) {
            (DepKind::Http, true) => TestKind::HttpInternal,
            (DepKind::Http, false) => TestKind::HttpExternal,
            (DepKind::Grpc, true) => TestKind::GrpcInternal,
            (DepKind::Grpc, false) => TestKind::Grpc,
            _ => TestKind::Generic,
        };
        let what = match kind {
            DepKind::Http => "httpx client",
            DepKind::Grpc if target_svc.is_some() => "gRPC client",
            DepKind::Grpc => "gRPC client stub",
            _ => "gateway stub (technology not supported; transport to be provided)",
        };
        Realization {
            tech,
            assumed,
            text: format!(
                "{what} `{}` in {}{}{}",
                d.class,
                s.name,
                if spec_kind == TestKind::HttpInternal {
                    format!(" calling a route of {}", target_name)
                } else if spec_kind == TestKind::GrpcInternal {
                    format!(" calling the gRPC server of {}", target_name)
                } else {
                    String::new()
                },
                if assumed {
                    " (no technology given: HTTP assumed)"
                } else {
                    ""
                }
            ),
            spec: TestSpec {
                kind: spec_kind,
                module: format!("{}.{}", s.module, d.module),
                class: d.class.clone(),
                provider,
                owner: Some(svc),
                ..Default::default()
            },
        }
    }
}
