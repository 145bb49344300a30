//! What a service serves: HTTP routes (`routes.py`) and gRPC rpcs (the
//! `.proto` file), one per handler method a caller reaches that way, and the
//! caller's client method pointed at it.

use std::collections::BTreeMap;

use schemas::model::v1::Relationship;

use super::Endpoint;
use super::builder::Builder;
use super::context::one_line;
use super::methods::{Handler, MethodReq};
use super::realize::Realization;
use crate::naming::{Scope, kebab, pascal, snake};
use crate::project::{GrpcService, MethodKind, Route, Rpc, TestKind, TestSpec};
use crate::techmap::Tech;

impl Builder {
    /// The route of handler `h` (shared by callers of one method), and the
    /// calling client's method path, name and models.
    pub(super) fn route(
        &mut self,
        req: &MethodReq,
        h: Handler,
        route_scopes: &mut BTreeMap<usize, Scope>,
    ) {
        let Handler {
            svc,
            comp_ident,
            method_name,
            qualified,
            label,
            resource,
            http,
            body,
            request_model,
            response_model,
        } = h;
        let s = &mut self.services[svc];
        let prefix = match &comp_ident {
            Some(c) => format!("/{}", kebab(c)),
            None => String::new(),
        };
        let by_verb = format!("{prefix}/{}", kebab(&snake(&resource, &method_name)));
        let by_name = format!("{prefix}/{}", kebab(&method_name));
        let existing = s
            .routes
            .iter()
            .position(|r| r.component == comp_ident && r.method == method_name);
        // Two labels naming the same resource with the same method
        // ("Gets accounts", "Reads accounts"): the second route is
        // named after its whole label instead.
        let path = match existing {
            Some(i) => s.routes[i].path.clone(),
            None if s.routes.iter().any(|r| r.http == http && r.path == by_verb) => by_name,
            None => by_verb,
        };
        let ri = match existing {
            Some(i) => i,
            None => {
                let func = route_scopes
                    .entry(svc)
                    .or_insert_with(|| {
                        Scope::with_reserved(&[
                            "router",
                            "healthz",
                            "get_dependencies",
                            "Any",
                            "APIRouter",
                            "Depends",
                            "Request",
                            "Dependencies",
                            "CommandRequest",
                            "CommandResult",
                        ])
                    })
                    .alloc(&qualified);
                s.routes.push(Route {
                    func,
                    path: path.clone(),
                    label: label.clone(),
                    component: comp_ident.clone(),
                    method: method_name.clone(),
                    http,
                    body,
                    request_model: request_model.clone(),
                    response_model: response_model.clone(),
                    params: Vec::new(),
                    rel_ids: Vec::new(),
                    callers: Vec::new(),
                });
                s.routes.len() - 1
            }
        };
        s.routes[ri].rel_ids.push(req.rel_id.clone());
        if !s.routes[ri].callers.contains(&req.caller) {
            s.routes[ri].callers.push(req.caller.clone());
        }
        if let Some((cs, dep, cm)) = req.client {
            // Merge with an existing client method for the same route.
            let d = &mut self.services[cs].deps[dep];
            if let Some(existing) = d
                .methods
                .iter()
                .position(|m| m.http == http && m.path == path)
            {
                if existing != cm {
                    let ids = std::mem::take(&mut d.methods[cm].rel_ids);
                    d.methods[existing].rel_ids.extend(ids);
                    d.methods[cm].path = String::new();
                }
            } else {
                let m = &mut d.methods[cm];
                m.path = path;
                m.name = qualified.clone();
                m.http = http;
                m.body = body;
                m.request_model = request_model.clone();
                m.response_model = response_model;
            }
        }
    }

    /// The rpc of handler `h` in the service's gRPC service (created on first
    /// use), and the calling client's method path and name.
    pub(super) fn rpc(
        &mut self,
        req: &MethodReq,
        h: Handler,
        rpc_scopes: &mut BTreeMap<usize, Scope>,
    ) {
        let Handler {
            svc,
            comp_ident,
            method_name,
            qualified,
            label,
            body,
            request_model,
            ..
        } = h;
        let s = &mut self.services[svc];
        let service_name = s.name.clone();
        let proto = format!("{}/{}.proto", s.dir, s.ident);
        let g = s.grpc.get_or_insert_with(|| GrpcService {
            package: snake(&service_name, "svc"),
            service: pascal(&service_name, "Svc"),
            proto,
            rpcs: Vec::new(),
        });
        let ri = match g
            .rpcs
            .iter()
            .position(|r| r.component == comp_ident && r.method == method_name)
        {
            Some(i) => i,
            None => {
                let name = rpc_scopes
                    .entry(svc)
                    .or_default()
                    .alloc(&pascal(&qualified, "Call"));
                g.rpcs.push(Rpc {
                    name,
                    label: label.clone(),
                    component: comp_ident,
                    method: method_name.clone(),
                    body,
                    request_model: request_model.clone(),
                    rel_ids: Vec::new(),
                    callers: Vec::new(),
                });
                g.rpcs.len() - 1
            }
        };
        g.rpcs[ri].rel_ids.push(req.rel_id.clone());
        if !g.rpcs[ri].callers.contains(&req.caller) {
            g.rpcs[ri].callers.push(req.caller.clone());
        }
        let path = format!("/{}.{}/{}", g.package, g.service, g.rpcs[ri].name);
        if let Some((cs, dep, cm)) = req.client {
            let d = &mut self.services[cs].deps[dep];
            if let Some(existing) = d.methods.iter().position(|m| m.path == path) {
                if existing != cm {
                    let ids = std::mem::take(&mut d.methods[cm].rel_ids);
                    d.methods[existing].rel_ids.extend(ids);
                    d.methods[cm].path = String::new();
                }
            } else {
                d.methods[cm].path = path;
                d.methods[cm].name = qualified;
            }
        }
    }

    /// A person or an external system calls `t`, ours, over HTTP: a route.
    pub(super) fn inbound_route(
        &mut self,
        t: Endpoint,
        r: &Relationship,
        id: &str,
        empty: bool,
        caller: String,
    ) -> Realization {
        let (ts, tc) = Self::owner(t).unwrap_or((0, None));
        self.touch(ts, tc, id);
        self.techs.insert(Tech::Http);
        self.method_reqs.push(MethodReq {
            svc: ts,
            comp: tc,
            label: r.label.to_string(),
            display: one_line(&r.label),
            kind: MethodKind::Request,
            rel_id: id.to_string(),
            caller,
            route: true,
            grpc: false,
            client: None,
            consumer: None,
        });
        let s = &self.services[ts];
        Realization {
            tech: Some(Tech::Http),
            assumed: empty,
            text: format!(
                "HTTP route in {}{}",
                s.name,
                if empty {
                    " (no technology given: HTTP assumed)"
                } else {
                    ""
                }
            ),
            spec: TestSpec {
                kind: TestKind::HttpRoute,
                provider: s.module.clone(),
                owner: Some(ts),
                ..Default::default()
            },
        }
    }
}
