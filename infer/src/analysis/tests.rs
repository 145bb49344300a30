//! Unit tests of the analysis rules on the fixture models.

use std::collections::BTreeSet;

use schemas::model::v1::Model;

use super::analyze;
use super::context::index_key;
use super::messaging::strip_verbs;
use crate::project::{DepKind, Project};
use crate::techmap::Tech;

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
        .map(|r| r.spec.kind.as_str())
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
    let Some(client) = orders.deps.iter().find(|d| d.kind == DepKind::Grpc) else {
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
