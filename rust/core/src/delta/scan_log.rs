//! What each scan of a Delta provider read: the exact file set, so a query's
//! artifact can name it and a stored plan can be replayed against it.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::hashing::sha256_hex;

/// The files one scan read, from one snapshot version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRecord {
    /// Increases by one per scan of the provider (starting at 1).
    pub sequence: u64,
    pub version: u64,
    /// The scanned files' paths as the Delta log names them, sorted.
    pub files: Vec<String>,
    /// How many of the snapshot's active files the scan could have read
    /// (all of them, or the pinned set).
    pub candidate_files: usize,
}

impl ScanRecord {
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// SHA-256 (hex) of the sorted paths, one per line.
    pub fn files_hash(&self) -> String {
        file_set_hash(&self.files)
    }
}

/// A stable hash of a file set: SHA-256 (hex) of its sorted paths joined by newlines.
pub fn file_set_hash<S: AsRef<str>>(paths: &[S]) -> String {
    let mut sorted: Vec<&str> = paths.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    sha256_hex(sorted.join("\n").as_bytes())
}

/// The most recent scans of one provider (bounded: providers live as long as
/// the server does).
#[derive(Debug, Default)]
pub struct ScanLog {
    inner: Mutex<ScanLogInner>,
}

#[derive(Debug, Default)]
struct ScanLogInner {
    next_sequence: u64,
    recent: VecDeque<ScanRecord>,
}

const RECENT_SCANS: usize = 64;

impl ScanLog {
    /// Records a scan and returns its record.
    pub fn record(
        &self,
        version: u64,
        mut files: Vec<String>,
        candidate_files: usize,
    ) -> ScanRecord {
        files.sort_unstable();
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.next_sequence += 1;
        let record = ScanRecord {
            sequence: inner.next_sequence,
            version,
            files,
            candidate_files,
        };
        if inner.recent.len() == RECENT_SCANS {
            inner.recent.pop_front();
        }
        inner.recent.push_back(record.clone());
        record
    }

    pub fn last(&self) -> Option<ScanRecord> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.recent.back().cloned()
    }

    /// The recorded scans with a sequence number above `after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<ScanRecord> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner
            .recent
            .iter()
            .filter(|record| record.sequence > after)
            .cloned()
            .collect()
    }

    pub fn scan_count(&self) -> u64 {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.next_sequence
    }
}
