"""The root of every error modelops raises on purpose.

One root lets callers, the CLI and the operator's top-level handler catch the product's own
errors (bad input, an unreachable Prometheus, a refused read) without also catching
programming errors (TypeError, AttributeError, a KeyError from a bug), which must still crash
loudly. Each error also keeps its builtin base (ValueError, LookupError, RuntimeError) so code
that caught that base before catches it still.
"""

from __future__ import annotations


class ModelopsError(Exception):
    """An error modelops raises on purpose; its message says what went wrong and where."""
