"""Runs INSIDE the build container, under the runtime's own interpreter: install the requirements
where Lambda will find them, compile them to bytecode, then run the probe and keep its facts.
Standard library only.

    python3 install.py '<json plan>'
    python3 install.py --keep-alive      # a warm container's command: lives while touched

The plan, the paths and the exit codes are lambdazip_contract's (InsidePlan, Exit), shared with
the host.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING:
    from lambdazip.inside import lambdazip_bytecode, lambdazip_io, lambdazip_slim, lambdazip_zip
    from lambdazip.inside import lambdazip_contract as contract
    from lambdazip.inside import lambdazip_results as results
else:
    sys.path.append(HERE)  # the contract and the zip writer are beside this script
    import lambdazip_bytecode
    import lambdazip_contract as contract
    import lambdazip_io
    import lambdazip_results as results
    import lambdazip_slim
    import lambdazip_zip

    sys.path.remove(HERE)

Plan = contract.InsidePlan
UV_REQUIREMENTS = os.path.join(HERE, "uv-requirements.txt")


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


def uv_binary(plan: Plan) -> str | None:
    """uv, installed by the image's pip from the pinned, hash-locked uv-requirements.txt."""
    with open(UV_REQUIREMENTS) as fh:
        pin = next(line.split()[0] for line in fh if line.startswith("uv=="))
    home = os.path.join(plan.cache or contract.INSIDE_DIR, "tools", pin.replace("==", "-"))
    binary = os.path.join(home, "bin", "uv")
    if not os.path.exists(binary):
        # installed beside, then renamed into place: parallel builds sharing the cache volume
        # (two jobs of one target) never see, or write into, a half-installed uv
        staged = f"{home}.{lambdazip_io.unique()}"
        command = pip_command(plan, staged)
        command += ["--require-hashes", "--no-deps", "-r", UV_REQUIREMENTS]
        if lambdazip_io.run(command) != 0:
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
    return lambdazip_io.run(command)


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
    question += [sys.version, "uv" if uv else "pip", str(results.RESULT_SCHEMA)]
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
        result = results.WheelsResult({n: results.Wheel(**w) for n, w in wheels.items()})
        with open(answer, "w") as fh:
            fh.write(results.dump(result))
        if kept is not None and wheels:
            lambdazip_io.keep_whole(answer, kept)

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
    result = results.PackResult(
        packed=results.Packed(**asdict(packed)),
        producer=lambdazip_zip.producer(),
        dropped=tuple((path, reason) for path, reason in dropped),
    )
    with open(os.path.join(contract.OUT_DIR, contract.PACKED), "w") as fh:
        fh.write(results.dump(result))
    return contract.Exit.OK


def keep_alive() -> int:
    """A warm container's life: until no build touched WARM_HEARTBEAT for WARM_IDLE seconds."""
    with open(contract.WARM_HEARTBEAT, "a"):
        pass
    while True:
        try:
            idle = time.time() - os.stat(contract.WARM_HEARTBEAT).st_mtime
        except OSError:
            return 0
        if idle > contract.WARM_IDLE:
            return 0
        time.sleep(min(5.0, contract.WARM_IDLE - idle + 0.1))


def beat() -> threading.Event:
    """Keep a warm container alive (keep_alive) while this build runs, however long it takes;
    set the event to stop."""
    stop = threading.Event()

    def touch() -> None:
        with open(contract.WARM_HEARTBEAT, "a"):  # (made here if keep_alive has not yet)
            pass
        os.utime(contract.WARM_HEARTBEAT)

    def go_on() -> None:
        while not stop.wait(contract.WARM_IDLE / 10):
            try:
                touch()
            except OSError:
                return

    touch()
    threading.Thread(target=go_on, daemon=True).start()
    return stop


def empty(*directories: str) -> None:
    """A warm container's directories emptied (each may be a tmpfs mount: kept itself)."""
    for directory in directories:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--keep-alive"]:
        return keep_alive()
    try:
        plan = Plan.from_json(argv[0])
    except (IndexError, ValueError, TypeError) as exc:
        print(f"install.py: not a plan of this contract: {exc}", file=sys.stderr)
        return contract.Exit.BAD_PLAN
    if plan.warm:  # what the last build in this container left for the host to take
        beat()
        empty(contract.OUT_DIR)
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
            removals, code = lambdazip_slim.slim(plan)
            if code != contract.Exit.OK:
                return code
            slimmed = results.SlimResult(tuple(removals))
            with open(os.path.join(contract.OUT_DIR, contract.SLIMMED), "w") as fh:
                fh.write(results.dump(slimmed))
            timings["slim"] = time.perf_counter() - started
    # what Lambda never sees goes first, so the probe sees the tree that is packed; the probe
    # runs beside the compiling and the packing (it only reads, and skips __pycache__, where
    # each .pyc appears whole, by a rename): it waits for neither, nor they for it
    dropped = (
        drop_installer_leftovers(contract.install_root(plan.kind), plan.keep) if plan.pack else []
    )
    started = time.perf_counter()
    probing = start_probe(plan)
    code = contract.Exit.OK
    try:
        if plan.bytecode:  # (with nothing to install too: the function's own code)
            compiling = time.perf_counter()
            if lambdazip_bytecode.compile_bytecode(plan, plan.bytecode):
                print("warning: some files did not compile; they stay source-only", flush=True)
            timings["compile (beside the probe)"] = time.perf_counter() - compiling
        if plan.pack:
            packing = time.perf_counter()
            code = pack(plan, dropped)
            timings["pack (beside the probe)"] = time.perf_counter() - packing
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
        fh.write(results.dump(results.InstallResult(installer, timings)))
    if plan.warm:  # the next build in this container starts as in a new one
        empty(contract.install_root(plan.kind), contract.IN_DIR, "/tmp")  # noqa: S108
    return contract.Exit.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
