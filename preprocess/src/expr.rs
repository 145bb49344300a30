//! Preprocessor expressions: `!if` conditions, `!$x = ...` values, and
//! macro arguments.
//!
//! Expressions are parsed to a small AST first and evaluated afterwards, so
//! a failed parse never runs a side-effecting function such as `Index()`
//! twice. Unquoted macro arguments that are not a plain expression
//! (`Index()-1`, `Mail Component`) are handled by [`substitute`], which
//! replaces calls and variables inside otherwise literal text: that is how
//! PlantUML turns `$index=Index()-1` into the text `4-1`.

use schemas::model::v1::Text;

use crate::lexer::{is_ident_char, split_args};

/// A preprocessor value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// Text.
    Str(Text),
    /// A number (PlantUML integers).
    Int(i64),
}

impl Value {
    /// The value as text.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone().into_string(),
            Value::Int(i) => i.to_string(),
        }
    }

    /// The value as text, without copying a string.
    pub fn into_text(self) -> Text {
        match self {
            Value::Str(s) => s,
            Value::Int(i) => Text::from(i.to_string()),
        }
    }

    /// The value as a number, when it is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
        }
    }

    /// PlantUML truthiness: non-zero numbers and non-empty, non-"false" text.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Int(i) => *i != 0,
            Value::Str(s) => {
                let t = s.trim();
                !(t.is_empty() || t == "0" || t.eq_ignore_ascii_case("false"))
            }
        }
    }
}

/// What an expression needs from its environment.
pub(crate) trait Host {
    /// Value of a variable (`$x`, or a bare name such as `NEW_C4_STYLE`).
    fn var(&self, name: &str) -> Option<Value>;
    /// Whether `name` (including any `$`/`%` prefix) is a callable function.
    fn has_function(&self, name: &str) -> bool;
    /// Calls a function; keyword arguments carry their name without `$`.
    fn call(&mut self, name: &str, args: Vec<(Option<String>, Value)>) -> Result<Value, String>;
}

/// Expression syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// A quoted string.
    Str(Text),
    /// A number.
    Int(i64),
    /// `$x` or a bare word (`bare` = no `$`; unknown bare words are text).
    Var { name: String, bare: bool },
    /// `f(a, $k=b)`.
    Call(String, Vec<(Option<String>, Expr)>),
    /// `!x`, `-x`.
    Unary(char, Box<Expr>),
    /// `a op b`.
    Binary(&'static str, Box<Expr>, Box<Expr>),
}

struct Parser<'a> {
    c: &'a [char],
    i: usize,
    /// Argument mode: only `+` is an operator (so `Index()-1` is not arithmetic).
    arg_mode: bool,
}

const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.c.len() && self.c[self.i].is_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, s: &str) -> bool {
        self.ws();
        let n = s.chars().count();
        if self.i + n <= self.c.len() && self.c[self.i..self.i + n].iter().copied().eq(s.chars()) {
            self.i += n;
            true
        } else {
            false
        }
    }
    fn peek_is(&mut self, s: &str) -> bool {
        let save = self.i;
        let r = self.eat(s);
        self.i = save;
        r
    }

    fn expr(&mut self, d: usize) -> Option<Expr> {
        if d > MAX_DEPTH {
            return None;
        }
        if self.arg_mode {
            return self.additive(d);
        }
        let mut l = self.and(d)?;
        while self.eat("||") {
            let r = self.and(d + 1)?;
            l = Expr::Binary("||", Box::new(l), Box::new(r));
        }
        Some(l)
    }
    fn and(&mut self, d: usize) -> Option<Expr> {
        let mut l = self.cmp(d)?;
        while self.eat("&&") {
            let r = self.cmp(d + 1)?;
            l = Expr::Binary("&&", Box::new(l), Box::new(r));
        }
        Some(l)
    }
    fn cmp(&mut self, d: usize) -> Option<Expr> {
        let l = self.additive(d)?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.eat(op) {
                let r = self.additive(d + 1)?;
                return Some(Expr::Binary(op, Box::new(l), Box::new(r)));
            }
        }
        Some(l)
    }
    fn additive(&mut self, d: usize) -> Option<Expr> {
        let mut l = self.mul(d)?;
        loop {
            if self.eat("+") {
                let r = self.mul(d + 1)?;
                l = Expr::Binary("+", Box::new(l), Box::new(r));
            } else if !self.arg_mode && self.eat("-") {
                let r = self.mul(d + 1)?;
                l = Expr::Binary("-", Box::new(l), Box::new(r));
            } else {
                return Some(l);
            }
        }
    }
    fn mul(&mut self, d: usize) -> Option<Expr> {
        let mut l = self.unary(d)?;
        if self.arg_mode {
            return Some(l);
        }
        loop {
            let op = if self.eat("*") {
                "*"
            } else if self.eat("/") {
                "/"
            } else if self.eat("%") {
                "%"
            } else {
                return Some(l);
            };
            let r = self.unary(d + 1)?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }
    fn unary(&mut self, d: usize) -> Option<Expr> {
        if d > MAX_DEPTH {
            return None;
        }
        if !self.arg_mode {
            if self.peek_is("!=") {
                return None;
            }
            if self.eat("!") {
                return Some(Expr::Unary('!', Box::new(self.unary(d + 1)?)));
            }
            if self.eat("-") {
                return Some(Expr::Unary('-', Box::new(self.unary(d + 1)?)));
            }
        }
        self.primary(d)
    }
    fn primary(&mut self, d: usize) -> Option<Expr> {
        self.ws();
        let c = *self.c.get(self.i)?;
        if c == '"' || c == '\'' {
            let start = self.i + 1;
            let end = self.c[start..].iter().position(|&x| x == c)? + start;
            self.i = end + 1;
            return Some(Expr::Str(self.c[start..end].iter().collect()));
        }
        if c.is_ascii_digit() {
            let start = self.i;
            while self.i < self.c.len() && self.c[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if self.i < self.c.len() && is_ident_char(self.c[self.i]) {
                return None;
            }
            let s: String = self.c[start..self.i].iter().collect();
            return s.parse().ok().map(Expr::Int);
        }
        if c == '(' {
            self.i += 1;
            let e = self.expr(d + 1)?;
            if !self.eat(")") {
                return None;
            }
            return Some(e);
        }
        let start = self.i;
        if c == '$' || c == '%' {
            self.i += 1;
        }
        let id_start = self.i;
        while self.i < self.c.len() && is_ident_char(self.c[self.i]) {
            self.i += 1;
        }
        if self.i == id_start {
            return None;
        }
        let name: String = self.c[start..self.i].iter().collect();
        if self.i < self.c.len() && self.c[self.i] == '(' {
            let (args, end) = split_args(self.c, self.i)?;
            self.i = end;
            let mut out = Vec::new();
            for (a, _) in args {
                let (k, v) = match crate::lexer::keyword_arg(&a) {
                    Some((k, v)) => (Some(k.to_string()), v),
                    None => (None, a.as_str()),
                };
                out.push((k, parse_arg_ast(v, d + 1)));
            }
            return Some(Expr::Call(name, out));
        }
        Some(Expr::Var {
            bare: c != '$',
            name,
        })
    }
}

/// The AST of an argument inside a nested call: an expression, or literal
/// text when it is not one.
fn parse_arg_ast(text: &str, d: usize) -> Expr {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        c: &chars,
        i: 0,
        arg_mode: false,
    };
    if d <= MAX_DEPTH
        && let Some(e) = p.expr(d)
    {
        p.ws();
        if p.i == chars.len() {
            return e;
        }
    }
    Expr::Str(Text::from(text))
}

/// Parses a complete expression (`arg_mode`: only `+` is an operator).
pub(crate) fn parse(text: &str, arg_mode: bool) -> Option<Expr> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        c: &chars,
        i: 0,
        arg_mode,
    };
    let e = p.expr(0)?;
    p.ws();
    (p.i == chars.len()).then_some(e)
}

/// Evaluates an AST.
pub(crate) fn eval(e: &Expr, h: &mut dyn Host) -> Result<Value, String> {
    Ok(match e {
        Expr::Str(s) => Value::Str(s.clone()),
        Expr::Int(i) => Value::Int(*i),
        Expr::Var { name, bare } => match h.var(name) {
            Some(v) => v,
            None if *bare => Value::Str(name.clone().into()),
            None => return Err(format!("undefined variable `{name}`")),
        },
        Expr::Call(name, args) => {
            let mut vals = Vec::with_capacity(args.len());
            for (k, a) in args {
                vals.push((k.clone(), eval(a, h)?));
            }
            h.call(name, vals)?
        }
        Expr::Unary(op, x) => {
            let v = eval(x, h)?;
            match op {
                '!' => Value::Int(i64::from(!v.truthy())),
                _ => Value::Int(v.int().ok_or("`-` needs a number")?.wrapping_neg()),
            }
        }
        Expr::Binary(op, a, b) => {
            let l = eval(a, h)?;
            match *op {
                "&&" => {
                    if !l.truthy() {
                        return Ok(Value::Int(0));
                    }
                    Value::Int(i64::from(eval(b, h)?.truthy()))
                }
                "||" => {
                    if l.truthy() {
                        return Ok(Value::Int(1));
                    }
                    Value::Int(i64::from(eval(b, h)?.truthy()))
                }
                _ => binary(op, l, eval(b, h)?)?,
            }
        }
    })
}

fn binary(op: &str, l: Value, r: Value) -> Result<Value, String> {
    let both = match (&l, &r) {
        (Value::Int(a), Value::Int(b)) => Some((*a, *b)),
        _ => None,
    };
    Ok(match op {
        "+" => match both {
            Some((a, b)) => Value::Int(a.wrapping_add(b)),
            None => {
                let (a, b) = (l.text(), r.text());
                if a.len() + b.len() > crate::bounds::MAX_VALUE_LEN {
                    return Err("text value too long".into());
                }
                Value::Str((a + &b).into())
            }
        },
        "-" | "*" | "/" | "%" => {
            let (a, b) = match (l.int(), r.int()) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err(format!("`{op}` needs numbers")),
            };
            Value::Int(match op {
                "-" => a.wrapping_sub(b),
                "*" => a.wrapping_mul(b),
                "/" => a.checked_div(b).ok_or("division by zero")?,
                _ => a.checked_rem(b).ok_or("division by zero")?,
            })
        }
        _ => {
            let ord = match both {
                Some((a, b)) => a.cmp(&b),
                None => match (l.int(), r.int(), &l, &r) {
                    (Some(a), Some(b), Value::Int(_), _) | (Some(a), Some(b), _, Value::Int(_)) => {
                        a.cmp(&b)
                    }
                    _ => l.text().cmp(&r.text()),
                },
            };
            let res = match op {
                "==" => ord.is_eq(),
                "!=" => !ord.is_eq(),
                "<" => ord.is_lt(),
                ">" => ord.is_gt(),
                "<=" => ord.is_le(),
                _ => ord.is_ge(),
            };
            Value::Int(i64::from(res))
        }
    })
}

/// Evaluates a complete expression (directive mode: all operators).
pub(crate) fn eval_str(text: &str, h: &mut dyn Host) -> Result<Value, String> {
    match parse(text, false) {
        Some(e) => eval(&e, h),
        None => Err(format!("cannot read expression `{}`", text.trim())),
    }
}

/// Evaluates a macro argument: a plain expression (`"a" + $b`, `Index()`,
/// `word`) when it is one, otherwise text with its calls and variables
/// replaced (`Index()-1` gives `4-1`, `Mail Component` stays as is).
pub(crate) fn eval_arg(text: &str, h: &mut dyn Host) -> Result<Value, String> {
    eval_arg_at(text, h, 0)
}

fn eval_arg_at(text: &str, h: &mut dyn Host, depth: usize) -> Result<Value, String> {
    let t = crate::lexer::trim(text);
    if t.is_empty() {
        return Ok(Value::Str(Text::default()));
    }
    // Fast paths for the two most common argument forms; both give exactly
    // what parsing and evaluating the expression would.
    if let Some(inner) = whole_quoted(t) {
        // `"text"`: a string literal and nothing else
        return Ok(Value::Str(Text::from(inner)));
    }
    if is_bare_word(t) {
        // `word`: a bare name, its value if it is a variable, else the text
        return Ok(h.var(t).unwrap_or_else(|| Value::Str(Text::from(t))));
    }
    match parse(t, true) {
        Some(e) => eval(&e, h),
        None => Ok(Value::Str(substitute_at(t, h, false, depth).into())),
    }
}

/// The content of `t` when it is exactly one quoted string (`"..."` or
/// `'...'` whose first closing quote is its last char), as
/// [`Parser::primary`] reads it.
fn whole_quoted(t: &str) -> Option<&str> {
    let q = *t.as_bytes().first()?;
    if !(q == b'"' || q == b'\'') || t.len() < 2 {
        return None;
    }
    let inner = &t[1..];
    let close = inner.bytes().position(|b| b == q)?;
    (close + 2 == t.len()).then(|| &t[1..t.len() - 1])
}

/// Whether `t` is one bare identifier (not starting with a digit): the
/// parser reads it as `Expr::Var { bare: true }`.
fn is_bare_word(t: &str) -> bool {
    let mut cs = t.chars();
    cs.next()
        .is_some_and(|c| !c.is_ascii_digit() && is_ident_char(c))
        && cs.all(is_ident_char)
}

/// An argument of an `!unquoted procedure` (every C4 macro but
/// `setIndex`/`increment`): text, never an expression. PlantUML replaces
/// `$variables` and function calls in it first, inside quotes too
/// (`"Item $i"`, `c$i`, `"%upper($x)"`, `Index()-1` gives `4-1`), then
/// takes a quoted string's content or the text as it is (`1+2` stays
/// `1+2`, `$x + "e"` is `q + "e"`). A bare name is a variable if one has
/// that name.
pub(crate) fn unquoted_arg(text: &str, h: &mut dyn Host) -> Value {
    let t = crate::lexer::trim(text);
    let special = |s: &str| s.contains(['$', '%', '(']);
    if let Some(inner) = whole_quoted(t)
        && !special(inner)
    {
        return Value::Str(Text::from(inner));
    }
    if is_bare_word(t) {
        return h.var(t).unwrap_or_else(|| Value::Str(Text::from(t)));
    }
    if !special(t) {
        return Value::Str(Text::from(t));
    }
    let s = substitute(t, h, true);
    let s = crate::lexer::trim(&s);
    Value::Str(Text::from(whole_quoted(s).unwrap_or(s)))
}

/// Replaces known function calls and defined variables inside free text.
/// With `in_quotes == false`, quoted parts are copied verbatim.
pub(crate) fn substitute(text: &str, h: &mut dyn Host, in_quotes: bool) -> String {
    substitute_at(text, h, in_quotes, 0)
}

/// A JSON variable's member or element (`$cfg.db`, `$list[0]`,
/// `$cfg.hosts[1].name`): `value` is the variable's text, `c[at..]` what
/// follows its name. The member as text (a string without its quotes) and
/// where the path ends; None when nothing follows or it does not resolve.
fn json_path(value: &str, c: &[char], at: usize) -> Option<(String, usize)> {
    if !matches!(c.get(at), Some('.' | '[')) || !value.trim_start().starts_with(['{', '[']) {
        return None;
    }
    let root: serde_json::Value = serde_json::from_str(value).ok()?;
    let mut node = &root;
    let mut i = at;
    let mut moved = false;
    loop {
        match c.get(i) {
            Some('.') => {
                let start = i + 1;
                let mut e = start;
                while e < c.len() && is_ident_char(c[e]) {
                    e += 1;
                }
                let key: String = c.get(start..e)?.iter().collect();
                match node.get(key.as_str()) {
                    Some(n) if e > start => node = n,
                    _ => break,
                }
                i = e;
            }
            Some('[') => {
                let close = c[i..].iter().position(|x| *x == ']')? + i;
                let inner: String = c[i + 1..close].iter().collect();
                let inner = inner.trim();
                let next = match inner.parse::<usize>() {
                    Ok(n) => node.get(n),
                    Err(_) => node.get(crate::lexer::unquote_whole(inner).unwrap_or(inner)),
                };
                match next {
                    Some(n) => node = n,
                    None => break,
                }
                i = close + 1;
            }
            _ => break,
        }
        moved = true;
    }
    if !moved {
        return None;
    }
    let text = match node {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some((text, i))
}

/// Nesting of calls inside free-text arguments that is still evaluated.
const MAX_TEXT_DEPTH: usize = 8;
/// Longest nested argument that is still evaluated (longer: literal text).
const MAX_NESTED_ARG: usize = 4096;

fn substitute_at(text: &str, h: &mut dyn Host, in_quotes: bool, depth: usize) -> String {
    if depth > MAX_TEXT_DEPTH || (depth > 0 && text.len() > MAX_NESTED_ARG) {
        return text.to_string();
    }
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < c.len() {
        let ch = c[i];
        if !in_quotes {
            if let Some(q) = quote {
                out.push(ch);
                if ch == q {
                    quote = None;
                }
                i += 1;
                continue;
            }
            if ch == '"' {
                quote = Some(ch);
                out.push(ch);
                i += 1;
                continue;
            }
        }
        // a `$variable` or `%function()` is replaced right after other
        // text too (`c$i`, `a%newline()b`), as PlantUML does; a bare name
        // only at a word start
        let prev_ident =
            i > 0 && ch != '$' && ch != '%' && (is_ident_char(c[i - 1]) || c[i - 1] == '$');
        let starts = ch == '$' || ch == '%' || ch.is_alphabetic() || ch == '_';
        if !prev_ident && starts {
            let mut j = i + usize::from(ch == '$' || ch == '%');
            let id_start = j;
            while j < c.len() && is_ident_char(c[j]) {
                j += 1;
            }
            if j > id_start {
                let name: String = c[i..j].iter().collect();
                if j < c.len() && c[j] == '(' && h.has_function(&name) {
                    if let Some((args, end)) = split_args(&c, j) {
                        let mut vals = Vec::new();
                        for (a, _) in args {
                            let (k, v) = match crate::lexer::keyword_arg(&a) {
                                Some((k, v)) => (Some(k.to_string()), v),
                                None => (None, a.as_str()),
                            };
                            let v = eval_arg_at(v, h, depth + 1)
                                .unwrap_or_else(|_| Value::Str(Text::from(v)));
                            vals.push((k, v));
                        }
                        if let Ok(v) = h.call(&name, vals) {
                            out.push_str(&v.text());
                            i = end;
                            continue;
                        }
                    }
                } else if ch == '$'
                    && let Some(v) = h.var(&name)
                {
                    let v = v.text();
                    match json_path(&v, &c, j) {
                        Some((field, end)) => {
                            out.push_str(&field);
                            i = end;
                        }
                        None => {
                            out.push_str(&v);
                            i = j;
                        }
                    }
                    continue;
                }
                out.extend(&c[i..j]);
                i = j;
                continue;
            }
        }
        out.push(ch);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct H(i64);
    impl Host for H {
        fn var(&self, name: &str) -> Option<Value> {
            (name == "$x").then(|| Value::Str("X".into()))
        }
        fn has_function(&self, name: &str) -> bool {
            name == "Index"
        }
        fn call(&mut self, _: &str, _: Vec<(Option<String>, Value)>) -> Result<Value, String> {
            self.0 += 1;
            Ok(Value::Int(self.0))
        }
    }

    #[test]
    fn args_and_conditions() {
        let mut h = H(3);
        assert_eq!(eval_arg("Index()-1", &mut h), Ok(Value::Str("4-1".into())));
        assert_eq!(h.0, 4);
        assert_eq!(
            eval_arg("$x + \" Two\"", &mut h),
            Ok(Value::Str("X Two".into()))
        );
        assert_eq!(
            eval_arg("Mail Component", &mut h),
            Ok(Value::Str("Mail Component".into()))
        );
        assert_eq!(eval_str("($x == \"X\") && !0", &mut h), Ok(Value::Int(1)));
        assert_eq!(eval_str("1 + 2 * 3", &mut h), Ok(Value::Int(7)));
        assert!(eval_str("$nope == 1", &mut h).is_err());
    }
}
