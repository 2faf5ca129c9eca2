"""A small typed client for Shopify's Admin GraphQL API over httpx.

``ShopifyClient.execute(query, variables)`` posts to
``{base_url}/admin/api/{api_version}/graphql.json`` with the access token in
``X-Shopify-Access-Token`` and returns ``data``. Around each call:

* cost throttling (``throttle.CostThrottle``): the bucket Shopify reports in
  ``extensions.cost.throttleStatus`` decides how long to wait before a query
  of the cost Shopify last charged for the same query text;
* ``THROTTLED`` answers, whether HTTP 200 with the error code or HTTP 429,
  wait until the reported bucket holds the query's cost, then retry (they use
  a budget of their own, ``throttle_retries``: being throttled is normal);
* 5xx, timeouts, refused and dropped connections back off from
  ``retry.delay_ms``, doubling, up to ``retry.limit`` retries, then
  ``ShopifyUnavailableError``;
* 401/403 are ``ShopifyAuthError`` at once; other top-level ``errors`` are
  ``ShopifyRequestError``. ``userErrors`` are the caller's to read per record.

The token is registered with ``memberkit.secrets`` so it is redacted
everywhere, and it is never logged. When Shopify serves another version than
the one asked for (``X-Shopify-API-Version``, an unsupported version falls
forward), the client warns once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from memberkit.config import Secret
from memberkit.integrations.shopify.errors import (
    ShopifyAuthError,
    ShopifyBulkError,
    ShopifyRequestError,
    ShopifyUnavailableError,
    describe_errors,
)
from memberkit.integrations.shopify.throttle import CostThrottle, ThrottleStatus
from memberkit.secrets import redact, register_secret

log = logging.getLogger("memberkit.shopify")

TOKEN_VARIABLE = "SHOPIFY_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a secret
#: The default Admin API version: the quarterly release of October 2026, supported
#: by Shopify until at least October 2027.
DEFAULT_API_VERSION = "2026-10"
MAX_RETRY_AFTER_SECONDS = 60.0
#: Cost assumed for a query never sent before (Shopify's charge for one mutation).
DEFAULT_COST = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``limit`` retries of network faults and 5xx; back off from ``delay_ms``, doubling."""

    limit: int = 5
    delay_ms: int = 500
    throttle_retries: int = 50

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1-based)."""
        return float(self.delay_ms) / 1000.0 * float(2 ** (attempt - 1))


@dataclass(frozen=True)
class GraphQLResponse:
    """``data`` of a successful answer, with its cost and the bucket after it."""

    data: dict[str, Any]
    requested_cost: float | None
    throttle: ThrottleStatus | None


def shop_base_url(shop: str, base_url: str | None) -> str:
    """``base_url`` with ``{shop}`` filled in; ``https://{shop}`` when unset."""
    template = base_url or "https://{shop}"
    return template.replace("{shop}", shop).rstrip("/")


class ShopifyClient:
    """Calls the Admin GraphQL API with the token, throttling and retries. Thread-safe."""

    def __init__(
        self,
        *,
        shop: str,
        access_token: Secret,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str | None = None,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        throttle: CostThrottle | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        register_secret(access_token.reveal())
        self.shop = shop
        self.api_version = api_version
        self.base_url = shop_base_url(shop, base_url)
        self.endpoint = f"{self.base_url}/admin/api/{api_version}/graphql.json"
        self.timeout_seconds = timeout_seconds
        self.retry = retry or RetryPolicy()
        self.throttle = throttle or CostThrottle(sleep=sleep)
        self._sleep = sleep
        self._http = httpx.Client(
            headers={
                "X-Shopify-Access-Token": access_token.reveal(),
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "memberkit",
            },
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )
        # Plain client for staged uploads and result files: they must not carry the token.
        self._files = httpx.Client(
            timeout=httpx.Timeout(max(timeout_seconds, 120.0)), transport=transport
        )
        self._costs: dict[str, float] = {}
        self._lock = threading.Lock()
        self._warned_version = False
        self.stats: dict[str, int] = {"requests": 0, "throttled": 0, "retries": 0}

    def close(self) -> None:
        self._http.close()
        self._files.close()

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def execute(
        self, query: str, variables: Mapping[str, Any] | None = None, *, what: str = "query"
    ) -> dict[str, Any]:
        """Run ``query`` and return its ``data``; raise a ``ShopifyError`` on failure."""
        return self.request(query, variables, what=what).data

    def request(
        self, query: str, variables: Mapping[str, Any] | None = None, *, what: str = "query"
    ) -> GraphQLResponse:
        """Run ``query`` with throttling and retries; the answer with its cost."""
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        cost = self._costs.get(query, DEFAULT_COST)
        faults = 0
        throttled = 0
        while True:
            self.throttle.acquire(cost)
            self._count("requests")
            status: ThrottleStatus | None = None
            try:
                response = self._http.post(self.endpoint, content=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self.throttle.update(None, cost)
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self._backoff(faults, what, problem, None, self._network_hint(exc))
                faults += 1
                continue
            payload = _json_or_none(response)
            extensions = payload.get("extensions") if isinstance(payload, dict) else None
            status = ThrottleStatus.from_extensions(extensions)
            self.throttle.update(status, cost)
            requested = _requested_cost(extensions)
            if requested is not None:
                cost = requested
                self._costs[query] = requested
            self._check_version(response)
            code = response.status_code
            errors = payload.get("errors") if isinstance(payload, dict) else None
            if code == 429 or _is_throttled(errors):
                self._count("throttled")
                throttled += 1
                if throttled > self.retry.throttle_retries:
                    raise ShopifyUnavailableError(
                        f"Shopify kept throttling {what} ({throttled} times in a row)",
                        hint="another app may be using this store's API budget; try again later",
                    )
                wait = self.throttle.refill_wait(cost)
                retry_after = _retry_after(response)
                if retry_after is not None:
                    wait = max(wait, retry_after)
                log.info("Shopify throttled %s; waiting %.2f s", what, wait)
                self._sleep(wait)
                continue
            if code in (401, 403):
                raise ShopifyAuthError(
                    f"Shopify refused the access token ({code}) on {what}: "
                    f"{describe_errors(errors) or response.reason_phrase}",
                    hint=f"check {TOKEN_VARIABLE} (environment or config/api.env): it must be "
                    "an Admin API access token of this store's app, with the scopes "
                    "read_customers, write_customers, write_discounts",
                )
            if code >= 500:
                problem = f"HTTP {code} {describe_errors(errors)}".rstrip()
                self._backoff(faults, what, problem, _retry_after(response), _SERVER_HINT)
                faults += 1
                continue
            if code == 404:
                raise ShopifyRequestError(
                    f"Shopify answered 404 for {self.endpoint}",
                    status=code,
                    hint="check shopify.shop (NAME.myshopify.com), shopify.base_url and "
                    f"shopify.api_version ({self.api_version!r}, a version like 2026-10)",
                )
            if code >= 400 or errors or not isinstance(payload, dict):
                detail = describe_errors(errors) or redact(response.text[:200])
                raise ShopifyRequestError(
                    f"Shopify refused {what} (HTTP {code}): {detail}",
                    status=code,
                    errors=errors if isinstance(errors, list) else [],
                )
            data = payload.get("data")
            if not isinstance(data, dict):
                raise ShopifyRequestError(f"Shopify sent no data for {what}", status=code)
            return GraphQLResponse(data, requested, status)

    def _check_version(self, response: httpx.Response) -> None:
        served = response.headers.get("X-Shopify-API-Version")
        if served and served != self.api_version and not self._warned_version:
            self._warned_version = True
            log.warning(
                "Shopify served API version %s, not shopify.api_version %s (no longer "
                "supported?); set shopify.api_version to a supported version",
                served,
                self.api_version,
            )

    def _network_hint(self, failure: httpx.HTTPError) -> str:
        if isinstance(failure, httpx.TimeoutException):
            return (
                f"{self.base_url} did not answer within {self.timeout_seconds:g} s: check the "
                "network, or try again later"
            )
        return (
            f"could not reach {self.base_url}: check shopify.shop / shopify.base_url and the "
            "network (DNS, proxy, firewall)"
        )

    def _backoff(
        self, attempt: int, what: str, problem: str, retry_after: float | None, hint: str
    ) -> None:
        problem = redact(problem)
        if attempt >= self.retry.limit:
            raise ShopifyUnavailableError(
                f"Shopify {what} failed after {attempt + 1} attempts: {problem}", hint=hint
            )
        self._count("retries")
        wait = retry_after if retry_after is not None else self.retry.backoff(attempt + 1)
        log.warning(
            "Shopify %s: %s; retry %d of %d in %.1f s",
            what,
            problem,
            attempt + 1,
            self.retry.limit,
            wait,
        )
        self._sleep(wait)

    # ----- files (staged uploads and bulk results: no token) ------------------

    def upload_form(
        self, url: str, fields: list[tuple[str, str]], filename: str, data: bytes
    ) -> None:
        """POST a staged-upload form (its signed ``fields`` then the file), with retries."""
        attempt = 0
        while True:
            try:
                response = self._files.post(
                    url,
                    data=dict(fields),
                    files={"file": (filename, data, "text/jsonl")},
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self._backoff(attempt, "staged upload", type(exc).__name__, None, _UPLOAD_HINT)
                attempt += 1
                continue
            if response.status_code < 300:
                return
            if response.status_code >= 500:
                self._backoff(
                    attempt, "staged upload", f"HTTP {response.status_code}", None, _UPLOAD_HINT
                )
                attempt += 1
                continue
            raise ShopifyBulkError(
                f"the staged upload was refused (HTTP {response.status_code}): "
                f"{redact(response.text[:300])}",
                hint="the file may exceed Shopify's 100 MB limit for bulk mutation variables",
            )

    def download(self, url: str) -> bytes:
        """GET a bulk operation's result file, with retries."""
        attempt = 0
        while True:
            try:
                response = self._files.get(url)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self._backoff(attempt, "result download", type(exc).__name__, None, _UPLOAD_HINT)
                attempt += 1
                continue
            if response.status_code == 200:
                return response.content
            self._backoff(
                attempt, "result download", f"HTTP {response.status_code}", None, _UPLOAD_HINT
            )
            attempt += 1


_SERVER_HINT = "Shopify answered with server errors: it may be down; try again later"
_UPLOAD_HINT = "the upload or download host failed: check the network and try again later"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _requested_cost(extensions: Any) -> float | None:
    try:
        return float(extensions["cost"]["requestedQueryCost"])
    except (KeyError, TypeError, ValueError):
        return None


def _is_throttled(errors: Any) -> bool:
    if not isinstance(errors, list):
        return False
    return any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
