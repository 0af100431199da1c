"""Operator configuration, from flags with environment fallbacks (MODELOPS_*)."""

from __future__ import annotations

import os
import socket
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
    # leader election (docs/operator.md, High availability): off by default for local runs
    leader_elect: bool = False
    lease_name: str = "modelops-operator"
    lease_namespace: str = "default"
    identity: str = ""  # empty: POD_NAME, else host-pid
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

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
            "lease_namespace": env.get("POD_NAMESPACE") or "default",
            "identity": env.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)  # type: ignore[arg-type]
