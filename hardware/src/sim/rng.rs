//! A small deterministic PRNG (xoshiro256** seeded through SplitMix64).
//!
//! Written here rather than taken from `rand` so that a scenario's output never changes with a
//! dependency upgrade: the simulator is a test fixture for the whole system.

/// SplitMix64 step: used to expand one seed into independent generator states.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** (Blackman & Vigna), with a few distributions the simulator needs.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
    /// Second value of the last Box–Muller pair.
    spare_normal: Option<f64>,
}

impl Rng {
    /// A generator for `seed`, on an independent `stream` (one per simulator component, so that
    /// a change to one component does not reshuffle the others).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut sm = seed ^ stream.wrapping_mul(0xD605_BBB5_8C8A_BBF3);
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = splitmix64(&mut sm);
        }
        if s == [0; 4] {
            // The all-zero state is the one fixed point of xoshiro; SplitMix never yields four
            // zeros in a row, but keep the generator valid regardless.
            s[0] = 1;
        }
        Self { s, spare_normal: None }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Uniform integer in [lo, hi] (inclusive); `lo` when the range is empty.
    pub fn int(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo + 1;
        // Lemire's multiply-shift; the bias for spans this small is far below anything visible.
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box–Muller, both values used).
    pub fn normal(&mut self) -> f64 {
        if let Some(v) = self.spare_normal.take() {
            return v;
        }
        // 1 - f64() is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare_normal = Some(r * s);
        r * c
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values of xoshiro256** for the state {1, 2, 3, 4} (from the authors' C code).
    #[test]
    fn xoshiro_matches_reference_sequence() {
        let mut r = Rng { s: [1, 2, 3, 4], spare_normal: None };
        let expected = [11520u64, 0, 1509978240, 1215971899390074240];
        for e in expected {
            assert_eq!(r.next_u64(), e);
        }
    }

    #[test]
    fn splitmix_matches_reference() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation).
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut s), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut r = Rng::new(42, 1);
        let n = 200_000;
        let (mut sum, mut sum2) = (0.0, 0.0);
        for _ in 0..n {
            let x = r.normal();
            sum += x;
            sum2 += x * x;
        }
        let mean = sum / f64::from(n);
        let var = sum2 / f64::from(n) - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");

        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[r.int(0, 5) as usize] += 1;
        }
        for c in counts {
            assert!((9_400..10_600).contains(&c), "{counts:?}");
        }
        let e: f64 = (0..100_000).map(|_| r.exponential(3.0)).sum::<f64>() / 100_000.0;
        assert!((e - 3.0).abs() < 0.05, "{e}");
    }

    #[test]
    fn streams_and_seeds_are_independent() {
        let a: Vec<u64> = (0..4).scan(Rng::new(1, 0), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..4).scan(Rng::new(1, 1), |r, _| Some(r.next_u64())).collect();
        let c: Vec<u64> = (0..4).scan(Rng::new(2, 0), |r, _| Some(r.next_u64())).collect();
        let a2: Vec<u64> = (0..4).scan(Rng::new(1, 0), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
