"""The msgspec schema registry: committed JSON Schemas current, payloads versioned and strict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pyarrow as pa
import pytest
from pyarrow import flight

from flightserver.artifacts import model, registry
from flightserver.catalog import model as catalog_model
from tests.server_process import ServerProcess

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


@pytest.fixture
def client(server: ServerProcess) -> Iterator[flight.FlightClient]:
    with flight.connect(server.uri) as connection:
        yield connection


def test_committed_schemas_are_current() -> None:
    committed = {path.name: path.read_text() for path in SCHEMAS.glob("*.schema.json")}
    assert committed == registry.schema_files(), (
        "schemas/ is stale: run scripts/generate-schemas.sh"
    )


@pytest.mark.parametrize("payload", registry.PAYLOADS, ids=lambda p: p.__name__)
def test_every_payload_is_versioned_and_strict(payload: type[model.Payload]) -> None:
    schema = registry.json_schema(payload)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    definition = schema["$defs"][payload.__name__]
    assert definition["properties"]["version"]["enum"] == [1]
    assert definition["additionalProperties"] is False
    with pytest.raises(msgspec.ValidationError, match="unknown field `surplus`"):
        msgspec.json.decode(b'{"surplus": 1}', type=payload)


def test_every_struct_in_model_is_registered() -> None:
    structs = {
        value
        for value in [*vars(model).values(), *vars(catalog_model).values()]
        if isinstance(value, type)
        and issubclass(value, model.Payload)
        and value is not model.Payload
    }
    assert structs == set(registry.PAYLOADS)


def test_schemas_action_serves_the_committed_schemas(client: flight.FlightClient) -> None:
    [result] = client.do_action(flight.Action("GetJsonSchemas", b""))
    served = json.loads(result.body.to_pybytes())
    assert served["version"] == 1
    for name, schema in served["schemas"].items():
        assert json.loads((SCHEMAS / f"{name}.schema.json").read_text()) == schema


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"sql": "SELECT 1", "sqll": 2}', "unknown field `sqll`"),
        (b'{"sql": 1}', "`$.sql`"),
        (b'{"sql": "SELECT 1", "version": 2}', "`$.version`"),
        (b"{not json", "malformed"),
    ],
)
def test_invalid_payloads_are_invalid_argument_naming_the_field(
    client: flight.FlightClient, body: bytes, named: str
) -> None:
    with pytest.raises(pa.ArrowInvalid, match="invalid QueryRequest") as raised:
        list(client.do_action(flight.Action("Explain", body)))
    assert named in str(raised.value)
