"""The Flight SQL protocol layer: decode requests, dispatch, encode answers."""
