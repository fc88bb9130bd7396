//! FNV-1a hashes used by the artifact: 32-bit for the image checksum word (cheap to recompute
//! on a PE), 64-bit for the manifest's file digests (collision-resistant enough to catch mixed-up
//! or corrupted files, not a security measure).

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;
const FNV64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 32-bit of `bytes`.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV32_OFFSET, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(FNV32_PRIME)
    })
}

/// Incremental FNV-1a 64-bit, so multi-file digests need no concatenated copy.
#[derive(Debug, Clone, Copy)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(FNV64_OFFSET)
    }
}

impl Fnv64 {
    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV64_PRIME);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a 64-bit of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = Fnv64::default();
    h.update(bytes);
    h.finish()
}

/// The manifest's digest string of `bytes`: `fnv1a64:` and 16 lowercase hex digits.
pub fn file_digest(bytes: &[u8]) -> String {
    format!("fnv1a64:{:016x}", fnv1a64(bytes))
}

/// Digest of several files as one: FNV-1a 64 over, for each `(path, bytes)` in the given order,
/// the path's UTF-8 bytes, a 0 byte, the content length as u64 little-endian, then the content.
/// Names and lengths are hashed too so moving bytes between files changes the digest.
pub fn files_digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = Fnv64::default();
    for (path, bytes) in files {
        h.update(path.as_bytes());
        h.update(&[0]);
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    format!("fnv1a64:{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(file_digest(b"a"), "fnv1a64:af63dc4c8601ec8c");
    }

    #[test]
    fn files_digest_separates_files() {
        let a = files_digest([("x", &b"ab"[..]), ("y", &b"c"[..])]);
        let b = files_digest([("x", &b"a"[..]), ("y", &b"bc"[..])]);
        assert_ne!(a, b);
        assert!(a.starts_with("fnv1a64:") && a.len() == 24);
    }
}
