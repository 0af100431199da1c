"""Async Prometheus HTTP API client (`client`) and what runs queries with it (`sli`, `canary`, `drift`).

The queries themselves are pure string building in `modelops.promql`, below this package and
`analysis`, so the pure layers use them without importing the client. Exceptions (in `client`)::

    PrometheusError            any failure; names the URL, the query and why
    ├── PrometheusUnreachable  transport errors and 5xx/429 after bounded retries
    ├── PrometheusQueryError   Prometheus refused the query (4xx, status "error")
    ├── PrometheusAuthError    401/403: credentials missing or wrong (not retried, not "unreachable")
    └── PrometheusCredentialsError  the configured credentials could not be read; nothing was sent
"""
