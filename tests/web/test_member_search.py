"""Member search: email, first or last name prefixes, "first last", Shopify id or member id.

The rules the admin's search box follows, on both databases; its speed at
1,000,000 members is in benchmarks/web/.
"""

from __future__ import annotations

import pytest

from memberkit.services.admin_views import PAGE_SIZE, search_members
from memberkit.services.ledger.members import create_member
from memberkit.store.database import Database

PEOPLE = [
    ("ann.jones@example.com", "Ann", "Jones", "6601000000001"),
    ("bob.smith@example.com", "Bob", "Smith", "6601000000002"),
    ("annabel.smith@example.com", "Annabel", "Smith", "6601000000003"),
    ("zoe.anning@example.com", "Zoë", "Anning", "6601000000004"),
]


@pytest.fixture
def people(db: Database) -> Database:
    for email, first, last, shopify_id in PEOPLE:
        create_member(
            db,
            actor="test:suite",
            email=email,
            first_name=first,
            last_name=last,
            shopify_id=shopify_id,
        )
    return db


def emails(db: Database, query: str, page: int = 1) -> list[str | None]:
    return [row.email for row in search_members(db, query=query, page=page).rows]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ann", ["ann.jones@example.com", "annabel.smith@example.com", "zoe.anning@example.com"]),
        ("ANN.J", ["ann.jones@example.com"]),
        ("smith", ["bob.smith@example.com", "annabel.smith@example.com"]),
        ("annabel smith", ["annabel.smith@example.com"]),
        # "Ann" is a first-name prefix of Annabel, "Smi" a last-name prefix of Smith.
        ("Ann Smi", ["annabel.smith@example.com"]),
        ("bob.smith@", ["bob.smith@example.com"]),
        ("6601000000004", ["zoe.anning@example.com"]),
        ("2", ["bob.smith@example.com"]),  # a member id
        ("nobody", []),
    ],
)
def test_what_a_query_finds_in_member_id_order(
    people: Database, query: str, expected: list[str]
) -> None:
    assert emails(people, query) == expected


def test_an_empty_query_pages_through_everyone_in_id_order(db: Database) -> None:
    for n in range(PAGE_SIZE + 3):
        create_member(db, actor="test:suite", email=f"m{n:03}@example.com")
    first = search_members(db, query="", page=1)
    second = search_members(db, query="", page=2)
    assert first.has_next and not second.has_next
    assert [r.email for r in first.rows + second.rows] == [
        f"m{n:03}@example.com" for n in range(PAGE_SIZE + 3)
    ]
