"""Type stubs for the Rust extension (rust/python)."""

from typing import ClassVar

DATAFUSION_FFI_MAJOR: int
POLICY_ERROR_PREFIX: str

class PhysicalRule:
    @property
    def name(self) -> str: ...
    def __datafusion_physical_optimizer_rule__(self) -> object: ...

class Rulepack:
    name: ClassVar[str]
    version: ClassVar[int]
    def __init__(
        self, *, max_scan_rows: int | None = None, max_scan_bytes: int | None = None
    ) -> None: ...
    def rules(self) -> list[PhysicalRule]: ...
    def counters(self) -> dict[str, int]: ...
