"""Podman serving the Docker API on a socket of the tests' own (`podman system service`), as
Podman Desktop does on macOS and Windows: rootful, its storage under a temporary directory, and
stopped (its storage reset) after the session. tests/setup.sh installs Debian's podman.

Here (a sandbox whose root lacks CAP_SYS_RESOURCE) runc cannot raise the open-files and process
limits to Podman's defaults ("error setting rlimit type 7: operation not permitted"), so the
containers get the limits this process has (containers.conf ``default_ulimits``); cgroupfs and a
file events log, as there is no systemd or journald.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving import serving

BINARY = Path("/usr/bin/podman")
NPROC_CEILING = 32768  # podman lowers its own process limit to this


@dataclass(frozen=True)
class Podman:
    host: str  # DOCKER_HOST for it
    env: dict[str, str]  # for the podman command line (its configuration files)

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [str(BINARY), *args], env={**os.environ, **self.env}, capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {done.stderr.strip()[-2000:]}")
        return done.stdout


def _limit(kind: int, ceiling: int) -> int:
    _soft, hard = resource.getrlimit(kind)
    return min(ceiling, hard if hard != resource.RLIM_INFINITY else ceiling)


def _answers(socket_path: Path) -> bool:
    import http.client
    import socket

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(2)
            self.sock.connect(str(socket_path))

    connection = Connection("podman")
    try:
        connection.request("GET", "/_ping")
        return connection.getresponse().status == 200
    except (OSError, urllib.error.URLError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _configure(root: Path) -> dict[str, str]:
    nofile = _limit(resource.RLIMIT_NOFILE, 1048576)
    nproc = _limit(resource.RLIMIT_NPROC, NPROC_CEILING)
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{root}/storage"\nrunroot = "{root}/run"\n'
    )
    (root / "containers.conf").write_text(
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        f'events_logfile_path = "{root}/run/events.log"\ntmp_dir = "{root}/tmp"\n'
        f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
    )
    (root / "tmp").mkdir(exist_ok=True)
    return {
        "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
        "CONTAINERS_CONF": str(root / "containers.conf"),
    }


def running_podman(root: Path) -> Iterator[Podman]:
    root.mkdir(parents=True, exist_ok=True)
    env = _configure(root)
    socket_path = root / "podman.sock"
    argv = [str(BINARY), "system", "service", "--time=0", f"unix://{socket_path}"]
    try:
        with serving(
            "podman system service", argv, root / "service.log",
            lambda: _answers(socket_path), startup=30, stop=20, env={**os.environ, **env},
        ):  # fmt: skip
            yield Podman(f"unix://{socket_path}", env)
    finally:
        subprocess.run(
            [str(BINARY), "system", "reset", "--force"], env={**os.environ, **env},
            capture_output=True, check=False, timeout=120,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    if not BINARY.is_file():
        pytest.skip(f"{BINARY} is absent: apt-get install podman (tests/setup.sh)")
    yield from running_podman(tmp_path_factory.mktemp("podman"))
