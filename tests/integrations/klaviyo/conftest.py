"""Fixtures for the Klaviyo tests: a running local Klaviyo server and a store folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integrations.klaviyo.helpers import API_KEY, Store, write_store
from tests.servers.klaviyo_server import FakeKlaviyo

from memberkit.secrets import forget_secrets


@pytest.fixture(autouse=True)
def forget_registered_secrets() -> Iterator[None]:
    """Each test starts with no registered secret (clients register their key)."""
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def klaviyo() -> Iterator[FakeKlaviyo]:
    """A running local Klaviyo with the real rate limits and fast jobs."""
    fake = FakeKlaviyo(
        api_keys={
            API_KEY: {
                "profiles:read",
                "profiles:write",
                "segments:read",
                "lists:write",
                "events:write",
            }
        }
    )
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    # A bug in the local server must fail the test, not pass as a retried 500.
    assert fake.internal_errors == [], fake.internal_errors[0]


@pytest.fixture
def store(tmp_path: Path, klaviyo: FakeKlaviyo) -> Store:
    return write_store(tmp_path, klaviyo)
