"""Result types every client reads.

DataFusion produces view types (Utf8View, BinaryView, ListView) for speed; the
Arrow Flight SQL JDBC driver 18.x cannot read them, and JDBC has no unsigned
integers, and it cannot read zoned timestamps. Results are cast to types both
drivers read correctly, as the last projection of the query.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import DataFrame, col

_VIEW_TO_CLASSIC: dict[pa.DataType, pa.DataType] = {
    pa.string_view(): pa.utf8(),
    pa.binary_view(): pa.binary(),
    # JDBC has no unsigned integers: the JDBC driver reads uint8 255 as -1.
    # Each unsigned type goes out as the signed type that holds all its values.
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
}


def transport_type(data_type: pa.DataType) -> pa.DataType:
    """`data_type` as the server can send it to any client: dictionaries decoded.

    pyarrow's Flight `GeneratorStream` (how results stream) writes no dictionary
    batches, so no client can read a dictionary-encoded column from it.
    """
    return _converted(data_type, java=False)


def client_type(data_type: pa.DataType) -> pa.DataType:
    """`data_type` as the JDBC driver reads it: every view type, at any depth,
    replaced by its classic form, unsigned integers by signed, zoned timestamps by
    UTC wall time, dictionaries decoded."""
    return _converted(data_type, java=True)


def _converted(data_type: pa.DataType, java: bool) -> pa.DataType:
    if isinstance(data_type, pa.DictionaryType):
        return _converted(data_type.value_type, java)
    if not java:
        return _nested(data_type, java)
    classic = _VIEW_TO_CLASSIC.get(data_type)
    if classic is not None:
        return classic
    if isinstance(data_type, pa.TimestampType) and data_type.tz is not None:
        # Sent as UTC wall-clock time without a zone: the JDBC driver 18.x
        # (DBeaver's) cannot getObject() a zoned timestamp, and shifts named
        # zones (Europe/Berlin) by their offset a second time.
        return pa.timestamp(data_type.unit)
    return _nested(data_type, java)


def _nested(data_type: pa.DataType, java: bool) -> pa.DataType:
    if isinstance(data_type, pa.ListViewType | pa.ListType):
        if not java and isinstance(data_type, pa.ListViewType):
            return pa.list_view(_client_field(data_type.value_field, java))
        return pa.list_(_client_field(data_type.value_field, java))
    if isinstance(data_type, pa.LargeListViewType | pa.LargeListType):
        if not java and isinstance(data_type, pa.LargeListViewType):
            return pa.large_list_view(_client_field(data_type.value_field, java))
        return pa.large_list(_client_field(data_type.value_field, java))
    if isinstance(data_type, pa.FixedSizeListType):
        return pa.list_(_client_field(data_type.value_field, java), data_type.list_size)
    if isinstance(data_type, pa.StructType):
        return pa.struct(
            [_client_field(data_type.field(i), java) for i in range(data_type.num_fields)]
        )
    if isinstance(data_type, pa.MapType):
        # pyarrow accepts fields here (keeping names and nullability); its stubs do not say so.
        return pa.map_(
            _client_field(data_type.key_field, java),  # pyright: ignore[reportArgumentType]
            _client_field(data_type.item_field, java),  # pyright: ignore[reportArgumentType]
            data_type.keys_sorted,
        )
    return data_type


def _client_field(field: pa.Field, java: bool) -> pa.Field:
    return field.with_type(_converted(field.type, java))


def _column(name: str):  # noqa: ANN202 - datafusion.Expr
    # col() parses its argument as SQL; quoting keeps dots and case literal.
    return col('"' + name.replace('"', '""') + '"')


def _cast(field: pa.Field, target: pa.DataType):  # noqa: ANN202 - datafusion.Expr
    column = _column(field.name)
    source = field.type
    if isinstance(source, pa.TimestampType) and source.tz not in (None, "UTC"):
        # Relabel as UTC first (same instants): casting a zoned timestamp
        # straight to a zoneless one would give local time in the old zone.
        column = column.cast(pa.timestamp(source.unit, "UTC"))
    return column.cast(target).alias(field.name)


def client_schema(schema: pa.Schema, java: bool = True) -> pa.Schema:
    """`schema` as `with_client_types` leaves it: each converted field takes its new
    type (a cast keeps the field's nullability and drops its metadata)."""
    convert = client_type if java else transport_type
    fields: list[pa.Field] = []
    for field in schema:
        target = convert(field.type)
        fields.append(field if target == field.type else field.with_type(target).remove_metadata())
    converted = pa.schema(fields)
    return converted.with_metadata(schema.metadata) if schema.metadata else converted


def with_client_types(df: DataFrame, schema: pa.Schema, java: bool = True) -> DataFrame:
    """`df` unchanged if `schema` (its schema) is client-readable, else with casts
    added: to the JDBC driver's types for Java clients, else only what the
    transport cannot send (`transport_type`)."""
    targets = client_schema(schema, java).types
    if all(target == field.type for target, field in zip(targets, schema, strict=True)):
        return df
    return df.select(
        *(
            _column(field.name) if target == field.type else _cast(field, target)
            for target, field in zip(targets, schema, strict=True)
        )
    )
