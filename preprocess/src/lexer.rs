//! Lexing: raw text to logical lines, and call syntax to arguments.
//!
//! PlantUML is line oriented, so the lexer's unit is the *logical line*: one
//! physical line after removing `/' ... '/` block comments and joining
//! trailing-`\` continuations, with the position of its first character kept
//! for diagnostics. Whole-line `'` comments are dropped here too.

use std::borrow::Cow;

/// One logical source line with its origin. The text borrows the file's
/// text unless comments or continuations changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrcLine<'a> {
    /// The text, without the line terminator, leading whitespace kept.
    pub text: Cow<'a, str>,
    /// Index of the file in the interpreter's file table.
    pub file: usize,
    /// 1-based physical line where the logical line starts.
    pub line: u32,
}

impl SrcLine<'_> {
    /// 1-based column of the first non-blank character (in characters).
    pub fn first_col(&self) -> u32 {
        let n = self.text.chars().take_while(|c| c.is_whitespace()).count();
        u32::try_from(n).unwrap_or(u32::MAX - 1) + 1
    }

    /// A copy that owns its text (for procedure bodies, which outlive the
    /// file they were read from).
    pub fn to_owned_line(&self) -> SrcLine<'static> {
        SrcLine {
            text: Cow::Owned(self.text.clone().into_owned()),
            file: self.file,
            line: self.line,
        }
    }
}

/// U+2013, which PlantUML's reader turns into an ASCII `-` everywhere
/// (labels, names, titles), before any other processing.
const EN_DASH: char = '\u{2013}';

/// Splits `text` into logical lines for file number `file`.
pub(crate) fn logical_lines(text: &str, file: usize) -> Vec<SrcLine<'_>> {
    let mut out: Vec<SrcLine<'_>> = Vec::new();
    let mut in_block = false;
    let mut pending: Option<SrcLine<'_>> = None;
    // PlantUML reads an en dash as `-` (one character for another, so
    // columns stay); one scan of the file spares the common file a per-line test
    let has_en_dash = text.contains(EN_DASH);
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let dashed = has_en_dash && raw.contains(EN_DASH);
        if !dashed && !in_block && pending.is_none() && !has_quote_or_backslash(raw.as_bytes()) {
            // the common line: no comment of any kind, no continuation
            out.push(SrcLine {
                text: Cow::Borrowed(raw),
                file,
                line: line_no,
            });
            continue;
        }
        let raw: Cow<'_, str> = if dashed {
            Cow::Owned(raw.replace(EN_DASH, "-"))
        } else {
            Cow::Borrowed(raw)
        };
        let kept: Cow<'_, str> = if !in_block && find_block_open(&raw).is_none() {
            // no block comment on this line: the text as it is
            raw
        } else {
            Cow::Owned(strip_block_comments(&raw, &mut in_block))
        };
        let is_comment = kept.trim_start().starts_with('\'');
        let (body, continues) = match kept.trim_end().strip_suffix('\\') {
            Some(b) if !is_comment => (Cow::Owned(b.to_string()), true),
            _ => (kept, false),
        };
        if let Some(mut p) = pending.take() {
            p.text.to_mut().push_str(body.trim_start());
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

/// A raw PlantUML arrow line, `from -arrow-> to <<tag>> : label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawArrow<'a> {
    /// The left end.
    pub from: &'a str,
    /// The arrow itself (`-->`, `<-[#red]-`, `-up->>`).
    pub arrow: &'a str,
    /// The right end.
    pub to: &'a str,
    /// `<<stereotype>>`s between the right end and the label.
    pub tags: Vec<&'a str>,
    /// The text after `:`, if any.
    pub label: Option<&'a str>,
    /// `[hidden]` in the arrow: layout only.
    pub hidden: bool,
}

/// Reads `t` (a trimmed statement) as a raw arrow: two names, an arrow of
/// PlantUML's arrow characters between them (brackets hold colours and
/// styles), stereotypes, then an optional `: label`. Names stop at
/// whitespace and `:"[]{}` (the right one also at `<`), as in PlantUML's
/// preprocessed output.
pub(crate) fn raw_arrow(t: &str) -> Option<RawArrow<'_>> {
    let name_end = |s: &str, stops: &str| {
        s.find(|c: char| c.is_whitespace() || stops.contains(c))
            .unwrap_or(s.len())
    };
    let n = name_end(t, ":\"[]{}");
    let (from, rest) = t.split_at(n);
    let rest = trim_start(rest);
    if from.is_empty() || rest.len() == t.len() - n {
        return None; // no name, or no blank after it
    }
    let a = rest.find(char::is_whitespace)?;
    let (arrow, rest) = rest.split_at(a);
    let mut core = String::new();
    let mut depth = 0usize;
    for c in arrow.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1)?,
            _ if depth > 0 => {}
            '-' | '.' | '<' | '>' | 'o' | 'x' | '*' | '|' | '#' | '/' | '\\' => core.push(c),
            c if c.is_ascii_alphabetic() => core.push(c),
            _ => return None,
        }
    }
    let is_arrow = depth == 0 && (core.contains('-') || core.contains('.'));
    if !is_arrow {
        return None;
    }
    let rest = trim_start(rest);
    let n = name_end(rest, ":\"<[]{}");
    let (to, mut rest) = rest.split_at(n);
    if to.is_empty() {
        return None;
    }
    let mut tags = Vec::new();
    loop {
        rest = trim_start(rest);
        let Some(r) = rest.strip_prefix("<<") else {
            break;
        };
        let e = r.find(">>")?;
        tags.push(trim(&r[..e]));
        rest = &r[e + 2..];
    }
    let label = if rest.is_empty() {
        None
    } else {
        Some(trim(rest.strip_prefix(':')?))
    };
    let hidden = arrow
        .split(['[', ']', ','])
        .any(|w| trim(w).eq_ignore_ascii_case("hidden"));
    Some(RawArrow {
        from,
        arrow,
        to,
        tags,
        label,
        hidden,
    })
}

/// Whether `b` has a `'` (comments) or a `\\` (continuations), eight
/// bytes at a time.
fn has_quote_or_backslash(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // a byte of `x` is zero: the classic "has zero byte" test (exact when
    // used as a yes/no answer for the whole word)
    let has_zero = |x: u64| x.wrapping_sub(LO) & !x & HI != 0;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        if has_zero(x ^ (LO * u64::from(b'\''))) || has_zero(x ^ (LO * u64::from(b'\\'))) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&x| x == b'\'' || x == b'\\')
}

/// `raw` with `/' ... '/` block comments (which may continue from and to
/// other lines: `in_block`) replaced by blanks, so columns stay right.
fn strip_block_comments(raw: &str, in_block: &mut bool) -> String {
    let mut kept = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        if *in_block {
            match rest.find("'/") {
                Some(p) => {
                    // keep a blank for every removed char so columns stay right
                    let skipped = &rest[..p + 2];
                    kept.extend(std::iter::repeat_n(' ', skipped.chars().count()));
                    rest = &rest[p + 2..];
                    *in_block = false;
                }
                None => break,
            }
        } else {
            match find_block_open(rest) {
                Some(p) => {
                    kept.push_str(&rest[..p]);
                    kept.push_str("  ");
                    rest = &rest[p + 2..];
                    *in_block = true;
                }
                None => {
                    kept.push_str(rest);
                    break;
                }
            }
        }
    }
    kept
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

/// A parsed `Name(args...) rest` call, borrowing the line it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call<'a> {
    /// Callee name (may start with `$` or `%`).
    pub name: &'a str,
    /// Raw argument texts, trimmed, with their char offsets in the line.
    pub args: Vec<(&'a str, usize)>,
    /// What follows the closing parenthesis, trimmed.
    pub rest: &'a str,
    /// Char offset of the name in the line.
    pub offset: usize,
}

/// Is `b` an ASCII byte that [`char::is_whitespace`] accepts?
fn is_ascii_blank(b: u8) -> bool {
    b <= b' ' && matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Exactly [`str::trim`], with a fast path for ASCII edges (the common
/// case); any non-ASCII char at an edge goes through `str::trim`.
pub(crate) fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_ascii_blank(b[i]) {
        i += 1;
    }
    if i < b.len() && b[i] >= 0x80 {
        return s.trim();
    }
    let mut j = b.len();
    while j > i && is_ascii_blank(b[j - 1]) {
        j -= 1;
    }
    if j > i && b[j - 1] >= 0x80 {
        return s.trim();
    }
    &s[i..j]
}

/// Exactly [`str::trim_start`], with a fast path for an ASCII start.
pub(crate) fn trim_start(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_ascii_blank(b[i]) {
        i += 1;
    }
    if i < b.len() && b[i] >= 0x80 {
        return s.trim_start();
    }
    &s[i..]
}

/// Is `c` a character of a PlantUML identifier?
pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Outcome of trying to read a call from a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallParse<'a> {
    /// Not call syntax at all.
    NotACall,
    /// `Name(` without a matching `)`.
    Unclosed {
        /// The callee name.
        name: &'a str,
        /// Char offset of the name.
        offset: usize,
    },
    /// A well-formed call.
    Call(Call<'a>),
}

/// Reads `Name(args) rest` from the start of `line` (leading blanks allowed).
///
/// Works on the line's bytes (no per-call copies): every delimiter is
/// ASCII, and other chars are decoded only where their class matters.
/// Offsets are counted in chars, as columns are.
pub(crate) fn parse_call(line: &str) -> CallParse<'_> {
    parse_call_in(line, Vec::new())
}

/// [`parse_call`] collecting the arguments into `args` (cleared first), so
/// that a caller can reuse one buffer for every line (see [`reuse_args`]).
pub(crate) fn parse_call_in<'a>(line: &'a str, args: Vec<(&'a str, usize)>) -> CallParse<'a> {
    let mut cur = Cursor::new(line);
    cur.skip_while(char::is_whitespace);
    let start = cur.pos;
    let start_char = cur.chars;
    if matches!(cur.peek(), Some('$' | '%')) {
        cur.bump();
    }
    match cur.peek() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return CallParse::NotACall,
    }
    cur.skip_while(is_ident_char);
    let name = &line[start..cur.pos];
    cur.skip_while(|c| c == ' ' || c == '\t');
    if cur.peek() != Some('(') {
        return CallParse::NotACall;
    }
    match split_args_str(line, cur.pos, cur.chars, args) {
        Some((args, end)) => CallParse::Call(Call {
            name,
            args,
            rest: trim(&line[end..]),
            offset: start_char,
        }),
        None => CallParse::Unclosed {
            name,
            offset: start_char,
        },
    }
}

/// An empty argument vector for lines of any lifetime that keeps the buffer
/// of `v` (collecting an emptied `vec::IntoIter` into a vector of a
/// same-sized type reuses its allocation).
pub(crate) fn reuse_args<'b>(mut v: Vec<(&str, usize)>) -> Vec<(&'b str, usize)> {
    v.clear();
    v.into_iter().map(|(_, o)| ("", o)).collect()
}

/// A position in a `str` as byte index and char count.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    chars: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            s,
            pos: 0,
            chars: 0,
        }
    }

    /// The char at the position (ASCII without decoding).
    fn peek(&self) -> Option<char> {
        let b = *self.s.as_bytes().get(self.pos)?;
        if b < 0x80 {
            Some(char::from(b))
        } else {
            self.s[self.pos..].chars().next()
        }
    }

    /// Moves past the char at the position.
    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            self.chars += 1;
        }
    }

    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
            self.chars += 1;
        }
    }
}

/// [`split_args`] on a `str`: `open` is the byte index of the `(` and
/// `open_char` its char index. Returns the trimmed arguments (borrowed) with
/// their char offsets and the byte index just after the matching `)`.
fn split_args_str<'a>(
    s: &'a str,
    open: usize,
    open_char: usize,
    mut args: Vec<(&'a str, usize)>,
) -> Option<(Vec<(&'a str, usize)>, usize)> {
    let bytes = s.as_bytes();
    args.clear();
    args.reserve(8);
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    // the current argument is always `s[cur..i]`
    let mut cur = open + 1;
    let mut cur_off = open_char + 1;
    // char index of the byte at `i`
    let mut ci = open_char + 1;
    let mut last_sig = b'(';
    let mut i = open + 1;
    // on an ASCII line a char index is a byte index, and a quoted run can
    // be skipped with one search
    let ascii = bytes.is_ascii();
    while i < bytes.len() {
        let b = bytes[i];
        if ascii
            && quote.is_none()
            && (b == b'"' || b == b'\'')
            && matches!(last_sig, b'(' | b',' | b'=' | b'+')
        {
            match bytes[i + 1..].iter().position(|&x| x == b) {
                Some(p) => {
                    // the closing quote leaves `last_sig` at the opening one
                    last_sig = b;
                    ci += p + 2;
                    i += p + 2;
                    continue;
                }
                None => return None,
            }
        }
        if b >= 0x80 {
            // a non-ASCII char: never a delimiter; it is `last_sig` unless
            // it is a blank (a non-ASCII `last_sig` only has to differ from
            // the ASCII delimiters, so 0x80 stands for all of them)
            let c = s[i..].chars().next().unwrap_or(' ');
            if quote.is_none() && !c.is_whitespace() {
                last_sig = 0x80;
            }
            i += c.len_utf8();
            ci += 1;
            continue;
        }
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            i += 1;
            ci += 1;
            continue;
        }
        match b {
            b'"' | b'\'' if matches!(last_sig, b'(' | b',' | b'=' | b'+') => {
                // a quote opens a string only where a value starts; inside
                // an unquoted word (`techn\nwith break"`) it is literal
                quote = Some(b);
            }
            b'(' | b'[' => depth += 1,
            b')' | b']' if depth > 0 => depth -= 1,
            b')' => {
                let arg = &s[cur..i];
                let keep = !args.is_empty() || !arg.trim().is_empty();
                push_arg(&mut args, arg, cur_off, keep);
                return Some((args, i + 1));
            }
            b',' if depth == 0 => {
                push_arg(&mut args, &s[cur..i], cur_off, true);
                cur = i + 1;
                cur_off = ci + 1;
            }
            _ => {}
        }
        if !char::from(b).is_whitespace() {
            last_sig = b;
        }
        i += 1;
        ci += 1;
    }
    None
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
                push_arg_owned(&mut args, &cur, cur_off, keep);
                return Some((args, i + 1));
            }
            ',' if depth == 0 => {
                push_arg_owned(&mut args, &cur, cur_off, true);
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

fn push_arg_owned(args: &mut Vec<(String, usize)>, cur: &str, off: usize, keep: bool) {
    if !keep {
        return;
    }
    let lead = cur.chars().take_while(|c| c.is_whitespace()).count();
    args.push((cur.trim().to_string(), off + lead));
}

fn push_arg<'a>(args: &mut Vec<(&'a str, usize)>, cur: &'a str, off: usize, keep: bool) {
    if !keep {
        return;
    }
    let t = trim(cur);
    let lead_bytes = cur.len() - cur.trim_start().len();
    let lead = if cur.as_bytes()[..lead_bytes].is_ascii() {
        lead_bytes
    } else {
        cur[..lead_bytes].chars().count()
    };
    args.push((t, off + lead));
}

/// If `arg` is `$name = value` (not `==`), returns the name (without `$`) and value.
pub(crate) fn keyword_arg(arg: &str) -> Option<(&str, &str)> {
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
    Some((&rest[..name_len], value.trim()))
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
    use proptest::prelude::*;

    /// A call read either way: (well-formed, name, args, rest, offset).
    type Read = Option<(bool, String, Vec<(String, usize)>, String, usize)>;

    /// The char-vector reading of a call (the implementation before the
    /// byte-based [`parse_call`]), as the reference it must agree with.
    fn parse_call_ref(line: &str) -> Read {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let start = i;
        if i < chars.len() && (chars[i] == '$' || chars[i] == '%') {
            i += 1;
        }
        if i >= chars.len() || !(chars[i].is_alphabetic() || chars[i] == '_') {
            return None;
        }
        while i < chars.len() && is_ident_char(chars[i]) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
            j += 1;
        }
        if j >= chars.len() || chars[j] != '(' {
            return None;
        }
        Some(match split_args(&chars, j) {
            Some((args, end)) => {
                let rest: String = chars[end..].iter().collect();
                (true, name, args, rest.trim().to_string(), start)
            }
            None => (false, name, Vec::new(), String::new(), start),
        })
    }

    fn parse_call_new(line: &str) -> Read {
        match parse_call(line) {
            CallParse::NotACall => None,
            CallParse::Unclosed { name, offset } => {
                Some((false, name.to_string(), Vec::new(), String::new(), offset))
            }
            CallParse::Call(c) => Some((
                true,
                c.name.to_string(),
                c.args.iter().map(|&(a, o)| (a.to_string(), o)).collect(),
                c.rest.to_string(),
                c.offset,
            )),
        }
    }

    proptest! {
        #[test]
        fn byte_call_parser_agrees_with_char_parser(
            line in "[ \t\u{a0}\u{3000}]{0,2}[$%]?[A-Za-z_é]{1,4}[ \t]?\\(([a-z\"'(),\\[\\]=+ \u{a0}é€$]{0,24})\\)?[ {}x]{0,3}"
        ) {
            prop_assert_eq!(parse_call_new(&line), parse_call_ref(&line));
        }

        #[test]
        fn byte_call_parser_agrees_on_any_text(line in any::<String>()) {
            prop_assert_eq!(parse_call_new(&line), parse_call_ref(&line));
        }
    }

    proptest! {
        #[test]
        fn fast_trims_are_std_trims(s in "[ \t\r\n\u{b}\u{c}\u{1c}\u{85}\u{a0}\u{3000}a'\\\\é]{0,12}") {
            prop_assert_eq!(trim(&s), s.trim());
            prop_assert_eq!(trim_start(&s), s.trim_start());
        }

        #[test]
        fn quote_or_backslash_scan_is_exact(s in "[a-z '\\\\é&]{0,40}") {
            let naive = s.bytes().any(|b| b == b'\'' || b == b'\\');
            prop_assert_eq!(has_quote_or_backslash(s.as_bytes()), naive);
        }
    }

    #[test]
    fn ascii_blanks_are_char_whitespace() {
        for b in 0u8..0x80 {
            assert_eq!(is_ascii_blank(b), char::from(b).is_whitespace(), "{b:#x}");
        }
        for b in 0u8..=255 {
            let v = [b; 9];
            let naive = b == b'\'' || b == b'\\';
            assert_eq!(has_quote_or_backslash(&v), naive, "{b:#x}");
            assert_eq!(has_quote_or_backslash(&v[..3]), naive, "{b:#x}");
        }
    }

    #[test]
    fn call_parsers_agree_on_corpus_lines() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for dir in ["tests/data", "../../shared/corpus/c4-plantuml/percy"] {
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in rd.flatten() {
                let Ok(text) = std::fs::read_to_string(e.path()) else {
                    continue;
                };
                for l in logical_lines(&text, 0) {
                    assert_eq!(
                        parse_call_new(&l.text),
                        parse_call_ref(&l.text),
                        "{}",
                        l.text
                    );
                    n += 1;
                }
            }
        }
        assert!(n > 100);
    }

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
    fn raw_arrows() {
        let a =
            raw_arrow("api -[#red,dashed]-> db <<async>> <<x>> : Reads\\ndaily").expect("an arrow");
        assert_eq!(
            (a.from, a.arrow, a.to, a.tags, a.label, a.hidden),
            (
                "api",
                "-[#red,dashed]->",
                "db",
                vec!["async", "x"],
                Some("Reads\\ndaily"),
                false
            )
        );
        let a = raw_arrow("user -> webApp: 1. Sends").expect("an arrow");
        assert_eq!((a.to, a.label), ("webApp", Some("1. Sends")));
        let a = raw_arrow("a -[hidden]d- b").expect("an arrow");
        assert_eq!((a.label, a.hidden), (None, true));
        assert!(raw_arrow("a <--> b").is_some_and(|a| a.label.is_none()));
        for not_arrow in [
            "a = b",
            "skinparam x 12",
            "a xo b : x",
            "a -> : x",
            "a->b : x",
            "a -> b c",
            "sprite $x #logos#y:y",
            "a -[x-> b",
        ] {
            assert_eq!(raw_arrow(not_arrow), None, "{not_arrow}");
        }
    }

    #[test]
    fn en_dash_reads_as_hyphen() {
        let l = logical_lines("System(a, \"A \u{2013} B\") ' x \u{2013} y\nb\u{2013}c", 0);
        assert_eq!(l[0].text, "System(a, \"A - B\") ' x - y");
        assert_eq!(l[1].text, "b-c");
    }

    #[test]
    fn calls_split_on_top_level_commas() {
        let CallParse::Call(c) = parse_call(r#"  Rel(a, b, "x, (y)", $techn="t") {"#) else {
            panic!("not a call")
        };
        assert_eq!(c.name, "Rel");
        let a: Vec<_> = c.args.iter().map(|a| a.0).collect();
        assert_eq!(a, vec!["a", "b", "\"x, (y)\"", "$techn=\"t\""]);
        assert_eq!(c.rest, "{");
        assert_eq!(keyword_arg("$techn = \"t\""), Some(("techn", "\"t\"")));
        assert_eq!(keyword_arg("$a == 1"), None);
        assert!(matches!(parse_call("Rel(a, b"), CallParse::Unclosed { .. }));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
