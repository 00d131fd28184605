//! A tiny deterministic random source, so a scenario and every uid it gets are the same for the same seed.
//!
//! `SplitMix64` is enough here: it is not for security, only for names, uids and jitter that must repeat in
//! tests and differ between seeds. Keeping it in-crate avoids a dependency for twenty lines.

use std::fmt::Write as _;

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `SplitMix64`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `len` characters of the generated-name alphabet, as in `web-7d9f8b6c5d-x2k4p`.
    pub fn suffix(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(SUFFIX_ALPHABET[self.below(SUFFIX_ALPHABET.len() as u64) as usize]))
            .collect()
    }

    /// `len` lowercase hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            let _ = write!(out, "{:016x}", self.next_u64());
        }
        out.truncate(len);
        out
    }

    /// A version-4-shaped uuid, as `metadata.uid` looks.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// The `SplitMix64` finaliser: also a good stateless hash of a `u64`.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable hash of a string (`FNV-1a`, then mixed), for per-object jitter that must not depend on order.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.uuid(), b.uuid());
        assert_eq!(a.suffix(5), b.suffix(5));
        assert_ne!(Rng::new(7).uuid(), Rng::new(8).uuid());
    }

    #[test]
    fn a_uuid_is_shaped_like_a_version_four_uuid() {
        let uuid = Rng::new(1).uuid();
        let lens: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12]);
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"), "{uuid}");
    }

    #[test]
    fn suffixes_use_only_the_kubernetes_alphabet() {
        let s = Rng::new(3).suffix(200);
        assert!(s.bytes().all(|b| SUFFIX_ALPHABET.contains(&b)));
        assert_eq!(Rng::new(3).hex(20).len(), 20);
    }
}
