//! What is asked and what is kept: the `impl/` modules a fill may write, the
//! prompt of each (built from the model IR and the generated base class it
//! must implement), its hash for the manifest, and the module text taken out
//! of an answer.

use schemas::files::FileSet;
use schemas::model::v1::Model;
use sha2::{Digest, Sha256};

use crate::client::ChatMessage;

/// Bytes of the generated base class quoted in a prompt at most.
const MAX_BASE_BYTES: usize = 48 * 1024;
/// Relationships of one element quoted in a prompt at most.
const MAX_RELATIONSHIPS: usize = 40;

/// The instructions every request starts with.
pub const SYSTEM_PROMPT: &str = "You write the implementation module of one element of a generated \
Python service (FastAPI, pydantic, SQLAlchemy). You are given the stub module, the generated base \
class it subclasses and what the architecture diagram says about the element. Answer with the \
complete module in a single ```python fenced block and nothing else. Keep the stub's imports of \
generated modules, its class name and base class; override methods of the base class with the \
same signatures and return types; do no network or file IO at import time; add no third-party \
imports. The module must pass `ruff check` (rules E, F, W, B, I), be formatted as `ruff format` \
writes it, and the project's pytest suite must still pass with it.";

/// One `impl/` module a fill may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Project-relative path of the module.
    pub path: String,
    /// The stub the generator wrote (what stays when no answer is kept).
    pub stub: String,
    /// Project-relative path of the generated module it imports its base
    /// class from, when found.
    pub base_path: Option<String>,
    /// Element aliases (and relationship ids) the module implements.
    pub implements: Vec<String>,
}

/// The user-owned `impl/` modules of a project, by path: what a fill may
/// write (package `__init__.py` files are generated and stay).
pub fn targets(files: &FileSet) -> Vec<Target> {
    files
        .files
        .iter()
        .filter(|f| f.is_impl_module())
        .map(|f| Target {
            path: f.path.clone(),
            stub: f.contents.clone(),
            base_path: base_module(&f.path, &f.contents),
            implements: f.implements.clone(),
        })
        .collect()
}

/// The path of the module a stub's first relative import (`from ..x.y
/// import Base`) names, relative to the stub's own package.
fn base_module(path: &str, stub: &str) -> Option<String> {
    let line = stub
        .lines()
        .find(|l| l.starts_with("from .") && l.contains(" import "))?;
    let module = line.strip_prefix("from ")?.split(' ').next()?;
    let dots = module.chars().take_while(|c| *c == '.').count();
    let rest = &module[dots..];
    let mut dir: Vec<&str> = path.split('/').collect();
    dir.pop(); // the file itself
    for _ in 1..dots {
        dir.pop()?;
    }
    let mut parts: Vec<&str> = dir;
    parts.extend(rest.split('.').filter(|p| !p.is_empty()));
    Some(format!("{}.py", parts.join("/")))
}

/// The request of one module: its messages and their hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The system and user messages.
    pub messages: Vec<ChatMessage>,
}

impl Prompt {
    /// sha256 of the messages (role and text), recorded in `c4forge.json`
    /// so a filled module can be traced to exactly what was asked.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for m in &self.messages {
            h.update(m.role.as_bytes());
            h.update([0]);
            h.update(m.content.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What the diagram says about the elements a module implements: name,
/// kind, technology, description, spec properties, and the labels of the
/// relationships from and to them.
fn facts(model: &Model, implements: &[String]) -> String {
    let mut out = String::new();
    let mut rels = 0;
    for d in &model.diagrams {
        for e in &d.elements {
            if !implements.iter().any(|a| a.as_str() == e.alias.as_str()) {
                continue;
            }
            out.push_str(&format!(
                "- {:?} `{}` \"{}\"{}{}\n",
                e.kind,
                e.alias,
                e.name,
                if e.technology.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", e.technology)
                },
                if e.description.is_empty() {
                    String::new()
                } else {
                    format!(": {}", e.description)
                },
            ));
            for row in &e.properties {
                out.push_str(&format!("  - property: {}\n", row.join(" | ")));
            }
        }
        for r in &d.relationships {
            let touches = implements
                .iter()
                .any(|a| a.as_str() == r.from.as_str() || a.as_str() == r.to.as_str());
            if !touches || rels >= MAX_RELATIONSHIPS {
                continue;
            }
            rels += 1;
            out.push_str(&format!(
                "- relationship `{}` -> `{}`: \"{}\"{}\n",
                r.from,
                r.to,
                r.label,
                if r.technology.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", r.technology)
                },
            ));
            for row in &r.properties {
                out.push_str(&format!("  - property: {}\n", row.join(" | ")));
            }
        }
    }
    if out.is_empty() {
        out.push_str("- (the diagram says nothing more about it)\n");
    }
    out
}

/// The prompt of `target` in the project `files` generated from `model`.
pub fn build(target: &Target, files: &FileSet, model: &Model) -> Prompt {
    let base = target.base_path.as_deref().and_then(|p| {
        files
            .files
            .iter()
            .find(|f| f.path == p)
            .map(|f| (p, cut(&f.contents, MAX_BASE_BYTES)))
    });
    let mut user = format!(
        "Module to write: `{}`\n\nWhat the diagram says about it:\n{}\n",
        target.path,
        facts(model, &target.implements)
    );
    if let Some((path, text)) = base {
        user.push_str(&format!(
            "The generated base class (`{path}`, regenerated from the diagram, not to be edited):\n```python\n{text}```\n\n"
        ));
    }
    user.push_str(&format!(
        "The stub to replace (keep its class name, base class and imports):\n```python\n{}```\n",
        target.stub
    ));
    Prompt {
        messages: vec![
            ChatMessage::new("system", SYSTEM_PROMPT),
            ChatMessage::new("user", user),
        ],
    }
}

/// The module in an answer: the first fenced code block (```python, ```py
/// or a bare fence), else the whole answer; `Err` when there is none.
pub fn extract_code(answer: &str) -> Result<String, String> {
    let code = match answer.find("```") {
        Some(start) => {
            let after = &answer[start + 3..];
            let body_start = after.find('\n').map(|i| i + 1).unwrap_or(after.len());
            let (lang, body) = after.split_at(body_start);
            if !lang.trim().chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err("the code fence is not followed by a line break".into());
            }
            match body.find("```") {
                Some(end) => &body[..end],
                None => body,
            }
        }
        None => answer,
    };
    let code = code.trim_matches('\n');
    if code.trim().is_empty() {
        return Err("the answer holds no code".into());
    }
    Ok(format!("{code}\n"))
}

/// The module written for `target`: the stub's header comments (where it
/// comes from, that it is the user's) above the answer's code, unless the
/// answer kept them itself.
pub fn module_text(target: &Target, code: &str) -> String {
    let header: String = target
        .stub
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    if header.is_empty() || code.starts_with(&header) {
        code.to_string()
    } else {
        format!("{header}{code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::files::{FileOwner, GeneratedFile};

    const STUB: &str = "# created by c4forge from a.puml:3 (component c \"C\").\n# This file is yours.\n\"\"\"Doc.\"\"\"\n\nfrom __future__ import annotations\n\nfrom ..components.c import CBase\n\n\nclass C(CBase):\n    \"\"\"C.\"\"\"\n";

    #[test]
    fn the_base_module_is_resolved_from_the_stub_import() {
        assert_eq!(
            base_module("src/p/s/svc/impl/c.py", STUB).as_deref(),
            Some("src/p/s/svc/components/c.py")
        );
        let service = "from ..service_base import ServiceBase\n";
        assert_eq!(
            base_module("src/p/svc/impl/service.py", service).as_deref(),
            Some("src/p/svc/service_base.py")
        );
    }

    #[test]
    fn only_user_impl_modules_are_targets() {
        let f = |path: &str, owner| GeneratedFile {
            path: path.into(),
            contents: STUB.into(),
            owner,
            implements: vec!["c".into()],
        };
        let files = FileSet {
            files: vec![
                f("src/p/svc/impl/__init__.py", FileOwner::Generated),
                f("src/p/svc/impl/c.py", FileOwner::User),
                f("src/p/svc/components/c.py", FileOwner::Generated),
                f("README.md", FileOwner::User),
            ],
            ..FileSet::default()
        };
        let t = targets(&files);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].path, "src/p/svc/impl/c.py");
    }

    #[test]
    fn code_comes_out_of_fences_and_keeps_the_header() {
        let answer = "Here it is:\n```python\nclass C(CBase):\n    pass\n```\nEnjoy.";
        let code = extract_code(answer).expect("code");
        assert_eq!(code, "class C(CBase):\n    pass\n");
        let t = Target {
            path: "x/impl/c.py".into(),
            stub: STUB.into(),
            base_path: None,
            implements: vec![],
        };
        let text = module_text(&t, &code);
        assert!(text.starts_with("# created by c4forge"), "{text}");
        assert!(text.ends_with("    pass\n"));
        assert!(extract_code("```python\n\n```").is_err());
        assert_eq!(
            extract_code("x = 1\n").expect("bare code"),
            "x = 1\n",
            "an answer without a fence is taken whole"
        );
    }

    #[test]
    fn the_prompt_hash_changes_with_the_prompt() {
        let t = Target {
            path: "x/impl/c.py".into(),
            stub: STUB.into(),
            base_path: None,
            implements: vec!["c".into()],
        };
        let a = build(&t, &FileSet::default(), &Model::default());
        let mut other = t.clone();
        other.path = "x/impl/d.py".into();
        let b = build(&other, &FileSet::default(), &Model::default());
        assert_eq!(a.sha256(), a.clone().sha256());
        assert_ne!(a.sha256(), b.sha256());
        assert_eq!(a.sha256().len(), 64);
    }
}
