//! Pass 2 over the relationships, in model order: each gets its stable id,
//! test name and [`Realization`]; persons their interactions; dynamic
//! diagrams their flows. After pass B, [`resolve_specs`] points each contract
//! test at the method, route or client method it exercises.

use std::collections::HashSet;

use schemas::model::v1::{Level, Model};

use super::Endpoint;
use super::builder::Builder;
use super::context::{diagram_file, index_key, one_line};
use super::elements::Elems;
use super::realize::Realization;
use crate::naming::{self, Scope, snake};
use crate::project::{Flow, FlowStep, Relation, Service, Src, TestKind};

/// Pass 2's result.
pub(super) struct Relations {
    /// Every relationship, in model order.
    pub(super) relations: Vec<Relation>,
    /// One flow per dynamic (or indexed) diagram.
    pub(super) flows: Vec<Flow>,
}

/// Realises every relationship of the model through `b`.
pub(super) fn relate(model: &Model, source: &str, a: &mut Elems<'_>, b: &mut Builder) -> Relations {
    let ctx = &a.ctx;
    let mut relations: Vec<Relation> = Vec::new();
    let mut id_scope = Scope::default();
    let mut test_scope = Scope::default();
    let mut flows: Vec<Flow> = Vec::new();
    let mut flow_scope = Scope::default();
    // (person, interaction) pairs already listed: a person drawn with
    // thousands of relationships must not rescan its list for each.
    let mut interactions_seen: HashSet<(usize, String)> = HashSet::new();
    let name_of = |alias: &str| -> String {
        ctx.by_alias
            .get(alias)
            .map(|&i| ctx.elements[i].0)
            .map(|e| {
                if naming::words(&e.name).is_empty() {
                    e.alias.to_string()
                } else {
                    one_line(&e.name)
                }
            })
            .or_else(|| ctx.boundaries.get(alias).map(|(b, _)| one_line(&b.label)))
            .unwrap_or_else(|| alias.to_string())
    };
    for d in &model.diagrams {
        let file = diagram_file(d, source);
        let mut steps: Vec<(Vec<u64>, usize, FlowStep)> = Vec::new();
        for (ri, r) in d.relationships.iter().enumerate() {
            let id = {
                let base = format!("{}->{}", r.from, r.to);
                let got = id_scope.alloc(&base);
                if got == base {
                    got
                } else {
                    format!("{base}#{}", &got[base.len() + 1..])
                }
            };
            let test = test_scope.alloc(&format!(
                "test_rel_{}_to_{}",
                snake(&r.from, "x"),
                snake(&r.to, "x")
            ));
            let from = a
                .endpoints
                .get(r.from.as_str())
                .copied()
                .unwrap_or(Endpoint::Unknown);
            let to = a
                .endpoints
                .get(r.to.as_str())
                .copied()
                .unwrap_or(Endpoint::Unknown);
            let src = Src {
                file: file.clone(),
                line: r.span.line,
            };
            let Realization {
                tech,
                assumed,
                text: mut realization,
                spec,
            } = b.realize(r, &id, from, to, &name_of);
            if r.bidirectional {
                realization.push_str(
                    " (drawn bidirectional: code is generated for the first-to-second direction)",
                );
            }
            for (who, text) in [
                (
                    &r.from,
                    format!("{} {}", one_line(&r.label), name_of(&r.to)),
                ),
                (
                    &r.to,
                    format!(
                        "is the target of \"{}\" from {}",
                        one_line(&r.label),
                        name_of(&r.from)
                    ),
                ),
            ] {
                if let Some(Endpoint::Person(p)) = a.endpoints.get(who.as_str())
                    && interactions_seen.insert((*p, text.clone()))
                {
                    a.persons[*p].interactions.push(text);
                }
            }
            let rel = Relation {
                id: id.clone(),
                test: test.clone(),
                from: r.from.to_string(),
                to: r.to.to_string(),
                from_name: name_of(&r.from),
                to_name: name_of(&r.to),
                label: one_line(&r.label),
                technology: one_line(&r.technology),
                description: one_line(&r.description),
                index: r.index.as_ref().map(ToString::to_string),
                src,
                tech,
                assumed,
                realization,
                spec,
                properties: r.properties.clone(),
                column: r.span.column,
            };
            if matches!(d.level, Level::Dynamic | Level::Sequence) || r.index.is_some() {
                let index = r
                    .index
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| (ri + 1).to_string());
                steps.push((
                    index_key(&index),
                    ri,
                    FlowStep {
                        index,
                        rel_id: id.clone(),
                        test: test.clone(),
                        summary: format!("{} -> {}: {}", rel.from_name, rel.to_name, rel.label),
                    },
                ));
            }
            relations.push(rel);
        }
        if !steps.is_empty() {
            steps.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            let title = d
                .title
                .clone()
                .or(d.name.clone())
                .unwrap_or_else(|| "dynamic diagram".into());
            flows.push(Flow {
                ident: flow_scope.alloc(&snake(&title, "flow")),
                title: one_line(&title),
                file: file.clone(),
                steps: steps.into_iter().map(|s| s.2).collect(),
            });
        }
    }
    Relations { relations, flows }
}

/// Fills each contract test's method, path and models from what pass B named.
pub(super) fn resolve_specs(relations: &mut [Relation], services: &[Service]) {
    for rel in relations.iter_mut() {
        let Some(owner) = rel.spec.owner else {
            continue;
        };
        let s = &services[owner];
        if rel.spec.kind == TestKind::Direct {
            let to = rel.spec.to_field.clone();
            if let Some(m) = s
                .components
                .iter()
                .filter(|c| c.ident == to)
                .flat_map(|c| c.methods.iter())
                .find(|m| m.rel_ids.contains(&rel.id))
            {
                rel.spec.method = m.name.clone();
                rel.spec.http = m.http;
                rel.spec.body = m.body;
                rel.spec.request_model = m.request_model.clone();
                rel.spec.response_model = m.response_model.clone();
                rel.spec.models_module = format!("{}.schemas", s.module);
            }
        } else if rel.spec.kind == TestKind::HttpRoute {
            if let Some(r) = s.routes.iter().find(|r| r.rel_ids.contains(&rel.id)) {
                rel.spec.path = r.path.clone();
                rel.spec.method = r.func.clone();
                rel.spec.http = r.http;
                rel.spec.body = r.body;
                rel.spec.request_model = r.request_model.clone();
                rel.spec.response_model = r.response_model.clone();
                rel.spec.models_module = format!("{}.schemas", s.module);
            }
        } else if let Some((d, m)) = s
            .deps
            .iter()
            .flat_map(|d| d.methods.iter().map(move |m| (d, m)))
            .find(|(_, m)| m.rel_ids.contains(&rel.id))
        {
            rel.spec.path = m.path.clone();
            rel.spec.method = m.name.clone();
            rel.spec.http = m.http;
            rel.spec.body = m.body;
            rel.spec.request_model = m.request_model.clone();
            rel.spec.response_model = m.response_model.clone();
            rel.spec.models_module = if d.schemas_module.is_empty() {
                format!("{}.{}", s.module, d.module)
            } else {
                d.schemas_module.clone()
            };
        }
    }
}
