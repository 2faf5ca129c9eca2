"""Shared fixtures: a clean environment for every test, and the test database URLs.

``MEMBERKIT_TEST_*`` variables are read once, here, when the session starts;
the autouse fixture then removes every ``MEMBERKIT_*``, ``KLAVIYO_*`` and
``SHOPIFY_*`` variable so no test sees the developer's real settings or keys.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Read once at import (session start), before any test can clear the environment.
TEST_DATABASE_URL = os.environ.get("MEMBERKIT_TEST_DATABASE_URL", "").strip() or None
IN_CI = os.environ.get("CI", "").lower() == "true"

_CLEARED_PREFIXES = ("MEMBERKIT_", "KLAVIYO_", "SHOPIFY_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) and not name.startswith("MEMBERKIT_TEST_"):
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder that is also the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
