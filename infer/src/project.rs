//! The project: the generator-independent description of what to build
//! (services, components, clients, routes, databases, brokers, flows,
//! deployment groups) with every name already chosen and made safe.
//!
//! [`analyze`] (in [`crate::analysis`]) decides it from the model; the
//! generators, [`crate::typed`], [`crate::system`] and [`crate::deploy`] read
//! it, and the templates see it as `p`. The kinds below serialize to the
//! strings the templates compare with (`d.kind == "sql"`).

use std::collections::BTreeSet;
use std::fmt;

use schemas::model::v1::{ElementKind, Level};
use serde::Serialize;

use crate::techmap::Tech;

pub use crate::analysis::analyze;

/// Declares a kind enum that serializes (and prints) as the given strings.
macro_rules! kind {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }
        impl $name {
            /// The string templates and messages use.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

kind! {
    /// What in the diagrams a [`Service`] stands for.
    Origin {
        /// An own `Container`.
        Container = "container",
        /// An own `System` (context diagrams, or a system drawn without containers).
        System = "system",
        /// A `Container_Boundary` with components and no matching container.
        ContainerBoundary = "container boundary",
        /// A component outside any boundary that is a service.
        Component = "component",
    }
}

kind! {
    /// What a [`Method`] handles.
    MethodKind {
        /// An HTTP route, an rpc or an in-process call.
        Request = "request",
        /// A consumed message.
        Event = "event",
    }
}

kind! {
    /// What a [`Dep`] is: the module package, class suffix and settings it gets.
    DepKind {
        /// httpx client of a route.
        Http = "http",
        /// gRPC client.
        Grpc = "grpc",
        /// Gateway stub for a technology without a mapping.
        Generic = "generic",
        /// SQLAlchemy repository.
        Sql = "sql",
        /// Redis cache.
        Redis = "redis",
        /// AMQP producer.
        AmqpProducer = "amqp_producer",
        /// Kafka producer.
        KafkaProducer = "kafka_producer",
    }
}

impl DepKind {
    /// A client of another service or an external system (has methods and a URL setting).
    pub const fn is_client(self) -> bool {
        matches!(self, Self::Http | Self::Grpc | Self::Generic)
    }
}

kind! {
    /// The broker protocol of a [`Consumer`].
    ConsumerKind {
        /// AMQP (RabbitMQ).
        Amqp = "amqp",
        /// Kafka.
        Kafka = "kafka",
    }
}

kind! {
    /// What the contract test of a relationship does ([`TestSpec`]).
    #[derive(Default)]
    TestKind {
        /// A client calling a route of one of our services, in-process.
        HttpInternal = "http_internal",
        /// A client of an external system against a stub.
        HttpExternal = "http_external",
        /// A route called by a person or an external system.
        HttpRoute = "http_route",
        /// A gRPC client stub of an external system.
        Grpc = "grpc",
        /// A gRPC client calling our server, in-process.
        GrpcInternal = "grpc_internal",
        /// A gateway stub (technology without a mapping).
        Generic = "generic",
        /// A SQLAlchemy repository.
        Sql = "sql",
        /// A Redis cache.
        Redis = "redis",
        /// An AMQP producer.
        AmqpProduce = "amqp_produce",
        /// An AMQP consumer.
        AmqpConsume = "amqp_consume",
        /// A Kafka producer.
        KafkaProduce = "kafka_produce",
        /// A Kafka consumer.
        KafkaConsume = "kafka_consume",
        /// An in-process call between components of one service.
        Direct = "direct",
        /// Documentation only (no code implements it).
        #[default]
        Doc = "doc",
    }
}

impl TestKind {
    /// Realised as an HTTP call (the route, request and response properties apply).
    pub const fn is_http(self) -> bool {
        matches!(
            self,
            Self::HttpInternal | Self::HttpRoute | Self::HttpExternal
        )
    }

    /// Realised through a queue (the message and routing properties apply).
    pub const fn is_queue(self) -> bool {
        matches!(
            self,
            Self::AmqpProduce | Self::AmqpConsume | Self::KafkaProduce | Self::KafkaConsume
        )
    }
}

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
    /// A request (HTTP route / direct call) or an event (consumer handler).
    pub kind: MethodKind,
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
    pub(crate) key: String,
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
    /// What it is (client, repository, cache or producer, by transport).
    pub kind: DepKind,
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
    /// The broker protocol it consumes with.
    pub kind: ConsumerKind,
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
    /// What in the diagram it stands for.
    pub origin: Origin,
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

/// What the diagram says about an element: shared by [`Infra`] (databases,
/// brokers) and [`External`], flattened into their template context.
#[derive(Debug, Clone, Serialize)]
pub struct Drawn {
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
}

/// What a database and a broker share: the infrastructure a service connects
/// to, with its compose service. Flattened into [`Database`] and [`Broker`],
/// so templates read `db.host` as before.
#[derive(Debug, Clone, Serialize)]
pub struct Infra {
    /// Alias, name, description, technology, source.
    #[serde(flatten)]
    pub drawn: Drawn,
    /// Identifier.
    pub ident: String,
    /// Compose host.
    pub host: String,
    /// `sql` or `redis` (databases), `amqp` or `kafka` (brokers).
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

/// A database (SQL or Redis).
#[derive(Debug, Clone, Serialize)]
pub struct Database {
    /// Everything a database has in common with a broker.
    #[serde(flatten)]
    pub infra: Infra,
}

/// A message broker (explicit element or implied by a relationship; the
/// alias of an implied one is `_amqp` / `_kafka`).
#[derive(Debug, Clone, Serialize)]
pub struct Broker {
    /// Everything a broker has in common with a database.
    #[serde(flatten)]
    pub infra: Infra,
    /// Not drawn, implied by a relationship technology.
    pub implied: bool,
}

/// Something outside our systems (external system, container, component).
#[derive(Debug, Clone, Serialize)]
pub struct External {
    /// Alias, name, description, technology, source.
    #[serde(flatten)]
    pub drawn: Drawn,
    /// Kind.
    pub kind: ElementKind,
}

// Readers (generators, templates, deployment plans) use the shared fields as
// if they were the element's own (`db.host`, `broker.alias`): the structs
// above are one record split for reuse, not a hierarchy.
macro_rules! shares {
    ($outer:ty, $field:ident, $inner:ty) => {
        impl std::ops::Deref for $outer {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.$field
            }
        }
        impl std::ops::DerefMut for $outer {
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.$field
            }
        }
    };
}
shares!(Infra, drawn, Drawn);
shares!(Database, infra, Infra);
shares!(Broker, infra, Infra);
shares!(External, drawn, Drawn);

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
    /// What the test exercises (see [`TestKind`]).
    pub kind: TestKind,
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
