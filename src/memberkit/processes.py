"""Forked helper processes that never outlive the run that started them.

A run killed with SIGKILL cannot stop its children itself. ``die_with_parent``,
called first thing in a forked child, asks Linux to send the child SIGKILL when
its parent goes (``prctl(PR_SET_PDEATHSIG)``), and exits at once if the parent
is already gone. Children also close the parent's ends of their pipes, so a
read or write on a pipe ends (EOF or a broken pipe) when the parent dies, on
any platform.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
from multiprocessing.connection import Connection

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, *inherited: Connection) -> None:
    """In a forked child: die when ``parent_pid`` does; close the parent's pipe ends."""
    for conn in inherited:
        with contextlib.suppress(OSError):
            conn.close()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: pipes still end
            pass
    # The parent may have died before prctl took effect: we were re-parented.
    if os.getppid() != parent_pid:
        os._exit(1)
