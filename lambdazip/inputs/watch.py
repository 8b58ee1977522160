"""What `build --watch` watches: every file of the project directory (pyproject.toml, locks and
requirements files, the functions' code, dotenv files, smoke events) but the output directory and
the directories of tools (version control, virtual environments, caches), and every input the
file declares outside it (a `src`, a lock, a dotenv file or an event in `../`). Polled (the
standard library only, the same on Linux, macOS and Windows), at most every POLL seconds and never
more than a third of the time: a large project is looked at less often, not at the cost of a
core.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

POLL = 0.05  # seconds between two looks, at least
SETTLE = 0.05  # a change is built once the files stayed unchanged this long (an editor's writes)
SKIPPED = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".aws-sam", "cdk.out", ".terraform",
     ".serverless", ".idea", ".vscode"}
)  # fmt: skip

Snapshot = dict[str, tuple[int, int]]  # {path: (mtime in ns, size)}


def snapshot(project: Path, output_dir: Path | None = None) -> Snapshot:
    """Each watched file's modification time and size."""
    declared = _declared(project, output_dir)
    # the project once, also when a root outside contains it (a `src = ".."`)
    skipped = {declared.output_dir, project.resolve()}
    seen: Snapshot = {}
    for root in watched(project, output_dir):
        if not root.is_dir():  # a file (or nothing yet: its appearing is a change)
            _stat_into(seen, root)
            continue
        for top, directories, files in os.walk(root):
            here = Path(top)
            directories[:] = [
                d for d in directories if d not in SKIPPED and (here / d).resolve() not in skipped
            ]
            for name in files:
                _stat_into(seen, here / name)
    return seen


def watched(project: Path, output_dir: Path | None = None) -> tuple[Path, ...]:
    """The places walked: the project directory, then each declared input outside it that is
    not inside another (a directory, or a file)."""
    return (project, *_declared(project, output_dir).outside)


def _stat_into(seen: Snapshot, path: Path) -> None:
    try:
        stat = path.stat()
    except OSError:  # gone meanwhile, or not there
        return
    seen[str(path)] = (stat.st_mtime_ns, stat.st_size)


def changed(project: Path, output_dir: Path | None, seen: Snapshot) -> Snapshot:
    """Wait until a watched file is added, removed or changed, and has settled; the new state."""
    pause = POLL
    while True:
        time.sleep(pause)
        started = time.monotonic()
        now = snapshot(project, output_dir)
        pause = max(POLL, 2 * (time.monotonic() - started))
        if now == seen:
            continue
        while True:  # the rest of an editor's (or a checkout's) writes
            time.sleep(SETTLE)
            later = snapshot(project, output_dir)
            if later == now:
                return now
            now = later


def differences(before: Snapshot, after: Snapshot, project: Path) -> str:
    """What changed, for the user: the first file (relative to the project) and how many more."""
    paths = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if not paths:
        return "nothing"
    first = Path(paths[0])
    with contextlib.suppress(ValueError):  # (another drive, on Windows: named as it is)
        first = Path(os.path.relpath(first, project))
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return f"{first.as_posix()}{more}"


@dataclass(frozen=True)
class _Declared:
    output_dir: Path  # resolved: its builds' writes are no change
    outside: tuple[Path, ...]  # declared inputs outside the project directory


def _declared(project: Path, output_dir: Path | None) -> _Declared:
    """What the project's file declares that watching needs: the output directory (-o's, else the
    file's) and the inputs outside the project; read again only when pyproject.toml changed."""
    pyproject = project / "pyproject.toml"
    try:
        stat = pyproject.stat()
        key = (str(pyproject), str(output_dir), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (str(pyproject), str(output_dir), 0, 0)
    if key not in _DECLARED:
        _DECLARED.clear()
        _DECLARED[key] = _read_declared(project, output_dir)
    return _DECLARED[key]


def _read_declared(project: Path, output_dir: Path | None) -> _Declared:
    try:
        from lambdazip.inputs.config import load_config

        config = load_config(project)
    except Exception:  # noqa: BLE001 - a broken file is the build's to say; dist/ meanwhile
        return _Declared((output_dir or project / "dist").resolve(), ())
    specs = [*config.layers.values(), *config.functions.values()]
    inputs = [spec.file(project) for spec in specs]
    for function in config.functions.values():
        named = (function.src, function.env_file, function.smoke_event)
        inputs += [project / name for name in named if name]
    inside = project.resolve()
    outside = {p for p in inputs if p is not None and not p.resolve().is_relative_to(inside)}
    found = output_dir if output_dir is not None else project / config.output_dir
    return _Declared(found.resolve(), tuple(sorted(_outermost(outside))))


def _outermost(paths: set[Path]) -> set[Path]:
    """The paths not under another of them, one for each place (a directory and a file in it:
    the directory, walked once; two names of one directory, by a symlink: one of them)."""
    by_place = {p.resolve(): p for p in sorted(paths, reverse=True)}  # (the first name kept)
    return {
        path
        for place, path in by_place.items()
        if not any(other != place and place.is_relative_to(other) for other in by_place)
    }


_DECLARED: dict[tuple[str, str, int, int], _Declared] = {}
