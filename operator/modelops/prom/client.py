"""An async client for the Prometheus HTTP API (query, query_range, series).

Evaluation time is always explicit, so a decision can be replayed later against the same
data. Errors name the URL, the query and the reason. Transient failures (connection
errors, timeouts, 429 and 5xx) are retried a bounded number of times with backoff;
refusals (400/422, bad PromQL) are not, and neither are authentication failures (401/403),
which are reported as such. Credentials (a bearer token or basic auth) are fixed per client:
a caller whose credentials change makes a new client. They never appear in errors or repr.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from prometheus_client import Counter

from modelops.errors import ModelopsError

RESULTS = ("ok", "unreachable", "refused", "error")
REQUESTS = Counter(
    "modelops_prometheus_requests_total",
    "Requests to Prometheus by result: ok; unreachable (no answer, 429 or 5xx after every retry); refused "
    "(401/403, or its credentials could not be read); error (Prometheus refused the query). Labelled by the "
    "Prometheus base URL (without user info); every result is exported at 0 from the first client of a URL.",
    ["prometheus", "result"],
)


def _shown(url: str) -> str:
    """The base URL without user info, as a label value."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"")) if parsed.userinfo else url


class PrometheusError(ModelopsError, RuntimeError):
    """A query failed; says where, what and why."""

    headline = "unavailable"  # how a check's reason introduces this failure: "Prometheus unavailable: ..."

    def __init__(self, url: str, query: str, reason: str) -> None:
        super().__init__(f"Prometheus {url}: query {query!r}: {reason}")
        self.url, self.query, self.reason = url, query, reason


class PrometheusUnreachable(PrometheusError):
    """Prometheus could not be reached or kept failing (after retries)."""


class PrometheusQueryError(PrometheusError):
    """Prometheus refused the query."""


class PrometheusAuthError(PrometheusError):
    """Prometheus (or a proxy in front of it) answered 401 or 403: the credentials are missing or wrong."""

    headline = "refused the credentials"


class PrometheusCredentialsError(PrometheusError):
    """The credentials to send could not be read (a missing Secret or key): nothing was sent."""

    headline = "credentials unavailable"


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One element of a range matrix."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]  # (unix time, value)


def _auth_reason(response: httpx.Response, sent: bool) -> str:
    what = "Unauthorized" if response.status_code == 401 else "Forbidden"
    detail = response.text.strip()[:200]
    told = f" ({detail})" if detail else ""
    if not sent:
        return f"HTTP {response.status_code} {what}{told}: Prometheus wants credentials and none are configured"
    return f"HTTP {response.status_code} {what}{told}: Prometheus refused the configured credentials"


def _ts(at: datetime | float) -> str:
    return repr(at.timestamp() if isinstance(at, datetime) else float(at))


def _value(raw: str) -> float:
    return float(raw)  # Prometheus writes NaN, +Inf, -Inf as strings; float() reads them all


class PrometheusClient:
    """One Prometheus server. Use as an async context manager, or call aclose()."""

    def __init__(
        self,
        url: str,
        *,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        refusal: str | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`refusal`: credentials were configured but could not be read; every query raises
        PrometheusCredentialsError with this reason instead of going out unauthenticated."""
        if bearer_token is not None and basic_auth is not None:
            raise ValueError("a bearer token or basic auth, not both")
        self.url = url.rstrip("/")
        self.refusal = refusal
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        auth = httpx.BasicAuth(*basic_auth) if basic_auth is not None else None
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=headers, auth=auth, verify=verify, timeout=timeout, transport=transport
        )
        self._sends_credentials = bool(bearer_token) or basic_auth is not None
        self.retries = retries
        self.backoff = backoff
        self.queries = 0  # sent, for the benchmark's "queries per analysis interval"
        self._label = _shown(self.url)
        for result in RESULTS:
            REQUESTS.labels(self._label, result)

    async def __aenter__(self) -> PrometheusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, params: list[tuple[str, str]], query: str) -> Any:
        try:
            data = await self._send(path, params, query)
        except (PrometheusAuthError, PrometheusCredentialsError):
            REQUESTS.labels(self._label, "refused").inc()
            raise
        except PrometheusUnreachable:
            REQUESTS.labels(self._label, "unreachable").inc()
            raise
        except PrometheusQueryError:
            REQUESTS.labels(self._label, "error").inc()
            raise
        REQUESTS.labels(self._label, "ok").inc()
        return data

    async def _send(self, path: str, params: list[tuple[str, str]], query: str) -> Any:
        form: dict[str, str | list[str]] = {}
        for key, value in params:  # repeated keys (match[]) become lists
            existing = form.get(key)
            form[key] = value if existing is None else [*([existing] if isinstance(existing, str) else existing), value]
        if self.refusal is not None:
            raise PrometheusCredentialsError(self.url, query, self.refusal)
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            self.queries += 1
            try:
                response = await self._client.post(path, data=form)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error or 'no response'}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code in (401, 403):
                raise PrometheusAuthError(self.url, query, _auth_reason(response, self._sends_credentials))
            try:
                doc = response.json()
            except ValueError:
                raise PrometheusQueryError(self.url, query, f"HTTP {response.status_code}, body is not JSON") from None
            if response.status_code >= 400 or doc.get("status") != "success":
                reason = f"{doc.get('errorType', 'error')}: {doc.get('error', response.text[:200])}"
                raise PrometheusQueryError(self.url, query, reason)
            return doc["data"]
        raise PrometheusUnreachable(self.url, query, f"{last} (after {self.retries + 1} attempts)")

    async def query(self, expr: str, *, time: datetime | float) -> list[Sample]:
        """An instant query at `time`; scalars come back as one unlabelled sample."""
        data = await self._get("/api/v1/query", [("query", expr), ("time", _ts(time))], expr)
        kind, result = data["resultType"], data["result"]
        if kind == "vector":
            return [Sample(r["metric"], _value(r["value"][1])) for r in result]
        if kind == "scalar":
            return [Sample({}, _value(result[1]))]
        raise PrometheusQueryError(self.url, expr, f"expected a vector or scalar, got a {kind}")

    async def query_range(
        self, expr: str, *, start: datetime | float, end: datetime | float, step: float
    ) -> list[Series]:
        params = [("query", expr), ("start", _ts(start)), ("end", _ts(end)), ("step", repr(float(step)))]
        data = await self._get("/api/v1/query_range", params, expr)
        return [Series(r["metric"], tuple((float(t), _value(v)) for t, v in r["values"])) for r in data["result"]]

    async def series(self, *matchers: str, start: datetime | float, end: datetime | float) -> list[dict[str, str]]:
        params = [("match[]", m) for m in matchers] + [("start", _ts(start)), ("end", _ts(end))]
        result: list[dict[str, str]] = await self._get("/api/v1/series", params, " or ".join(matchers))
        return result


def finite(samples: list[Sample]) -> list[Sample]:
    """Drop NaN results (0/0 in PromQL): no data is no data, never zero."""
    return [s for s in samples if not math.isnan(s.value)]
