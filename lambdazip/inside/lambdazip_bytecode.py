"""Runs INSIDE the build container (imported by install.py): the runtime's interpreter compiles the
tree to PEP 552 hash-based bytecode, taking what an earlier build kept in the cache volume for an
unchanged source (its header checked), and sweeps what no build took for a month. Standard library
only."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING:
    from lambdazip.inside import lambdazip_contract as contract
    from lambdazip.inside import lambdazip_io
else:
    sys.path.append(HERE)  # the contract and lambdazip_io are beside this script
    import lambdazip_contract as contract
    import lambdazip_io

    sys.path.remove(HERE)

Plan = contract.InsidePlan


def compile_bytecode(plan: Plan, bytecode: str) -> int:
    """PEP 552 hash-based pycs by the runtime's own compiler (its magic number), one process per
    core, with a fixed hash seed so that set and frozenset constants marshal the same every time.

    With a cache volume, each pyc is also kept there, named by what determines its bytes: this
    interpreter (its full version string and magic number), the invalidation mode, and the
    source's bytes and path (the path is in the code objects). A later build takes a kept pyc
    instead of compiling the same source again (under emulation the compiler is most of a warm
    build), after checking its header names this interpreter, this mode and this source's hash:
    the same bytes the compiler would write, or the source is compiled. Returns non-zero if some
    source did not compile (it stays source-only)."""
    import hashlib
    from importlib.util import MAGIC_NUMBER, cache_from_source, source_hash

    flags = (0b11 if bytecode == "checked-hash" else 0b01).to_bytes(4, "little")
    interpreter = json.dumps([sys.version, MAGIC_NUMBER.hex(), bytecode, sys.flags.optimize])
    stores = os.path.join(plan.cache, "bytecode") if plan.cache else None  # every interpreter's
    store = None
    if stores is not None:
        name = hashlib.sha256(interpreter.encode()).hexdigest()[:16]
        store = os.path.join(stores, f"{sys.implementation.cache_tag}-{name}")
    misses: list[tuple[str, str, str | None]] = []  # source, its pyc, where to keep it
    hits = 0
    for source in _sources(contract.install_root(plan.kind)):
        pyc = cache_from_source(source)
        kept = None
        if store is not None:
            with open(source, "rb") as fh:
                data = fh.read()
            key = hashlib.sha256(os.fsencode(source) + b"\0" + data).hexdigest()
            kept = os.path.join(store, key[:2], key[2:] + ".pyc")
            try:
                with open(kept, "rb") as fh:
                    cached = fh.read()
            except OSError:
                cached = b""
            if cached[:16] == MAGIC_NUMBER + flags + source_hash(data):
                os.makedirs(os.path.dirname(pyc), exist_ok=True)
                lambdazip_io.write_whole(pyc, cached)  # (the probe may be importing it)
                with contextlib.suppress(OSError):  # used now: the sweep below spares it
                    os.utime(kept)
                hits += 1
                continue
        misses.append((source, pyc, kept))
    failed = _compile([source for source, _pyc, _kept in misses], bytecode)
    for _source, pyc, kept in misses:
        if kept is not None and os.path.isfile(pyc):
            lambdazip_io.keep_whole(pyc, kept)
    if stores is not None:
        print(f"lambdazip: bytecode: {hits} kept, {len(misses)} compiled", flush=True)
        removed = sweep(stores, time.time())
        if removed:
            print(
                f"lambdazip: bytecode: {removed} kept pycs no build took for "
                f"{UNUSED_DAYS} days removed",
                flush=True,
            )
    return failed


UNUSED_DAYS = 30  # a kept pyc that no build has taken for this long is removed
SWEEP_EVERY = 24 * 3600  # seconds: the store is swept at most this often


def sweep(store: str, now: float) -> int:
    """Remove the files of the kept-pyc store that no build has used for UNUSED_DAYS (a build
    that takes a kept pyc sets its time to now; a new one is written now), at most once every
    SWEEP_EVERY: the time of the store's ``.swept`` marker says when it last was. Returns how many
    files went. Safe beside other builds: a pyc removed under one is compiled again by it."""
    marker = os.path.join(store, ".swept")
    with contextlib.suppress(FileNotFoundError):
        if now - os.stat(marker).st_mtime < SWEEP_EVERY:
            return 0
    os.makedirs(store, exist_ok=True)
    with open(marker, "a"):  # claimed first: a build starting meanwhile does not sweep too
        pass
    os.utime(marker, (now, now))
    cutoff = now - UNUSED_DAYS * 24 * 3600
    removed = 0
    for directory, _dirs, files in os.walk(store):
        for name in files:
            path = os.path.join(directory, name)
            with contextlib.suppress(FileNotFoundError):  # another build's sweep was first
                if path != marker and os.stat(path).st_mtime < cutoff:
                    os.unlink(path)  # also a staged copy a killed build left
                    removed += 1
    return removed


def _sources(root: str) -> list[str]:
    """The .py files compileall would compile below ``root``: no __pycache__, no linked
    directories."""
    found: list[str] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs if d != "__pycache__" and not os.path.islink(os.path.join(directory, d))
        )
        for name in sorted(files):
            path = os.path.join(directory, name)
            if name.endswith(".py") and os.path.isfile(path):
                found.append(path)
    return found


# what ``compileall -q`` does to each file it is given, for a NUL-separated list of any names
COMPILE_LISTED = (
    "import compileall, os, py_compile, sys\n"
    "mode = py_compile.PycInvalidationMode[sys.argv[2]]\n"
    "with open(sys.argv[1], 'rb') as fh:\n"
    "    names = [os.fsdecode(n) for n in fh.read().split(b'\\0') if n]\n"
    "ok = [compileall.compile_file(n, quiet=1, invalidation_mode=mode) for n in names]\n"
    "sys.exit(0 if all(ok) else 1)\n"
)


def _compile(sources: list[str], bytecode: str) -> int:
    """``sources`` compiled as compileall compiles them, one process per core (or fewer for a
    few files); non-zero if some did not compile."""
    if not sources:
        return 0
    jobs = min(os.cpu_count() or 1, max(1, len(sources) // 50))
    mode = bytecode.replace("-", "_").upper()  # PycInvalidationMode's member
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    print(
        f"+ compileall --invalidation-mode {bytecode}: {len(sources)} files, {jobs} at once",
        flush=True,
    )
    running = []
    for job in range(jobs):
        listing = os.path.join(contract.INSIDE_DIR, f"compile-{job}.list")
        with open(listing, "wb") as fh:
            fh.write(b"\0".join(os.fsencode(s) for s in sources[job::jobs]))
        command = [sys.executable, "-c", COMPILE_LISTED, listing, mode]
        running.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env))
    return sum(1 for process in running if process.wait() != 0)
