//! `flightserver._native`: exports flightserver-core to Python as DataFusion
//! FFI capsules. Only glue lives here; behaviour belongs in flightserver-core.

mod catalog;
mod delta;
#[cfg(feature = "distributed")]
mod distributed;
mod policy;
mod rulepack;
mod runtime;

use pyo3::prelude::*;

/// The DataFusion major version this extension's FFI structs were built for.
/// Python compares it with the installed `datafusion` wheel before any capsule
/// is handed over: a mismatch would be undefined behaviour, not an error.
fn datafusion_ffi_major() -> u64 {
    datafusion_ffi::version()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DATAFUSION_FFI_MAJOR", datafusion_ffi_major())?;
    m.add(
        "POLICY_ERROR_PREFIX",
        flightserver_core::POLICY_ERROR_PREFIX,
    )?;
    m.add_class::<rulepack::Rulepack>()?;
    m.add_class::<rulepack::PhysicalRule>()?;
    m.add_function(wrap_pyfunction!(rulepack::take_manifest, m)?)?;
    m.add_class::<rulepack::ResultRows>()?;
    m.add_class::<policy::Policy>()?;
    m.add(
        "PolicyViolation",
        m.py().get_type::<policy::PolicyViolation>(),
    )?;
    m.add(
        "SqlSyntaxError",
        m.py().get_type::<policy::SqlSyntaxError>(),
    )?;
    m.add_class::<policy::WriteStatement>()?;
    m.add_function(wrap_pyfunction!(policy::write_statement, m)?)?;
    m.add_class::<policy::MergeClause>()?;
    m.add_function(wrap_pyfunction!(policy::bind_parameters, m)?)?;
    m.add_class::<delta::DeltaProvider>()?;
    m.add_class::<delta::DeltaScan>()?;
    m.add_function(wrap_pyfunction!(delta::live_delta_versions, m)?)?;
    m.add(
        "DELTA_FILE_GONE_PREFIX",
        flightserver_core::delta::FILE_GONE_PREFIX,
    )?;
    m.add_class::<catalog::SwapSchema>()?;
    #[cfg(feature = "distributed")]
    distributed::register(m)?;
    Ok(())
}
