"""The command itself: --version, --help, init, and exit codes for usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from memberkit import __version__


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memberkit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"memberkit {__version__}"


def test_init_writes_a_loadable_config_and_folders(tmp_path: Path) -> None:
    result = run_cli("init", str(tmp_path / "shop"))
    assert result.returncode == 0, result.stderr
    for name in ("input", "output", "logs", "cache"):
        assert (tmp_path / "shop" / name).is_dir()
    from memberkit.config import load_settings

    settings = load_settings(tmp_path / "shop" / "memberkit.toml", environ={})
    assert settings.klaviyo.segment_id == "XVnnDX"
    assert settings.klaviyo.suppressed_segment_id == "SJPRME"


def test_init_refuses_to_overwrite_with_exit_2(tmp_path: Path) -> None:
    assert run_cli("init", str(tmp_path)).returncode == 0
    again = run_cli("init", str(tmp_path))
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_unknown_command_is_a_usage_error() -> None:
    assert run_cli("frobnicate").returncode == 2


def test_without_a_config_commands_that_touch_data_refuse_and_create_nothing(
    tmp_path: Path,
) -> None:
    for args in (("tiers", "list"), ("rewards", "update"), ("points", "balance", "a@x.test")):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert f"no memberkit.toml in {tmp_path}" in result.stderr
        assert "memberkit init" in result.stderr
        assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_a_config_help_and_version_still_work(tmp_path: Path) -> None:
    assert run_cli("--version", cwd=tmp_path).returncode == 0
    assert run_cli("tiers", "list", "--help", cwd=tmp_path).returncode == 0
    assert list(tmp_path.iterdir()) == []


def test_a_named_config_that_does_not_exist_says_so_and_points_to_init(tmp_path: Path) -> None:
    result = run_cli("tiers", "list", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert f"config file {tmp_path / 'nope.toml'} not found" in result.stderr
    assert "memberkit init" in result.stderr
