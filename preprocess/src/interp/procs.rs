//! User definitions: variables (`!$x = ...`), `!define` macros, `!procedure`/`!function`
//! definitions and their calls, and `!while`/`!foreach` loops.

use super::*;

impl<'a> Interp<'a> {
    /// `$x = v`, `$x ?= v` (optionally forced global/local).
    pub(super) fn assign(&mut self, text: &str, l: &SrcLine<'_>, scope: Option<bool>) {
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

    pub(super) fn set_var(&mut self, name: &str, v: Value, scope: Option<bool>) {
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
    pub(super) fn define_macro(
        &mut self,
        header: &str,
        long_body: &[SrcLine<'_>],
        l: &SrcLine<'_>,
    ) {
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
    pub(super) fn add_proc(&mut self, name: &str, p: UserProc) {
        self.procs_defined += 1;
        let list = self.procs.entry(name.to_string()).or_default();
        list.retain(|q| q.params.len() != p.params.len());
        list.push(Rc::new(p));
    }

    pub(super) fn define_proc(&mut self, header: &str, body: &[SrcLine<'_>], l: &SrcLine<'_>) {
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

    pub(super) fn find_proc(
        &self,
        name: &str,
        args: &[(Option<String>, Value)],
    ) -> Option<Rc<UserProc>> {
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

    pub(super) fn call_user(
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

    pub(super) fn run_while(&mut self, cond: &str, body: &[SrcLine<'_>], l: &SrcLine<'_>) {
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

    pub(super) fn run_foreach(&mut self, spec: &str, body: &[SrcLine<'_>], l: &SrcLine<'_>) {
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
}
