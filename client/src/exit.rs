//! Exit statuses of the `c4forge` command: one per kind of outcome, so a
//! script can tell a broken diagram from a server that is down without
//! reading messages. Errors carry their status as a type ([`Coded`], or a
//! typed error of a library found in the error's chain), never as text.

use std::fmt;

/// What a `c4forge` command ended with; the numeric value is the process's
/// exit status (listed by `--help`, see [`HELP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Exit {
    /// Everything asked was done.
    Ok = 0,
    /// Something failed that is none of the cases below: a job failed on
    /// the server for another reason than its input (dead-lettered), or an
    /// unexpected error (a local file that cannot be written, a corrupt
    /// database).
    Failed = 1,
    /// The command line or the configuration is wrong (clap's own status for
    /// bad arguments is 2 too).
    Usage = 2,
    /// The input was refused: the diagram has errors, the server refused an
    /// upload (empty, too large, not UTF-8, a bad bundle), a job failed on
    /// its diagram, a file is not text.
    InvalidInput = 3,
    /// A file, job or dead letter that does not exist.
    NotFound = 4,
    /// The server, database or broker cannot be reached, or answered with a
    /// server error.
    Unavailable = 5,
    /// Not finished yet: uploads wait in the local outbox (the next
    /// `submit` or `jobs sync` sends them), or a watch ended before its jobs.
    Pending = 6,
    /// The login was refused or the account may not do this (log in again,
    /// or ask for the admin role).
    Denied = 7,
}

/// The exit statuses, for `--help`.
pub const HELP: &str = "\
Exit status:
  0  success
  1  failure (a job dead-lettered on the server, an unexpected error)
  2  usage: bad command line or configuration
  3  invalid input: the diagram has errors, the server refused the upload, a job failed on its diagram
  4  not found: no such file, job or dead letter
  5  unavailable: the server, database or broker cannot be reached or failed
  6  pending: uploads wait in the local outbox, or a watch ended before its jobs
  7  denied: the login was refused or the account may not do this
When several apply, the first met decides.";

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// An error that states its exit status; its message and its sources are
/// the wrapped error's, unchanged.
#[derive(Debug)]
pub struct Coded {
    /// The status the process ends with.
    pub exit: Exit,
    /// The error itself.
    pub error: anyhow::Error,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// `error` ending the process with `exit`.
pub fn coded(exit: Exit, error: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        exit,
        error: error.into(),
    })
}

/// An error with `message`, ending the process with `exit`.
pub fn fail(exit: Exit, message: impl fmt::Display) -> anyhow::Error {
    coded(exit, anyhow::anyhow!("{message}"))
}

/// The status of an error: the first error of its chain that has one
/// ([`Coded`], the client's own errors, an I/O error, or whatever `more`
/// classifies: the binary adds the library errors of the server side),
/// else [`Exit::Failed`].
pub fn of(
    error: &anyhow::Error,
    more: impl Fn(&(dyn std::error::Error + 'static)) -> Option<Exit>,
) -> Exit {
    for cause in error.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.exit;
        }
        if let Some(exit) = crate::exit_of(cause) {
            return exit;
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            return match e.kind() {
                std::io::ErrorKind::NotFound => Exit::NotFound,
                std::io::ErrorKind::InvalidData => Exit::InvalidInput,
                _ => Exit::Failed,
            };
        }
        if let Some(exit) = more(cause) {
            return exit;
        }
    }
    Exit::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_come_from_types_through_context() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = anyhow::Error::new(missing).context("reading a.puml");
        assert_eq!(of(&e, |_| None), Exit::NotFound);
        let e = fail(Exit::Pending, "2 uploads pending").context("submit");
        assert_eq!(of(&e, |_| None), Exit::Pending);
        assert_eq!(format!("{e:#}"), "submit: 2 uploads pending");
        assert_eq!(of(&anyhow::anyhow!("anything"), |_| None), Exit::Failed);
    }

    #[test]
    fn help_lists_every_status() {
        for exit in [
            Exit::Ok,
            Exit::Failed,
            Exit::Usage,
            Exit::InvalidInput,
            Exit::NotFound,
            Exit::Unavailable,
            Exit::Pending,
            Exit::Denied,
        ] {
            assert!(
                HELP.contains(&format!("\n  {}  ", exit as u8)),
                "{exit:?} is not in --help"
            );
        }
    }
}
