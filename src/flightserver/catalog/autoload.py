"""Autoload folders: DataFusion's own catalog autoload, one folder per declaration.

DataFusion scans one folder per context (`datafusion.catalog.location`, an
absolute `file:///` URL, and `datafusion.catalog.format`, upper case: a lower
case format silently disables it) into a `default` schema, one table per
sub-folder, adding new sub-folders on `refresh_catalogs()`. To serve several
folders, each gets a small context of its own whose listing schema is then
registered in the server's catalog under the declared catalog and schema.
"""

from __future__ import annotations

from pathlib import Path

from datafusion import SessionConfig, SessionContext
from datafusion.catalog import Schema

from flightserver.catalog.definitions import AutoloadDefinition, TableFormat

# DataFusion's names: the autoload context's catalog, and the schema it fills.
_SCAN_CATALOG = "datafusion"
_SCAN_SCHEMA = "default"

_FORMAT_SETTING = {
    TableFormat.PARQUET: "PARQUET",
    TableFormat.CSV: "CSV",
    TableFormat.NDJSON: "JSON",
    TableFormat.ARROW: "ARROW",
    TableFormat.AVRO: "AVRO",
}


class AutoloadFolder:
    """One declared folder and the listing schema DataFusion keeps for it."""

    def __init__(self, definition: AutoloadDefinition, folder: Path) -> None:
        format_setting = _FORMAT_SETTING.get(definition.format)
        if format_setting is None:
            raise ValueError(f"{definition.format} folders cannot be autoloaded")
        if not folder.is_dir():
            raise ValueError(f"autoload folder {folder} does not exist")
        self.definition = definition
        self.folder = folder
        settings = {
            "datafusion.catalog.location": folder.as_uri() + "/",
            "datafusion.catalog.format": format_setting,
        }
        self._ctx = SessionContext(SessionConfig(settings))
        self.schema: Schema = self._ctx.catalog(_SCAN_CATALOG).schema(_SCAN_SCHEMA)
        self._sub_folders: set[str] = set()

    def sub_folders(self) -> set[str]:
        return {entry.name for entry in self.folder.iterdir() if entry.is_dir()}

    def scan(self) -> list[str]:
        """Rescans the folder (new sub-folders become tables); returns the table names."""
        self._ctx.refresh_catalogs()
        self._sub_folders = self.sub_folders()
        return sorted(self.schema.names())

    def lost_tables(self) -> bool:
        """Whether a sub-folder scanned earlier is gone (DataFusion's rescan only adds)."""
        return bool(self._sub_folders - self.sub_folders())
