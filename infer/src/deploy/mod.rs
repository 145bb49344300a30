//! Deployment output: `deploy/<target>/` for each target a run asks for
//! or the diagram's deployment nodes name ([`targets`], [`DeployTarget`]):
//! Kubernetes (Kustomize), AWS ECS Fargate (Terraform), Azure Container Apps
//! (Bicep) and Google Cloud Run (Terraform).
//!
//! `nodes` reads the deployment nodes: which targets they select and the
//! structure their nesting gives ([`Placement`]: region, network, clusters,
//! namespace), which the plan carries to the templates.
//!
//! Everything here is derived from the analysed [`Project`], not boilerplate:
//! [`plan`] turns it into a [`Plan`] (one workload per generated service with
//! the environment variables its settings class reads, one data service per
//! own database or broker with the engine its technology names, the network
//! rules the diagram's relationships allow, the external systems as
//! configurable URLs), and each target module (`k8s`, `aws_ecs`,
//! `azure_aca`, `gcp_run`) lists the files it renders from that plan with the
//! templates under `templates/deploy/<target>/`. The templates decide how a
//! target spells an address or a managed service; the plan decides what
//! exists and who may talk to whom, so the four targets cannot disagree.
//!
//! `deploy/<target>/overrides/` is the user's: its files are created once
//! ([`FileOwner::User`]) and every generated entry point reads it, so
//! regeneration ([`crate::regen`]) never touches an edit made there.

mod aws_ecs;
mod azure_aca;
mod gcp_run;
mod k8s;
mod monitoring;
mod nodes;
mod plan;

use minijinja::context;
use schemas::deploy::DeployTarget;
use schemas::files::FileOwner;
use schemas::model::v1::Model;

pub use nodes::{Cluster, Placement, diagram_targets, node_target, placement};
pub use plan::{DataService, Engine, EnvVar, ExternalUrl, Plan, Rule, Workload, plan};

use crate::GenerateError;
use crate::project::Project;

/// One file a target renders: path under `deploy/<target>/`, template,
/// owner, and what it implements (element aliases and relationship ids).
struct FileSpec {
    path: String,
    template: &'static str,
    owner: FileOwner,
    implements: Vec<String>,
    /// Extra template context: the workload or data service the file is for.
    item: Option<minijinja::Value>,
}

impl FileSpec {
    fn new(path: impl Into<String>, template: &'static str, implements: Vec<String>) -> Self {
        Self {
            path: path.into(),
            template,
            owner: FileOwner::Generated,
            implements,
            item: None,
        }
    }

    fn user(path: impl Into<String>, template: &'static str) -> Self {
        Self {
            owner: FileOwner::User,
            ..Self::new(path, template, Vec::new())
        }
    }

    fn with_item(mut self, item: minijinja::Value) -> Self {
        self.item = Some(item);
        self
    }
}

/// The built-in deploy templates: (name, source), registered with the
/// python templates by [`crate::render`] (an overlay may replace them too).
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "deploy/monitoring/prometheus.yml.j2",
        include_str!("../templates/deploy/monitoring/prometheus.yml.j2"),
    ),
    (
        "deploy/monitoring/datasource.yml.j2",
        include_str!("../templates/deploy/monitoring/datasource.yml.j2"),
    ),
    (
        "deploy/monitoring/dashboards.yml.j2",
        include_str!("../templates/deploy/monitoring/dashboards.yml.j2"),
    ),
    (
        "deploy/monitoring/dashboard.json.j2",
        include_str!("../templates/deploy/monitoring/dashboard.json.j2"),
    ),
    (
        "deploy/python/cloud_run.py.j2",
        include_str!("../templates/deploy/python/cloud_run.py.j2"),
    ),
    (
        "deploy/python/test_cloud_run.py.j2",
        include_str!("../templates/deploy/python/test_cloud_run.py.j2"),
    ),
    (
        "deploy/README.md.j2",
        include_str!("../templates/deploy/README.md.j2"),
    ),
    (
        "deploy/overrides.md.j2",
        include_str!("../templates/deploy/overrides.md.j2"),
    ),
    (
        "deploy/tfvars.j2",
        include_str!("../templates/deploy/tfvars.j2"),
    ),
    (
        "deploy/checkov.yaml.j2",
        include_str!("../templates/deploy/checkov.yaml.j2"),
    ),
    (
        "deploy/k8s/kustomization.base.yaml.j2",
        include_str!("../templates/deploy/k8s/kustomization.base.yaml.j2"),
    ),
    (
        "deploy/k8s/workload.yaml.j2",
        include_str!("../templates/deploy/k8s/workload.yaml.j2"),
    ),
    (
        "deploy/k8s/data.yaml.j2",
        include_str!("../templates/deploy/k8s/data.yaml.j2"),
    ),
    (
        "deploy/k8s/network.yaml.j2",
        include_str!("../templates/deploy/k8s/network.yaml.j2"),
    ),
    (
        "deploy/k8s/namespace.yaml.j2",
        include_str!("../templates/deploy/k8s/namespace.yaml.j2"),
    ),
    (
        "deploy/k8s/overlay.yaml.j2",
        include_str!("../templates/deploy/k8s/overlay.yaml.j2"),
    ),
    (
        "deploy/k8s/component.yaml.j2",
        include_str!("../templates/deploy/k8s/component.yaml.j2"),
    ),
    (
        "deploy/k8s/overlay-patch.yaml.j2",
        include_str!("../templates/deploy/k8s/overlay-patch.yaml.j2"),
    ),
    (
        "deploy/aws-ecs/main.tf.j2",
        include_str!("../templates/deploy/aws-ecs/main.tf.j2"),
    ),
    (
        "deploy/aws-ecs/network.tf.j2",
        include_str!("../templates/deploy/aws-ecs/network.tf.j2"),
    ),
    (
        "deploy/aws-ecs/services.tf.j2",
        include_str!("../templates/deploy/aws-ecs/services.tf.j2"),
    ),
    (
        "deploy/aws-ecs/data.tf.j2",
        include_str!("../templates/deploy/aws-ecs/data.tf.j2"),
    ),
    (
        "deploy/aws-ecs/variables.tf.j2",
        include_str!("../templates/deploy/aws-ecs/variables.tf.j2"),
    ),
    (
        "deploy/azure-aca/main.bicep.j2",
        include_str!("../templates/deploy/azure-aca/main.bicep.j2"),
    ),
    (
        "deploy/azure-aca/main.bicepparam.j2",
        include_str!("../templates/deploy/azure-aca/main.bicepparam.j2"),
    ),
    (
        "deploy/gcp-run/main.tf.j2",
        include_str!("../templates/deploy/gcp-run/main.tf.j2"),
    ),
    (
        "deploy/gcp-run/variables.tf.j2",
        include_str!("../templates/deploy/gcp-run/variables.tf.j2"),
    ),
];

/// The targets a run generates: those `requested` (`--deploy`, the upload's
/// `deploy`) and those the diagram's deployment nodes select by themselves
/// ([`diagram_targets`]), in [`DeployTarget::ALL`] order. A diagram without
/// such nodes gets exactly what was requested.
pub fn targets(p: &Project, model: &Model, requested: &[DeployTarget]) -> Vec<DeployTarget> {
    let chosen = diagram_targets(
        model,
        p.services
            .iter()
            .flat_map(|s| s.aliases.iter().map(String::as_str)),
    );
    DeployTarget::ALL
        .into_iter()
        .filter(|t| requested.contains(t) || chosen.contains(t))
        .collect()
}

/// Renders the compose monitoring files, then `deploy/<target>/` for every
/// target of `targets` (see [`targets`]), into `out`.
pub(crate) fn add_files(
    out: &mut crate::python_fastapi::Out<'_>,
    p: &Project,
    model: &Model,
    targets: &[DeployTarget],
) -> Result<(), GenerateError> {
    monitoring::add_files(out, p)?;
    for &target in targets {
        let plan = plan::plan(p, model, target);
        let specs = match target {
            DeployTarget::K8s => k8s::files(&plan),
            DeployTarget::AwsEcs => aws_ecs::files(&plan),
            DeployTarget::AzureAca => azure_aca::files(&plan),
            DeployTarget::GcpRun => gcp_run::files(&plan),
        };
        let pv = minijinja::Value::from(minijinja::value::Serde(&plan));
        for spec in specs {
            let path = format!("deploy/{}/{}", target.name(), spec.path);
            let header = header_for(&path, &plan, spec.owner);
            let item = spec.item.unwrap_or_default();
            out.add(
                path,
                spec.template,
                context! { d => pv.clone(), header => header, item => item },
                spec.owner,
                spec.implements,
            )?;
        }
    }
    Ok(())
}

/// The first lines of a deploy file, in the file's comment syntax.
fn header_for(path: &str, plan: &Plan, owner: FileOwner) -> String {
    let source = crate::render::comment(&plan.source);
    let text = match owner {
        FileOwner::User => format!(
            "created by c4forge from {source}; this file is yours: c4forge creates it once and never overwrites it."
        ),
        _ => format!("{}. source: {source}", crate::python_fastapi::DO_NOT_EDIT),
    };
    if path.ends_with(".md") {
        format!("<!-- {} -->\n", text.replace("--", "- -"))
    } else if path.ends_with(".bicep") || path.ends_with(".bicepparam") {
        format!("// {text}\n")
    } else {
        format!("# {text}\n")
    }
}

/// Every element alias and relationship id of the plan (files that describe
/// the whole deployment implement all of them).
fn everything(plan: &Plan) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for w in &plan.workloads {
        v.extend(w.aliases.iter().cloned());
    }
    for d in &plan.data {
        v.push(d.alias.clone());
    }
    for r in &plan.rules {
        v.extend(r.rel_ids.iter().cloned());
    }
    v
}

/// The README, the `.checkov.yaml` and the overrides note every target has.
fn common_files(plan: &Plan) -> Vec<FileSpec> {
    vec![
        FileSpec::new("README.md", "deploy/README.md.j2", everything(plan)),
        FileSpec::new(".checkov.yaml", "deploy/checkov.yaml.j2", Vec::new()),
        FileSpec::user("overrides/README.md", "deploy/overrides.md.j2"),
    ]
}
