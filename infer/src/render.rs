//! The template engine: minijinja with the built-in templates compiled into
//! the binary (`include_str!`), optionally overlaid by a directory whose files
//! replace built-in templates of the same relative name.
//!
//! Filters for safe output in every target language:
//! `py` (a Python/JSON/YAML/TOML double-quoted string literal), `pystr` (a
//! Python string literal quoted the way `ruff format` writes it), `doc` (text
//! inside a Python docstring), `comment` (one line of a `#` comment), `md`
//! (one Markdown table cell), `code` (a code span in a table cell).
//!
//! Functions that write Python the way `ruff format` leaves it, whatever the
//! length of the names in it (generated projects are checked with
//! `ruff format --check`): `from_import(module, names, indent)` (an import,
//! also ordered the way ruff's isort wants it), `wrap(open, items, close,
//! indent)` (a bracketed list: call arguments, parameters, list items),
//! `assign(left, right, indent, op)` (an assignment, annotation or return of
//! one atom), `assign_call(target, callee, args, indent, op)` (an assignment
//! or return of a call) and `fits(line)`. There is no ruff formatter to call
//! in-process, so each makes the layout decision ruff makes for its shape:
//! one line when that fits [`LINE_LENGTH`], else the split ruff chooses;
//! bracketed lists split one item per line with a trailing comma, which ruff
//! keeps split (its "magic trailing comma").
//!
//! Template context: `p` (the [`crate::project::Project`]), and per file `s`
//! (service), `c` (component or consumer), `d` (dependency), `settings`,
//! `imports`, `kinds`, `techs` and `header` (the do-not-edit header naming the
//! diagram file and line). An overlay template may use any of them.

use std::borrow::Cow;
use std::path::Path;
use std::sync::LazyLock;

use minijinja::{Environment, syntax::SyntaxConfig};
use unicode_width::UnicodeWidthStr;

use crate::GenerateError;

/// The built-in templates: (name, source).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "pyproject.toml.j2",
        include_str!("templates/python-fastapi/pyproject.toml.j2"),
    ),
    (
        "README.md.j2",
        include_str!("templates/python-fastapi/README.md.j2"),
    ),
    (
        "docker-compose.yml.j2",
        include_str!("templates/python-fastapi/docker-compose.yml.j2"),
    ),
    (
        "Dockerfile.j2",
        include_str!("templates/python-fastapi/Dockerfile.j2"),
    ),
    (
        "env.example.j2",
        include_str!("templates/python-fastapi/env.example.j2"),
    ),
    (
        "gitignore.j2",
        include_str!("templates/python-fastapi/gitignore.j2"),
    ),
    (
        "package_init.py.j2",
        include_str!("templates/python-fastapi/package_init.py.j2"),
    ),
    (
        "testing.py.j2",
        include_str!("templates/python-fastapi/testing.py.j2"),
    ),
    (
        "models.py.j2",
        include_str!("templates/python-fastapi/models.py.j2"),
    ),
    (
        "tests/test_system.py.j2",
        include_str!("templates/python-fastapi/tests/test_system.py.j2"),
    ),
    (
        "tests/system_plan.json.j2",
        include_str!("templates/python-fastapi/tests/system_plan.json.j2"),
    ),
    (
        "service/settings.py.j2",
        include_str!("templates/python-fastapi/service/settings.py.j2"),
    ),
    (
        "service/schemas.py.j2",
        include_str!("templates/python-fastapi/service/schemas.py.j2"),
    ),
    (
        "service/service_base.py.j2",
        include_str!("templates/python-fastapi/service/service_base.py.j2"),
    ),
    (
        "service/impl_service.py.j2",
        include_str!("templates/python-fastapi/service/impl_service.py.j2"),
    ),
    (
        "service/handler.py.j2",
        include_str!("templates/python-fastapi/service/handler.py.j2"),
    ),
    (
        "service/component.py.j2",
        include_str!("templates/python-fastapi/service/component.py.j2"),
    ),
    (
        "service/impl_component.py.j2",
        include_str!("templates/python-fastapi/service/impl_component.py.j2"),
    ),
    (
        "service/dependencies.py.j2",
        include_str!("templates/python-fastapi/service/dependencies.py.j2"),
    ),
    (
        "service/routes.py.j2",
        include_str!("templates/python-fastapi/service/routes.py.j2"),
    ),
    (
        "service/app.py.j2",
        include_str!("templates/python-fastapi/service/app.py.j2"),
    ),
    (
        "service/main.py.j2",
        include_str!("templates/python-fastapi/service/main.py.j2"),
    ),
    (
        "service/http_client.py.j2",
        include_str!("templates/python-fastapi/service/http_client.py.j2"),
    ),
    (
        "service/grpc_client.py.j2",
        include_str!("templates/python-fastapi/service/grpc_client.py.j2"),
    ),
    (
        "grpc/grpc_wire.py.j2",
        include_str!("templates/python-fastapi/grpc/grpc_wire.py.j2"),
    ),
    (
        "grpc/grpc_server.py.j2",
        include_str!("templates/python-fastapi/grpc/grpc_server.py.j2"),
    ),
    (
        "grpc/service.proto.j2",
        include_str!("templates/python-fastapi/grpc/service.proto.j2"),
    ),
    (
        "service/gateway.py.j2",
        include_str!("templates/python-fastapi/service/gateway.py.j2"),
    ),
    (
        "service/sql_repository.py.j2",
        include_str!("templates/python-fastapi/service/sql_repository.py.j2"),
    ),
    (
        "service/redis_cache.py.j2",
        include_str!("templates/python-fastapi/service/redis_cache.py.j2"),
    ),
    (
        "service/amqp_producer.py.j2",
        include_str!("templates/python-fastapi/service/amqp_producer.py.j2"),
    ),
    (
        "service/amqp_consumer.py.j2",
        include_str!("templates/python-fastapi/service/amqp_consumer.py.j2"),
    ),
    (
        "service/kafka_producer.py.j2",
        include_str!("templates/python-fastapi/service/kafka_producer.py.j2"),
    ),
    (
        "service/kafka_consumer.py.j2",
        include_str!("templates/python-fastapi/service/kafka_consumer.py.j2"),
    ),
    (
        "tests/conftest.py.j2",
        include_str!("templates/python-fastapi/tests/conftest.py.j2"),
    ),
    (
        "tests/test_service.py.j2",
        include_str!("templates/python-fastapi/tests/test_service.py.j2"),
    ),
    (
        "tests/test_relationships.py.j2",
        include_str!("templates/python-fastapi/tests/test_relationships.py.j2"),
    ),
    (
        "tests/test_flows.py.j2",
        include_str!("templates/python-fastapi/tests/test_flows.py.j2"),
    ),
    (
        "tests/test_traceability.py.j2",
        include_str!("templates/python-fastapi/tests/test_traceability.py.j2"),
    ),
];

/// A configured template environment: the process-wide built-in one, or a
/// copy of it with overlay templates replacing built-in ones.
pub struct Renderer {
    env: Cow<'static, Environment<'static>>,
}

/// The built-in environment, compiled once per process: parsing the ~30
/// templates was about 7% of a job's time when it happened on every
/// generation (issue 10 profile). The error (a bug in a built-in template,
/// caught by every test) is kept as text so each call can report it.
static BUILTIN_ENV: LazyLock<Result<Environment<'static>, (String, String)>> =
    LazyLock::new(|| {
        builtin_environment().map_err(|e| match e {
            GenerateError::Template { template, message } => (template, message),
            other => ("<builtin>".to_string(), other.to_string()),
        })
    });

fn builtin_environment() -> Result<Environment<'static>, GenerateError> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| template_error("<syntax>", &e))?;
    env.set_syntax(syntax);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("py", py);
    env.add_filter("pystr", pystr);
    env.add_filter("doc", doc);
    env.add_filter("comment", comment);
    env.add_filter("md", md);
    env.add_filter("code", code);
    env.add_function("from_import", from_import);
    env.add_function("wrap", wrap);
    env.add_function("assign", assign);
    env.add_function("assign_call", assign_call);
    env.add_function("fits", fits);
    for (name, text) in BUILTIN.iter().chain(crate::deploy::TEMPLATES) {
        env.add_template(name, text)
            .map_err(|e| template_error(name, &e))?;
    }
    Ok(env)
}

fn template_error(template: &str, e: &minijinja::Error) -> GenerateError {
    let mut message = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        message.push_str(&format!(": {s}"));
        src = s.source();
    }
    GenerateError::Template {
        template: template.to_string(),
        message,
    }
}

/// `py`: a double-quoted string literal valid in Python, JSON, YAML and TOML.
fn py(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_string())
}

/// `pystr`: a Python string literal as `ruff format` quotes it: like `py`
/// (double quotes), but in single quotes when the text holds more double
/// than single quotes.
fn pystr(value: &str) -> String {
    let double = py(value);
    if value.matches('"').count() <= value.matches('\'').count() {
        return double;
    }
    // Re-quote `py`'s literal: `\"` loses its backslash, `'` gains one.
    let inner = &double[1..double.len() - 1];
    let mut out = String::with_capacity(double.len() + 2);
    out.push('\'');
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('"') => out.push('"'),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `doc`: text safe inside a `"""` docstring on any line, on one line with
/// single spaces (`ruff format` would re-indent the lines of a multi-line
/// text and strip the blanks at its ends).
fn doc(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// `comment`: one line of a `#` comment, without trailing blanks.
pub(crate) fn comment(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// `md`: one Markdown table cell (no pipes, no newlines, no HTML).
fn md(value: &str) -> String {
    comment(value)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
}

/// `code`: text inside a Markdown code span in a table cell.
fn code(value: &str) -> String {
    comment(value).replace('|', "\\|").replace('`', "'")
}

/// `from_import(module, names, indent="")`: one `from module import names`
/// statement formatted the way ruff's isort does (names ordered constants,
/// classes, then the rest; wrapped one name per line with a trailing comma
/// when longer than 88 characters), so generated code passes `ruff check`
/// with the `I` rules.
fn from_import(module: &str, names: Vec<String>, indent: Option<String>) -> String {
    let indent = indent.unwrap_or_default();
    let mut names = names;
    names.sort_by_key(|n| {
        let base = n.split(" as ").next().unwrap_or(n).to_string();
        let rank = if base.len() > 1 && base.chars().all(|c| !c.is_ascii_lowercase()) {
            0
        } else if base.starts_with(|c: char| c.is_ascii_uppercase()) {
            1
        } else {
            2
        };
        (rank, base.to_ascii_lowercase(), base)
    });
    names.dedup();
    let one = format!("{indent}from {module} import {}", names.join(", "));
    if fits(&one) {
        return one;
    }
    let mut out = format!("{indent}from {module} import (\n");
    for n in &names {
        out.push_str(&format!("{indent}    {n},\n"));
    }
    out.push_str(&format!("{indent})"));
    out
}

/// The line length of the generated Python: ruff's default, which the
/// generated `pyproject.toml` keeps.
pub const LINE_LENGTH: usize = 88;

/// `fits(line)`: true when `line` is one line no wider than
/// [`LINE_LENGTH`], measured as ruff does (display width: an East Asian wide
/// character counts two).
fn fits(line: &str) -> bool {
    !line.contains('\n') && line.width() <= LINE_LENGTH
}

/// `open` + items + `close` split one item per line, each with a trailing comma.
fn exploded(indent: &str, open: &str, items: &[String], close: &str) -> String {
    let mut out = format!("{indent}{open}\n");
    for item in items {
        out.push_str(&format!("{indent}    {item},\n"));
    }
    out.push_str(&format!("{indent}{close}"));
    out
}

/// One line if it fits, else [`exploded`].
fn wrapped(indent: &str, open: &str, items: &[String], close: &str) -> String {
    let flat = format!("{indent}{open}{}{close}", items.join(", "));
    if items.is_empty() || fits(&flat) {
        flat
    } else {
        exploded(indent, open, items, close)
    }
}

/// `wrap(open, items, close, indent="")`: `open` (ending in a bracket), the
/// items separated by `, `, then `close` (starting with the closing
/// bracket), as `ruff format` leaves it: on one line when that fits, else
/// one item per line with a trailing comma, which ruff keeps split. Items
/// must not need splitting themselves (names, attributes, strings,
/// `key=value` of those).
///
/// `wrap("def f(", ["self", "x: int"], ") -> None:", "    ")` is
/// `    def f(self, x: int) -> None:`.
fn wrap(open: &str, items: Vec<String>, close: &str, indent: Option<String>) -> String {
    wrapped(&indent.unwrap_or_default(), open, &items, close)
}

/// `assign(left, right, indent="", op=" = ")`: `left = right`, or with
/// `op=": "` an annotation `left: right`, or with `left="return", op=" "` a
/// `return right`, where `right` is one atom (a name,
/// an attribute, a string, a call without arguments). Like `ruff format`: on
/// one line when it fits, else `right` in parentheses on a line of its own
/// when that fits, else on one line all the same.
fn assign(left: &str, right: &str, indent: Option<String>, op: Option<String>) -> String {
    let indent = indent.unwrap_or_default();
    let op = op.unwrap_or_else(|| " = ".to_string());
    assign_atom(&indent, left, right, &op)
}

fn assign_atom(indent: &str, left: &str, right: &str, op: &str) -> String {
    let flat = format!("{indent}{left}{op}{right}");
    let head = format!("{indent}{left}{op}(");
    let body = format!("{indent}    {right}");
    if fits(&flat) || !fits(&head) || !fits(&body) {
        flat
    } else {
        format!("{head}\n{body}\n{indent})")
    }
}

/// `assign_call(target, callee, args, indent="", op=" = ")`:
/// `target = callee(args)`, or with `target="return", op=" "` a
/// `return callee(args)`, as `ruff format` lays it out: on one line when it
/// fits; else split after the call's opening parenthesis when
/// `target = callee(` fits; else the call in parentheses on lines of its own
/// when all of them fit; else split after the opening parenthesis all the
/// same. Without arguments the call is one atom ([`assign`]).
fn assign_call(
    target: &str,
    callee: &str,
    args: Vec<String>,
    indent: Option<String>,
    op: Option<String>,
) -> String {
    let indent = indent.unwrap_or_default();
    let op = op.unwrap_or_else(|| " = ".to_string());
    if args.is_empty() {
        return assign_atom(&indent, target, &format!("{callee}()"), &op);
    }
    let open = format!("{target}{op}{callee}(");
    let flat = format!("{indent}{open}{})", args.join(", "));
    if fits(&flat) {
        return flat;
    }
    if fits(&format!("{indent}{open}")) {
        return exploded(&indent, &open, &args, ")");
    }
    let head = format!("{indent}{target}{op}(");
    let inner = wrapped(&format!("{indent}    "), &format!("{callee}("), &args, ")");
    if fits(&head) && inner.lines().all(fits) {
        format!("{head}\n{inner}\n{indent})")
    } else {
        exploded(&indent, &open, &args, ")")
    }
}

/// A byte buffer that refuses to grow past a budget: the write that would
/// cross it fails, so a renderer or serializer writing into it stops there.
pub(crate) struct Capped {
    buf: Vec<u8>,
    max: usize,
    over: bool,
}

impl Capped {
    /// An empty buffer of at most `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            over: false,
        }
    }

    /// True when a write was refused.
    pub(crate) fn over(&self) -> bool {
        self.over
    }

    /// The bytes written, as text.
    pub(crate) fn into_string(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.buf)
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            self.over = true;
            return Err(std::io::Error::other("output budget exceeded"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Renderer {
    /// The built-in templates, with those in `overlay` replacing built-in
    /// ones of the same name.
    ///
    /// Without an overlay this borrows the environment compiled once per
    /// process. With one, it clones that environment (cheap: compiled
    /// templates are shared) and compiles only the overlay's files; the
    /// directory is read on every call, so edits to it apply to the next
    /// generation without a restart.
    pub fn new(overlay: Option<&Path>) -> Result<Self, GenerateError> {
        let base = match &*BUILTIN_ENV {
            Ok(env) => env,
            Err((template, message)) => {
                return Err(GenerateError::Template {
                    template: template.clone(),
                    message: message.clone(),
                });
            }
        };
        let Some(dir) = overlay else {
            return Ok(Self {
                env: Cow::Borrowed(base),
            });
        };
        if !dir.is_dir() {
            return Err(GenerateError::Overlay {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            });
        }
        let mut env = base.clone();
        for (name, _) in BUILTIN.iter().chain(crate::deploy::TEMPLATES) {
            let path = dir.join(name);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(GenerateError::Overlay { path, source }),
            };
            env.add_template_owned(name.to_string(), text)
                .map_err(|e| template_error(name, &e))?;
        }
        Ok(Self {
            env: Cow::Owned(env),
        })
    }

    /// Renders template `name` with `ctx`, or `None` as soon as the output
    /// grows past `max_bytes` (the rest of the template is not rendered).
    pub fn render_within(
        &self,
        name: &str,
        ctx: minijinja::Value,
        max_bytes: usize,
    ) -> Result<Option<String>, GenerateError> {
        let t = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, &e))?;
        let mut out = Capped::new(max_bytes);
        let rendered = t.render_captured_to(ctx, &mut out).map(|_| ());
        if out.over() {
            return Ok(None);
        }
        rendered.map_err(|e| template_error(name, &e))?;
        out.into_string()
            .map(Some)
            .map_err(|e| GenerateError::Template {
                template: name.to_string(),
                message: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_escape() {
        assert_eq!(py("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(
            doc("say \"\"\"hi\"\"\" \\"),
            "say \\\"\\\"\\\"hi\\\"\\\"\\\" \\\\"
        );
        assert_eq!(md("a|b\nc"), "a\\|b c");
        assert_eq!(
            from_import("m", vec!["b".into(), "A".into(), "C_D".into()], None),
            "from m import C_D, A, b"
        );
        let long = from_import(&"x".repeat(80), vec!["Name".into()], Some("    ".into()));
        assert_eq!(
            long,
            format!("    from {} import (\n        Name,\n    )", "x".repeat(80))
        );
    }

    #[test]
    fn python_strings_and_docstrings_as_ruff_writes_them() {
        assert_eq!(pystr("it's"), "\"it's\"");
        assert_eq!(pystr("a \"b\""), "'a \"b\"'");
        assert_eq!(
            pystr("Zoë's \"quoted\" \\ name\n"),
            "'Zoë\\'s \"quoted\" \\\\ name\\n'"
        );
        assert_eq!(
            doc("  two\nlines\t and  blanks \u{3000}"),
            "two lines and blanks"
        );
        assert_eq!(comment("text \t\n"), "text");
    }

    #[test]
    fn widths_count_like_ruff() {
        assert!(fits(&"x".repeat(LINE_LENGTH)));
        assert!(!fits(&"x".repeat(LINE_LENGTH + 1)));
        // East Asian wide characters take two columns.
        assert!(!fits(&"日".repeat(LINE_LENGTH / 2 + 1)));
        assert!(!fits("a\nb"));
    }

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn wrap_is_flat_when_it_fits_else_one_item_per_line() {
        let ind = Some("    ".to_string());
        assert_eq!(
            wrap("def f(", s(&["self", "x: int"]), ") -> None:", ind.clone()),
            "    def f(self, x: int) -> None:"
        );
        let long = "x".repeat(80);
        assert_eq!(
            wrap("def f(", s(&["self", &long]), ") -> None:", ind.clone()),
            format!("    def f(\n        self,\n        {long},\n    ) -> None:")
        );
        assert_eq!(wrap("f(", vec![], ")", ind), "    f()");
    }

    #[test]
    fn assign_parenthesizes_an_atom_only_when_that_makes_it_fit() {
        assert_eq!(assign("x", "y", None, None), "x = y");
        let value = format!("\"{}\"", "v".repeat(70));
        assert_eq!(
            assign(&"t".repeat(20), &value, None, None),
            format!("{} = (\n    {value}\n)", "t".repeat(20))
        );
        let too_long = format!("\"{}\"", "v".repeat(90));
        assert_eq!(
            assign("t", &too_long, None, None),
            format!("t = {too_long}")
        );
        assert_eq!(
            assign(
                "return",
                &"a.b".repeat(26),
                Some("    ".into()),
                Some(" ".into())
            ),
            format!("    return (\n        {}\n    )", "a.b".repeat(26))
        );
        assert_eq!(
            assign("field", &"C".repeat(84), None, Some(": ".into())),
            format!("field: (\n    {}\n)", "C".repeat(84))
        );
    }

    #[test]
    fn assign_call_splits_like_ruff() {
        let ind = || Some("    ".to_string());
        // Fits.
        assert_eq!(
            assign_call("x", "C", s(&["a", "b=1"]), ind(), None),
            "    x = C(a, b=1)"
        );
        // Split after the parenthesis: the head fits.
        let arg = "a".repeat(80);
        assert_eq!(
            assign_call("x", "C", s(&[&arg]), ind(), None),
            format!("    x = C(\n        {arg},\n    )")
        );
        // The head does not fit, the parenthesized call does.
        let (target, callee) = ("t".repeat(50), "C".repeat(40));
        assert_eq!(
            assign_call(&target, &callee, s(&["a"]), ind(), None),
            format!("    {target} = (\n        {callee}(a)\n    )")
        );
        // Neither fits: split after the parenthesis all the same.
        let long_arg = "a".repeat(90);
        assert_eq!(
            assign_call(&target, &callee, s(&[&long_arg]), ind(), None),
            format!("    {target} = {callee}(\n        {long_arg},\n    )")
        );
        // Without arguments the call is an atom; `return` works the same way.
        assert_eq!(
            assign_call("return", &"c".repeat(76), vec![], ind(), Some(" ".into())),
            format!("    return (\n        {}()\n    )", "c".repeat(76))
        );
    }
}
