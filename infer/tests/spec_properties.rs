//! The property vocabulary (`docs/SPEC-PROPERTIES.md`) end to end: the
//! fixture `tests/spec/bank.puml` uses every construct, and its generated
//! project's models, routes, tables and messages are checked field by field;
//! the diagrams in `tests/spec/errors/` are unreadable and must fail with the
//! diagnostics in their `.expected` files (`C4FORGE_BLESS=1` rewrites them).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use infer::{DEFAULT_GENERATOR, GenerateError, GenerateOptions, generate_with_warnings};
use schemas::model::v1::Model;

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec")
}

fn parse(path: &Path) -> Model {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let model = preprocess::parse(
        &preprocess::SourceFile {
            path: name,
            text: std::fs::read_to_string(path).unwrap(),
        },
        &preprocess::NoIncludes,
    );
    assert!(!model.has_errors(), "{:?}", model.diagnostics);
    model
}

fn opts(name: &str) -> GenerateOptions {
    GenerateOptions {
        source_name: name.into(),
        ..Default::default()
    }
}

fn file<'a>(files: &'a schemas::files::FileSet, suffix: &str) -> &'a str {
    &files
        .files
        .iter()
        .find(|f| f.path.ends_with(suffix))
        .unwrap_or_else(|| panic!("no file {suffix}"))
        .contents
}

#[test]
fn the_fixture_gets_exactly_the_models_routes_tables_and_messages_it_declares() {
    let model = parse(&spec_dir().join("bank.puml"));
    let mut p = infer::project::analyze(&model, "bank.puml");
    let typed = infer::typed::apply(&mut p, &model, "bank.puml").unwrap();

    // Models, field by field: (name, python annotation, SQL column type).
    let fields = |name: &str| -> Vec<(String, String, String)> {
        typed.models[name]
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.py.clone(), f.sql.clone()))
            .collect()
    };
    let f = |n: &str, py: &str, sql: &str| (n.to_string(), py.to_string(), sql.to_string());
    assert_eq!(
        fields("Account"),
        [
            f("id", "UUID", "Uuid"),
            f("owner", "str", "String(255)"),
            f("balance", "Decimal", "Numeric(18, 4)"),
            f("opened", "date", "Date"),
        ]
    );
    assert_eq!(
        fields("AccountQuery"),
        [
            f("include_closed", "bool | None", "Boolean"),
            f("as_of", "date | None", "Date"),
        ]
    );
    assert_eq!(
        fields("PaymentRequest"),
        [
            f("from_account", "UUID", "Uuid"),
            f("to_account", "UUID", "Uuid"),
            f("amount", "Decimal", "Numeric(18, 4)"),
            f("memo", "str | None", "Text"),
        ]
    );
    assert_eq!(
        fields("PaymentMade"),
        [
            f("payment_id", "UUID", "Uuid"),
            f("amount", "Decimal", "Numeric(18, 4)"),
            f("booked_count", "int", "Integer"),
            f("details", "dict[str, Any]", "JSON"),
        ]
    );
    assert!(typed.models["Account"].entity && typed.models["Payment"].entity);
    assert!(!typed.models["PaymentMade"].entity);
    assert!(typed.warnings.is_empty(), "{:?}", typed.warnings);

    // Routes: (service, method, path, params, query/body model, response).
    let mut routes = Vec::new();
    for s in &p.services {
        for r in &s.routes {
            let params: Vec<String> = r
                .params
                .iter()
                .map(|p| format!("{}: {}", p.name, p.py))
                .collect();
            routes.push((
                s.alias.clone(),
                r.http,
                r.path.clone(),
                params.join(", "),
                r.body,
                r.request_model.clone(),
                r.response_model.clone(),
            ));
        }
    }
    routes.sort();
    let r = |svc: &str,
             http: &'static str,
             path: &str,
             params: &str,
             body: bool,
             req: &str,
             resp: &str| {
        (
            svc.to_string(),
            http,
            path.to_string(),
            params.to_string(),
            body,
            req.to_string(),
            resp.to_string(),
        )
    };
    assert_eq!(
        routes,
        [
            r(
                "accounts",
                "GET",
                "/accounts/{account_id}",
                "account_id: str",
                false,
                "AccountQuery",
                "Account"
            ),
            r(
                "payments",
                "POST",
                "/payments",
                "",
                true,
                "PaymentRequest",
                "Payment"
            ),
            r(
                "web",
                "GET",
                "/accounts/{id}",
                "id: str",
                false,
                "",
                "Account"
            ),
            r(
                "web",
                "POST",
                "/payments",
                "",
                true,
                "PaymentRequest",
                "Payment"
            ),
        ]
    );
    // The client calls of web use the same route, parameters and models.
    let web = p.services.iter().find(|s| s.alias == "web").unwrap();
    let mut calls: Vec<(&str, String, String, String, String)> = web
        .deps
        .iter()
        .flat_map(|d| d.methods.iter())
        .map(|m| {
            (
                m.http,
                m.path.clone(),
                m.params
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>()
                    .join(","),
                m.request_model.clone(),
                m.response_model.clone(),
            )
        })
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            (
                "GET",
                "/accounts/{account_id}".into(),
                "account_id".into(),
                "AccountQuery".into(),
                "Account".into()
            ),
            (
                "POST",
                "/payments".into(),
                String::new(),
                "PaymentRequest".into(),
                "Payment".into()
            ),
        ]
    );

    // Tables: the entities each repository stores.
    let accounts = p.services.iter().find(|s| s.alias == "accounts").unwrap();
    let payments = p.services.iter().find(|s| s.alias == "payments").unwrap();
    let names = |v: Vec<infer::spec::ModelDef>| {
        v.into_iter()
            .map(|m| (m.name, m.table, m.key))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(typed.entities_of("accounts_db", &accounts.aliases)),
        [(
            "Account".to_string(),
            "account".to_string(),
            "id".to_string()
        )]
    );
    assert_eq!(
        names(typed.entities_of("payments_db", &payments.aliases)),
        [(
            "Payment".to_string(),
            "payment".to_string(),
            "id".to_string()
        )]
    );

    // Messages: the producer and the consumer share the routing key and model.
    let producer = payments
        .deps
        .iter()
        .find(|d| d.kind.as_str() == "amqp_producer")
        .unwrap();
    assert_eq!(producer.routing_key, "payments.made");
    assert_eq!(
        typed.message_of(&producer.rel_ids).unwrap().name,
        "PaymentMade"
    );
    let ledger = p.services.iter().find(|s| s.alias == "ledger").unwrap();
    let kinds: Vec<(&str, &str, &str)> = ledger
        .consumers
        .iter()
        .map(|c| {
            (
                c.kind.as_str(),
                c.routing_key.as_str(),
                typed.message_of(&c.rel_ids).unwrap().name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("amqp", "payments.made", "PaymentMade"),
            ("kafka", "audit.entries", "AuditEntry")
        ]
    );
    // gRPC: ledger calls the server of accounts.
    let g = accounts.grpc.as_ref().unwrap();
    assert_eq!(g.rpcs.len(), 1);

    // The generated files say the same.
    let g = generate_with_warnings(DEFAULT_GENERATOR, &model, &opts("bank.puml")).unwrap();
    let models = file(&g.files, "/models.py");
    for line in [
        "class Account(BaseModel):",
        "    id: UUID\n    owner: str\n    balance: Decimal\n    opened: date\n",
        "    include_closed: bool | None = None\n    as_of: date | None = None\n",
        "class PaymentMade(BaseModel):",
    ] {
        assert!(models.contains(line), "models.py lacks {line:?}:\n{models}");
    }
    let repo = file(&g.files, "accounts_service/db/accounts_db.py");
    for line in [
        "class AccountRow(Base):",
        "    __tablename__ = \"account\"",
        "    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)",
        "    balance: Mapped[Decimal] = mapped_column(Numeric(18, 4))",
        "    def get(self, key: UUID) -> Account | None:",
    ] {
        assert!(repo.contains(line), "repository lacks {line:?}:\n{repo}");
    }
    let routes_py = file(&g.files, "accounts_service/routes.py");
    assert!(
        routes_py.contains("account_id: str,\n    query: Annotated[AccountQuery, Query()],"),
        "{routes_py}"
    );
}

/// Every diagram in `tests/spec/errors/` fails with exactly its expected diagnostics.
#[test]
fn unreadable_properties_fail_with_place_and_suggestion() {
    let bless = std::env::var("C4FORGE_BLESS").is_ok_and(|v| v == "1");
    let dir = spec_dir().join("errors");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "puml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "too few error fixtures");
    let mut failures = Vec::new();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let model = parse(&path);
        let got = match generate_with_warnings(DEFAULT_GENERATOR, &model, &opts(&name)) {
            Err(GenerateError::Spec(e)) => {
                e.0.iter()
                    .map(|d| {
                        format!(
                            "{}:{}:{}: {:?}: {}\n",
                            d.file, d.line, d.column, d.severity, d.message
                        )
                    })
                    .collect::<String>()
            }
            Err(e) => format!("unexpected error: {e}\n"),
            Ok(_) => "generated without error\n".to_string(),
        };
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{name}:\n  expected: {expected:?}\n  got:      {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "rerun with C4FORGE_BLESS=1 to accept:\n{}",
        failures.join("\n")
    );
}
