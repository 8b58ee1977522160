"""Runs INSIDE the build container, under the runtime's own interpreter: install the requirements
where Lambda will find them, compile them to bytecode, then run the probe and keep its facts.
Standard library only.

    python3 install.py '<json plan>'

The plan, the paths and the exit codes are lambdazip_contract's (InsidePlan, Exit), shared with
the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING:
    from lambdazip.inside import lambdazip_contract as contract
    from lambdazip.inside import lambdazip_zip
else:
    sys.path.append(HERE)  # the contract and the zip writer are beside this script
    import lambdazip_contract as contract
    import lambdazip_zip

    sys.path.remove(HERE)

Plan = contract.InsidePlan
UV_REQUIREMENTS = os.path.join(HERE, "uv-requirements.txt")


def run(command: list[str], **kwargs: Any) -> int:
    print("+ " + " ".join(command), flush=True)
    return subprocess.call(command, stdin=subprocess.DEVNULL, **kwargs)


def pip_command(plan: Plan, target: str, platforms: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--target", target]
    for tag in platforms:  # the runtime's tags, not the ones this image's libc would allow
        command += ["--platform", tag]
    command += ["--no-compile", "--only-binary=:all:", "--no-input", "--disable-pip-version-check"]
    command += ["--progress-bar", "off", "--no-warn-script-location"]
    if plan.cache:
        command += ["--cache-dir", os.path.join(plan.cache, "pip")]
    else:
        command.append("--no-cache-dir")
    return command


def unique() -> str:
    """A name no other build writes at the same time: builds sharing the cache volume run in
    their own containers, where each install.py may have the same process ID."""
    import secrets

    return secrets.token_hex(8)


def keep_whole(source: str, kept: str) -> None:
    """Copy ``source`` to ``kept`` in the cache volume: written beside, then renamed into place,
    so that parallel builds sharing the volume only ever read a whole file (one of them wins)."""
    os.makedirs(os.path.dirname(kept), exist_ok=True)
    staged = f"{kept}.{unique()}"
    try:
        shutil.copyfile(source, staged)
        os.replace(staged, kept)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)


def uv_binary(plan: Plan) -> str | None:
    """uv, installed by the image's pip from the pinned, hash-locked uv-requirements.txt."""
    with open(UV_REQUIREMENTS) as fh:
        pin = next(line.split()[0] for line in fh if line.startswith("uv=="))
    home = os.path.join(plan.cache or contract.INSIDE_DIR, "tools", pin.replace("==", "-"))
    binary = os.path.join(home, "bin", "uv")
    if not os.path.exists(binary):
        # installed beside, then renamed into place: parallel builds sharing the cache volume
        # (two jobs of one target) never see, or write into, a half-installed uv
        staged = f"{home}.{unique()}"
        command = pip_command(plan, staged)
        command += ["--require-hashes", "--no-deps", "-r", UV_REQUIREMENTS]
        if run(command) != 0:
            shutil.rmtree(staged, ignore_errors=True)
            return None
        try:
            os.rename(staged, home)
        except OSError:  # another build put it there first: use that one
            shutil.rmtree(staged, ignore_errors=True)
    return binary


def uv_command(plan: Plan, uv: str) -> list[str]:
    target = contract.install_root(plan.kind)
    command = [uv, "pip", "install", "--python", sys.executable, "--target", target]
    command += ["--only-binary", ":all:", "--link-mode", "copy", "--no-progress"]
    if plan.uv_platform:  # the runtime's glibc ceiling, not this image's
        command += ["--python-platform", plan.uv_platform]
    if plan.cache:
        command += ["--cache-dir", os.path.join(plan.cache, "uv")]
    else:
        command.append("--no-cache")
    return command


def installer_version(uv: str | None) -> str:
    if uv is not None:  # the pinned version, installed by hash: no need to start it (under
        # emulation, starting a program costs about a second)
        pin = os.path.basename(os.path.dirname(os.path.dirname(uv)))  # tools/uv-X.Y.Z/bin/uv
        return pin.replace("-", " ", 1) if pin.startswith("uv-") else "uv (unknown version)"
    try:
        from importlib.metadata import version

        return "pip " + version("pip")
    except Exception:
        return "pip (unknown version)"


REPORT = os.path.join(contract.INSIDE_DIR, "pip-report.json")


def install(plan: Plan, uv: str | None) -> int:
    target = contract.install_root(plan.kind)
    os.makedirs(target, exist_ok=True)
    command = uv_command(plan, uv) if uv else pip_command(plan, target, plan.platforms)
    if plan.report and not uv:
        command += ["--report", REPORT]  # pip's own account of the files it installed
    if plan.require_hashes:
        command.append("--require-hashes")
    command += ["-r", plan.requirements]
    if uv and plan.cache and plan.require_hashes and _from_cache(command):
        return 0
    return run(command)


def _from_cache(command: list[str]) -> bool:
    """Install hash-locked ``command`` with uv from its cache alone, without asking the index
    again (a third of a warm install): every file is pinned by hash, so the index could offer no
    other. uv resolves and fetches everything before it installs anything, so a cache miss fails
    before the target is touched; then (False) the install goes online. Its output is shown only
    if it succeeded."""
    offline = [*command, "--offline"]
    done = subprocess.run(offline, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        return False
    print("+ " + " ".join(offline), flush=True)
    sys.stdout.buffer.write(done.stdout + done.stderr)
    sys.stdout.flush()
    return True


def report_wheels(plan: Plan, uv: str | None) -> Callable[[], None]:
    """OUT_DIR/WHEELS: the file each distribution was installed from and its sha256, from pip's
    installation report (PEP-style JSON, pip 22.2+). After uv, pip is asked the same question in
    a dry run (no download: the index gives each file's hash) with uv's platform ceiling; it runs
    beside the compile, probe and pack, and the function returned waits for it. A fact or
    nothing: without it the SBOM names no wheel hash. The answer depends on the requirements
    (hash-pinned files, which never change) and the platform alone: it is kept in the cache volume,
    so only the first build of a requirements file asks pip (seconds; more under emulation)."""
    import hashlib

    with open(plan.requirements, "rb") as fh:
        question = [fh.read().decode("utf-8", "replace"), list(plan.platforms), plan.uv_platform]
    question += [sys.version, "uv" if uv else "pip", str(contract.RESULT_SCHEMA)]
    key = hashlib.sha256(json.dumps(question).encode()).hexdigest()
    kept = os.path.join(plan.cache, "reports", key + ".json") if plan.cache else None
    answer = os.path.join(contract.OUT_DIR, contract.WHEELS)
    if kept is not None and os.path.isfile(kept):
        shutil.copyfile(kept, answer)
        return lambda: None
    dry_run = None
    if uv is not None:
        scratch = os.path.join(contract.INSIDE_DIR, "report-target")
        platforms = plan.platforms
        if plan.uv_platform:  # the tags uv saw: its ceiling and below
            ceiling = plan.uv_platform.split("-", 1)[1]
            top = next((i for i, t in enumerate(platforms) if t.startswith(ceiling)), 0)
            platforms = platforms[top:]
        command = pip_command(plan, scratch, platforms)
        command += ["--dry-run", "--no-deps", "--ignore-installed", "--quiet", "--report", REPORT]
        if plan.require_hashes:
            command.append("--require-hashes")
        command += ["-r", plan.requirements]
        print("+ " + " ".join(command), flush=True)
        dry_run = subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def finish() -> None:
        if dry_run is not None and dry_run.wait() != 0:
            print("lambdazip: pip could not report the installed files", flush=True)
            return
        wheels = _wheels_of_report(REPORT)
        if wheels is None:
            return
        result = contract.WheelsResult({n: contract.Wheel(**w) for n, w in wheels.items()})
        with open(answer, "w") as fh:
            fh.write(contract.dump(result))
        if kept is not None and wheels:
            keep_whole(answer, kept)

    return finish


def _wheels_of_report(path: str) -> dict[str, dict[str, str]] | None:
    """{name: {filename, sha256}} of a pip installation report, or None if there is none."""
    try:
        with open(path) as fh:
            report = json.load(fh)
    except (OSError, ValueError):
        return None
    wheels: dict[str, dict[str, str]] = {}
    for item in report.get("install", []):
        info = item.get("download_info") or {}
        archive = info.get("archive_info") or {}
        digest = (archive.get("hashes") or {}).get("sha256")
        if not digest and str(archive.get("hash", "")).startswith("sha256="):
            digest = archive["hash"].split("=", 1)[1]
        url = str(info.get("url", ""))
        name = str((item.get("metadata") or {}).get("name", ""))
        if digest and url and name:
            filename = urllib.parse.unquote(url.split("#", 1)[0].rsplit("/", 1)[-1])
            wheels[re.sub(r"[-_.]+", "-", name).lower()] = {"filename": filename, "sha256": digest}
    return wheels


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


def slim(plan: Plan) -> tuple[list[contract.Removal], int]:
    """--exclude, --prune, --strip: what each removed, and its bytes. Only files of installed
    distributions (their RECORD) are touched, never the user's own code."""
    root = contract.install_root(plan.kind)
    removals: list[contract.Removal] = []
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
        removals.append(contract.Removal(dist_info, f"--exclude {name}", size))
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
            removals.append(contract.Removal(folder + "/", "--prune", size))
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
                if run([strip, "--strip-debug", "--preserve-dates", path]) != 0:
                    shutil.copy2(backup, path)  # not ELF, or not one strip can write: as it was
                    continue
                if not _loads(path):
                    # strip can break what patchelf rewrote (auditwheel's vendored libraries):
                    # the loader refuses the result, so the original stays
                    shutil.copy2(backup, path)
                    reason = "--strip left it as it was: stripped, the loader refused it"
                    removals.append(contract.Removal(relative, reason, 0))
                    continue
            finally:
                os.unlink(backup)
            saved = before - os.path.getsize(path)
            if saved > 0:
                removals.append(contract.Removal(relative, "--strip", saved))
                stripped.setdefault(owner[relative], set()).add(relative)
        for dist_info, changed in stripped.items():
            _rehash(root, dist_info, changed)
    return removals, contract.Exit.OK


def report_unreachable_indexes() -> None:
    """After a failed install: say whether the indexes the settings name can be reached at all
    (an installer told not to retry says only "no matching distribution"). A fact, not a verdict:
    the host reads this line."""
    import urllib.error
    import urllib.request

    for name in ("PIP_INDEX_URL", "UV_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        for url in os.environ.get(name, "").split():
            if not url.startswith(("http://", "https://")):
                continue
            try:
                with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - http(s) only
                    pass
            except urllib.error.HTTPError:
                pass  # it answered: reachable
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                print(f"lambdazip: cannot reach the index {url}: {reason}", flush=True)


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
                with open(pyc, "wb") as fh:
                    fh.write(cached)
                with contextlib.suppress(OSError):  # used now: the sweep below spares it
                    os.utime(kept)
                hits += 1
                continue
        misses.append((source, pyc, kept))
    failed = _compile([source for source, _pyc, _kept in misses], bytecode)
    for _source, pyc, kept in misses:
        if kept is not None and os.path.isfile(pyc):
            keep_whole(pyc, kept)
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


def start_probe(plan: Plan) -> subprocess.Popen[bytes]:
    """The probe, started: it only reads the tree, so the zip can be written meanwhile."""
    # -I: none of the image's PYTHON* settings; -B: write no bytecode into the artifact
    command = [sys.executable, "-I", "-B", os.path.join(HERE, "probe.py"), "--kind", plan.kind]
    if plan.handler:
        command += ["--handler", plan.handler]
    print("+ " + " ".join(command), flush=True)
    with open(os.path.join(contract.OUT_DIR, contract.PROBE_FACTS), "wb") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, cwd="/")


def drop_installer_leftovers(root: str, keep: tuple[str, ...]) -> list[list[str]]:
    """What installers leave that Lambda never uses: uv's (empty) lock file, and console scripts
    in bin/ (neither /opt/python/bin nor /var/task/bin is on Lambda's PATH). Files of the user's
    own code (``keep``) stay. Returns [path, reason] pairs."""
    dropped: list[list[str]] = []
    lock = os.path.join(root, ".lock")
    if ".lock" not in keep and os.path.isfile(lock) and os.path.getsize(lock) == 0:
        os.unlink(lock)
        dropped.append([".lock", "the installer's lock file"])
    scripts = os.path.join(root, "bin")
    if os.path.isdir(scripts) and not os.path.islink(scripts):
        for name in sorted(os.listdir(scripts)):
            path = os.path.join(scripts, name)
            if f"bin/{name}" in keep or os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as fh:
                shebang = fh.read(2) == b"#!"
            if shebang:
                os.unlink(path)
                dropped.append([f"bin/{name}", "a console script: not on Lambda's PATH"])
        if not os.listdir(scripts):
            os.rmdir(scripts)
    return dropped


def pack(plan: Plan, dropped: list[list[str]]) -> int:
    """The zip, made here by this image's interpreter and zlib: its bytes depend on the inputs and
    the image alone. Beside it, what made it and what was left out."""
    root = contract.install_root(plan.kind)
    prefix = "python" if plan.kind == "layer" else ""
    artifact = os.path.join(contract.OUT_DIR, contract.ARTIFACT)
    try:
        packed = lambdazip_zip.write(artifact, lambdazip_zip.collect(root, prefix), plan.epoch)
    except (lambdazip_zip.NotPackable, OSError) as exc:
        print(f"lambdazip: cannot pack {root}: {exc}", flush=True)
        return contract.Exit.PACK_FAILED
    result = contract.PackResult(
        packed=contract.Packed(**asdict(packed)),
        producer=lambdazip_zip.producer(),
        dropped=tuple((path, reason) for path, reason in dropped),
    )
    with open(os.path.join(contract.OUT_DIR, contract.PACKED), "w") as fh:
        fh.write(contract.dump(result))
    return contract.Exit.OK


def main(argv: list[str]) -> int:
    try:
        plan = Plan.from_json(argv[0])
    except (IndexError, ValueError, TypeError) as exc:
        print(f"install.py: not a plan of this contract: {exc}", file=sys.stderr)
        return contract.Exit.BAD_PLAN
    os.makedirs(contract.OUT_DIR, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if plan.sources:
        root = contract.install_root(plan.kind)
        try:
            shutil.copytree(plan.sources, root, dirs_exist_ok=True)
        except OSError as exc:  # shutil.Error too: each file's error, said in one line
            print(f"lambdazip: cannot copy your code into {root}: {exc}", flush=True)
            return contract.Exit.SOURCES_FAILED
        timings["code"] = time.perf_counter() - started
        started = time.perf_counter()
    uv = None
    installer = "none (nothing installed)"
    finish_report: Callable[[], None] = lambda: None  # noqa: E731
    if plan.install:
        if plan.installer == "uv":
            uv = uv_binary(plan)
            if uv is None:
                report_unreachable_indexes()
                return contract.Exit.INSTALLER_UNAVAILABLE
            timings["uv"] = time.perf_counter() - started
        installer = installer_version(uv)
        started = time.perf_counter()
        if install(plan, uv) != 0:
            report_unreachable_indexes()
            return contract.Exit.INSTALL_FAILED
        timings["install"] = time.perf_counter() - started
        if plan.report:
            finish_report = report_wheels(plan, uv)  # beside what follows
        if plan.exclude or plan.prune or plan.strip:
            started = time.perf_counter()
            removals, code = slim(plan)
            if code != contract.Exit.OK:
                return code
            slimmed = contract.SlimResult(tuple(removals))
            with open(os.path.join(contract.OUT_DIR, contract.SLIMMED), "w") as fh:
                fh.write(contract.dump(slimmed))
            timings["slim"] = time.perf_counter() - started
        if plan.bytecode:
            started = time.perf_counter()
            if compile_bytecode(plan, plan.bytecode):
                print("warning: some files did not compile; they stay source-only", flush=True)
            timings["compile"] = time.perf_counter() - started
    # what Lambda never sees goes first, so the probe sees the tree that is packed; the probe
    # runs beside the packing (it only reads): one waits for the other, not both in turn
    dropped = (
        drop_installer_leftovers(contract.install_root(plan.kind), plan.keep) if plan.pack else []
    )
    started = time.perf_counter()
    probing = start_probe(plan)
    code = contract.Exit.OK
    try:
        if plan.pack:
            code = pack(plan, dropped)
            timings["pack (beside the probe)"] = time.perf_counter() - started
    finally:
        probed = probing.wait()
    timings["probe"] = time.perf_counter() - started
    if probed != 0:
        return contract.Exit.PROBE_FAILED
    if code != contract.Exit.OK:
        return code
    started = time.perf_counter()
    finish_report()
    timings["report (the rest)"] = time.perf_counter() - started
    with open(os.path.join(contract.OUT_DIR, contract.INSTALLED), "w") as fh:
        fh.write(contract.dump(contract.InstallResult(installer, timings)))
    return contract.Exit.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
