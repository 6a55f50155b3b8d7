//! Catalog state the server swaps while it is read: schemas whose tables are
//! replaced in one step, so a table name never disappears while its table exists.

mod swap_schema;

pub use swap_schema::{MARKER_TABLE, STAGING_PREFIX, SwapSchemaProvider};
