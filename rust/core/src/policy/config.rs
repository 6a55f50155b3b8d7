//! The policy's configuration, decoded from the JSON of the server's
//! `PolicyConfig` Struct (`src/flightserver/config.py`), which is its one
//! source: defaults live there, so every field is required here and unknown
//! fields are refused, and a Python test round-trips every field through this
//! decoder to keep the two in step.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// SELECT, VALUES, SHOW, DESCRIBE.
    pub allow_query: bool,
    /// EXPLAIN [ANALYZE] (the explained statement is checked too).
    pub allow_explain: bool,
    /// CREATE / DROP of tables, views, schemas, functions.
    pub allow_ddl: bool,
    /// INSERT, UPDATE, DELETE, MERGE, TRUNCATE.
    pub allow_dml: bool,
    /// COPY ... TO.
    pub allow_copy: bool,
    /// SET, RESET, transactions, PREPARE / EXECUTE / DEALLOCATE.
    pub allow_session: bool,
    /// Paths or URL prefixes where tables may be created and files written,
    /// besides the catalog and state directories.
    pub allowed_locations: Vec<String>,
    /// URL schemes allowed anywhere (for example `s3`).
    pub allowed_schemes: Vec<String>,
    /// Functions (scalar, aggregate, window or table) that may not be called.
    pub denied_functions: Vec<String>,
    pub max_scan_rows: Option<u64>,
    pub max_scan_bytes: Option<u64>,
    pub max_result_rows: Option<u64>,
}

impl PolicyConfig {
    /// Queries and EXPLAIN only, no limits: what Rust tests start from. The
    /// server's defaults are the Python Struct's.
    pub fn read_only() -> Self {
        Self {
            allow_query: true,
            allow_explain: true,
            allow_ddl: false,
            allow_dml: false,
            allow_copy: false,
            allow_session: false,
            allowed_locations: vec![],
            allowed_schemes: vec![],
            denied_functions: vec![],
            max_scan_rows: None,
            max_scan_bytes: None,
            max_result_rows: None,
        }
    }

    /// Whether any statement class that writes files is allowed.
    pub fn allows_writes(&self) -> bool {
        self.allow_dml || self.allow_copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_field_and_refuses_unknown_or_missing_ones() {
        let mut json = serde_json::to_value(PolicyConfig::read_only()).unwrap();
        json["max_scan_rows"] = 5.into();
        json["allowed_schemes"] = serde_json::json!(["s3"]);
        let config: PolicyConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(config.max_scan_rows, Some(5));
        assert_eq!(config.allowed_schemes, vec!["s3"]);

        let mut unknown = json.clone();
        unknown["allow_everything"] = true.into();
        let err = serde_json::from_value::<PolicyConfig>(unknown).unwrap_err();
        assert!(err.to_string().contains("allow_everything"), "{err}");

        let mut missing = json;
        missing.as_object_mut().unwrap().remove("allow_ddl");
        let err = serde_json::from_value::<PolicyConfig>(missing).unwrap_err();
        assert!(err.to_string().contains("allow_ddl"), "{err}");
    }
}
