"""The rollout state machine: (spec, status, observations, now) -> (new status, actions).

Layer rule (enforced by import-linter): no kopf, kubernetes or httpx, no I/O; the clock
is an argument, so every transition is reproducible in a test.
"""
