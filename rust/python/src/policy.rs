//! The policy as Python sees it: built from the JSON of the server's
//! `PolicyConfig` Struct, asked to check each request before the engine runs
//! it. Python passes configuration and SQL in; every decision is made here.

use std::collections::BTreeMap;

use flightserver_core::policy::row_write::bind_parameters as core_bind_parameters;
use flightserver_core::policy::statement::{
    SQL_DIALECT, SQL_RECURSION_LIMIT, write_statement as core_write_statement,
};
use flightserver_core::policy::{CheckError, Policy as CorePolicy, PolicyConfig};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

create_exception!(
    _native,
    PolicyViolation,
    PyException,
    "A request the SQL policy refuses; the message names the rule and what in the request broke it."
);
create_exception!(
    _native,
    SqlSyntaxError,
    PyValueError,
    "A request DataFusion's SQL parser cannot read (so the engine would refuse it too)."
);

#[pyclass(frozen, module = "flightserver._native")]
pub struct Policy {
    pub(crate) inner: CorePolicy,
}

#[pymethods]
impl Policy {
    /// `config_json`: the msgspec JSON of `PolicyConfig`; `default_roots`: the
    /// directories always allowed (the catalog's and the server state's).
    #[new]
    #[pyo3(signature = (config_json, *, default_roots))]
    fn new(config_json: &str, default_roots: Vec<String>) -> PyResult<Self> {
        CorePolicy::from_json(config_json, default_roots)
            .map(|inner| Self { inner })
            .map_err(|error| {
                PyValueError::new_err(format!("invalid policy configuration: {error}"))
            })
    }

    /// Raises `PolicyViolation` or `SqlSyntaxError` unless `sql` may run.
    fn check_sql(&self, py: Python<'_>, sql: &str) -> PyResult<()> {
        py.detach(|| self.inner.check_sql(sql))
            .map_err(|error| match error {
                CheckError::Denied(violation) => PolicyViolation::new_err(violation.to_string()),
                CheckError::Syntax(error) => SqlSyntaxError::new_err(error.to_string()),
            })
    }

    /// The configuration as this policy decoded it, re-encoded as JSON.
    fn config_json(&self) -> String {
        serde_json::to_string(self.inner.config()).expect("a policy config always serializes")
    }

    /// Settings for DataFusion's `SQLOptions`, by `with_<name>` method name.
    fn sql_options(&self) -> BTreeMap<&'static str, bool> {
        let flags = self.inner.sql_options();
        BTreeMap::from([
            ("allow_ddl", flags.allow_ddl),
            ("allow_dml", flags.allow_dml),
            ("allow_statements", flags.allow_statements),
        ])
    }

    /// Engine settings the policy relies on: the engine must parse SQL as
    /// the policy does.
    #[staticmethod]
    fn engine_settings() -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("datafusion.sql_parser.dialect", SQL_DIALECT.to_owned()),
            (
                "datafusion.sql_parser.recursion_limit",
                SQL_RECURSION_LIMIT.to_string(),
            ),
        ])
    }
}

impl Policy {
    pub(crate) fn config(&self) -> &PolicyConfig {
        self.inner.config()
    }
}

/// A write statement's target and source query (see `write_statement`).
#[pyclass(frozen, get_all, module = "flightserver._native")]
pub struct WriteStatement {
    /// "insert", "create_table_as", "copy", "delete", "update" or "merge".
    kind: &'static str,
    /// Table name parts, normalized as the engine does; for COPY, the location.
    target: Vec<String>,
    columns: Vec<String>,
    /// The source query (MERGE: its USING source as a query).
    source: String,
    overwrite: bool,
    if_not_exists: bool,
    /// DELETE/UPDATE/MERGE: the name predicates use for the target.
    target_alias: String,
    /// DELETE/UPDATE: WHERE; MERGE: ON.
    predicate: Option<String>,
    /// UPDATE: (column, expression).
    assignments: Vec<(String, String)>,
    source_alias: Option<String>,
    clauses: Vec<Py<MergeClause>>,
    /// A form of DELETE/UPDATE/MERGE the server does not run.
    refused: Option<String>,
}

/// One `WHEN ... THEN ...` clause of a MERGE.
#[pyclass(frozen, get_all, module = "flightserver._native")]
pub struct MergeClause {
    /// "matched", "not_matched" or "not_matched_by_source".
    matched: &'static str,
    /// "update", "delete" or "insert".
    action: &'static str,
    predicate: Option<String>,
    /// (column, expression); INSERT without a column list: empty column names.
    assignments: Vec<(String, String)>,
}

/// The write `sql` does (INSERT ... query, CREATE TABLE AS, COPY TO), read
/// with the engine's parser; None for any other statement. Raises
/// `SqlSyntaxError` when `sql` does not parse.
#[pyfunction]
pub fn write_statement(py: Python<'_>, sql: &str) -> PyResult<Option<WriteStatement>> {
    let found = py
        .detach(|| core_write_statement(sql))
        .map_err(|error| SqlSyntaxError::new_err(error.to_string()))?;
    let Some(write) = found else {
        return Ok(None);
    };
    let row = write.row.unwrap_or_default();
    let clauses = row
        .clauses
        .into_iter()
        .map(|clause| {
            Py::new(
                py,
                MergeClause {
                    matched: clause.matched.name(),
                    action: clause.action.name(),
                    predicate: clause.predicate,
                    assignments: clause.assignments,
                },
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Some(WriteStatement {
        kind: write.kind.name(),
        target: write.target,
        columns: write.columns,
        source: write.source,
        overwrite: write.overwrite,
        if_not_exists: write.if_not_exists,
        target_alias: row.target_alias,
        predicate: row.predicate,
        assignments: row.assignments,
        source_alias: row.source_alias,
        clauses,
        refused: row.refused,
    }))
}

/// `sql` with placeholder `$n` replaced by `literals[n - 1]`, each of which
/// must be a constant SQL literal. Raises `SqlSyntaxError` otherwise.
#[pyfunction]
pub fn bind_parameters(py: Python<'_>, sql: &str, literals: Vec<String>) -> PyResult<String> {
    py.detach(|| core_bind_parameters(sql, &literals))
        .map_err(|error| SqlSyntaxError::new_err(error.to_string()))
}
