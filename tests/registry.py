"""A real registry on loopback for the registry client's tests: Debian's ``docker-registry`` (CNCF
distribution 2.8), started on a free port with a generated config and stopped after, so the
client is tested against the reference implementation of the API and not against our reading
of it. No network and no engine: a process of ours, storing under a temporary directory.

    tests/setup.sh installs it (apt-get install docker-registry); without it the tests that need
    it are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving import serving

BINARY = Path("/usr/bin/docker-registry")
STARTUP = 20.0  # seconds: it answers in well under one


@dataclass(frozen=True)
class Login:
    username: str
    password: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(host: str) -> bool:
    """Whether ``GET /v2/`` answers (200, or 401 when it wants a login)."""
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=2):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False


def htpasswd_line(login: Login) -> str | None:
    """The bcrypt htpasswd line distribution takes (it reads no other hash): from the bcrypt
    module, else ``htpasswd -Bbn``; None if neither is here."""
    try:
        import bcrypt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        hashed = bcrypt.hashpw(login.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        return f"{login.username}:{hashed}"
    tool = shutil.which("htpasswd")
    if tool is None:
        return None
    out = subprocess.run(
        [tool, "-Bbn", login.username, login.password], check=True, capture_output=True, text=True
    ).stdout
    return out.strip()


@contextlib.contextmanager
def running_registry(root: Path, htpasswd: str | None = None) -> Iterator[str]:
    """A registry storing under ``root`` (with basic auth from ``htpasswd``'s line if given);
    yields its ``127.0.0.1:PORT`` and stops it, whatever happened."""
    root.mkdir(parents=True, exist_ok=True)
    host = f"127.0.0.1:{_free_port()}"
    config: dict[str, object] = {
        "version": "0.1",
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        # relative Location headers: the fake registry of the unit tests sends absolute ones
        "http": {"addr": host, "secret": "lambdazip-tests", "relativeurls": True},
    }
    if htpasswd is not None:
        (root / "htpasswd").write_text(htpasswd + "\n")
        config["auth"] = {"htpasswd": {"realm": "lambdazip-tests", "path": str(root / "htpasswd")}}
    (root / "config.yml").write_text(json.dumps(config, indent=1))  # JSON is YAML
    argv = [str(BINARY), "serve", str(root / "config.yml")]
    with serving(f"docker-registry on {host}", argv, root / "registry.log",
                 lambda: _answers(host), startup=STARTUP):  # fmt: skip
        yield host


def _need_binary() -> None:
    if not BINARY.is_file():
        pytest.skip(f"{BINARY} is absent: apt-get install docker-registry (tests/setup.sh)")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback registry without auth, for the session: its ``127.0.0.1:PORT``."""
    _need_binary()
    with running_registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture(scope="session")
def registry_with_login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Login]]:
    """A loopback registry that wants a basic-auth login, and that login."""
    _need_binary()
    login = Login("lambdazip", "s3cret-Pa55word")
    line = htpasswd_line(login)
    if line is None:
        pytest.skip("no bcrypt module and no htpasswd (apache2-utils) to write the login with")
    with running_registry(tmp_path_factory.mktemp("registry-login"), line) as host:
        yield host, login
