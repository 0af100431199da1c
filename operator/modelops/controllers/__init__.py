"""Thin kopf handlers: parse -> observe -> decide -> apply -> patch status.

Importing this package registers every handler with kopf's default registry.
"""

from modelops.controllers import driftmonitor, lifecycle, retrainpolicy, rollout, watch

__all__ = ["driftmonitor", "lifecycle", "retrainpolicy", "rollout", "watch"]
