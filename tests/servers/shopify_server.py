"""A faithful local Shopify Admin GraphQL server for tests and benchmarks (real HTTP on 127.0.0.1).

What it checks and does, as Shopify documents it:

- ``POST /admin/api/{version}/graphql.json`` only; a version that is not
  ``YYYY-MM`` (or ``unstable``) is 404; a well-formed but unsupported version is
  served by the oldest supported one, and ``X-Shopify-API-Version`` says which
  (as Shopify does);
- ``X-Shopify-Access-Token`` must be a known token, else 401 with Shopify's
  ``{"errors": "[API] Invalid API key or access token ..."}``;
- the body is ``{"query", "variables", "operationName"}``; the query is parsed
  and validated against the schema slice in ``shopify_schema`` (graphql-core),
  so a wrong field or argument is refused as Shopify refuses it;
- cost-based throttling with a leaky bucket: ``maximumAvailable`` points,
  refilled at ``restoreRate`` points a second; each request is charged its
  requested cost up front; a query over 1,000 points is ``MAX_COST_EXCEEDED``;
  a request the bucket cannot pay for is ``THROTTLED`` (HTTP 200 by default, or
  429 with ``throttled_status=429``). Every answer carries
  ``extensions.cost`` with ``throttleStatus``;
- the mutations and queries of ``shopify_model`` (metafieldsSet, customer,
  flowTriggerReceive, stagedUploadsCreate, bulkOperationRunMutation,
  currentBulkOperation, node, discountCodeBasicCreate);
- the staged upload target ``POST /staged-uploads/`` (multipart form, as the
  cloud bucket Shopify signs for; 201) and result files ``GET /bulk-results/N.jsonl``;
- latency on every request and faults on demand: HTTP statuses (500, 502, 503,
  429 with ``Retry-After``), ``THROTTLED`` storms, dropped connections, slow
  answers, an upload target that fails, a bulk operation that ends ``FAILED``;
- a bug in the server answers 500 and is kept in ``internal_errors`` (the
  fixture fails the test on any).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    execute_sync,
    parse,
    validate,
)
from tests.servers.shopify_model import ShopifyData, TopLevelError
from tests.servers.shopify_schema import query_cost

__all__ = ["SUPPORTED_VERSIONS", "FakeShopify", "Fault", "ShopifyRequest"]

SUPPORTED_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10")
MAX_QUERY_COST = 1000
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
_PATH = re.compile(r"^/admin/api/(?P<version>[^/]+)/graphql\.json$")
_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")


@dataclass
class Fault:
    """A scripted fault: ``kind`` is ``status``, ``throttled``, ``drop``, ``slow`` or ``upload``.

    It fires on the next ``times`` GraphQL requests whose body contains ``match``
    (any request when None), after the token and cost checks.
    """

    kind: str
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    match: bytes | None = None


@dataclass
class ShopifyRequest:
    """One request as the server saw it (for assertions)."""

    at: float
    path: str
    status: int
    operation: str  # the first root field, e.g. "metafieldsSet"; "" when not GraphQL
    cost: int
    throttled: bool
    body: bytes = field(repr=False, default=b"")


class LeakyBucket:
    """Shopify's cost bucket: ``maximum`` points, ``restore_rate`` points back each second."""

    def __init__(self, maximum: float, restore_rate: float, clock: Callable[[], float]) -> None:
        self.maximum = maximum
        self.restore_rate = restore_rate
        self._clock = clock
        self._available = maximum
        self._at = clock()

    def available(self) -> float:
        now = self._clock()
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore_rate)
        self._at = now
        return self._available

    def take(self, cost: float) -> bool:
        if self.available() < cost:
            return False
        self._available -= cost
        return True

    def give_back(self, points: float) -> None:
        self.available()
        self._available = min(self.maximum, self._available + points)

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": int(self.available()),
            "restoreRate": float(self.restore_rate),
        }


class FakeShopify(ShopifyData):
    """The local Shopify: ``start()`` serves it on 127.0.0.1; ``shop_url`` is the base URL."""

    def __init__(
        self,
        *,
        shop: str = "memberkit-test.myshopify.com",
        tokens: set[str] | None = None,
        maximum_available: float = 2000.0,
        restore_rate: float = 100.0,
        throttled_status: int = 200,
        latency: float = 0.0,
        max_upload_bytes: int = 100 * 1024 * 1024,
        flow_handles: set[str] | None = None,
        bulk_queued_seconds: float = 0.05,
        bulk_lines_per_second: float = 5000.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            shop=shop,
            flow_handles=flow_handles,
            bulk_queued_seconds=bulk_queued_seconds,
            bulk_lines_per_second=bulk_lines_per_second,
            clock=clock,
        )
        self.tokens = tokens if tokens is not None else {"shpat_test_token_0123456789"}
        self.bucket = LeakyBucket(maximum_available, restore_rate, clock)
        self.throttled_status = throttled_status
        self.latency = latency
        self.max_upload_bytes = max_upload_bytes
        self.faults: list[Fault] = []
        self.requests: list[ShopifyRequest] = []
        self.record_bodies = False
        self.internal_errors: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None

    # ----- control ------------------------------------------------------------

    def add_fault(self, kind: str, **kwargs: Any) -> Fault:
        fault = Fault(kind, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def requests_for(self, operation: str) -> list[ShopifyRequest]:
        with self.lock:
            return [r for r in self.requests if r.operation == operation]

    def start(self) -> FakeShopify:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 128
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeShopify:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- GraphQL ------------------------------------------------------------

    def _take_fault(self, body: bytes, kinds: tuple[str, ...]) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.kind not in kinds or fault.times <= 0:
                    continue
                if fault.match is not None and fault.match not in body:
                    continue
                fault.times -= 1
                return fault
        return None

    def graphql(
        self, version: str, headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str], str, int, bool]:
        """Answer one GraphQL request: (status, body, headers, operation, cost, throttled)."""
        served = (
            version
            if version in SUPPORTED_VERSIONS or version == "unstable"
            else (SUPPORTED_VERSIONS[0])
        )
        extra = {"X-Shopify-API-Version": served}
        if headers.get("X-Shopify-Access-Token", "") not in self.tokens:
            return 401, {"errors": INVALID_TOKEN}, extra, "", 0, False
        try:
            request = json.loads(body)
            query = request["query"]
            variables = request.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return (
                400,
                {"errors": {"query": "Required parameter missing or invalid"}},
                extra,
                "",
                0,
                False,
            )
        try:
            document = parse(query)
        except GraphQLError as exc:
            return 200, {"errors": [_error(exc.message, "PARSE_ERROR")]}, extra, "", 0, False
        problems = validate(self.schema, document)
        if problems:
            errors = [_error(p.message, "GRAPHQL_VALIDATION_FAILED") for p in problems]
            return 200, {"errors": errors}, extra, "", 0, False
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        operation = operations[0]
        first = operation.selection_set.selections[0]
        name = getattr(getattr(first, "name", None), "value", "")
        cost = query_cost(self.schema, operation, fragments, variables)
        if cost > MAX_QUERY_COST:
            message = (
                f"Query cost is {cost}, which exceeds the single query max cost limit "
                f"({MAX_QUERY_COST})."
            )
            return 200, {"errors": [_error(message, "MAX_COST_EXCEEDED")]}, extra, name, cost, False
        with self.lock:
            paid = self.bucket.take(cost)
        forced = self._take_fault(body, ("throttled",)) if paid else None
        if forced is not None:
            with self.lock:
                self.bucket.give_back(cost)
        if not paid or forced is not None:
            status = self.throttled_status
            if status == 429:
                extra["Retry-After"] = "1.0"
            return (
                status,
                {
                    "errors": [_error("Throttled", "THROTTLED")],
                    "extensions": self._cost(cost, None),
                },
                extra,
                name,
                cost,
                True,
            )
        fault = self._take_fault(body, ("status", "drop", "slow"))
        if fault is not None:
            if fault.kind == "drop":
                raise _Drop
            if fault.kind == "slow":
                time.sleep(fault.delay)
            else:
                if fault.retry_after is not None:
                    extra["Retry-After"] = fault.retry_after
                return fault.status, {"errors": "Internal Server Error"}, extra, name, cost, False
        top: list[dict[str, Any]] = []
        try:
            result = execute_sync(self.schema, document, variable_values=variables)
        except TopLevelError as exc:  # pragma: no cover - graphql-core wraps resolver errors
            top.append(_error(str(exc), exc.code))
            result = None
        payload: dict[str, Any] = {}
        if result is not None:
            for error in result.errors or ():
                original = error.original_error
                if isinstance(original, TopLevelError):
                    top.append(
                        {
                            "message": str(original),
                            "locations": [{"line": 1, "column": 1}],
                            "path": list(error.path or []),
                            "extensions": {"code": original.code},
                        }
                    )
                elif original is not None:
                    raise original
                else:
                    top.append(_error(error.message, "INVALID_VARIABLE"))
            payload["data"] = result.data
        if top:
            payload["errors"] = top
        payload["extensions"] = self._cost(cost, cost)
        return 200, payload, extra, name, cost, False

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        with self.lock:
            status = self.bucket.status()
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": status,
            }
        }

    def upload(self, headers: Any, body: bytes) -> tuple[int, bytes]:
        """The staged upload target: a multipart form with ``key`` and ``file``."""
        if self._take_fault(body[:2000], ("upload",)) is not None:
            return 503, b"<Error><Code>ServiceUnavailable</Code></Error>"
        if len(body) > self.max_upload_bytes:
            return 400, b"<Error><Code>EntityTooLarge</Code></Error>"
        ctype = headers.get("Content-Type", "")
        match = re.search(r"boundary=([^;]+)", ctype)
        if not ctype.startswith("multipart/form-data") or match is None:
            return (
                400,
                b"<Error><Code>InvalidArgument</Code>"
                b"<Message>POST requires multipart/form-data</Message></Error>",
            )
        boundary = b"--" + match.group(1).strip('"').encode()
        fields: dict[str, bytes] = {}
        for part in body.split(boundary)[1:]:
            if part.startswith(b"--"):
                break
            head, _, content = part.partition(b"\r\n\r\n")
            found = re.search(rb'name="([^"]+)"', head)
            if found:
                fields[found.group(1).decode()] = content.removesuffix(b"\r\n")
        if "key" not in fields or "file" not in fields or "policy" not in fields:
            return (
                400,
                b"<Error><Code>InvalidArgument</Code>"
                b"<Message>missing key, policy or file</Message></Error>",
            )
        with self.lock:
            self.staged[fields["key"].decode()] = fields["file"]
        return 201, b"<PostResponse><Key>" + fields["key"] + b"</Key></PostResponse>"


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


class _Drop(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeShopify
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        fake = self.server_state
        body = self._read()
        if fake.latency:
            time.sleep(fake.latency)
        path = urlsplit(self.path).path
        if path == "/staged-uploads/":
            status, data = fake.upload(self.headers, body)
            self._record(path, status, "", 0, False, b"")
            self._send(status, data, "application/xml", {})
            return
        match = _PATH.match(path)
        if match is None or not _VERSION.match(match.group("version")):
            self._record(path, 404, "", 0, False, body)
            self._send(404, b'{"errors":"Not Found"}', "application/json", {})
            return
        try:
            status, payload, headers, operation, cost, throttled = fake.graphql(
                match.group("version"), self.headers, body
            )
        except _Drop:
            self._record(path, 0, "", 0, False, body)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception:
            with fake.lock:
                fake.internal_errors.append(traceback.format_exc())
            status, payload, headers, operation, cost, throttled = (
                500,
                {"errors": "Internal Server Error"},
                {},
                "",
                0,
                False,
            )
        self._record(path, status, operation, cost, throttled, body)
        data = json.dumps(payload, separators=(",", ":")).encode()
        self._send(status, data, "application/json; charset=utf-8", headers)

    def do_GET(self) -> None:
        fake = self.server_state
        path = urlsplit(self.path).path
        match = re.match(r"^/bulk-results/(\d+)\.jsonl$", path)
        data = fake.bulk_result(match.group(1)) if match else None
        if data is None:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml", {})
            return
        self._send(200, data, "application/jsonl", {})

    def _record(
        self, path: str, status: int, operation: str, cost: int, throttled: bool, body: bytes
    ) -> None:
        fake = self.server_state
        with fake.lock:
            fake.requests.append(
                ShopifyRequest(
                    fake.clock(),
                    path,
                    status,
                    operation,
                    cost,
                    throttled,
                    body if fake.record_bodies else b"",
                )
            )

    def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.end_headers()
            self.wfile.write(data)
