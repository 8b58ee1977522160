"""Faults: signals at random points of real builds, the engine going away mid-build, two builders
writing the same output. Whatever happens: nothing of ours is left on the engine, and the output
directory holds the previous artifact intact or a complete new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from lambdazip.build.engine import Engine
from lambdazip.cli import main
from lambdazip.outputs.archive import sha256_file
from tests.conftest import host_env, ours
from tests.endpoints import ENGINE_SOCKET, TcpToUnix
from tests.wheels import REPO

pytestmark = [pytest.mark.integration, pytest.mark.network]


def _command(out: Path, image: str, *extra: str) -> list[str]:
    command = [sys.executable, str(REPO / "build.py"), "layer", "--arch", "x86_64"]
    command += ["--python", "3.11", "-o", str(out), "-r", str(REPO / "requirements.txt")]
    return [*command, "--base-image", image, "-q", *extra]


def _complete_pair(out: Path) -> str:
    """The zip and its manifest agree; the zip is readable. Its sha256."""
    zip_path = out / "layer-python3.11-x86_64.zip"
    manifest = json.loads(zip_path.with_suffix(".manifest.json").read_text())
    digest = sha256_file(zip_path)
    assert manifest["sha256"] == digest
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
    sbom = zip_path.with_suffix(".cdx.json")
    if sbom.exists():  # put in place with the pair (outputs/manifest.py): it names the same zip
        subject = json.loads(sbom.read_text())["metadata"]["component"]
        assert subject["hashes"][0]["content"] == digest
    return digest


def test_signals_at_random_points_of_20_builds(
    tmp_path: Path, engine: Engine, images: dict[tuple[str, str], str]
) -> None:
    out = tmp_path / "dist"
    image = images[("3.11", "x86_64")]
    # PYTHONFAULTHANDLER: a build that hangs can be made to print every thread's stack (SIGABRT)
    env = {**os.environ, **host_env(), "PYTHONFAULTHANDLER": "1"}
    subprocess.run(_command(out, image), env=env, check=True)
    previous = _complete_pair(out)
    timing = time.monotonic()
    subprocess.run(_command(out, image, "--force"), env=env, check=True)
    full = time.monotonic() - timing  # how long a build takes: the signals land within it

    rng = random.Random(20261123)
    outcomes: dict[str, int] = {}
    for attempt in range(20):
        which = signal.SIGINT if attempt % 2 == 0 else signal.SIGTERM
        process = subprocess.Popen(
            _command(out, image, "--force"), env=env, stderr=subprocess.PIPE, text=True
        )
        time.sleep(rng.uniform(0.0, full))
        process.send_signal(which)
        try:
            _, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            _, err = process.communicate(timeout=60)
            pytest.fail(f"build {attempt} did not end within 120 s of {which.name}:\n{err}")
        assert "Traceback" not in err, err
        key = "finished" if process.returncode == 0 else f"interrupted ({process.returncode})"
        outcomes[key] = outcomes.get(key, 0) + 1
        # 130: our clean unwinding; -SIGINT/-SIGTERM: the signal came before Python could
        # install a handler, i.e. before anything had started
        allowed = (0, 130, -signal.SIGINT, -signal.SIGTERM)
        assert process.returncode in allowed, (process.returncode, err)
        stuck = _engine_stuck_removals(engine)
        outcomes["stuck in the engine's removal"] = outcomes.get("stuck in the engine's removal", 0)
        outcomes["stuck in the engine's removal"] += len(stuck)
        assert ours(engine) == set()
        assert ours(engine, "volumes") == set()
        assert _complete_pair(out) == previous  # the same inputs always give the same bytes
        leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
        assert leftovers == []
    assert outcomes.get("finished", 0) < 20, outcomes  # most were really interrupted
    # Docker Engine 20.10 here can leave a container "Removal In Progress" when our removal races
    # its start; a second `docker rm -f` clears it. Seen in up to 1 of 20; more is a regression.
    assert outcomes["stuck in the engine's removal"] <= 2, outcomes


def _engine_stuck_removals(engine: Engine) -> list[str]:
    """Containers of ours that the engine still shows as being removed: removed again (as the
    user would, following the tip). Any container of ours in another state stays, and fails."""
    stuck = [
        str(c["Names"][0]).lstrip("/")
        for c in engine.api.containers(all=True, filters={"label": "io.lambdazip"})
        if c.get("State") == "removing"
    ]
    for name in stuck:
        deadline = time.monotonic() + 30
        while name in ours(engine) and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                engine.api.remove_container(name, force=True, v=True)
            time.sleep(0.5)
    return stuck


def test_the_engine_going_away_mid_build_is_one_clean_error(
    tmp_path: Path,
    engine: Engine,
    images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy = TcpToUnix(ENGINE_SOCKET)
    before = set(ours(engine))

    def cut_when_the_container_exists() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not proxy.container_creations():
            time.sleep(0.05)
        time.sleep(0.3)
        proxy.cut()

    threading.Thread(target=cut_when_the_container_exists, daemon=True).start()
    out = tmp_path / "dist"
    argv = _command(out, images[("3.11", "x86_64")], "--force")[2:]
    code = main(argv, env={**host_env(), "DOCKER_HOST": f"tcp://127.0.0.1:{proxy.port}"})
    proxy.close()
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 6, err
    assert len(errors) == 1
    assert errors[0].startswith("error: lost the connection to the Docker engine")
    assert "Traceback" not in err
    assert not out.exists() or not list(out.glob("*.zip"))
    # the engine never really went away here: remove what the cut connection left, as the
    # error's tip says
    for name in set(ours(engine)) - before:
        assert name in errors[0]
        engine.api.remove_container(name, force=True, v=True)


def test_two_builders_writing_the_same_output_leave_one_complete_artifact(
    tmp_path: Path, engine: Engine, images: dict[tuple[str, str], str]
) -> None:
    out = tmp_path / "dist"
    env = {**os.environ, **host_env()}
    image = images[("3.11", "x86_64")]
    builders = [
        subprocess.Popen(_command(out, image, "--force", *extra), env=env, stderr=subprocess.PIPE)
        for extra in ((), ("--bytecode", "checked-hash"))
    ]
    errors = [b.communicate(timeout=180)[1].decode() for b in builders]
    codes = [b.returncode for b in builders]
    # the first to finish keeps the output; the other says it lost, and replaces nothing
    assert sorted(codes) == [0, 5], errors
    winner, loser = (errors[0], errors[1]) if codes[0] == 0 else (errors[1], errors[0])
    assert "another build wrote" in loser
    assert f"sha256 {_complete_pair(out)}" in winner  # what the winner printed is on disk
    assert sorted(p.name for p in out.iterdir()) == [
        "layer-python3.11-x86_64.cdx.json",
        "layer-python3.11-x86_64.manifest.json",
        "layer-python3.11-x86_64.zip",
    ]
