//! The merged view of a model's diagrams ([`Ctx`]) and the small text
//! helpers every pass uses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use schemas::model::v1::{Boundary, Diagram, Element, ElementKind, Model, Shape};

use crate::naming;
use crate::project::Src;
use crate::techmap::{self, Tech};

/// The model's elements and boundaries, merged over its diagrams.
pub(super) struct Ctx<'a> {
    /// Every element once, first drawing wins, with where it was drawn.
    pub(super) elements: Vec<(&'a Element, Src)>,
    /// Alias (synonyms included) -> index in `elements`.
    pub(super) by_alias: BTreeMap<&'a str, usize>,
    /// Boundaries by alias, first drawing wins.
    pub(super) boundaries: BTreeMap<&'a str, (&'a Boundary, Src)>,
    /// Elements of a later diagram that are an element of an earlier one under
    /// another alias (same kind, shape, externality and name): (element, src, canonical alias).
    pub(super) synonyms: Vec<(&'a Element, Src, String)>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(model: &'a Model, source: &str) -> Self {
        let mut elements: Vec<(&'a Element, Src)> = Vec::new();
        let mut by_alias = BTreeMap::new();
        let mut boundaries = BTreeMap::new();
        let mut synonyms = Vec::new();
        // The first element of an earlier diagram per (kind, shape,
        // externality, normalized name): one lookup per element instead of a
        // scan of all earlier ones (quadratic on large models, issue 17).
        type SynonymKey = (ElementKind, Shape, bool, String);
        let mut earlier: HashMap<SynonymKey, usize> = HashMap::new();
        for d in &model.diagrams {
            let file = diagram_file(d, source);
            let first_of_diagram = elements.len();
            for e in &d.elements {
                if by_alias.contains_key(e.alias.as_str()) {
                    continue;
                }
                let src = Src {
                    file: file.clone(),
                    line: e.span.line,
                };
                let name = norm(&e.name);
                let same = if name.is_empty() {
                    None
                } else {
                    earlier.get(&(e.kind, e.shape, e.external, name)).copied()
                };
                if let Some(i) = same {
                    by_alias.insert(e.alias.as_str(), i);
                    synonyms.push((e, src, elements[i].0.alias.to_string()));
                    continue;
                }
                by_alias.insert(e.alias.as_str(), elements.len());
                elements.push((e, src));
            }
            for (i, (o, _)) in elements.iter().enumerate().skip(first_of_diagram) {
                earlier
                    .entry((o.kind, o.shape, o.external, norm(&o.name)))
                    .or_insert(i);
            }
            for b in &d.boundaries {
                boundaries.entry(b.alias.as_str()).or_insert((
                    b,
                    Src {
                        file: file.clone(),
                        line: b.span.line,
                    },
                ));
            }
        }
        Self {
            elements,
            by_alias,
            boundaries,
            synonyms,
        }
    }

    /// Boundary chain from the element's parent outwards.
    pub(super) fn ancestors(&self, parent: Option<&'a str>) -> Vec<&'a Boundary> {
        let mut out = Vec::new();
        let mut cur = parent;
        let mut seen = BTreeSet::new();
        while let Some(p) = cur {
            if !seen.insert(p) {
                break;
            }
            match self.boundaries.get(p) {
                Some((b, _)) => {
                    out.push(*b);
                    cur = b.parent.as_deref();
                }
                None => break,
            }
        }
        out
    }
}

pub(super) fn diagram_file(d: &Diagram, source: &str) -> String {
    if d.file.is_empty() {
        source.to_string()
    } else {
        d.file.clone()
    }
}

/// The technology of the broker element `ctx.elements[i]`: its own
/// technology, else its name (`"Kafka cluster"`), else the first
/// relationship to or from it (in source order) whose technology names a
/// broker; AMQP when none does. A `ContainerQueue(bus, "Event bus",
/// "Message broker")` that every `Rel` calls `"Kafka"` is Kafka.
pub(super) fn broker_tech(model: &Model, ctx: &Ctx<'_>, i: usize) -> Tech {
    let broker =
        |text: &str| techmap::classify(text).filter(|t| matches!(t, Tech::Amqp | Tech::Kafka));
    let (e, _) = ctx.elements[i];
    let touches = |alias: &str| ctx.by_alias.get(alias) == Some(&i);
    broker(&e.technology)
        .or_else(|| broker(&e.name))
        .or_else(|| {
            model
                .diagrams
                .iter()
                .flat_map(|d| &d.relationships)
                .filter(|r| touches(&r.from) || touches(&r.to))
                .find_map(|r| broker(&r.technology))
        })
        .unwrap_or(Tech::Amqp)
}

pub(super) fn norm(s: &str) -> String {
    naming::words(s).join(" ")
}

pub(super) fn one_line(s: &str) -> String {
    s.replace("\\n", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Natural order of dynamic indexes: `"2" < "4-1" < "10"`.
pub(super) fn index_key(index: &str) -> Vec<u64> {
    index
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u64>().unwrap_or(u64::MAX))
        .collect()
}

/// Strips "Container diagram for" style prefixes from a title.
pub(super) fn project_title(model: &Model, source: &str) -> String {
    for d in &model.diagrams {
        if let Some(t) = d.title.as_deref().filter(|t| !naming::words(t).is_empty()) {
            let lower = t.to_ascii_lowercase();
            if let Some(pos) = lower.find(" for ")
                && lower[..pos].contains("diagram")
            {
                return one_line(&t[pos + 5..]);
            }
            return one_line(t);
        }
        if let Some(n) = d.name.as_deref().filter(|t| !naming::words(t).is_empty()) {
            return one_line(n.trim_matches('"'));
        }
    }
    let stem = source.rsplit('/').next().unwrap_or(source);
    let stem = stem.strip_suffix(".puml").unwrap_or(stem);
    let stem = stem.strip_suffix(".json").unwrap_or(stem);
    if naming::words(stem).is_empty() {
        "c4 project".to_string()
    } else {
        one_line(stem)
    }
}
