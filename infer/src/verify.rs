//! In-process Python syntax check of generated files with ruff's parser, so a
//! broken template (built-in or overlay) fails generation instead of
//! shipping a project that does not import.

use schemas::files::FileSet;

/// One syntax error in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonSyntaxError {
    /// Project-relative path.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Parser message.
    pub message: String,
}

/// Every syntax error found, file by file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("generated Python does not parse:\n{}", .errors.iter().map(|e| format!("  {}:{}:{}: {}", e.path, e.line, e.column, e.message)).collect::<Vec<_>>().join("\n"))]
pub struct VerifyError {
    /// The errors (at least one).
    pub errors: Vec<PythonSyntaxError>,
}

/// 1-based (line, column) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Checks that every `.py` file parses as Python; `Err` lists file, line,
/// column and message of each error.
pub fn verify_python(files: &FileSet) -> Result<(), VerifyError> {
    let mut errors = Vec::new();
    for f in files.files.iter().filter(|f| f.path.ends_with(".py")) {
        if let Err(e) = rustpython_ruff_python_parser::parse_module(&f.contents) {
            let (line, column) = line_col(&f.contents, usize::from(e.location.start()));
            errors.push(PythonSyntaxError {
                path: f.path.clone(),
                line,
                column,
                message: e.error.to_string(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(VerifyError { errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::files::{FileOwner, GeneratedFile};

    fn set(contents: &str) -> FileSet {
        FileSet {
            generator: "t".into(),
            generator_version: "0".into(),
            files: vec![GeneratedFile {
                path: "a/b.py".into(),
                contents: contents.into(),
                owner: FileOwner::Generated,
                implements: vec![],
            }],
        }
    }

    #[test]
    fn accepts_valid_and_reports_invalid() {
        assert!(verify_python(&set("def f() -> int:\n    return 1\n")).is_ok());
        let err = verify_python(&set("x = 1\ndef f(:\n"))
            .err()
            .map(|e| e.errors);
        let errs = err.unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, "a/b.py");
        assert_eq!(errs[0].line, 2);
    }
}
