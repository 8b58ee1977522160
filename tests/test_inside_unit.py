"""What the in-image scripts do that the host can run too (standard library only), against the
library they stand in for: compileall for the compile of a listed set of files, importlib.metadata
for the header fields the probe reads."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdazip.inside import install, lambdazip_bytecode, probe


def _tree(root: Path) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUES = {'a', 'b', 'c', frozenset({1, 2})}\n")
    (root / "pkg" / "sub" / "mod.py").write_text("def f():\n    return {'x': 1}\n")
    (root / "pkg" / "name with spaces .py").write_text("A = 1\n")
    (root / "pkg" / "new\nline.py").write_text("B = 2\n")
    (root / "pkg" / "broken.py").write_text("def (:\n")  # does not compile: stays source-only
    (root / "pkg" / "data.txt").write_text("not python\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "stale.py").write_text("C = 3\n")  # compileall skips these
    (root / "linked").symlink_to(root / "pkg" / "sub")  # compileall does not follow these


def _pycs(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.pyc"))
    }


def test_the_listed_compile_writes_what_compileall_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same files, the same bytes as `python -m compileall -j 0 --invalidation-mode ...`
    over the tree: what the cache keeps is what the runtime's compiler writes."""
    for mode in ("unchecked-hash", "checked-hash"):
        ours, theirs = tmp_path / mode / "ours", tmp_path / mode / "theirs"
        # the same path for both (it is in the code objects): built, compiled, moved aside
        work = tmp_path / "work"
        _tree(work)
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        compileall = [sys.executable, "-m", "compileall", "-q", "-j", "0"]
        subprocess.run(
            [*compileall, "--invalidation-mode", mode, str(work)],
            env=env,
            capture_output=True,
            check=False,
        )
        theirs.parent.mkdir(parents=True)
        shutil.move(work, theirs)
        _tree(work)
        # the script's own contract module (it imports it from beside itself): lists go here
        monkeypatch.setattr(vars(install)["contract"], "INSIDE_DIR", str(tmp_path))
        sources = lambdazip_bytecode._sources(str(work))
        assert str(work / "pkg" / "__pycache__" / "stale.py") not in sources
        assert not any("linked" in s for s in sources)
        assert (
            lambdazip_bytecode._compile(sources, mode) != 0
        )  # broken.py: said, and the rest compiled
        shutil.move(work, ours)
        assert _pycs(ours) == _pycs(theirs)
        assert len(_pycs(ours)) == 4  # __init__, mod, spaces, newline; not the broken one


@settings(max_examples=60, deadline=None)
@given(
    name=st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    version=st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True),
    extra=st.lists(
        st.sampled_from(
            [
                "Summary: a package",
                "Name: not-this-one",
                "Version: 0.0.0",
                "Classifier: Programming Language :: Python",
                "Description: folded\n        Name: inside-a-folded-header",
                "Requires-Dist: other>=1",
            ]
        ),
        max_size=4,
    ),
    body=st.text(max_size=200),
    crlf=st.booleans(),
)
def test_the_probe_reads_name_and_version_as_importlib_metadata_does(
    name: str, version: str, extra: list[str], body: str, crlf: bool
) -> None:
    import tempfile

    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *extra]
    text = "\n".join(lines) + "\n\n" + "Name: from-the-body\n" + body
    if crlf:
        text = text.replace("\n", "\r\n")
    with tempfile.TemporaryDirectory() as root:
        info = Path(root) / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_bytes(text.encode())
        (dist,) = list(metadata.distributions(path=[root]))
        said = probe.headers(dist)
        assert said.get("Name") == dist.metadata["Name"]
        assert said.get("Version") == dist.metadata["Version"]


DAY = 24 * 3600


def _aged(path: Path, days: float, now: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"pyc")
    os.utime(path, (now - days * DAY, now - days * DAY))
    return path


def test_the_sweep_removes_what_no_build_took_for_30_days_at_most_once_a_day(
    tmp_path: Path,
) -> None:
    now = 2_000_000_000.0
    store = tmp_path / "bytecode"
    stale = _aged(store / "cpython-313-aa" / "ab" / "cdef.pyc", 31, now)
    staged = _aged(store / "cpython-313-aa" / "ab" / "cdef.pyc.0123abcd", 45, now)  # a killed copy
    other = _aged(store / "cpython-312-bb" / "01" / "2345.pyc", 400, now)  # an older interpreter's
    used = _aged(store / "cpython-313-aa" / "ab" / "used.pyc", 28.5, now)
    assert lambdazip_bytecode.sweep(str(store), now) == 3
    assert not stale.exists()
    assert not staged.exists()
    assert not other.exists()
    assert used.exists()
    assert (store / ".swept").stat().st_mtime == now

    later = _aged(store / "cpython-313-aa" / "cd" / "old.pyc", 60, now)
    assert lambdazip_bytecode.sweep(str(store), now + DAY - 1) == 0  # swept less than a day ago
    assert later.exists()
    assert lambdazip_bytecode.sweep(str(store), now + DAY) == 1
    assert not later.exists()
    assert used.exists()  # 29.5 days unused by then


def test_the_sweep_of_a_store_not_yet_made_makes_its_marker(tmp_path: Path) -> None:
    assert lambdazip_bytecode.sweep(str(tmp_path / "bytecode"), 2_000_000_000.0) == 0
    assert (tmp_path / "bytecode" / ".swept").is_file()


def test_a_warm_build_empties_what_a_build_left_but_the_directories(tmp_path: Path) -> None:
    """Between two builds in a warm container (install.py's plan.warm): the install root (maybe a
    tmpfs mount: kept itself), what the host put in, /tmp; links removed, not followed."""
    root, kept = tmp_path / "task", tmp_path / "outside"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__pycache__" / "m.cpython-313.pyc").write_bytes(b"x")
    (root / "app.py").write_text("x")
    kept.mkdir()
    (kept / "keep.txt").write_text("mine")
    (root / "link").symlink_to(kept, target_is_directory=True)
    install.empty(str(root), str(tmp_path / "absent"))
    assert root.is_dir()
    assert list(root.iterdir()) == []
    assert (kept / "keep.txt").read_text() == "mine"


def test_a_warm_container_lives_while_builds_touch_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keep_alive (a warm container's command) ends once no build touched the heartbeat for
    WARM_IDLE seconds; beat() (each build) makes it if need be and touches it meanwhile."""
    import threading
    import time

    heartbeat = tmp_path / "warm"
    contract = vars(install)["contract"]  # (the image's import of it, beside install.py)
    monkeypatch.setattr(contract, "WARM_HEARTBEAT", str(heartbeat))
    monkeypatch.setattr(contract, "WARM_IDLE", 1)
    beating = install.beat()  # before keep_alive made the file: made here
    assert heartbeat.is_file()
    alive = threading.Thread(target=install.keep_alive, daemon=True)
    alive.start()
    alive.join(timeout=2.5)
    assert alive.is_alive()  # a long build: touched every WARM_IDLE / 10 seconds
    beating.set()
    started = time.monotonic()
    alive.join(timeout=10)
    assert not alive.is_alive()
    assert 0.5 < time.monotonic() - started < 3
