"""Pure math that judges models: burn rates, canary checks, drift statistics.

Layer rule (enforced by import-linter): no kopf, kubernetes or httpx, no I/O. Values in,
values out, so every function is unit- and property-tested with plain numbers.
"""
