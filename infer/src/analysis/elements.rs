//! Pass 1: the model's elements and boundaries become services (with their
//! components and system packages), databases, brokers, externals and
//! persons, each with its compose host and deployment network.

use std::collections::{BTreeMap, HashMap, HashSet};

use schemas::model::v1::{Boundary, BoundaryKind, Element, ElementKind, Model, Shape};

use super::context::{Ctx, broker_tech, norm, one_line};
use super::{Endpoint, RESERVED_FIELDS};
use crate::naming::{self, Scope, kebab, pascal, snake};
use crate::project::{
    Broker, Component, Database, Drawn, ElementDoc, External, Infra, Network, Origin, Person,
    Service, Src, SystemPkg,
};
use crate::techmap::{self, Tech};

/// Pass 1, elements to services, databases, brokers, externals and persons:
/// its state while it runs, its result when [`place`] returns.
pub(super) struct Elems<'a> {
    pub(super) ctx: Ctx<'a>,
    source: String,
    package: String,
    root_scope: Scope,
    /// Compose host names (implied brokers take theirs later).
    pub(super) host_scope: Scope,
    pub(super) systems: Vec<SystemPkg>,
    system_scopes: BTreeMap<String, Scope>,
    pub(super) services: Vec<Service>,
    pub(super) databases: Vec<Database>,
    pub(super) brokers: Vec<Broker>,
    pub(super) externals: Vec<External>,
    pub(super) persons: Vec<Person>,
    /// What each alias (synonyms and matched boundaries included) became.
    pub(super) endpoints: BTreeMap<String, Endpoint>,
    /// One documentation row per element.
    pub(super) docs: Vec<ElementDoc>,
    pub(super) networks: Vec<Network>,
    network_of: BTreeMap<String, String>,
    net_scope: Scope,
}

/// Runs pass 1 over the model's elements and boundaries.
pub(super) fn place<'a>(model: &'a Model, source: &str, package: &str) -> Elems<'a> {
    let ctx = Ctx::new(model, source);
    let has_containers = ctx.elements.iter().any(|(e, _)| {
        (e.kind == ElementKind::Container || e.kind == ElementKind::Component) && !e.external
    }) || ctx
        .boundaries
        .values()
        .any(|(b, _)| b.kind == BoundaryKind::ContainerBoundary);
    let mut a = Elems {
        ctx,
        source: source.to_string(),
        package: package.to_string(),
        root_scope: Scope::with_reserved(&["testing", "__init__", "__main__"]),
        host_scope: Scope::with_reserved(&["tests"]),
        systems: Vec::new(),
        system_scopes: BTreeMap::new(),
        services: Vec::new(),
        databases: Vec::new(),
        brokers: Vec::new(),
        externals: Vec::new(),
        persons: Vec::new(),
        endpoints: BTreeMap::new(),
        docs: Vec::new(),
        networks: Vec::new(),
        network_of: BTreeMap::new(),
        net_scope: Scope::with_reserved(&["default"]),
    };
    let pending_components = a.elements(model, has_containers);
    let boundary_service = a.container_boundaries(&pending_components);
    a.components(&pending_components, &boundary_service);
    a.synonyms();
    a
}

impl<'a> Elems<'a> {
    /// Containers, systems, databases, brokers, externals, persons; returns
    /// the components (indexes into `ctx.elements`), placed once every
    /// boundary's service is known.
    fn elements(&mut self, model: &Model, has_containers: bool) -> Vec<usize> {
        let elements: Vec<(&Element, Src)> = self.ctx.elements.clone();
        // System boundaries drawn with containers in them, by alias and by
        // normalized label: a system of that alias or name is implemented by
        // its containers (one lookup per system, not a scan of everything).
        let container_parents: HashSet<&str> = elements
            .iter()
            .filter(|(c, _)| c.kind == ElementKind::Container)
            .filter_map(|(c, _)| c.parent.as_deref())
            .collect();
        let (expanded_aliases, expanded_labels): (HashSet<&str>, HashSet<String>) = self
            .ctx
            .boundaries
            .values()
            .filter(|(b, _)| {
                b.kind == BoundaryKind::SystemBoundary
                    && container_parents.contains(b.alias.as_str())
            })
            .map(|(b, _)| (b.alias.as_str(), norm(&b.label)))
            .unzip();

        let mut pending_components: Vec<usize> = Vec::new();
        for (i, (e, src)) in elements.iter().enumerate() {
            let role: String;
            let tech = techmap::classify(&e.technology);
            let not_person = e.kind != ElementKind::Person;
            let is_db = not_person
                && (e.shape == Shape::Database
                    || (e.shape == Shape::Default && tech == Some(Tech::Redis)));
            let is_broker = not_person
                && (e.shape == Shape::Queue
                    || (e.shape == Shape::Default
                        && matches!(tech, Some(Tech::Amqp | Tech::Kafka))));
            let display = if naming::words(&e.name).is_empty() {
                e.alias.as_str()
            } else {
                e.name.as_str()
            };
            if e.kind == ElementKind::Person {
                self.persons.push(Person {
                    alias: e.alias.to_string(),
                    name: one_line(&e.name),
                    description: one_line(&e.description),
                    external: e.external,
                    src: src.clone(),
                    interactions: Vec::new(),
                });
                self.endpoints.insert(
                    e.alias.to_string(),
                    Endpoint::Person(self.persons.len() - 1),
                );
                role = "actor (documented in the README)".into();
            } else if is_db {
                let t = if tech == Some(Tech::Redis) {
                    Tech::Redis
                } else {
                    Tech::Sql
                };
                let infra = self.infra(e, src, display, t, "db");
                self.databases.push(Database { infra });
                self.endpoints.insert(
                    e.alias.to_string(),
                    Endpoint::Database(self.databases.len() - 1),
                );
                role = format!(
                    "{} database",
                    if t == Tech::Redis { "Redis" } else { "SQL" }
                );
            } else if is_broker {
                let t = broker_tech(model, &self.ctx, i);
                let infra = self.infra(e, src, display, t, "broker");
                self.brokers.push(Broker {
                    infra,
                    implied: false,
                });
                self.endpoints.insert(
                    e.alias.to_string(),
                    Endpoint::Broker(self.brokers.len() - 1),
                );
                role = format!("{} broker", if t == Tech::Kafka { "Kafka" } else { "AMQP" });
            } else if e.external {
                self.externals.push(External {
                    drawn: drawn(e, src),
                    kind: e.kind,
                });
                self.endpoints.insert(
                    e.alias.to_string(),
                    Endpoint::External(self.externals.len() - 1),
                );
                role = "external (client stubs with configurable URLs)".into();
            } else {
                match e.kind {
                    ElementKind::Container => {
                        let s = self.new_service(
                            &e.alias,
                            &e.name,
                            &e.description,
                            &e.technology,
                            Origin::Container,
                            src.clone(),
                            e.parent.as_deref(),
                        );
                        self.endpoints
                            .insert(e.alias.to_string(), Endpoint::Service(s));
                        role = "service".into();
                    }
                    ElementKind::System => {
                        let expanded = expanded_aliases.contains(e.alias.as_str())
                            || expanded_labels.contains(&norm(&e.name));
                        if has_containers && expanded {
                            role = "system (implemented by its containers)".into();
                        } else {
                            let s = self.new_service(
                                &e.alias,
                                &e.name,
                                &e.description,
                                &e.technology,
                                Origin::System,
                                src.clone(),
                                e.parent.as_deref(),
                            );
                            self.endpoints
                                .insert(e.alias.to_string(), Endpoint::Service(s));
                            role = "service".into();
                        }
                    }
                    ElementKind::Component => {
                        pending_components.push(i);
                        role = "component".into();
                    }
                    ElementKind::Person => role = String::new(),
                }
            }
            self.docs.push(ElementDoc {
                alias: e.alias.to_string(),
                kind: e.kind,
                name: one_line(&e.name),
                external: e.external,
                src: src.clone(),
                role,
            });
        }
        pending_components
    }

    /// Container boundaries: each matches a container (alias or label) or,
    /// when it holds components, becomes a service. Returns boundary alias ->
    /// service.
    fn container_boundaries(&mut self, pending_components: &[usize]) -> BTreeMap<String, usize> {
        let mut boundary_service: BTreeMap<String, usize> = BTreeMap::new();
        let mut cb: Vec<(&Boundary, Src)> = self
            .ctx
            .boundaries
            .values()
            .filter(|(b, _)| b.kind == BoundaryKind::ContainerBoundary)
            .map(|(b, s)| (*b, s.clone()))
            .collect();
        cb.sort_by(|x, y| {
            (x.1.file.as_str(), x.1.line, x.0.alias.as_str()).cmp(&(
                y.1.file.as_str(),
                y.1.line,
                y.0.alias.as_str(),
            ))
        });
        // The first container service per alias and per normalized name, and
        // the boundaries that enclose a component: lookups instead of a scan of
        // every service and component per boundary.
        let mut container_by_alias: HashMap<String, usize> = HashMap::new();
        let mut container_by_name: HashMap<String, usize> = HashMap::new();
        for (i, s) in self.services.iter().enumerate() {
            if s.origin == Origin::Container {
                container_by_alias.entry(s.alias.clone()).or_insert(i);
                container_by_name.entry(norm(&s.name)).or_insert(i);
            }
        }
        let component_ancestors: HashSet<&str> = pending_components
            .iter()
            .flat_map(|&ci| {
                self.ctx
                    .ancestors(self.ctx.elements[ci].0.parent.as_deref())
            })
            .map(|x| x.alias.as_str())
            .collect();
        for (b, src) in cb {
            let by_alias = container_by_alias.get(b.alias.as_str()).copied();
            let by_name = container_by_name.get(&norm(&b.label)).copied();
            let matched = match (by_alias, by_name) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            let idx = match matched {
                Some(i) => i,
                None => {
                    let has_comp = component_ancestors.contains(b.alias.as_str());
                    if !has_comp {
                        continue;
                    }
                    self.new_service(
                        &b.alias,
                        &b.label,
                        &b.description,
                        &b.technology,
                        Origin::ContainerBoundary,
                        src.clone(),
                        b.parent.as_deref(),
                    )
                }
            };
            if !self.services[idx].aliases.iter().any(|x| *x == b.alias) {
                self.services[idx].aliases.push(b.alias.to_string());
            }
            boundary_service.insert(b.alias.to_string(), idx);
            self.endpoints
                .entry(b.alias.to_string())
                .or_insert(Endpoint::Service(idx));
        }

        boundary_service
    }

    /// Components, into the service of their nearest boundary or a service of their own.
    fn components(
        &mut self,
        pending_components: &[usize],
        boundary_service: &BTreeMap<String, usize>,
    ) {
        let elements: Vec<(&Element, Src)> = self.ctx.elements.clone();
        let mut comp_scopes: BTreeMap<usize, Scope> = BTreeMap::new();
        for &ci in pending_components {
            let (e, src) = &elements[ci];
            let owner = self
                .ctx
                .ancestors(e.parent.as_deref())
                .iter()
                .find_map(|b| boundary_service.get(b.alias.as_str()).copied());
            let svc = match owner {
                Some(s) => s,
                None => self.new_service(
                    &e.alias,
                    &e.name,
                    &e.description,
                    &e.technology,
                    Origin::Component,
                    src.clone(),
                    e.parent.as_deref(),
                ),
            };
            let scope = comp_scopes
                .entry(svc)
                .or_insert_with(|| Scope::with_reserved(&RESERVED_FIELDS));
            let display = if naming::words(&e.name).is_empty() {
                e.alias.as_str()
            } else {
                e.name.as_str()
            };
            let ident = scope.alloc(&snake(display, "component"));
            let class = pascal(&ident, "Component");
            self.services[svc].components.push(Component {
                alias: e.alias.to_string(),
                name: one_line(display),
                description: one_line(&e.description),
                technology: one_line(&e.technology),
                src: src.clone(),
                base: format!("{class}Base"),
                class,
                ident,
                methods: Vec::new(),
                uses: Vec::new(),
                calls: Vec::new(),
                rel_ids: Vec::new(),
            });
            self.endpoints.insert(
                e.alias.to_string(),
                Endpoint::Component(svc, self.services[svc].components.len() - 1),
            );
        }
    }

    /// Elements drawn again in another diagram under another alias.
    fn synonyms(&mut self) {
        let synonyms: Vec<(&Element, Src, String)> = self.ctx.synonyms.clone();
        for (e, src, canonical) in &synonyms {
            if let Some(ep) = self.endpoints.get(canonical).copied() {
                self.endpoints.insert(e.alias.to_string(), ep);
                if let Endpoint::Service(i) = ep {
                    self.services[i].aliases.push(e.alias.to_string());
                }
            }
            self.docs.push(ElementDoc {
                alias: e.alias.to_string(),
                kind: e.kind,
                name: one_line(&e.name),
                external: e.external,
                src: src.clone(),
                role: format!("same element as `{canonical}` (same name in another diagram)"),
            });
        }
    }

    /// A database's or broker's compose service: host named after the element
    /// (`fallback` when it has no usable name), deployment node and network.
    fn infra(
        &mut self,
        e: &Element,
        src: &Src,
        display: &str,
        tech: Tech,
        fallback: &str,
    ) -> Infra {
        let host = self
            .host_scope
            .alloc_sep(&kebab(&snake(display, fallback)), "-");
        let (node, network) = self.deployment(e.parent.as_deref());
        Infra {
            drawn: drawn(e, src),
            ident: host.replace('-', "_"),
            host,
            tech,
            external: e.external,
            image: techmap::row(tech).image.to_string(),
            node,
            network,
            rel_ids: Vec::new(),
        }
    }

    fn boundary_src(&self, alias: &str) -> Src {
        self.ctx
            .boundaries
            .get(alias)
            .map(|(_, s)| s.clone())
            .unwrap_or(Src {
                file: self.source.clone(),
                line: 1,
            })
    }

    /// Deployment node labels (outermost first) and the network of the top node.
    fn deployment(&mut self, parent: Option<&str>) -> (Vec<String>, Option<String>) {
        let chain: Vec<&Boundary> = self
            .ctx
            .ancestors(parent)
            .into_iter()
            .filter(|b| b.kind == BoundaryKind::DeploymentNode)
            .collect();
        let node: Vec<String> = chain.iter().rev().map(|b| one_line(&b.label)).collect();
        let Some(top) = chain.last() else {
            return (node, None);
        };
        if let Some(n) = self.network_of.get(top.alias.as_str()) {
            return (node, Some(n.clone()));
        }
        let ident = self.net_scope.alloc(&kebab(&snake(&top.label, "node")));
        let src = self.boundary_src(&top.alias);
        self.networks.push(Network {
            ident: ident.clone(),
            label: one_line(&top.label),
            alias: top.alias.to_string(),
            technology: one_line(&top.technology),
            src,
        });
        self.network_of.insert(top.alias.to_string(), ident.clone());
        (node, Some(ident))
    }

    /// The system package an element with this parent belongs to.
    fn system_of(&mut self, parent: Option<&str>) -> Option<usize> {
        let b = self
            .ctx
            .ancestors(parent)
            .into_iter()
            .find(|b| b.kind == BoundaryKind::SystemBoundary)?;
        if let Some(i) = self.systems.iter().position(|s| s.alias == b.alias) {
            return Some(i);
        }
        let ident = self.root_scope.alloc(&snake(&b.label, "system"));
        let src = self.boundary_src(&b.alias);
        self.systems.push(SystemPkg {
            alias: b.alias.to_string(),
            name: one_line(&b.label),
            description: one_line(&b.description),
            module: format!("{}.{ident}", self.package),
            dir: format!("src/{}/{ident}", self.package),
            ident,
            src,
        });
        Some(self.systems.len() - 1)
    }

    #[allow(clippy::too_many_arguments)]
    fn new_service(
        &mut self,
        alias: &str,
        name: &str,
        description: &str,
        technology: &str,
        origin: Origin,
        src: Src,
        parent: Option<&str>,
    ) -> usize {
        let sys = self.system_of(parent);
        let base = snake(
            if naming::words(name).is_empty() {
                alias
            } else {
                name
            },
            "service",
        );
        let ident = match sys {
            Some(i) => self
                .system_scopes
                .entry(self.systems[i].ident.clone())
                .or_insert_with(|| Scope::with_reserved(&["__init__"]))
                .alloc(&base),
            None => self.root_scope.alloc(&base),
        };
        let host = self.host_scope.alloc_sep(&kebab(&base), "-");
        let (module, dir) = match sys {
            Some(i) => (
                format!("{}.{ident}", self.systems[i].module),
                format!("{}/{ident}", self.systems[i].dir),
            ),
            None => (
                format!("{}.{ident}", self.package),
                format!("src/{}/{ident}", self.package),
            ),
        };
        let (node, network) = self.deployment(parent);
        let port = 8001 + u16::try_from(self.services.len()).unwrap_or(0);
        self.services.push(Service {
            alias: alias.to_string(),
            aliases: vec![alias.to_string()],
            name: if naming::words(name).is_empty() {
                alias.to_string()
            } else {
                one_line(name)
            },
            description: one_line(description),
            technology: one_line(technology),
            origin,
            src,
            class: pascal(&base, "Service"),
            env_prefix: format!("{}_", host.replace('-', "_").to_ascii_uppercase()),
            host,
            module,
            dir,
            system: sys.map(|i| self.systems[i].ident.clone()),
            system_name: sys.map(|i| self.systems[i].name.clone()),
            ident,
            port,
            components: Vec::new(),
            routes: Vec::new(),
            grpc: None,
            methods: Vec::new(),
            deps: Vec::new(),
            consumers: Vec::new(),
            uses: Vec::new(),
            node,
            network,
            env: Vec::new(),
            depends_on: Vec::new(),
            rel_ids: Vec::new(),
        });
        self.services.len() - 1
    }
}

/// The drawn facts of an element, on one line each.
fn drawn(e: &Element, src: &Src) -> Drawn {
    Drawn {
        alias: e.alias.to_string(),
        name: one_line(&e.name),
        description: one_line(&e.description),
        technology: one_line(&e.technology),
        src: src.clone(),
    }
}
