"""The local Shopify's data and resolvers: customers, metafields, Flow, discounts, bulk jobs.

``ShopifyData`` holds the store's state and answers each root field of the
schema in ``shopify_schema``; ``FakeShopify`` (``shopify_server``) adds HTTP,
the token check, cost throttling and faults around it. Behaviour copied from
Shopify's documentation:

* ``metafieldsSet``: at most 25 metafields a call (more is a top-level error
  ``MAX_INPUT_SIZE_EXCEEDED``); the whole call is atomic: any invalid input
  (unknown owner, bad JSON for a ``json`` metafield, a non-integer for
  ``number_integer``, unknown type, namespace shorter than 3 or key shorter
  than 2 characters) answers ``userErrors`` with ``elementIndex`` and writes nothing;
* ``flowTriggerReceive``: a known ``handle`` (when the server is given a list),
  a payload of at most 50,000 bytes;
* ``discountCodeBasicCreate``: codes unique case-insensitively, else the
  userError ``TAKEN`` "Code must be unique. Please try a different code.";
* bulk mutations: one at a time per shop; ``CREATED`` -> ``RUNNING`` ->
  ``COMPLETED`` at ``bulk_lines_per_second`` on the server's clock, each line of
  the staged JSONL run as the mutation with its variables, results written as
  JSONL ``{"data": ..., "__lineNumber": n}``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    execute_sync,
    parse,
    validate,
)
from tests.servers.shopify_schema import make_schema

MAX_METAFIELDS_PER_SET = 25
MAX_FLOW_PAYLOAD_BYTES = 50_000
METAFIELD_TYPES = frozenset(
    {
        "json",
        "number_integer",
        "number_decimal",
        "single_line_text_field",
        "multi_line_text_field",
        "boolean",
        "date",
        "list.single_line_text_field",
    }
)


class TopLevelError(Exception):
    """An error Shopify reports under ``errors`` (not a userError), with its extension code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def iso(seconds: float) -> str:
    return (dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=0).isoformat()).replace(
        "+00:00", "Z"
    )


@dataclass
class BulkOperation:
    """One bulk mutation: its staged lines, progress and result file."""

    id: str
    mutation: str
    document: DocumentNode
    lines: list[bytes]
    created: float
    status: str = "CREATED"
    done: int = 0
    error_code: str | None = None
    completed: float | None = None
    results: list[bytes] = field(default_factory=list)
    fail_at: int | None = None  # a scripted fault: FAILED after this many lines


class ShopifyData:
    """The store's state and the resolvers of every root field."""

    def __init__(
        self,
        *,
        shop: str,
        currency: str = "GBP",
        flow_handles: set[str] | None = None,
        bulk_queued_seconds: float = 0.05,
        bulk_lines_per_second: float = 5000.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shop = shop
        self.currency = currency
        self.flow_handles = flow_handles
        self.bulk_queued_seconds = bulk_queued_seconds
        self.bulk_lines_per_second = bulk_lines_per_second
        self.clock = clock
        self._wall_offset = time.time() - clock()
        self.lock = threading.RLock()
        self.customers: dict[str, dict[str, Any]] = {}
        # (owner gid, namespace, key) -> metafield record
        self.metafields: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.flow_triggers: list[dict[str, Any]] = []
        self.discounts: dict[str, dict[str, Any]] = {}  # code.lower() -> discount
        self.staged: dict[str, bytes] = {}  # staged upload key -> uploaded bytes
        self.bulk_operations: dict[str, BulkOperation] = {}
        self.bulk_fail_next: int | None = None
        self.url = ""
        self._ids = itertools.count(1001)
        self.schema: GraphQLSchema = make_schema()
        self._attach_resolvers()

    # ----- seeding ------------------------------------------------------------

    def wall(self) -> float:
        return self.clock() + self._wall_offset

    def add_customer(self, email: str, first_name: str = "", last_name: str = "") -> str:
        """Add a customer; return its numeric id (as memberkit stores Shopify ids)."""
        with self.lock:
            number = str(next(self._ids))
            self.customers[gid("Customer", number)] = {
                "id": gid("Customer", number),
                "email": email,
                "firstName": first_name,
                "lastName": last_name,
            }
            return number

    def add_customers(self, count: int, start: int = 1) -> None:
        """Many customers with ids ``start``.. (fast, for benchmarks)."""
        with self.lock:
            for number in range(start, start + count):
                key = gid("Customer", number)
                self.customers[key] = {"id": key, "email": f"member{number}@example.com"}

    def metafield(self, customer_id: str, namespace: str, key: str) -> dict[str, Any] | None:
        owner = customer_id if customer_id.startswith("gid://") else gid("Customer", customer_id)
        with self.lock:
            return self.metafields.get((owner, namespace, key))

    # ----- resolvers ----------------------------------------------------------

    def _attach_resolvers(self) -> None:
        schema = self.schema
        query = schema.query_type
        mutation = schema.mutation_type
        assert query is not None and mutation is not None
        query.fields["shop"].resolve = lambda _root, _info: {
            "name": self.shop.split(".")[0],
            "myshopifyDomain": self.shop,
            "currencyCode": self.currency,
        }
        query.fields["customer"].resolve = lambda _root, _info, id: self._customer(id)
        query.fields["node"].resolve = lambda _root, _info, id: self._node(id)
        query.fields["currentBulkOperation"].resolve = lambda _root, _info, type="QUERY": (
            self._current_bulk(type)
        )
        customer = schema.get_type("Customer")
        customer.fields["metafield"].resolve = (  # type: ignore[union-attr]
            lambda obj, _info, key, namespace=None: self.metafields.get(
                (obj["id"], namespace or "", key)
            )
        )
        customer.fields["metafields"].resolve = (  # type: ignore[union-attr]
            lambda obj, _info, first=None, namespace=None: {
                "nodes": [
                    m
                    for (owner, ns, _k), m in self.metafields.items()
                    if owner == obj["id"] and (namespace is None or ns == namespace)
                ][: first or None]
            }
        )
        customer.fields["displayName"].resolve = (  # type: ignore[union-attr]
            lambda obj, _info: (
                " ".join(p for p in (obj.get("firstName"), obj.get("lastName")) if p)
                or obj.get("email")
                or ""
            )
        )
        node = schema.get_type("Node")
        node.resolve_type = lambda obj, _info, _type: obj["__typename"]  # type: ignore[union-attr]
        union = schema.get_type("DiscountCode")
        union.resolve_type = lambda _obj, _info, _type: "DiscountCodeBasic"  # type: ignore[union-attr]
        mutation.fields["metafieldsSet"].resolve = lambda _r, _i, metafields: self._metafields_set(
            metafields
        )
        mutation.fields["flowTriggerReceive"].resolve = lambda _r, _i, handle=None, payload=None: (
            self._flow_trigger(handle, payload)
        )
        mutation.fields["stagedUploadsCreate"].resolve = lambda _r, _i, input: self._staged(input)
        mutation.fields["bulkOperationRunMutation"].resolve = (
            lambda _r, _i, mutation, stagedUploadPath, clientIdentifier=None: self._bulk_run(
                mutation, stagedUploadPath
            )
        )
        mutation.fields["discountCodeBasicCreate"].resolve = lambda _r, _i, basicCodeDiscount: (
            self._discount_create(basicCodeDiscount)
        )

    def _customer(self, customer_id: str) -> dict[str, Any] | None:
        found = self.customers.get(customer_id)
        return {**found, "__typename": "Customer"} if found else None

    def _node(self, node_id: str) -> dict[str, Any] | None:
        if node_id.startswith("gid://shopify/BulkOperation/"):
            self.advance()
            op = self.bulk_operations.get(node_id)
            return self._bulk_view(op) if op else None
        return self._customer(node_id)

    def _metafields_set(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if len(inputs) > MAX_METAFIELDS_PER_SET:
            raise TopLevelError(
                f"The input array size of {len(inputs)} is greater than the maximum "
                f"allowed of {MAX_METAFIELDS_PER_SET}.",
                "MAX_INPUT_SIZE_EXCEEDED",
            )
        errors = []
        for index, item in enumerate(inputs):
            problem = self._metafield_problem(item)
            if problem is not None:
                where, message, code = problem
                errors.append(
                    {
                        "field": ["metafields", str(index), where],
                        "message": message,
                        "code": code,
                        "elementIndex": index,
                    }
                )
        if errors:
            # metafieldsSet is atomic: nothing is written when any input is invalid.
            return {"metafields": [], "userErrors": errors}
        now = iso(self.wall())
        written = []
        with self.lock:
            for item in inputs:
                key = (item["ownerId"], item["namespace"], item["key"])
                old = self.metafields.get(key)
                record = {
                    "__typename": "Metafield",
                    "id": old["id"] if old else gid("Metafield", next(self._ids)),
                    "namespace": item["namespace"],
                    "key": item["key"],
                    "value": item["value"],
                    "type": item.get("type") or (old["type"] if old else "json"),
                    "compareDigest": hashlib.sha256(item["value"].encode()).hexdigest(),
                    "createdAt": old["createdAt"] if old else now,
                    "updatedAt": now,
                }
                self.metafields[key] = record
                written.append(record)
        return {"metafields": written, "userErrors": []}

    def _metafield_problem(self, item: dict[str, Any]) -> tuple[str, str, str] | None:
        if item["ownerId"] not in self.customers:
            return "ownerId", "Owner does not exist.", "INVALID"
        namespace = item.get("namespace")
        if not namespace:
            return "namespace", "Namespace can't be blank.", "BLANK"
        if len(namespace) < 3:
            return "namespace", "Namespace is too short (minimum is 3 characters)", "TOO_SHORT"
        if len(item["key"]) < 2:
            return "key", "Key is too short (minimum is 2 characters)", "TOO_SHORT"
        mtype = item.get("type")
        old = self.metafields.get((item["ownerId"], namespace, item["key"]))
        if mtype is None and old is None:
            return "type", "Type can't be blank.", "BLANK"
        mtype = mtype or (old["type"] if old else "")
        if mtype not in METAFIELD_TYPES:
            return "type", f"Type '{mtype}' is not a valid metafield type.", "INVALID_TYPE"
        value = item["value"]
        if mtype == "json":
            try:
                json.loads(value)
            except ValueError:
                return "value", "Value is invalid JSON.", "INVALID_VALUE"
        if mtype == "number_integer":
            try:
                int(value)
            except ValueError:
                return "value", "Value must be an integer.", "INVALID_VALUE"
        if mtype == "single_line_text_field" and "\n" in value:
            return "value", "Value must be a single line of text.", "INVALID_VALUE"
        return None

    def _flow_trigger(self, handle: str | None, payload: Any) -> dict[str, Any]:
        errors = []
        size = len(json.dumps(payload).encode()) if payload is not None else 0
        if not handle:
            errors.append({"field": ["handle"], "message": "Handle can't be blank"})
        elif self.flow_handles is not None and handle not in self.flow_handles:
            errors.append({"field": ["handle"], "message": f"Invalid handle '{handle}'."})
        elif size > MAX_FLOW_PAYLOAD_BYTES:
            errors.append(
                {
                    "field": ["payload"],
                    "message": f"Errors validating schema:\n  Payload is too large ({size} "
                    f"bytes, at most {MAX_FLOW_PAYLOAD_BYTES})",
                }
            )
        if not errors:
            with self.lock:
                self.flow_triggers.append({"handle": handle, "payload": payload})
        return {"userErrors": errors}

    def _staged(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        targets = []
        for item in inputs:
            key = f"tmp/{next(self._ids)}/bulk/{item['filename']}"
            targets.append(
                {
                    "url": f"{self.url}/staged-uploads/",
                    "resourceUrl": None,
                    "parameters": [
                        {"name": "Content-Type", "value": item["mimeType"]},
                        {"name": "success_action_status", "value": "201"},
                        {"name": "acl", "value": "private"},
                        {"name": "key", "value": key},
                        {"name": "policy", "value": hashlib.sha1(key.encode()).hexdigest()},  # noqa: S324
                    ],
                }
            )
        return {"stagedTargets": targets, "userErrors": []}

    def _bulk_run(self, mutation: str, path: str) -> dict[str, Any]:
        def refuse(message: str, code: str, where: str) -> dict[str, Any]:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": [where], "message": message, "code": code}],
            }

        self.advance()
        with self.lock:
            running = [
                op for op in self.bulk_operations.values() if op.status in ("CREATED", "RUNNING")
            ]
            if running:
                return refuse(
                    "A bulk mutation operation for this app and shop is already in progress: "
                    f"{running[0].id}.",
                    "OPERATION_IN_PROGRESS",
                    "mutation",
                )
            data = self.staged.get(path)
            if data is None:
                return refuse(
                    "The JSONL file could not be found", "NO_SUCH_FILE", "stagedUploadPath"
                )
            try:
                document = parse(mutation)
            except GraphQLError as exc:
                return refuse(f"Invalid mutation: {exc.message}", "INVALID_MUTATION", "mutation")
            problems = validate(self.schema, document)
            ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if problems or len(ops) != 1 or ops[0].operation.value != "mutation":
                reason = problems[0].message if problems else "expected one mutation"
                return refuse(f"Invalid mutation: {reason}", "INVALID_MUTATION", "mutation")
            lines = [line for line in data.split(b"\n") if line.strip()]
            op = BulkOperation(
                id=gid("BulkOperation", next(self._ids)),
                mutation=mutation,
                document=document,
                lines=lines,
                created=self.clock(),
                fail_at=self.bulk_fail_next,
            )
            self.bulk_fail_next = None
            self.bulk_operations[op.id] = op
            return {"bulkOperation": self._bulk_view(op), "userErrors": []}

    def advance(self) -> None:
        """Run due bulk-operation lines (the server's clock decides how many)."""
        now = self.clock()
        with self.lock:
            for op in self.bulk_operations.values():
                if op.status not in ("CREATED", "RUNNING"):
                    continue
                started = op.created + self.bulk_queued_seconds
                if now < started:
                    continue
                op.status = "RUNNING"
                due = min(len(op.lines), int((now - started) * self.bulk_lines_per_second))
                while op.done < due:
                    if op.fail_at is not None and op.done >= op.fail_at:
                        op.status, op.error_code, op.completed = (
                            "FAILED",
                            "INTERNAL_SERVER_ERROR",
                            now,
                        )
                        break
                    op.results.append(self._bulk_line(op, op.done))
                    op.done += 1
                if op.status == "RUNNING" and op.done == len(op.lines):
                    op.status, op.completed = "COMPLETED", now

    def _bulk_line(self, op: BulkOperation, number: int) -> bytes:
        try:
            variables = json.loads(op.lines[number])
        except ValueError:
            body: dict[str, Any] = {"errors": [{"message": "Invalid JSON in line"}]}
        else:
            result = execute_sync(self.schema, op.document, variable_values=variables)
            body = {}
            if result.errors:
                body["errors"] = [{"message": e.message} for e in result.errors]
            if result.data is not None:
                body["data"] = result.data
        body["__lineNumber"] = number
        return json.dumps(body, separators=(",", ":")).encode()

    def _bulk_view(self, op: BulkOperation) -> dict[str, Any]:
        finished = op.status in ("COMPLETED", "FAILED")
        return {
            "__typename": "BulkOperation",
            "id": op.id,
            "status": op.status,
            "errorCode": op.error_code,
            "createdAt": iso(op.created + self._wall_offset),
            "completedAt": iso(op.completed + self._wall_offset) if op.completed else None,
            "objectCount": str(op.done),
            "rootObjectCount": str(op.done),
            "fileSize": str(sum(len(r) + 1 for r in op.results)) if finished else None,
            "url": f"{self.url}/bulk-results/{op.id.rsplit('/', 1)[1]}.jsonl"
            if op.status == "COMPLETED"
            else None,
            "partialDataUrl": f"{self.url}/bulk-results/{op.id.rsplit('/', 1)[1]}.jsonl"
            if op.status == "FAILED" and op.results
            else None,
            "type": "MUTATION",
            "query": op.mutation,
        }

    def _current_bulk(self, kind: str) -> dict[str, Any] | None:
        if kind != "MUTATION":
            return None
        self.advance()
        with self.lock:
            if not self.bulk_operations:
                return None
            return self._bulk_view(list(self.bulk_operations.values())[-1])

    def bulk_result(self, number: str) -> bytes | None:
        """The result file of bulk operation ``number`` (complete or partial)."""
        self.advance()
        op = self.bulk_operations.get(gid("BulkOperation", number))
        if op is None or op.status not in ("COMPLETED", "FAILED"):
            return None
        return b"".join(r + b"\n" for r in op.results)

    def _discount_create(self, data: dict[str, Any]) -> dict[str, Any]:
        def refuse(where: str, message: str, code: str) -> dict[str, Any]:
            return {
                "codeDiscountNode": None,
                "userErrors": [
                    {"field": ["basicCodeDiscount", where], "message": message, "code": code}
                ],
            }

        code = (data.get("code") or "").strip()
        if not code:
            return refuse("code", "Code can't be blank", "BLANK")
        if len(code) > 255:
            return refuse("code", "Code is too long (maximum is 255 characters)", "TOO_LONG")
        if not data.get("title"):
            return refuse("title", "Title can't be blank", "BLANK")
        if not data.get("startsAt"):
            return refuse("startsAt", "Starts at can't be blank", "BLANK")
        if data.get("customerGets") is None:
            return refuse("customerGets", "Customer gets can't be blank", "BLANK")
        context = data.get("context") or data.get("customerSelection") or {}
        customers = list((context.get("customers") or {}).get("add") or [])
        for customer in customers:
            if customer not in self.customers:
                return refuse("context", f"Customer {customer} does not exist", "INVALID")
        with self.lock:
            if code.lower() in self.discounts:
                return refuse("code", "Code must be unique. Please try a different code.", "TAKEN")
            node_id = gid("DiscountCodeNode", next(self._ids))
            ends = data.get("endsAt")
            basic = {
                "title": data["title"],
                "status": "ACTIVE",
                "startsAt": data["startsAt"],
                "endsAt": ends,
                "usageLimit": data.get("usageLimit"),
                "asyncUsageCount": 0,
                "appliesOncePerCustomer": bool(data.get("appliesOncePerCustomer")),
            }
            self.discounts[code.lower()] = {
                "id": node_id,
                "code": code,
                "customers": customers,
                "input": data,
                **basic,
            }
        return {
            "codeDiscountNode": {
                "__typename": "DiscountCodeNode",
                "id": node_id,
                "codeDiscount": basic,
            },
            "userErrors": [],
        }
