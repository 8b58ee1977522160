"""Runs INSIDE the build container, under the runtime's own interpreter: install the requirements
where Lambda will find them, compile them to bytecode, then run the probe and keep its facts.
Standard library only.

    python3 install.py '<json plan>'

The plan (made by the host, see builder.py) says:
  kind            "layer" (into /opt/python) or "function" (into /var/task, beside its code)
  install         false only probes what the host put in place
  requirements    the requirements file; require_hashes: whether pip/uv must check hashes
  installer       "pip" (the image's own) or "uv" (pinned, hash-verified, installed by that pip)
  cache           a directory that outlives the container (a named volume), or null
  bytecode        "checked-hash", "unchecked-hash" or null: PEP 552 pycs, valid whatever the
                  files' dates, so the read-only /opt and /var/task never recompile
Exit codes: 0 done, 10 the installer failed (its own message is on stderr), 11 the probe failed,
12 uv could not be installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = "/lambdazip/out"
UV_REQUIREMENTS = os.path.join(HERE, "uv-requirements.txt")


def run(command: list[str], **kwargs: Any) -> int:
    print("+ " + " ".join(command), flush=True)
    return subprocess.call(command, stdin=subprocess.DEVNULL, **kwargs)


def target_dir(plan: dict[str, Any]) -> str:
    return "/opt/python" if plan["kind"] == "layer" else "/var/task"


def pip_command(plan: dict[str, Any]) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--target", target_dir(plan)]
    command += ["--no-compile", "--only-binary=:all:", "--no-input", "--disable-pip-version-check"]
    command += ["--progress-bar", "off", "--no-warn-script-location"]
    if plan["cache"]:
        command += ["--cache-dir", os.path.join(plan["cache"], "pip")]
    else:
        command.append("--no-cache-dir")
    return command


def uv_binary(plan: dict[str, Any]) -> str | None:
    """uv, installed by the image's pip from the pinned, hash-locked uv-requirements.txt."""
    with open(UV_REQUIREMENTS) as fh:
        pin = next(line.split()[0] for line in fh if line.startswith("uv=="))
    home = os.path.join(plan["cache"] or "/lambdazip", "tools", pin.replace("==", "-"))
    binary = os.path.join(home, "bin", "uv")
    if not os.path.exists(binary):
        command = pip_command({**plan, "kind": "tool"})
        command[command.index("--target") + 1] = home
        command += ["--require-hashes", "--no-deps", "-r", UV_REQUIREMENTS]
        if run(command) != 0:
            return None
    return binary


def uv_command(plan: dict[str, Any], uv: str) -> list[str]:
    command = [uv, "pip", "install", "--python", sys.executable, "--target", target_dir(plan)]
    command += ["--only-binary", ":all:", "--link-mode", "copy", "--no-progress"]
    if plan["cache"]:
        command += ["--cache-dir", os.path.join(plan["cache"], "uv")]
    else:
        command.append("--no-cache")
    return command


def installer_version(plan: dict[str, Any], uv: str | None) -> str:
    if uv is not None:
        out = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
        return out.stdout.strip() or "uv (unknown version)"
    try:
        from importlib.metadata import version

        return "pip " + version("pip")
    except Exception:
        return "pip (unknown version)"


def install(plan: dict[str, Any], uv: str | None) -> int:
    os.makedirs(target_dir(plan), exist_ok=True)
    command = uv_command(plan, uv) if uv else pip_command(plan)
    if plan["require_hashes"]:
        command.append("--require-hashes")
    command += ["-r", plan["requirements"]]
    return run(command)


def compile_bytecode(plan: dict[str, Any]) -> int:
    """PEP 552 hash-based pycs by the runtime's own compiler (its magic number), one process per
    core, with a fixed hash seed so that set and frozenset constants marshal the same every time."""
    command = [sys.executable, "-m", "compileall", "-q", "-j", "0"]
    command += ["--invalidation-mode", plan["bytecode"], target_dir(plan)]
    return run(command, env={**os.environ, "PYTHONHASHSEED": "0"})


def probe(plan: dict[str, Any]) -> int:
    # -I: none of the image's PYTHON* settings; -B: write no bytecode into the artifact
    command = [sys.executable, "-I", "-B", os.path.join(HERE, "probe.py"), "--kind", plan["kind"]]
    with open(os.path.join(OUT, "probe.json"), "wb") as out:
        return run(command, stdout=out, cwd="/")


def main(argv: list[str]) -> int:
    plan = json.loads(argv[0])
    os.makedirs(OUT, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    uv = None
    if plan.get("install", True):
        if plan.get("installer") == "uv":
            uv = uv_binary(plan)
            if uv is None:
                return 12
            timings["uv"] = time.perf_counter() - started
        with open(os.path.join(OUT, "installer.txt"), "w") as fh:
            fh.write(installer_version(plan, uv))
        started = time.perf_counter()
        if install(plan, uv) != 0:
            return 10
        timings["install"] = time.perf_counter() - started
        if plan.get("bytecode"):
            started = time.perf_counter()
            if compile_bytecode(plan) != 0:
                print("warning: some files did not compile; they stay source-only", flush=True)
            timings["compile"] = time.perf_counter() - started
    started = time.perf_counter()
    if probe(plan) != 0:
        return 11
    timings["probe"] = time.perf_counter() - started
    with open(os.path.join(OUT, "timings.json"), "w") as fh:
        json.dump(timings, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
