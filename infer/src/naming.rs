//! Safe names derived from diagram text: Python identifiers, class names, URL
//! segments, environment variable prefixes and compose host names.
//!
//! Diagram aliases and labels are arbitrary text (unicode, digits first,
//! Python keywords, punctuation). Everything that ends up in a path or in
//! Python source goes through this module, so generated paths stay inside the
//! project root and generated identifiers are always valid and unique within
//! their scope ([`Scope`]).

use std::collections::{HashMap, HashSet};

/// Python keywords and soft keywords, plus names that would shadow builtins
/// in a confusing way when used as modules, attributes or functions.
const PY_RESERVED: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "match",
    "case", "type", "_", "self", "cls", "object", "print", "list", "dict", "set", "str", "int",
    "id", "input", "open", "super", "property",
];

/// Top-level module names a generated root package must not shadow: the
/// standard library modules a project is likely to import and every
/// dependency of the generated project.
const TOP_LEVEL_RESERVED: &[&str] = &[
    "abc",
    "aio_pika",
    "aiokafka",
    "aiormq",
    "anyio",
    "app",
    "asyncio",
    "base64",
    "collections",
    "contextlib",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "email",
    "enum",
    "fastapi",
    "functools",
    "grpc",
    "hashlib",
    "http",
    "httpx",
    "importlib",
    "io",
    "itertools",
    "json",
    "logging",
    "math",
    "os",
    "pathlib",
    "pydantic",
    "pydantic_settings",
    "pytest",
    "queue",
    "random",
    "re",
    "redis",
    "ruff",
    "secrets",
    "select",
    "signal",
    "socket",
    "sqlalchemy",
    "ssl",
    "starlette",
    "string",
    "sys",
    "tests",
    "test",
    "threading",
    "time",
    "types",
    "typing",
    "typing_extensions",
    "unittest",
    "urllib",
    "uuid",
    "uvicorn",
    "warnings",
    "zipfile",
];

/// Folds common accented Latin letters to ASCII so "Bücher" reads "buecher"
/// rather than disappearing; other non-ASCII letters become separators.
fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'å' | 'ā' | 'À' | 'Á' | 'Â' | 'Ã' | 'Å' => "a",
        'ä' | 'Ä' | 'æ' | 'Æ' => "ae",
        'ç' | 'Ç' | 'č' | 'Č' | 'ć' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' | 'ń' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ø' => "o",
        'ö' | 'Ö' | 'œ' | 'Œ' => "oe",
        'ù' | 'ú' | 'û' | 'Ù' | 'Ú' | 'Û' => "u",
        'ü' | 'Ü' => "ue",
        'ß' => "ss",
        'š' | 'Š' | 'ś' => "s",
        'ž' | 'Ž' | 'ź' | 'ż' => "z",
        'ł' | 'Ł' => "l",
        'ý' | 'ÿ' | 'Ý' => "y",
        _ => return None,
    })
}

/// Splits text into lowercase ASCII words: separators are anything not
/// alphanumeric, plus camelCase boundaries (`SignInController` -> sign, in, controller),
/// plus PlantUML's `\n` line break (`placed,\ncart` -> placed, cart; not `ncart`).
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower_or_digit = false;
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'n') {
            chars.next();
            flush(&mut cur, &mut out);
            prev_lower_or_digit = false;
        } else if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower_or_digit {
                flush(&mut cur, &mut out);
            }
            prev_lower_or_digit = c.is_ascii_lowercase();
            cur.push(c.to_ascii_lowercase());
        } else if let Some(f) = fold_char(c) {
            cur.push_str(f);
            prev_lower_or_digit = true;
        } else {
            flush(&mut cur, &mut out);
            prev_lower_or_digit = false;
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// A `snake_case` Python identifier for `text`; `fallback` when the text has
/// no usable characters. Never a keyword, never starts with a digit.
pub fn snake(text: &str, fallback: &str) -> String {
    let w = words(text);
    let mut s = if w.is_empty() {
        fallback.to_string()
    } else {
        w.join("_")
    };
    if s.len() > 48 {
        s.truncate(48);
        while s.ends_with('_') {
            s.pop();
        }
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("{fallback}_{s}");
    }
    if PY_RESERVED.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// A `PascalCase` Python class name for `text` (same rules as [`snake`]).
pub fn pascal(text: &str, fallback: &str) -> String {
    let s: String = snake(text, fallback)
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect();
    if matches!(s.as_str(), "None" | "True" | "False") {
        s + "_"
    } else {
        s
    }
}

/// A `kebab-case` name for URL segments, queue names and compose hosts.
pub fn kebab(snake_ident: &str) -> String {
    snake_ident.trim_matches('_').replace('_', "-")
}

/// Joins two identifier parts with one `_` (`none_` + `url` -> `none_url`).
pub fn join(a: &str, b: &str) -> String {
    format!("{}_{}", a.trim_end_matches('_'), b.trim_start_matches('_'))
}

/// True when `name` would shadow a module the generated project imports.
pub fn is_reserved_top_level(name: &str) -> bool {
    TOP_LEVEL_RESERVED.contains(&name)
}

/// A namespace in which every allocated name is unique (a package's modules,
/// a class's attributes, a settings class's fields). Collisions get `_2`,
/// `_3`, ... in allocation order, which is deterministic because the model is
/// walked in a fixed order.
///
/// Allocation is linear in the number of names: each base (with its
/// separator) remembers the next suffix to try, so `n` allocations of one
/// base cost `O(n)` lookups instead of `O(n^2)` (issue 17: 100,000 elements
/// named alike took minutes). Names are never released, so every suffix
/// below the remembered one is still taken and the result is the same first
/// free `base_N` a probe from 2 would find.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    taken: HashSet<String>,
    /// Next suffix to try per `(base, separator)`, once `base` was taken.
    next: HashMap<(String, String), usize>,
}

impl Scope {
    /// A scope where `reserved` names are already taken.
    pub fn with_reserved(reserved: &[&str]) -> Self {
        Self {
            taken: reserved.iter().map(|s| s.to_string()).collect(),
            next: HashMap::new(),
        }
    }

    /// Takes `base`, or the first free `base_N`.
    pub fn alloc(&mut self, base: &str) -> String {
        self.alloc_sep(base, "_")
    }

    /// Takes `base`, or the first free `base{sep}N` (`-` for host names).
    pub fn alloc_sep(&mut self, base: &str, sep: &str) -> String {
        if !self.taken.contains(base) {
            self.taken.insert(base.to_string());
            return base.to_string();
        }
        let key = (base.to_string(), sep.to_string());
        let mut n = self.next.get(&key).copied().unwrap_or(2);
        let mut cand = String::with_capacity(base.len() + sep.len() + 4);
        loop {
            cand.clear();
            cand.push_str(base);
            cand.push_str(sep);
            cand.push_str(&n.to_string());
            n += 1;
            if !self.taken.contains(&cand) {
                break;
            }
        }
        self.next.insert(key, n);
        self.taken.insert(cand.clone());
        cand
    }
}

/// True when `path` is a safe relative project path: `/`-separated, no
/// empty, `.` or `..` components, no backslashes, drive letters or NULs.
pub fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && !path.contains(':')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_safe() {
        assert_eq!(snake("Sign In Controller", "x"), "sign_in_controller");
        assert_eq!(snake("SignInController", "x"), "sign_in_controller");
        assert_eq!(snake("class", "x"), "class_");
        assert_eq!(snake("3D Renderer", "svc"), "svc_3d_renderer");
        assert_eq!(snake("Bücher-Dienst", "x"), "buecher_dienst");
        assert_eq!(snake("日本", "svc"), "svc");
        assert_eq!(snake("../../etc/passwd", "x"), "etc_passwd");
        assert_eq!(pascal("api application", "X"), "ApiApplication");
        assert_eq!(pascal("1st", "N"), "N1st");
        assert_eq!(kebab("api_application"), "api-application");
    }

    #[test]
    fn scope_dedupes() {
        let mut s = Scope::with_reserved(&["app"]);
        assert_eq!(s.alloc("app"), "app_2");
        assert_eq!(s.alloc("x"), "x");
        assert_eq!(s.alloc("x"), "x_2");
        // A name taken directly is skipped by the counter of its base.
        assert_eq!(s.alloc("y_2"), "y_2");
        assert_eq!(s.alloc("y"), "y");
        assert_eq!(s.alloc("y"), "y_3");
        assert_eq!(s.alloc("y_3"), "y_3_2");
        assert_eq!(s.alloc("y"), "y_4");
        // Separators count apart: `y-2` is free although `y_2` is taken.
        assert_eq!(s.alloc_sep("y", "-"), "y-2");
        assert_eq!(s.alloc_sep("Y", ""), "Y");
        assert_eq!(s.alloc_sep("Y", ""), "Y2");
    }

    /// Issue 17: 100,000 elements with one name. The names are those of
    /// the probing allocator (base, base_2, ...), in order.
    #[test]
    fn many_allocations_of_one_base_are_numbered_in_order() {
        let mut s = Scope::default();
        let names: Vec<String> = (0..100_000).map(|_| s.alloc("svc")).collect();
        assert_eq!(names[0], "svc");
        for (i, name) in names.iter().enumerate().skip(1) {
            assert_eq!(*name, format!("svc_{}", i + 1));
        }
        assert_eq!(names.last().map(String::as_str), Some("svc_100000"));
    }

    #[test]
    fn paths() {
        assert!(is_safe_relative_path("src/a/b.py"));
        assert!(!is_safe_relative_path("../a"));
        assert!(!is_safe_relative_path("/a"));
        assert!(!is_safe_relative_path("a//b"));
        assert!(!is_safe_relative_path("C:/a"));
    }
}
