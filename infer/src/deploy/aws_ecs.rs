//! AWS ECS on Fargate with Terraform: VPC (public/private subnets, IGW,
//! NAT), ECS services and task definitions in the private subnets, an
//! internal NLB behind an API Gateway HTTP API with a VPC link and a
//! Cognito JWT authorizer, ECR, and RDS / ElastiCache / Amazon MQ / MSK.

use super::{FileSpec, Plan, common_files};

/// The files of `deploy/aws-ecs/`.
pub(super) fn files(plan: &Plan) -> Vec<FileSpec> {
    let mut v = common_files(plan);
    let rel_ids: Vec<String> = plan
        .rules
        .iter()
        .flat_map(|r| r.rel_ids.iter().cloned())
        .collect();
    let data: Vec<String> = plan
        .data
        .iter()
        .flat_map(|d| std::iter::once(d.alias.clone()).chain(d.rel_ids.iter().cloned()))
        .collect();
    let mut services: Vec<String> = plan
        .workloads
        .iter()
        .flat_map(|w| w.aliases.iter().cloned())
        .collect();
    services.extend(rel_ids);
    v.push(FileSpec::new(
        "main.tf",
        "deploy/aws-ecs/main.tf.j2",
        Vec::new(),
    ));
    v.push(FileSpec::new(
        "network.tf",
        "deploy/aws-ecs/network.tf.j2",
        Vec::new(),
    ));
    v.push(FileSpec::new(
        "services.tf",
        "deploy/aws-ecs/services.tf.j2",
        services,
    ));
    v.push(FileSpec::new("data.tf", "deploy/aws-ecs/data.tf.j2", data));
    v.push(FileSpec::new(
        "variables.tf",
        "deploy/aws-ecs/variables.tf.j2",
        Vec::new(),
    ));
    v.push(FileSpec::user(
        "overrides/terraform.tfvars",
        "deploy/tfvars.j2",
    ));
    v
}
