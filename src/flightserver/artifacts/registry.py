"""The schema registry: every payload Struct, its decoding, and its JSON Schema.

`python -m flightserver.artifacts.registry DIR` writes one JSON Schema
(draft 2020-12) per payload into DIR (`scripts/generate-schemas.sh` does it
for `schemas/`); a test fails when the committed files are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from flightserver.artifacts import model
from flightserver.catalog import model as catalog_model
from flightserver.protocol.errors import InvalidRequest

P = TypeVar("P", bound=model.Payload)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

PAYLOADS: tuple[type[model.Payload], ...] = (
    model.QueryArtifact,
    model.ResultCacheOutcome,
    model.DistributedRun,
    model.DistributedStage,
    model.WriteOutcome,
    model.PlanBundle,
    model.DeltaPin,
    model.DeltaScan,
    model.ScanRecord,
    model.PlanManifest,
    model.ExternalTable,
    model.RulepackIdentity,
    model.RulepackRequest,
    model.RulepackResponse,
    model.SubstraitRoundTrip,
    model.QueryRequest,
    model.SubstraitPlanResponse,
    model.ExplainResponse,
    model.PlanBundleResponse,
    model.ListArtifactsRequest,
    model.ArtifactSummary,
    model.ListArtifactsResponse,
    model.FetchArtifactRequest,
    model.FetchArtifactResponse,
    model.JsonSchemasRequest,
    model.JsonSchemasResponse,
    model.ReplayRequest,
    model.ReplayResponse,
    # The catalog actions (actions/catalog.py).
    catalog_model.CatalogHealthRequest,
    catalog_model.CatalogHealthResponse,
    catalog_model.RefreshCatalogRequest,
    catalog_model.RefreshCatalogResponse,
    catalog_model.RepinDeltaRequest,
    catalog_model.RepinDeltaResponse,
    catalog_model.TimeTravelDeltaRequest,
    catalog_model.TimeTravelDeltaResponse,
    model.TableAdoption,
    model.MaintenanceStatusRequest,
    model.MaintenanceStatusResponse,
    model.RunMaintenanceRequest,
    model.TableMaintenanceRun,
    model.RunMaintenanceResponse,
)


def decode_request(payload_type: type[P], body: bytes) -> P:
    """Decodes an action body (JSON; empty means `{}`), naming the offending field."""
    try:
        return msgspec.json.decode(body or b"{}", type=payload_type)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidRequest(f"invalid {payload_type.__name__}: {exc}") from exc


def encode(payload: model.Payload) -> bytes:
    return msgspec.json.encode(payload)


def json_schema(payload_type: type[model.Payload]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one payload, its nested Structs under `$defs`."""
    schema = msgspec.json.schema(payload_type)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": payload_type.__name__, **schema}


def all_json_schemas() -> dict[str, dict[str, Any]]:
    return {payload.__name__: json_schema(payload) for payload in PAYLOADS}


def schema_files() -> dict[str, str]:
    """File name -> content of every schema file, as `schemas/` must hold them."""
    return {
        f"{name}.schema.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in all_json_schemas().items()
    }


def write_schema_files(folder: Path) -> None:
    """Makes `folder` hold exactly the current schema files."""
    folder.mkdir(parents=True, exist_ok=True)
    files = schema_files()
    for stale in folder.glob("*.schema.json"):
        if stale.name not in files:
            stale.unlink()
    for name, content in files.items():
        (folder / name).write_text(content)


if __name__ == "__main__":
    write_schema_files(Path(sys.argv[1]))
