"""The Klaviyo key is redacted wherever it appears, whoever put it there.

The local server can echo the request's ``Authorization`` header in an error
body (a scripted fault, as misbehaving proxies do); the key must then reach
neither stderr, nor the log, nor the ``Failure Reason`` of the failed file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from tests.integrations.klaviyo.helpers import (
    make_client,
    max_value_row,
    read_csv,
    write_max_value_csv,
    write_store,
)
from tests.integrations.klaviyo.test_cli import run_cli
from tests.servers.klaviyo_server import ALL_SCOPES, FakeKlaviyo

from memberkit.config import Secret
from memberkit.integrations.klaviyo import Endpoint, KlaviyoRequestError, KlaviyoUnavailableError
from memberkit.runlog import LOGGER_NAME, configure_logging
from memberkit.secrets import redact, register_secret

KEY = "pk_live_5f0c3a9be27d41c8a6e2b0f9d3c71a44"


@pytest.fixture
def echoing(klaviyo: FakeKlaviyo) -> FakeKlaviyo:
    klaviyo.api_keys[KEY] = ALL_SCOPES
    return klaviyo


def test_redact_masks_every_registered_secret_and_nothing_else() -> None:
    register_secret("pk_short_1")
    register_secret("pk_short_1_and_longer")
    register_secret("ab")  # too short to be a key: masking it would garble every message
    text = "a pk_short_1_and_longer b pk_short_1 c ab"
    assert redact(text) == "a **** b **** c ab"
    assert redact("nothing secret here") == "nothing secret here"


def test_the_server_really_echoes_the_key(echoing: FakeKlaviyo) -> None:
    echoing.add_fault("status", "profiles:list", status=400, echo_key=True)
    response = httpx.get(
        f"{echoing.url}/api/profiles",
        headers={"Authorization": f"Klaviyo-API-Key {KEY}", "revision": "2026-07-15"},
    )
    assert KEY in response.text  # what the client below must not pass on


def test_an_error_built_from_an_echoing_body_never_holds_the_key(echoing: FakeKlaviyo) -> None:
    echoing.add_fault("status", "profiles:list", status=400, echo_key=True)
    with (
        make_client(echoing, api_key=Secret(KEY)) as client,
        pytest.raises(KlaviyoRequestError) as caught,
    ):
        client.get(Endpoint.PROFILES_LIST, "/api/profiles")
    error = caught.value
    assert "request key=Klaviyo-API-Key ****" in error.message
    assert KEY not in f"{error.message} {error.hint} {error.errors} {error}"


def test_a_retried_echo_is_redacted_in_the_retry_log_and_the_final_error(
    echoing: FakeKlaviyo, caplog: pytest.LogCaptureFixture
) -> None:
    echoing.add_fault("status", "profiles:list", status=503, echo_key=True, times=5)
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER_NAME),
        make_client(echoing, api_key=Secret(KEY), sleep=lambda s: None) as client,
        pytest.raises(KlaviyoUnavailableError) as caught,
    ):
        client.get(Endpoint.PROFILES_LIST, "/api/profiles")
    assert "retry 1 of 3" in caplog.text and "Klaviyo-API-Key ****" in caplog.text
    assert KEY not in caplog.text
    assert KEY not in caught.value.message


def test_log_records_are_redacted_in_their_arguments_and_tracebacks(tmp_path: Path) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.propagate, logger.level)
    try:
        log_file = configure_logging(tmp_path, "INFO")
        register_secret(KEY)
        child = logging.getLogger(f"{LOGGER_NAME}.somewhere")
        child.warning("a library said %s", f"Authorization: Klaviyo-API-Key {KEY}")
        try:
            raise RuntimeError(f"boom with {KEY}")
        except RuntimeError:
            child.exception("it failed")
        for handler in logger.handlers:
            handler.flush()
        assert log_file is not None
        text = log_file.read_text()
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            logger.addHandler(handler)
        logger.propagate, logger.level = saved[1], saved[2]
    assert "a library said Authorization: Klaviyo-API-Key ****" in text
    assert "RuntimeError: boom with ****" in text
    assert KEY not in text


def test_upload_with_an_echoing_server_keeps_the_key_out_of_stderr_log_and_failed_file(
    echoing: FakeKlaviyo, tmp_path: Path
) -> None:
    store = write_store(tmp_path, echoing, key=KEY)
    echoing.add_fault("status", "profile-bulk-import-jobs:create", status=400, echo_key=True)
    rows = [max_value_row(n) for n in range(3)]
    csv_path = write_max_value_csv(store.root / "output" / "max_value_2026-11-22.csv", rows)
    result = run_cli("klaviyo", "upload", str(csv_path), "--today", "2026-11-22", cwd=store.root)
    assert result.returncode == 3, result.stderr
    failed = read_csv(store.root / "output" / "klaviyo_failed_2026-11-22.csv")
    assert len(failed) == 3
    for row in failed:
        assert "request key=Klaviyo-API-Key ****" in row["Failure Reason"]
    log = (store.root / "logs" / "process.log").read_text()
    assert "Klaviyo-API-Key ****" in result.stderr and "Klaviyo-API-Key ****" in log
    for text in (
        result.stdout,
        result.stderr,
        log,
        (store.root / "output" / "klaviyo_failed_2026-11-22.csv").read_text(),
    ):
        assert KEY not in text


def test_a_fetch_that_fails_on_an_echoing_server_keeps_the_key_out_of_stderr_and_log(
    echoing: FakeKlaviyo, tmp_path: Path
) -> None:
    store = write_store(tmp_path, echoing, key=KEY)
    echoing.add_fault("status", "segments:profiles", status=503, echo_key=True, times=10)
    result = run_cli("klaviyo", "fetch", cwd=store.root)
    assert result.returncode == 1
    assert "Error: Klaviyo GET /api/segments/XVnnDX/profiles failed after 4 attempts" in (
        result.stderr
    )
    assert "request key=Klaviyo-API-Key ****" in result.stderr
    log = (store.root / "logs" / "process.log").read_text()
    assert "Klaviyo-API-Key ****" in log
    for text in (result.stdout, result.stderr, log):
        assert KEY not in text
