"""Per-architecture engines (--engine ARCH=ENDPOINT, LAMBDAZIP_ENGINE_<ARCH>, [tool.lambdazip]
engines): each architecture's containers go to its engine, an engine that would emulate its
architecture is refused before anything is built, and the manifest and matrix say who built what.

Two endpoints on this machine: the local socket (the default engine) and a TCP loopback endpoint
(tests/test_remote.py's forwarder, which keeps every request that crossed it). Which endpoint ran
which container is read from the engine's own event stream (each create event carries the
container's name, image and labels) and from the requests that crossed the TCP endpoint."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from lambdazip.build.endpoints import endpoint_label, with_engines
from lambdazip.build.engine import ENGINE_LABEL, LABEL, Engine
from lambdazip.cli import main
from lambdazip.errors import EngineError
from tests.conftest import host_env
from tests.endpoints import TcpToUnix, docker_context
from tests.wheels import REPO

REQUIREMENTS = REPO / "requirements.txt"


def _created_through(proxy: TcpToUnix) -> set[str]:
    """The names of the containers whose create request crossed the TCP endpoint."""
    names = set()
    for stream in proxy.sent:  # a request may follow the body of the one before without a break
        for match in re.finditer(rb"POST (/v[\d.]+/containers/create\S*) HTTP/1", bytes(stream)):
            names.add(parse_qs(urlsplit(match[1].decode()).query)["name"][0])
    return names


def _creations(engine: Engine, since: int) -> dict[str, dict[str, str]]:
    """The engine's own record: every container of ours created since ``since`` (time.time_ns()),
    by name, with its image's architecture and the endpoint label it carries."""
    events = engine.api.events(
        since=since // 10**9,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "create", "label": LABEL},
        decode=True,
    )
    created = {}
    for event in events:
        if event["timeNano"] < since:
            continue
        attributes = event["Actor"]["Attributes"]
        image = engine.api.inspect_image(attributes["image"])
        created[attributes["name"]] = {
            "arch": image["Architecture"],
            "engine": attributes.get(ENGINE_LABEL, ""),
        }
    return created


@pytest.fixture
def function_zip(tmp_path: Path) -> Path:
    """A function of one handler, as a zip."""
    from lambdazip.inside.lambdazip_zip import collect, write

    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return event\n")
    function = tmp_path / "function.zip"
    write(str(function), collect(str(code), ""), 315532800)
    return function


@pytest.mark.integration
@pytest.mark.network
def test_matrix_sends_each_architecture_to_its_engine(
    tmp_path: Path,
    tcp_engine: TcpToUnix,
    engine: Engine,
    images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    tcp = f"tcp://127.0.0.1:{tcp_engine.port}"
    since = time.time_ns()
    argv = ["matrix", "--python", "3.11", "--arch", "x86_64", "arm64", "--engine", f"x86_64={tcp}"]
    argv += ["-r", str(REQUIREMENTS), "-o", str(tmp_path), "--json", "-q"]
    for arch in ("x86_64", "arm64"):
        argv += ["--base-image", f"3.11/{arch}={images[('3.11', arch)]}"]
    assert main(argv, env=host_env()) == 0
    rows = {row["target"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["python3.11-x86_64"]["engine"] == tcp
    assert rows["python3.11-arm64"]["engine"] == "default"

    created = _creations(engine, since)
    through_tcp = _created_through(tcp_engine)
    assert through_tcp, "no container was created through the TCP endpoint"
    # the engine's events: what the TCP endpoint created is exactly what is labelled with it,
    # all of it x86_64; every arm64 container came through the local socket
    assert through_tcp == {n for n, c in created.items() if c["engine"] == tcp}
    assert {created[n]["arch"] for n in through_tcp} == {"amd64"}
    arm64 = {n for n, c in created.items() if c["arch"] == "arm64"}
    assert arm64, "no arm64 container was created"
    assert not arm64 & through_tcp
    assert {created[n]["engine"] for n in arm64} == {"default"}

    for arch, endpoint in (("x86_64", tcp), ("arm64", "default")):
        manifest = json.loads((tmp_path / f"layer-python3.11-{arch}.manifest.json").read_text())
        assert manifest["engine"]["endpoint"] == endpoint
        assert manifest["engine"]["arch"] == "x86_64"  # this host: arm64 ran emulated on it


@pytest.mark.integration
def test_a_probe_goes_to_its_architectures_engine(
    function_zip: Path, tcp_engine: TcpToUnix, images: dict[tuple[str, str], str]
) -> None:
    tcp = f"tcp://127.0.0.1:{tcp_engine.port}"
    argv = ["probe", str(function_zip), "--arch", "x86_64", "--python", "3.11", "-q"]
    argv += ["--base-image", images[("3.11", "x86_64")], "--engine", f"x86_64={tcp}"]
    assert main(argv, env={}) == 0
    assert len(_created_through(tcp_engine)) == 1


@pytest.mark.integration
def test_an_engine_named_by_its_docker_context(
    tmp_path: Path,
    function_zip: Path,
    tcp_engine: TcpToUnix,
    images: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = f"tcp://127.0.0.1:{tcp_engine.port}"
    config = docker_context(tmp_path / "docker-config", "x86-box", host)  # not the current one
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    argv = ["probe", str(function_zip), "--arch", "x86_64", "--python", "3.11", "-q"]
    argv += ["--base-image", images[("3.11", "x86_64")], "--engine", "x86_64=x86-box"]
    assert main(argv, env={}) == 0
    assert len(_created_through(tcp_engine)) == 1


@pytest.mark.integration
@pytest.mark.parametrize("how", ["option", "environment", "pyproject"])
def test_an_engine_that_would_emulate_is_refused_before_anything_is_built(
    how: str,
    tmp_path: Path,
    tcp_engine: TcpToUnix,
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tcp = f"tcp://127.0.0.1:{tcp_engine.port}"
    since = time.time_ns()
    env: dict[str, str] = {}
    argv = ["layer", "--arch", "arm64", "--python", "3.11", "-r", str(REQUIREMENTS)]
    argv += ["-o", str(tmp_path / "dist")]
    if how == "option":
        argv += ["--engine", f"arm64={tcp}"]
    elif how == "environment":
        env["LAMBDAZIP_ENGINE_ARM64"] = tcp
    else:
        project = tmp_path / "project"
        project.mkdir()
        (project / "requirements.txt").write_bytes(REQUIREMENTS.read_bytes())
        (project / "pyproject.toml").write_text(
            '[tool.lambdazip]\npython = ["3.11"]\narch = ["x86_64", "arm64"]\n'
            f'[tool.lambdazip.engines]\narm64 = "{tcp}"\n'
            "[tool.lambdazip.layers.deps]\n"
        )
        argv = ["build", "--project", str(project), "-o", str(tmp_path / "dist")]
    assert main(argv, env=env) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [  # one line: what failed; what to do
        f"error: the engine for arm64 at {tcp} runs on x86_64: it would run arm64 containers "
        "only under emulation, 5-30x slower; point --engine arm64= (or LAMBDAZIP_ENGINE_ARM64) "
        "at a native arm64 engine, or leave it out to build arm64 on the default engine"
    ]
    assert not (tmp_path / "dist").exists()
    assert _created_through(tcp_engine) == set()
    assert _creations(engine, since) == {}  # not even the x86_64 layer of the project


# -- without an engine -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("arm64", "error: --engine 'arm64' is not ARCH=ENDPOINT"),
        ("arm64=", "error: --engine 'arm64=' is not ARCH=ENDPOINT"),
        ("mips=ssh://host", "error: unknown architecture 'mips'"),
    ],
)
def test_a_malformed_engine_is_one_usage_line(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["layer", "--arch", "arm64", "--python", "3.11", "--engine", spec]
    assert main(argv, env={}) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith(message), err
    assert "Traceback" not in err


def test_an_unknown_context_is_said_not_replaced_by_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = docker_context(tmp_path / "docker-config", "graviton", "ssh://g")
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    with pytest.raises(EngineError, match="there is no docker context named 'gravitn'"):
        Engine.connect({"LAMBDAZIP_ENGINE_ARM64": "gravitn"}, "arm64")


def test_a_pyproject_engine_for_an_unknown_architecture_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lambdazip.engines]\nmips = "ssh://host"\n[tool.lambdazip.layers.deps]\n'
    )
    assert main(["build", "--project", str(tmp_path)], env={}) == 2
    assert "[tool.lambdazip.engines.mips" in capsys.readouterr().err


def test_endpoints_are_named_without_secrets_and_the_option_wins() -> None:
    assert endpoint_label("tcp://me:secret@host:2376", {}) == "tcp://me@host:2376"
    assert endpoint_label("ssh://builder@graviton", {}) == "ssh://builder@graviton"
    assert endpoint_label("graviton", {}) == "context graviton"
    assert endpoint_label(None, {}) == "default"
    assert endpoint_label(None, {"DOCKER_HOST": "unix:///run/d.sock"}) == "unix:///run/d.sock"
    env = with_engines({"LAMBDAZIP_ENGINE_ARM64": "from-env"}, {"arm64": "from-option"})
    assert env["LAMBDAZIP_ENGINE_ARM64"] == "from-option"


def test_a_signal_during_a_removal_waits_for_it() -> None:
    """A Ctrl-C (or SIGTERM) that lands while a container is being removed is raised after
    the removal: it unwinds as usual, but never leaves the container half-asked-for. Other
    threads (the tool has some) do not change that."""
    import os
    import signal
    import threading

    from lambdazip import interrupts

    done: list[str] = []
    idle = threading.Event()
    other = threading.Thread(target=idle.wait, daemon=True)
    other.start()

    def removal() -> None:
        with interrupts.uninterrupted():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # an interrupt not held would have been raised by now
            done.append("removed")

    previous = signal.getsignal(signal.SIGINT)
    interrupts.install()
    try:
        with pytest.raises(KeyboardInterrupt):
            removal()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        idle.set()
    assert done == ["removed"]
