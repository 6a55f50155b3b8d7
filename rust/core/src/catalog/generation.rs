//! The catalog generation: a number that moves whenever any table of the
//! server's schemas is registered, replaced or removed. A plan holds the
//! providers it resolved, so whatever keeps plans (or what they computed) for
//! reuse keys them by the generation read before planning: a change after that
//! read makes the kept entry unreachable.

use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current generation.
pub fn catalog_generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Moves the generation on; called once a change is visible to readers.
pub fn catalog_changed() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_moves_the_generation_on() {
        let before = catalog_generation();
        catalog_changed();
        assert!(catalog_generation() > before);
    }
}
