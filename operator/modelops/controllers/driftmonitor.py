"""DriftMonitor handlers."""

from __future__ import annotations

from modelops.api.v1alpha1 import DRIFT_MONITOR, DriftMonitorSpec
from modelops.controllers.admission import register

register(DRIFT_MONITOR, DriftMonitorSpec)
