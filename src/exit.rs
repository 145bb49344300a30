//! Exit statuses of the `c4forge` command. The statuses themselves, their
//! `--help` text and the [`Coded`] wrapper belong to the client crate
//! (`c4forge_client::exit`), which the server side does not link; this
//! module adds what only the binary knows: the library errors of the server
//! side (database, ledger, generator) found in an error's chain.

pub use c4forge_client::exit::{Exit, HELP, coded, fail};

/// The status of an error: the first error of its chain that has one
/// (`Coded`, the client's errors, an I/O error, or a library error whose
/// kind says it), else [`Exit::Failed`].
pub fn of(error: &anyhow::Error) -> Exit {
    c4forge_client::exit::of(error, library)
}

/// The status a library error of the server side states, if `cause` is one.
fn library(cause: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    if let Some(e) = cause.downcast_ref::<runtime::db::DbError>() {
        return Some(match e {
            runtime::db::DbError::UnsupportedUrl(_) => Exit::Usage,
            runtime::db::DbError::Driver(e) => db(e),
            // The data directory cannot hold a private database file.
            runtime::db::DbError::File { .. } => Exit::Failed,
        });
    }
    if let Some(e) = cause.downcast_ref::<sea_orm::DbErr>() {
        return Some(db(e));
    }
    if let Some(e) = cause.downcast_ref::<runtime::jobs::LedgerError>() {
        match e {
            runtime::jobs::LedgerError::Conflict => return Some(Exit::InvalidInput),
            runtime::jobs::LedgerError::Corrupt(_) => return Some(Exit::Failed),
            // the driver's error is next in the chain
            runtime::jobs::LedgerError::Db(_) => {}
        }
    }
    if let Some(e) = cause.downcast_ref::<infer::GenerateError>() {
        return Some(match e {
            infer::GenerateError::UnknownGenerator { .. } => Exit::Usage,
            infer::GenerateError::EmptyModel
            | infer::GenerateError::Template { .. }
            | infer::GenerateError::Verify(_)
            | infer::GenerateError::Spec(_) => Exit::InvalidInput,
            infer::GenerateError::Overlay { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Exit::NotFound
            }
            _ => Exit::Failed,
        });
    }
    None
}

/// A database that cannot be reached is unavailable; other database
/// errors are failures.
fn db(e: &sea_orm::DbErr) -> Exit {
    match e {
        sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_) => Exit::Unavailable,
        _ => Exit::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_come_from_types_through_context() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = anyhow::Error::new(missing).context("reading a.puml");
        assert_eq!(of(&e), Exit::NotFound);
        let e = fail(Exit::Pending, "2 uploads pending").context("submit");
        assert_eq!(of(&e), Exit::Pending);
        assert_eq!(of(&anyhow::anyhow!("anything")), Exit::Failed);
        let e = anyhow::Error::new(infer::GenerateError::EmptyModel);
        assert_eq!(of(&e), Exit::InvalidInput);
        let e = anyhow::Error::new(runtime::jobs::LedgerError::Conflict).context("user create");
        assert_eq!(of(&e), Exit::InvalidInput);
    }
}
