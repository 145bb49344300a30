//! Carrying a stage's payload to the next stage: inline, deflated inline,
//! or through the object store (claim check), and opening it again. One
//! place for every stage that hands a file set on (generate, fill) and
//! every stage that takes one (fill, store); the wire format is
//! `schemas::carried`.

use crate::objects::Objects;
use crate::stage::StageError;
use schemas::ObjectKey;
use schemas::messages::{Carried, INLINE_LIMIT};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest JSON a stage inflates from a deflated message: four times
/// the generate stage's default output budget (64 MiB of files; JSON
/// escaping adds to it), so a forged message cannot exhaust memory.
pub const MAX_INFLATED_JSON: u64 = 256 * 1024 * 1024;

/// Carries `value`: deflated inline when its JSON has at least
/// `deflate_above` bytes (0: never), inline as it is when smaller, and
/// under `staged` in the object store when even deflated it is larger than
/// [`INLINE_LIMIT`].
pub async fn carry<T: Serialize + DeserializeOwned + Clone>(
    objects: &Objects,
    staged: ObjectKey,
    value: T,
    deflate_above: usize,
) -> Result<Carried<T>, StageError> {
    let json = serde_json::to_vec(&value).map_err(|e| StageError::permanent(e.to_string()))?;
    let too_large = |carried: &Carried<T>| match carried {
        Carried::Deflated { data, .. } => data.len() > INLINE_LIMIT,
        Carried::Inline { .. } => json.len() > INLINE_LIMIT,
        Carried::Reference { .. } => false,
    };
    let carried = Carried::pack(value, &json, deflate_above);
    if too_large(&carried) {
        objects.put(&staged, json.into()).await?;
        return Ok(Carried::Reference { key: staged });
    }
    Ok(carried)
}

/// The value of a carried payload, read from the object store when it
/// travelled by reference. A corrupt payload is a permanent failure.
pub async fn open<T: Serialize + DeserializeOwned + Clone>(
    objects: &Objects,
    carried: &Carried<T>,
) -> Result<T, StageError> {
    match carried {
        Carried::Reference { key } => {
            let bytes = objects.get(key).await?;
            serde_json::from_slice(&bytes)
                .map_err(|e| StageError::permanent(format!("stored {key} is not valid JSON: {e}")))
        }
        inline => inline
            .open(MAX_INFLATED_JSON)
            .map_err(|e| StageError::permanent(format!("carried payload: {e}")))?
            .ok_or_else(|| StageError::permanent("carried payload is missing")),
    }
}
