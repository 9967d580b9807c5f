//! Random identifiers for RTP.

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
