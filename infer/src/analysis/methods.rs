//! Pass B: the handler methods of services and components, allocated once
//! every field name is known, and the routes, rpcs and client paths that
//! follow from them ([`super::routes`]).

use std::collections::BTreeMap;

use super::builder::Builder;
use super::context::one_line;
use super::{MODEL_MODULE_IMPORTS, RESERVED_FIELDS};
use crate::naming::{Scope, pascal, snake};
use crate::project::{DepKind, Method, MethodKind};
use crate::verbs;

/// A method to allocate once all fields are known (pass B).
pub(super) struct MethodReq {
    /// Service that handles it.
    pub(super) svc: usize,
    /// Component that handles it (`None`: the service object).
    pub(super) comp: Option<usize>,
    /// Label the method is named after.
    pub(super) label: String,
    /// Label shown in docs (the relationship's own label).
    pub(super) display: String,
    /// Request or event.
    pub(super) kind: MethodKind,
    /// Relationship it implements.
    pub(super) rel_id: String,
    /// Who calls it.
    pub(super) caller: String,
    /// Route to add for HTTP requests.
    pub(super) route: bool,
    /// Rpc to add to the target's gRPC service.
    pub(super) grpc: bool,
    /// Client methods whose `path`/`name` must be filled with the route: (service, dep index, method index).
    pub(super) client: Option<(usize, usize, usize)>,
    /// Consumer to wire: (service, consumer index).
    pub(super) consumer: Option<(usize, usize)>,
}

/// A handler method as pass B allocated it: what a route or an rpc calls.
#[derive(Clone)]
pub(super) struct Handler {
    /// Service.
    pub(super) svc: usize,
    /// Component field (`None`: the service object).
    pub(super) comp_ident: Option<String>,
    /// Method name.
    pub(super) method_name: String,
    /// `<component>_<method>`: route function and client method name, rpc name stem.
    pub(super) qualified: String,
    /// Label (one line).
    pub(super) label: String,
    /// Resource the label's verb names (route paths).
    pub(super) resource: String,
    /// HTTP method.
    pub(super) http: &'static str,
    /// Whether it takes a request body.
    pub(super) body: bool,
    /// Request model (empty without a body).
    pub(super) request_model: String,
    /// Response model.
    pub(super) response_model: String,
}

/// Name scopes of pass B.
#[derive(Default)]
pub(super) struct Scopes {
    /// Method names per (service, component).
    methods: BTreeMap<(usize, Option<usize>), Scope>,
    /// Route function names per service (`routes.py`).
    pub(super) routes: BTreeMap<usize, Scope>,
    /// Pydantic model names, unique per service (one `schemas.py`).
    models: BTreeMap<usize, Scope>,
    /// Rpc names, unique per served gRPC service.
    pub(super) rpcs: BTreeMap<usize, Scope>,
}

impl Builder {
    /// Pass B: methods, routes and client paths, now that every field name is known.
    pub(super) fn assign_methods(&mut self) {
        let reqs = std::mem::take(&mut self.method_reqs);
        let mut scopes = Scopes::default();
        for req in reqs {
            let svc = req.svc;
            let label = one_line(&req.label);
            let verb = verbs::classify(&label);
            let base = snake(&label, "handle");
            let reserved: Vec<String> = {
                let s = &self.services[svc];
                let mut r: Vec<String> = RESERVED_FIELDS.iter().map(|x| x.to_string()).collect();
                r.extend(s.deps.iter().map(|d| d.field.clone()));
                r.extend(s.components.iter().map(|c| c.ident.clone()));
                r
            };
            let s = &mut self.services[svc];
            let found = match req.comp {
                Some(c) => &s.components[c].methods,
                None => &s.methods,
            }
            .iter()
            .position(|m| m.key == label && m.kind == req.kind);
            let mi = match found {
                Some(i) => i,
                None => {
                    let scope = scopes.methods.entry((svc, req.comp)).or_insert_with(|| {
                        let r: Vec<&str> = reserved.iter().map(String::as_str).collect();
                        Scope::with_reserved(&r)
                    });
                    let name = scope.alloc(&base);
                    let (request_model, response_model) = if req.kind == MethodKind::Request {
                        let ms = scopes.models.entry(svc).or_insert_with(|| {
                            // Models are imported next to component and client classes.
                            let mut taken: Vec<&str> = MODEL_MODULE_IMPORTS.to_vec();
                            taken.extend(s.components.iter().map(|c| c.class.as_str()));
                            taken.extend(s.components.iter().map(|c| c.base.as_str()));
                            taken.extend(s.deps.iter().map(|d| d.class.as_str()));
                            Scope::with_reserved(&taken)
                        });
                        let stem = match req.comp {
                            Some(c) => pascal(&format!("{}_{name}", s.components[c].ident), "Call"),
                            None => pascal(&name, "Call"),
                        };
                        let request = if verb.method.has_body() {
                            ms.alloc(&format!("{stem}Request"))
                        } else {
                            String::new()
                        };
                        (request, ms.alloc(&format!("{stem}Response")))
                    } else {
                        (String::new(), String::new())
                    };
                    let methods: &mut Vec<Method> = match req.comp {
                        Some(c) => &mut s.components[c].methods,
                        None => &mut s.methods,
                    };
                    methods.push(Method {
                        name,
                        label: req.display.clone(),
                        key: label.clone(),
                        kind: req.kind,
                        rel_ids: Vec::new(),
                        callers: Vec::new(),
                        http: verb.method.as_str(),
                        body: verb.method.has_body(),
                        request_model,
                        response_model,
                        params: Vec::new(),
                    });
                    methods.len() - 1
                }
            };
            let methods: &mut Vec<Method> = match req.comp {
                Some(c) => &mut s.components[c].methods,
                None => &mut s.methods,
            };
            methods[mi].rel_ids.push(req.rel_id.clone());
            if !methods[mi].callers.contains(&req.caller) {
                methods[mi].callers.push(req.caller.clone());
            }
            let method_name = methods[mi].name.clone();
            let (http, body, request_model, response_model) = (
                methods[mi].http,
                methods[mi].body,
                methods[mi].request_model.clone(),
                methods[mi].response_model.clone(),
            );
            if let Some((_, ci)) = req.consumer {
                s.consumers[ci].method = method_name.clone();
            }
            let comp_ident = req.comp.map(|c| s.components[c].ident.clone());
            // Route function and client method name; stem of the rpc name.
            let qualified = match &comp_ident {
                Some(c) => format!("{c}_{method_name}"),
                None => method_name.clone(),
            };
            let handler = Handler {
                svc,
                comp_ident,
                method_name,
                qualified,
                label,
                resource: verb.resource.clone(),
                http,
                body,
                request_model,
                response_model,
            };
            if req.route {
                self.route(&req, handler.clone(), &mut scopes.routes);
            }
            if req.grpc {
                self.rpc(&req, handler, &mut scopes.rpcs);
            }
        }
        self.unique_client_methods();
    }

    /// Drops merged client methods; makes client method names unique (and
    /// the model names of external clients, which follow them).
    fn unique_client_methods(&mut self) {
        for s in &mut self.services {
            for d in &mut s.deps {
                d.methods.retain(|m| !m.path.is_empty());
                let mut sc = Scope::with_reserved(&["close"]);
                let mut models = Scope::with_reserved(&MODEL_MODULE_IMPORTS);
                let local_models = d.kind == DepKind::Http && d.schemas_module.is_empty();
                for m in &mut d.methods {
                    m.name = sc.alloc(&m.name);
                    if local_models {
                        // External target: the client module defines the
                        // models, named after the (now unique) method.
                        let stem = pascal(&m.name, "Call");
                        if m.body {
                            m.request_model = models.alloc(&format!("{stem}Request"));
                        }
                        m.response_model = models.alloc(&format!("{stem}Response"));
                    }
                }
            }
        }
    }
}
