//! Analysis: the C4 model IR -> a [`Project`], the generator-independent
//! description of what to build (services, components, clients, routes,
//! databases, brokers, flows, deployment groups) with every name already
//! chosen and made safe.
//!
//! All decisions live here, so templates only print. The walk order is the
//! model order, which makes every name and port deterministic.
//!
//! Rules, in short:
//! - every own `Container` (default shape) is a service; an own `Container_Boundary`
//!   with no matching container (component diagrams) is one too; on a model with no
//!   containers at all, every own `System` is a service (context diagrams);
//! - `*Db` shapes are databases, `*Queue` shapes and containers whose technology is
//!   a broker (RabbitMQ, Kafka) are brokers; `Redis` containers are caches; a broker is
//!   Kafka or AMQP by its technology, else its name, else its relationships' technology;
//! - a relationship is realised by the source's technology (see [`crate::techmap`]):
//!   a client in the source, a route in the target, a repository, a producer and a
//!   consumer, an in-process call between components of one service, or (when no
//!   code can sensibly implement it) documentation only.

//!
//! The passes, one file each:
//! - `context`: the diagrams merged (`context::Ctx`: elements, boundaries,
//!   synonyms) and the text helpers;
//! - `elements` (pass 1): elements and boundaries -> services, components,
//!   system packages, databases, brokers, externals, persons, networks;
//! - `relations` (pass 2): each relationship -> id, test, flow step and
//!   `realize::Realization`, decided in `realize` and built by the file
//!   of its kind: `storage` (repository, cache), `messaging` (producer,
//!   consumer, implied broker), `calls` (client, in-process call),
//!   `routes` (route, rpc); `builder` holds the state and names
//!   dependencies;
//! - `methods` (pass B): handler methods once every field name is known,
//!   then routes, rpcs and client paths (`routes`) and the tests' targets;
//! - `compose`: compose environment, `depends_on`, requirements.
//!
//! A new kind of generated code is one file here (registering a `Dep`, a
//! method request or a route) plus its template.

mod builder;
mod calls;
mod compose;
mod context;
mod elements;
mod messaging;
mod methods;
mod realize;
mod relations;
mod routes;
mod storage;
#[cfg(test)]
mod tests;

use schemas::model::v1::Model;

use crate::naming::{self, kebab, snake};
use crate::project::Project;
use builder::Builder;
use context::{diagram_file, one_line, project_title};

/// Names a service's `Dependencies` fields, component modules and handler
/// methods must not take (they are the fixed API of the generated code).
pub(super) const RESERVED_FIELDS: [&str; 8] = [
    "__init__",
    "settings",
    "service",
    "components",
    "consumers",
    "close",
    "aclose",
    "run",
];

/// Names the modules that define request/response models import (from
/// typing and pydantic); a model class must not take one.
pub(super) const MODEL_MODULE_IMPORTS: [&str; 4] = ["Any", "BaseModel", "ConfigDict", "Field"];

/// What an alias became in pass 1 (indexes into the pass's lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// A service.
    Service(usize),
    /// A component: (service, component).
    Component(usize, usize),
    /// A database.
    Database(usize),
    /// A broker.
    Broker(usize),
    /// Something external.
    External(usize),
    /// A person.
    Person(usize),
    /// Not an element of the model.
    Unknown,
}

/// Builds the project description of a model.
pub fn analyze(model: &Model, source: &str) -> Project {
    let title = project_title(model, source);
    let mut package = snake(&title, "app");
    if naming::is_reserved_top_level(&package) {
        package.push_str("_app");
    }
    let dist = kebab(&package);
    let mut a = elements::place(model, source, &package);
    let mut b = Builder::new(&mut a);
    let relations::Relations {
        mut relations,
        flows,
    } = relations::relate(model, source, &mut a, &mut b);
    b.assign_methods();
    relations::resolve_specs(&mut relations, &b.services);
    b.finish_compose();
    let requirements = compose::requirements(&b.techs, &b.services);

    Project {
        title,
        dist,
        package,
        source: source.to_string(),
        systems: a.systems,
        services: b.services,
        databases: b.databases,
        brokers: b.brokers,
        externals: a.externals,
        persons: a.persons,
        relations,
        flows,
        networks: a.networks,
        elements: a.docs,
        diagrams: model
            .diagrams
            .iter()
            .map(|d| {
                (
                    d.title
                        .clone()
                        .or(d.name.clone())
                        .map(|t| one_line(&t))
                        .unwrap_or_default(),
                    d.level,
                    diagram_file(d, source),
                )
            })
            .collect(),
        requirements,
        techs: b.techs,
    }
}
