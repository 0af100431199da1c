"""The reference model server (`modelops serve`) and telemetry helpers for any Python server."""
