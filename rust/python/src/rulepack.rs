//! The rulepack as Python sees it: a configured set of rules, each handed to
//! `SessionContext.add_physical_optimizer_rule` as an FFI capsule.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion_ffi::physical_optimizer::FFI_PhysicalOptimizerRule;
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use flightserver_core::rulepack::{
    RULEPACK_NAME, RULEPACK_VERSION, RulepackConfig, RulepackCounters, build_rules,
};
use flightserver_core::scan_budget::ScanBudget;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

type SharedRule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

/// The configured rulepack and the counters its rules move.
#[pyclass(frozen, module = "flightserver._native")]
pub struct Rulepack {
    rules: Vec<SharedRule>,
    counters: RulepackCounters,
}

#[pymethods]
impl Rulepack {
    #[new]
    #[pyo3(signature = (*, max_scan_rows = None, max_scan_bytes = None))]
    fn new(max_scan_rows: Option<u64>, max_scan_bytes: Option<u64>) -> Self {
        let config = RulepackConfig {
            scan_budget: ScanBudget {
                max_scan_rows,
                max_scan_bytes,
            },
        };
        let counters = RulepackCounters::default();
        let rules = build_rules(&config, &counters);
        Self { rules, counters }
    }

    #[classattr]
    fn name() -> &'static str {
        RULEPACK_NAME
    }

    #[classattr]
    fn version() -> u32 {
        RULEPACK_VERSION
    }

    /// The rules, in the order they are to be installed.
    fn rules(&self) -> Vec<PhysicalRule> {
        self.rules
            .iter()
            .map(|rule| PhysicalRule {
                rule: Arc::clone(rule),
            })
            .collect()
    }

    /// How often each rule has run, by counter name.
    fn counters(&self) -> BTreeMap<&'static str, u64> {
        BTreeMap::from([(
            "scan_budget_checks",
            self.counters.scan_budget_checks.load(Ordering::Relaxed),
        )])
    }
}

/// One physical optimizer rule, exported through DataFusion's FFI.
#[pyclass(frozen, module = "flightserver._native")]
pub struct PhysicalRule {
    rule: SharedRule,
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
