"""Finding the columns we need in an export's header row.

Headers match ignoring case and surrounding (or repeated) spaces. Reward-code
metafields are recognised in Matrixify's style, ``Metafield: <namespace>.<key>``
optionally followed by a type such as `` [json]``, and in Shopify's own customer
export style, ``<Label> (customer.metafields.<namespace>.<key>)``.

A column we read must be there once: with two ``Email`` columns (or ``ID,ID``)
nobody can say which one the export meant, so ``find_column`` and
``find_metafield`` raise ``RepeatedColumnError`` and the file is refused,
naming the duplicates. Repeated columns we do not read are no one's concern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from memberkit.domain.echo import cut
from memberkit.files.csv_input import normalise_header


class RepeatedColumnError(ValueError):
    """A column we read appears more than once in the header."""

    def __init__(self, header: Sequence[str], positions: list[int]) -> None:
        self.positions = positions
        names = " and ".join(repr(cut(header[i].strip())) for i in positions)
        numbers = ", ".join(str(i + 1) for i in positions)
        super().__init__(f"{names} (columns {numbers}) hold the same column")


def find_column(header: Sequence[str], *names: str) -> int | None:
    """Index of the header cell equal (case/space-insensitively) to the first of ``names``
    found; raise ``RepeatedColumnError`` when that name is in the header more than once."""
    wanted = [normalise_header(name) for name in names]
    normalised = [normalise_header(cell) for cell in header]
    for name in wanted:
        if name in normalised:
            positions = [i for i, cell in enumerate(normalised) if cell == name]
            if len(positions) > 1:
                raise RepeatedColumnError(header, positions)
            return positions[0]
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
    positions = [i for i, cell in enumerate(header) if pattern.match(normalise_header(cell))]
    if len(positions) > 1:
        raise RepeatedColumnError(header, positions)
    return positions[0] if positions else None


def describe_columns(header: Iterable[str], limit: int = 30) -> str:
    """The columns found, for an error message (long headers shortened)."""
    cells = [cell.strip() for cell in header]
    shown = ", ".join(repr(cut(c)) for c in cells[:limit])
    more = f" and {len(cells) - limit} more" if len(cells) > limit else ""
    return f"columns found: {shown}{more}" if cells else "no columns found"
