"""A real ``memberkit serve`` process on a free port, with its own config, database and users."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "admin")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def memberkit(
    *args: str, config: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the memberkit CLI of this checkout."""
    return subprocess.run(
        [sys.executable, "-m", "memberkit", *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env=_env(),
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERKIT_", "KLAVIYO_"))}
    env["MEMBERKIT_SECRET_KEY"] = "test-secret-key-" + "x" * 32
    return env


@dataclass
class LiveServer:
    """One serve process; ``restart`` keeps the folder, database and port."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.folder / "memberkit.toml"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "memberkit",
                    "serve",
                    "--port",
                    str(self.port),
                    "--config",
                    str(self.config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_env(),
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve did not start: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: the process dies mid-work, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def make_server(folder: Path, *, chunk_size: int = 10000) -> LiveServer:
    """A configured folder with one user per role (``ROLE@example.com``), not started yet."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memberkit.toml").write_text(
        "[database]\n"
        f'url = "sqlite:///{folder / "memberkit.db"}"\n'
        "[imports]\n"
        f"chunk_size = {chunk_size}\n"
        "[web]\n"
        "worker_poll_seconds = 0.2\n",
        encoding="utf-8",
    )
    server = LiveServer(folder, free_port())
    for role in ROLES:
        done = memberkit(
            "users",
            "add",
            f"{role}@example.com",
            "--role",
            role,
            "--password-stdin",
            config=server.config,
            stdin=PASSWORD + "\n",
        )
        assert done.returncode == 0, done.stderr
    return server
