"""`image` against the documented recipe, measured in ONE run on one machine; prints ratios, each
figure the median of --runs with its spread (min-max).

    python bench/image.py --base-image IMG [--python 3.11] [--arch x86_64] [--runs 3]

The recipe (AWS's "Deploy Python Lambda functions with container images", as users copy it),
built with `docker build` through the engine's API, its build cache warm:

    FROM IMG
    COPY requirements.txt ${LAMBDA_TASK_ROOT}
    RUN pip install -r requirements.txt --target "${LAMBDA_TASK_ROOT}"
    COPY app.py ${LAMBDA_TASK_ROOT}
    CMD ["app.handler"]

Ours: `build.py image` of the same requirements and code on the same base, its download cache
warm. Each sample is a change neither has seen (a pin of `six` moves to another version; a line is
added to app.py), so no result of an earlier sample can be reused by either.
  (a) no-op: nothing changed (ours: the image up to date; the recipe: every step cached)
  (b) after a requirements change
  (c) after a code-only change
Not a test: nothing here asserts; the targets are printed beside the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parent.parent
PINS = "annotated-types==0.8.0\npydantic==2.14.3\npydantic-core==2.50.4\n"
PINS += "typing-extensions==4.16.0\ntyping-inspection==0.4.5\n"
SIX = ["1.17.0", "1.16.0", "1.15.0", "1.14.0", "1.13.0", "1.12.0", "1.11.0", "1.10.0", "1.9.0"]
RECIPE = """\
FROM {base}
COPY ca.pem /etc/lambdazip-bench-ca.pem
ENV PIP_CERT=/etc/lambdazip-bench-ca.pem REQUESTS_CA_BUNDLE=/etc/lambdazip-bench-ca.pem
COPY requirements.txt ${{LAMBDA_TASK_ROOT}}
RUN /var/lang/bin/python3 -m pip install -q -r requirements.txt --target "${{LAMBDA_TASK_ROOT}}"
COPY src/app.py ${{LAMBDA_TASK_ROOT}}
CMD ["app.handler"]
"""
OURS_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
NONCE = secrets.token_hex(8)


def ca_bundle() -> Path | None:
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(name) and Path(os.environ[name]).is_file():
            return Path(os.environ[name])
    return None


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def spread(times: list[float]) -> str:
    return f"{min(times):.2f}-{max(times):.2f} s"


class Project:
    """The function's requirements and code, changed between samples, in one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = iter(SIX)
        self.edits = 0
        (root / "src").mkdir()
        shutil.copy(REPO / "examples" / "orders" / "app.py", root / "src" / "app.py")
        bundle = ca_bundle()  # the recipe's pip needs the proxy's CA here; ours passes it itself
        (root / "ca.pem").write_bytes(bundle.read_bytes() if bundle else b"")
        self.change_requirements()

    def change_requirements(self) -> None:
        # and a line of this run's own: an engine's build cache may hold that pin from a run before
        pins = PINS + f"six=={next(self.versions)}\n# {NONCE}\n"
        (self.root / "requirements.txt").write_text(pins)

    def change_code(self) -> None:
        self.edits += 1
        with (self.root / "src" / "app.py").open("a") as fh:
            fh.write(f"# edit {self.edits}\n")


def recipe(client: docker.DockerClient, project: Project, base: str) -> None:
    (project.root / "Dockerfile").write_text(RECIPE.format(base=base))
    client.images.build(path=str(project.root), tag="lambdazip-bench-recipe:latest", rm=True)


def ours(project: Project, base: str, python: str, arch: str, out: Path) -> None:
    command = [sys.executable, str(REPO / "build.py"), "image", "--python", python]
    command += ["--arch", arch, "-r", str(project.root / "requirements.txt"), "--allow-unhashed"]
    command += [
        "--src",
        str(project.root / "src"),
        "--handler",
        "app.handler",
        "--base-image",
        base,
    ]
    command += ["--tag", "lambdazip-bench-ours:latest", "-o", str(out), "-q"]
    env = {**OURS_ENV, "LAMBDAZIP_CACHE_DIR": str(out / "cache")}  # this run's: nothing earlier
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", required=True)
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--arch", default="x86_64")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = max(1, min(args.runs, (len(SIX) - 2) // 2))
    client = docker.from_env()
    scratch = Path(tempfile.mkdtemp(prefix="lambdazip-bench-image-"))
    ours_dir, recipe_dir, out = scratch / "ours", scratch / "recipe", scratch / "out"
    ours_dir.mkdir()
    recipe_dir.mkdir()
    mine, theirs = Project(ours_dir), Project(recipe_dir)

    def build_ours() -> None:
        ours(mine, args.base_image, args.python, args.arch, out)

    def build_recipe() -> None:
        recipe(client, theirs, args.base_image)

    print(
        f"runs: {runs} (medians, spread min-max); python{args.python} {args.arch}; base "
        f"{args.base_image}; host {os.uname().machine}; {os.cpu_count()} cores\n"
    )
    print(
        "| measurement | ours | the recipe (docker build) | ratio | target |\n|---|---|---|---|---|"
    )
    before = {i.id for i in client.images.list(all=True)}
    build_ours()  # warm-up: the build image, the download cache, the base's layers
    build_recipe()  # the engine's build cache

    def row(label: str, a: list[float], b: list[float], target: str, ok: bool) -> None:
        ratio = statistics.median(a) / statistics.median(b)
        print(
            f"| {label} | {statistics.median(a):.2f} s ({spread(a)}) | "
            f"{statistics.median(b):.2f} s ({spread(b)}) | {ratio:.2f}x | "
            f"{target}: {'met' if ok else 'NOT met'} |"
        )

    noop_ours = [timed(build_ours) for _ in range(max(runs, 9))]
    noop_recipe = [timed(build_recipe) for _ in range(max(runs, 9))]
    row("(a) no-op", noop_ours, noop_recipe, "ours <= 0.2 s", statistics.median(noop_ours) <= 0.2)

    requirements_ours, requirements_recipe = [], []
    for _ in range(runs):
        mine.change_requirements()
        theirs.change_requirements()
        requirements_ours.append(timed(build_ours))
        requirements_recipe.append(timed(build_recipe))
    ratio = statistics.median(requirements_ours) / statistics.median(requirements_recipe)
    row("(b) a requirements change", requirements_ours, requirements_recipe, "<= 0.5x",
        ratio <= 0.5)  # fmt: skip

    code_ours, code_recipe = [], []
    for _ in range(runs):
        mine.change_code()
        theirs.change_code()
        code_ours.append(timed(build_ours))
        code_recipe.append(timed(build_recipe))
    ratio = statistics.median(code_ours) / statistics.median(code_recipe)
    row("(c) a code-only change", code_ours, code_recipe, "<= 0.5x", ratio <= 0.5)

    # what the samples made (each change, both ways, a new image) and nothing else
    for image in {i.id for i in client.images.list(all=True)} - before:
        with contextlib.suppress(docker.errors.APIError):  # gone with another already
            if not any(t.startswith("lambdazip-build:") for t in client.images.get(image).tags):
                client.images.remove(image, force=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
