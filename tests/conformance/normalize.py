"""Result values as DataFusion's sqllogictest runner prints them.

The rules are those of the runner's `normalize.rs` and `conversion.rs`
(datafusion-sqllogictest 55.2.0): NULL as `NULL`, empty strings as `(empty)`,
booleans lowercase, floats rounded to 12 decimals without trailing zeros,
decimals without trailing zeros, dictionaries by their values, everything else
in Arrow's display format (which DataFusion's cast to Utf8 writes), and a last
cell holding several lines spread over numbered rows.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa
from datafusion import SessionContext, col

NULL = "NULL"
_ROUND_TO = decimal.Decimal(1).scaleb(-12)
# Wide enough for any float64 written out in full (BigDecimal has no precision limit).
_EXACT = decimal.Context(prec=1000)


def column_types(schema: pa.Schema) -> str:
    """One letter a column, as the runner's `convert_schema_to_types`."""
    return "".join(_type_letter(field.type) for field in schema)


def _type_letter(data_type: pa.DataType) -> str:
    if pa.types.is_boolean(data_type):
        return "B"
    if pa.types.is_integer(data_type):
        return "I"
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "R"
    if _is_string(data_type):
        return "T"
    if pa.types.is_date(data_type) or pa.types.is_time(data_type):
        return "D"
    if pa.types.is_timestamp(data_type):
        return "P"
    if isinstance(data_type, pa.DictionaryType):
        integer_keys = pa.types.is_integer(data_type.index_type)
        return "T" if integer_keys and _is_string(data_type.value_type) else "?"
    return "?"


def _is_string(data_type: pa.DataType) -> bool:
    return data_type in (pa.utf8(), pa.large_utf8(), pa.string_view())


class Formatter:
    """Formats result tables; one DataFusion context writes Arrow's display strings."""

    def __init__(self) -> None:
        self._ctx = SessionContext()

    def rows(self, table: pa.Table) -> list[list[str]]:
        """The table's rows, one string a cell, with multi-line last cells expanded."""
        columns = [self._top_level(column.combine_chunks()) for column in table.columns]
        rows: list[list[str]] = []
        for index in range(table.num_rows):
            rows.extend(_expand([column[index] for column in columns]))
        return rows

    def _top_level(self, array: pa.Array) -> list[str]:
        data_type = array.type
        if isinstance(data_type, pa.DictionaryType):
            return self._top_level(array.dictionary_decode())  # pyright: ignore[reportAttributeAccessIssue]
        if pa.types.is_floating(data_type):
            return _each(array, _float_cell(data_type))
        if pa.types.is_decimal(data_type):
            return _each(array, _decimal_cell)
        if _is_string(data_type):
            return _each(array, _string_cell)
        return self._display(array)

    def _display(self, array: pa.Array) -> list[str]:
        """Arrow's display of each value (nested values too), NULL for nulls."""
        data_type = array.type
        if pa.types.is_null(data_type):
            return [NULL] * len(array)
        if isinstance(data_type, pa.DictionaryType):
            return self._display(array.dictionary_decode())  # pyright: ignore[reportAttributeAccessIssue]
        if pa.types.is_boolean(data_type):
            return _each(array, lambda value: "true" if value else "false")
        if _is_string(data_type):
            return _each(array, str)
        if (
            pa.types.is_binary(data_type)
            or pa.types.is_large_binary(data_type)
            or (pa.types.is_fixed_size_binary(data_type) or pa.types.is_binary_view(data_type))
        ):
            return _each(array, _hex)
        if isinstance(data_type, pa.ListViewType | pa.LargeListViewType):
            return self._display(array.cast(pa.large_list(data_type.value_field)))
        if isinstance(data_type, pa.MapType):
            return self._map(array)
        if isinstance(data_type, pa.ListType | pa.LargeListType | pa.FixedSizeListType):
            return self._list(array)
        if isinstance(data_type, pa.StructType):
            return self._struct(array)
        return self._cast(array)

    def _list(self, array: pa.Array) -> list[str]:
        values = self._display(array.flatten())  # pyright: ignore[reportAttributeAccessIssue]
        out: list[str] = []
        position = 0
        for item in array:
            if not item.is_valid:
                out.append(NULL)
                continue
            length = len(item)
            out.append("[" + ", ".join(values[position : position + length]) + "]")
            position += length
        return out

    def _map(self, array: pa.Array) -> list[str]:
        entries = pa.ListArray.from_arrays(
            array.offsets,  # pyright: ignore[reportAttributeAccessIssue]
            pa.StructArray.from_arrays(
                [array.keys, array.items],  # pyright: ignore[reportAttributeAccessIssue]
                ["key", "value"],
            ),
        )
        keys_values = self._struct_fields(entries.flatten())
        out: list[str] = []
        position = 0
        for valid, item in zip(array.is_valid().to_pylist(), entries, strict=True):
            if not valid:
                out.append(NULL)
                continue
            pairs = keys_values[position : position + len(item)]
            out.append("{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}")
            position += len(item)
        return out

    def _struct_fields(self, array: pa.Array) -> list[list[str]]:
        children = array.flatten()  # pyright: ignore[reportAttributeAccessIssue]
        shown = [self._display(child) for child in children]
        return [[values[index] for values in shown] for index in range(len(array))]

    def _struct(self, array: pa.Array) -> list[str]:
        data_type = array.type
        names = [data_type.field(index).name for index in range(data_type.num_fields)]  # pyright: ignore[reportAttributeAccessIssue]
        rows = self._struct_fields(array)
        return [
            "{"
            + ", ".join(f"{name}: {value}" for name, value in zip(names, row, strict=True))
            + "}"
            if valid
            else NULL
            for valid, row in zip(array.is_valid().to_pylist(), rows, strict=True)
        ]

    def _cast(self, array: pa.Array) -> list[str]:
        try:
            frame = self._ctx.from_arrow(pa.record_batch({"v": array}))
            shown = frame.select(col("v").cast(pa.utf8()).alias("v")).to_pydict()["v"]
        except Exception:  # a type DataFusion cannot cast to text: Python's spelling
            shown = [None if value is None else str(value) for value in array.to_pylist()]
        return [NULL if value is None else str(value) for value in shown]


def _each(array: pa.Array, show: Callable[[object], str]) -> list[str]:
    return [NULL if value is None else show(value) for value in array.to_pylist()]


def _hex(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def _string_cell(value: object) -> str:
    text = str(value)
    if not text:
        return "(empty)"
    return text.rstrip("\n").replace("\x00", "\\0")


def _float_cell(data_type: pa.DataType) -> Callable[[object], str]:
    width = {16: np.float16, 32: np.float32}.get(data_type.bit_width)

    def show(value: object) -> str:
        number = float(value)  # pyright: ignore[reportArgumentType]
        if math.isnan(number):
            return "NaN"
        if number in (float("inf"), float("-inf")):
            return "Infinity" if number > 0 else "-Infinity"
        # Rust's shortest round-trip digits of the value in its own width.
        digits = repr(number) if width is None else np.format_float_positional(width(number))
        return _plain(decimal.Decimal(digits).quantize(_ROUND_TO, decimal.ROUND_HALF_EVEN, _EXACT))

    return show


def _decimal_cell(value: object) -> str:
    return _plain(decimal.Decimal(str(value)))


def _plain(number: decimal.Decimal) -> str:
    if number.is_zero():
        return "0"  # BigDecimal has no negative zero
    return format(number.normalize(_EXACT), "f")


def _expand(row: list[str]) -> list[list[str]]:
    """A last cell of several lines becomes numbered rows (EXPLAIN plans)."""
    if not row or "\n" not in row[-1]:
        return [row]
    lines = row[-1].split("\n")
    expanded = [row[:-1]]
    for number, line in enumerate(lines, start=1):
        content = line.lstrip(" ")
        expanded.append([f"{number:02}){'-' * (len(line) - len(content))}{content}"])
    return expanded
