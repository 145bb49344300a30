//! The preprocessor: directives, includes, variables, user procedures and
//! functions, and dispatch of macro calls to the native C4 library.
//!
//! One [`Interp`] runs one `@startuml ... @enduml` block, line by line, the
//! way PlantUML's preprocessor does, but it hands C4 macro calls straight to
//! [`crate::c4`] instead of expanding the library's text. Every loop and
//! recursion is bounded (steps, call depth, include depth, value size), so
//! hostile input ends with a diagnostic, never a hang.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use schemas::model::v1::{Diagram, Text};

use crate::c4::{self, C4State, Libs};
use crate::diagnostics::{Diags, Loc};
use crate::expr::{self, Host, Value};
use crate::lexer::{self, CallParse, SrcLine, is_ident_char};
use crate::{IncludeResolver, SourceFile, starts_with_ci};

/// Lines processed before giving up (loops, recursion): a base shared by
/// the diagrams of one parse (see [`Budget`]), on top of
/// [`STEPS_PER_LINE`] per source line of each diagram's block and of each
/// file included (once per parse).
const MAX_STEPS: u64 = 200_000;
/// Extra step budget per source line, so large diagrams fit.
const STEPS_PER_LINE: u64 = 8;
/// Nested procedure/function calls.
const MAX_CALL_DEPTH: usize = 64;
/// Nested includes.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Elements + boundaries + relationships per diagram, at most (see
/// [`MODEL_ITEMS_BASE`]).
const MAX_ITEMS: usize = 500_000;
/// Model items (elements, boundaries, deployment nodes, relationships) the
/// diagrams of one parse share (see [`Budget`]), on top of
/// [`MODEL_ITEMS_PER_LINE`] per source line of each diagram's block and of
/// each file included (once per parse): a loop cannot turn a small input
/// into a huge model.
const MODEL_ITEMS_BASE: usize = 20_000;
/// Extra model items per source line (a procedure call may create several).
const MODEL_ITEMS_PER_LINE: usize = 4;
/// Bytes of text the C4 states of one parse's diagrams share (the model's
/// strings, title, tag defaults, property rows, alias table, open frames;
/// see `C4State::text_bytes`), on top of [`MODEL_TEXT_PER_BYTE`] per source
/// byte of each diagram's block and of each file included (once per parse).
const MODEL_TEXT_BASE: usize = 8 << 20;
/// Extra model text per source byte (tag defaults may repeat a technology
/// on every element that names the tag).
const MODEL_TEXT_PER_BYTE: usize = 4;
/// What a line of a `title` block costs the text budget besides its text.
const TITLE_LINE_COST: usize = std::mem::size_of::<String>();
/// Bytes of a string value (a variable, an argument of a user procedure)
/// that cost one step: what the preprocessor stores is bounded by the step
/// budget too.
const BYTES_PER_STEP: usize = 256;
/// Unknown macro names whose suggestion is remembered.
const MAX_SUGGESTIONS: usize = 4096;
/// `!define`d names per diagram (each is substituted on every line).
const MAX_DEFINES: usize = 1000;
/// Longest string value.
pub(crate) const MAX_VALUE_LEN: usize = 1 << 18;

/// The base allowances ([`MAX_STEPS`], [`MODEL_ITEMS_BASE`],
/// [`MODEL_TEXT_BASE`]) that all diagrams of one parse share: each diagram
/// may use what is left of them plus its own share per source line/byte,
/// so many small diagrams (or `@startuml` blocks) cannot each take a full
/// base.
#[derive(Debug)]
pub(crate) struct Budget {
    steps: u64,
    items: usize,
    text: usize,
    /// Included files whose size was added to a diagram's budgets: once
    /// per parse, so that many diagrams including one large file cannot
    /// each be paid to run it again.
    included: HashSet<String>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            steps: MAX_STEPS,
            items: MODEL_ITEMS_BASE,
            text: MODEL_TEXT_BASE,
            included: HashSet::new(),
        }
    }
}

/// What was left of the shared allowances when a diagram started.
#[derive(Debug, Clone, Copy)]
struct Base {
    steps: u64,
    items: usize,
    text: usize,
}

/// A `!procedure` or `!function` defined in the diagram.
#[derive(Debug)]
struct UserProc {
    params: Vec<(String, Option<String>)>,
    body: Vec<SrcLine<'static>>,
    is_function: bool,
}

#[derive(Debug, Clone, Copy)]
struct Cond {
    /// The enclosing lines are active.
    parent: bool,
    /// This branch is active.
    active: bool,
    /// Some branch was already taken.
    taken: bool,
    /// File index and line of the `!if`, for "unterminated" reports.
    line: u32,
    file: usize,
}

/// Multi-line constructs whose content is skipped.
#[derive(Debug, Clone)]
enum Skip {
    /// Until a line equal (case-insensitively, blanks removed) to one of
    /// these; the line that opened it, for an "unclosed" warning.
    Until(&'static [&'static str], u32, usize),
    /// A `title` block: collect lines until `end title`.
    Title(Vec<String>),
}

/// The interpreter for one diagram block.
pub(crate) struct Interp<'a> {
    resolver: &'a dyn IncludeResolver,
    /// File paths; `SrcLine::file` indexes this.
    pub files: &'a mut Vec<String>,
    /// The same paths, shared by every [`Loc`] made while running.
    file_names: Vec<Rc<str>>,
    /// Texts of files read through the resolver (for rendering).
    pub loaded: &'a mut Vec<SourceFile>,
    d: &'a mut Diags,
    globals: HashMap<String, Value>,
    scopes: Vec<HashMap<String, Value>>,
    defines: Vec<(String, String)>,
    procs: HashMap<String, Vec<Rc<UserProc>>>,
    c4: C4State,
    include_stack: Vec<String>,
    once: HashSet<String>,
    steps: u64,
    max_steps: u64,
    stopped: bool,
    ret: Option<Value>,
    skip: Option<Skip>,
    loc: Loc,
    warned_libs: HashSet<String>,
    /// An empty vector whose buffer the next [`Interp::eval_args`] reuses.
    eval_pool: Vec<(Option<String>, Value)>,
    /// The same for the argument texts of the next call line.
    args_pool: Vec<(&'static str, usize)>,
    /// Procedure definitions so far (the names `suggest` offers change).
    procs_defined: u64,
    /// Suggestions for unknown macro names, valid for the libraries and
    /// procedure count in the key.
    suggestions: ((Libs, u64), HashMap<String, Option<String>>),
    /// Model budgets of this diagram ([`MODEL_ITEMS_BASE`],
    /// [`MODEL_TEXT_BASE`]), grown by each file included.
    max_items: usize,
    max_text: usize,
    /// The shared base allowances, and what was left of them when this
    /// diagram started (what it uses beyond its own share is taken from
    /// them when it ends).
    budget: &'a mut Budget,
    base: Base,
}

impl<'a> Interp<'a> {
    /// A fresh interpreter (one per diagram block).
    pub fn new(
        resolver: &'a dyn IncludeResolver,
        files: &'a mut Vec<String>,
        loaded: &'a mut Vec<SourceFile>,
        d: &'a mut Diags,
        budget: &'a mut Budget,
    ) -> Self {
        let base = Base {
            steps: budget.steps,
            items: budget.items,
            text: budget.text,
        };
        let file_names = files.iter().map(|f| Rc::from(f.as_str())).collect();
        Interp {
            resolver,
            file_names,
            files,
            loaded,
            d,
            globals: HashMap::new(),
            scopes: Vec::new(),
            defines: Vec::new(),
            procs: HashMap::new(),
            c4: C4State::new(),
            include_stack: Vec::new(),
            once: HashSet::new(),
            steps: 0,
            max_steps: base.steps,
            stopped: false,
            ret: None,
            skip: None,
            loc: Loc::default(),
            warned_libs: HashSet::new(),
            eval_pool: Vec::new(),
            args_pool: Vec::new(),
            procs_defined: 0,
            suggestions: ((Libs::default(), 0), HashMap::new()),
            max_items: base.items,
            max_text: base.text,
            budget,
            base,
        }
    }

    /// Grows the step and model budgets by what `lines` (source) may
    /// justify; returns the bytes of their text (without line ends).
    fn add_budget(&mut self, lines: &[SrcLine<'_>]) -> usize {
        let n = u64::try_from(lines.len()).unwrap_or(u64::MAX / STEPS_PER_LINE);
        self.max_steps = self
            .max_steps
            .saturating_add(n.saturating_mul(STEPS_PER_LINE));
        let text: usize = lines.iter().map(|l| l.text.len()).sum();
        let bytes = text + lines.len();
        self.max_items = self
            .max_items
            .saturating_add(lines.len().saturating_mul(MODEL_ITEMS_PER_LINE))
            .min(MAX_ITEMS);
        self.max_text = self
            .max_text
            .saturating_add(bytes.saturating_mul(MODEL_TEXT_PER_BYTE));
        text
    }

    /// After a statement (line `l`): stops the diagram with an error when
    /// its model outgrew the text budget.
    fn check_model_budget(&mut self, l: &SrcLine<'_>) {
        if self.stopped || self.c4.text_bytes <= self.max_text {
            return;
        }
        self.stopped = true;
        let max = self.max_text;
        self.error(
            l,
            format!("the diagram's model outgrew its budget of {max} bytes of text ({MODEL_TEXT_BASE} shared by the diagrams of the upload, plus {MODEL_TEXT_PER_BYTE} per source byte; a loop?); the rest of the diagram is ignored"),
        );
    }

    /// Charges `bytes` of stored string values to the step budget.
    fn charge_bytes(&mut self, bytes: usize) {
        let steps = u64::try_from(bytes / BYTES_PER_STEP).unwrap_or(u64::MAX / 2);
        self.steps = self.steps.saturating_add(steps);
    }

    fn file_name(&self, file: usize) -> Rc<str> {
        self.file_names
            .get(file)
            .cloned()
            .unwrap_or_else(|| Rc::from(""))
    }

    fn loc_of(&self, l: &SrcLine<'_>, col: u32) -> Loc {
        Loc {
            file: self.file_name(l.file),
            line: l.line,
            column: col,
        }
    }

    /// Runs the diagram's lines (file index of the top file is `top`) and
    /// returns the finished diagram.
    pub fn run_diagram(mut self, lines: &[SrcLine<'_>], top_path: &str) -> Diagram {
        self.include_stack.push(top_path.to_string());
        let bytes = self.add_budget(lines);
        // a statement creating an item takes a dozen bytes at least: a
        // block of blank lines reserves nothing
        self.c4
            .reserve(lines.len().min(bytes / 12).min(self.max_items));
        self.run(lines);
        if self.stopped {
            // the rest of the block was not read: its braces say nothing
            self.c4.abandon_frames();
        }
        match self.skip.take() {
            Some(Skip::Title(t)) => self.set_title_lines(t),
            Some(Skip::Until(ends, at, f)) => {
                let loc = Loc {
                    file: self.file_name(f),
                    line: at,
                    column: 1,
                };
                self.d.warning(
                    &loc,
                    format!(
                        "block never closed by `{}`: the rest of the diagram was skipped",
                        ends[0]
                    ),
                );
            }
            None => {}
        }
        // what this diagram used beyond its own share comes off the shared base
        let own_steps = self.max_steps - self.base.steps;
        let own_items = self.max_items.saturating_sub(self.base.items);
        let own_text = self.max_text - self.base.text;
        let used_steps = self.steps.saturating_sub(own_steps).min(self.base.steps);
        let used_items = self
            .item_count()
            .saturating_sub(own_items)
            .min(self.base.items);
        let used_text = self
            .c4
            .text_bytes
            .saturating_sub(own_text)
            .min(self.base.text);
        self.budget.steps = self.base.steps - used_steps;
        self.budget.items = self.base.items - used_items;
        self.budget.text = self.base.text - used_text;
        self.c4.finish(self.d)
    }

    fn error(&mut self, l: &SrcLine<'_>, msg: String) {
        let loc = self.loc_of(l, l.first_col());
        self.d.error(&loc, msg);
    }

    fn warning(&mut self, l: &SrcLine<'_>, msg: String) {
        let loc = self.loc_of(l, l.first_col());
        self.d.warning(&loc, msg);
    }

    fn step(&mut self, l: &SrcLine<'_>) -> bool {
        if self.stopped {
            return false;
        }
        self.steps += 1;
        if self.steps > self.max_steps {
            self.stopped = true;
            let max = self.max_steps;
            self.error(
                l,
                format!("preprocessing stopped after {max} steps (endless `!while` or recursion?)"),
            );
            return false;
        }
        true
    }

    /// Executes lines with their own `!if` stack.
    fn run(&mut self, lines: &[SrcLine<'_>]) {
        let mut conds: Vec<Cond> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if self.stopped || self.ret.is_some() {
                return;
            }
            let l = &lines[i];
            i += 1;
            if !self.step(l) {
                return;
            }
            let active = conds.last().is_none_or(|c| c.active);
            let t = lexer::trim(&l.text);
            if let Some(rest) = t.strip_prefix('!') {
                let rest = rest.trim_start();
                let word: String = rest.chars().take_while(|c| is_ident_char(*c)).collect();
                let arg = rest[word.len()..].trim();
                match word.as_str() {
                    "if" | "ifdef" | "ifndef" => {
                        let v = active && self.condition(&word, arg, l);
                        conds.push(Cond {
                            parent: active,
                            active: v,
                            taken: v,
                            line: l.line,
                            file: l.file,
                        });
                        continue;
                    }
                    "elseif" => {
                        match conds.last().copied() {
                            Some(c) => {
                                let v = c.parent && !c.taken && self.condition("if", arg, l);
                                if let Some(c) = conds.last_mut() {
                                    c.active = v;
                                    c.taken |= v;
                                }
                            }
                            None => self.error(l, "`!elseif` without `!if`".into()),
                        }
                        continue;
                    }
                    "else" => {
                        match conds.last_mut() {
                            Some(c) => {
                                c.active = c.parent && !c.taken;
                                c.taken = true;
                            }
                            None => self.error(l, "`!else` without `!if`".into()),
                        }
                        continue;
                    }
                    "endif" => {
                        if conds.pop().is_none() {
                            self.error(l, "`!endif` without `!if`".into());
                        }
                        continue;
                    }
                    "procedure" | "function" | "unquoted" | "final" => {
                        let end = self.find_end(lines, i, &["endprocedure", "endfunction"], &[]);
                        let one_line = rest.contains("!return");
                        let (body_end, next) = if one_line {
                            (i, i)
                        } else {
                            match end {
                                Some(e) => (e, e + 1),
                                None => {
                                    self.error(l, "`!procedure`/`!function` without `!endprocedure`/`!endfunction`".into());
                                    (lines.len(), lines.len())
                                }
                            }
                        };
                        if active {
                            self.define_proc(rest, &lines[i..body_end], l);
                        }
                        i = next;
                        continue;
                    }
                    "endprocedure" | "endfunction" => {
                        self.error(l, format!("`!{word}` without a definition"));
                        continue;
                    }
                    "definelong" => {
                        let end = self.find_end(lines, i, &["enddefinelong"], &["definelong"]);
                        let body_end = end.unwrap_or_else(|| {
                            self.error(l, "`!definelong` without `!enddefinelong`".into());
                            lines.len()
                        });
                        if active {
                            self.define_macro(arg, &lines[i..body_end], l);
                        }
                        i = (body_end + 1).min(lines.len());
                        continue;
                    }
                    "enddefinelong" => {
                        self.error(l, "`!enddefinelong` without `!definelong`".into());
                        continue;
                    }
                    "foreach" | "while" => {
                        let (open, close): (&[&str], &[&str]) = if word == "while" {
                            (&["while"], &["endwhile"])
                        } else {
                            (&["foreach"], &["endfor", "endforeach"])
                        };
                        let end = self.find_end(lines, i, close, open);
                        let Some(end) = end else {
                            self.error(l, format!("`!{word}` without `!{}`", close[0]));
                            return;
                        };
                        if active {
                            if word == "while" {
                                self.run_while(arg, &lines[i..end], l);
                            } else {
                                self.run_foreach(arg, &lines[i..end], l);
                            }
                        }
                        i = end + 1;
                        continue;
                    }
                    "endwhile" | "endfor" | "endforeach" => {
                        self.error(l, format!("`!{word}` without its loop"));
                        continue;
                    }
                    _ => {}
                }
                if active {
                    self.directive(&word, arg, rest, l);
                    self.check_model_budget(l);
                }
                continue;
            }
            if active {
                self.statement(l);
                self.check_model_budget(l);
            }
        }
        for c in conds {
            let loc = Loc {
                file: self.file_name(c.file),
                line: c.line,
                column: 1,
            };
            self.d.error(&loc, "`!if` without `!endif`".into());
        }
    }

    /// Index of the line closing a block opened before `from`.
    fn find_end(
        &self,
        lines: &[SrcLine<'_>],
        from: usize,
        close: &[&str],
        open: &[&str],
    ) -> Option<usize> {
        let mut depth = 0usize;
        for (k, l) in lines.iter().enumerate().skip(from) {
            let t = l.text.trim();
            let Some(r) = t.strip_prefix('!') else {
                continue;
            };
            let w: String = r
                .trim_start()
                .chars()
                .take_while(|c| is_ident_char(*c))
                .collect();
            if open.contains(&w.as_str()) {
                depth += 1;
            } else if close.contains(&w.as_str()) {
                if depth == 0 {
                    return Some(k);
                }
                depth -= 1;
            }
        }
        None
    }

    fn condition(&mut self, word: &str, arg: &str, l: &SrcLine<'_>) -> bool {
        match word {
            "ifdef" | "ifndef" => {
                let name = arg.trim();
                let def = self.var(name).is_some() || self.defines.iter().any(|(n, _)| n == name);
                def == (word == "ifdef")
            }
            _ => match expr::eval_str(arg, self) {
                Ok(v) => v.truthy(),
                Err(e) => {
                    self.error(l, format!("cannot evaluate `!if` condition: {e}"));
                    false
                }
            },
        }
    }

    fn directive(&mut self, word: &str, arg: &str, rest: &str, l: &SrcLine<'_>) {
        match word {
            "include" | "include_once" | "include_many" | "includeurl" | "includesub" => {
                self.include(arg, word == "include_once", l);
            }
            "define" => {
                let name: String = arg.chars().take_while(|c| is_ident_char(*c)).collect();
                if name.is_empty() {
                    self.error(l, "`!define` needs a name".into());
                    return;
                }
                if arg[name.len()..].starts_with('(') {
                    // `!define NAME(a, b) body`: a macro with arguments
                    self.define_macro(arg, &[], l);
                    return;
                }
                let value = arg[name.len()..].trim().to_string();
                self.defines.retain(|(n, _)| *n != name);
                if self.defines.len() >= MAX_DEFINES {
                    self.error(
                        l,
                        format!("more than {MAX_DEFINES} `!define`s; this one is ignored"),
                    );
                    return;
                }
                self.defines.push((name, value));
            }
            "undef" => {
                let name = arg.trim();
                self.defines.retain(|(n, _)| n != name);
                self.globals.remove(name);
            }
            "return" => {
                if self.scopes.is_empty() {
                    self.error(l, "`!return` outside a procedure or function".into());
                    return;
                }
                let v = if arg.is_empty() {
                    Value::Str(Text::default())
                } else {
                    match expr::eval_str(arg, self) {
                        Ok(v) => v,
                        Err(_) => Value::Str(expr::substitute(arg, self, false).into()),
                    }
                };
                self.ret = Some(v);
            }
            "global" | "local" => self.assign(arg, l, Some(word == "global")),
            "theme" | "log" | "option" | "pragma" | "assert" | "dump_memory" | "import"
            | "startsub" | "endsub" | "exit" => {}
            _ => {
                if rest.starts_with('$') || rest.contains('=') {
                    self.assign(rest, l, None);
                } else {
                    self.warning(
                        l,
                        format!("unknown preprocessor directive `!{word}` ignored"),
                    );
                }
            }
        }
    }

    /// `$x = v`, `$x ?= v` (optionally forced global/local).
    fn assign(&mut self, text: &str, l: &SrcLine<'_>, scope: Option<bool>) {
        let name: String = text
            .chars()
            .enumerate()
            .take_while(|(k, c)| is_ident_char(*c) || (*k == 0 && *c == '$'))
            .map(|(_, c)| c)
            .collect();
        let rest = text[name.len()..].trim_start();
        let (cond, value) = if let Some(v) = rest.strip_prefix("?=") {
            (true, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (false, v)
        } else {
            self.error(l, format!("cannot read assignment `!{}`", text.trim()));
            return;
        };
        if name.is_empty() || name == "$" {
            self.error(l, "assignment needs a variable name".into());
            return;
        }
        if cond && self.var(&name).is_some() {
            return;
        }
        let v = match expr::eval_str(value, self) {
            Ok(v) => v,
            Err(_) => Value::Str(expr::substitute(value.trim(), self, false).into()),
        };
        self.set_var(&name, v, scope);
    }

    fn set_var(&mut self, name: &str, v: Value, scope: Option<bool>) {
        // long values (and names: `%set_variable_value` makes them) cost
        // work and memory: charge them to the step budget
        let len = match &v {
            Value::Str(s) => s.len(),
            Value::Int(_) => 0,
        };
        self.charge_bytes(name.len() + len);
        let v = match v {
            Value::Str(s) if s.len() > MAX_VALUE_LEN => {
                Value::Str(Text::from(&s[..floor(&s, MAX_VALUE_LEN)]))
            }
            v => v,
        };
        if scope != Some(false)
            && !self.scopes.last().is_some_and(|s| s.contains_key(name))
            && self.c4.set_index_var(name, &v)
        {
            return;
        }
        match (scope, self.scopes.last_mut()) {
            (Some(true), _) | (_, None) => {
                self.globals.insert(name.to_string(), v);
            }
            (Some(false), Some(s)) => {
                s.insert(name.to_string(), v);
            }
            (None, Some(s)) => {
                if s.contains_key(name) || !self.globals.contains_key(name) {
                    s.insert(name.to_string(), v);
                } else {
                    self.globals.insert(name.to_string(), v);
                }
            }
        }
    }

    /// `!define NAME(a, b) body` or `!definelong NAME(a, b)` + `body`
    /// lines: PlantUML replaces a call by the body with the arguments' text
    /// put in for the parameters' names. Kept as an unquoted procedure whose
    /// body names the parameters `$a`, `$b` (C4 macro arguments replace
    /// `$variables` inside quotes too, so a name in a label works as well).
    fn define_macro(&mut self, header: &str, long_body: &[SrcLine<'_>], l: &SrcLine<'_>) {
        let CallParse::Call(c) = lexer::parse_call(header) else {
            self.error(
                l,
                "cannot read the `!define` header: `NAME(a, b) body`".into(),
            );
            return;
        };
        let names: Vec<&str> = c
            .args
            .iter()
            .map(|(p, _)| lexer::trim(p.split_once('=').map_or(p, |(n, _)| n)))
            .filter(|p| !p.is_empty())
            .collect();
        let with_vars = |text: &str| {
            names.iter().fold(text.to_string(), |t, n| {
                let bare = n.trim_start_matches('$');
                replace_word(&t, bare, &format!("${bare}"))
            })
        };
        let mut body: Vec<SrcLine<'static>> = long_body
            .iter()
            .map(|b| SrcLine {
                text: Cow::Owned(with_vars(&b.text)),
                file: b.file,
                line: b.line,
            })
            .collect();
        let inline = lexer::trim(c.rest);
        if !inline.is_empty() {
            body.insert(
                0,
                SrcLine {
                    text: Cow::Owned(with_vars(inline)),
                    file: l.file,
                    line: l.line,
                },
            );
        }
        let params = c
            .args
            .iter()
            .filter_map(|(p, _)| {
                let (n, dflt) = match p.split_once('=') {
                    Some((n, d)) => (lexer::trim(n), Some(lexer::trim(d).to_string())),
                    None => (lexer::trim(p), None),
                };
                (!n.is_empty()).then(|| (format!("${}", n.trim_start_matches('$')), dflt))
            })
            .collect::<Vec<_>>();
        self.add_proc(
            c.name,
            UserProc {
                params,
                body,
                is_function: false,
            },
        );
    }

    /// Registers a procedure or function; one of the same name and arity
    /// is replaced (PlantUML overloads on arity).
    fn add_proc(&mut self, name: &str, p: UserProc) {
        self.procs_defined += 1;
        let list = self.procs.entry(name.to_string()).or_default();
        list.retain(|q| q.params.len() != p.params.len());
        list.push(Rc::new(p));
    }

    fn define_proc(&mut self, header: &str, body: &[SrcLine<'_>], l: &SrcLine<'_>) {
        let mut h = header.trim();
        for p in ["unquoted", "final"] {
            if let Some(r) = h.strip_prefix(p) {
                h = r.trim_start().trim_start_matches('!').trim_start();
            }
        }
        let is_function = h.starts_with("function");
        let h = h
            .strip_prefix("procedure")
            .or_else(|| h.strip_prefix("function"))
            .unwrap_or(h)
            .trim();
        let CallParse::Call(c) = lexer::parse_call(h) else {
            self.error(l, "cannot read the procedure/function header".into());
            return;
        };
        let mut params = Vec::new();
        for &(p, _) in &c.args {
            match p.split_once('=') {
                Some((n, dflt)) => {
                    params.push((n.trim().to_string(), Some(dflt.trim().to_string())))
                }
                None => params.push((p.trim().to_string(), None)),
            }
        }
        let body = match c.rest.find("!return") {
            Some(p) => vec![SrcLine {
                text: Cow::Owned(c.rest[p..].to_string()),
                file: l.file,
                line: l.line,
            }],
            None => body.iter().map(SrcLine::to_owned_line).collect(),
        };
        self.add_proc(
            c.name,
            UserProc {
                params,
                body,
                is_function,
            },
        );
    }

    fn find_proc(&self, name: &str, args: &[(Option<String>, Value)]) -> Option<Rc<UserProc>> {
        let list = self.procs.get(name)?;
        let npos = args.iter().filter(|a| a.0.is_none()).count();
        let fits = |p: &UserProc| {
            let required = p.params.iter().filter(|x| x.1.is_none()).count();
            npos <= p.params.len() && args.len() >= required.min(npos.max(required))
        };
        list.iter()
            .filter(|p| fits(p))
            .min_by_key(|p| p.params.len())
            .or_else(|| list.last())
            .cloned()
    }

    fn call_user(
        &mut self,
        name: &str,
        p: Rc<UserProc>,
        args: Vec<(Option<String>, Value)>,
    ) -> Value {
        if self.scopes.len() >= MAX_CALL_DEPTH {
            let loc = self.loc.clone();
            if !self.stopped {
                self.d.error(
                    &loc,
                    format!(
                        "calls nested deeper than {MAX_CALL_DEPTH} (endless recursion in `{name}`?)"
                    ),
                );
            }
            self.stopped = true;
            return Value::Str(Text::default());
        }
        // the values stay in the scope while the body runs (and deeper
        // calls keep theirs): charge them like variables
        let arg_bytes = args
            .iter()
            .map(|(k, v)| {
                k.as_ref().map_or(0, String::len)
                    + match v {
                        Value::Str(s) => s.len(),
                        Value::Int(_) => 0,
                    }
            })
            .sum();
        self.charge_bytes(arg_bytes);
        let mut scope: HashMap<String, Value> = HashMap::new();
        let mut pos = 0;
        for (k, v) in args {
            match k {
                Some(k) => {
                    let key = format!("${k}");
                    if p.params.iter().any(|x| x.0 == key) {
                        scope.insert(key, v);
                    }
                }
                None => {
                    if let Some((n, _)) = p.params.get(pos) {
                        scope.insert(n.clone(), v);
                    }
                    pos += 1;
                }
            }
        }
        let mut missing = Vec::new();
        for (n, dflt) in &p.params {
            if scope.contains_key(n) {
                continue;
            }
            match dflt {
                Some(e) => {
                    // the scope so far is visible to the default (moved in
                    // and back out: no copy of its values per default)
                    self.scopes.push(std::mem::take(&mut scope));
                    let v =
                        expr::eval_arg(e, self).unwrap_or_else(|_| Value::Str(e.clone().into()));
                    scope = self.scopes.pop().unwrap_or_default();
                    scope.insert(n.clone(), v);
                }
                None => missing.push(n.clone()),
            }
        }
        if !missing.is_empty() {
            let loc = self.loc.clone();
            self.d.error(
                &loc,
                format!("`{name}` needs its `{}` argument", missing.join("`, `")),
            );
            for n in missing {
                scope.insert(n, Value::Str(Text::default()));
            }
        }
        self.scopes.push(scope);
        let saved_ret = self.ret.take();
        let saved_loc = self.loc.clone();
        self.run(&p.body);
        let out = self.ret.take().unwrap_or(Value::Str(Text::default()));
        self.ret = saved_ret;
        self.loc = saved_loc;
        self.scopes.pop();
        let _ = p.is_function;
        out
    }

    fn run_while(&mut self, cond: &str, body: &[SrcLine<'_>], l: &SrcLine<'_>) {
        loop {
            if self.stopped || self.ret.is_some() || !self.step(l) {
                return;
            }
            if !self.condition("if", cond, l) {
                return;
            }
            self.run(body);
        }
    }

    fn run_foreach(&mut self, spec: &str, body: &[SrcLine<'_>], l: &SrcLine<'_>) {
        let Some((var, list)) = spec.split_once(" in ") else {
            self.error(l, "`!foreach` needs `$var in list`".into());
            return;
        };
        let var = var.trim().to_string();
        let list = list.trim();
        let text = match expr::eval_str(list, self) {
            Ok(v) => v.text(),
            Err(_) => list.to_string(),
        };
        let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
        let items: Vec<String> = inner
            .split(',')
            .map(|s| {
                let s = s.trim();
                lexer::unquote_whole(s).unwrap_or(s).to_string()
            })
            .filter(|s| !s.is_empty())
            .collect();
        for it in items {
            if self.stopped || self.ret.is_some() {
                return;
            }
            self.set_var(&var, Value::Str(it.into()), None);
            self.run(body);
        }
    }

    fn include(&mut self, arg: &str, once: bool, l: &SrcLine<'_>) {
        let target = self.apply_defines(arg);
        let target = expr::substitute(target.trim(), self, true);
        let target = lexer::unquote_whole(&target)
            .unwrap_or(&target)
            .trim()
            .to_string();
        // `file.puml!2` / `file.puml!ID` name one `@startuml` block of the
        // file, but PlantUML (1.2026) includes the first block whatever
        // the selector: so does c4forge, and says so
        let target = match target.rfind('!') {
            Some(p) if p > 0 && !target[p..].contains('/') => {
                self.warning(
                    l,
                    format!(
                        "block selector `{}` is ignored: PlantUML includes the first `@startuml` block of `{}`",
                        &target[p..],
                        &target[..p]
                    ),
                );
                target[..p].to_string()
            }
            _ => target,
        };
        if target.is_empty() {
            self.error(l, "`!include` needs a file".into());
            return;
        }
        let is_url = target.contains("://");
        if let Some(stem) = c4::library_stem(&target) {
            self.c4.libs.load(stem);
            return;
        }
        if let Some(lib) = target.strip_prefix('<') {
            // PlantUML standard library (icons, themes): sprites only, no
            // model meaning; but a C4 file the library lacks is an error
            let lib = lib.trim_end_matches('>');
            let in_c4 = lib.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("c4/"));
            let theme = lib
                .get(3..10)
                .is_some_and(|p| p.eq_ignore_ascii_case("themes/"));
            if in_c4 && !theme {
                self.error(
                    l,
                    format!(
                        "cannot include `{target}`: the C4-PlantUML library has no such file (it has {})",
                        c4::LIBRARY_FILES.join(", ")
                    ),
                );
            }
            return;
        }
        let from = self.include_stack.last().cloned().unwrap_or_default();
        let found = if is_url {
            let name = target.rsplit('/').next().unwrap_or("");
            match self.resolver.resolve(&from, name) {
                Ok(f) if !name.is_empty() => Some(f),
                _ => {
                    self.warning(
                        l,
                        format!("include of URL `{target}` skipped: c4forge works offline and only has the C4-PlantUML library built in"),
                    );
                    return;
                }
            }
        } else {
            match self.resolver.resolve(&from, &target) {
                Ok(f) => Some(f),
                Err(e) => {
                    self.error(l, format!("cannot include `{target}`: {e}"));
                    return;
                }
            }
        };
        let Some(file) = found else { return };
        if self.include_stack.contains(&file.path) {
            self.error(l, format!("include cycle: `{}` includes itself", file.path));
            return;
        }
        if self.include_stack.len() > MAX_INCLUDE_DEPTH {
            self.error(
                l,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"),
            );
            return;
        }
        if once && !self.once.insert(file.path.clone()) {
            return;
        }
        self.once.insert(file.path.clone());
        let idx = match self.files.iter().position(|p| *p == file.path) {
            Some(i) => i,
            None => {
                self.files.push(file.path.clone());
                self.file_names.push(Rc::from(file.path.as_str()));
                self.loaded.push(file.clone());
                self.files.len() - 1
            }
        };
        let lines = lexer::logical_lines(&file.text, idx);
        let lines = first_block(lines);
        if self.budget.included.insert(file.path.clone()) {
            // counted once per parse: including a file in a loop, or in
            // every diagram, must not grow the budgets every time
            self.add_budget(&lines);
        }
        self.include_stack.push(file.path.clone());
        self.run(&lines);
        self.include_stack.pop();
    }

    /// `text` with `!define`d names replaced (borrowed when none occurs).
    fn apply_defines<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for (name, value) in &self.defines {
            if value.contains(name.as_str()) || !out.contains(name.as_str()) {
                continue;
            }
            out = Cow::Owned(replace_word(&out, name, value));
        }
        out
    }

    fn statement(&mut self, l: &SrcLine<'_>) {
        let text = self.apply_defines(&l.text);
        let t = lexer::trim(&text);
        if t.is_empty() {
            return;
        }
        if let Some(skip) = self.skip.take() {
            self.skipped_line(skip, t);
            return;
        }
        // every keyword below starts with one of these (a cheap filter for
        // the common macro-call line)
        let keyword = matches!(
            t.as_bytes()[0].to_ascii_lowercase(),
            b'<' | b'n' | b'r' | b'h' | b'l' | b't'
        );
        if keyword && self.keyword_line(t, l) {
            return;
        }
        if t.starts_with('}') {
            let loc = self.loc_of(l, l.first_col());
            self.c4.close(&loc, self.d);
            return;
        }
        self.call_line(&text, t, l);
    }

    /// Lines starting with a keyword that opens a skipped block (`<style>`,
    /// `note`, `legend`, `ref over`) or sets the title; true when `t` (the
    /// trimmed, non-empty line) was one.
    fn keyword_line(&mut self, t: &str, l: &SrcLine<'_>) -> bool {
        // case-insensitive keyword checks without lowercasing the line
        // (`to_ascii_lowercase` only changes ASCII letters)
        if starts_with_ci(t, "<style") {
            if !t.to_ascii_lowercase().contains("</style>") {
                self.skip = Some(Skip::Until(&["</style>"], l.line, l.file));
            }
            return true;
        }
        // `t` is trimmed: its first word ends at the first blank
        let first_is = |w: &str| {
            starts_with_ci(t, w) && t[w.len()..].chars().next().is_none_or(char::is_whitespace)
        };
        // `note left of x : text` and `note "text" as N` are one-line forms
        if (first_is("note") || first_is("rnote") || first_is("hnote"))
            && !t.contains(':')
            && !t.contains('"')
            && !t.ends_with('{')
        {
            self.skip = Some(Skip::Until(
                &["endnote", "endrnote", "endhnote"],
                l.line,
                l.file,
            ));
            return true;
        }
        if first_is("legend") && !t.contains(':') {
            self.skip = Some(Skip::Until(&["endlegend"], l.line, l.file));
            return true;
        }
        if starts_with_ci(t, "ref over") && !t.contains(':') {
            self.skip = Some(Skip::Until(&["endref"], l.line, l.file));
            return true;
        }
        if first_is("title") {
            let rest = t[5..].trim();
            if rest.is_empty() {
                self.skip = Some(Skip::Title(Vec::new()));
            } else {
                let v = expr::substitute(rest, self, true);
                self.set_title(v);
            }
            return true;
        }
        false
    }

    /// A line inside a skipped block (`skip` was taken from `self.skip`;
    /// it is put back unless the line ends the block).
    fn skipped_line(&mut self, skip: Skip, t: &str) {
        let squashed: String = t.to_ascii_lowercase().split_whitespace().collect();
        match skip {
            Skip::Until(ends, at, f) => {
                if !ends.contains(&squashed.as_str()) {
                    self.skip = Some(Skip::Until(ends, at, f));
                }
            }
            Skip::Title(mut v) => {
                if squashed == "endtitle" {
                    self.set_title_lines(v);
                } else {
                    // charged as it comes: a title block inside a loop grows
                    self.c4.text_bytes += t.len() + TITLE_LINE_COST;
                    v.push(t.to_string());
                    self.skip = Some(Skip::Title(v));
                }
            }
        }
    }

    /// Sets the diagram title, keeping the text budget up to date.
    fn set_title(&mut self, t: String) {
        self.c4.text_bytes += t.len();
        if let Some(old) = self.c4.diagram.title.replace(t) {
            self.c4.text_bytes = self.c4.text_bytes.saturating_sub(old.len());
        }
    }

    /// Sets the title from a `title ... end title` block's lines (charged
    /// to the text budget when they were read).
    fn set_title_lines(&mut self, lines: Vec<String>) {
        let charged: usize = lines.iter().map(|l| l.len() + TITLE_LINE_COST).sum();
        self.c4.text_bytes = self.c4.text_bytes.saturating_sub(charged);
        self.set_title(lines.join("\n"));
    }

    /// A statement line that may be a macro call (`text` after `!define`
    /// replacement, `t` the same trimmed).
    fn call_line(&mut self, text: &str, t: &str, l: &SrcLine<'_>) {
        let buf = lexer::reuse_args(std::mem::take(&mut self.args_pool));
        match lexer::parse_call_in(text, buf) {
            CallParse::Call(c) => {
                let col = u32::try_from(c.offset + 1).unwrap_or(1);
                let loc = self.loc_of(l, col);
                self.exec_call(&c, &loc);
                self.args_pool = lexer::reuse_args(c.args);
            }
            CallParse::Unclosed { name, .. } => {
                let loc = self.loc_of(l, l.first_col());
                if self.is_callable(name) {
                    self.d
                        .error(&loc, format!("call to `{name}` is missing its closing `)`"));
                }
            }
            CallParse::NotACall => {
                let loc = self.loc_of(l, l.first_col());
                if t == "{" {
                    self.d.error(
                        &loc,
                        "`{` must be on the same line as the boundary it opens".into(),
                    );
                    self.c4.open_group(&loc);
                } else if t.ends_with('{') {
                    self.c4.open_group(&loc);
                } else if let Some(arrow) = lexer::raw_arrow(t)
                    && self.c4.is_alias(arrow.from)
                    && self.c4.is_alias(arrow.to)
                {
                    // an arrow between C4 items is drawn like a `Rel`: with
                    // a label it is read as one (PlantUML's own output cannot
                    // tell them apart); without, it is left out, and said so
                    if arrow.hidden {
                        // layout only, like `Lay_*`
                    } else if arrow.label.is_some() {
                        self.c4.raw_arrow(&arrow, &loc);
                    } else {
                        let (a, b) = (arrow.from, arrow.to);
                        self.d.warning(
                            &loc,
                            format!("raw PlantUML arrow `{a}` -> `{b}` has no label and is not in the model; use `Rel({a}, {b}, \"label\")`"),
                        );
                    }
                } else if t.chars().all(is_ident_char) && c4::lookup(t, all_libs(), 0).is_some() {
                    // `LAYOUT_LEFT_RIGHT`: a `!define` in C4-PlantUML 1.0, a
                    // procedure since, so PlantUML rejects the bare name
                    self.d.warning(
                        &loc,
                        format!("`{t}` without `()` is ignored: C4-PlantUML 2 defines it as a procedure (PlantUML rejects the bare name); write `{t}()`"),
                    );
                }
            }
        }
    }

    fn is_callable(&self, name: &str) -> bool {
        self.procs.contains_key(name)
            || c4::lookup(name, all_libs(), 0).is_some()
            || c4::is_function(name, all_libs())
    }

    /// The C4 macros are PlantUML `!unquoted procedure`s: an argument is
    /// one quoted string or free text, never an expression, and PlantUML
    /// rejects one that opens a quote and goes on after it closes
    /// (`"a" + "b"`, `"say \"hi\""`: its strings have no escapes).
    fn check_unquoted_args(&mut self, name: &str, raw: &[(&str, usize)], loc: &Loc) {
        for &(a, off) in raw {
            let v = lexer::keyword_arg(a).map_or(a, |(_, v)| v);
            let v = lexer::trim(v);
            let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            let Some(close) = v[1..].find(q) else {
                continue;
            };
            if close + 2 < v.len() {
                let col = u32::try_from(off + 1).unwrap_or(loc.column);
                let at = Loc {
                    column: col,
                    ..loc.clone()
                };
                self.d.error(
                    &at,
                    format!(
                        "argument `{v}` of `{name}` goes on after its closing quote: C4 macros take a quoted string or plain text, not an expression, and PlantUML strings have no `\\{q}` escape"
                    ),
                );
            }
        }
    }

    /// Evaluates call arguments: as expressions, or with `unquoted` (the
    /// callee is a C4 macro, an `!unquoted procedure`) as text, see
    /// [`expr::unquoted_arg`].
    fn eval_args(&mut self, raw: &[(&str, usize)], unquoted: bool) -> Vec<(Option<String>, Value)> {
        let mut out = std::mem::take(&mut self.eval_pool);
        out.clear();
        out.reserve(raw.len());
        for &(a, _) in raw {
            let (k, v) = match lexer::keyword_arg(a) {
                Some((k, v)) => (Some(k.to_string()), v),
                None => (None, a),
            };
            if unquoted {
                let val = expr::unquoted_arg(v, self);
                out.push((k, val));
                continue;
            }
            let val = match expr::eval_arg(v, self) {
                Ok(x) => x,
                Err(e) => {
                    let loc = self.loc.clone();
                    self.d
                        .warning(&loc, format!("argument `{v}`: {e}; used as text"));
                    Value::Str(Text::from(lexer::unquote_whole(v).unwrap_or(v)))
                }
            };
            out.push((k, val));
        }
        out
    }

    fn exec_call(&mut self, c: &lexer::Call<'_>, loc: &Loc) {
        self.loc = loc.clone();
        self.c4.arg_cols.clear();
        self.c4.arg_cols.extend(
            c.args
                .iter()
                .map(|(_, off)| u32::try_from(off + 1).unwrap_or(loc.column)),
        );
        let brace = c.rest.starts_with('{') && !c.rest.contains('}');
        let name = c.name;
        if self.procs.contains_key(name) {
            let args = self.eval_args(&c.args, false);
            self.c4.pending_brace = brace;
            if let Some(p) = self.find_proc(name, &args) {
                self.call_user(name, p, args);
            }
            if std::mem::take(&mut self.c4.pending_brace) {
                self.c4.open_group(loc);
            }
            return;
        }
        let nargs = c.args.len();
        let libs = self.c4.libs;
        let (m, libs_ok) = match c4::lookup(name, libs, nargs) {
            Some(m) => (Some(m), true),
            None => (c4::lookup(name, fallback_libs(libs), nargs), false),
        };
        if let Some(m) = m {
            if !libs_ok && self.warned_libs.insert(name.to_string()) {
                self.d.error(
                    loc,
                    format!(
                        "`{name}` is not defined: include the C4-PlantUML file that defines it (e.g. `!include <C4/{}>`)",
                        needed_lib(name)
                    ),
                );
            }
            if !matches!(name, "setIndex" | "increment") {
                self.check_unquoted_args(name, &c.args, loc);
            }
            // `setIndex`/`increment` are plain procedures: expressions
            let unquoted = !matches!(name, "setIndex" | "increment");
            let mut args = self.eval_args(&c.args, unquoted);
            let bound = self.c4.bind(name, &m, &mut args, loc, self.d);
            // `bind` emptied it: its buffer serves the next call
            self.eval_pool = args;
            if let Some(b) = bound {
                if self.item_count() >= self.max_items {
                    if !self.stopped {
                        let max = self.max_items;
                        self.d.error(
                            loc,
                            format!("more than {max} diagram items (the budget: {MODEL_ITEMS_BASE} shared by the diagrams of the upload, plus {MODEL_ITEMS_PER_LINE} per source line); the rest is ignored"),
                        );
                    }
                    self.stopped = true;
                    return;
                }
                let saved = self.c4.libs;
                if !libs_ok {
                    self.c4.libs = fallback_libs(saved);
                }
                self.c4.run(name, &m, b, brace, loc, self.d);
                if !libs_ok {
                    self.c4.libs = saved;
                }
            } else if brace {
                self.c4.open_group(loc);
            }
            return;
        }
        if self.has_function(name) {
            let args = self.eval_args(&c.args, false);
            let _ = self.call(name, args);
            return;
        }
        if brace {
            self.c4.open_group(loc);
        }
        if name.starts_with('$')
            || name.starts_with('%')
            || name.chars().next().is_some_and(|ch| ch.is_uppercase())
            || self.c4.libs.base
        {
            let hint = self
                .suggest(name)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            self.d.warning(
                loc,
                format!("unknown macro `{name}`: the line is ignored{hint}"),
            );
        }
    }

    /// [`Interp::suggest_uncached`], remembered per name while the known
    /// names stay the same: an unknown macro in a loop would otherwise cost
    /// a hundred edit distances on every pass.
    fn suggest(&mut self, name: &str) -> Option<String> {
        let key = (self.c4.libs, self.procs_defined);
        if self.suggestions.0 != key {
            self.suggestions = (key, HashMap::new());
        }
        if let Some(s) = self.suggestions.1.get(name) {
            return s.clone();
        }
        let s = self.suggest_uncached(name);
        if self.suggestions.1.len() < MAX_SUGGESTIONS {
            self.suggestions.1.insert(name.to_string(), s.clone());
        }
        s
    }

    /// The closest known macro or procedure name, for typos.
    fn suggest_uncached(&self, name: &str) -> Option<String> {
        let libs = fallback_libs(self.c4.libs);
        c4::MACRO_NAMES
            .iter()
            .copied()
            .filter(|n| c4::lookup(n, libs, 0).is_some())
            .map(str::to_string)
            .chain(self.procs.keys().cloned())
            .map(|n| (lexer::edit_distance(name, &n), n))
            .filter(|(dist, n)| *dist <= 2 && *dist < n.chars().count())
            .min()
            .map(|x| x.1)
    }

    fn item_count(&self) -> usize {
        let d = &self.c4.diagram;
        d.elements.len() + d.boundaries.len() + d.relationships.len()
    }

    fn builtin(&mut self, name: &str, args: &[(Option<String>, Value)]) -> Result<Value, String> {
        let s = |i: usize| args.get(i).map(|a| a.1.text()).unwrap_or_default();
        let n = |i: usize| args.get(i).and_then(|a| a.1.int()).unwrap_or(0);
        let b = |x: bool| Value::Int(i64::from(x));
        Ok(match name {
            "%true" => Value::Int(1),
            "%false" => Value::Int(0),
            "%not" => b(!args.first().is_some_and(|a| a.1.truthy())),
            "%boolval" => b(args.first().is_some_and(|a| a.1.truthy())),
            "%strlen" => Value::Int(i64::try_from(s(0).chars().count()).unwrap_or(0)),
            "%substr" => {
                let text: Vec<char> = s(0).chars().collect();
                let start = usize::try_from(n(1)).unwrap_or(0).min(text.len());
                let len = if args.len() > 2 {
                    usize::try_from(n(2)).unwrap_or(0)
                } else {
                    text.len()
                };
                Value::Str(text[start..].iter().take(len).collect())
            }
            "%strpos" => {
                let hay = s(0);
                match hay.find(&s(1)) {
                    Some(p) => Value::Int(i64::try_from(hay[..p].chars().count()).unwrap_or(-1)),
                    None => Value::Int(-1),
                }
            }
            "%intval" => Value::Int(s(0).trim().parse().unwrap_or(0)),
            "%string" => Value::Str(s(0).into()),
            "%lower" => Value::Str(s(0).to_lowercase().into()),
            "%upper" => Value::Str(s(0).to_uppercase().into()),
            "%variable_exists" => {
                let v = s(0);
                b(self.var(&v).is_some() || self.defines.iter().any(|(d, _)| *d == v))
            }
            "%get_variable_value" => {
                let v = s(0);
                self.var(&v)
                    .or_else(|| {
                        self.defines
                            .iter()
                            .find(|(d, _)| *d == v)
                            .map(|(_, x)| Value::Str(x.clone().into()))
                    })
                    .unwrap_or(Value::Str(Text::default()))
            }
            "%set_variable_value" => {
                let v = args
                    .get(1)
                    .map(|a| a.1.clone())
                    .unwrap_or(Value::Str(Text::default()));
                let k = s(0);
                self.set_var(&k, v, Some(true));
                Value::Str(Text::default())
            }
            "%function_exists" => {
                let f = s(0);
                b(self.has_function(&f) || c4::lookup(&f, self.c4.libs, 0).is_some())
            }
            "%newline" | "%breakline" => Value::Str("\n".into()),
            "%chr" => Value::Str(
                (u32::try_from(n(0))
                    .ok()
                    .and_then(char::from_u32)
                    .map(String::from)
                    .unwrap_or_default())
                .into(),
            ),
            "%ord" => Value::Int(
                s(0).chars()
                    .next()
                    .map(|c| i64::from(u32::from(c)))
                    .unwrap_or(0),
            ),
            "%version" => Value::Str("1.2026.8".into()),
            "%dirpath" => {
                let f = self.include_stack.last().cloned().unwrap_or_default();
                Value::Str(
                    (f.rsplit_once('/')
                        .map(|x| x.0.to_string())
                        .unwrap_or_default())
                    .into(),
                )
            }
            "%filename" => {
                let f = self.include_stack.last().cloned().unwrap_or_default();
                Value::Str(Text::from(f.rsplit('/').next().unwrap_or("")))
            }
            "%darken" | "%lighten" | "%reverse_color" | "%reverse_hsluv_color" => {
                Value::Str(s(0).into())
            }
            "%is_dark" => b(false),
            "%is_light" => b(true),
            "%splitstr" | "%splitstr_regex" => {
                let sep = s(1);
                let text = s(0);
                let parts: Vec<String> = if sep.is_empty() {
                    vec![text]
                } else {
                    text.split(sep.as_str())
                        .map(|p| format!("\"{p}\""))
                        .collect()
                };
                Value::Str(format!("[{}]", parts.join(",")).into())
            }
            "%size" => Value::Int(i64::try_from(s(0).chars().count()).unwrap_or(0)),
            "%date" | "%getenv" | "%load_json" | "%random" | "%feature" | "%now" | "%dirname" => {
                Value::Str(Text::default())
            }
            "%call_user_func" => {
                let f = s(0);
                let rest = args.get(1..).map(<[_]>::to_vec).unwrap_or_default();
                return self.call(&f, rest);
            }
            _ => return Err(format!("unknown builtin `{name}`")),
        })
    }
}

const BUILTINS: &[&str] = &[
    "%true",
    "%false",
    "%not",
    "%boolval",
    "%strlen",
    "%substr",
    "%strpos",
    "%intval",
    "%string",
    "%lower",
    "%upper",
    "%variable_exists",
    "%get_variable_value",
    "%set_variable_value",
    "%function_exists",
    "%newline",
    "%breakline",
    "%chr",
    "%ord",
    "%version",
    "%dirpath",
    "%filename",
    "%darken",
    "%lighten",
    "%reverse_color",
    "%reverse_hsluv_color",
    "%is_dark",
    "%is_light",
    "%splitstr",
    "%splitstr_regex",
    "%size",
    "%date",
    "%getenv",
    "%load_json",
    "%random",
    "%feature",
    "%now",
    "%dirname",
    "%call_user_func",
];

impl Host for Interp<'_> {
    fn var(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.scopes.last().and_then(|s| s.get(name)) {
            return Some(v.clone());
        }
        if let Some(v) = self.globals.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = self.c4.index_var(name) {
            return Some(v);
        }
        if !name.starts_with('$') {
            return self
                .defines
                .iter()
                .find(|(d, _)| d == name)
                .map(|(_, v)| Value::Str(v.clone().into()));
        }
        None
    }

    fn has_function(&self, name: &str) -> bool {
        BUILTINS.contains(&name)
            || self
                .procs
                .get(name)
                .is_some_and(|l| l.iter().any(|p| p.is_function))
            || c4::is_function(name, self.c4.libs)
    }

    fn call(&mut self, name: &str, args: Vec<(Option<String>, Value)>) -> Result<Value, String> {
        if self.stopped {
            return Ok(Value::Str(Text::default()));
        }
        if name.starts_with('%') {
            let v = self.builtin(name, &args)?;
            return Ok(cap(v));
        }
        if self.procs.contains_key(name) {
            if let Some(p) = self.find_proc(name, &args) {
                return Ok(cap(self.call_user(name, p, args)));
            }
            return Err(format!("no definition of `{name}` takes these arguments"));
        }
        if c4::is_function(name, self.c4.libs) {
            let loc = self.loc.clone();
            return Ok(self.c4.function(name, &args, &loc, self.d));
        }
        Err(format!("unknown function `{name}`"))
    }
}

fn cap(v: Value) -> Value {
    match v {
        Value::Str(s) if s.len() > MAX_VALUE_LEN => {
            Value::Str(Text::from(&s[..floor(&s, MAX_VALUE_LEN)]))
        }
        v => v,
    }
}

/// Largest char boundary at or below `n`.
pub(crate) fn floor(s: &str, n: usize) -> usize {
    let mut n = n.min(s.len());
    while n > 0 && !s.is_char_boundary(n) {
        n -= 1;
    }
    n
}

fn all_libs() -> Libs {
    let mut l = Libs::default();
    l.load("C4_Deployment");
    l.load("C4_Component");
    l
}

/// Libraries assumed when a macro is used without its include.
fn fallback_libs(cur: Libs) -> Libs {
    let mut l = all_libs();
    l.dynamic = cur.dynamic;
    l.dynamic_rel = cur.dynamic_rel;
    l.sequence = cur.sequence;
    l
}

fn needed_lib(name: &str) -> &'static str {
    if name.starts_with("Component") {
        "C4_Component"
    } else if name.starts_with("Container") {
        "C4_Container"
    } else if name.contains("Node") {
        "C4_Deployment"
    } else {
        "C4_Context"
    }
}

/// Replaces whole-word occurrences of `name` by `value`.
fn replace_word(text: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(p) = rest.find(name) {
        let before = rest[..p].chars().next_back().or(prev);
        let after = rest[p + name.len()..].chars().next();
        out.push_str(&rest[..p]);
        let word_start = before.is_none_or(|c| !(is_ident_char(c) || c == '$'));
        let word_end = after.is_none_or(|c| !is_ident_char(c));
        if word_start && word_end {
            out.push_str(value);
        } else {
            out.push_str(name);
        }
        prev = name.chars().next_back();
        rest = &rest[p + name.len()..];
        if out.len() > MAX_VALUE_LEN {
            break;
        }
    }
    out.push_str(rest);
    out
}

/// The lines of the first `@startuml ... @enduml` block, or all lines.
pub(crate) fn first_block(lines: Vec<SrcLine<'_>>) -> Vec<SrcLine<'_>> {
    let start = lines
        .iter()
        .position(|l| starts_with_ci(lexer::trim_start(&l.text), "@startuml"));
    let Some(s) = start else { return lines };
    let mut out = Vec::new();
    for l in lines.into_iter().skip(s + 1) {
        if starts_with_ci(lexer::trim_start(&l.text), "@enduml") {
            break;
        }
        out.push(l);
    }
    out
}
