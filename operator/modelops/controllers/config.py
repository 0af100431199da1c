"""Operator configuration, from flags with environment fallbacks (MODELOPS_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from modelops.render.prometheusrule import RUNBOOKS


@dataclass(frozen=True)
class OperatorConfig:
    """Everything the operator is told at start; handed to handlers through kopf's memo."""

    namespaces: tuple[str, ...] = ()  # empty: every namespace
    prometheus_url: str | None = None
    metrics_port: int = 8080
    health_port: int = 8081
    bind_address: str = "0.0.0.0"
    log_format: str = "text"
    log_level: str = "INFO"
    serving_image: str = "ghcr.io/modelops/modelops:0.1.0"
    runbook_url: str = RUNBOOKS  # base of every alert's runbook_url: <runbook_url>/<AlertName>.md
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @classmethod
    def from_env(cls, **overrides: object) -> OperatorConfig:
        """Environment defaults, then explicit (non-None) overrides from flags."""
        env = os.environ
        base: dict[str, object] = {
            "namespaces": tuple(n for n in env.get("MODELOPS_NAMESPACES", "").split(",") if n),
            "prometheus_url": env.get("MODELOPS_PROMETHEUS_URL") or None,
            "log_format": env.get("MODELOPS_LOG_FORMAT", "text"),
            "log_level": env.get("MODELOPS_LOG_LEVEL", "INFO"),
            "serving_image": env.get("MODELOPS_SERVING_IMAGE", cls.serving_image),
            "runbook_url": env.get("MODELOPS_RUNBOOK_URL") or RUNBOOKS,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)  # type: ignore[arg-type]
