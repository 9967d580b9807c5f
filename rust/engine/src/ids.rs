//! Identifiers: random ones for RTP, and the bounds on the ones clients choose.

use std::hash::{BuildHasher, Hasher};

/// A random 32-bit value for SSRCs, sequence numbers and timestamps (RFC 3550 §5.1 wants them
/// unpredictable); std's per-process random hasher keys are enough for that.
pub(crate) fn random_u32() -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}

/// The longest `webrtc_id` accepted. Ids name sessions in logs and errors; browsers make ~11
/// (the original's page) or 32 (ours) characters.
pub const MAX_ID_LEN: usize = 64;

/// Checks a client-chosen session id: 1 to [`MAX_ID_LEN`] characters of `A-Z a-z 0-9 _ - .`.
/// Anything else is refused before it reaches a log line, an error message or a registry key.
///
/// # Errors
/// [`EngineError::InvalidOffer`] saying what an id must look like.
pub fn validate_id(id: &str) -> Result<(), crate::EngineError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().all(allowed) {
        return Err(crate::EngineError::InvalidOffer(format!(
            "webrtc_id must be 1 to {MAX_ID_LEN} characters of A-Z, a-z, 0-9, '_', '-' or '.' \
             (got {} characters)",
            id.chars().count()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded_in_length_and_charset() {
        assert!(validate_id("k3j4h5g6f7d").is_ok());
        assert!(validate_id("bench-12-1700000000.5").is_ok());
        assert!(validate_id(&"a".repeat(MAX_ID_LEN)).is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id(&"a".repeat(MAX_ID_LEN + 1)).is_err());
        for bad in ["a b", "a\nb", "a/b", "é", "a\"b", "<script>"] {
            assert!(validate_id(bad).is_err(), "{bad:?} was accepted");
        }
        let message = validate_id(&"x".repeat(1 << 20)).unwrap_err().to_string();
        assert!(message.len() < 200, "the error echoes the id: {} bytes", message.len());
    }
}
