//! The random unit of the reconnect jitter.
//!
//! Jitter only needs to spread reconnecting clients apart, not to be unpredictable, so a
//! SplitMix64 sequence seeded once from the operating system is plenty.

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    pub(crate) fn new() -> Self {
        let seed = getrandom::u64().unwrap_or_else(|_| {
            // Without an OS source, the clock still separates clients well enough.
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        Jitter { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number uniform in [−1, 1].
    pub(crate) fn unit(&mut self) -> f64 {
        // 53 random bits give every representable step of [0, 1).
        let fraction = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        fraction * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_stay_within_bounds_and_cover_both_signs() {
        let mut jitter = Jitter::new();
        let units: Vec<f64> = (0..10_000).map(|_| jitter.unit()).collect();
        assert!(units.iter().all(|u| (-1.0..=1.0).contains(u)));
        assert!(units.iter().any(|u| *u < -0.9));
        assert!(units.iter().any(|u| *u > 0.9));
        let mean = units.iter().sum::<f64>() / units.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
    }
}
