"""Loads the Rust extension, refusing one built for another DataFusion major.

Capsules are raw C structs: handing one built against datafusion-ffi N to a
datafusion wheel of major M != N is undefined behaviour, so the check happens
before any capsule can be created.
"""

from __future__ import annotations

import datafusion

from flightserver import _native


class ExtensionVersionError(ImportError):
    """The Rust extension and the datafusion wheel disagree on the major version."""


def check_ffi_compatibility(wheel_version: str, ffi_major: int) -> None:
    """Raises ExtensionVersionError unless `wheel_version` has major `ffi_major`."""
    wheel_major = int(wheel_version.split(".", 1)[0])
    if wheel_major != ffi_major:
        raise ExtensionVersionError(
            f"flightserver's Rust extension was built with datafusion-ffi {ffi_major}.x, "
            f"but the installed datafusion wheel is {wheel_version}; install datafusion=="
            f"{ffi_major}.* or rebuild the extension (scripts/setup.sh)"
        )


check_ffi_compatibility(datafusion.__version__, _native.DATAFUSION_FFI_MAJOR)

Rulepack = _native.Rulepack
Policy = _native.Policy
PolicyViolation = _native.PolicyViolation
SqlSyntaxError = _native.SqlSyntaxError
POLICY_ERROR_PREFIX = _native.POLICY_ERROR_PREFIX
DeltaProvider = _native.DeltaProvider
DeltaScan = _native.DeltaScan
WriteStatement = _native.WriteStatement
write_statement = _native.write_statement
MergeClause = _native.MergeClause
bind_parameters = _native.bind_parameters
take_manifest = _native.take_manifest
ResultRows = _native.ResultRows
SwapSchema = _native.SwapSchema
live_delta_versions = _native.live_delta_versions
DELTA_FILE_GONE_PREFIX = _native.DELTA_FILE_GONE_PREFIX
DistributedCoordinator = _native.DistributedCoordinator
DistributedSession = _native.DistributedSession
DistributedPlan = _native.DistributedPlan
EndpointStream = _native.EndpointStream
start_worker = _native.start_worker
WORKER_UNAVAILABLE_PREFIX = _native.WORKER_UNAVAILABLE_PREFIX

__all__ = [
    "DELTA_FILE_GONE_PREFIX",
    "POLICY_ERROR_PREFIX",
    "WORKER_UNAVAILABLE_PREFIX",
    "DeltaProvider",
    "DeltaScan",
    "DistributedCoordinator",
    "DistributedPlan",
    "DistributedSession",
    "EndpointStream",
    "ExtensionVersionError",
    "MergeClause",
    "Policy",
    "PolicyViolation",
    "ResultRows",
    "Rulepack",
    "SqlSyntaxError",
    "SwapSchema",
    "WriteStatement",
    "bind_parameters",
    "check_ffi_compatibility",
    "live_delta_versions",
    "start_worker",
    "take_manifest",
    "write_statement",
]
