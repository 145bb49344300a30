//! Databases: the SQLAlchemy repository or Redis cache of a service that
//! uses one.

use schemas::model::v1::Relationship;

use super::builder::Builder;
use super::context::one_line;
use super::realize::Realization;
use crate::project::{DepKind, TestKind, TestSpec};
use crate::techmap::{self, Tech};

impl Builder {
    /// The repository or cache of service `svc` (component `comp`) for
    /// database `db`; SQL unless the relationship or the database says Redis.
    pub(super) fn repository(
        &mut self,
        svc: usize,
        comp: Option<usize>,
        db: usize,
        r: &Relationship,
        id: &str,
        rtech: Option<Tech>,
    ) -> Realization {
        let d = self.databases[db].clone();
        let tech = match rtech {
            Some(Tech::Redis) => Tech::Redis,
            Some(Tech::Sql) => Tech::Sql,
            _ => d.tech,
        };
        let kind = if tech == Tech::Redis {
            DepKind::Redis
        } else {
            DepKind::Sql
        };
        let dep = self.dep(
            svc,
            kind,
            &d.alias,
            &d.name,
            "",
            &one_line(&r.technology),
            d.external,
        );
        let setting = self.setting(svc, &format!("{}_url", d.ident), &d.alias, kind.as_str());
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
        Realization {
            tech: Some(tech),
            assumed: false,
            text: format!(
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
            spec: TestSpec {
                kind: if tech == Tech::Redis {
                    TestKind::Redis
                } else {
                    TestKind::Sql
                },
                module: format!("{}.{}", s.module, dd.module),
                class: dd.class.clone(),
                ..Default::default()
            },
        }
    }
}
