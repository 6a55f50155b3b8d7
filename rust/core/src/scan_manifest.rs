//! What a planned query will read and how it will be served: its scans (with
//! Delta tables' exact file sets and pruning results) and its Flight
//! endpoints. The scan recorder and flight output rules write one manifest per
//! physical plan; the server takes it right after planning, on the thread that
//! planned.
//!
//! Manifests live in a small process-wide registry, and the id of the newest
//! one a thread wrote in a thread-local, because rules cannot hand anything
//! back through the FFI but the plan itself, and marking the plan would take a
//! node of this crate above the host's (which would then run without the
//! session's memory pool: the FFI rebuilds task contexts). DataFusion runs the
//! physical optimizer on the thread that asks for the physical plan.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// One leaf scan of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanEntry {
    /// The node's name (`DeltaScanExec`, or the host's, e.g. `DataSourceExec`).
    pub node: String,
    pub partitions: usize,
    /// From the node's statistics; `None` where it has none.
    pub estimated_rows: Option<u64>,
    pub estimated_bytes: Option<u64>,
    /// Set for flightserver's own Delta scans.
    pub delta: Option<DeltaScanEntry>,
}

/// A Delta scan: the snapshot version and exact files it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeltaScanEntry {
    pub table_root: String,
    #[serde(rename = "table_version")]
    pub version: u64,
    pub files: Vec<String>,
    pub file_count: usize,
    /// SHA-256 (hex) of the sorted paths, one per line.
    pub files_sha256: String,
    /// Files the scan could have read before pruning (the snapshot's, or the pinned set).
    pub candidate_files: usize,
    /// Files partition pruning and statistics skipping left out.
    pub pruned_files: usize,
    pub bytes: u64,
}

/// Everything the rules learned about one physical plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanManifest {
    pub id: u64,
    pub scans: Vec<ScanEntry>,
    /// The plan's output partitions.
    pub output_partitions: usize,
    /// How many Flight endpoints serve the result (each reads one partition
    /// when more than one).
    pub endpoints: usize,
}

thread_local! {
    /// The manifest this thread's newest planning wrote.
    static CURRENT: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Holds manifests until the server takes them.
#[derive(Debug)]
pub struct ManifestRegistry {
    capacity: usize,
    next_id: AtomicU64,
    held: Mutex<VecDeque<ScanManifest>>,
}

/// The process's registry. Manifests not taken by the server (plans DataFusion
/// makes for itself, such as EXPLAIN's) are dropped oldest first.
pub static MANIFESTS: ManifestRegistry = ManifestRegistry::new(1024);

impl ManifestRegistry {
    pub const fn new(capacity: usize) -> Self {
        Self {
            capacity,
            next_id: AtomicU64::new(1),
            held: Mutex::new(VecDeque::new()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, VecDeque<ScanManifest>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores a new manifest for a plan with `scans`; returns its id.
    pub fn register(&self, scans: Vec<ScanEntry>, output_partitions: usize) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut held = self.held();
        if held.len() == self.capacity {
            held.pop_front();
        }
        held.push_back(ScanManifest {
            id,
            scans,
            output_partitions,
            endpoints: 1,
        });
        id
    }

    /// Changes the manifest `id`, if it is still held.
    pub fn update(&self, id: u64, change: impl FnOnce(&mut ScanManifest)) {
        if let Some(manifest) = self.held().iter_mut().find(|m| m.id == id) {
            change(manifest);
        }
    }

    /// Registers a manifest as this thread's current one; returns its id.
    pub fn register_current(&self, scans: Vec<ScanEntry>, output_partitions: usize) -> u64 {
        let id = self.register(scans, output_partitions);
        CURRENT.with(|current| current.set(Some(id)));
        id
    }

    /// Changes this thread's current manifest, if any.
    pub fn update_current(&self, change: impl FnOnce(&mut ScanManifest)) {
        if let Some(id) = CURRENT.with(Cell::get) {
            self.update(id, change);
        }
    }

    /// Removes and returns this thread's current manifest.
    pub fn take_current(&self) -> Option<ScanManifest> {
        self.take(CURRENT.with(Cell::take)?)
    }

    /// Removes and returns the manifest `id`.
    pub fn take(&self, id: u64) -> Option<ScanManifest> {
        let mut held = self.held();
        let index = held.iter().position(|m| m.id == id)?;
        held.remove(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_taken_once_updated_in_place_and_bounded() {
        let registry = ManifestRegistry::new(2);
        let id = registry.register(Vec::new(), 3);
        registry.update(id, |m| m.endpoints = 3);
        let manifest = registry.take(id).expect("registered");
        assert_eq!((manifest.output_partitions, manifest.endpoints), (3, 3));
        assert_eq!(registry.take(id), None);

        let first = registry.register(Vec::new(), 1);
        let second = registry.register(Vec::new(), 1);
        let third = registry.register(Vec::new(), 1);
        assert_eq!(registry.take(first), None);
        assert!(registry.take(second).is_some() && registry.take(third).is_some());
    }

    #[test]
    fn the_current_manifest_is_per_thread() {
        let registry = ManifestRegistry::new(8);
        let id = registry.register_current(Vec::new(), 2);
        std::thread::scope(|scope| {
            scope.spawn(|| assert_eq!(registry.take_current(), None));
        });
        registry.update_current(|m| m.endpoints = 2);
        let manifest = registry.take_current().expect("this thread's");
        assert_eq!((manifest.id, manifest.endpoints), (id, 2));
        assert_eq!(registry.take_current(), None);
    }
}
