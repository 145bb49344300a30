//! How a stage's payload travels to the next stage: inline as JSON, inline
//! as deflated JSON, or by object key (claim check).
//!
//! The generated file set (~200-300 KB of Python, YAML and Markdown for a
//! typical diagram) is the largest thing on the hot path, and it is written
//! three times on its way: into the stage run that records the generate
//! stage's output (PostgreSQL), into the broker's quorum queue, and read
//! back by the store stage. Text like this deflates five- to eightfold at
//! the fastest level, which costs about a millisecond, so above
//! [`DEFLATE_ABOVE`] bytes of JSON it travels deflated (and base64-encoded,
//! as the envelope is JSON text). Only what is larger than
//! [`crate::messages::INLINE_LIMIT`] even deflated goes to the object store.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

use crate::ObjectKey;

/// JSON payloads of at least this many bytes travel deflated
/// ([`Carried::Deflated`]); smaller ones inline as they are, where the
/// compression would cost more than the bytes it saves.
pub const DEFLATE_ABOVE: usize = 16 * 1024;

/// A value that travels inline when small and by object key when large.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Carried<T> {
    /// The value itself.
    Inline {
        /// The value.
        value: T,
    },
    /// The value's JSON, deflated (raw DEFLATE, RFC 1951) and base64-encoded.
    Deflated {
        /// Base64 of the deflated JSON.
        data: String,
        /// Length of the JSON in bytes, checked when it is inflated.
        size: u64,
    },
    /// A key in the object store holding the value as JSON.
    Reference {
        /// Where it is.
        key: ObjectKey,
    },
}

/// Why a carried value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CarriedError {
    /// The base64 or DEFLATE data is corrupt.
    #[error("the deflated payload is corrupt: {0}")]
    Corrupt(String),
    /// The inflated JSON is larger than the reader allows, or than it says.
    #[error("the deflated payload inflates to more than {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: u64,
    },
    /// The inflated bytes are not the expected JSON.
    #[error("the deflated payload is not valid JSON of its type: {0}")]
    Json(#[from] serde_json::Error),
}

impl<T: Serialize + DeserializeOwned + Clone> Carried<T> {
    /// Carries `json` (the serialized value) deflated when it is at least
    /// `deflate_above` bytes (0: never), else `value` inline.
    pub fn pack(value: T, json: &[u8], deflate_above: usize) -> Self {
        if deflate_above == 0 || json.len() < deflate_above {
            return Carried::Inline { value };
        }
        Carried::Deflated {
            data: BASE64.encode(deflate(json)),
            size: json.len() as u64,
        }
    }

    /// The value of an inline or deflated payload (`None` for a reference,
    /// which the caller reads from the object store). A deflated payload
    /// that says or turns out to be larger than `max_bytes` is refused
    /// before it is inflated further, so a forged message cannot exhaust
    /// memory.
    pub fn open(&self, max_bytes: u64) -> Result<Option<T>, CarriedError> {
        match self {
            Carried::Inline { value } => Ok(Some(value.clone())),
            Carried::Reference { .. } => Ok(None),
            Carried::Deflated { data, size } => {
                if *size > max_bytes {
                    return Err(CarriedError::TooLarge { limit: max_bytes });
                }
                let compressed = BASE64
                    .decode(data)
                    .map_err(|e| CarriedError::Corrupt(e.to_string()))?;
                let mut json = Vec::with_capacity(*size as usize);
                DeflateDecoder::new(compressed.as_slice())
                    .take(size.saturating_add(1))
                    .read_to_end(&mut json)
                    .map_err(|e| CarriedError::Corrupt(e.to_string()))?;
                if json.len() as u64 != *size {
                    return Err(CarriedError::Corrupt(format!(
                        "inflates to {} bytes, but says {size}",
                        json.len()
                    )));
                }
                Ok(Some(serde_json::from_slice(&json)?))
            }
        }
    }
}

/// DEFLATE at the fastest level (zlib-rs): about 1 ms for 250 KB of text.
fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big() -> (Vec<String>, Vec<u8>) {
        let value: Vec<String> = (0..2000).map(|i| format!("line {i} of a file")).collect();
        let json = serde_json::to_vec(&value).expect("json");
        (value, json)
    }

    #[test]
    fn small_payloads_stay_inline_and_large_ones_deflate_and_open_to_the_same_value() {
        let (value, json) = big();
        assert!(matches!(
            Carried::pack(value.clone(), &json, json.len() + 1),
            Carried::Inline { .. }
        ));
        assert!(matches!(
            Carried::pack(value.clone(), &json, 0),
            Carried::Inline { .. }
        ));
        let packed = Carried::pack(value.clone(), &json, DEFLATE_ABOVE);
        let Carried::Deflated { data, size } = &packed else {
            panic!("expected deflated, got {packed:?}");
        };
        assert_eq!(*size as usize, json.len());
        assert!(
            data.len() < json.len() / 3,
            "{} of {}",
            data.len(),
            json.len()
        );
        // Through the wire format and back.
        let wire = serde_json::to_string(&packed).expect("encode");
        let back: Carried<Vec<String>> = serde_json::from_str(&wire).expect("decode");
        assert_eq!(back.open(u64::MAX).expect("open"), Some(value));
    }

    #[test]
    fn a_deflated_payload_over_the_bound_or_lying_about_its_size_is_refused() {
        let (value, json) = big();
        let packed = Carried::pack(value, &json, 1);
        assert!(matches!(
            packed.open(json.len() as u64 - 1),
            Err(CarriedError::TooLarge { .. })
        ));
        let Carried::Deflated { data, size } = packed else {
            panic!("expected deflated");
        };
        let lying: Carried<Vec<String>> = Carried::Deflated {
            data: data.clone(),
            size: size - 10,
        };
        assert!(matches!(
            lying.open(u64::MAX),
            Err(CarriedError::Corrupt(_))
        ));
        let garbage: Carried<Vec<String>> = Carried::Deflated {
            data: "not base64!".into(),
            size,
        };
        assert!(matches!(
            garbage.open(u64::MAX),
            Err(CarriedError::Corrupt(_))
        ));
    }
}
