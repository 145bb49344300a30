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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use schemas::model::v1::{
    Boundary, BoundaryKind, Diagram, Element, ElementKind, Level, Model, Relationship, Shape,
};
use serde::Serialize;

use crate::naming::{self, Scope, kebab, pascal, snake};
use crate::techmap::{self, Tech};
use crate::verbs;

/// Where something was written in the diagrams.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Src {
    /// Diagram file (or the run's source name).
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// A Python package grouping the services of one `System_Boundary`.
#[derive(Debug, Clone, Serialize)]
pub struct SystemPkg {
    /// Boundary alias.
    pub alias: String,
    /// Boundary label.
    pub name: String,
    /// Boundary description.
    pub description: String,
    /// Package identifier.
    pub ident: String,
    /// Dotted module path.
    pub module: String,
    /// Directory.
    pub dir: String,
    /// Where declared.
    pub src: Src,
}

/// A method on a service or component base class.
#[derive(Debug, Clone, Serialize)]
pub struct Method {
    /// Python method name.
    pub name: String,
    /// The relationship label it implements.
    pub label: String,
    /// `request` (HTTP route / direct call) or `event` (consumer handler).
    pub kind: &'static str,
    /// Relationship ids.
    pub rel_ids: Vec<String>,
    /// Human description of the callers.
    pub callers: Vec<String>,
    /// HTTP method the label's verb means (`GET`, ...; see [`crate::verbs`]);
    /// requests only.
    pub http: &'static str,
    /// Whether a request carries a body (`POST`/`PUT`/`PATCH`): then the
    /// handler takes `request_model`, otherwise no argument.
    pub body: bool,
    /// Pydantic request body class in the service's `schemas.py` (requests
    /// with a body only, else empty).
    pub request_model: String,
    /// Pydantic response class in the service's `schemas.py` (requests only).
    pub response_model: String,
    /// Path parameters, passed before the request (see [`crate::spec`]).
    pub params: Vec<crate::spec::Param>,
    /// What methods are deduplicated by (label the name derives from).
    #[serde(skip)]
    key: String,
}

/// An HTTP route of a service.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// Function name in `routes.py`.
    pub func: String,
    /// URL path.
    pub path: String,
    /// Label.
    pub label: String,
    /// `None`: the service object handles it; else the component field.
    pub component: Option<String>,
    /// Method called on the handler object.
    pub method: String,
    /// HTTP method (`GET`, `POST`, ...), from the label's verb.
    pub http: &'static str,
    /// Whether it takes a JSON body (`request_model`).
    pub body: bool,
    /// Request body class in `schemas.py` (empty without a body).
    pub request_model: String,
    /// Response class in `schemas.py`.
    pub response_model: String,
    /// Path parameters (`{name}` in `path`; see [`crate::spec`]).
    pub params: Vec<crate::spec::Param>,
    /// Relationship ids.
    pub rel_ids: Vec<String>,
    /// Who calls it.
    pub callers: Vec<String>,
}

/// The gRPC service a service of ours serves: one rpc per inbound gRPC
/// relationship label, in the `.proto` file next to its code.
#[derive(Debug, Clone, Serialize)]
pub struct GrpcService {
    /// Protobuf package (`catalog_service`).
    pub package: String,
    /// Protobuf service name (`CatalogService`).
    pub service: String,
    /// Path of the `.proto` file in the project.
    pub proto: String,
    /// The rpcs, in relationship order.
    pub rpcs: Vec<Rpc>,
}

/// One rpc of a [`GrpcService`].
#[derive(Debug, Clone, Serialize)]
pub struct Rpc {
    /// Rpc name (PascalCase, unique in the service); messages are `<name>Request`/`<name>Reply`.
    pub name: String,
    /// Label it implements.
    pub label: String,
    /// `None`: the service object handles it; else the component field.
    pub component: Option<String>,
    /// Handler method called (same handler a route of the label would call).
    pub method: String,
    /// Whether the handler takes `request_model` (the label's verb writes).
    pub body: bool,
    /// Request model in `schemas.py` (empty without a body).
    pub request_model: String,
    /// Relationship ids.
    pub rel_ids: Vec<String>,
    /// Who calls it.
    pub callers: Vec<String>,
}

/// A method of a client class.
#[derive(Debug, Clone, Serialize)]
pub struct ClientMethod {
    /// Method name.
    pub name: String,
    /// URL path (HTTP) or RPC method (`/package.Service/Method` for gRPC) or operation name.
    pub path: String,
    /// Label.
    pub label: String,
    /// HTTP method (HTTP clients; from the label's verb, the route's when the target is ours).
    pub http: &'static str,
    /// Whether the call sends a JSON body (`request_model`).
    pub body: bool,
    /// Request body class (empty without a body); defined in the client
    /// module for external targets, imported from the target's `schemas.py`
    /// (`Dep::schemas_module`) for ours.
    pub request_model: String,
    /// Response class (HTTP clients), same place as `request_model`.
    pub response_model: String,
    /// Path parameters (`{name}` in `path`; see [`crate::spec`]).
    pub params: Vec<crate::spec::Param>,
    /// Relationship ids.
    pub rel_ids: Vec<String>,
}

/// An object built once per service and injected where used: a client, a
/// repository, a producer or a cache.
#[derive(Debug, Clone, Serialize)]
pub struct Dep {
    /// Field name on `Dependencies` and attribute name on users.
    pub field: String,
    /// `http`, `grpc`, `generic`, `sql`, `redis`, `amqp_producer`, `kafka_producer`.
    pub kind: &'static str,
    /// Module relative to the service package (`clients.api_application`).
    pub module: String,
    /// Class name.
    pub class: String,
    /// Settings field with its address.
    pub setting: String,
    /// Alias of the thing it talks to.
    pub target: String,
    /// Display name of the thing it talks to.
    pub target_name: String,
    /// Technology text of the relationship(s).
    pub technology: String,
    /// Whether the target is external (outside our systems).
    pub external: bool,
    /// Client methods (clients only).
    pub methods: Vec<ClientMethod>,
    /// Absolute module of the target service's `schemas.py` whose models an
    /// HTTP client of one of our services shares; empty otherwise (an
    /// external target's models are defined in the client module).
    pub schemas_module: String,
    /// Exchange (AMQP) or empty.
    pub exchange: String,
    /// Routing key (AMQP) or topic (Kafka).
    pub routing_key: String,
    /// Record class (SQL).
    pub record: String,
    /// Table name (SQL).
    pub table: String,
    /// Relationship ids.
    pub rel_ids: Vec<String>,
    /// Element aliases this file implements besides relationships.
    pub aliases: Vec<String>,
}

/// A message consumer of a service.
#[derive(Debug, Clone, Serialize)]
pub struct Consumer {
    /// Field name on `Dependencies`.
    pub field: String,
    /// `amqp` or `kafka`.
    pub kind: &'static str,
    /// Module relative to the service package.
    pub module: String,
    /// Class.
    pub class: String,
    /// Settings field with the broker address.
    pub setting: String,
    /// Exchange (AMQP).
    pub exchange: String,
    /// Routing key (AMQP) / topic (Kafka).
    pub routing_key: String,
    /// Queue name (AMQP) / consumer group (Kafka).
    pub queue: String,
    /// `None`: the service handles events, else the component field.
    pub component: Option<String>,
    /// Handler method.
    pub method: String,
    /// Broker alias.
    pub broker: String,
    /// Relationship ids.
    pub rel_ids: Vec<String>,
}

/// A reference from a class to a dependency it uses.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    /// Attribute / field name.
    pub field: String,
    /// Type name.
    pub class: String,
    /// Module relative to the service package.
    pub module: String,
}

/// A component inside a service.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// Alias.
    pub alias: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Technology.
    pub technology: String,
    /// Where declared.
    pub src: Src,
    /// Module identifier and field name.
    pub ident: String,
    /// Implementation class (user module).
    pub class: String,
    /// Base class (generated).
    pub base: String,
    /// Methods.
    pub methods: Vec<Method>,
    /// Service-level dependencies it uses.
    pub uses: Vec<Use>,
    /// Other components it calls.
    pub calls: Vec<Use>,
    /// Relationship ids (outbound and inbound).
    pub rel_ids: Vec<String>,
}

/// A generated service (FastAPI application).
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// Primary alias.
    pub alias: String,
    /// All aliases it stands for (container + matching container boundaries).
    pub aliases: Vec<String>,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Technology text from the diagram.
    pub technology: String,
    /// `container`, `system`, `container boundary` or `component`.
    pub origin: &'static str,
    /// Where declared.
    pub src: Src,
    /// Package identifier.
    pub ident: String,
    /// PascalCase prefix.
    pub class: String,
    /// Compose service / host name.
    pub host: String,
    /// Environment variable prefix.
    pub env_prefix: String,
    /// Dotted module path.
    pub module: String,
    /// Directory.
    pub dir: String,
    /// System package identifier, when grouped.
    pub system: Option<String>,
    /// System display name.
    pub system_name: Option<String>,
    /// Published port on the host.
    pub port: u16,
    /// Components.
    pub components: Vec<Component>,
    /// HTTP routes.
    pub routes: Vec<Route>,
    /// The gRPC service it serves (inbound gRPC relationships), if any.
    pub grpc: Option<GrpcService>,
    /// Service-level methods (routes and event handlers not owned by a component).
    pub methods: Vec<Method>,
    /// Clients, repositories, producers, caches.
    pub deps: Vec<Dep>,
    /// Consumers.
    pub consumers: Vec<Consumer>,
    /// Dependencies the service object itself holds (all of `deps`).
    pub uses: Vec<Use>,
    /// Deployment node path (outermost first).
    pub node: Vec<String>,
    /// Compose network of its top-level deployment node.
    pub network: Option<String>,
    /// Compose environment (name, value).
    pub env: Vec<(String, String)>,
    /// Compose `depends_on`: (host, condition).
    pub depends_on: Vec<(String, String)>,
    /// Relationship ids touching it.
    pub rel_ids: Vec<String>,
}

/// A database (SQL or Redis).
#[derive(Debug, Clone, Serialize)]
pub struct Database {
    /// Alias.
    pub alias: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Technology text.
    pub technology: String,
    /// Where declared.
    pub src: Src,
    /// Identifier.
    pub ident: String,
    /// Compose host.
    pub host: String,
    /// `sql` or `redis`.
    pub tech: Tech,
    /// Outside our systems (no compose service).
    pub external: bool,
    /// Compose image.
    pub image: String,
    /// Deployment node path.
    pub node: Vec<String>,
    /// Compose network.
    pub network: Option<String>,
    /// Relationship ids.
    pub rel_ids: Vec<String>,
}

/// A message broker (explicit element or implied by a relationship).
#[derive(Debug, Clone, Serialize)]
pub struct Broker {
    /// Alias (`_amqp` / `_kafka` for implied brokers).
    pub alias: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Technology text.
    pub technology: String,
    /// Where declared.
    pub src: Src,
    /// Identifier.
    pub ident: String,
    /// Compose host.
    pub host: String,
    /// `amqp` or `kafka`.
    pub tech: Tech,
    /// Outside our systems.
    pub external: bool,
    /// Not drawn, implied by a relationship technology.
    pub implied: bool,
    /// Compose image.
    pub image: String,
    /// Deployment node path.
    pub node: Vec<String>,
    /// Compose network.
    pub network: Option<String>,
    /// Relationship ids.
    pub rel_ids: Vec<String>,
}

/// Something outside our systems (external system, container, component).
#[derive(Debug, Clone, Serialize)]
pub struct External {
    /// Alias.
    pub alias: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Kind.
    pub kind: ElementKind,
    /// Technology.
    pub technology: String,
    /// Where declared.
    pub src: Src,
}

/// A person (actor).
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    /// Alias.
    pub alias: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `Person_Ext`.
    pub external: bool,
    /// Where declared.
    pub src: Src,
    /// What the person does (relationship summaries).
    pub interactions: Vec<String>,
}

/// What the contract test of one relationship does.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TestSpec {
    /// Test kind (`http_internal`, `http_external`, `http_route`, `grpc` (external stub),
    /// `grpc_internal` (our server, in-process), `generic`,
    /// `sql`, `redis`, `amqp_produce`, `amqp_consume`, `kafka_produce`,
    /// `kafka_consume`, `direct`, `doc`).
    pub kind: &'static str,
    /// Dotted module of the class under test.
    pub module: String,
    /// Class under test.
    pub class: String,
    /// Method under test.
    pub method: String,
    /// URL path / routing key / topic.
    pub path: String,
    /// Dotted module of the provider app (`http_internal`, `http_route`), or of the
    /// service dependencies module (`direct`).
    pub provider: String,
    /// Source component field (`direct`).
    pub from_field: String,
    /// Target component field (`direct`).
    pub to_field: String,
    /// HTTP method of the call (`http_*` and `direct` kinds).
    pub http: &'static str,
    /// Whether the call takes a request body (`request_model`).
    pub body: bool,
    /// Request body class (empty without a body).
    pub request_model: String,
    /// Response class.
    pub response_model: String,
    /// Absolute module defining `request_model`/`response_model`.
    pub models_module: String,
    /// Path parameters of the call (see [`crate::spec`]).
    pub params: Vec<crate::spec::Param>,
    /// Typed message model of a queue relationship (empty: a JSON object).
    pub message: String,
    /// Service whose client or route the test exercises (resolved after naming).
    #[serde(skip)]
    pub owner: Option<usize>,
}

/// One relationship and how it is realised.
#[derive(Debug, Clone, Serialize)]
pub struct Relation {
    /// Stable id (`from->to`, `#2` etc. on repeats).
    pub id: String,
    /// Test function name.
    pub test: String,
    /// From alias.
    pub from: String,
    /// To alias.
    pub to: String,
    /// From display name.
    pub from_name: String,
    /// To display name.
    pub to_name: String,
    /// Label.
    pub label: String,
    /// Technology text.
    pub technology: String,
    /// Description.
    pub description: String,
    /// Dynamic index.
    pub index: Option<String>,
    /// Where declared.
    pub src: Src,
    /// The technology chosen (None: unknown / not applicable).
    pub tech: Option<Tech>,
    /// True when the technology was empty and HTTP was assumed.
    pub assumed: bool,
    /// One sentence: how it is realised.
    pub realization: String,
    /// Contract test.
    pub spec: TestSpec,
    /// `AddProperty` rows (read by [`crate::spec`]).
    #[serde(skip)]
    pub properties: Vec<Vec<String>>,
    /// 1-based column where declared.
    #[serde(skip)]
    pub column: u32,
}

/// A dynamic diagram's numbered call order.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    /// Test function identifier.
    pub ident: String,
    /// Title.
    pub title: String,
    /// Diagram file.
    pub file: String,
    /// Steps in call order: (index, relation test function, relation id, summary).
    pub steps: Vec<FlowStep>,
}

/// One step of a flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowStep {
    /// Index as printed.
    pub index: String,
    /// Relation id.
    pub rel_id: String,
    /// Contract test function to run.
    pub test: String,
    /// Summary.
    pub summary: String,
}

/// A compose network for a top-level deployment node.
#[derive(Debug, Clone, Serialize)]
pub struct Network {
    /// Network name.
    pub ident: String,
    /// Node label.
    pub label: String,
    /// Node alias.
    pub alias: String,
    /// Node technology.
    pub technology: String,
    /// Where declared.
    pub src: Src,
}

/// Documentation row for every element (README and manifest).
#[derive(Debug, Clone, Serialize)]
pub struct ElementDoc {
    /// Alias.
    pub alias: String,
    /// Kind (`person`, `system`, ...).
    pub kind: ElementKind,
    /// Name.
    pub name: String,
    /// External.
    pub external: bool,
    /// Where declared.
    pub src: Src,
    /// What it became.
    pub role: String,
}

/// Everything a generator needs, names decided.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    /// Title.
    pub title: String,
    /// Distribution name (kebab).
    pub dist: String,
    /// Root Python package.
    pub package: String,
    /// Source name of the run.
    pub source: String,
    /// System packages.
    pub systems: Vec<SystemPkg>,
    /// Services.
    pub services: Vec<Service>,
    /// Databases.
    pub databases: Vec<Database>,
    /// Brokers.
    pub brokers: Vec<Broker>,
    /// External things.
    pub externals: Vec<External>,
    /// Persons.
    pub persons: Vec<Person>,
    /// Relationships.
    pub relations: Vec<Relation>,
    /// Dynamic flows.
    pub flows: Vec<Flow>,
    /// Compose networks.
    pub networks: Vec<Network>,
    /// Every element.
    pub elements: Vec<ElementDoc>,
    /// Diagrams (title, level, file).
    pub diagrams: Vec<(String, Level, String)>,
    /// Extra pip requirements implied by the technologies used.
    pub requirements: Vec<String>,
    /// Technologies used.
    pub techs: BTreeSet<Tech>,
}

/// Names a service's `Dependencies` fields, component modules and handler
/// methods must not take (they are the fixed API of the generated code).
const RESERVED_FIELDS: [&str; 8] = [
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
const MODEL_MODULE_IMPORTS: [&str; 4] = ["Any", "BaseModel", "ConfigDict", "Field"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Service(usize),
    Component(usize, usize),
    Database(usize),
    Broker(usize),
    External(usize),
    Person(usize),
    Unknown,
}

struct Ctx<'a> {
    elements: Vec<(&'a Element, Src)>,
    by_alias: BTreeMap<&'a str, usize>,
    boundaries: BTreeMap<&'a str, (&'a Boundary, Src)>,
    /// Elements of a later diagram that are an element of an earlier one under
    /// another alias (same kind, shape, externality and name): (element, src, canonical alias).
    synonyms: Vec<(&'a Element, Src, String)>,
}

impl<'a> Ctx<'a> {
    fn new(model: &'a Model, source: &str) -> Self {
        let mut elements: Vec<(&'a Element, Src)> = Vec::new();
        let mut by_alias = BTreeMap::new();
        let mut boundaries = BTreeMap::new();
        let mut synonyms = Vec::new();
        // The first element of an earlier diagram per (kind, shape,
        // externality, normalized name): one lookup per element instead of a
        // scan of all earlier ones (quadratic on large models, issue 17).
        type SynonymKey = (ElementKind, Shape, bool, String);
        let mut earlier: HashMap<SynonymKey, usize> = HashMap::new();
        for d in &model.diagrams {
            let file = diagram_file(d, source);
            let first_of_diagram = elements.len();
            for e in &d.elements {
                if by_alias.contains_key(e.alias.as_str()) {
                    continue;
                }
                let src = Src {
                    file: file.clone(),
                    line: e.span.line,
                };
                let name = norm(&e.name);
                let same = if name.is_empty() {
                    None
                } else {
                    earlier.get(&(e.kind, e.shape, e.external, name)).copied()
                };
                if let Some(i) = same {
                    by_alias.insert(e.alias.as_str(), i);
                    synonyms.push((e, src, elements[i].0.alias.to_string()));
                    continue;
                }
                by_alias.insert(e.alias.as_str(), elements.len());
                elements.push((e, src));
            }
            for (i, (o, _)) in elements.iter().enumerate().skip(first_of_diagram) {
                earlier
                    .entry((o.kind, o.shape, o.external, norm(&o.name)))
                    .or_insert(i);
            }
            for b in &d.boundaries {
                boundaries.entry(b.alias.as_str()).or_insert((
                    b,
                    Src {
                        file: file.clone(),
                        line: b.span.line,
                    },
                ));
            }
        }
        Self {
            elements,
            by_alias,
            boundaries,
            synonyms,
        }
    }

    /// Boundary chain from the element's parent outwards.
    fn ancestors(&self, parent: Option<&'a str>) -> Vec<&'a Boundary> {
        let mut out = Vec::new();
        let mut cur = parent;
        let mut seen = BTreeSet::new();
        while let Some(p) = cur {
            if !seen.insert(p) {
                break;
            }
            match self.boundaries.get(p) {
                Some((b, _)) => {
                    out.push(*b);
                    cur = b.parent.as_deref();
                }
                None => break,
            }
        }
        out
    }
}

fn diagram_file(d: &Diagram, source: &str) -> String {
    if d.file.is_empty() {
        source.to_string()
    } else {
        d.file.clone()
    }
}

/// The technology of the broker element `ctx.elements[i]`: its own
/// technology, else its name (`"Kafka cluster"`), else the first
/// relationship to or from it (in source order) whose technology names a
/// broker; AMQP when none does. A `ContainerQueue(bus, "Event bus",
/// "Message broker")` that every `Rel` calls `"Kafka"` is Kafka.
fn broker_tech(model: &Model, ctx: &Ctx<'_>, i: usize) -> Tech {
    let broker =
        |text: &str| techmap::classify(text).filter(|t| matches!(t, Tech::Amqp | Tech::Kafka));
    let (e, _) = ctx.elements[i];
    let touches = |alias: &str| ctx.by_alias.get(alias) == Some(&i);
    broker(&e.technology)
        .or_else(|| broker(&e.name))
        .or_else(|| {
            model
                .diagrams
                .iter()
                .flat_map(|d| &d.relationships)
                .filter(|r| touches(&r.from) || touches(&r.to))
                .find_map(|r| broker(&r.technology))
        })
        .unwrap_or(Tech::Amqp)
}

fn norm(s: &str) -> String {
    naming::words(s).join(" ")
}

fn one_line(s: &str) -> String {
    s.replace("\\n", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Natural order of dynamic indexes: `"2" < "4-1" < "10"`.
fn index_key(index: &str) -> Vec<u64> {
    index
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u64>().unwrap_or(u64::MAX))
        .collect()
}

/// Strips "Container diagram for" style prefixes from a title.
fn project_title(model: &Model, source: &str) -> String {
    for d in &model.diagrams {
        if let Some(t) = d.title.as_deref().filter(|t| !naming::words(t).is_empty()) {
            let lower = t.to_ascii_lowercase();
            if let Some(pos) = lower.find(" for ")
                && lower[..pos].contains("diagram")
            {
                return one_line(&t[pos + 5..]);
            }
            return one_line(t);
        }
        if let Some(n) = d.name.as_deref().filter(|t| !naming::words(t).is_empty()) {
            return one_line(n.trim_matches('"'));
        }
    }
    let stem = source.rsplit('/').next().unwrap_or(source);
    let stem = stem.strip_suffix(".puml").unwrap_or(stem);
    let stem = stem.strip_suffix(".json").unwrap_or(stem);
    if naming::words(stem).is_empty() {
        "c4 project".to_string()
    } else {
        one_line(stem)
    }
}

/// State of pass 1 (elements to services, databases, brokers, ...).
struct Elems<'a> {
    ctx: Ctx<'a>,
    source: String,
    package: String,
    root_scope: Scope,
    host_scope: Scope,
    systems: Vec<SystemPkg>,
    system_scopes: BTreeMap<String, Scope>,
    services: Vec<Service>,
    networks: Vec<Network>,
    network_of: BTreeMap<String, String>,
    net_scope: Scope,
}

impl<'a> Elems<'a> {
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
        origin: &'static str,
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

/// Builds the project description of a model.
pub fn analyze(model: &Model, source: &str) -> Project {
    let ctx = Ctx::new(model, source);
    let title = project_title(model, source);
    let mut package = snake(&title, "app");
    if naming::is_reserved_top_level(&package) {
        package.push_str("_app");
    }
    let dist = kebab(&package);
    let has_containers = ctx.elements.iter().any(|(e, _)| {
        (e.kind == ElementKind::Container || e.kind == ElementKind::Component) && !e.external
    }) || ctx
        .boundaries
        .values()
        .any(|(b, _)| b.kind == BoundaryKind::ContainerBoundary);
    let elements: Vec<(&Element, Src)> = ctx.elements.clone();
    let mut a = Elems {
        ctx,
        source: source.to_string(),
        package: package.clone(),
        root_scope: Scope::with_reserved(&["testing", "__init__", "__main__"]),
        host_scope: Scope::with_reserved(&["tests"]),
        systems: Vec::new(),
        system_scopes: BTreeMap::new(),
        services: Vec::new(),
        networks: Vec::new(),
        network_of: BTreeMap::new(),
        net_scope: Scope::with_reserved(&["default"]),
    };
    let mut databases: Vec<Database> = Vec::new();
    let mut brokers: Vec<Broker> = Vec::new();
    let mut externals: Vec<External> = Vec::new();
    let mut persons: Vec<Person> = Vec::new();
    let mut endpoints: BTreeMap<String, Endpoint> = BTreeMap::new();
    let mut elements_doc: Vec<ElementDoc> = Vec::new();

    // System boundaries drawn with containers in them, by alias and by
    // normalized label: a system of that alias or name is implemented by
    // its containers (one lookup per system, not a scan of everything).
    let container_parents: HashSet<&str> = elements
        .iter()
        .filter(|(c, _)| c.kind == ElementKind::Container)
        .filter_map(|(c, _)| c.parent.as_deref())
        .collect();
    let (expanded_aliases, expanded_labels): (HashSet<&str>, HashSet<String>) = a
        .ctx
        .boundaries
        .values()
        .filter(|(b, _)| {
            b.kind == BoundaryKind::SystemBoundary && container_parents.contains(b.alias.as_str())
        })
        .map(|(b, _)| (b.alias.as_str(), norm(&b.label)))
        .unzip();

    // Pass 1: containers, systems, databases, brokers, externals, persons.
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
                || (e.shape == Shape::Default && matches!(tech, Some(Tech::Amqp | Tech::Kafka))));
        let display = if naming::words(&e.name).is_empty() {
            e.alias.as_str()
        } else {
            e.name.as_str()
        };
        if e.kind == ElementKind::Person {
            persons.push(Person {
                alias: e.alias.to_string(),
                name: one_line(&e.name),
                description: one_line(&e.description),
                external: e.external,
                src: src.clone(),
                interactions: Vec::new(),
            });
            endpoints.insert(e.alias.to_string(), Endpoint::Person(persons.len() - 1));
            role = "actor (documented in the README)".into();
        } else if is_db {
            let t = if tech == Some(Tech::Redis) {
                Tech::Redis
            } else {
                Tech::Sql
            };
            let host = a.host_scope.alloc_sep(&kebab(&snake(display, "db")), "-");
            let (node, network) = a.deployment(e.parent.as_deref());
            databases.push(Database {
                alias: e.alias.to_string(),
                name: one_line(&e.name),
                description: one_line(&e.description),
                technology: one_line(&e.technology),
                src: src.clone(),
                ident: host.replace('-', "_"),
                host,
                tech: t,
                external: e.external,
                image: techmap::row(t).image.to_string(),
                node,
                network,
                rel_ids: Vec::new(),
            });
            endpoints.insert(e.alias.to_string(), Endpoint::Database(databases.len() - 1));
            role = format!(
                "{} database",
                if t == Tech::Redis { "Redis" } else { "SQL" }
            );
        } else if is_broker {
            let t = broker_tech(model, &a.ctx, i);
            let host = a
                .host_scope
                .alloc_sep(&kebab(&snake(display, "broker")), "-");
            let (node, network) = a.deployment(e.parent.as_deref());
            brokers.push(Broker {
                alias: e.alias.to_string(),
                name: one_line(&e.name),
                description: one_line(&e.description),
                technology: one_line(&e.technology),
                src: src.clone(),
                ident: host.replace('-', "_"),
                host,
                tech: t,
                external: e.external,
                implied: false,
                image: techmap::row(t).image.to_string(),
                node,
                network,
                rel_ids: Vec::new(),
            });
            endpoints.insert(e.alias.to_string(), Endpoint::Broker(brokers.len() - 1));
            role = format!("{} broker", if t == Tech::Kafka { "Kafka" } else { "AMQP" });
        } else if e.external {
            externals.push(External {
                alias: e.alias.to_string(),
                name: one_line(&e.name),
                description: one_line(&e.description),
                kind: e.kind,
                technology: one_line(&e.technology),
                src: src.clone(),
            });
            endpoints.insert(e.alias.to_string(), Endpoint::External(externals.len() - 1));
            role = "external (client stubs with configurable URLs)".into();
        } else {
            match e.kind {
                ElementKind::Container => {
                    let s = a.new_service(
                        &e.alias,
                        &e.name,
                        &e.description,
                        &e.technology,
                        "container",
                        src.clone(),
                        e.parent.as_deref(),
                    );
                    endpoints.insert(e.alias.to_string(), Endpoint::Service(s));
                    role = "service".into();
                }
                ElementKind::System => {
                    let expanded = expanded_aliases.contains(e.alias.as_str())
                        || expanded_labels.contains(&norm(&e.name));
                    if has_containers && expanded {
                        role = "system (implemented by its containers)".into();
                    } else {
                        let s = a.new_service(
                            &e.alias,
                            &e.name,
                            &e.description,
                            &e.technology,
                            "system",
                            src.clone(),
                            e.parent.as_deref(),
                        );
                        endpoints.insert(e.alias.to_string(), Endpoint::Service(s));
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
        elements_doc.push(ElementDoc {
            alias: e.alias.to_string(),
            kind: e.kind,
            name: one_line(&e.name),
            external: e.external,
            src: src.clone(),
            role,
        });
    }

    // Container boundaries: match a container (alias or label) or become a service.
    let mut boundary_service: BTreeMap<String, usize> = BTreeMap::new();
    let mut cb: Vec<(&Boundary, Src)> = a
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
    for (i, s) in a.services.iter().enumerate() {
        if s.origin == "container" {
            container_by_alias.entry(s.alias.clone()).or_insert(i);
            container_by_name.entry(norm(&s.name)).or_insert(i);
        }
    }
    let component_ancestors: HashSet<&str> = pending_components
        .iter()
        .flat_map(|&ci| a.ctx.ancestors(elements[ci].0.parent.as_deref()))
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
                a.new_service(
                    &b.alias,
                    &b.label,
                    &b.description,
                    &b.technology,
                    "container boundary",
                    src.clone(),
                    b.parent.as_deref(),
                )
            }
        };
        if !a.services[idx].aliases.iter().any(|x| *x == b.alias) {
            a.services[idx].aliases.push(b.alias.to_string());
        }
        boundary_service.insert(b.alias.to_string(), idx);
        endpoints
            .entry(b.alias.to_string())
            .or_insert(Endpoint::Service(idx));
    }

    // Components.
    let mut comp_scopes: BTreeMap<usize, Scope> = BTreeMap::new();
    for ci in pending_components {
        let (e, src) = &elements[ci];
        let owner = a
            .ctx
            .ancestors(e.parent.as_deref())
            .iter()
            .find_map(|b| boundary_service.get(b.alias.as_str()).copied());
        let svc = match owner {
            Some(s) => s,
            None => a.new_service(
                &e.alias,
                &e.name,
                &e.description,
                &e.technology,
                "component",
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
        a.services[svc].components.push(Component {
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
        endpoints.insert(
            e.alias.to_string(),
            Endpoint::Component(svc, a.services[svc].components.len() - 1),
        );
    }
    // Elements drawn again in another diagram under another alias.
    let synonyms: Vec<(&Element, Src, String)> = a.ctx.synonyms.clone();
    for (e, src, canonical) in &synonyms {
        if let Some(ep) = endpoints.get(canonical).copied() {
            endpoints.insert(e.alias.to_string(), ep);
            if let Endpoint::Service(i) = ep {
                a.services[i].aliases.push(e.alias.to_string());
            }
        }
        elements_doc.push(ElementDoc {
            alias: e.alias.to_string(),
            kind: e.kind,
            name: one_line(&e.name),
            external: e.external,
            src: src.clone(),
            role: format!("same element as `{canonical}` (same name in another diagram)"),
        });
    }
    let ctx = &a.ctx;
    let systems = std::mem::take(&mut a.systems);
    let networks = std::mem::take(&mut a.networks);
    let services = std::mem::take(&mut a.services);
    let host_scope = std::mem::take(&mut a.host_scope);

    let mut b = Builder {
        services,
        databases,
        brokers,
        host_scope,
        field_scopes: BTreeMap::new(),
        module_scopes: BTreeMap::new(),
        class_scopes: BTreeMap::new(),
        setting_owners: BTreeMap::new(),
        setting_of: HashMap::new(),
        setting_next: HashMap::new(),
        method_reqs: Vec::new(),
        techs: BTreeSet::new(),
        canon: synonyms
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

    // Relationships.
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
            let from = endpoints
                .get(r.from.as_str())
                .copied()
                .unwrap_or(Endpoint::Unknown);
            let to = endpoints
                .get(r.to.as_str())
                .copied()
                .unwrap_or(Endpoint::Unknown);
            let src = Src {
                file: file.clone(),
                line: r.span.line,
            };
            let (tech, assumed, mut realization, spec) = b.realize(r, &id, from, to, &name_of);
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
                if let Some(Endpoint::Person(p)) = endpoints.get(who.as_str())
                    && interactions_seen.insert((*p, text.clone()))
                {
                    persons[*p].interactions.push(text);
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
    b.assign_methods();
    for rel in &mut relations {
        let Some(owner) = rel.spec.owner else {
            continue;
        };
        let s = &b.services[owner];
        if rel.spec.kind == "direct" {
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
        } else if rel.spec.kind == "http_route" {
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
    b.finish_compose(&package);

    let mut requirements: Vec<String> = b
        .techs
        .iter()
        // grpcio is optional for clients (imported lazily), required to serve.
        .filter(|t| **t != Tech::Grpc || b.services.iter().any(|s| s.grpc.is_some()))
        .map(|t| techmap::row(*t).requirement.to_string())
        .collect();
    if b.techs.contains(&Tech::Sql) {
        requirements.push("psycopg[binary]>=3.1".into());
    }
    requirements.sort();
    requirements.dedup();

    Project {
        title,
        dist,
        package,
        source: source.to_string(),
        systems,
        services: b.services,
        databases: b.databases,
        brokers: b.brokers,
        externals,
        persons,
        relations,
        flows,
        networks,
        elements: elements_doc,
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

/// A method to allocate once all fields are known (pass B).
struct MethodReq {
    svc: usize,
    comp: Option<usize>,
    label: String,
    /// Label shown in docs (the relationship's own label).
    display: String,
    kind: &'static str,
    rel_id: String,
    caller: String,
    /// Route to add (`Some(())`) for HTTP requests.
    route: bool,
    /// Rpc to add to the target's gRPC service.
    grpc: bool,
    /// Client methods whose `path`/`name` must be filled with the route: (service, dep index, method index).
    client: Option<(usize, usize, usize)>,
    /// Consumer to wire: (service, consumer index).
    consumer: Option<(usize, usize)>,
}

struct Builder {
    services: Vec<Service>,
    databases: Vec<Database>,
    brokers: Vec<Broker>,
    host_scope: Scope,
    field_scopes: BTreeMap<usize, Scope>,
    module_scopes: BTreeMap<(usize, &'static str), Scope>,
    class_scopes: BTreeMap<usize, Scope>,
    /// (service, settings field) -> (target alias, kind of connection) it
    /// configures.
    setting_owners: BTreeMap<(usize, String), (String, &'static str)>,
    /// (service, base, target, kind) -> the settings field it got.
    setting_of: HashMap<(usize, String, String, &'static str), String>,
    /// (service, base) -> the next suffix to try.
    setting_next: HashMap<(usize, String), usize>,
    method_reqs: Vec<MethodReq>,
    /// Synonym alias -> canonical alias (same element in several diagrams).
    canon: BTreeMap<String, String>,
    techs: BTreeSet<Tech>,
}

impl Builder {
    fn owner(ep: Endpoint) -> Option<(usize, Option<usize>)> {
        match ep {
            Endpoint::Service(s) => Some((s, None)),
            Endpoint::Component(s, c) => Some((s, Some(c))),
            _ => None,
        }
    }

    fn module_name(&mut self, svc: usize, pkg: &'static str, base: &str) -> String {
        self.module_scopes
            .entry((svc, pkg))
            .or_insert_with(|| Scope::with_reserved(&["__init__"]))
            .alloc(base)
    }

    /// A class name unique among the classes a service's dependencies module imports.
    fn class_name(&mut self, svc: usize, module: &str, suffix: &str) -> String {
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

    fn record_use(&mut self, svc: usize, comp: Option<usize>, dep: usize) {
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

    fn touch(&mut self, svc: usize, comp: Option<usize>, id: &str) {
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
    fn setting(&mut self, svc: usize, base: &str, target: &str, family: &'static str) -> String {
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
    fn dep(
        &mut self,
        svc: usize,
        kind: &'static str,
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
            "http" | "grpc" => ("clients", "client"),
            "generic" => ("clients", "gateway"),
            "sql" => ("db", "repository"),
            "redis" => ("cache", "cache"),
            _ => ("messaging", "producer"),
        };
        let mod_base = if suffix == "producer" {
            format!("{base}_{}_producer", snake(routing_key, "events"))
        } else {
            base.clone()
        };
        let mod_base = if kind == "grpc" {
            format!("{base}_grpc")
        } else if kind == "generic" {
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
        let class = match kind {
            "http" | "grpc" => self.class_name(svc, &module, "client"),
            "generic" => self.class_name(svc, &module, "gateway"),
            "sql" => self.class_name(svc, &module, "repository"),
            "redis" => self.class_name(svc, &module, "cache"),
            _ => self.class_name(svc, &module, "producer"),
        };
        let setting_base = match kind {
            "kafka_producer" => naming::join(&snake(target, "broker"), "bootstrap_servers"),
            _ => naming::join(&snake(tname, "target"), "url"),
        };
        // Producers and repositories get their broker's or database's
        // setting where they are wired.
        let setting = if matches!(kind, "http" | "grpc" | "generic") {
            self.setting(svc, &setting_base, target, kind)
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

    fn implied_broker(&mut self, tech: Tech) -> usize {
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
            alias: alias.to_string(),
            name: name.to_string(),
            description: "Implied by a relationship technology; not drawn in the diagram.".into(),
            technology: name.to_string(),
            src: Src {
                file: String::new(),
                line: 0,
            },
            ident: host.replace('-', "_"),
            host,
            tech,
            external: false,
            implied: true,
            image: techmap::row(tech).image.to_string(),
            node: Vec::new(),
            network: None,
            rel_ids: Vec::new(),
        });
        self.brokers.len() - 1
    }

    fn add_rel_to_dep(&mut self, svc: usize, dep: usize, id: &str) {
        let d = &mut self.services[svc].deps[dep];
        if !d.rel_ids.iter().any(|x| x == id) {
            d.rel_ids.push(id.to_string());
        }
    }

    fn producer(
        &mut self,
        svc: usize,
        comp: Option<usize>,
        broker: usize,
        r: &Relationship,
        id: &str,
    ) -> (usize, TestSpec) {
        let b = self.brokers[broker].clone();
        let kind = if b.tech == Tech::Kafka {
            "kafka_producer"
        } else {
            "amqp_producer"
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
        (
            dep,
            TestSpec {
                kind: if b.tech == Tech::Kafka {
                    "kafka_produce"
                } else {
                    "amqp_produce"
                },
                module: format!("{}.{}", s.module, d.module),
                class: d.class.clone(),
                path: key,
                ..Default::default()
            },
        )
    }

    fn consumer(
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
                let (base, family) = if b.tech == Tech::Kafka {
                    (format!("{}_bootstrap_servers", b.ident), "kafka")
                } else {
                    (format!("{}_url", b.ident), "amqp")
                };
                let setting = self.setting(svc, &base, &b.alias, family);
                let s = &self.services[svc];
                let queue = format!("{}.{}", s.host, key);
                let c = Consumer {
                    field,
                    kind: family,
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
            kind: "event",
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
                "kafka_consume"
            } else {
                "amqp_consume"
            },
            module: format!("{}.{}", s.module, c.module),
            class: c.class.clone(),
            path: key,
            ..Default::default()
        }
    }

    /// Decides how one relationship is realised; registers what it needs.
    fn realize(
        &mut self,
        r: &Relationship,
        id: &str,
        from: Endpoint,
        to: Endpoint,
        name_of: &dyn Fn(&str) -> String,
    ) -> (Option<Tech>, bool, String, TestSpec) {
        let rtech = techmap::classify(&r.technology);
        let empty = r.technology.trim().is_empty();
        let doc = |why: &str| {
            (
                rtech,
                false,
                why.to_string(),
                TestSpec {
                    kind: "doc",
                    ..Default::default()
                },
            )
        };
        let caller = name_of(&r.from);

        // Databases and brokers are passive: whichever side is ours uses them.
        let (ours, other) = match (Self::owner(from), Self::owner(to)) {
            (Some(o), _) if !matches!(to, Endpoint::Unknown) => (Some(o), to),
            (None, Some(o)) if matches!(from, Endpoint::Database(_)) => (Some(o), from),
            _ => (None, to),
        };
        if let (Some((svc, comp)), Endpoint::Database(db)) = (ours, other) {
            let d = self.databases[db].clone();
            let tech = match rtech {
                Some(Tech::Redis) => Tech::Redis,
                Some(Tech::Sql) => Tech::Sql,
                _ => d.tech,
            };
            let kind = if tech == Tech::Redis { "redis" } else { "sql" };
            let dep = self.dep(
                svc,
                kind,
                &d.alias,
                &d.name,
                "",
                &one_line(&r.technology),
                d.external,
            );
            let setting = self.setting(svc, &format!("{}_url", d.ident), &d.alias, kind);
            self.services[svc].deps[dep].setting = setting;
            if !self.services[svc].deps[dep].aliases.contains(&d.alias) {
                self.services[svc].deps[dep].aliases.push(d.alias.clone());
            }
            self.add_rel_to_dep(svc, dep, id);
            self.record_use(svc, comp, dep);
            self.touch(svc, comp, id);
            self.databases[db].rel_ids.push(id.to_string());
            self.techs.insert(tech);
            let s = &self.services[svc];
            let dd = &s.deps[dep];
            return (
                Some(tech),
                false,
                format!(
                    "{} `{}` in {} ({}){}",
                    if tech == Tech::Redis {
                        "Redis cache"
                    } else {
                        "SQLAlchemy repository"
                    },
                    dd.class,
                    s.name,
                    techmap::row(tech).library,
                    if tech == Tech::Sql
                        && rtech != Some(Tech::Sql)
                        && techmap::classify(&d.technology) != Some(Tech::Sql)
                        && !d.technology.is_empty()
                    {
                        format!(
                            "; \"{}\" is not a SQL engine c4forge knows, so SQL is assumed",
                            d.technology
                        )
                    } else {
                        String::new()
                    }
                ),
                TestSpec {
                    kind: if tech == Tech::Redis { "redis" } else { "sql" },
                    module: format!("{}.{}", s.module, dd.module),
                    class: dd.class.clone(),
                    ..Default::default()
                },
            );
        }

        match (from, to) {
            // In-process call between components of one service.
            (Endpoint::Component(s1, c1), Endpoint::Component(s2, c2)) if s1 == s2 => {
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
                    kind: "request",
                    rel_id: id.to_string(),
                    caller,
                    route: false,
                    grpc: false,
                    client: None,
                    consumer: None,
                });
                let s = &self.services[s1];
                (
                    rtech,
                    false,
                    format!(
                        "in-process call from component `{}` to `{}` in {}",
                        s.components[c1].class, target.class, s.name
                    ),
                    TestSpec {
                        kind: "direct",
                        provider: s.module.clone(),
                        owner: Some(s1),
                        from_field: s.components[c1].ident.clone(),
                        to_field: target.ident.clone(),
                        ..Default::default()
                    },
                )
            }
            // Ours -> broker: producer.
            (f, Endpoint::Broker(bi)) if Self::owner(f).is_some() => {
                let (svc, comp) = Self::owner(f).unwrap_or((0, None));
                let (_, spec) = self.producer(svc, comp, bi, r, id);
                let b = &self.brokers[bi];
                (
                    Some(b.tech),
                    false,
                    format!(
                        "{} producer publishing `{}` to {}",
                        techmap::row(b.tech).library,
                        spec.path,
                        b.name
                    ),
                    spec,
                )
            }
            // Broker -> ours: consumer.
            (Endpoint::Broker(bi), t) if Self::owner(t).is_some() => {
                let (svc, comp) = Self::owner(t).unwrap_or((0, None));
                let spec = self.consumer(svc, comp, bi, r, id, caller);
                let b = &self.brokers[bi];
                (
                    Some(b.tech),
                    false,
                    format!(
                        "{} consumer of `{}` from {}",
                        techmap::row(b.tech).library,
                        spec.path,
                        b.name
                    ),
                    spec,
                )
            }
            // Ours -> ours (other service) or ours -> external.
            (f, t)
                if Self::owner(f).is_some()
                    && (Self::owner(t).is_some() || matches!(t, Endpoint::External(_))) =>
            {
                let (svc, comp) = Self::owner(f).unwrap_or((0, None));
                let (tech, assumed) = match rtech {
                    Some(t) => (Some(t), false),
                    None if empty => (Some(Tech::Http), true),
                    None => (None, false),
                };
                match tech {
                    Some(Tech::Amqp | Tech::Kafka) if Self::owner(t).is_some() => {
                        let bi = self.implied_broker(tech.unwrap_or(Tech::Amqp));
                        let (_, spec) = self.producer(svc, comp, bi, r, id);
                        let (tsvc, tcomp) = Self::owner(t).unwrap_or((0, None));
                        let _ = self.consumer(tsvc, tcomp, bi, r, id, caller);
                        let b = &self.brokers[bi];
                        (
                            tech,
                            false,
                            format!(
                                "{} producer in the source and consumer in the target via {}",
                                techmap::row(b.tech).library,
                                b.host
                            ),
                            spec,
                        )
                    }
                    Some(Tech::Http) | Some(Tech::Grpc) | None | Some(_) => {
                        let kind = match tech {
                            Some(Tech::Http) => "http",
                            Some(Tech::Grpc) => "grpc",
                            _ => "generic",
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
                        if let (Some(ts), "http") = (target_svc, kind) {
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
                                    "grpc" if target_svc.is_some() => {
                                        format!("?{}", dd.methods.len())
                                    }
                                    "grpc" => format!(
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
                            (Endpoint::Service(ts), _) => {
                                (Some((ts, None)), self.services[ts].module.clone())
                            }
                            (Endpoint::Component(ts, tc), _) => {
                                (Some((ts, Some(tc))), self.services[ts].module.clone())
                            }
                            _ => (None, String::new()),
                        };
                        if let (Some((ts, tc)), "http") = (tsvc_comp, kind) {
                            self.touch(ts, tc, id);
                            self.method_reqs.push(MethodReq {
                                svc: ts,
                                comp: tc,
                                label: r.label.to_string(),
                                display: one_line(&r.label),
                                kind: "request",
                                rel_id: id.to_string(),
                                caller: caller.clone(),
                                route: true,
                                grpc: false,
                                client: Some((svc, dep, mi)),
                                consumer: None,
                            });
                        } else if let (Some((ts, tc)), "grpc") = (tsvc_comp, kind) {
                            self.touch(ts, tc, id);
                            self.method_reqs.push(MethodReq {
                                svc: ts,
                                comp: tc,
                                label: r.label.to_string(),
                                display: one_line(&r.label),
                                kind: "request",
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
                            ("http", true) => "http_internal",
                            ("http", false) => "http_external",
                            ("grpc", true) => "grpc_internal",
                            ("grpc", false) => "grpc",
                            _ => "generic",
                        };
                        let what = match kind {
                            "http" => "httpx client",
                            "grpc" if target_svc.is_some() => "gRPC client",
                            "grpc" => "gRPC client stub",
                            _ => {
                                "gateway stub (technology not supported; transport to be provided)"
                            }
                        };
                        (
                            tech,
                            assumed,
                            format!(
                                "{what} `{}` in {}{}{}",
                                d.class,
                                s.name,
                                if spec_kind == "http_internal" {
                                    format!(" calling a route of {}", target_name)
                                } else if spec_kind == "grpc_internal" {
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
                            TestSpec {
                                kind: spec_kind,
                                module: format!("{}.{}", s.module, d.module),
                                class: d.class.clone(),
                                provider,
                                owner: Some(svc),
                                ..Default::default()
                            },
                        )
                    }
                }
            }
            // Person / external -> ours over HTTP (or unspecified): a route.
            (Endpoint::Person(_) | Endpoint::External(_) | Endpoint::Unknown, t)
                if Self::owner(t).is_some() && (rtech == Some(Tech::Http) || empty) =>
            {
                let (ts, tc) = Self::owner(t).unwrap_or((0, None));
                self.touch(ts, tc, id);
                self.techs.insert(Tech::Http);
                self.method_reqs.push(MethodReq {
                    svc: ts,
                    comp: tc,
                    label: r.label.to_string(),
                    display: one_line(&r.label),
                    kind: "request",
                    rel_id: id.to_string(),
                    caller,
                    route: true,
                    grpc: false,
                    client: None,
                    consumer: None,
                });
                let s = &self.services[ts];
                (
                    Some(Tech::Http),
                    empty,
                    format!(
                        "HTTP route in {}{}",
                        s.name,
                        if empty {
                            " (no technology given: HTTP assumed)"
                        } else {
                            ""
                        }
                    ),
                    TestSpec {
                        kind: "http_route",
                        provider: s.module.clone(),
                        owner: Some(ts),
                        ..Default::default()
                    },
                )
            }
            (Endpoint::External(_) | Endpoint::Person(_), t)
                if Self::owner(t).is_some() && matches!(rtech, Some(Tech::Amqp | Tech::Kafka)) =>
            {
                let tech = rtech.unwrap_or(Tech::Amqp);
                let bi = self.implied_broker(tech);
                let (ts, tc) = Self::owner(t).unwrap_or((0, None));
                let spec = self.consumer(ts, tc, bi, r, id, caller);
                (
                    rtech,
                    false,
                    format!(
                        "{} consumer in {}",
                        techmap::row(tech).library,
                        self.services[ts].name
                    ),
                    spec,
                )
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

    /// Pass B: methods, routes and client paths, now that every field name is known.
    fn assign_methods(&mut self) {
        let reqs = std::mem::take(&mut self.method_reqs);
        let mut class_scopes: BTreeMap<(usize, Option<usize>), Scope> = BTreeMap::new();
        let mut route_scopes: BTreeMap<usize, Scope> = BTreeMap::new();
        // Pydantic model names, unique per service (one `schemas.py`).
        let mut model_scopes: BTreeMap<usize, Scope> = BTreeMap::new();
        // Rpc names, unique per served gRPC service.
        let mut rpc_scopes: BTreeMap<usize, Scope> = BTreeMap::new();
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
                    let scope = class_scopes.entry((svc, req.comp)).or_insert_with(|| {
                        let r: Vec<&str> = reserved.iter().map(String::as_str).collect();
                        Scope::with_reserved(&r)
                    });
                    let name = scope.alloc(&base);
                    let (request_model, response_model) = if req.kind == "request" {
                        let ms = model_scopes.entry(svc).or_insert_with(|| {
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
            if req.route {
                let prefix = match &comp_ident {
                    Some(c) => format!("/{}", kebab(c)),
                    None => String::new(),
                };
                let by_verb = format!("{prefix}/{}", kebab(&snake(&verb.resource, &method_name)));
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
            if req.grpc {
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
        }
        // Drop merged client methods; make client method names unique.
        for s in &mut self.services {
            for d in &mut s.deps {
                d.methods.retain(|m| !m.path.is_empty());
                let mut sc = Scope::with_reserved(&["close"]);
                let mut models = Scope::with_reserved(&MODEL_MODULE_IMPORTS);
                let local_models = d.kind == "http" && d.schemas_module.is_empty();
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

    /// Compose environment and dependencies of every service.
    fn finish_compose(&mut self, _package: &str) {
        let db_hosts: BTreeMap<String, (String, Tech, bool)> = self
            .databases
            .iter()
            .map(|d| (d.alias.clone(), (d.host.clone(), d.tech, d.external)))
            .collect();
        let broker_hosts: BTreeMap<String, (String, Tech, bool)> = self
            .brokers
            .iter()
            .map(|b| (b.alias.clone(), (b.host.clone(), b.tech, b.external)))
            .collect();
        let svc_hosts: BTreeMap<String, String> = self
            .services
            .iter()
            .map(|s| (s.alias.clone(), s.host.clone()))
            .collect();
        for s in &mut self.services {
            let mut env: Vec<(String, String)> = Vec::new();
            let mut deps: Vec<(String, String)> = Vec::new();
            let prefix = s.env_prefix.clone();
            for d in &s.deps {
                let key = format!("{prefix}{}", d.setting.to_ascii_uppercase());
                let value = match d.kind {
                    "sql" | "redis" => match db_hosts.get(&d.target) {
                        Some((h, Tech::Redis, false)) => {
                            deps.push((h.clone(), "service_started".into()));
                            format!("redis://{h}:6379/0")
                        }
                        Some((h, _, false)) => {
                            deps.push((h.clone(), "service_healthy".into()));
                            format!("postgresql+psycopg://app:app@{h}:5432/app")
                        }
                        _ => continue,
                    },
                    "amqp_producer" | "kafka_producer" => match broker_hosts.get(&d.target) {
                        Some((h, Tech::Kafka, false)) => {
                            deps.push((h.clone(), "service_started".into()));
                            format!("{h}:9092")
                        }
                        Some((h, _, false)) => {
                            deps.push((h.clone(), "service_started".into()));
                            format!("amqp://guest:guest@{h}:5672/")
                        }
                        _ => continue,
                    },
                    // No depends_on between services: calls are lazy, and
                    // services calling each other would make a cycle compose rejects.
                    _ => match svc_hosts.get(&d.target) {
                        Some(h) if !d.external => {
                            if d.kind == "grpc" {
                                format!("{h}:50051")
                            } else {
                                format!("http://{h}:8000")
                            }
                        }
                        _ => continue,
                    },
                };
                env.push((key, value));
            }
            for c in &s.consumers {
                if let Some((h, t, false)) = broker_hosts.get(&c.broker) {
                    deps.push((h.clone(), "service_started".into()));
                    let v = if *t == Tech::Kafka {
                        format!("{h}:9092")
                    } else {
                        format!("amqp://guest:guest@{h}:5672/")
                    };
                    env.push((format!("{prefix}{}", c.setting.to_ascii_uppercase()), v));
                }
            }
            if !s.consumers.is_empty() {
                env.push((format!("{prefix}RUN_CONSUMERS"), "true".into()));
            }
            if s.grpc.is_some() {
                env.push((format!("{prefix}GRPC_ADDRESS"), "0.0.0.0:50051".into()));
            }
            env.sort();
            env.dedup();
            deps.sort();
            deps.dedup();
            deps.retain(|h| h.0 != s.host);
            s.env = env;
            s.depends_on = deps;
        }
    }
}

/// Removes a leading verb phrase so "Sends customer update events to" names
/// the events ("customer update events"), for queue and topic names.
fn strip_verbs(label: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_index_order() {
        let mut v = vec!["10", "2", "4-1", "4"];
        v.sort_by_key(|s| index_key(s));
        assert_eq!(v, vec!["2", "4", "4-1", "10"]);
    }

    fn fixture(name: &str) -> Project {
        let path = format!(
            "{}/tests/data/{name}.model.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let model: Model = serde_json::from_str(&text).unwrap_or_default();
        assert!(!model.diagrams.is_empty(), "fixture {path}");
        analyze(&model, &format!("{name}.puml"))
    }

    fn spec_kind<'a>(p: &'a Project, id: &str) -> &'a str {
        p.relations
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.spec.kind)
            .unwrap_or("missing")
    }

    #[test]
    fn routes_and_clients_follow_the_label_verbs() {
        let p = fixture("shop");
        let svc = |alias: &str| p.services.iter().find(|s| s.alias == alias);
        let Some(orders) = svc("orders") else {
            panic!("no orders service")
        };
        let routes: Vec<(&str, &str, &str, &str)> = orders
            .routes
            .iter()
            .map(|r| {
                (
                    r.http,
                    r.path.as_str(),
                    r.request_model.as_str(),
                    r.response_model.as_str(),
                )
            })
            .collect();
        assert_eq!(
            routes,
            [
                (
                    "POST",
                    "/orders",
                    "PlacesOrdersWithRequest",
                    "PlacesOrdersWithResponse"
                ),
                ("GET", "/orders", "", "ListsOrdersOfResponse"),
                ("DELETE", "/orders", "", "CancelsOrdersInResponse"),
                // Same method and resource as "Lists orders of": named after the label.
                ("GET", "/gets-orders-from", "", "GetsOrdersFromResponse"),
            ]
        );
        let Some(web) = svc("web") else {
            panic!("no web service")
        };
        // The caller's client uses the route's method, path and the provider's models.
        let client = web.deps.iter().find(|d| d.target == "orders");
        let Some(client) = client else {
            panic!("no client of orders")
        };
        assert_eq!(client.schemas_module, format!("{}.schemas", orders.module));
        let calls: Vec<(&str, &str, &str)> = client
            .methods
            .iter()
            .map(|m| (m.http, m.path.as_str(), m.response_model.as_str()))
            .collect();
        assert_eq!(
            calls,
            [
                ("POST", "/orders", "PlacesOrdersWithResponse"),
                ("GET", "/orders", "ListsOrdersOfResponse"),
                ("DELETE", "/orders", "CancelsOrdersInResponse"),
                ("GET", "/gets-orders-from", "GetsOrdersFromResponse"),
            ]
        );
        // External target: method and path from the label, models local to the client.
        let Some(pay) = orders.deps.iter().find(|d| d.target == "payments") else {
            panic!("no client of payments")
        };
        assert!(pay.schemas_module.is_empty());
        let calls: Vec<(&str, &str, bool)> = pay
            .methods
            .iter()
            .map(|m| (m.http, m.path.as_str(), m.body))
            .collect();
        assert_eq!(
            calls,
            [
                ("POST", "/payments", true),
                ("GET", "/payment-status", false)
            ]
        );
        assert_eq!(spec_kind(&p, "admin->catalog"), "http_route");
        let Some(admin) = p.relations.iter().find(|r| r.id == "admin->catalog") else {
            panic!("no admin->catalog")
        };
        assert_eq!(
            (admin.spec.http, admin.spec.path.as_str()),
            ("PATCH", "/stock-levels")
        );
    }

    #[test]
    fn grpc_between_our_containers_gets_a_served_service() {
        let p = fixture("shop");
        let Some(catalog) = p.services.iter().find(|s| s.alias == "catalog") else {
            panic!("no catalog service")
        };
        let Some(g) = &catalog.grpc else {
            panic!("catalog serves no gRPC")
        };
        assert_eq!(
            (g.package.as_str(), g.service.as_str()),
            ("catalog_service", "CatalogService")
        );
        assert_eq!(g.proto, format!("{}/catalog_service.proto", catalog.dir));
        let rpcs: Vec<(&str, &str, bool)> = g
            .rpcs
            .iter()
            .map(|r| (r.name.as_str(), r.method.as_str(), r.body))
            .collect();
        assert_eq!(
            rpcs,
            [
                ("ReservesStockVia", "reserves_stock_via", true),
                ("ReadsProductPricesFrom", "reads_product_prices_from", false),
            ]
        );
        let Some(orders) = p.services.iter().find(|s| s.alias == "orders") else {
            panic!("no orders service")
        };
        let Some(client) = orders.deps.iter().find(|d| d.kind == "grpc") else {
            panic!("orders has no gRPC client")
        };
        let paths: Vec<&str> = client.methods.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/catalog_service.CatalogService/ReservesStockVia",
                "/catalog_service.CatalogService/ReadsProductPricesFrom",
            ]
        );
        assert_eq!(spec_kind(&p, "orders->catalog"), "grpc_internal");
        assert!(p.requirements.iter().any(|r| r.starts_with("grpcio")));
        // A service nobody calls over gRPC serves none.
        let web = p.services.iter().find(|s| s.alias == "web");
        assert!(web.is_some_and(|w| w.grpc.is_none()));
    }

    #[test]
    fn container_diagram_rules() {
        let p = fixture("container");
        let names: Vec<&str> = p.services.iter().map(|s| s.alias.as_str()).collect();
        assert_eq!(names, ["web_app", "spa", "mobile_app", "backend_api"]);
        assert_eq!(p.systems.len(), 1);
        assert!(
            p.services
                .iter()
                .all(|s| s.system.as_deref() == Some("internet_banking"))
        );
        assert_eq!(p.databases.len(), 1);
        assert_eq!(p.externals.len(), 2);
        assert_eq!(p.persons.len(), 1);
        assert_eq!(spec_kind(&p, "spa->backend_api"), "http_internal");
        assert_eq!(spec_kind(&p, "customer->web_app"), "http_route");
        // Rel_Back_Neighbor(database, backend_api, JDBC): the service uses the database.
        assert_eq!(spec_kind(&p, "database->backend_api"), "sql");
        assert_eq!(
            spec_kind(&p, "backend_api->banking_system"),
            "http_external"
        );
        assert_eq!(spec_kind(&p, "email_system->backend_api"), "doc");
        assert_eq!(spec_kind(&p, "customer->email_system"), "doc");
        // Two callers of the same label share one route.
        let api = &p.services[3];
        assert_eq!(api.routes.len(), 1);
        assert_eq!(
            api.routes[0].rel_ids,
            ["spa->backend_api", "mobile_app->backend_api"]
        );
    }

    #[test]
    fn component_diagram_rules() {
        let p = fixture("component");
        let api = p
            .services
            .iter()
            .find(|s| s.alias == "api")
            .map(|s| s.components.len());
        assert_eq!(
            api,
            Some(4),
            "the container boundary becomes a service with its components"
        );
        assert_eq!(spec_kind(&p, "sign->security"), "direct");
        assert_eq!(spec_kind(&p, "security->db"), "sql");
        assert_eq!(spec_kind(&p, "spa->sign"), "http_internal");
    }

    #[test]
    fn message_bus_rules() {
        let p = fixture("message_bus");
        assert_eq!(p.brokers.len(), 1);
        assert_eq!(p.brokers[0].tech, Tech::Amqp);
        assert_eq!(
            spec_kind(&p, "customer_service->message_bus"),
            "amqp_produce"
        );
        assert_eq!(
            spec_kind(&p, "message_bus->reporting_service"),
            "amqp_consume"
        );
        assert_eq!(spec_kind(&p, "customer_service->app"), "generic");
        let reporting = p.services.iter().find(|s| s.alias == "reporting_service");
        let queue = reporting
            .and_then(|s| s.consumers.first())
            .map(|c| c.queue.clone());
        assert_eq!(
            queue.as_deref(),
            Some("reporting-service.customer-update-events")
        );
    }

    #[test]
    fn queue_technology_is_the_element_then_its_name_then_its_relationships() {
        let p = fixture("queues");
        let tech = |alias: &str| p.brokers.iter().find(|b| b.alias == alias).map(|b| b.tech);
        // "Message broker": the relationships say Kafka
        assert_eq!(tech("bus"), Some(Tech::Kafka));
        assert_eq!(spec_kind(&p, "shop->bus"), "kafka_produce");
        assert_eq!(spec_kind(&p, "bus->billing"), "kafka_consume");
        // "Kafka cluster" without technology
        assert_eq!(tech("stream"), Some(Tech::Kafka));
        // RabbitMQ, though its relationship says Kafka
        assert_eq!(tech("jobs"), Some(Tech::Amqp));
        // nothing names a broker
        assert_eq!(tech("plain"), Some(Tech::Amqp));
    }

    #[test]
    fn a_line_break_in_a_label_is_a_word_break() {
        let p = fixture("queues");
        let shop = p.services.iter().find(|s| s.alias == "shop");
        let keys: Vec<&str> = shop
            .map(|s| s.deps.iter().map(|d| d.routing_key.as_str()).collect())
            .unwrap_or_default();
        assert!(keys.contains(&"order-placed-cart-updated"), "{keys:?}");
        assert!(keys.contains(&"invoice-jobs"), "{keys:?}");
        let billing = p.services.iter().find(|s| s.alias == "billing");
        let consumers: Vec<&str> = billing
            .map(|s| s.consumers.iter().map(|c| c.module.as_str()).collect())
            .unwrap_or_default();
        assert!(
            consumers.contains(&"messaging.event_bus_order_placed_cart_updated_consumer"),
            "{consumers:?}"
        );
        let routes: Vec<&str> = billing
            .map(|s| s.routes.iter().map(|r| r.path.as_str()).collect())
            .unwrap_or_default();
        assert!(routes.contains(&"/open-invoices"), "{routes:?}");
    }

    #[test]
    fn context_and_dynamic_and_deployment_rules() {
        let p = fixture("context");
        assert_eq!(p.services.len(), 1, "one own system, one service");
        let p = fixture("dynamic");
        let steps: Vec<&str> = p.flows[0].steps.iter().map(|s| s.index.as_str()).collect();
        assert_eq!(steps, ["1", "2", "3"]);
        let p = fixture("deployment");
        assert_eq!(p.networks.len(), 3);
        let api = p
            .services
            .iter()
            .find(|s| s.alias == "api")
            .map(|s| s.node.clone());
        assert_eq!(
            api,
            Some(vec![
                "Big Bank plc".into(),
                "bigbank-api***\\tx8".into(),
                "Apache Tomcat".into()
            ])
        );
        assert_eq!(spec_kind(&p, "db->db2"), "doc");
    }

    #[test]
    fn odd_names_are_made_safe_and_unique() {
        let p = fixture("odd_names");
        let idents: BTreeSet<&str> = p.services.iter().map(|s| s.ident.as_str()).collect();
        assert_eq!(idents.len(), p.services.len());
        for s in &p.services {
            assert!(
                s.ident
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{}",
                s.ident
            );
            assert!(!s.ident.starts_with(|c: char| c.is_ascii_digit()));
        }
        assert_eq!(spec_kind(&p, "class->1st#2"), "http_route");
        assert_eq!(spec_kind(&p, "empty->ghost"), "doc");
        assert_eq!(spec_kind(&p, "1st->svc_dup"), "grpc_internal");
        assert_eq!(spec_kind(&p, "1st->cache"), "redis");
        assert_eq!(spec_kind(&p, "q->sink"), "kafka_consume");
        assert_eq!(spec_kind(&p, "1st->ext_api#3"), "generic");
    }

    #[test]
    fn several_diagrams_merge_into_one_system() {
        let p = fixture("multi");
        let api = p.services.iter().find(|s| s.alias == "backend_api");
        let comps: Vec<&str> = api
            .map(|s| s.components.iter().map(|c| c.alias.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            comps,
            ["sign", "accounts", "security", "mbsfacade"],
            "boundary api and b are backend_api"
        );
        assert!(api.is_some_and(|s| !s.aliases.contains(&"ma".to_string())));
        let mobile = p.services.iter().find(|s| s.alias == "mobile_app");
        assert!(
            mobile.is_some_and(|s| s.aliases.contains(&"ma".to_string())),
            "ma is mobile_app"
        );
        assert_eq!(p.databases.len(), 1, "db and c4 are the database");
        assert_eq!(spec_kind(&p, "c2->c3"), "direct");
    }

    #[test]
    fn verbs_are_stripped() {
        assert_eq!(
            strip_verbs("Sends customer update events to"),
            "customer update events"
        );
        assert_eq!(strip_verbs("Sends"), "sends");
    }
}
