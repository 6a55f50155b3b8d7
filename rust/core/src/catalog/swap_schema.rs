//! `SwapSchemaProvider`: a schema whose `register_table` replaces an existing
//! table in one step instead of refusing it (DataFusion's memory schema
//! refuses, so a re-registration had to deregister first and a query arriving
//! in between found no table).
//!
//! A plan holds the provider it resolved, so a query planned before a swap
//! keeps reading the old table to its last batch; the old provider lives as
//! long as such a plan does.
//!
//! DDL (`CREATE EXTERNAL TABLE`) refuses a name that exists, so a changed
//! definition is created under a staging name (`STAGING_PREFIX` + name), then
//! registered over the live name in one step. Staging names are not listed.
//!
//! `table_exist(MARKER_TABLE)` is true of this schema only: through the FFI
//! the host cannot tell a foreign schema's type, and the server must know
//! whether a schema is one of these before relying on its replace.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use datafusion_catalog::{SchemaProvider, TableProvider};
use datafusion_common::Result;

/// Names starting with this are tables being built by DDL, not yet visible.
pub const STAGING_PREFIX: &str = "__flightserver_staging__";

/// A name this schema claims to hold (and no other does); never listed or resolved.
pub const MARKER_TABLE: &str = "__flightserver_swap_schema__";

type Tables = HashMap<String, Arc<dyn TableProvider>>;

#[derive(Debug, Default)]
pub struct SwapSchemaProvider {
    tables: RwLock<Tables>,
}

impl SwapSchemaProvider {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every table, staging ones included (tests, diagnostics).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    // A panic while holding the lock leaves the map itself intact (every
    // change is one insert or remove), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[async_trait]
impl SchemaProvider for SwapSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .read()
            .keys()
            .filter(|name| !name.starts_with(STAGING_PREFIX))
            .cloned()
            .collect();
        names.sort_unstable();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.read().get(name).cloned())
    }

    /// Registers `table` as `name`, replacing (and returning) any table of that name.
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.write().insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.write().remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == MARKER_TABLE || self.read().contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::{DataType, Field, Schema};
    use datafusion_catalog::MemTable;

    use super::*;

    fn table(column: &str) -> Arc<dyn TableProvider> {
        let schema = Arc::new(Schema::new(vec![Field::new(column, DataType::Int64, true)]));
        Arc::new(MemTable::try_new(schema, vec![vec![]]).expect("an empty table"))
    }

    trait Now {
        fn table_now(&self, name: &str) -> Option<Arc<dyn TableProvider>>;
    }

    impl Now for SwapSchemaProvider {
        fn table_now(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
            futures::executor::block_on(self.table(name)).expect("a lookup")
        }
    }

    fn column_of(table: &Arc<dyn TableProvider>) -> String {
        table.schema().field(0).name().clone()
    }

    #[test]
    fn register_replaces_and_the_old_table_lives_on() {
        let schema = SwapSchemaProvider::new();
        assert!(
            schema
                .register_table("t".into(), table("a"))
                .unwrap()
                .is_none()
        );
        let held = schema.table_now("t").unwrap();
        let old = schema.register_table("t".into(), table("b")).unwrap();
        assert_eq!(column_of(&old.unwrap()), "a");
        assert_eq!(column_of(&schema.table_now("t").unwrap()), "b");
        // A plan that resolved the table before the swap still reads the old one.
        assert_eq!(column_of(&held), "a");
        assert_eq!(schema.table_names(), vec!["t".to_owned()]);
    }

    #[test]
    fn a_staged_table_replaces_the_live_one_and_stays_unlisted() {
        let schema = SwapSchemaProvider::new();
        schema.register_table("t".into(), table("a")).unwrap();
        let staged = format!("{STAGING_PREFIX}t");
        schema.register_table(staged.clone(), table("b")).unwrap();
        assert_eq!(schema.table_names(), vec!["t".to_owned()]);
        let built = schema.table_now(&staged).unwrap();
        schema.register_table("t".into(), built).unwrap();
        schema.deregister_table(&staged).unwrap();
        assert_eq!(column_of(&schema.table_now("t").unwrap()), "b");
        assert_eq!(schema.len(), 1);
    }

    #[test]
    fn only_this_schema_claims_the_marker() {
        let schema = SwapSchemaProvider::new();
        assert!(schema.table_exist(MARKER_TABLE));
        assert!(schema.table_now(MARKER_TABLE).is_none());
        assert!(schema.table_names().is_empty());
        let memory = datafusion_catalog::MemorySchemaProvider::new();
        assert!(!memory.table_exist(MARKER_TABLE));
    }

    #[test]
    fn readers_never_miss_a_table_being_replaced() {
        let schema = Arc::new(SwapSchemaProvider::new());
        schema.register_table("t".into(), table("v0")).unwrap();
        let writer = {
            let schema = Arc::clone(&schema);
            std::thread::spawn(move || {
                for version in 1..2000 {
                    schema
                        .register_table("t".into(), table(&format!("v{version}")))
                        .unwrap();
                }
            })
        };
        let mut seen = 0;
        while !writer.is_finished() {
            assert!(schema.table_now("t").is_some());
            assert!(schema.table_exist("t"));
            seen += 1;
        }
        writer.join().unwrap();
        assert!(seen > 0);
        assert_eq!(column_of(&schema.table_now("t").unwrap()), "v1999");
    }
}
