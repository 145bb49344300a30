//! Kubernetes: a Kustomize base (per workload a Deployment, Service,
//! ConfigMap and Secret; data services as workloads; NetworkPolicies) and
//! `dev`/`prod` overlays that read the user's `overrides` component.

use super::{FileSpec, Plan, common_files, everything};

/// The files of `deploy/k8s/`.
pub(super) fn files(plan: &Plan) -> Vec<FileSpec> {
    let mut v = common_files(plan);
    v.push(FileSpec::new(
        "base/kustomization.yaml",
        "deploy/k8s/kustomization.base.yaml.j2",
        everything(plan),
    ));
    for w in &plan.workloads {
        let mut implements = w.aliases.clone();
        implements.extend(w.rel_ids.iter().cloned());
        v.push(
            FileSpec::new(
                format!("base/{}.yaml", w.host),
                "deploy/k8s/workload.yaml.j2",
                implements,
            )
            .with_item(minijinja::Value::from(minijinja::value::Serde(w))),
        );
    }
    for s in &plan.data {
        let mut implements = vec![s.alias.clone()];
        implements.extend(s.rel_ids.iter().cloned());
        v.push(
            FileSpec::new(
                format!("base/{}.yaml", s.host),
                "deploy/k8s/data.yaml.j2",
                implements,
            )
            .with_item(minijinja::Value::from(minijinja::value::Serde(s))),
        );
    }
    let rule_ids: Vec<String> = plan
        .rules
        .iter()
        .flat_map(|r| r.rel_ids.iter().cloned())
        .collect();
    v.push(FileSpec::new(
        "base/network-policies.yaml",
        "deploy/k8s/network.yaml.j2",
        rule_ids,
    ));
    for env in ["dev", "prod"] {
        let item = minijinja::Value::from(env);
        v.push(
            FileSpec::new(
                format!("overlays/{env}/kustomization.yaml"),
                "deploy/k8s/overlay.yaml.j2",
                Vec::new(),
            )
            .with_item(item.clone()),
        );
        v.push(
            FileSpec::new(
                format!("overlays/{env}/namespace.yaml"),
                "deploy/k8s/namespace.yaml.j2",
                Vec::new(),
            )
            .with_item(item.clone()),
        );
        v.push(
            FileSpec::new(
                format!("overlays/{env}/resources.yaml"),
                "deploy/k8s/overlay-patch.yaml.j2",
                Vec::new(),
            )
            .with_item(item),
        );
    }
    v.push(FileSpec::user(
        "overrides/kustomization.yaml",
        "deploy/k8s/component.yaml.j2",
    ));
    v
}
