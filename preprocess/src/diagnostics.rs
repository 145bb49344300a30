//! Diagnostics: collection while parsing, with exact positions.

use std::rc::Rc;

use schemas::model::v1::{ByteSpan, Diagnostic, Severity};

use crate::SourceFile;

/// A 1-based position in a named file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Loc {
    /// File path as given by the caller (shared: locations are cloned often).
    pub file: Rc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// The diagnostics of one run, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    /// Everything reported so far.
    pub list: Vec<Diagnostic>,
    /// Whether `list` holds an error.
    has_error: bool,
}

/// At most this many diagnostics are kept (a hostile input must not grow memory).
pub(crate) const MAX_DIAGNOSTICS: usize = 1000;
/// Longest message kept, in bytes: messages quote source text, which
/// `!define` expansion can make long; longer ones are cut and end in `…`.
pub(crate) const MAX_MESSAGE_LEN: usize = 1024;

impl Diags {
    fn push(&mut self, severity: Severity, loc: &Loc, mut message: String) {
        let full = self.list.len() >= MAX_DIAGNOSTICS;
        if full && (severity != Severity::Error || self.has_error) {
            return;
        }
        if message.len() > MAX_MESSAGE_LEN {
            message.truncate(crate::bounds::floor(&message, MAX_MESSAGE_LEN));
            message.push('…');
        }
        let d = Diagnostic {
            severity,
            message,
            file: loc.file.to_string(),
            line: loc.line,
            column: loc.column,
            bytes: None,
        };
        if full {
            // a list full of warnings still says the run failed: the first
            // error takes the last warning's place
            self.list.pop();
        }
        if self.list.last() != Some(&d) {
            self.has_error |= severity == Severity::Error;
            self.list.push(d);
        }
    }

    /// Records an error (the model is not usable as is).
    pub fn error(&mut self, loc: &Loc, message: String) {
        self.push(Severity::Error, loc, message);
    }

    /// Records a warning (suspicious but usable).
    pub fn warning(&mut self, loc: &Loc, message: String) {
        self.push(Severity::Warning, loc, message);
    }
}

/// Fills in each diagnostic's byte span from the text of its file (the
/// first of `sources` with its path; none found leaves the span empty):
/// from its line and column (in characters, as the caret rendering counts
/// them) to the end of that line. Done once per parse rather than per
/// diagnostic, as only the sources know where their lines start.
pub(crate) fn locate(list: &mut [Diagnostic], sources: &[&SourceFile]) {
    let mut starts: Vec<Option<Vec<usize>>> = vec![None; sources.len()];
    for d in list {
        let Some(i) = sources.iter().position(|s| s.path == d.file) else {
            continue;
        };
        let text = sources[i].text.as_str();
        let starts = starts[i].get_or_insert_with(|| {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(p, _)| p + 1))
                .collect()
        });
        d.bytes = byte_span(text, starts, d.line, d.column);
    }
}

/// The span of `line` (1-based; 0 counts as 1) from character `column`
/// (1-based) to the end of the line, without its `\r`.
fn byte_span(text: &str, starts: &[usize], line: u32, column: u32) -> Option<ByteSpan> {
    let k = line.saturating_sub(1) as usize;
    let begin = *starts.get(k)?;
    let end = starts.get(k + 1).map_or(text.len(), |&next| next - 1);
    let line_text = text.get(begin..end)?;
    let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
    let skip = column.saturating_sub(1) as usize;
    let col = line_text
        .char_indices()
        .nth(skip)
        .map_or(line_text.len(), |(b, _)| b);
    Some(ByteSpan {
        start: u32::try_from(begin + col).ok()?,
        end: u32::try_from(begin + line_text.len()).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_of(text: &str, line: u32, column: u32) -> Option<(usize, usize)> {
        let file = SourceFile {
            path: "a.puml".into(),
            text: text.into(),
        };
        let mut list = vec![Diagnostic {
            severity: Severity::Error,
            message: String::new(),
            file: "a.puml".into(),
            line,
            column,
            bytes: None,
        }];
        locate(&mut list, &[&file]);
        list[0].bytes.map(|b| (b.start as usize, b.end as usize))
    }

    #[test]
    fn span_runs_from_the_column_to_the_end_of_the_line() {
        let text = "@startuml\r\n  Pérson(a, \"A\")\r\n@enduml\n";
        let (s, e) = span_of(text, 2, 3).expect("located");
        assert_eq!(&text[s..e], "Pérson(a, \"A\")");
        // a column counts characters, the span bytes
        let (s, _) = span_of(text, 2, 5).expect("located");
        assert_eq!(&text[s..s + 3], "rso");
    }

    #[test]
    fn unknown_file_or_line_has_no_span() {
        assert_eq!(span_of("x\n", 9, 1), None);
        let file = SourceFile {
            path: "b.puml".into(),
            text: "x".into(),
        };
        let mut list = vec![Diagnostic {
            severity: Severity::Warning,
            message: String::new(),
            file: "elsewhere.puml".into(),
            line: 1,
            column: 1,
            bytes: None,
        }];
        locate(&mut list, &[&file]);
        assert_eq!(list[0].bytes, None);
    }
}
