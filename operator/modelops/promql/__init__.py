"""Pure PromQL builders: no I/O, no imports above the telemetry contract.

They sit below `analysis` and `prom` so that the pure layers (`analysis`, `render`) and the
Prometheus client (`prom`) share one spelling of every query without importing each other:

    expr   escaping, selectors, range durations, custom-check templates
    sli    bad/total events per window (availability, latency, invalid requests), bucket sums
    drift  the feature, category and prediction distributions a DriftMonitor compares
"""
