//! The state of pass 2 and pass B ([`Builder`]) and how it names and
//! registers a dependency (client, repository, cache, producer) of a service.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::elements::Elems;
use super::methods::MethodReq;
use super::{Endpoint, RESERVED_FIELDS};
use crate::naming::{self, Scope, pascal, snake};
use crate::project::{Broker, Database, Dep, DepKind, Service, Use};
use crate::techmap::Tech;

/// Pass 2 (relationships to clients, repositories, producers, consumers
/// and method requests) and pass B ([`Builder::assign_methods`]): owns what
/// they add to, and the name scopes that keep every name unique.
pub(super) struct Builder {
    pub(super) services: Vec<Service>,
    pub(super) databases: Vec<Database>,
    pub(super) brokers: Vec<Broker>,
    /// Compose host names (implied brokers).
    pub(super) host_scope: Scope,
    /// Per service: `Dependencies` field names.
    pub(super) field_scopes: BTreeMap<usize, Scope>,
    /// Per (service, package): module names.
    pub(super) module_scopes: BTreeMap<(usize, &'static str), Scope>,
    /// Per service: classes its dependencies module imports.
    pub(super) class_scopes: BTreeMap<usize, Scope>,
    /// (service, settings field) -> (target alias, kind of connection) it
    /// configures.
    pub(super) setting_owners: BTreeMap<(usize, String), (String, &'static str)>,
    /// (service, base, target, kind) -> the settings field it got.
    pub(super) setting_of: HashMap<(usize, String, String, &'static str), String>,
    /// (service, base) -> the next suffix to try.
    pub(super) setting_next: HashMap<(usize, String), usize>,
    /// Methods to allocate in pass B.
    pub(super) method_reqs: Vec<MethodReq>,
    /// Synonym alias -> canonical alias (same element in several diagrams).
    pub(super) canon: BTreeMap<String, String>,
    /// Technologies used (requirements).
    pub(super) techs: BTreeSet<Tech>,
}

impl Builder {
    /// Takes pass 1's services, databases and brokers; the components'
    /// names are taken in each service's field and class scopes.
    pub(super) fn new(a: &mut Elems<'_>) -> Self {
        let mut b = Builder {
            services: std::mem::take(&mut a.services),
            databases: std::mem::take(&mut a.databases),
            brokers: std::mem::take(&mut a.brokers),
            host_scope: std::mem::take(&mut a.host_scope),
            field_scopes: BTreeMap::new(),
            module_scopes: BTreeMap::new(),
            class_scopes: BTreeMap::new(),
            setting_owners: BTreeMap::new(),
            setting_of: HashMap::new(),
            setting_next: HashMap::new(),
            method_reqs: Vec::new(),
            techs: BTreeSet::new(),
            canon: a
                .ctx
                .synonyms
                .iter()
                .map(|(e, _, c)| (e.alias.to_string(), c.clone()))
                .collect(),
        };
        for (i, s) in b.services.iter().enumerate() {
            let mut scope = Scope::with_reserved(&RESERVED_FIELDS);
            for c in &s.components {
                scope.alloc(&c.ident);
            }
            let mut classes = Scope::with_reserved(&[
                "Service",
                "Settings",
                "Dependencies",
                "CommandRequest",
                "CommandResult",
                "Base",
            ]);
            for c in &s.components {
                classes.alloc(&c.class);
                classes.alloc(&c.base);
            }
            b.class_scopes.insert(i, classes);
            b.field_scopes.insert(i, scope);
        }
        b
    }

    pub(super) fn owner(ep: Endpoint) -> Option<(usize, Option<usize>)> {
        match ep {
            Endpoint::Service(s) => Some((s, None)),
            Endpoint::Component(s, c) => Some((s, Some(c))),
            _ => None,
        }
    }

    pub(super) fn module_name(&mut self, svc: usize, pkg: &'static str, base: &str) -> String {
        self.module_scopes
            .entry((svc, pkg))
            .or_insert_with(|| Scope::with_reserved(&["__init__"]))
            .alloc(base)
    }

    /// A class name unique among the classes a service's dependencies module imports.
    pub(super) fn class_name(&mut self, svc: usize, module: &str, suffix: &str) -> String {
        let phrase = if module.ends_with(suffix) {
            module.to_string()
        } else {
            naming::join(module, suffix)
        };
        self.class_scopes
            .entry(svc)
            .or_default()
            .alloc_sep(&pascal(&phrase, "X"), "")
    }

    pub(super) fn record_use(&mut self, svc: usize, comp: Option<usize>, dep: usize) {
        let d = &self.services[svc].deps[dep];
        let u = Use {
            field: d.field.clone(),
            class: d.class.clone(),
            module: d.module.clone(),
        };
        let s = &mut self.services[svc];
        if !s.uses.contains(&u) {
            s.uses.push(u.clone());
        }
        if let Some(c) = comp {
            let c = &mut s.components[c];
            if !c.uses.contains(&u) {
                c.uses.push(u);
            }
        }
    }

    pub(super) fn touch(&mut self, svc: usize, comp: Option<usize>, id: &str) {
        let s = &mut self.services[svc];
        if !s.rel_ids.iter().any(|x| x == id) {
            s.rel_ids.push(id.to_string());
        }
        if let Some(c) = comp {
            let c = &mut s.components[c];
            if !c.rel_ids.iter().any(|x| x == id) {
                c.rel_ids.push(id.to_string());
            }
        }
    }

    /// The settings field of service `svc` that configures the connection of
    /// kind `family` to `target`: `base`, or `base_2`, `base_3`, ... when
    /// `base` already configures another target or another kind of
    /// connection (two targets of one name, or one target reached over SQL
    /// and Redis, need two URLs).
    ///
    /// Linear like [`Scope`]: a target's field is found by one lookup, and a
    /// new one probes from the base's next free suffix (bases end in `_url`
    /// or `_servers`, never in a digit, so a name belongs to one base only).
    pub(super) fn setting(
        &mut self,
        svc: usize,
        base: &str,
        target: &str,
        family: &'static str,
    ) -> String {
        let owner_key = (svc, base.to_string(), target.to_string(), family);
        if let Some(name) = self.setting_of.get(&owner_key) {
            return name.clone();
        }
        let next_key = (svc, base.to_string());
        let mut n = self.setting_next.get(&next_key).copied().unwrap_or(1);
        loop {
            let name = if n == 1 {
                base.to_string()
            } else {
                format!("{base}_{n}")
            };
            match self.setting_owners.get(&(svc, name.clone())) {
                None => {
                    self.setting_owners
                        .insert((svc, name.clone()), (target.to_string(), family));
                    self.setting_next.insert(next_key, n + 1);
                    self.setting_of.insert(owner_key, name.clone());
                    return name;
                }
                Some((t, f)) if t == target && *f == family => return name,
                Some(_) => n += 1,
            }
        }
    }

    /// Finds or creates a dependency keyed by (kind, target, routing key).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dep(
        &mut self,
        svc: usize,
        kind: DepKind,
        target: &str,
        target_name: &str,
        routing_key: &str,
        technology: &str,
        external: bool,
    ) -> usize {
        if let Some(i) = self.services[svc]
            .deps
            .iter()
            .position(|d| d.kind == kind && d.target == target && d.routing_key == routing_key)
        {
            return i;
        }
        let tname = if naming::words(target_name).is_empty() {
            target
        } else {
            target_name
        };
        let base = snake(tname, "target");
        let (pkg, suffix) = match kind {
            DepKind::Http | DepKind::Grpc => ("clients", "client"),
            DepKind::Generic => ("clients", "gateway"),
            DepKind::Sql => ("db", "repository"),
            DepKind::Redis => ("cache", "cache"),
            DepKind::AmqpProducer | DepKind::KafkaProducer => ("messaging", "producer"),
        };
        let mod_base = if suffix == "producer" {
            format!("{base}_{}_producer", snake(routing_key, "events"))
        } else {
            base.clone()
        };
        let mod_base = if kind == DepKind::Grpc {
            format!("{base}_grpc")
        } else if kind == DepKind::Generic {
            format!("{base}_gateway")
        } else {
            mod_base
        };
        let module = self.module_name(svc, pkg, &mod_base);
        let field = self
            .field_scopes
            .entry(svc)
            .or_default()
            .alloc(&if module.ends_with(suffix) {
                module.clone()
            } else {
                naming::join(&module, suffix)
            });
        // The class suffix is the module's (`client`, `gateway`, ...).
        let class = self.class_name(svc, &module, suffix);
        let setting_base = match kind {
            DepKind::KafkaProducer => naming::join(&snake(target, "broker"), "bootstrap_servers"),
            _ => naming::join(&snake(tname, "target"), "url"),
        };
        // Producers and repositories get their broker's or database's
        // setting where they are wired.
        let setting = if kind.is_client() {
            self.setting(svc, &setting_base, target, kind.as_str())
        } else {
            setting_base
        };
        let d = Dep {
            field,
            kind,
            module: format!("{pkg}.{module}"),
            class: class.clone(),
            setting,
            target: target.to_string(),
            target_name: tname.to_string(),
            technology: technology.to_string(),
            external,
            methods: Vec::new(),
            schemas_module: String::new(),
            exchange: String::new(),
            routing_key: routing_key.to_string(),
            // Its own name even when truncation makes `<module>_record` and
            // `<module>_repository` the same class name.
            record: naming::Scope::with_reserved(&[class.as_str(), "Base"])
                .alloc_sep(&pascal(&naming::join(&module, "record"), "X"), ""),
            table: module.clone(),
            rel_ids: Vec::new(),
            aliases: Vec::new(),
        };
        self.services[svc].deps.push(d);
        self.services[svc].deps.len() - 1
    }

    pub(super) fn add_rel_to_dep(&mut self, svc: usize, dep: usize, id: &str) {
        let d = &mut self.services[svc].deps[dep];
        if !d.rel_ids.iter().any(|x| x == id) {
            d.rel_ids.push(id.to_string());
        }
    }
}
