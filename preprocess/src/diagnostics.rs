//! Diagnostics: collection while parsing, with exact positions.

use std::rc::Rc;

use schemas::model::v1::{Diagnostic, Severity};

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
            message.truncate(crate::interp::floor(&message, MAX_MESSAGE_LEN));
            message.push('…');
        }
        let d = Diagnostic {
            severity,
            message,
            file: loc.file.to_string(),
            line: loc.line,
            column: loc.column,
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
