"""Async Prometheus HTTP API client (`client`), PromQL builders (`promql`) and SLI queries (`sli`).

`promql` is pure string building, so the pure `render` layer may use it; importing this
package does not import httpx. Exceptions (in `client`)::

    PrometheusError            any failure; names the URL, the query and why
    ├── PrometheusUnreachable  transport errors and 5xx/429 after bounded retries
    ├── PrometheusQueryError   Prometheus refused the query (4xx, status "error")
    ├── PrometheusAuthError    401/403: credentials missing or wrong (not retried, not "unreachable")
    └── PrometheusCredentialsError  the configured credentials could not be read; nothing was sent
"""
