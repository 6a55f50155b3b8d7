"""Plan artifacts: what a query was, how it was planned, and what it read.

`model` holds every artifact and action payload (msgspec Structs, the one
definition); `registry` decodes them and exports their JSON Schemas; `store`
keeps artifacts in a Delta table served as `system.queries`.
"""
