"""Operations: health, metrics, structured logs, query history and the status page."""
