//! flightserver's engine-side logic: physical plan rules, SQL policy and table
//! providers. Nothing here knows about Python; `rust/python` exports it as
//! DataFusion FFI capsules.

pub mod catalog;
pub mod delta;
pub mod flight_output;
pub mod hashing;
pub mod ordered_output;
pub mod policy;
pub mod rulepack;
pub mod scan_budget;
pub mod scan_manifest;
pub mod scan_recorder;

/// Prefix of every error a flightserver policy rule raises. Errors cross the
/// DataFusion FFI as text only, so the server recognizes policy denials by it
/// and answers them with PERMISSION_DENIED.
pub const POLICY_ERROR_PREFIX: &str = "[flightserver.policy]";
