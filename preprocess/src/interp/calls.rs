//! Call lines: a statement that calls a C4 macro or a user procedure, its arguments evaluated and
//! bound, and "did you mean" suggestions for unknown names.

use super::*;

impl<'a> Interp<'a> {
    /// A statement line that may be a macro call (`text` after `!define`
    /// replacement, `t` the same trimmed).
    pub(super) fn call_line(&mut self, text: &str, t: &str, l: &SrcLine<'_>) {
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

    pub(super) fn is_callable(&self, name: &str) -> bool {
        self.procs.contains_key(name)
            || c4::lookup(name, all_libs(), 0).is_some()
            || c4::is_function(name, all_libs())
    }

    /// The C4 macros are PlantUML `!unquoted procedure`s: an argument is
    /// one quoted string or free text, never an expression, and PlantUML
    /// rejects one that opens a quote and goes on after it closes
    /// (`"a" + "b"`, `"say \"hi\""`: its strings have no escapes).
    pub(super) fn check_unquoted_args(&mut self, name: &str, raw: &[(&str, usize)], loc: &Loc) {
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
    pub(super) fn eval_args(
        &mut self,
        raw: &[(&str, usize)],
        unquoted: bool,
    ) -> Vec<(Option<String>, Value)> {
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

    pub(super) fn exec_call(&mut self, c: &lexer::Call<'_>, loc: &Loc) {
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
    pub(super) fn suggest(&mut self, name: &str) -> Option<String> {
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
    pub(super) fn suggest_uncached(&self, name: &str) -> Option<String> {
        let libs = fallback_libs(self.c4.libs);
        c4::procedure_names()
            .filter(|n| c4::lookup(n, libs, 0).is_some())
            .map(str::to_string)
            .chain(self.procs.keys().cloned())
            .map(|n| (lexer::edit_distance(name, &n), n))
            .filter(|(dist, n)| *dist <= 2 && *dist < n.chars().count())
            .min()
            .map(|x| x.1)
    }
}
