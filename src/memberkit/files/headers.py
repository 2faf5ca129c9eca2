"""Finding the columns we need in an export's header row.

Headers match ignoring case and surrounding (or repeated) spaces. Reward-code
metafields are recognised in Matrixify's style, ``Metafield: <namespace>.<key>``
optionally followed by a type such as `` [json]``, and in Shopify's own customer
export style, ``<Label> (customer.metafields.<namespace>.<key>)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from memberkit.files.csv_input import normalise_header


def find_column(header: Sequence[str], *names: str) -> int | None:
    """Index of the first header cell equal (case/space-insensitively) to one of ``names``."""
    wanted = [normalise_header(name) for name in names]
    normalised = [normalise_header(cell) for cell in header]
    for name in wanted:
        if name in normalised:
            return normalised.index(name)
    return None


def metafield_pattern(namespace: str, key: str) -> re.Pattern[str]:
    """A pattern matching a normalised header that holds metafield ``namespace.key``."""
    target = re.escape(f"{namespace}.{key}".lower())
    return re.compile(
        rf"^(?:metafield:\s*{target}(?:\s*\[[^\]]*\])?|.*\(customer\.metafields\.{target}\))$"
    )


def find_metafield(header: Sequence[str], namespace: str, key: str) -> int | None:
    """Index of the column holding metafield ``namespace.key``, in either export style."""
    pattern = metafield_pattern(namespace, key)
    for index, cell in enumerate(header):
        if pattern.match(normalise_header(cell)):
            return index
    return None


def describe_columns(header: Iterable[str], limit: int = 30) -> str:
    """The columns found, for an error message (long headers shortened)."""
    cells = [cell.strip() for cell in header]
    shown = ", ".join(repr(c) for c in cells[:limit])
    more = f" and {len(cells) - limit} more" if len(cells) > limit else ""
    return f"columns found: {shown}{more}" if cells else "no columns found"
