"""The engine layer: the DataFusion session, our Rust extension, result streaming."""
