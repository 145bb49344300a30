//! What a diagram's deployment nodes say about its deployment.
//!
//! A `Deployment_Node` (any variant, any depth) whose technology names a
//! stack ([`node_target`]) puts the elements inside it on that target: the
//! diagram asked, so the target is generated without `--deploy`
//! ([`diagram_targets`]). The nodes around it give the target's structure
//! ([`Placement`]): a region node sets the region's default, a VPC / VNet /
//! network node names the network, each node naming the stack is a cluster
//! (an ECS cluster, a Container Apps environment, a Kubernetes cluster) with
//! the containers inside it, and a namespace node inside a Kubernetes
//! cluster gives the namespace of its workloads. docs/DEPLOY.md has the
//! mapping per target.

use std::collections::{BTreeMap, BTreeSet};

use schemas::deploy::DeployTarget;
use schemas::model::v1::{BoundaryKind, Model};
use serde::Serialize;

/// Deepest nesting followed (a cycle in a malformed model ends here).
const MAX_DEPTH: usize = 64;

/// Which target a deployment node's technology names, if any.
pub fn node_target(technology: &str) -> Option<DeployTarget> {
    let words = words(technology);
    let has = |w: &str| words.iter().any(|x| x == w);
    let phrase = |a: &str, b: &str| words.windows(2).any(|p| p[0] == a && p[1] == b);
    if has("ecs") || has("fargate") {
        Some(DeployTarget::AwsEcs)
    } else if phrase("container", "apps") || has("containerapps") {
        Some(DeployTarget::AzureAca)
    } else if phrase("cloud", "run") {
        Some(DeployTarget::GcpRun)
    } else if ["kubernetes", "k8s", "aks", "eks", "gke", "openshift"]
        .iter()
        .any(|w| has(w))
    {
        Some(DeployTarget::K8s)
    } else {
        None
    }
}

fn words(text: &str) -> Vec<String> {
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A cloud region code (`eu-west-1`, `europe-west4`, `westeurope`): lower
/// case letters, digits and hyphens, starting with a letter, no spaces.
fn region_code(text: &str) -> Option<String> {
    let t = text.trim();
    let ok = (2..=32).contains(&t.len())
        && t.starts_with(|c: char| c.is_ascii_lowercase())
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then(|| t.to_string())
}

/// One cluster: a deployment node naming the target, with what runs in it.
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// Name (kebab, unique within the target), from the node's label.
    pub name: String,
    /// Identifier (snake) for Terraform and Bicep names.
    pub ident: String,
    /// The node as the diagram writes it: `label [technology]`.
    pub node: String,
    /// Kubernetes namespace from a namespace node inside it, if any.
    pub namespace: Option<String>,
    /// Aliases of the elements placed in it, in diagram order.
    pub aliases: Vec<String>,
}

/// The structure the deployment nodes give one target. Empty (the
/// default) when no node names the target: `--deploy` chose it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Placement {
    /// Region code from a region node around the clusters (first found).
    pub region: Option<String>,
    /// Network name (kebab) from a VPC / VNet / network node around them.
    pub network: Option<String>,
    /// Clusters, in the order the diagram first places an element in them.
    pub clusters: Vec<Cluster>,
}

impl Placement {
    /// Every element alias placed on the target.
    pub fn aliases(&self) -> BTreeSet<&str> {
        self.clusters
            .iter()
            .flat_map(|c| c.aliases.iter().map(String::as_str))
            .collect()
    }

    /// The cluster an element is placed in.
    pub fn cluster_of(&self, alias: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|c| c.aliases.iter().any(|a| a == alias))
    }

    /// The nodes that chose the target (`label [technology]`), for headers.
    pub fn nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = self.clusters.iter().map(|c| c.node.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

struct Node<'m> {
    alias: &'m str,
    label: &'m str,
    technology: &'m str,
    deployment: bool,
    parent: Option<&'m str>,
}

impl Node<'_> {
    fn text_words(&self) -> Vec<String> {
        let mut w = words(self.technology);
        w.extend(words(self.label));
        w
    }

    fn is_region(&self) -> bool {
        self.text_words().iter().any(|w| w == "region")
    }

    fn region(&self) -> Option<String> {
        region_code(self.label).or_else(|| region_code(self.technology))
    }

    fn is_network(&self) -> bool {
        let w = self.text_words();
        let has = |x: &str| w.iter().any(|y| y == x);
        has("vpc") || has("vnet") || has("network")
    }

    fn is_namespace(&self) -> bool {
        self.text_words().iter().any(|w| w == "namespace")
    }

    fn name(&self) -> String {
        crate::naming::kebab(&crate::naming::snake(self.label, self.alias))
    }
}

/// The deployment-node view of a model: every boundary and each element's parent.
struct Nodes<'m> {
    nodes: BTreeMap<&'m str, Node<'m>>,
    /// Elements in diagram order with their parent.
    elements: Vec<(&'m str, Option<&'m str>)>,
}

impl<'m> Nodes<'m> {
    fn read(model: &'m Model) -> Self {
        let mut nodes = BTreeMap::new();
        let mut elements = Vec::new();
        let mut seen = BTreeSet::new();
        for d in &model.diagrams {
            for b in &d.boundaries {
                nodes.entry(b.alias.as_str()).or_insert(Node {
                    alias: b.alias.as_str(),
                    label: b.label.as_str(),
                    technology: b.technology.as_str(),
                    deployment: b.kind == BoundaryKind::DeploymentNode,
                    parent: b.parent.as_deref(),
                });
            }
            for e in &d.elements {
                if seen.insert(e.alias.as_str()) {
                    elements.push((e.alias.as_str(), e.parent.as_deref()));
                }
            }
        }
        Self { nodes, elements }
    }

    /// The deployment nodes around `parent`, innermost first.
    fn chain(&self, parent: Option<&'m str>) -> Vec<&Node<'m>> {
        let mut out = Vec::new();
        let mut cur = parent;
        while let Some(p) = cur {
            let Some(n) = self.nodes.get(p) else { break };
            if n.deployment {
                out.push(n);
            }
            if out.len() > MAX_DEPTH {
                break;
            }
            cur = n.parent;
        }
        out
    }

    /// The placement of every target some node names.
    fn placements(&self) -> BTreeMap<DeployTarget, Placement> {
        let mut out: BTreeMap<DeployTarget, Placement> = BTreeMap::new();
        let mut names: BTreeMap<(DeployTarget, &str), usize> = BTreeMap::new();
        for &(alias, parent) in &self.elements {
            let chain = self.chain(parent);
            // The innermost node naming a stack decides; the run of nodes
            // around it naming the same stack is one cluster (its outermost).
            let Some((first, target)) = chain
                .iter()
                .enumerate()
                .find_map(|(i, n)| node_target(n.technology).map(|t| (i, t)))
            else {
                continue;
            };
            let mut top = first;
            while top + 1 < chain.len() && node_target(chain[top + 1].technology) == Some(target) {
                top += 1;
            }
            let cluster_node = chain[top];
            let placement = out.entry(target).or_default();
            let idx = match names.get(&(target, cluster_node.alias)) {
                Some(&i) => i,
                None => {
                    let mut name = cluster_node.name();
                    if placement.clusters.iter().any(|c| c.name == name) {
                        name = format!(
                            "{name}-{}",
                            crate::naming::kebab(&crate::naming::snake(cluster_node.alias, "node"))
                        );
                    }
                    placement.clusters.push(Cluster {
                        ident: format!("cluster_{}", name.replace('-', "_")),
                        name,
                        node: format!("{} [{}]", cluster_node.label, cluster_node.technology),
                        namespace: None,
                        aliases: Vec::new(),
                    });
                    let i = placement.clusters.len() - 1;
                    names.insert((target, cluster_node.alias), i);
                    i
                }
            };
            let cluster = &mut placement.clusters[idx];
            cluster.aliases.push(alias.to_string());
            if cluster.namespace.is_none() {
                cluster.namespace = chain[..top]
                    .iter()
                    .find(|n| n.is_namespace())
                    .map(|n| n.name());
            }
            let outside = &chain[top + 1..];
            if placement.region.is_none() {
                placement.region = outside
                    .iter()
                    .filter(|n| n.is_region())
                    .find_map(|n| n.region());
            }
            if placement.network.is_none() {
                placement.network = outside.iter().find(|n| n.is_network()).map(|n| n.name());
            }
        }
        out
    }
}

/// The placement of `target` by `model`'s deployment nodes (empty when no
/// node names it).
pub fn placement(model: &Model, target: DeployTarget) -> Placement {
    Nodes::read(model)
        .placements()
        .remove(&target)
        .unwrap_or_default()
}

/// The targets the diagram's deployment nodes select by themselves: those
/// with at least one of `services` (element aliases) inside a node naming
/// them, in [`DeployTarget::ALL`] order.
pub fn diagram_targets<'a>(
    model: &Model,
    services: impl IntoIterator<Item = &'a str>,
) -> Vec<DeployTarget> {
    let services: BTreeSet<&str> = services.into_iter().collect();
    let placements = Nodes::read(model).placements();
    DeployTarget::ALL
        .into_iter()
        .filter(|t| {
            placements
                .get(t)
                .is_some_and(|p| p.aliases().iter().any(|a| services.contains(a)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_technology_names_the_stack() {
        assert_eq!(node_target("AWS ECS"), Some(DeployTarget::AwsEcs));
        assert_eq!(node_target("Fargate"), Some(DeployTarget::AwsEcs));
        assert_eq!(node_target("Kubernetes"), Some(DeployTarget::K8s));
        assert_eq!(node_target("Amazon EKS"), Some(DeployTarget::K8s));
        assert_eq!(
            node_target("Azure Container Apps"),
            Some(DeployTarget::AzureAca)
        );
        assert_eq!(node_target("Google Cloud Run"), Some(DeployTarget::GcpRun));
        assert_eq!(node_target("Ubuntu 22.04"), None);
        assert_eq!(node_target("type with\nline break"), None);
    }

    #[test]
    fn region_codes_are_single_lower_case_words() {
        assert_eq!(region_code("eu-west-1").as_deref(), Some("eu-west-1"));
        assert_eq!(region_code("westeurope").as_deref(), Some("westeurope"));
        assert_eq!(region_code("AWS region"), None);
        assert_eq!(region_code("Europe West"), None);
    }
}
