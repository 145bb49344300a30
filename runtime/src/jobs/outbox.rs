//! The outbox: messages committed with the ledger change that produced
//! them, waiting for the relay to publish and delete them.

use super::{Ledger, Result, get, placeholders};
use sea_orm::{ConnectionTrait, TransactionTrait, Value};

/// A message waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// Routing key to publish with.
    pub routing_key: String,
    /// The encoded envelope.
    pub body: String,
}

impl Ledger {
    // ---- outbox ----

    /// The oldest outbox rows.
    pub async fn outbox_pending(&self, limit: u64) -> Result<Vec<OutboxRow>> {
        self.all(
            "SELECT id, routing_key, body FROM outbox ORDER BY id LIMIT $1",
            vec![(limit as i64).into()],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(OutboxRow {
                id: get(r, "id")?,
                routing_key: get(r, "routing_key")?,
                body: get(r, "body")?,
            })
        })
        .collect()
    }

    /// Removes published outbox rows (one statement, a relaxed commit: a
    /// delete undone by a database crash only publishes the rows again,
    /// which the stages treat as duplicates).
    pub async fn outbox_delete_many(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "DELETE FROM outbox WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let tx = self.db.begin().await?;
        self.relax_commit(&tx).await?;
        tx.execute_raw(self.stmt(&sql, ids.iter().map(|id| Value::from(*id)).collect()))
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
