"""The corpus (tests/corpus.py): for every combination of a real package's wheel, a runtime and a
layout, `check`'s static verdict against what really happens: every top-level module imported in
the stand-in of that runtime, as Lambda's non-root user (uid 993), with Lambda's sys.path, from a
tree that user cannot write. Where the stand-in's glibc is newer than the runtime's, the truth
for glibc is the runtime's ceiling against the wheel's manylinux tag. Any disagreement fails the
test, which prints the whole table."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from lambdazip.build.engine import RUN_LABEL, Engine
from lambdazip.inside import lambdazip_contract
from lambdazip.judge.checks import check_artifact
from lambdazip.judge.facts import gather
from lambdazip.judge.findings import Severity
from lambdazip.judge.tree import open_tree
from lambdazip.targets import RUNTIMES, Arch, Kind, Target
from tests import corpus, wheels
from tests.conftest import RUN

pytestmark = [pytest.mark.integration, pytest.mark.network]

# runs in the stand-in, as root, standard library only: each combination's imports in a child
# process of Lambda's user, with Lambda's sys.path (the contract's) and its working directory
RUNNER = r"""
import json, os, subprocess, sys
sys.path.insert(0, "/corpus")
import lambdazip_contract as contract
plan = json.load(open("/corpus/plan.json"))
version = "%d.%d" % sys.version_info[:2]
here = [p for p in sys.path[1:]]
CODE = '''
import importlib, json, sys
sys.path[:] = {path!r}
failed = {{}}
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = type(exc).__name__ + ": " + str(exc)[:300]
print(json.dumps(failed))
'''
results = {}
for cid, modules in plan.items():
    task = "/corpus/" + cid
    path = contract.lambda_path(version, here, task_root=task, opt="/nonexistent-opt")
    code = CODE.format(path=path, modules=modules)
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", code], capture_output=True, text=True, user=993,
            group=990, cwd=task, timeout=120, env={"PATH": os.environ.get("PATH", ""),
            "LANG": "C.UTF-8"},
        )
        results[cid] = json.loads(done.stdout.strip().splitlines()[-1])
    except Exception as exc:
        results[cid] = {"*": type(exc).__name__ + ": " + str(exc)[:300]}
print("CORPUS " + json.dumps(results))
"""


def _tar(combos: list[corpus.Combination], zips: dict[str, Path]) -> bytes:
    """/corpus: the runner, the contract, the plan, and each combination's tree (owned by root,
    readable by all, writable by none but root)."""
    buffer = io.BytesIO()
    plan = {c.id: corpus.top_level_modules(c.wheels[0]) for c in combos}
    files = {
        "corpus/run.py": RUNNER.encode(),
        "corpus/lambdazip_contract.py": Path(lambdazip_contract.__file__).read_bytes(),
        "corpus/plan.json": json.dumps(plan).encode(),
    }
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directories: set[str] = set()

        def add(name: str, data: bytes, mode: int) -> None:
            parts = name.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in directories:
                    directories.add(folder)
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for name, data in files.items():
            add(name, data, 0o644)
        for combo in combos:
            with zipfile.ZipFile(zips[combo.id]) as archive:
                for member in archive.infolist():
                    if not member.is_dir():
                        add(f"corpus/{combo.id}/{member.filename}", archive.read(member), 0o644)
    return buffer.getvalue()


def _truth(engine: Engine, image: str, combos: list[corpus.Combination], zips: dict[str, Path]):  # type: ignore[no-untyped-def]
    container = engine.client.containers.create(
        image,
        ["/var/lang/bin/python3", "/corpus/run.py"],
        entrypoint=[],
        user="0",
        labels={RUN_LABEL: RUN},
    )
    try:
        container.put_archive("/", _tar(combos, zips))
        container.start()
        status = container.wait(timeout=1800)
        logs = container.logs().decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    line = next((x for x in logs.splitlines() if x.startswith("CORPUS ")), None)
    assert line is not None, (status, logs[-3000:])
    result: dict[str, dict[str, str]] = json.loads(line.removeprefix("CORPUS "))
    return result


@pytest.mark.parametrize(
    ("runtime", "arch"),
    [
        pytest.param(r, a, marks=[pytest.mark.slow] if (r, a) == ("3.13", "arm64") else [])
        for r, a in corpus.TARGETS
    ],
)
def test_the_static_verdict_meets_a_real_import(
    runtime: str,
    arch: str,
    engine: Engine,
    images: dict[tuple[str, str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = Target(RUNTIMES[runtime], Arch(arch))
    combos = [c for c in corpus.combinations() if (c.runtime, c.arch) == (runtime, arch)]
    assert len(combos) >= 60  # every package in every layout it publishes wheels for

    zips = {c.id: wheels.pack(tmp_path / f"{c.id}.zip", c.wheels, prefix="") for c in combos}
    imported = _truth(engine, images[(runtime, arch)], combos, zips)
    rows, disagreements = [], []
    for combo in combos:
        with open_tree(zips[combo.id]) as tree:
            findings = check_artifact(gather(tree), target, Kind.FUNCTION)
        errors = sorted({f.code for f in findings if f.severity is Severity.ERROR})
        failed = imported[combo.id]
        if corpus.glibc_ceiling_exceeded(combo.wheels[0], target.runtime.glibc[1]):
            failed = {**failed, "(glibc)": f"the wheel needs more than {target.runtime.glibc_text}"}
        agree = bool(errors) == bool(failed)
        verdict = ", ".join(errors) or "ok"
        truth = "; ".join(f"{m}: {e}" for m, e in sorted(failed.items()))[:150] or "imports"
        rows.append(f"{'  ' if agree else '!!'} {combo.id:<46} {verdict:<36} {truth}")
        if not agree:
            disagreements.append(combo.id)
    table = "\n".join(rows)
    with capsys.disabled():
        print(f"\n{len(combos)} combinations on {target}, {len(disagreements)} disagreement(s)")
    assert disagreements == [], f"check and a real import disagree:\n{table}"
