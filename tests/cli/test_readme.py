"""Every command block of README.md runs, as written, on a copy of examples/.

The README's ```sh blocks are read in order and each command is run as a
subprocess (``memberkit ...`` as ``python -m memberkit ...``) in one copy of the
repository's ``examples/`` folder, so later blocks see what earlier ones did,
as a reader following the README would. Each must exit 0.

What is not run, and why:

* ``scripts/demo`` and ``scripts/test``: they set up ``.venv`` in the real
  checkout; the demo is the ``rewards update`` run below, the test script is
  this suite;
* ``memberkit klaviyo ...`` and Klaviyo flags (``--all``, ``--segment``,
  ``--suppressed``): they need ``KLAVIYO_PRIVATE_KEY`` and Klaviyo;
* the ```cron block: it is a crontab line, not a command.

``/srv/rewards`` in the README stands for a store folder: here, the copy of
``examples/``.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
STORE_PLACEHOLDER = "/srv/rewards"
SKIPPED_PROGRAMS = {
    "scripts/demo": "sets up .venv in the checkout; its update is run below",
    "scripts/test": "the test suite itself",
}
NEEDS_CREDENTIALS = {"klaviyo", "--all", "--segment", "--suppressed"}


@dataclass(frozen=True)
class ReadmeCommand:
    line_number: int
    text: str
    argv: list[str]


def readme_commands() -> list[ReadmeCommand]:
    """The commands of every ```sh block, with their line numbers in README.md."""
    commands = []
    in_sh = False
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            in_sh = not in_sh and line.strip() == "```sh"
            continue
        if in_sh:
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(ReadmeCommand(number, line.strip(), argv))
    return commands


def test_the_readme_has_command_blocks_to_run() -> None:
    programs = {command.argv[0] for command in readme_commands()}
    assert programs == {"scripts/demo", "scripts/test", "memberkit", "cd"}
    assert sum(command.argv[0] == "memberkit" for command in readme_commands()) >= 10


def test_every_readme_command_runs_on_a_copy_of_the_examples(tmp_path: Path) -> None:
    store = tmp_path / "examples"
    shutil.copytree(
        ROOT / "examples", store, ignore=shutil.ignore_patterns("output", "logs", "cache", "*.db*")
    )
    cwd = tmp_path  # the root of the "checkout"
    ran = []
    for command in readme_commands():
        argv = [re.sub(f"^{STORE_PLACEHOLDER}", str(store), arg) for arg in command.argv]
        where = f"README.md:{command.line_number}: {command.text}"
        if argv[0] in SKIPPED_PROGRAMS:
            continue
        if argv[0] == "cd":
            cwd = (cwd / argv[1]).resolve()
            assert cwd.is_dir(), where
            continue
        assert argv[0] == "memberkit", f"{where}: not a memberkit command"
        if NEEDS_CREDENTIALS & set(argv):
            continue
        result = subprocess.run(
            [sys.executable, "-m", "memberkit", *argv[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{where}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, where
        ran.append(argv)
    assert len(ran) >= 10
