"""Bulk mutations: the staged upload, ``bulkOperationRunMutation``, polling and the result file.

``run_bulk_mutation(client, mutation, lines)`` takes the mutation text and
one variables object per line and returns one ``BulkLineResult`` per line, in
order, each with its ``data`` or ``errors`` from Shopify's result JSONL
(``__lineNumber`` maps a result back to its line). Input larger than
``max_file_bytes`` (Shopify takes at most 100 MB) is split into several
operations, run one after another (Shopify runs one bulk mutation at a time
per shop; an operation already in progress is waited for).

A line Shopify never answered (an operation that FAILED part way, whose
partial file stops early) comes back with ``answered = False`` so the caller
can retry those lines; a FAILED operation with no partial file raises
``ShopifyBulkError``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from memberkit.integrations.shopify.client import ShopifyClient
from memberkit.integrations.shopify.errors import ShopifyBulkError
from memberkit.integrations.shopify.operations import UserError, user_errors

log = logging.getLogger("memberkit.shopify")

#: Shopify's limit on one bulk mutation's staged upload: 100 MB.
UPLOAD_LIMIT_BYTES = 100 * 1024 * 1024


def file_budget(upload_limit_bytes: int) -> int:
    """The most JSONL bytes one file may hold under ``upload_limit_bytes``.

    The staged upload is a multipart POST whose form fields (key, policy,
    signature...) count against the target's limit too, so a file filled to the
    byte is refused (EntityTooLarge) and nothing is pushed. A tenth of the
    limit, at most 1 MiB, is kept for them (they are under 1 KB today).
    """
    return upload_limit_bytes - min(1024 * 1024, upload_limit_bytes // 10)


STAGED_UPLOADS_CREATE = """
mutation StagedUploadsCreate($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}
"""

BULK_OPERATION_RUN_MUTATION = """
mutation BulkOperationRunMutation($mutation: String!, $stagedUploadPath: String!) {
  bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $stagedUploadPath) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""

BULK_OPERATION_FIELDS = "id status errorCode objectCount fileSize url partialDataUrl"

BULK_OPERATION = f"""
query BulkOperation($id: ID!) {{
  node(id: $id) {{ ... on BulkOperation {{ {BULK_OPERATION_FIELDS} }} }}
}}
"""

CURRENT_BULK_MUTATION = f"""
query CurrentBulkMutation {{
  currentBulkOperation(type: MUTATION) {{ {BULK_OPERATION_FIELDS} }}
}}
"""


@dataclass(frozen=True)
class BulkLineResult:
    """Shopify's answer to one line: the mutation's ``data`` or top-level ``errors``."""

    line: int
    answered: bool
    data: dict[str, Any] | None = None
    errors: tuple[str, ...] = ()

    def user_errors(self, field_name: str) -> list[UserError]:
        """The userErrors of mutation ``field_name`` in this line's data."""
        return user_errors((self.data or {}).get(field_name))


@dataclass
class BulkReport:
    """Every line's result, and how the operations went."""

    results: list[BulkLineResult] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    upload_seconds: float = 0.0
    server_seconds: float = 0.0
    download_seconds: float = 0.0


def _chunks(lines: Iterable[bytes], max_bytes: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        yield chunk


def run_bulk_mutation(
    client: ShopifyClient,
    mutation: str,
    lines: Iterable[dict[str, Any]],
    *,
    upload_limit_bytes: int = UPLOAD_LIMIT_BYTES,
    poll_seconds: float = 1.0,
    max_poll_seconds: float = 10.0,
    timeout_seconds: float = 3600.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BulkReport:
    """Run ``mutation`` once per line of variables through bulk operations; every line's result."""
    report = BulkReport()
    encoded = (json.dumps(line, separators=(",", ":")).encode() for line in lines)
    offset = 0
    for number, chunk in enumerate(_chunks(encoded, file_budget(upload_limit_bytes)), start=1):
        results = _run_one(
            client,
            mutation,
            chunk,
            f"memberkit-bulk-{number}.jsonl",
            report,
            poll_seconds=poll_seconds,
            max_poll_seconds=max_poll_seconds,
            timeout_seconds=timeout_seconds,
            clock=clock,
            sleep=sleep,
        )
        report.results.extend(
            BulkLineResult(offset + r.line, r.answered, r.data, r.errors) for r in results
        )
        offset += len(chunk)
    return report


def _run_one(
    client: ShopifyClient,
    mutation: str,
    chunk: list[bytes],
    filename: str,
    report: BulkReport,
    *,
    poll_seconds: float,
    max_poll_seconds: float,
    timeout_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> list[BulkLineResult]:
    body = b"\n".join(chunk) + b"\n"
    started = clock()
    data = client.execute(
        STAGED_UPLOADS_CREATE,
        {
            "input": [
                {
                    "resource": "BULK_MUTATION_VARIABLES",
                    "filename": filename,
                    "mimeType": "text/jsonl",
                    "httpMethod": "POST",
                }
            ]
        },
        what="stagedUploadsCreate",
    )
    payload = data.get("stagedUploadsCreate") or {}
    problems = user_errors(payload)
    targets = payload.get("stagedTargets") or []
    if problems or not targets:
        raise ShopifyBulkError(
            "Shopify refused the staged upload: " + "; ".join(str(p) for p in problems)
        )
    target = targets[0]
    fields = [(p["name"], p["value"]) for p in target["parameters"]]
    path = dict(fields).get("key")
    if not path:
        raise ShopifyBulkError("Shopify's staged upload target has no key parameter")
    client.upload_form(target["url"], fields, filename, body)
    report.upload_seconds += clock() - started

    started = clock()
    deadline = started + timeout_seconds
    while True:
        data = client.execute(
            BULK_OPERATION_RUN_MUTATION,
            {"mutation": mutation, "stagedUploadPath": path},
            what="bulkOperationRunMutation",
        )
        payload = data.get("bulkOperationRunMutation") or {}
        problems = user_errors(payload)
        if any(p.code == "OPERATION_IN_PROGRESS" for p in problems):
            # Another bulk mutation (ours from a crashed run, or another app's) holds the slot.
            if clock() > deadline:
                raise ShopifyBulkError("another bulk mutation stayed in progress too long")
            sleep(poll_seconds)
            continue
        if problems or not payload.get("bulkOperation"):
            raise ShopifyBulkError(
                "Shopify refused the bulk mutation: " + "; ".join(str(p) for p in problems)
            )
        operation_id = str(payload["bulkOperation"]["id"])
        break
    report.operations.append(operation_id)
    wait = poll_seconds
    while True:
        node = (client.execute(BULK_OPERATION, {"id": operation_id}, what="bulk operation")).get(
            "node"
        ) or {}
        status = node.get("status")
        if status in ("COMPLETED", "FAILED", "CANCELED", "EXPIRED"):
            break
        if clock() > deadline:
            raise ShopifyBulkError(
                f"bulk operation {operation_id} did not finish in {timeout_seconds:g} s "
                f"(status {status})",
                hint="it may still finish: memberkit reads currentBulkOperation next time",
            )
        sleep(wait)
        wait = min(max_poll_seconds, wait * 1.5)
    report.server_seconds += clock() - started
    url = node.get("url") if status == "COMPLETED" else node.get("partialDataUrl")
    if status != "COMPLETED":
        log.warning("bulk operation %s ended %s (%s)", operation_id, status, node.get("errorCode"))
        if not url:
            raise ShopifyBulkError(
                f"bulk operation {operation_id} ended {status} "
                f"({node.get('errorCode') or 'no error code'}) with no results"
            )
    started = clock()
    text = client.download(str(url)) if url else b""
    report.download_seconds += clock() - started
    return _parse_results(text, len(chunk))


def _parse_results(text: bytes, count: int) -> list[BulkLineResult]:
    found: dict[int, BulkLineResult] = {}
    for raw in text.splitlines():
        if not raw.strip():
            continue
        item = json.loads(raw)
        number = int(item.get("__lineNumber", -1))
        if not 0 <= number < count:
            continue
        errors = tuple(str(e.get("message", e)) for e in item.get("errors") or ())
        found[number] = BulkLineResult(number, True, item.get("data"), errors)
    return [found.get(n, BulkLineResult(n, False)) for n in range(count)]
