"""A small typed Klaviyo client over httpx: headers, timeouts, rate limits, retries.

Every call names its ``Endpoint`` so the client can wait for that endpoint's
rate-limit slot, and so a 403 can say which scope the key is missing.

Retries (``RetryPolicy``): a 429 waits for its ``Retry-After`` (integer seconds,
at most ``MAX_RETRY_AFTER_SECONDS``); 5xx responses, timeouts, refused and
dropped connections back off from ``delay_ms``, doubling, up to ``limit``
retries, then raise ``KlaviyoUnavailableError`` whose hint fits the last
failure: a network fault points at ``klaviyo.base_url`` and the network, a 429
at the rate limits, a 5xx at Klaviyo. A 401/403 raises ``KlaviyoAuthError`` at
once; any other 4xx raises ``KlaviyoRequestError`` carrying Klaviyo's error detail.

The key is registered with ``memberkit.secrets`` when the client is made, so it
is redacted from every message, log line and file, even when a server echoes it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from memberkit.config import Secret
from memberkit.integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoRequestError,
    KlaviyoUnavailableError,
    error_detail,
)
from memberkit.integrations.klaviyo.jsonapi import dumps_bytes
from memberkit.integrations.klaviyo.ratelimit import REQUIRED_SCOPES, Endpoint, RateLimiter
from memberkit.secrets import redact, register_secret

log = logging.getLogger("memberkit.klaviyo")

JSONAPI = "application/vnd.api+json"
KEY_VARIABLE = "KLAVIYO_PRIVATE_KEY"
#: Longest Retry-After we honour; a larger value is capped so a run cannot stall for hours.
MAX_RETRY_AFTER_SECONDS = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``limit`` retries; back off from ``delay_ms``, doubling each time."""

    limit: int = 5
    delay_ms: int = 500

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(self.delay_ms) / 1000.0 * float(2 ** (attempt - 1))


class KlaviyoClient:
    """Calls the Klaviyo API with the key, revision, rate limits and retries.

    Thread-safe: parallel fetch slices and upload workers share one client.
    Pass ``transport`` (e.g. ``httpx.MockTransport``) for narrow unit tests.
    """

    def __init__(
        self,
        *,
        api_key: Secret,
        base_url: str = "https://a.klaviyo.com",
        revision: str = "2026-07-15",
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 32,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        register_secret(api_key.reveal())
        self.base_url = base_url.rstrip("/")
        self.revision = revision
        self.timeout_seconds = timeout_seconds
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Klaviyo-API-Key {api_key.reveal()}",
                "revision": revision,
                "Accept": JSONAPI,
                "Content-Type": JSONAPI,
                "User-Agent": "memberkit",
            },
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )
        self._stats_lock = threading.Lock()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "rate_limited": 0}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KlaviyoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    def get(
        self, endpoint: Endpoint, url: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """GET ``url`` (a path, or an absolute ``links.next``) and return the JSON body."""
        response = self.request(endpoint, "GET", url, params=params)
        return _json(response)

    def post(self, endpoint: Endpoint, url: str, body: Any) -> dict[str, Any]:
        """POST a JSON:API ``body`` (dict, or bytes already encoded); return the JSON body."""
        content = body if isinstance(body, bytes) else dumps_bytes(body)
        response = self.request(endpoint, "POST", url, content=content)
        return _json(response) if response.content else {}

    def request(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send one request with rate limiting and retries; raise a ``KlaviyoError`` on failure."""
        attempt = 0
        what = f"{method} {_path_of(url)}"
        while True:
            self.limiter.acquire(endpoint)
            self._count("requests")
            failure: httpx.HTTPError | None = None
            try:
                response = self._http.request(method, url, params=params, content=content)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                failure = exc
            finally:
                self.limiter.release(endpoint)
            if failure is not None:
                problem = (
                    f"{type(failure).__name__}: {failure}"
                    if str(failure)
                    else (type(failure).__name__)
                )
                wait = self._retry_wait(attempt, what, problem, None, self._network_hint(failure))
                attempt += 1
                self._sleep(wait)
                continue
            status = response.status_code
            if status < 400:
                return response
            if status == 401:
                raise KlaviyoAuthError(
                    f"Klaviyo refused the API key (401) on {what}: {_detail(response)}",
                    hint=f"check {KEY_VARIABLE} (environment or config/api.env): "
                    "it must be a private API key of the right account",
                )
            if status == 403:
                scope = REQUIRED_SCOPES[endpoint]
                raise KlaviyoAuthError(
                    f"Klaviyo denied {what} (403): the API key needs the scope {scope}",
                    hint=f"edit the private key in Klaviyo to add {scope}, "
                    f"or create a new one and set {KEY_VARIABLE}",
                )
            if status == 429 or status >= 500:
                if status == 429:
                    self._count("rate_limited")
                retry_after = _retry_after(response) if status == 429 else None
                problem = f"HTTP {status} {_detail(response)}".rstrip()
                hint = _RATE_LIMITED_HINT if status == 429 else _SERVER_ERROR_HINT
                wait = self._retry_wait(attempt, what, problem, retry_after, hint)
                attempt += 1
                self._sleep(wait)
                continue
            errors = _errors(response)
            raise KlaviyoRequestError(
                f"Klaviyo rejected {what} (HTTP {status}): {_detail(response)}",
                status=status,
                errors=errors,
                hint=_request_hint(errors, self.revision),
            )

    def _network_hint(self, failure: httpx.HTTPError) -> str:
        """What to check when no HTTP answer came back: the address, the network, the timeout."""
        if isinstance(failure, httpx.TimeoutException):
            return (
                f"{self.base_url} did not answer within klaviyo.timeout_seconds "
                f"({self.timeout_seconds:g} s): check the network, or raise "
                "klaviyo.timeout_seconds if Klaviyo is only slow"
            )
        if isinstance(failure, httpx.ConnectError):
            # Refused, unknown host (DNS) and TLS failures all end here.
            return (
                f"could not connect to {self.base_url}: check klaviyo.base_url "
                "(normally https://a.klaviyo.com) and the network (DNS, proxy, firewall, "
                "TLS certificates)"
            )
        return (
            f"the connection to {self.base_url} broke before an answer: check the network "
            "(proxy, firewall) and klaviyo.base_url; try again later"
        )

    def _retry_wait(
        self, attempt: int, what: str, problem: str, retry_after: float | None, hint: str
    ) -> float:
        problem = redact(problem)
        if attempt >= self.retry.limit:
            raise KlaviyoUnavailableError(
                f"Klaviyo {what} failed after {attempt + 1} attempts: {problem}",
                hint=f"{hint} ({_RETRY_SETTINGS})",
            )
        self._count("retries")
        wait = retry_after if retry_after is not None else self.retry.backoff(attempt + 1)
        log.warning(
            "Klaviyo %s: %s; retry %d of %d in %.1f s",
            what,
            problem,
            attempt + 1,
            self.retry.limit,
            wait,
        )
        return wait


_RETRY_SETTINGS = "klaviyo_upload.retry_limit and retry_delay_ms control the retries"
_RATE_LIMITED_HINT = (
    "Klaviyo kept answering 429 (rate limited): another integration may be using the "
    "account's quota; try again later"
)
_SERVER_ERROR_HINT = "Klaviyo answered with server errors: it may be down; try again later"


def _request_hint(errors: list[dict[str, Any]], revision: str) -> str | None:
    """A hint for a refused request when Klaviyo says which setting is at fault."""
    for error in errors:
        source = error.get("source")
        if isinstance(source, dict) and source.get("parameter") == "revision":
            return (
                f"klaviyo.revision is {revision!r}: set it to a revision Klaviyo supports "
                "(a date like 2026-07-15, see Klaviyo's API changelog)"
            )
    return None


def _path_of(url: str) -> str:
    return httpx.URL(url).path


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        # Numbers as Decimal: money properties stay exact all the way into the cache.
        data = json.loads(response.content, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KlaviyoRequestError(
            f"Klaviyo sent a response that is not JSON (HTTP {response.status_code})",
            status=response.status_code,
        ) from None
    if not isinstance(data, dict):
        raise KlaviyoRequestError(
            "Klaviyo sent an unexpected response (not a JSON object)", status=response.status_code
        )
    return data


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return redact(response.text)[:200]
    # Redacted before cutting, so a key cut in half cannot slip through.
    return error_detail(body) or redact(response.text)[:200]


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(int(value))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
