//! Metrics of the compose topology: a Prometheus configuration scraping
//! every service's `/metrics`, and Grafana provisioning with one dashboard
//! per service (requests and latency by route and status), referenced by
//! the generated `docker-compose.yml`. Written for every project with a
//! service, not only when deploy targets are asked for.

use minijinja::context;
use schemas::files::FileOwner;

use crate::GenerateError;
use crate::project::Project;

/// Adds `monitoring/**` to `out` (nothing when the project has no service).
pub(crate) fn add_files(
    out: &mut crate::python_fastapi::Out<'_>,
    p: &Project,
) -> Result<(), GenerateError> {
    if p.services.is_empty() {
        return Ok(());
    }
    let pv = minijinja::Value::from(minijinja::value::Serde(p));
    let header = format!(
        "# {}. source: {}\n",
        crate::python_fastapi::DO_NOT_EDIT,
        crate::render::comment(&p.source)
    );
    let all: Vec<String> = p.services.iter().map(|s| s.alias.clone()).collect();
    for (path, template, implements) in [
        (
            "monitoring/prometheus.yml",
            "deploy/monitoring/prometheus.yml.j2",
            all.clone(),
        ),
        (
            "monitoring/grafana/provisioning/datasources/prometheus.yml",
            "deploy/monitoring/datasource.yml.j2",
            Vec::new(),
        ),
        (
            "monitoring/grafana/provisioning/dashboards/dashboards.yml",
            "deploy/monitoring/dashboards.yml.j2",
            Vec::new(),
        ),
    ] {
        out.add(
            path.to_string(),
            template,
            context! { p => pv.clone(), header => header.clone() },
            FileOwner::Generated,
            implements,
        )?;
    }
    for s in &p.services {
        out.add(
            format!("monitoring/grafana/dashboards/{}.json", s.host),
            "deploy/monitoring/dashboard.json.j2",
            context! { p => pv.clone(), s => minijinja::Value::from(minijinja::value::Serde(s)) },
            FileOwner::Generated,
            s.aliases.clone(),
        )?;
    }
    Ok(())
}
