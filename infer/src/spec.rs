//! The property vocabulary (`docs/SPEC-PROPERTIES.md`): what a diagram says
//! about APIs, data and messages through C4-PlantUML's `AddProperty` rows, read
//! into typed models, routes, tables and messages.
//!
//! A diagram without these rows generates exactly what the labels alone give
//! (see [`crate::verbs`]); with them, the generator uses what was written
//! instead of guessing. A row that starts like the vocabulary but cannot be read
//! is an error at the element's or relationship's place, with a suggestion, never
//! a silent default: a typo in a type would otherwise become a `str` column
//! nobody asked for.
//!
//! Rows are read by their first cell (case-insensitive):
//! - `GET`/`POST`/`PUT`/`PATCH`/`DELETE` + path (`/accounts/{account_id}`): the route;
//! - `request` / `response` + model name (`Account`);
//! - `message` + model name, `routing` + routing key or topic (queue relationships);
//! - `entity Name` + fields: a model stored in a table (on a database or a service);
//! - `model Name` + fields: a model that is only sent (requests, answers, messages).
//!
//! Fields are `name: type` separated by commas; a type ending in `?` is optional.

use std::collections::BTreeMap;

use schemas::model::v1::{Diagnostic, Severity};
use serde::Serialize;

use crate::verbs::HttpMethod;

/// One scalar type of the vocabulary and what it becomes in Python and SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TypeRow {
    /// Names a diagram may write.
    names: &'static [&'static str],
    /// Python annotation.
    py: &'static str,
    /// SQLAlchemy column type expression.
    sql: &'static str,
    /// A valid Python value of the type (used by `example()` in tests and stubs).
    example: &'static str,
}

/// THE type table. Imports the annotations need are in `models.py.j2`.
const TYPES: &[TypeRow] = &[
    TypeRow {
        names: &["str", "string"],
        py: "str",
        sql: "String(255)",
        example: "\"example\"",
    },
    TypeRow {
        names: &["text"],
        py: "str",
        sql: "Text",
        example: "\"example text\"",
    },
    TypeRow {
        names: &["int", "integer"],
        py: "int",
        sql: "Integer",
        example: "1",
    },
    TypeRow {
        names: &["float"],
        py: "float",
        sql: "Float",
        example: "1.5",
    },
    TypeRow {
        names: &["bool", "boolean"],
        py: "bool",
        sql: "Boolean",
        example: "True",
    },
    TypeRow {
        names: &["decimal"],
        py: "Decimal",
        sql: "Numeric(18, 4)",
        example: "Decimal(\"12.50\")",
    },
    TypeRow {
        names: &["date"],
        py: "date",
        sql: "Date",
        example: "date(2024, 1, 2)",
    },
    TypeRow {
        names: &["datetime"],
        py: "datetime",
        sql: "DateTime(timezone=True)",
        example: "datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)",
    },
    TypeRow {
        names: &["uuid"],
        py: "UUID",
        sql: "Uuid",
        example: "UUID(\"00000000-0000-4000-8000-000000000001\")",
    },
    TypeRow {
        names: &["json"],
        py: "dict[str, Any]",
        sql: "JSON",
        example: "{\"key\": \"value\"}",
    },
];

/// Keys of the vocabulary (first cell of a row), for suggestions.
const KEYS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "request", "response", "message", "routing", "entity",
    "model",
];

/// Names a model must not take: what generated modules import next to it.
const RESERVED_MODELS: &[&str] = &[
    "Any",
    "BaseModel",
    "ConfigDict",
    "Field",
    "Decimal",
    "UUID",
    "Request",
    "APIRouter",
    "Depends",
    "Query",
    "Annotated",
    "Dependencies",
    "Settings",
    "Service",
    "Base",
    "Engine",
    "Session",
];

/// Names a path parameter must not take: the other parameters and locals
/// of the generated route, handler and client method.
const RESERVED_PARAMS: &[&str] = &[
    "self", "cls", "request", "body", "query", "deps", "response", "client", "call",
];

/// A field of a model.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldDef {
    /// Python attribute and column name.
    pub name: String,
    /// The type as written (`uuid`, `decimal?`).
    pub written: String,
    /// Python annotation (`UUID`, `Decimal | None`).
    pub py: String,
    /// SQLAlchemy column type expression (`Uuid`, `Numeric(18, 4)`).
    pub sql: String,
    /// The SQLAlchemy name `sql` needs imported (`Numeric`).
    pub sql_name: String,
    /// The Python type name the annotation needs imported (`Decimal`, `str`).
    pub py_name: String,
    /// Whether `None` is allowed.
    pub optional: bool,
    /// A valid Python value.
    pub example: String,
}

/// A model declared with `entity Name` or `model Name`, or only referenced.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ModelDef {
    /// Class name.
    pub name: String,
    /// Fields in the order written (empty for an undeclared model).
    pub fields: Vec<FieldDef>,
    /// Declared with `entity` (stored in a table).
    pub entity: bool,
    /// Only referenced, never declared: an open model that keeps any field.
    pub open: bool,
    /// Alias of the element that declared it (empty when undeclared).
    pub declared_on: String,
    /// Table name (entities).
    pub table: String,
    /// The first field, used as the primary key (entities).
    pub key: String,
}

/// A path or query parameter of a route.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Param {
    /// Python name (also the `{name}` in the path).
    pub name: String,
    /// Python annotation.
    pub py: String,
    /// A valid value (contract tests).
    pub example: String,
}

/// A model reference (`Account`): declared by `entity`/`model` rows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ModelRef {
    /// Model name.
    pub name: String,
}

/// What the rows of one relationship say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelSpec {
    /// Method and path (`GET`, `/accounts/{account_id}`).
    pub route: Option<(HttpMethod, String)>,
    /// Request model (the body of writes, the query of reads).
    pub request: Option<ModelRef>,
    /// Response model.
    pub response: Option<ModelRef>,
    /// Message model (queues).
    pub message: Option<ModelRef>,
    /// Routing key (AMQP) or topic (Kafka).
    pub routing: Option<String>,
}

impl RelSpec {
    /// True when no row of the vocabulary was given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A place in the diagrams and the rows found there.
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    /// Diagram file.
    pub file: &'a str,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// `AddProperty` rows (the header, when one is set, first).
    pub rows: &'a [Vec<String>],
}

/// Collects diagnostics while reading rows.
#[derive(Debug, Default)]
pub struct Reader {
    /// Errors and warnings, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// Declared and referenced models by name.
    pub models: BTreeMap<String, ModelDef>,
    /// Where each model was declared or first referenced: (file, line, column).
    places: BTreeMap<String, (String, u32, u32)>,
}

fn diag(at: &Rows<'_>, severity: Severity, message: String) -> Diagnostic {
    Diagnostic {
        severity,
        message,
        file: at.file.to_string(),
        line: at.line,
        column: at.column,
        bytes: None,
    }
}

/// Edit distance with transpositions (`GTE` is one edit from `GET`); short
/// strings only: keys, types, names.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate within a typo's distance, if any.
fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let w = word.to_lowercase();
    let limit = if w.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (distance(&w, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn did_you_mean(s: Option<&str>) -> String {
    s.map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

fn method_of(key: &str) -> Option<HttpMethod> {
    match key.to_ascii_uppercase().as_str() {
        "GET" => Some(HttpMethod::Get),
        "POST" => Some(HttpMethod::Post),
        "PUT" => Some(HttpMethod::Put),
        "PATCH" => Some(HttpMethod::Patch),
        "DELETE" => Some(HttpMethod::Delete),
        _ => None,
    }
}

/// Python's keywords: a parameter or field must not be one.
const PY_KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Field names pydantic's `BaseModel` (or the generated `example()`) uses.
const MODEL_ATTRIBUTES: &[&str] = &[
    "copy",
    "dict",
    "json",
    "schema",
    "schema_json",
    "construct",
    "validate",
    "example",
    "parse_obj",
    "parse_raw",
    "from_orm",
    "fields",
    "metadata",
    "registry",
];

fn is_snake_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !PY_KEYWORDS.contains(&s)
}

fn is_pascal_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Parameters named in a path (`/accounts/{account_id}` -> `account_id`),
/// or why the path cannot be a route.
pub fn path_params(path: &str) -> Result<Vec<String>, String> {
    if !path.starts_with('/') {
        return Err(format!("the path `{path}` must start with `/`"));
    }
    let mut out = Vec::new();
    for segment in path.split('/').skip(1) {
        if let Some(inner) = segment.strip_prefix('{') {
            let Some(name) = inner.strip_suffix('}') else {
                return Err(format!(
                    "the path segment `{segment}` opens `{{` without closing it"
                ));
            };
            if !is_snake_ident(name) {
                return Err(format!(
                    "the path parameter `{{{name}}}` must be a lowercase Python name; did you mean `{{{}}}`?",
                    crate::naming::snake(name, "id")
                ));
            }
            if out.iter().any(|n| n == name) {
                return Err(format!("the path parameter `{{{name}}}` appears twice"));
            }
            if RESERVED_PARAMS.contains(&name) {
                return Err(format!(
                    "the path parameter `{{{name}}}` is a name the generated route and client use; did you mean `{{{name}_id}}`?"
                ));
            }
            out.push(name.to_string());
        } else if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        {
            return Err(format!(
                "the path segment `{segment}` may hold only letters, digits, `-`, `_`, `.` and `~`, or be a `{{parameter}}`"
            ));
        }
    }
    Ok(out)
}

impl Reader {
    /// Reads a model reference cell (`Account`).
    fn model_ref(&mut self, at: &Rows<'_>, key: &str, value: &str) -> Option<ModelRef> {
        let name = value.trim();
        if !is_pascal_ident(name) || RESERVED_MODELS.contains(&name) {
            let hint = crate::naming::pascal(name, "Model");
            self.diagnostics.push(diag(
                at,
                Severity::Error,
                format!(
                    "property `{key}`: `{value}` is not a model name (a PascalCase name{}); did you mean `{hint}`?",
                    if RESERVED_MODELS.contains(&name) { ", not one of the names generated code imports" } else { "" }
                ),
            ));
            return None;
        }
        self.places
            .entry(name.to_string())
            .or_insert_with(|| (at.file.to_string(), at.line, at.column));
        Some(ModelRef {
            name: name.to_string(),
        })
    }

    /// Reads `name: type, ...` into fields.
    fn fields(&mut self, at: &Rows<'_>, model: &str, value: &str) -> Option<Vec<FieldDef>> {
        let mut out: Vec<FieldDef> = Vec::new();
        let mut ok = true;
        for part in value.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let Some((name, ty)) = part.split_once(':') else {
                self.diagnostics.push(diag(
                    at,
                    Severity::Error,
                    format!("model `{model}`: the field `{part}` needs a type, written `name: type` (types: {})", type_names()),
                ));
                ok = false;
                continue;
            };
            let (name, ty) = (name.trim(), ty.trim());
            if !is_snake_ident(name) {
                self.diagnostics.push(diag(
                    at,
                    Severity::Error,
                    format!(
                        "model `{model}`: the field name `{name}` must be a lowercase Python name; did you mean `{}`?",
                        crate::naming::snake(name, "field")
                    ),
                ));
                ok = false;
                continue;
            }
            if out.iter().any(|f| f.name == name) {
                self.diagnostics.push(diag(
                    at,
                    Severity::Error,
                    format!("model `{model}`: the field `{name}` is declared twice"),
                ));
                ok = false;
                continue;
            }
            if MODEL_ATTRIBUTES.contains(&name) || name.starts_with("model_") {
                self.diagnostics.push(diag(
                    at,
                    Severity::Error,
                    format!(
                        "model `{model}`: the field name `{name}` is taken by the generated model class; did you mean `{name}_value`?"
                    ),
                ));
                ok = false;
                continue;
            }
            let (base, optional) = match ty.strip_suffix('?') {
                Some(b) => (b.trim(), true),
                None => (ty, false),
            };
            let lower = base.to_lowercase();
            let Some(row) = TYPES.iter().find(|r| r.names.contains(&lower.as_str())) else {
                let hint = closest(&lower, TYPES.iter().flat_map(|r| r.names.iter().copied()));
                self.diagnostics.push(diag(
                    at,
                    Severity::Error,
                    format!(
                        "model `{model}`: the field `{name}` has the unknown type `{ty}`{} (types: {})",
                        did_you_mean(hint),
                        type_names()
                    ),
                ));
                ok = false;
                continue;
            };
            out.push(FieldDef {
                name: name.to_string(),
                written: ty.to_string(),
                py: if optional {
                    format!("{} | None", row.py)
                } else {
                    row.py.to_string()
                },
                sql: row.sql.to_string(),
                sql_name: row.sql.split('(').next().unwrap_or(row.sql).to_string(),
                py_name: row.py.to_string(),
                optional,
                example: row.example.to_string(),
            });
        }
        if out.is_empty() && ok {
            self.diagnostics.push(diag(
                at,
                Severity::Error,
                format!("model `{model}` has no fields: write them as `name: type, name: type`"),
            ));
            return None;
        }
        ok.then_some(out)
    }

    /// Declares `entity Name` / `model Name` from an element's or relationship's row.
    fn declare(&mut self, at: &Rows<'_>, alias: &str, entity: bool, name: &str, value: &str) {
        let kw = if entity { "entity" } else { "model" };
        if !is_pascal_ident(name) || RESERVED_MODELS.contains(&name) {
            self.diagnostics.push(diag(
                at,
                Severity::Error,
                format!(
                    "`{kw} {name}`: a model name is a PascalCase name not used by generated code; did you mean `{kw} {}`?",
                    crate::naming::pascal(name, "Model")
                ),
            ));
            return;
        }
        let Some(fields) = self.fields(at, name, value) else {
            return;
        };
        if let Some(prev) = self.models.get(name)
            && !prev.open
        {
            if prev.fields != fields || prev.entity != entity {
                self.diagnostics.push(diag(
                    at,
                    Severity::Error,
                    format!(
                        "model `{name}` is declared twice with different fields (first on `{}`); declare it once",
                        prev.declared_on
                    ),
                ));
            }
            return;
        }
        let key = fields.first().map(|f| f.name.clone()).unwrap_or_default();
        self.places
            .insert(name.to_string(), (at.file.to_string(), at.line, at.column));
        self.models.insert(
            name.to_string(),
            ModelDef {
                name: name.to_string(),
                fields,
                entity,
                open: false,
                declared_on: alias.to_string(),
                table: crate::naming::snake(name, "record"),
                key,
            },
        );
    }

    /// Reads the rows of an element: its `entity`/`model` declarations.
    /// Returns the names of the entities it declares.
    pub fn element(&mut self, alias: &str, at: &Rows<'_>) -> Vec<String> {
        let mut entities = Vec::new();
        let vocab = uses_vocabulary(at.rows);
        for (i, row) in at.rows.iter().enumerate() {
            let (key, value) = cells(row);
            let mut words = key.split_whitespace();
            let first = words.next().unwrap_or("").to_lowercase();
            let name = words.collect::<Vec<_>>().join(" ");
            match first.as_str() {
                "entity" | "model" if !name.is_empty() => {
                    let entity = first == "entity";
                    self.declare(at, alias, entity, &name, value);
                    if entity && self.models.get(&name).is_some_and(|m| m.entity) {
                        entities.push(name);
                    }
                }
                "entity" | "model" => self.diagnostics.push(diag(
                    at,
                    Severity::Error,
                    format!("`{key}` needs a model name: `{first} Name`"),
                )),
                _ => self.unknown(at, i, vocab, key, &["entity", "model"]),
            }
        }
        entities
    }

    /// Reads the rows of a relationship.
    pub fn relationship(&mut self, alias: &str, at: &Rows<'_>) -> RelSpec {
        let mut spec = RelSpec::default();
        let vocab = uses_vocabulary(at.rows);
        for (i, row) in at.rows.iter().enumerate() {
            let (key, value) = cells(row);
            let lower = key.to_lowercase();
            if let Some(m) = method_of(key) {
                match path_params(value.trim()) {
                    Ok(_) if spec.route.is_some() => self.diagnostics.push(diag(
                        at,
                        Severity::Error,
                        format!("a relationship has one route; `{key} {value}` is a second one"),
                    )),
                    Ok(_) => spec.route = Some((m, value.trim().to_string())),
                    Err(why) => self.diagnostics.push(diag(
                        at,
                        Severity::Error,
                        format!("property `{key}`: {why}"),
                    )),
                }
                continue;
            }
            match lower.as_str() {
                "request" => spec.request = self.model_ref(at, key, value),
                "response" => spec.response = self.model_ref(at, key, value),
                "message" => spec.message = self.model_ref(at, key, value),
                "routing" => {
                    let v = value.trim();
                    if !v.is_empty()
                        && v.chars().all(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*' | '#')
                        })
                    {
                        spec.routing = Some(v.to_string());
                    } else {
                        self.diagnostics.push(diag(
                            at,
                            Severity::Error,
                            format!("property `routing`: `{v}` is not a routing key or topic (letters, digits, `.`, `_`, `-`, `*`, `#`)"),
                        ));
                    }
                }
                _ => {
                    let mut words = key.split_whitespace();
                    let first = words.next().unwrap_or("").to_lowercase();
                    let name = words.collect::<Vec<_>>().join(" ");
                    if matches!(first.as_str(), "entity" | "model") && !name.is_empty() {
                        self.declare(at, alias, first == "entity", &name, value);
                    } else {
                        self.unknown(at, i, vocab, key, KEYS);
                    }
                }
            }
        }
        spec
    }

    /// A row whose key is not in the vocabulary: an error when it looks
    /// like a typo of a key or sits in a table that uses the vocabulary
    /// (except the first row, which is the table's header when one is set);
    /// otherwise a documentation row, left to the picture.
    fn unknown(&mut self, at: &Rows<'_>, i: usize, vocab: bool, key: &str, keys: &[&str]) {
        let first = key.split_whitespace().next().unwrap_or("");
        let hint = closest(first, keys.iter().copied());
        if hint.is_some() || (vocab && i > 0) {
            self.diagnostics.push(diag(
                at,
                Severity::Error,
                format!(
                    "unknown property `{key}`{} (the vocabulary: {}; see docs/SPEC-PROPERTIES.md)",
                    did_you_mean(hint),
                    keys.join(", ")
                ),
            ));
        }
    }

    /// After every row: models referenced but never declared become open
    /// models with a warning, or an error when the name is a typo of a
    /// declared one.
    pub fn finish(&mut self) {
        let declared: Vec<String> = self.models.keys().cloned().collect();
        let referenced: Vec<(String, (String, u32, u32))> = self
            .places
            .iter()
            .filter(|(n, _)| !self.models.contains_key(*n))
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect();
        for (name, (file, line, column)) in referenced {
            let hint = closest(&name, declared.iter().map(String::as_str));
            let (severity, message) = match hint {
                Some(h) => (
                    Severity::Error,
                    format!("model `{name}` is not declared; did you mean `{h}`?"),
                ),
                None => (
                    Severity::Warning,
                    format!(
                        "model `{name}` is not declared (add `AddProperty(\"model {name}\", \"field: type, ...\")`); it is generated as an open model without fields"
                    ),
                ),
            };
            self.diagnostics.push(Diagnostic {
                severity,
                message,
                file,
                line,
                column,
                bytes: None,
            });
            self.models.insert(
                name.clone(),
                ModelDef {
                    name: name.clone(),
                    fields: Vec::new(),
                    entity: false,
                    open: true,
                    declared_on: String::new(),
                    table: crate::naming::snake(&name, "record"),
                    key: String::new(),
                },
            );
        }
    }

    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

fn type_names() -> String {
    TYPES
        .iter()
        .map(|r| r.names[0])
        .collect::<Vec<_>>()
        .join(", ")
}

/// Key and value of a row (first two cells, trimmed).
fn cells(row: &[String]) -> (&str, &str) {
    (
        row.first().map(|s| s.trim()).unwrap_or(""),
        row.get(1).map(|s| s.trim()).unwrap_or(""),
    )
}

/// Whether any row of a table is a vocabulary row.
fn uses_vocabulary(rows: &[Vec<String>]) -> bool {
    rows.iter().any(|r| {
        let (key, _) = cells(r);
        let first = key.split_whitespace().next().unwrap_or("").to_lowercase();
        method_of(key).is_some()
            || matches!(
                first.as_str(),
                "request" | "response" | "message" | "routing"
            )
            || (matches!(first.as_str(), "entity" | "model") && key.split_whitespace().count() > 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rows: &[Vec<String>]) -> Rows<'_> {
        Rows {
            file: "d.puml",
            line: 7,
            column: 3,
            rows,
        }
    }

    fn rows(r: &[(&str, &str)]) -> Vec<Vec<String>> {
        r.iter()
            .map(|(a, b)| vec![a.to_string(), b.to_string()])
            .collect()
    }

    #[test]
    fn the_issue_forms_are_read_as_written() {
        let mut r = Reader::default();
        let e = rows(&[
            ("Property", "Value"),
            (
                "entity Account",
                "id: uuid, owner: str, balance: decimal, opened: date",
            ),
        ]);
        assert_eq!(r.element("db", &at(&e)), vec!["Account".to_string()]);
        let rel = rows(&[
            ("GET", "/accounts/{account_id}"),
            ("request", "AccountQuery"),
            ("response", "Account"),
        ]);
        let s = r.relationship("a->b", &at(&rel));
        assert_eq!(
            s.route,
            Some((HttpMethod::Get, "/accounts/{account_id}".into()))
        );
        assert_eq!(
            s.request.as_ref().map(|r| r.name.as_str()),
            Some("AccountQuery")
        );
        let q = rows(&[("message", "PaymentMade"), ("routing", "payments.made")]);
        let s = r.relationship("a->q", &at(&q));
        assert_eq!(s.routing.as_deref(), Some("payments.made"));
        r.finish();
        let a = &r.models["Account"];
        let f: Vec<(&str, &str, &str)> = a
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.py.as_str(), f.sql.as_str()))
            .collect();
        assert_eq!(
            f,
            [
                ("id", "UUID", "Uuid"),
                ("owner", "str", "String(255)"),
                ("balance", "Decimal", "Numeric(18, 4)"),
                ("opened", "date", "Date")
            ]
        );
        assert!(a.entity);
        // Undeclared names are open models with a warning, not errors.
        assert!(r.models["AccountQuery"].open);
        assert!(!r.has_errors(), "{:?}", r.diagnostics);
        assert_eq!(r.diagnostics.len(), 2);
    }

    #[test]
    fn unreadable_rows_are_errors_with_place_and_suggestion() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("GTE", "/a")], "did you mean `GET`?"),
            (&[("respons", "Account")], "did you mean `response`?"),
            (&[("GET", "accounts")], "must start with `/`"),
            (
                &[("GET", "/a/{Account Id}")],
                "did you mean `{account_id}`?",
            ),
            (&[("response", "account")], "did you mean `Account`?"),
            (
                &[("model X", "id: uuid, n: integr")],
                "did you mean `integer`?",
            ),
            (&[("model X", "id uuid")], "needs a type"),
            (&[("routing", "a b")], "not a routing key"),
            (
                &[("GET", "/a"), ("Colour", "red")],
                "unknown property `Colour`",
            ),
        ];
        for (input, expected) in cases {
            let mut r = Reader::default();
            let t = rows(input);
            r.relationship("x", &at(&t));
            let e = r
                .diagnostics
                .iter()
                .find(|d| d.severity == Severity::Error)
                .unwrap_or_else(|| panic!("{input:?}: no error"));
            assert!(e.message.contains(expected), "{input:?}: {}", e.message);
            assert_eq!((e.file.as_str(), e.line, e.column), ("d.puml", 7, 3));
        }
    }

    #[test]
    fn documentation_tables_are_left_alone() {
        let mut r = Reader::default();
        let t = rows(&[
            ("Location", "London"),
            ("Java Version", "8"),
            ("Xmx", "512M"),
        ]);
        assert!(r.element("node", &at(&t)).is_empty());
        assert!(r.relationship("x", &at(&t)).is_empty());
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    }

    #[test]
    fn a_typo_of_a_declared_model_is_an_error() {
        let mut r = Reader::default();
        r.element("db", &at(&rows(&[("entity Account", "id: uuid")])));
        r.relationship("x", &at(&rows(&[("response", "Acount")])));
        r.finish();
        assert!(r.has_errors());
        assert!(r.diagnostics[0].message.contains("did you mean `Account`?"));
    }
}
