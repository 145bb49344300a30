//! Applies what the diagram's property rows say ([`crate::spec`]) to an
//! analysed [`Project`]: routes, handler methods and client calls get the
//! written method, path, parameters and models; queue producers and
//! consumers the written routing key; repositories their entities.
//!
//! Runs after [`crate::project::analyze`], so a diagram without property
//! rows yields exactly the project the labels alone give.

use std::collections::BTreeMap;

use schemas::model::v1::{Diagnostic, Model, Severity};

use crate::project::{MethodKind, Project};
use crate::spec::{self, ModelDef, Param, Reader, RelSpec, Rows};

/// The typed parts of a project, for the templates.
#[derive(Debug, Clone, Default)]
pub struct Typed {
    /// Every declared or referenced model, by name (`models.py`).
    pub models: BTreeMap<String, ModelDef>,
    /// Element alias -> the entities declared on it.
    pub entities: BTreeMap<String, Vec<String>>,
    /// Relationship id -> its message model (queues).
    pub messages: BTreeMap<String, String>,
    /// Warnings (undeclared models).
    pub warnings: Vec<Diagnostic>,
}

impl Typed {
    /// The entities a repository of `service_aliases` on database `target` stores.
    pub fn entities_of(&self, target: &str, service_aliases: &[String]) -> Vec<ModelDef> {
        let mut names: Vec<&String> = self.entities.get(target).into_iter().flatten().collect();
        for a in service_aliases {
            names.extend(self.entities.get(a).into_iter().flatten());
        }
        let mut out: Vec<ModelDef> = Vec::new();
        for n in names {
            if let Some(m) = self.models.get(n)
                && !out.iter().any(|o| o.name == m.name)
            {
                out.push(m.clone());
            }
        }
        out
    }

    /// The message model of the first of `rel_ids` that has one.
    pub fn message_of(&self, rel_ids: &[String]) -> Option<&ModelDef> {
        rel_ids
            .iter()
            .find_map(|id| self.messages.get(id))
            .and_then(|n| self.models.get(n))
    }
}

/// The property rows could not be read: every diagnostic (errors and
/// warnings), each at its element's or relationship's place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.0))]
pub struct SpecError(pub Vec<Diagnostic>);

fn render(d: &[Diagnostic]) -> String {
    d.iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parameter's type: `int` when the field of that name in the request or
/// response model (else in any declared model) is an `int`, else `str` (the
/// handler converts; a path segment is text on the wire).
fn param(name: &str, spec: &RelSpec, models: &BTreeMap<String, ModelDef>) -> Param {
    let field = [&spec.response, &spec.request]
        .into_iter()
        .flatten()
        .filter_map(|r| models.get(&r.name))
        .chain(models.values())
        .flat_map(|m| m.fields.iter())
        .find(|f| f.name == name && !f.optional);
    let (py, example) = match field.map(|f| f.py.as_str()) {
        Some("int") => ("int", "1".to_string()),
        Some("UUID") => (
            "str",
            "\"00000000-0000-4000-8000-000000000001\"".to_string(),
        ),
        _ => ("str", "\"example\"".to_string()),
    };
    Param {
        name: name.to_string(),
        py: py.to_string(),
        example,
    }
}

/// Reads every property row of the model and applies it to `p`.
pub fn apply(p: &mut Project, model: &Model, source: &str) -> Result<Typed, SpecError> {
    let mut reader = Reader::default();
    let mut typed = Typed::default();
    for d in &model.diagrams {
        let file = if d.file.is_empty() { source } else { &d.file };
        for e in d.elements.iter().filter(|e| !e.properties.is_empty()) {
            let at = Rows {
                file,
                line: e.span.line,
                column: e.span.column,
                rows: &e.properties,
            };
            let names = reader.element(&e.alias, &at);
            if !names.is_empty() {
                let v = typed.entities.entry(e.alias.to_string()).or_default();
                for n in names {
                    if !v.contains(&n) {
                        v.push(n);
                    }
                }
            }
        }
    }
    let mut rel_specs: Vec<(usize, RelSpec)> = Vec::new();
    for (i, r) in p.relations.iter().enumerate() {
        if r.properties.is_empty() {
            continue;
        }
        let at = Rows {
            file: &r.src.file,
            line: r.src.line,
            column: r.column,
            rows: &r.properties,
        };
        let s = reader.relationship(&r.id, &at);
        if !s.is_empty() {
            rel_specs.push((i, s));
        }
    }
    reader.finish();
    let mut errors: Vec<Diagnostic> = Vec::new();
    for (i, s) in &rel_specs {
        let r = &p.relations[*i];
        let at = |message: String| Diagnostic {
            severity: Severity::Error,
            message,
            file: r.src.file.clone(),
            line: r.src.line,
            column: r.column,
            bytes: None,
        };
        let http = r.spec.kind.is_http();
        let queue = r.spec.kind.is_queue();
        let has_http = s.route.is_some() || s.request.is_some() || s.response.is_some();
        let has_queue = s.message.is_some() || s.routing.is_some();
        if has_http && !http {
            errors.push(at(format!(
                "`{}` is realised as {} ({}), not as an HTTP call: the route, `request` and `response` properties need an HTTP relationship (technology HTTP/REST or empty)",
                r.id, r.spec.kind, r.realization
            )));
        }
        if has_queue && !queue {
            errors.push(at(format!(
                "`{}` is realised as {} ({}), not through a queue: `message` and `routing` need a relationship to or from a queue, or a technology naming a broker",
                r.id, r.spec.kind, r.realization
            )));
        }
    }
    let mut diagnostics = reader.diagnostics;
    diagnostics.extend(errors);
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Err(SpecError(diagnostics));
    }
    typed.models = reader.models;
    typed.warnings = diagnostics;
    let explicit: Vec<String> = rel_specs
        .iter()
        .filter(|(_, s)| s.route.is_some())
        .map(|(i, _)| p.relations[*i].id.clone())
        .collect();
    for (i, s) in rel_specs {
        let id = p.relations[i].id.clone();
        if let Some(m) = &s.message {
            typed.messages.insert(id.clone(), m.name.clone());
            p.relations[i].spec.message = m.name.clone();
        }
        if let Some(routing) = &s.routing {
            for svc in &mut p.services {
                for d in svc.deps.iter_mut().filter(|d| d.rel_ids.contains(&id)) {
                    d.routing_key = routing.clone();
                }
                for c in svc.consumers.iter_mut().filter(|c| c.rel_ids.contains(&id)) {
                    c.routing_key = routing.clone();
                    c.queue = format!("{}.{routing}", svc.host);
                }
            }
            p.relations[i].spec.path = routing.clone();
        }
        if s.route.is_none() && s.request.is_none() && s.response.is_none() {
            continue;
        }
        apply_http(p, i, &s, &typed.models)?;
    }
    label_paths(p, &explicit, &typed.models);
    Ok(typed)
}

/// Why relationship `id` cannot get the route `http path`: it shares its
/// route or client call with another relationship (same label and target),
/// or another route of the service already is `http path`.
fn conflict(p: &Project, id: &str, http: &str, path: &str) -> Option<String> {
    let others = |ids: &[String]| {
        ids.iter()
            .filter(|x| *x != id)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    for svc in &p.services {
        if let Some(r) = svc
            .routes
            .iter()
            .find(|r| r.rel_ids.iter().any(|x| x == id) && r.rel_ids.len() > 1)
        {
            return Some(format!(
                "`{id}` shares the route `{}` with {} (same label and target): give them one label each",
                r.func,
                others(&r.rel_ids)
            ));
        }
        let ours = svc.routes.iter().any(|r| r.rel_ids.iter().any(|x| x == id));
        if let Some(clash) = svc.routes.iter().find(|r| {
            ours && !r.rel_ids.iter().any(|x| x == id) && r.http == http && r.path == path
        }) {
            return Some(format!(
                "`{http} {path}` is already the route of {} in {}",
                clash.rel_ids.join(", "),
                svc.name
            ));
        }
        for d in &svc.deps {
            if let Some(m) = d
                .methods
                .iter()
                .find(|m| m.rel_ids.iter().any(|x| x == id) && m.rel_ids.len() > 1)
            {
                return Some(format!(
                    "`{id}` shares the client call `{}` with {}: give them one label each",
                    m.name,
                    others(&m.rel_ids)
                ));
            }
            let mine = d.methods.iter().any(|m| m.rel_ids.iter().any(|x| x == id));
            if mine
                && d.methods
                    .iter()
                    .any(|m| !m.rel_ids.iter().any(|x| x == id) && m.http == http && m.path == path)
            {
                return Some(format!("`{http} {path}` is already a call of {}", d.class));
            }
        }
    }
    None
}

/// Labels that name parameters (`"Reads account details by id"`, see
/// [`crate::verbs::parameterized_path`]) on HTTP relationships without a
/// route row: the route gets that path when nothing else has it.
fn label_paths(p: &mut Project, explicit: &[String], models: &BTreeMap<String, ModelDef>) {
    for i in 0..p.relations.len() {
        let r = &p.relations[i];
        if explicit.contains(&r.id) || !r.spec.kind.is_http() {
            continue;
        }
        let Some(derived) = crate::verbs::parameterized_path(&r.label) else {
            continue;
        };
        let id = r.id.clone();
        // A component's routes keep its prefix.
        let prefix = p
            .services
            .iter()
            .flat_map(|s| s.routes.iter())
            .find(|x| x.rel_ids.contains(&id))
            .and_then(|x| x.component.as_ref())
            .map(|c| format!("/{}", crate::naming::kebab(c)))
            .unwrap_or_default();
        let path = format!("{prefix}{derived}");
        if spec::path_params(&path).is_err() || conflict(p, &id, r.spec.http, &path).is_some() {
            continue;
        }
        let http = match r.spec.http {
            "GET" => crate::verbs::HttpMethod::Get,
            "PUT" => crate::verbs::HttpMethod::Put,
            "PATCH" => crate::verbs::HttpMethod::Patch,
            "DELETE" => crate::verbs::HttpMethod::Delete,
            _ => crate::verbs::HttpMethod::Post,
        };
        let s = RelSpec {
            route: Some((http, path)),
            ..RelSpec::default()
        };
        // Checked above: cannot fail.
        let _ = apply_http(p, i, &s, models);
    }
}

/// Applies the HTTP rows of relation `i`.
fn apply_http(
    p: &mut Project,
    i: usize,
    s: &RelSpec,
    models: &BTreeMap<String, ModelDef>,
) -> Result<(), SpecError> {
    let rel = p.relations[i].clone();
    let id = rel.id.as_str();
    let err = |message: String| {
        SpecError(vec![Diagnostic {
            severity: Severity::Error,
            message,
            file: rel.src.file.clone(),
            line: rel.src.line,
            column: rel.column,
            bytes: None,
        }])
    };
    // The current route (ours) or client call (external).
    let current = p
        .services
        .iter()
        .flat_map(|s| s.routes.iter())
        .find(|r| r.rel_ids.iter().any(|x| x == id))
        .map(|r| (r.http, r.path.clone()))
        .or_else(|| {
            p.services
                .iter()
                .flat_map(|s| s.deps.iter())
                .flat_map(|d| d.methods.iter())
                .find(|m| m.rel_ids.iter().any(|x| x == id))
                .map(|m| (m.http, m.path.clone()))
        });
    let Some((cur_http, cur_path)) = current else {
        return Ok(());
    };
    let (http, path) = match &s.route {
        Some((m, path)) => (m.as_str(), path.clone()),
        None => (cur_http, cur_path),
    };
    let body = matches!(http, "POST" | "PUT" | "PATCH");
    let names = spec::path_params(&path).map_err(|e| err(e.to_string()))?;
    let params: Vec<Param> = names.iter().map(|n| param(n, s, models)).collect();
    if let Some(why) = conflict(p, id, http, &path) {
        return Err(err(why));
    }
    // The same typing on a route, a service's own call and a client call:
    // method, body, parameters and the request/response models.
    macro_rules! retype {
        ($m:expr) => {{
            $m.http = http;
            $m.body = body;
            $m.params = params.clone();
            if let Some(r) = &s.request {
                $m.request_model = r.name.clone();
            } else if !body {
                $m.request_model = String::new();
            }
            if let Some(r) = &s.response {
                $m.response_model = r.name.clone();
            }
        }};
    }
    for svc in &mut p.services {
        for r in svc
            .routes
            .iter_mut()
            .filter(|r| r.rel_ids.iter().any(|x| x == id))
        {
            r.path = path.clone();
            retype!(r);
        }
        let comps = svc.components.iter_mut().flat_map(|c| c.methods.iter_mut());
        for m in svc.methods.iter_mut().chain(comps) {
            if m.kind == MethodKind::Request && m.rel_ids.iter().any(|x| x == id) {
                retype!(m);
            }
        }
        for d in &mut svc.deps {
            for m in d
                .methods
                .iter_mut()
                .filter(|m| m.rel_ids.iter().any(|x| x == id))
            {
                m.path = path.clone();
                retype!(m);
            }
        }
    }
    let t = &mut p.relations[i].spec;
    t.http = http;
    t.path = path;
    t.body = body;
    t.params = params;
    if let Some(r) = &s.request {
        t.request_model = r.name.clone();
    } else if !body {
        t.request_model = String::new();
    }
    if let Some(r) = &s.response {
        t.response_model = r.name.clone();
    }
    Ok(())
}
