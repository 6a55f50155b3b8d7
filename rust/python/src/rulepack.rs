//! The rulepack as Python sees it: a configured set of rules, each handed to
//! `SessionContext.add_physical_optimizer_rule` as an FFI capsule.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion_ffi::physical_optimizer::FFI_PhysicalOptimizerRule;
use flightserver_core::policy::result_rows::ResultRowBudget;
use flightserver_core::rulepack::{
    RULEPACK_NAME, RULEPACK_VERSION, RuleSequence, RulepackConfig, RulepackCounters, SharedRule,
    build_rules,
};
use flightserver_core::scan_manifest::MANIFESTS;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::policy::{Policy, PolicyViolation};

/// The configured rulepack and the counters its rules move.
#[pyclass(frozen, module = "flightserver._native")]
pub struct Rulepack {
    config: RulepackConfig,
    rules: Vec<SharedRule>,
    counters: RulepackCounters,
}

#[pymethods]
impl Rulepack {
    /// The rules enforcing `policy` on physical plans, serving results as up
    /// to `max_endpoints` Flight endpoints.
    #[new]
    #[pyo3(signature = (policy, max_endpoints = 1))]
    fn new(policy: &Policy, max_endpoints: usize) -> Self {
        let config = RulepackConfig::from_policy(policy.config()).with_max_endpoints(max_endpoints);
        let counters = RulepackCounters::default();
        let rules = build_rules(&config, &counters);
        Self {
            config,
            rules,
            counters,
        }
    }

    #[classattr]
    fn name() -> &'static str {
        RULEPACK_NAME
    }

    #[classattr]
    fn version() -> u32 {
        RULEPACK_VERSION
    }

    /// SHA-256 of the rules' configuration: with name and version, the
    /// rulepack's identity.
    #[getter]
    fn config_hash(&self) -> String {
        self.config.hash()
    }

    /// The rules' configuration, as JSON.
    #[getter]
    fn config_json(&self) -> String {
        serde_json::to_string(&self.config).expect("a rulepack config always serializes")
    }

    /// The rules as one rule that runs them in order: what a context installs
    /// (each plan crosses the FFI once, not once per rule).
    fn rule(&self) -> PhysicalRule {
        PhysicalRule {
            rule: Arc::new(RuleSequence::new(self.rules.clone())),
        }
    }

    /// The rules, in the order they run.
    fn rules(&self) -> Vec<PhysicalRule> {
        self.rules
            .iter()
            .map(|rule| PhysicalRule {
                rule: Arc::clone(rule),
            })
            .collect()
    }

    /// A fresh row count for one result, or `None` without a result row limit.
    fn result_rows(&self) -> Option<ResultRows> {
        self.config.max_result_rows.map(|max_rows| ResultRows {
            budget: ResultRowBudget::new(max_rows),
        })
    }

    /// How often each rule has run, by counter name.
    fn counters(&self) -> BTreeMap<&'static str, u64> {
        BTreeMap::from([(
            "scan_budget_checks",
            self.counters.scan_budget_checks.load(Ordering::Relaxed),
        )])
    }
}

/// The manifest (scans, endpoints; JSON) of the physical plan this thread
/// made last, removed from the registry; `None` if no rulepack shaped it or it
/// was taken already. Call right after `DataFrame.execution_plan()`.
#[pyfunction]
pub fn take_manifest() -> Option<String> {
    MANIFESTS
        .take_current()
        .map(|manifest| serde_json::to_string(&manifest).expect("a manifest always serializes"))
}

/// Counts the rows one result streams, against the policy's result row limit.
#[pyclass(frozen, module = "flightserver._native")]
pub struct ResultRows {
    budget: ResultRowBudget,
}

#[pymethods]
impl ResultRows {
    /// Counts `rows` more; raises `PolicyViolation` once the result is over the limit.
    fn count(&self, rows: u64) -> PyResult<()> {
        self.budget
            .count(rows)
            .map_err(|err| PolicyViolation::new_err(err.to_string()))
    }
}

/// One physical optimizer rule, exported through DataFusion's FFI.
#[pyclass(frozen, module = "flightserver._native")]
pub struct PhysicalRule {
    pub(crate) rule: SharedRule,
}

#[pymethods]
impl PhysicalRule {
    #[getter]
    fn name(&self) -> &str {
        self.rule.name()
    }

    fn __datafusion_physical_optimizer_rule__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // No tokio runtime: the rules only inspect plans and add no nodes of
        // their own that would need one to execute.
        let ffi = FFI_PhysicalOptimizerRule::new(Arc::clone(&self.rule), None);
        PyCapsule::new(
            py,
            ffi,
            Some(c"datafusion_physical_optimizer_rule".to_owned()),
        )
    }

    fn __repr__(&self) -> String {
        format!("PhysicalRule({:?})", self.rule.name())
    }
}
