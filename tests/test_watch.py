"""`lambdazip build --watch`: the inner loop. After a change of a function's code, only what the
change touches is built again, in the function's warm container (no new container), into the
same bytes as a full build; a failed build is said and waited out; Ctrl-C leaves nothing."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lambdazip.build.engine import Engine
from lambdazip.cli import main
from lambdazip.outputs.archive import sha256_file
from tests.conftest import containers_created, host_env
from tests.projects import uv_project

REPO = Path(__file__).resolve().parent.parent
TOOL = """
[tool.lambdazip]
python = ["3.11"]
arch = ["x86_64"]

[tool.lambdazip.layers.deps]

[tool.lambdazip.functions.api]
src = "src"
handler = "orders.app.handler"
layers = ["deps"]
extra = ["fast"]

[tool.lambdazip.functions.worker]
src = "src"
handler = "orders.app.handler"
layers = ["deps"]
"""


class Watching:
    """`build.py build --watch` in a process of its own, its output read line by line."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, **host_env()}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "build.py"), "build", "--watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout as stream:
            for line in stream:
                self.lines.put(line)

    def until(self, words: str, timeout: float = 300) -> list[str]:
        """The lines up to the first that holds ``words``."""
        ended = time.monotonic() + timeout
        said: list[str] = []
        while time.monotonic() < ended:
            try:
                line = self.lines.get(timeout=1).rstrip()
            except queue.Empty:
                assert self.process.poll() is None, "\n".join(self.seen)
                continue
            said.append(line)
            self.seen.append(line)
            if words in line:
                return said
        raise AssertionError(f"{words!r} not said in {timeout} s:\n" + "\n".join(self.seen))

    def stop(self) -> int:
        """Ctrl-C; the exit code, once the rest of the output is read."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get().rstrip())
        return code


@pytest.mark.integration
@pytest.mark.network
def test_a_code_change_is_built_in_the_warm_container_into_a_full_build_s_bytes(
    tmp_path: Path, images: dict[tuple[str, str], str], engine: Engine
) -> None:
    project = uv_project(tmp_path / "orders")
    with (project / "pyproject.toml").open("a") as fh:
        fh.write(TOOL)
    image = f"3.11/x86_64={images['3.11', 'x86_64']}"
    watching = Watching("--project", str(project), "--base-image", image)
    try:
        said = watching.until("watching")
        assert any("ok: 3 artifacts" in line for line in said), said
        # the code changes: both functions (one with dependencies of its own) are built again,
        # in the warm containers the first builds left: no new container
        app = project / "src" / "orders" / "app.py"
        started = time.time()
        app.write_text(app.read_text() + "\n\nVERSION = 2\n")
        said = watching.until("watching")
        assert any("ok: 3 artifacts" in line for line in said), said
        rows = [line.split() for line in said if " function " in line or " layer " in line]
        assert sorted(r[0] for r in rows if r[3] == "built") == ["api", "worker"], said
        assert containers_created(engine, started) == 0
        # a broken change: said in one line, waited out; its fix is built
        app.write_text(app.read_text() + "\ndef broken(:\n")
        said = watching.until("watching")
        assert any("2 of 3 artifacts failed" in line for line in said), said
        app.write_text(app.read_text().replace("\ndef broken(:\n", "\n"))
        said = watching.until("watching")
        assert any("ok: 3 artifacts" in line for line in said), said
    finally:
        code = watching.stop()
    assert code == 0, watching.seen
    assert "stopped watching" in watching.seen[-1]
    # a full build of the same inputs in new containers: the same bytes
    full = tmp_path / "full"
    argv = ["build", "--project", str(project), "--base-image", image, "-o", str(full), "-q"]
    assert main(argv, env=host_env()) == 0
    for name in ("api", "worker"):
        zip_name = f"{name}-python3.11-x86_64.zip"
        assert sha256_file(project / "dist" / zip_name) == sha256_file(full / zip_name), name
    # the worker's layer holds every dependency it has: no installer ran for it, in either
    for dist in (project / "dist", full):
        manifest = json.loads((dist / "worker-python3.11-x86_64.manifest.json").read_text())
        assert manifest["installer"] == "none (nothing installed)"
        manifest = json.loads((dist / "api-python3.11-x86_64.manifest.json").read_text())
        assert manifest["installer"].startswith("uv ")


@pytest.mark.parametrize("extra", [["--list"], ["--json"]])
def test_watch_with_list_or_json_is_one_line(
    tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a"\nversion = "1"\n')
    assert main(["build", "--project", str(tmp_path), "--watch", *extra], env={}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"--watch builds: it takes no {extra[0]}; drop {extra[0]} or --watch" in err[0]


def test_the_watcher_sees_the_project_s_files_but_not_its_output_or_tools(tmp_path: Path) -> None:
    """What --watch builds again for: any file of the project (a dotenv file too), not what the
    build writes (the file's output-dir) nor the directories of version control and caches."""
    import threading

    from lambdazip.inputs.watch import changed, differences, snapshot

    (tmp_path / "pyproject.toml").write_text(
        '[tool.lambdazip]\noutput-dir = "build/zips"\n[tool.lambdazip.functions.api]\nsrc = "src"\n'
    )
    for name in ("src/app.py", ".env.api", "build/zips/a.zip", ".git/index", ".venv/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1")
    seen = snapshot(tmp_path)
    assert {Path(p).relative_to(tmp_path).as_posix() for p in seen} == {
        "pyproject.toml",
        "src/app.py",
        ".env.api",
    }
    assert snapshot(tmp_path, tmp_path / "src").keys() == {
        str(tmp_path / "pyproject.toml"),
        str(tmp_path / "build" / "zips" / "a.zip"),  # -o elsewhere: this is a file like any
        str(tmp_path / ".env.api"),
    }
    (tmp_path / "build/zips/a.zip").write_text("22")  # the build's own writes: no change
    assert snapshot(tmp_path) == seen

    def edit() -> None:
        time.sleep(0.3)
        (tmp_path / "src/app.py").write_text("2")
        (tmp_path / "src/new.py").write_text("3")

    threading.Thread(target=edit).start()
    now = changed(tmp_path, None, seen)
    assert differences(seen, now, tmp_path) == "src/app.py and 1 more"
    (tmp_path / ".env.api").unlink()
    assert differences(now, snapshot(tmp_path), tmp_path) == ".env.api"


def test_the_watcher_sees_declared_inputs_outside_the_project(tmp_path: Path) -> None:
    """A project whose file names inputs in ../ (a shared `src`, a lock, a dotenv file, an
    event): a change of each is a change; a sibling directory nothing names is not watched; a
    directory inside another declared one, or named twice (a symlink), is walked once."""
    from lambdazip.inputs.watch import differences, snapshot, watched

    project = tmp_path / "infra"
    project.mkdir()
    (project / "lib").symlink_to(tmp_path / "services" / "api")  # ../services/api by another name
    (project / "pyproject.toml").write_text(
        '[tool.lambdazip]\npython = ["3.13"]\n'
        '[tool.lambdazip.layers.deps]\nrequirements = "../locks/requirements.txt"\n'
        '[tool.lambdazip.functions.api]\nsrc = "../services/api"\nlayers = ["deps"]\n'
        'env-file = "../.env.api"\nsmoke-event = "../events/api.json"\n'
        '[tool.lambdazip.functions.jobs]\nsrc = "../services/api/jobs"\n'
        '[tool.lambdazip.functions.same]\nsrc = "lib"\n'
    )
    inputs = ["locks/requirements.txt", "services/api/app.py", "services/api/jobs/run.py",
              ".env.api", "events/api.json"]  # fmt: skip
    for name in [*inputs, "unrelated/notes.txt", "locks/other.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1")
    assert sorted(p.resolve().relative_to(tmp_path).as_posix() for p in watched(project)) == [
        ".env.api", "events/api.json", "infra", "locks/requirements.txt", "services/api",
    ]  # fmt: skip
    seen = snapshot(project)
    assert {Path(p).resolve().relative_to(tmp_path).as_posix() for p in seen} == {
        "infra/pyproject.toml",
        *inputs,
    }
    for name in inputs:
        (tmp_path / name).write_text("22")
        now = snapshot(project)
        assert differences(seen, now, project) == f"../{name}"
        seen = now


def test_a_declared_input_that_holds_the_project_walks_it_once(tmp_path: Path) -> None:
    """`src = ".."`: the project's own files are not seen twice (a change of one is one)."""
    from lambdazip.inputs.watch import differences, snapshot

    project = tmp_path / "infra"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.lambdazip.functions.api]\nsrc = ".."\n')
    (tmp_path / "app.py").write_text("1")
    seen = snapshot(project)
    assert len(seen) == 2
    (project / "pyproject.toml").write_text('[tool.lambdazip.functions.api]\nsrc = "../"\n')
    assert differences(seen, snapshot(project), project) == "pyproject.toml"


def test_warm_containers_are_kept_a_few_and_all_removed() -> None:
    """WarmContainers (a watching process's): one per key, made once; the least recently used
    removed beyond KEPT; a dropped one removed; at the end every one removed, also when removing
    one of them fails. The engine's side is engine.container's own (tested with the engine)."""
    from contextlib import contextmanager
    from types import SimpleNamespace
    from typing import Any

    from lambdazip.build.warm import KEPT, WarmContainers

    made: list[str] = []
    removed: list[str] = []

    def maker(key: str, failing: bool = False) -> Any:
        @contextmanager
        def make() -> Any:
            made.append(key)
            try:
                yield SimpleNamespace(name=key)  # (a container, to the pool)
            finally:
                removed.append(key)
                if failing:
                    raise RuntimeError(f"could not remove {key}")

        return make

    prepared: list[str] = []

    def prepare(container: Any) -> None:
        prepared.append(container.name)

    warm = WarmContainers()
    container, idle = warm.get("k0", maker("k0"), prepare)
    assert (container.name, idle) == ("k0", None)
    container, idle = warm.get("k0", maker("k0"), prepare)
    assert container.name == "k0"
    assert idle is not None
    assert 0 <= idle < 5
    for i in range(1, KEPT + 1):
        warm.get(f"k{i}", maker(f"k{i}", failing=i == 1), prepare)
    assert removed == ["k0"]  # the least recently used, beyond KEPT
    warm.drop("k2")
    assert removed == ["k0", "k2"]
    with pytest.raises(RuntimeError, match="could not remove k1"):
        warm.close()
    assert made == prepared == ["k0", *(f"k{i}" for i in range(1, KEPT + 1))]
    assert sorted(removed) == sorted(made)  # k1's failure did not keep the others
