"""Runs INSIDE the build container, under the runtime's own interpreter: install the requirements
where Lambda will find them, then run the probe and keep its facts. Standard library only.

    python3 install.py '<json plan>'

The plan names the kind (layer: into /opt/python; function: into /var/task, beside the code the
host put there), the requirements file, whether hashes are required, and whether to install at all
(``install: false`` only probes, e.g. a layer the host put at /opt). Exit codes: 0 done, 10 the
installer failed (its own message is on stderr), 11 the probe failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = "/lambdazip/out"


def install(plan: dict[str, Any]) -> int:
    target = "/opt/python" if plan["kind"] == "layer" else "/var/task"
    os.makedirs(target, exist_ok=True)
    command = [sys.executable, "-m", "pip", "install", "--target", target, "--no-compile"]
    command += ["--only-binary=:all:", "--no-input", "--disable-pip-version-check"]
    command += ["--progress-bar", "off", "--no-warn-script-location", "--no-cache-dir"]
    if plan["require_hashes"]:
        command.append("--require-hashes")
    command += ["-r", plan["requirements"]]
    print("+ " + " ".join(command), flush=True)
    return subprocess.call(command, stdin=subprocess.DEVNULL)


def probe(plan: dict[str, Any]) -> int:
    # -I: none of the image's PYTHON* settings; -B: write no bytecode into the artifact
    command = [sys.executable, "-I", "-B", os.path.join(HERE, "probe.py"), "--kind", plan["kind"]]
    print("+ " + " ".join(command), flush=True)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "probe.json"), "wb") as out:
        return subprocess.call(command, stdout=out, stdin=subprocess.DEVNULL, cwd="/")


def pip_version() -> str:
    try:
        from importlib.metadata import version

        return "pip " + version("pip")
    except Exception:
        return "pip (unknown version)"


def main(argv: list[str]) -> int:
    plan = json.loads(argv[0])
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "installer.txt"), "w") as fh:
        fh.write(pip_version())
    if plan.get("install", True) and install(plan) != 0:
        return 10
    if probe(plan) != 0:
        return 11
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
