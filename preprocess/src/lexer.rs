//! Lexing: raw text to logical lines, and call syntax to arguments.
//!
//! PlantUML is line oriented, so the lexer's unit is the *logical line*: one
//! physical line after removing `/' ... '/` block comments and joining
//! trailing-`\` continuations, with the position of its first character kept
//! for diagnostics. Whole-line `'` comments are dropped here too.

/// One logical source line with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrcLine {
    /// The text, without the line terminator, leading whitespace kept.
    pub text: String,
    /// Index of the file in the interpreter's file table.
    pub file: usize,
    /// 1-based physical line where the logical line starts.
    pub line: u32,
}

impl SrcLine {
    /// 1-based column of the first non-blank character (in characters).
    pub fn first_col(&self) -> u32 {
        let n = self.text.chars().take_while(|c| c.is_whitespace()).count();
        u32::try_from(n).unwrap_or(u32::MAX - 1) + 1
    }
}

/// Splits `text` into logical lines for file number `file`.
pub(crate) fn logical_lines(text: &str, file: usize) -> Vec<SrcLine> {
    let mut out: Vec<SrcLine> = Vec::new();
    let mut in_block = false;
    let mut pending: Option<SrcLine> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // remove block comments, keeping columns of the remaining text stable
        let mut kept = String::with_capacity(raw.len());
        let mut rest = raw;
        loop {
            if in_block {
                match rest.find("'/") {
                    Some(p) => {
                        // keep a blank for every removed char so columns stay right
                        let skipped = &rest[..p + 2];
                        kept.extend(std::iter::repeat_n(' ', skipped.chars().count()));
                        rest = &rest[p + 2..];
                        in_block = false;
                    }
                    None => {
                        rest = "";
                        break;
                    }
                }
            } else {
                match find_block_open(rest) {
                    Some(p) => {
                        kept.push_str(&rest[..p]);
                        kept.push_str("  ");
                        rest = &rest[p + 2..];
                        in_block = true;
                    }
                    None => {
                        kept.push_str(rest);
                        break;
                    }
                }
            }
        }
        let _ = rest;
        let is_comment = kept.trim_start().starts_with('\'');
        let (body, continues) = match kept.trim_end().strip_suffix('\\') {
            Some(b) if !is_comment => (b.to_string(), true),
            _ => (kept, false),
        };
        if let Some(mut p) = pending.take() {
            p.text.push_str(body.trim_start());
            if continues {
                pending = Some(p);
            } else {
                out.push(p);
            }
            continue;
        }
        if is_comment {
            continue;
        }
        let l = SrcLine {
            text: body,
            file,
            line: line_no,
        };
        if continues {
            pending = Some(l);
        } else {
            out.push(l);
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

/// Where a `/'` block comment opens, outside double quotes.
fn find_block_open(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut in_q = false;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'"' {
            in_q = !in_q;
        } else if !in_q && b[i] == b'/' && b[i + 1] == b'\'' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// A parsed `Name(args...) rest` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// Callee name (may start with `$` or `%`).
    pub name: String,
    /// Raw argument texts, trimmed, with their char offsets in the line.
    pub args: Vec<(String, usize)>,
    /// What follows the closing parenthesis, trimmed.
    pub rest: String,
    /// Char offset of the name in the line.
    pub offset: usize,
}

/// Is `c` a character of a PlantUML identifier?
pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Outcome of trying to read a call from a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallParse {
    /// Not call syntax at all.
    NotACall,
    /// `Name(` without a matching `)`.
    Unclosed {
        /// The callee name.
        name: String,
        /// Char offset of the name.
        offset: usize,
    },
    /// A well-formed call.
    Call(Call),
}

/// Reads `Name(args) rest` from the start of `line` (leading blanks allowed).
pub(crate) fn parse_call(line: &str) -> CallParse {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let start = i;
    if i < chars.len() && (chars[i] == '$' || chars[i] == '%') {
        i += 1;
    }
    let name_start = i;
    if i >= chars.len() || !(chars[i].is_alphabetic() || chars[i] == '_') {
        return CallParse::NotACall;
    }
    while i < chars.len() && is_ident_char(chars[i]) {
        i += 1;
    }
    let name: String = chars[start..i].iter().collect();
    let _ = name_start;
    let mut j = i;
    while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
        j += 1;
    }
    if j >= chars.len() || chars[j] != '(' {
        return CallParse::NotACall;
    }
    match split_args(&chars, j) {
        Some((args, end)) => {
            let rest: String = chars[end..].iter().collect();
            CallParse::Call(Call {
                name,
                args,
                rest: rest.trim().to_string(),
                offset: start,
            })
        }
        None => CallParse::Unclosed {
            name,
            offset: start,
        },
    }
}

/// Splits the argument list whose `(` is at `open`; returns the trimmed
/// arguments with char offsets and the index just after the matching `)`.
pub(crate) fn split_args(chars: &[char], open: usize) -> Option<(Vec<(String, usize)>, usize)> {
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    let mut cur_off = open + 1;
    let mut i = open + 1;
    let mut last_sig: char = '(';
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            cur.push(c);
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '"' | '\'' if matches!(last_sig, '(' | ',' | '=' | '+') => {
                // a quote opens a string only where a value starts; inside
                // an unquoted word (`techn\nwith break"`) it is literal
                quote = Some(c);
                cur.push(c);
            }
            '(' | '[' => {
                depth += 1;
                cur.push(c);
            }
            ')' | ']' if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            ')' => {
                let keep = !args.is_empty() || !cur.trim().is_empty();
                push_arg(&mut args, &cur, cur_off, keep);
                return Some((args, i + 1));
            }
            ',' if depth == 0 => {
                push_arg(&mut args, &cur, cur_off, true);
                cur.clear();
                cur_off = i + 1;
            }
            _ => cur.push(c),
        }
        if !c.is_whitespace() {
            last_sig = c;
        }
        i += 1;
    }
    None
}

fn push_arg(args: &mut Vec<(String, usize)>, cur: &str, off: usize, keep: bool) {
    if !keep {
        return;
    }
    let lead = cur.chars().take_while(|c| c.is_whitespace()).count();
    args.push((cur.trim().to_string(), off + lead));
}

/// If `arg` is `$name = value` (not `==`), returns the name (without `$`) and value.
pub(crate) fn keyword_arg(arg: &str) -> Option<(String, String)> {
    let rest = arg.strip_prefix('$')?;
    let name_len = rest
        .char_indices()
        .find(|&(_, c)| !is_ident_char(c))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if name_len == 0 {
        return None;
    }
    let after = rest[name_len..].trim_start();
    let value = after.strip_prefix('=')?;
    if value.starts_with('=') {
        return None;
    }
    Some((rest[..name_len].to_string(), value.trim().to_string()))
}

/// If the whole of `s` is one quoted string, its content.
pub(crate) fn unquote_whole(s: &str) -> Option<&str> {
    let t = s.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            let inner = &t[1..t.len() - 1];
            if !inner.contains(q) {
                return Some(inner);
            }
        }
    }
    None
}

/// Levenshtein distance, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_continuations() {
        let l = logical_lines("a\n' c\n/' x\n y '/ b\nc \\\n d\n", 0);
        let t: Vec<_> = l
            .iter()
            .map(|l| (l.text.trim().to_string(), l.line))
            .collect();
        assert_eq!(
            t,
            vec![
                ("a".into(), 1),
                ("".into(), 3),
                ("b".into(), 4),
                ("c d".into(), 5),
                ("".into(), 7)
            ]
        );
    }

    #[test]
    fn calls_split_on_top_level_commas() {
        let CallParse::Call(c) = parse_call(r#"  Rel(a, b, "x, (y)", $techn="t") {"#) else {
            panic!("not a call")
        };
        assert_eq!(c.name, "Rel");
        let a: Vec<_> = c.args.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(a, vec!["a", "b", "\"x, (y)\"", "$techn=\"t\""]);
        assert_eq!(c.rest, "{");
        assert_eq!(
            keyword_arg("$techn = \"t\""),
            Some(("techn".into(), "\"t\"".into()))
        );
        assert_eq!(keyword_arg("$a == 1"), None);
        assert!(matches!(parse_call("Rel(a, b"), CallParse::Unclosed { .. }));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
