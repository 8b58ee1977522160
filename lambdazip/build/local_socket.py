"""The two read-only questions a no-op build asks the engine (its version, an image's ID), asked
on the local Unix socket with the standard library: the Docker SDK (0.2-0.3 s of imports) is not
loaded for them. Anything unexpected in an answer hands the question back to the SDK."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ABSENT = object()  # what local_get returns for a 404


def local_socket(settings: Mapping[str, str]) -> str | None:
    """The Unix socket of the engine ``settings`` name, if that is what docker-py would reach
    (DOCKER_HOST=unix://..., or no DOCKER_HOST and the default context); else None."""
    host = settings.get("DOCKER_HOST")
    if host:
        return host[len("unix://") :] if host.startswith("unix://") else None
    if sys.platform == "win32" or settings.get("DOCKER_CONTEXT"):
        return None
    directory = os.environ.get("DOCKER_CONFIG")  # where docker-py looks, too
    try:
        config = (Path(directory) if directory else Path.home() / ".docker") / "config.json"
        current = json.loads(config.read_bytes()).get("currentContext") or "default"
    except (OSError, ValueError, AttributeError, RuntimeError):  # RuntimeError: no home
        current = "default"
    path = Path("/var/run/docker.sock")
    return str(path) if current == "default" and path.exists() else None


def local_get(path: str, url: str) -> Any:
    """GET ``url`` from the engine on the Unix socket ``path`` (HTTP/1.0: one answer, then the
    engine closes): the JSON document; ABSENT for 404; None for anything else."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(10)
            connection.connect(path)
            connection.sendall(f"GET {url} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            answer = bytearray()
            while data := connection.recv(65536):
                answer += data
    except OSError:
        return None
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    if status == [b"404"]:
        return ABSENT
    if status != [b"200"]:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
