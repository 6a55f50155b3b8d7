"""Artifact actions: list and fetch stored artifacts; the JSON Schemas of all payloads."""

from __future__ import annotations

from flightserver.actions import ActionContext, CustomAction
from flightserver.artifacts import registry
from flightserver.artifacts.model import (
    ArtifactSummary,
    ArtifactType,
    FetchArtifactRequest,
    FetchArtifactResponse,
    JsonSchemasRequest,
    JsonSchemasResponse,
    ListArtifactsRequest,
    ListArtifactsResponse,
    PlanBundle,
    StatementStatus,
)
from flightserver.protocol.errors import NotFound


def list_artifacts(context: ActionContext, body: bytes) -> list[bytes]:
    request = registry.decode_request(ListArtifactsRequest, body)
    rows = context.engine.artifacts.rows(request.artifact_type, request.limit).to_pylist()
    summaries = [
        ArtifactSummary(
            artifact_id=row["artifact_id"],
            artifact_type=ArtifactType(row["artifact_type"]),
            recorded_at=row["recorded_at"],
            kind=row["kind"],
            status=StatementStatus(row["status"]),
            sql=row["sql"],
            plan_sha256=row["plan_sha256"],
        )
        for row in rows
    ]
    return [registry.encode(ListArtifactsResponse(artifacts=summaries))]


def fetch_artifact(context: ActionContext, body: bytes) -> list[bytes]:
    request = registry.decode_request(FetchArtifactRequest, body)
    artifact = context.engine.artifacts.fetch(request.artifact_id)
    if artifact is None:
        raise NotFound(f"no artifact has artifact_id {request.artifact_id!r}")
    if isinstance(artifact, PlanBundle):
        response = FetchArtifactResponse(
            artifact_type=ArtifactType.PLAN_BUNDLE, plan_bundle=artifact
        )
    else:
        response = FetchArtifactResponse(artifact_type=ArtifactType.QUERY, query=artifact)
    return [registry.encode(response)]


def json_schemas(context: ActionContext, body: bytes) -> list[bytes]:
    registry.decode_request(JsonSchemasRequest, body)
    return [registry.encode(JsonSchemasResponse(schemas=registry.all_json_schemas()))]


def actions() -> list[CustomAction]:
    return [
        CustomAction(
            "ListArtifacts",
            "The newest stored artifacts (queries, writes, plan bundles), newest first."
            " Body: ListArtifactsRequest JSON; result: ListArtifactsResponse JSON.",
            list_artifacts,
        ),
        CustomAction(
            "FetchArtifact",
            "One stored artifact by id. Body: FetchArtifactRequest JSON;"
            " result: FetchArtifactResponse JSON.",
            fetch_artifact,
        ),
        CustomAction(
            "GetJsonSchemas",
            "The JSON Schema (2020-12) of every artifact and action payload, by name."
            " Body: JsonSchemasRequest JSON (or empty); result: JsonSchemasResponse JSON.",
            json_schemas,
        ),
    ]
