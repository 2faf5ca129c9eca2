"""``memberkit events deliver|status|list --dead|retry`` as a subprocess: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.events.receiver import Receiver, running_receiver
from tests.ledger.conftest import ZONE

from memberkit.services.ledger import points
from memberkit.services.ledger.members import create_member
from memberkit.store.database import open_database

SECRET = "whsec_cli_secret_0123456789"


def memberkit(config: Path, *args: str, secret: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERKIT_")}
    if secret:
        env["MEMBERKIT_WEBHOOK_SECRET"] = SECRET
    return subprocess.run(
        [sys.executable, "-m", "memberkit", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as r:
        yield r


@pytest.fixture
def config(database_url: str, tmp_path: Path, receiver: Receiver) -> Path:
    path = tmp_path / "memberkit.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        "[events]\nmax_attempts = 1\n"
        f'[events.webhooks]\nenabled = true\nurls = ["{receiver.url}"]\n',
        encoding="utf-8",
    )
    db = open_database(database_url)
    member = create_member(db, actor="test:suite", email="ann@example.com", shopify_id="7001")
    points.add_points(db, actor="test:suite", member=member, points=30, zone=ZONE)
    db.dispose()
    return path


def test_deliver_then_status_shows_everything_delivered(config: Path, receiver: Receiver) -> None:
    before = json.loads(memberkit(config, "events", "status", "--json").stdout)
    assert before[0]["pending"] == 2 and before[0]["label"].startswith("webhook http://")
    result = memberkit(config, "events", "deliver", "--once")
    assert result.returncode == 0, result.stderr
    assert "2 delivered" in result.stdout
    after = json.loads(memberkit(config, "events", "status", "--json").stdout)
    assert (after[0]["pending"], after[0]["delivered"], after[0]["dead"]) == (0, 2, 0)
    assert len(receiver.received) == 2


def test_a_dead_event_exits_3_is_listed_and_retried(config: Path, receiver: Receiver) -> None:
    receiver.fail_all = True
    result = memberkit(config, "events", "deliver", "--once")
    assert result.returncode == 3, result.stderr
    assert "events list --dead" in result.stderr
    dead = json.loads(memberkit(config, "events", "list", "--dead", "--json").stdout)
    # A parked (dead) event no longer holds back its member's later ones: both died.
    assert [d["event_id"] for d in dead] == [2, 1]
    assert "503" in dead[0]["last_error"]
    receiver.fail_all = False
    retried = memberkit(config, "events", "retry", "1")
    assert retried.returncode == 0 and "1 delivery requeued" in retried.stdout
    assert memberkit(config, "events", "retry", "--all-dead").stdout.startswith("1 delivery")
    assert memberkit(config, "events", "deliver", "--once").returncode == 0
    assert receiver.ids() == [1, 2]


def test_retry_needs_an_id_or_all_dead_and_a_known_id(config: Path) -> None:
    assert memberkit(config, "events", "retry").returncode == 2
    missing = memberkit(config, "events", "retry", "999")
    assert missing.returncode != 0 and "no event 999" in missing.stderr
    assert "0 deliveries requeued" in memberkit(config, "events", "retry", "--all-dead").stdout


def test_webhooks_without_the_signing_secret_is_a_config_error(config: Path) -> None:
    result = memberkit(config, "events", "deliver", "--once", secret=False)
    assert result.returncode == 2
    assert "MEMBERKIT_WEBHOOK_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
