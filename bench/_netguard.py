"""Refuse and record any network access from a benchmark process (stdlib only, cheap to import).

``install()`` adds an audit hook that raises on DNS look-ups and on connections to IP sockets, and appends
each attempt to the file named by ``BENCH_NET_LOG`` (inherited by child processes), so the report can say
how many were attempted: a rembg model download, for one, would show up there and fail loudly.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

LOG_ENV = "BENCH_NET_LOG"
_BLOCKED_ALWAYS = frozenset(
    {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"}
)
_BLOCKED_FOR_IP = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_installed = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event in _BLOCKED_ALWAYS or (
        event in _BLOCKED_FOR_IP and getattr(args[0], "family", None) in (socket.AF_INET, socket.AF_INET6)
    ):
        log = os.environ.get(LOG_ENV)
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()} {event} {args[1:]!r}\n")
        raise PermissionError(f"benchmark: network access refused ({event})")


def install() -> None:
    """Block network access in this process from now on (idempotent)."""
    global _installed  # noqa: PLW0603 - one hook per process
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


def attempts() -> list[str]:
    """Attempts recorded so far by this process and its children."""
    log = os.environ.get(LOG_ENV)
    if not log or not os.path.exists(log):
        return []
    with open(log, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]
