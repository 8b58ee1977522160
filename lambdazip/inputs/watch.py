"""What `build --watch` watches: every file of the project directory (pyproject.toml, locks and
requirements files, the functions' code, dotenv files, smoke events) but the output directory and
the directories of tools (version control, virtual environments, caches); files outside it (a
`src` or lock in `../`) are not watched. Polled (the standard library only, the same on Linux,
macOS and Windows), at most every POLL seconds and never more than a third of the time: a large
project is looked at less often, not at the cost of a core.
"""

from __future__ import annotations

import contextlib
import os
import time
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
    skipped = {_output_dir(project, output_dir)}
    seen: Snapshot = {}
    for top, directories, files in os.walk(project):
        here = Path(top)
        directories[:] = [
            d for d in directories if d not in SKIPPED and (here / d).resolve() not in skipped
        ]
        for name in files:
            try:
                stat = (here / name).stat()
            except OSError:  # gone meanwhile
                continue
            seen[str(here / name)] = (stat.st_mtime_ns, stat.st_size)
    return seen


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
    with contextlib.suppress(ValueError):
        first = first.relative_to(project)
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return f"{first.as_posix()}{more}"


def _output_dir(project: Path, output_dir: Path | None) -> Path:
    """The output directory (its builds' writes are no change): -o's, else the file's (read
    again only when pyproject.toml changed)."""
    if output_dir is not None:
        return output_dir.resolve()
    pyproject = project / "pyproject.toml"
    try:
        stat = pyproject.stat()
        key = (str(pyproject), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (str(pyproject), 0, 0)
    if key not in _OUTPUT_DIRS:
        try:
            from lambdazip.inputs.config import load_config

            found = project / load_config(project).output_dir
        except Exception:  # noqa: BLE001 - a broken file is the build's to say; dist/ meanwhile
            found = project / "dist"
        _OUTPUT_DIRS.clear()
        _OUTPUT_DIRS[key] = found.resolve()
    return _OUTPUT_DIRS[key]


_OUTPUT_DIRS: dict[tuple[str, int, int], Path] = {}
