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

mod builtins;
mod calls;
mod include;
mod procs;

use crate::bounds::{MAX_VALUE_LEN, floor};
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

    fn item_count(&self) -> usize {
        let d = &self.c4.diagram;
        d.elements.len() + d.boundaries.len() + d.relationships.len()
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
