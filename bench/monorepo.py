"""A monorepo past one machine: 20 functions on 3 layers (x86_64), built as a team's CI builds it,
measured in ONE run; prints each figure (the median of --runs, with its spread) and its ratio to
the cold build of the same run.

    python bench/monorepo.py --base-image IMG [--python 3.11] [--runs 3] [--functions 20]

The shared cache is a real registry on loopback (Debian's docker-registry, as the tests run it).
Each build is `build.py build` in a process of its own (the CLI as a user runs it).
  cold     the whole project into an empty output directory, no shared cache (the engine keeps
           its build image and download cache: each ratio is a median over cold's median);
           every build but the last two with an empty user cache directory, as a new runner
  hit      a fresh engine (no build image, no download cache volume) and an empty output
           directory, with the shared cache warm: every set taken; containers counted from the
           engine's events (target: 0, and <= 0.1x cold)
  shards   4 shards one after another, each into an empty output directory of its own, sharing
           one registry repository that starts empty (target: each <= 0.35x cold)
  no-op    the whole project again, nothing changed (target: <= 0.5 s)
  code     one function's code changed, its dependencies not (target: <= 0.5 s): a new
           `build --only it` process, and under `build --watch` of the whole project (from the
           save to the zip in place, and from the watcher's noticing: it looks every 0.05 s)
Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lambdazip.build.engine import LABEL, Engine  # noqa: E402
from tests.registry import running_registry  # noqa: E402
from tests.test_shared_cache import _empty_the_engine  # noqa: E402

APP = """from {module} import BaseModel


class Order(BaseModel):
    id: int


def handler(event, context):
    return Order.model_validate(event).model_dump()  # {name}
"""
PLAIN = """def handler(event, context):
    return {{"ok": True, "name": "{name}"}}
"""


def requirement_lines(*names: str) -> str:
    """The hash-locked lines of requirements.txt for ``names`` (with their --hash lines)."""
    text = (REPO / "requirements.txt").read_text()
    blocks = re.split(r"\n(?=[a-z])", text)
    return "".join(b.strip() + "\n" for b in blocks if b.split("==")[0].strip() in names)


def make_project(root: Path, functions: int, python: str) -> Path:
    """3 layers (pydantic; typing tools; annotated-types) and ``functions`` functions on them."""
    root.mkdir(parents=True)
    (root / "pydantic.txt").write_text((REPO / "requirements.txt").read_text())
    (root / "typing.txt").write_text(requirement_lines("typing-extensions", "typing-inspection"))
    (root / "annotated.txt").write_text(requirement_lines("annotated-types"))
    (root / "none.txt").write_text("# a function's own requirements: none\n")
    layers = {"pydantic": "pydantic.txt", "typing": "typing.txt", "annotated": "annotated.txt"}
    text = '[project]\nname = "mono"\nversion = "1"\n\n[tool.lambdazip]\n'
    text += f'python = ["{python}"]\narch = ["x86_64"]\n'
    for name, file in layers.items():
        text += f'\n[tool.lambdazip.layers.{name}]\nrequirements = "{file}"\n'
    names = list(layers)
    for i in range(functions):
        name, layer = f"fn{i:02d}", names[i % 3]
        src = root / "functions" / name
        src.mkdir(parents=True)
        code = APP if layer == "pydantic" else PLAIN
        (src / "app.py").write_text(code.format(module="pydantic", name=name))
        text += (
            f'\n[tool.lambdazip.functions.{name}]\nsrc = "functions/{name}"\n'
            f'handler = "app.handler"\nlayers = ["{layer}"]\nrequirements = "none.txt"\n'
        )
    (root / "pyproject.toml").write_text(text)
    return root


def build(
    project: Path, out: Path, base: str, python: str, *extra: str, fresh: bool = True
) -> float:
    """One `build` of the project into ``out``; ``fresh``: with a user cache directory of its
    own (LAMBDAZIP_CACHE_DIR), as a new CI runner has: no verdict kept from an earlier run."""
    command = [sys.executable, str(REPO / "build.py"), "build", "--project", str(project)]
    command += ["-o", str(out), "--base-image", f"{python}/x86_64={base}", "-q", *extra]
    # as users run it: Python keeps the tool's bytecode (this machine's shell sets
    # PYTHONDONTWRITEBYTECODE, which would compile every module of the tool again each run)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if fresh:
        env["LAMBDAZIP_CACHE_DIR"] = tempfile.mkdtemp(prefix="user-cache-", dir=out.parent)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return took


def watched_edits(
    project: Path, out: Path, base: str, python: str, app: Path, edits: int
) -> tuple[list[float], list[float]]:
    """`build --watch` of the whole project: the seconds from each edit of ``app`` to its build's
    "ok:" line (the zips in place), and from its "changed:" line (the change noticed)."""
    import queue
    import signal
    import threading

    command = [sys.executable, str(REPO / "build.py"), "build", "--project", str(project)]
    command += ["-o", str(out), "--base-image", f"{python}/x86_64={base}", "--watch"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    watching = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        assert watching.stderr is not None
        for line in watching.stderr:
            lines.put((time.perf_counter(), line))

    threading.Thread(target=read, daemon=True).start()

    def until(words: str) -> float:
        while True:
            at, line = lines.get(timeout=300)
            if words in line:
                return at
            if line.startswith("error:"):
                raise SystemExit(f"build --watch failed: {line}")

    saved, noticed = [], []
    try:
        until("watching")
        for i in range(edits):
            time.sleep(0.5)
            app.write_text(app.read_text() + f"# watched edit {i}\n")
            written = time.perf_counter()
            seen = until("changed:")
            done = until("ok:")
            saved.append(done - written)
            noticed.append(done - seen)
            until("watching")
    finally:
        watching.send_signal(signal.SIGINT)
        watching.wait(timeout=60)
    return saved, noticed


def containers(engine: Engine, since: float) -> int:
    events = engine.api.events(
        since=int(since), until=int(time.time()) + 1, decode=True,
        filters={"type": "container", "event": "create", "label": LABEL},
    )  # fmt: skip
    return sum(1 for _ in events)


def median(times: list[float]) -> str:
    return f"{statistics.median(times):.2f} s ({min(times):.2f}-{max(times):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", required=True)
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--functions", type=int, default=20)
    args = parser.parse_args()
    base, python, runs = args.base_image, args.python, args.runs
    scratch = Path(tempfile.mkdtemp(prefix="lambdazip-bench-monorepo-"))
    project = make_project(scratch / "mono", args.functions, python)
    artifacts = args.functions + 3
    engine = Engine.connect({})
    rows: list[tuple[str, str, str]] = []
    with running_registry(scratch / "registry") as host:
        build(project, scratch / "warm-up", base, python)  # the build image, the downloads
        cold = [build(project, scratch / f"cold{i}", base, python) for i in range(runs)]
        cold_median = statistics.median(cold)  # every ratio: median over median
        rows.append((f"cold: {artifacts} artifacts, no shared cache", median(cold), "1.00x"))

        cache = f"{host}/bench/warm"
        build(project, scratch / "push", base, python, "--cache-to", cache, "--force")
        hit, created = [], []
        for i in range(runs):
            _empty_the_engine(engine, base, python)
            since = time.time()
            hit.append(build(project, scratch / f"hit{i}", base, python, "--cache-from", cache))
            created.append(containers(engine, since))
        ratio = f"{statistics.median(hit) / cold_median:.2f}x"
        rows.append(
            (f"fresh engine, warm shared cache ({max(created)} containers)", median(hit),
             f"{ratio} (target <= 0.1x, 0 containers)")
        )  # fmt: skip

        build(project, scratch / "warm-up-again", base, python)  # the engine warm again
        shard_times: list[list[float]] = [[] for _ in range(4)]
        for i in range(runs):
            cache = f"{host}/bench/shards{i}"  # empty: the first shard builds its layers
            for index in range(1, 5):
                out = scratch / f"shards{i}-{index}"
                took = build(project, out, base, python, "--cache", cache, "--shard", f"{index}/4")
                shard_times[index - 1].append(took)
        for index, times in enumerate(shard_times, 1):
            made = len(list((scratch / f"shards0-{index}").glob("*.zip")))
            ratio = f"{statistics.median(times) / cold_median:.2f}x (target <= 0.35x)"
            rows.append((f"shard {index}/4 ({made} zips, run after shards 1..{index - 1})",
                         median(times), ratio))  # fmt: skip

        out = scratch / "cold0"
        build(project, out, base, python, fresh=False)  # this machine's verdicts kept
        noop = [build(project, out, base, python, fresh=False) for _ in range(max(runs, 5))]
        rows.append(("no-op of the whole project", median(noop), "target <= 0.5 s"))

        code = []
        app = project / "functions" / "fn00" / "app.py"
        for i in range(runs):
            app.write_text(app.read_text() + f"# edit {i}\n")
            code.append(build(project, out, base, python, "--only", "fn00", fresh=False))
        rows.append(("one function's code changed (--only it)", median(code), "target <= 0.5 s"))
        saved, noticed = watched_edits(project, out, base, python, app, max(runs, 5))
        rows.append(
            ("the same, under build --watch: from the save", median(saved), "target <= 0.5 s")
        )
        rows.append(("  from the change noticed (polled every 0.05 s)", median(noticed), ""))
    import shutil

    shutil.rmtree(scratch, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"monorepo of {args.functions} functions and 3 layers, python{python} x86_64, {base}")
    for what, figure, ratio in rows:
        print(f"{what.ljust(width)}  {figure:>22}  {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
