//! Deploy output (`deploy/<target>/` and the compose `monitoring/`), read the
//! way a user reads it.
//!
//! - Snapshots: every `tests/deploy/*.puml` generated with every target; the
//!   `deploy/` and `monitoring/` files must equal `tests/deploy/snapshots/<name>/`.
//!   `C4FORGE_BLESS=1 cargo test -p infer --test deploy` rewrites them.
//! - Shape: `shop.puml` (a person, three services, a PostgreSQL database, a
//!   RabbitMQ queue, an external payment provider) gives, on every target,
//!   exactly three service workloads, the database as the target's managed
//!   PostgreSQL, and network rules that are exactly the diagram's relationships.
//! - Placement: `placed.puml`'s deployment nodes put two containers on ECS and
//!   one on Cloud Run.
//! - Nesting: `nested.puml`'s deployment nodes select all four targets
//!   without `--deploy` and shape them: two ECS clusters with their own
//!   services, region defaults, network names, a Kubernetes namespace.
//! - Cloud Run: the generated project's own pytest shows its clients send a
//!   Google ID token only when the setting the Terraform sets is on.
//! - Regeneration keeps `deploy/<target>/overrides`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use infer::{DEFAULT_GENERATOR, GenerateOptions, generate};
use schemas::deploy::DeployTarget;
use schemas::files::{FileOwner, FileSet};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deploy")
}

fn inputs() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let stem = p.file_name()?.to_str()?.strip_suffix(".puml")?.to_string();
            Some((stem, std::fs::read_to_string(&p).unwrap()))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", deploy_dir().display());
    out
}

fn gen_with(name: &str, text: &str, deploy: Vec<DeployTarget>) -> FileSet {
    let model = preprocess::parse(
        &preprocess::SourceFile {
            path: format!("{name}.puml"),
            text: text.to_string(),
        },
        &preprocess::NoIncludes,
    );
    assert!(!model.has_errors(), "{name}: {:?}", model.diagnostics);
    let opts = GenerateOptions {
        source_name: format!("{name}.puml"),
        deploy,
        ..Default::default()
    };
    generate(DEFAULT_GENERATOR, &model, &opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn gen_all(name: &str) -> FileSet {
    let text = std::fs::read_to_string(deploy_dir().join(format!("{name}.puml"))).unwrap();
    gen_with(name, &text, DeployTarget::ALL.to_vec())
}

fn file<'a>(files: &'a FileSet, path: &str) -> &'a str {
    files
        .files
        .iter()
        .find(|f| f.path == path)
        .map(|f| f.contents.as_str())
        .unwrap_or_else(|| panic!("no file {path}"))
}

fn paths_under<'a>(files: &'a FileSet, prefix: &str) -> Vec<&'a str> {
    files
        .files
        .iter()
        .filter(|f| f.path.starts_with(prefix))
        .map(|f| f.path.as_str())
        .collect()
}

/// The labels of `resource "<kind>" "<label>"` (Terraform) in `text`.
fn tf_resources(text: &str, kind: &str) -> Vec<String> {
    let open = format!("resource \"{kind}\" \"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&open))
        .map(|l| l.split('"').next().unwrap().to_string())
        .collect()
}

/// The body of `resource "<kind>" "<label>" {` up to its closing brace at column 0.
fn tf_block<'a>(text: &'a str, kind: &str, label: &str) -> &'a str {
    let open = format!("resource \"{kind}\" \"{label}\" {{\n");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no {kind}.{label}"))
        + open.len();
    let end = text[start..].find("\n}\n").unwrap() + start;
    &text[start..end]
}

/// `key = value` of a block (first match), value without quotes.
fn attr<'a>(block: &'a str, key: &str) -> &'a str {
    block
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"'))
        })
        .unwrap_or_else(|| panic!("no {key} in\n{block}"))
}

#[test]
fn deploy_output_matches_snapshots() {
    let bless = std::env::var("C4FORGE_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for (name, _) in inputs() {
        let files = gen_all(&name);
        let dir = deploy_dir().join("snapshots").join(&name);
        let ours: BTreeMap<&str, &str> = files
            .files
            .iter()
            .filter(|f| f.path.starts_with("deploy/") || f.path.starts_with("monitoring/"))
            .map(|f| (f.path.as_str(), f.contents.as_str()))
            .collect();
        if bless {
            let _ = std::fs::remove_dir_all(&dir);
            for (path, text) in &ours {
                let p = dir.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            continue;
        }
        let mut expected = BTreeMap::new();
        common_read_tree(&dir, &dir, &mut expected);
        for (path, text) in &ours {
            match expected.get(*path) {
                None => failures.push(format!("{name}: new file {path}")),
                Some(e) if e != text => failures.push(format!("{name}: {path} differs")),
                _ => {}
            }
        }
        for path in expected.keys() {
            if !ours.contains_key(path.as_str()) {
                failures.push(format!("{name}: {path} no longer generated"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "deploy snapshots differ (C4FORGE_BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
}

fn common_read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            common_read_tree(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn no_targets_means_no_deploy_directory() {
    let text = std::fs::read_to_string(deploy_dir().join("shop.puml")).unwrap();
    let files = gen_with("shop", &text, Vec::new());
    assert!(paths_under(&files, "deploy/").is_empty());
    // Metrics are part of every compose topology.
    let compose = file(&files, "docker-compose.yml");
    assert!(compose.contains("metrics-prometheus:") && compose.contains("metrics-grafana:"));
    assert_eq!(
        paths_under(&files, "monitoring/grafana/dashboards/").len(),
        3
    );
}

/// The pairs (to, from) the diagram allows in shop.puml.
const SHOP_RULES: [(&str, &str); 6] = [
    ("web-api", "ingress"),
    ("orders", "web-api"),
    ("catalog", "web-api"),
    ("orders-database", "orders"),
    ("order-events", "orders"),
    ("order-events", "catalog"),
];

fn shop_rules() -> BTreeSet<(String, String)> {
    SHOP_RULES
        .iter()
        .map(|(t, f)| (t.replace('-', "_"), f.replace('-', "_")))
        .collect()
}

#[test]
fn shop_on_ecs_has_three_services_rds_in_private_subnets_and_only_the_diagrams_rules() {
    let files = gen_all("shop");
    let services = file(&files, "deploy/aws-ecs/services.tf");
    let data = file(&files, "deploy/aws-ecs/data.tf");
    let mut ecs = tf_resources(services, "aws_ecs_service");
    ecs.extend(tf_resources(data, "aws_ecs_service"));
    ecs.sort();
    assert_eq!(ecs, ["svc_catalog", "svc_orders", "svc_web_api"]);
    for s in &ecs {
        let b = tf_block(services, "aws_ecs_service", s);
        assert!(
            b.contains("subnets          = aws_subnet.private[*].id"),
            "{b}"
        );
        assert!(b.contains("assign_public_ip = false"), "{b}");
    }

    let rds = tf_resources(data, "aws_db_instance");
    assert_eq!(rds, ["data_orders_database"]);
    let db = tf_block(data, "aws_db_instance", "data_orders_database");
    assert_eq!(attr(db, "engine"), "postgres");
    assert_eq!(attr(db, "publicly_accessible"), "false");
    assert_eq!(
        attr(db, "db_subnet_group_name"),
        "aws_db_subnet_group.private.name"
    );
    let group = tf_block(data, "aws_db_subnet_group", "private");
    assert_eq!(attr(group, "subnet_ids"), "aws_subnet.private[*].id");
    assert_eq!(tf_resources(data, "aws_mq_broker"), ["data_order_events"]);

    // Ingress rules: the diagram's relationships, plus API Gateway -> NLB.
    let mut got = BTreeSet::new();
    for label in tf_resources(services, "aws_vpc_security_group_ingress_rule") {
        let b = tf_block(services, "aws_vpc_security_group_ingress_rule", &label);
        let sg = |k: &str| {
            attr(b, k)
                .trim_start_matches("aws_security_group.")
                .trim_end_matches(".id")
                .trim_start_matches("svc_")
                .trim_start_matches("data_")
                .to_string()
        };
        let from = sg("referenced_security_group_id");
        let from = if from == "nlb" {
            "ingress".to_string()
        } else {
            from
        };
        got.insert((sg("security_group_id"), from));
    }
    let mut want = shop_rules();
    want.insert(("nlb".into(), "vpclink".into()));
    assert_eq!(got, want);
    // The external payment provider is a variable, not a value.
    let vars = file(&files, "deploy/aws-ecs/variables.tf");
    assert!(
        vars.contains("variable \"orders_payment_provider"),
        "{vars}"
    );
}

#[test]
fn shop_on_kubernetes_has_three_deployments_and_policies_for_exactly_the_relationships() {
    let files = gen_all("shop");
    let workloads: Vec<&str> = ["web-api", "orders", "catalog"]
        .iter()
        .map(|h| file(&files, &format!("deploy/k8s/base/{h}.yaml")))
        .collect();
    for w in &workloads {
        assert_eq!(w.matches("kind: Deployment").count(), 1);
        assert!(w.contains("path: /healthz"));
        assert!(w.contains("readOnlyRootFilesystem: true"));
        assert!(w.contains("runAsNonRoot: true"));
    }
    let base = file(&files, "deploy/k8s/base/kustomization.yaml");
    let with_kind = |kind: &str| -> Vec<&str> {
        paths_under(&files, "deploy/k8s/base/")
            .into_iter()
            .filter(|p| file(&files, p).contains(&format!("kind: {kind}\n")))
            .collect()
    };
    // Three services, and the database and queue as StatefulSets of their
    // own whose data is on a claim (not an emptyDir), sized per overlay.
    assert_eq!(with_kind("Deployment").len(), 3, "{base}");
    let mut stateful = with_kind("StatefulSet");
    stateful.sort();
    assert_eq!(
        stateful,
        [
            "deploy/k8s/base/order-events.yaml",
            "deploy/k8s/base/orders-database.yaml"
        ]
    );
    for p in &stateful {
        let text = file(&files, p);
        assert!(
            text.contains("volumeClaimTemplates:\n    - metadata:\n        name: data\n"),
            "{text}"
        );
        assert!(!text.contains("- name: data\n          emptyDir"), "{text}");
    }
    for (env, size) in [("dev", "1Gi"), ("prod", "20Gi")] {
        let patch = file(&files, &format!("deploy/k8s/overlays/{env}/resources.yaml"));
        let db = patch
            .split("\n---\n")
            .find(|d| d.contains("kind: StatefulSet") && d.contains("name: \"orders-database\""))
            .unwrap_or_else(|| panic!("{patch}"));
        assert!(db.contains(&format!("storage: {size}")), "{db}");
    }
    let policies = file(&files, "deploy/k8s/base/network-policies.yaml");
    let mut got = BTreeSet::new();
    let mut to = String::new();
    let mut in_from = false;
    for line in policies.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("name: \"allow-to-") {
            to = name.trim_end_matches('"').replace('-', "_");
        }
        if t == "- from:" {
            in_from = true;
        } else if in_from && t == "- namespaceSelector: {}" {
            got.insert((to.clone(), "ingress".to_string()));
            in_from = false;
        } else if in_from && let Some(from) = t.strip_prefix("app.kubernetes.io/name: ") {
            got.insert((to.clone(), from.trim_matches('"').replace('-', "_")));
            in_from = false;
        }
    }
    assert_eq!(got, shop_rules());
    // A database URL is a credential: in a Secret, never in the ConfigMap.
    let orders = file(&files, "deploy/k8s/base/orders.yaml");
    let config = orders.split("\n---\n").next().unwrap();
    assert!(config.contains("kind: ConfigMap"), "{orders}");
    assert!(!config.contains("ORDERS_ORDERS_DATABASE_URL"), "{orders}");
    let secret = orders
        .split("\n---\n")
        .find(|d| d.contains("kind: Secret"))
        .unwrap();
    assert!(
        secret.contains("\"ORDERS_ORDERS_DATABASE_URL\": \"\""),
        "{orders}"
    );
}

#[test]
fn shop_on_azure_has_three_apps_a_postgres_flexible_server_and_one_public_app() {
    let files = gen_all("shop");
    let bicep = file(&files, "deploy/azure-aca/main.bicep");
    let apps: Vec<&str> = bicep
        .lines()
        .filter(|l| l.starts_with("resource app_"))
        .collect();
    assert_eq!(apps.len(), 3, "{apps:?}");
    assert_eq!(
        bicep
            .matches("'Microsoft.DBforPostgreSQL/flexibleServers@")
            .count(),
        1
    );
    // The web API is the only app with external ingress; the others are
    // reached from inside only, as the relationships say.
    assert_eq!(bicep.matches("external: true").count(), 1);
    let web = &bicep[bicep.find("resource app_web_api").unwrap()..];
    let web = &web[..web.find("\n}\n").unwrap()];
    assert!(web.contains("external: true"));
    // No secret values in the file: they are parameters.
    assert!(bicep.contains("@secure()\n@description('Administrator password of Orders Database"));
}

#[test]
fn shop_on_cloud_run_has_three_services_cloud_sql_and_invokers_for_exactly_the_calls() {
    let files = gen_all("shop");
    let tf = file(&files, "deploy/gcp-run/main.tf");
    let mut run = tf_resources(tf, "google_cloud_run_v2_service");
    run.retain(|r| r.starts_with("svc_"));
    run.sort();
    assert_eq!(run, ["svc_catalog", "svc_orders", "svc_web_api"]);
    assert_eq!(
        tf_resources(tf, "google_sql_database_instance"),
        ["data_orders_database"]
    );
    let mut invokers = tf_resources(tf, "google_cloud_run_v2_service_iam_member");
    invokers.sort();
    assert_eq!(
        invokers,
        [
            "catalog_from_web_api",
            "orders_from_web_api",
            "svc_web_api_public"
        ]
    );
    let web = tf_block(tf, "google_cloud_run_v2_service", "svc_web_api");
    assert_eq!(attr(web, "ingress"), "INGRESS_TRAFFIC_ALL");
    let orders = tf_block(tf, "google_cloud_run_v2_service", "svc_orders");
    assert_eq!(attr(orders, "ingress"), "INGRESS_TRAFFIC_INTERNAL_ONLY");
}

#[test]
fn deployment_nodes_place_containers_on_their_stack() {
    let files = gen_all("placed");
    let ecs = file(&files, "deploy/aws-ecs/services.tf");
    let mut services = tf_resources(ecs, "aws_ecs_service");
    services.sort();
    assert_eq!(services, ["svc_api", "svc_worker"]);
    // The cache the API uses comes along as ElastiCache.
    let data = file(&files, "deploy/aws-ecs/data.tf");
    assert_eq!(
        tf_resources(data, "aws_elasticache_replication_group"),
        ["data_cache"]
    );
    let run = file(&files, "deploy/gcp-run/main.tf");
    let mut services = tf_resources(run, "google_cloud_run_v2_service");
    services.sort();
    // Reports, and the warehouse (Oracle) and Kafka stream, which Google
    // Cloud has no managed service for, as services of their own.
    assert_eq!(services, ["data_stream", "data_warehouse", "svc_reports"]);
    assert!(run.contains("# No managed kafka on Google Cloud"), "{run}");
    // No node names Kubernetes: --deploy puts every service there.
    let k8s = file(&files, "deploy/k8s/base/kustomization.yaml");
    for h in ["api", "worker", "reports"] {
        assert!(k8s.contains(&format!("- \"{h}.yaml\"")), "{k8s}");
    }
}

#[test]
fn deploy_files_are_in_the_manifest_and_overrides_are_the_users() {
    let files = gen_all("shop");
    let manifest: serde_json::Value = serde_json::from_str(file(&files, "c4forge.json")).unwrap();
    let listed: BTreeMap<&str, &serde_json::Value> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f))
        .collect();
    for f in files.files.iter().filter(|f| f.path.starts_with("deploy/")) {
        let entry = listed
            .get(f.path.as_str())
            .unwrap_or_else(|| panic!("{} not listed", f.path));
        let user = f.path.contains("/overrides/");
        assert_eq!(f.owner == FileOwner::User, user, "{}", f.path);
        assert_eq!(
            entry["owner"],
            if user { "user" } else { "generated" },
            "{}",
            f.path
        );
    }
    // The ECS services file implements the three services and the relationships between them.
    let services = listed["deploy/aws-ecs/services.tf"]["implements"]
        .as_array()
        .unwrap();
    for alias in ["web", "orders", "catalog"] {
        assert!(services.iter().any(|v| v == alias), "{services:?}");
    }
    assert!(
        services
            .iter()
            .any(|v| v.as_str().is_some_and(|s| s.contains("->")))
    );
}

#[test]
fn regeneration_keeps_the_users_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let files = gen_all("shop");
    let plan = infer::regen::plan(dir.path(), &files).unwrap();
    infer::regen::apply(dir.path(), &plan, &files).unwrap();
    let tfvars = dir.path().join("deploy/aws-ecs/overrides/terraform.tfvars");
    std::fs::write(&tfvars, "region = \"eu-west-1\"\n").unwrap();
    let mine = dir.path().join("deploy/aws-ecs/main_override.tf");
    std::fs::write(&mine, "# mine\n").unwrap();
    let again = gen_all("shop");
    let plan = infer::regen::plan(dir.path(), &again).unwrap();
    infer::regen::apply(dir.path(), &plan, &again).unwrap();
    assert_eq!(
        std::fs::read_to_string(&tfvars).unwrap(),
        "region = \"eu-west-1\"\n"
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "# mine\n");
}

#[test]
fn deploy_output_is_deterministic() {
    let flat = |f: FileSet| -> Vec<(String, String)> {
        f.files.into_iter().map(|f| (f.path, f.contents)).collect()
    };
    assert_eq!(flat(gen_all("placed")), flat(gen_all("placed")));
}

/// The target directories under `deploy/`.
fn target_dirs(files: &FileSet) -> Vec<String> {
    let dirs: BTreeSet<String> = paths_under(files, "deploy/")
        .into_iter()
        .filter_map(|p| p.split('/').nth(1).map(str::to_string))
        .collect();
    dirs.into_iter().collect()
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(deploy_dir().join(format!("{name}.puml"))).unwrap()
}

#[test]
fn deployment_nodes_select_their_targets_without_deploy() {
    // Every stack named by a node, nothing asked for.
    let files = gen_with("nested", &read_fixture("nested"), Vec::new());
    assert_eq!(
        target_dirs(&files),
        ["aws-ecs", "azure-aca", "gcp-run", "k8s"]
    );
    // ECS and Cloud Run nodes only: those two; --deploy adds Kubernetes
    // (with every service: no node places any there).
    let placed = read_fixture("placed");
    let files = gen_with("placed", &placed, Vec::new());
    assert_eq!(target_dirs(&files), ["aws-ecs", "gcp-run"]);
    let ecs = file(&files, "deploy/aws-ecs/services.tf");
    let mut services = tf_resources(ecs, "aws_ecs_service");
    services.sort();
    assert_eq!(services, ["svc_api", "svc_worker"]);
    let files = gen_with("placed", &placed, vec![DeployTarget::K8s]);
    assert_eq!(target_dirs(&files), ["aws-ecs", "gcp-run", "k8s"]);
    let k8s = file(&files, "deploy/k8s/base/kustomization.yaml");
    for h in ["api", "worker", "reports"] {
        assert!(k8s.contains(&format!("- \"{h}.yaml\"")), "{k8s}");
    }
    // No deployment nodes, no --deploy: no deploy output (as before).
    let files = gen_with("shop", &read_fixture("shop"), Vec::new());
    assert!(target_dirs(&files).is_empty());
}

/// The `default = "..."` of `variable "<name>"` in Terraform `text`.
fn tf_default<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("variable \"{name}\" {{\n");
    let start = text.find(&open)? + open.len();
    let body = &text[start..start + text[start..].find("\n}\n")?];
    body.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "default").then(|| v.split('#').next().unwrap().trim().trim_matches('"'))
    })
}

#[test]
fn nesting_gives_clusters_regions_networks_and_namespaces() {
    let files = gen_with("nested", &read_fixture("nested"), Vec::new());

    // AWS: each ECS node is a cluster with the services inside it, the
    // region node the region's default, the VPC node the VPC's name.
    let ecs = file(&files, "deploy/aws-ecs/services.tf");
    let mut clusters = tf_resources(ecs, "aws_ecs_cluster");
    clusters.sort();
    assert_eq!(clusters, ["cluster_back_office", "cluster_storefront"]);
    assert_eq!(
        attr(
            tf_block(ecs, "aws_ecs_cluster", "cluster_back_office"),
            "name"
        ),
        "${var.name}-back-office"
    );
    let mut placed: BTreeMap<String, String> = BTreeMap::new();
    for s in tf_resources(ecs, "aws_ecs_service") {
        let cluster = attr(tf_block(ecs, "aws_ecs_service", &s), "cluster");
        placed.insert(s, cluster.to_string());
    }
    let want: BTreeMap<String, String> = [
        ("svc_web_api", "cluster_storefront"),
        ("svc_orders", "cluster_back_office"),
        ("svc_billing", "cluster_back_office"),
    ]
    .into_iter()
    .map(|(s, c)| (s.to_string(), format!("aws_ecs_cluster.{c}.id")))
    .collect();
    assert_eq!(placed, want);
    let vars = file(&files, "deploy/aws-ecs/variables.tf");
    assert_eq!(tf_default(vars, "region"), Some("eu-central-1"));
    assert_eq!(tf_default(vars, "vpc_name"), Some("shop-vpc"));
    let network = file(&files, "deploy/aws-ecs/network.tf");
    assert_eq!(
        attr(tf_block(network, "aws_vpc", "main"), "Name"),
        "var.vpc_name"
    );
    // The database next to the clusters comes along as RDS.
    let data = file(&files, "deploy/aws-ecs/data.tf");
    assert_eq!(tf_resources(data, "aws_db_instance"), ["data_orders_db"]);

    // Google Cloud: both Cloud Run services, region and network from the nodes.
    let run = file(&files, "deploy/gcp-run/main.tf");
    let mut services = tf_resources(run, "google_cloud_run_v2_service");
    services.sort();
    assert_eq!(services, ["svc_exports", "svc_reports"]);
    let vars = file(&files, "deploy/gcp-run/variables.tf");
    assert_eq!(tf_default(vars, "region"), Some("europe-west1"));
    assert_eq!(tf_default(vars, "network_name"), Some("analytics-network"));
    assert_eq!(
        attr(tf_block(run, "google_compute_network", "main"), "name"),
        "var.network_name"
    );

    // Azure: the region node is the location's default, the VNet node names the network.
    let bicep = file(&files, "deploy/azure-aca/main.bicep");
    assert!(
        bicep.contains("\nparam location string = 'westeurope'\n"),
        "{bicep}"
    );
    assert!(bicep.contains("resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {\n  name: 'partner-vnet'\n"), "{bicep}");
    let apps: Vec<&str> = bicep
        .lines()
        .filter(|l| l.starts_with("resource app_"))
        .collect();
    assert_eq!(apps.len(), 1, "{apps:?}");

    // Kubernetes: only the inventory, in the namespace node's namespace.
    assert_eq!(
        paths_under(&files, "deploy/k8s/base/")
            .into_iter()
            .filter(|p| file(&files, p).contains("kind: Deployment\n"))
            .collect::<Vec<_>>(),
        ["deploy/k8s/base/inventory.yaml"]
    );
    for (env, ns) in [("prod", "inventory"), ("dev", "inventory-dev")] {
        let overlay = file(
            &files,
            &format!("deploy/k8s/overlays/{env}/kustomization.yaml"),
        );
        assert!(
            overlay.contains(&format!("\nnamespace: \"{ns}\"\n")),
            "{overlay}"
        );
        let namespace = file(&files, &format!("deploy/k8s/overlays/{env}/namespace.yaml"));
        assert!(
            namespace.contains(&format!("  name: \"{ns}\"\n")),
            "{namespace}"
        );
    }
}

#[test]
fn cloud_run_services_are_told_to_send_id_tokens() {
    let files = gen_with("nested", &read_fixture("nested"), Vec::new());
    let run = file(&files, "deploy/gcp-run/main.tf");
    for s in ["svc_reports", "svc_exports"] {
        let b = tf_block(run, "google_cloud_run_v2_service", s);
        assert!(
            b.contains("_CLOUD_RUN_ID_TOKEN\"\n        value = \"true\""),
            "{b}"
        );
    }
    // google-auth only where Cloud Run is generated.
    assert!(file(&files, "pyproject.toml").contains("\"google-auth[requests]"));
    let shop = gen_with("shop", &read_fixture("shop"), vec![DeployTarget::K8s]);
    assert!(!file(&shop, "pyproject.toml").contains("google-auth"));
    assert!(shop.files.iter().all(|f| !f.path.ends_with("cloud_run.py")));
}

/// The generated project's own checks (compile, ruff, pytest) with
/// `C4FORGE_PYTHON`; its `tests/test_cloud_run.py` sends requests through
/// the generated clients with the setting on and off (token fetch faked).
#[test]
fn generated_cloud_run_project_passes_its_pytest() {
    let py = std::env::var_os("C4FORGE_PYTHON")
        .expect("C4FORGE_PYTHON is not set (a venv python with infer/python-requirements.txt)");
    // (fixture, targets asked for, tests of test_cloud_run.py: one of the
    // auth itself, then on and off per call between our services).
    for (name, deploy, tests) in [
        ("nested", Vec::new(), 1 + 2 * 3),
        ("shop", vec![DeployTarget::GcpRun], 1 + 2 * 2),
    ] {
        let files = gen_with(name, &read_fixture(name), deploy);
        assert!(
            file(&files, "tests/test_cloud_run.py").contains("CLIENTS"),
            "{name}"
        );
        let dir = tempfile::tempdir().unwrap();
        for f in &files.files {
            let p = dir.path().join(&f.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, &f.contents).unwrap();
        }
        let steps: [&[&str]; 5] = [
            &["-m", "compileall", "-q", "."],
            &["-m", "ruff", "check", "--no-cache", "."],
            &[
                "-m",
                "ruff",
                "format",
                "--check",
                "--diff",
                "--no-cache",
                ".",
            ],
            &["-m", "pytest", "-q", "-p", "no:cacheprovider"],
            &[
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_cloud_run.py",
            ],
        ];
        for args in steps {
            let out = std::process::Command::new(&py)
                .args(args)
                .current_dir(dir.path())
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env_remove("PYTHONPATH")
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success(),
                "{name}: python {}:\n{text}",
                args.join(" ")
            );
            if args.contains(&"tests/test_cloud_run.py") {
                assert!(text.contains(&format!("{tests} passed")), "{name}: {text}");
                assert!(!text.contains("skipped"), "{name}: {text}");
            }
        }
    }
}
