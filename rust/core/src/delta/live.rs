//! Which Delta versions are being read now: every provider (pinned in the
//! catalog, held by a running query's plan or a prepared statement, or made
//! for time travel) holds a `LiveRead` for its snapshot while it exists.
//! Vacuum keeps the files of these versions: a reader never loses its files
//! to maintenance run by the same server.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, OnceLock};

use datafusion_common::Result;

use super::snapshot::table_url;

/// Table root URL -> version -> how many providers read it.
type Registry = HashMap<String, BTreeMap<u64, usize>>;

fn registry() -> MutexGuard<'static, Registry> {
    static LIVE: OnceLock<Mutex<Registry>> = OnceLock::new();
    LIVE.get_or_init(Mutex::default)
        .lock()
        // Every change is one counter step: a panic elsewhere cannot leave it torn.
        .unwrap_or_else(|poison| poison.into_inner())
}

/// One provider's claim on one version of one table, released when dropped.
#[derive(Debug)]
pub struct LiveRead {
    table_root: String,
    version: u64,
}

impl LiveRead {
    pub fn new(table_root: &str, version: u64) -> Self {
        *registry()
            .entry(table_root.to_owned())
            .or_default()
            .entry(version)
            .or_default() += 1;
        Self {
            table_root: table_root.to_owned(),
            version,
        }
    }
}

impl Drop for LiveRead {
    fn drop(&mut self) {
        let mut live = registry();
        if let Some(versions) = live.get_mut(&self.table_root) {
            if let Some(count) = versions.get_mut(&self.version) {
                *count -= 1;
                if *count == 0 {
                    versions.remove(&self.version);
                }
            }
            if versions.is_empty() {
                live.remove(&self.table_root);
            }
        }
    }
}

/// The versions of the table at `location` (a path or URL, as `DeltaSnapshot::load`
/// takes it) that some provider reads now, ascending.
pub fn live_versions(location: &str) -> Result<Vec<u64>> {
    let root = table_url(location)?;
    Ok(registry()
        .get(root.as_str())
        .map(|versions| versions.keys().copied().collect())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_live_while_a_reader_holds_them() {
        let dir = std::env::temp_dir().join(format!("live-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let location = dir.to_str().unwrap();
        let root = table_url(location).unwrap().to_string();
        assert!(live_versions(location).unwrap().is_empty());
        let first = LiveRead::new(&root, 3);
        let second = LiveRead::new(&root, 3);
        let newer = LiveRead::new(&root, 5);
        assert_eq!(live_versions(location).unwrap(), vec![3, 5]);
        drop(first);
        assert_eq!(live_versions(location).unwrap(), vec![3, 5]);
        drop(second);
        assert_eq!(live_versions(location).unwrap(), vec![5]);
        drop(newer);
        assert!(live_versions(location).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
