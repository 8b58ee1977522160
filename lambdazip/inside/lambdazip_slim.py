"""Runs INSIDE the build container (imported by install.py): --exclude, --prune and --strip, on the
files of installed distributions (their RECORD) alone, never the user's own code; each removal
with its bytes, as results.Removal. Standard library only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING:
    from lambdazip.inside import lambdazip_contract as contract
    from lambdazip.inside import lambdazip_io
    from lambdazip.inside import lambdazip_results as results
else:
    sys.path.append(HERE)  # the contract and lambdazip_io are beside this script
    import lambdazip_contract as contract
    import lambdazip_io
    import lambdazip_results as results

    sys.path.remove(HERE)

Plan = contract.InsidePlan


PRUNED = ("tests", "test", "docs", "doc", "examples", "example")
KEPT = (".pyi", "py.typed")  # type stubs: what the diagnostic and type checkers read


def _records(root: str) -> dict[str, str]:
    """{dist-info directory: canonical distribution name} in ``root``."""
    found = {}
    for name in sorted(os.listdir(root)):
        if name.endswith(".dist-info") and os.path.isfile(os.path.join(root, name, "RECORD")):
            dist = name[: -len(".dist-info")].rsplit("-", 1)[0]
            found[name] = re.sub(r"[-_.]+", "-", dist).lower()
    return found


def _record_paths(root: str, dist_info: str) -> list[str]:
    import csv

    with open(os.path.join(root, dist_info, "RECORD"), newline="") as fh:
        return [row[0] for row in csv.reader(fh) if row and not row[0].startswith("..")]


def _forget(root: str, dist_info: str, removed: set[str]) -> None:
    """RECORD lists no removed file: what stays is what importlib.metadata finds."""
    import csv

    path = os.path.join(root, dist_info, "RECORD")
    with open(path, newline="") as fh:
        rows = [row for row in csv.reader(fh) if row and row[0] not in removed]
    with open(path, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _loads(path: str) -> bool:
    """Whether the dynamic loader takes ``path`` (dlopen in a fresh interpreter, with everything
    it needs resolved): a stripped file must still load."""
    check = "import ctypes, sys; ctypes.CDLL(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-I", "-c", check, path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return done.returncode == 0


def _rehash(root: str, dist_info: str, changed: set[str]) -> None:
    """RECORD's sha256 and size of each file ``changed`` (stripped), as the file now is."""
    import base64
    import csv
    import hashlib

    path = os.path.join(root, dist_info, "RECORD")
    with open(path, newline="") as fh:
        rows = [row for row in csv.reader(fh) if row]
    for row in rows:
        if row[0] in changed and len(row) >= 3:
            with open(os.path.join(root, row[0]), "rb") as fh:
                data = fh.read()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            row[1], row[2] = "sha256=" + digest.decode(), str(len(data))
    with open(path, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _remove(root: str, relative: str) -> int:
    path = os.path.join(root, relative)
    if os.path.islink(path) or not os.path.isfile(path):
        return 0
    size = os.path.getsize(path)
    os.unlink(path)
    parent = os.path.dirname(path)
    while parent != root and os.path.isdir(parent) and not os.listdir(parent):
        os.rmdir(parent)
        parent = os.path.dirname(parent)
    return size


def slim(plan: Plan) -> tuple[list[results.Removal], int]:
    """--exclude, --prune, --strip: what each removed, and its bytes. Only files of installed
    distributions (their RECORD) are touched, never the user's own code."""
    root = contract.install_root(plan.kind)
    removals: list[results.Removal] = []
    records = _records(root)
    for dist_info, name in records.items():
        if name not in plan.exclude:
            continue
        paths = _record_paths(root, dist_info)
        size = sum(_remove(root, p) for p in paths if not p.startswith(dist_info + "/"))
        metadata = os.path.join(root, dist_info)
        for dirpath, _dirs, files in os.walk(metadata):  # licenses/ and what RECORD omits
            size += sum(os.lstat(os.path.join(dirpath, f)).st_size for f in files)
        shutil.rmtree(metadata, ignore_errors=True)
        removals.append(results.Removal(dist_info, f"--exclude {name}", size))
    for dist_info in sorted(set(records) & set(os.listdir(root))):
        if not plan.prune:
            break
        pruned: dict[str, int] = {}
        removed: set[str] = set()
        for path in _record_paths(root, dist_info):
            parts = path.split("/")
            folders = [i for i, part in enumerate(parts[1:-1], 1) if part in PRUNED]
            if not folders or path.endswith(KEPT) or path.startswith(dist_info + "/"):
                continue
            folder = "/".join(parts[: folders[0] + 1])
            size = _remove(root, path)
            if size or not os.path.exists(os.path.join(root, path)):
                removed.add(path)
                pruned[folder] = pruned.get(folder, 0) + size
        for folder, size in sorted(pruned.items()):
            removals.append(results.Removal(folder + "/", "--prune", size))
        if removed:
            _forget(root, dist_info, removed)
    if plan.strip:
        strip = shutil.which("strip")
        if strip is None:
            print("lambdazip: --strip: this image has no `strip` (binutils)", flush=True)
            return removals, contract.Exit.NO_STRIP
        owner = {
            p: dist_info
            for dist_info in sorted(set(records) & set(os.listdir(root)))
            for p in _record_paths(root, dist_info)
        }
        stripped: dict[str, set[str]] = {}
        for relative in sorted(owner):  # shared objects of distributions, not the user's code
            path = os.path.join(root, relative)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if not re.search(r"\.so(\.\d+)*$", relative):
                continue
            before = os.path.getsize(path)
            backup = path + ".lambdazip-unstripped"
            shutil.copy2(path, backup)
            try:
                if lambdazip_io.run([strip, "--strip-debug", "--preserve-dates", path]) != 0:
                    shutil.copy2(backup, path)  # not ELF, or not one strip can write: as it was
                    continue
                if not _loads(path):
                    # strip can break what patchelf rewrote (auditwheel's vendored libraries):
                    # the loader refuses the result, so the original stays
                    shutil.copy2(backup, path)
                    reason = "--strip left it as it was: stripped, the loader refused it"
                    removals.append(results.Removal(relative, reason, 0))
                    continue
            finally:
                os.unlink(backup)
            saved = before - os.path.getsize(path)
            if saved > 0:
                removals.append(results.Removal(relative, "--strip", saved))
                stripped.setdefault(owner[relative], set()).add(relative)
        for dist_info, changed in stripped.items():
            _rehash(root, dist_info, changed)
    return removals, contract.Exit.OK
