//! The `%` builtin functions of the PlantUML preprocessor, and the [`Host`] the expression
//! evaluator calls back into (variables and function calls).

use super::*;

impl<'a> Interp<'a> {
    pub(super) fn builtin(
        &mut self,
        name: &str,
        args: &[(Option<String>, Value)],
    ) -> Result<Value, String> {
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
