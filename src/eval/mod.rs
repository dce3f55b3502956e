//! The evaluation harness: fill-in-the-middle tasks built from real code nobody on this
//! project wrote (the Python standard library, crates in the cargo registry, npm packages,
//! and a pinned corpus of packages newer than the models),
//! and the scores that compare completion configurations.
//!
//! Task building is deterministic (same files and seed, same tasks) and pure; running the
//! tasks (loading a model, the editor's completion path) is the `quill eval` command's
//! job, which reports through [`report`].

pub mod corpus;
pub mod edits;
pub mod report;
pub mod score;
pub mod sources;
pub mod tasks;

pub use score::{edit_similarity, exact_match, sign_test};
pub use tasks::{EvalTask, TaskKind, TaskSet, build_tasks};

/// A small deterministic random number generator (SplitMix64): task sampling must not
/// depend on a crate's algorithm changing between versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic() {
        let a: Vec<u64> = (0..3)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..3)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(Rng::new(8).next_u64(), a[0]);
    }
}
