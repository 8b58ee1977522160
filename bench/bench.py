"""Benchmarks against the naive recipe, measured in ONE run on one machine; prints ratios.

    python bench/bench.py --x86-image IMG --arm64-image IMG [--python 3.11] [--runs 3]

Baselines, run beside ours with the same images, requirements and network:
  naive    the one-liner users write: `docker run IMG pip install -t DIR -r requirements.txt`,
           then zip DIR (here through the Docker SDK with a bind mount, and shutil.make_archive)
Measured (median of --runs, wall clock):
  (a) no-op rebuild: ours with the artifact up to date vs the naive one-liner
  (b) warm x86_64 build: ours (--force: build image and download cache warm) vs naive, for each
      installer (pip, uv)
  (c) warm arm64 build, emulated on an x86_64 host: the same
  (d) cold `import pydantic` + one model validation in the runtime, from a read-only layer
      (build.py invoke, a fresh container each run): ours (unchecked-hash and checked-hash pycs)
      vs the naive layer zipped with normalised dates (its timestamp pycs are stale) vs no pycs
  (e) zipped and unzipped sizes of each layer
Not a test: nothing here asserts; the targets are printed beside the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lambdazip.archive import collect, write_zip  # noqa: E402
from lambdazip.console import Console  # noqa: E402
from lambdazip.engine import Engine  # noqa: E402
from lambdazip.runner import invoke  # noqa: E402
from lambdazip.targets import RUNTIMES, Arch, Target  # noqa: E402

REQUIREMENTS = REPO / "requirements.txt"
EVENT = (REPO / "examples/orders/event.json").read_bytes()


def ca_bundle() -> str | None:
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(name) and Path(os.environ[name]).is_file():
            return os.environ[name]
    return None


def median(function: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def ours(out: Path, image: str, arch: str, python: str, *extra: str) -> None:
    command = [sys.executable, str(REPO / "build.py"), "layer", "--arch", arch, "--python", python]
    command += ["-r", str(REQUIREMENTS), "-o", str(out), "--base-image", image, "-q", *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def naive(out: Path, image: str, platform: str, dates: tuple[int, ...] | None = None) -> Path:
    """docker run IMG pip install -t DIR -r requirements.txt; then zip DIR (as python/)."""
    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="naive-", dir=out))
    shutil.copy(REQUIREMENTS, work / "requirements.txt")
    volumes = {str(work): {"bind": "/w", "mode": "rw"}}
    environment = {}
    bundle = ca_bundle()
    if bundle:
        volumes[bundle] = {"bind": "/ca.pem", "mode": "ro"}
        environment = {"PIP_CERT": "/ca.pem", "REQUESTS_CA_BUNDLE": "/ca.pem"}
    client.containers.run(
        image,
        [
            "/var/lang/bin/python3",
            "-m",
            "pip",
            "install",
            "-q",
            "-t",
            "/w/python",
            "-r",
            "/w/requirements.txt",
        ],
        entrypoint=[],
        volumes=volumes,
        environment=environment,
        platform=platform,
        remove=True,
    )
    archive = out / f"naive-{platform.replace('/', '-')}.zip"
    if dates is None:
        shutil.make_archive(str(archive.with_suffix("")), "zip", work, "python")
    else:  # what reproducible-zip tools do: every date normalised
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted((work / "python").rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(path.relative_to(work).as_posix(), dates)  # type: ignore[arg-type]
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, path.read_bytes())
    shutil.rmtree(work, ignore_errors=True)
    return archive


def unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return sum(i.file_size for i in zf.infolist())


def row(label: str, value: str, target: str = "") -> None:
    print(f"| {label} | {value} | {target} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x86-image", required=True)
    parser.add_argument("--arm64-image", required=True)
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-arm64", action="store_true")
    parser.add_argument(
        "--cold-runs", type=int, default=9, help="samples per layer for (d): it is the noisiest"
    )
    args = parser.parse_args()
    runs, py = max(args.runs, 3), args.python
    out = Path(tempfile.mkdtemp(prefix="lambdazip-bench-"))
    quiet = Console(verbosity=-1)
    engine = Engine.connect(os.environ)
    print(
        f"runs: {runs} (medians); python{py}; host {os.uname().machine}; {os.cpu_count()} cores\n"
    )
    print("| measurement | result | target |\n|---|---|---|")

    # warm-up: build images, download caches, pip's and the engine's first-run costs
    for image, arch, platform in [(args.x86_image, "x86_64", "linux/amd64")] + (
        [] if args.skip_arm64 else [(args.arm64_image, "arm64", "linux/arm64")]
    ):
        for installer in ("pip", "uv"):
            ours(out / f"warm-{arch}-{installer}", image, arch, py, "--installer", installer)
        naive(out, image, platform)

    naive_x86, naive_x86_times = median(lambda: naive(out, args.x86_image, "linux/amd64"), runs)
    row(
        "naive one-liner, x86_64",
        f"{naive_x86:.2f} s ({', '.join(f'{t:.1f}' for t in naive_x86_times)})",
    )

    noop_dir = out / "noop"
    ours(noop_dir, args.x86_image, "x86_64", py)
    noop, _ = median(lambda: ours(noop_dir, args.x86_image, "x86_64", py), runs)
    row(
        "(a) no-op rebuild",
        f"{noop:.2f} s = {noop / naive_x86:.3f}x naive ({naive_x86 / noop:.0f}x faster)",
        "<= 0.5 s and >= 10x faster",
    )

    for installer in ("pip", "uv"):
        build = partial(ours, out / f"b-{installer}", args.x86_image, "x86_64", py)
        warm, times = median(partial(build, "--force", "--installer", installer), runs)
        row(
            f"(b) warm x86_64 build, {installer}",
            f"{warm:.2f} s = {warm / naive_x86:.2f}x naive",
            "<= 1.0x naive",
        )

    if not args.skip_arm64:
        naive_arm, times = median(lambda: naive(out, args.arm64_image, "linux/arm64"), runs)
        row(
            "naive one-liner, arm64 (emulated)",
            f"{naive_arm:.2f} s ({', '.join(f'{t:.1f}' for t in times)})",
        )
        for installer in ("pip", "uv"):
            build = partial(ours, out / f"c-{installer}", args.arm64_image, "arm64", py)
            warm, times = median(partial(build, "--force", "--installer", installer), runs)
            row(
                f"(c) warm arm64 build (emulated), {installer}",
                f"{warm:.2f} s = {warm / naive_arm:.2f}x naive",
                "<= 0.5x naive",
            )

    # (d) cold import from the read-only layer, and (e) sizes
    target = Target(RUNTIMES[py], Arch.X86_64)
    layers: dict[str, Path] = {}
    for mode in ("unchecked-hash", "checked-hash"):
        ours(out / mode, args.x86_image, "x86_64", py, "--bytecode", mode)
        layers[f"ours, {mode} pycs"] = next((out / mode).glob("*.zip"))
    ours(out / "none", args.x86_image, "x86_64", py, "--no-bytecode")
    layers["naive, dates normalised (stale timestamp pycs)"] = naive(
        out, args.x86_image, "linux/amd64", dates=(1980, 1, 1, 0, 0, 0)
    )
    layers["no pycs (--no-bytecode)"] = next((out / "none").glob("*.zip"))
    code = out / "function"
    code.mkdir()
    shutil.copy(REPO / "examples/orders/app.py", code / "app.py")
    function = write_zip(out / "function.zip", collect(code)).path

    cold: dict[str, float] = {}
    for label, layer in layers.items():
        samples: list[float] = []

        def once(layer: Path = layer, samples: list[float] = samples) -> None:
            outcome = invoke(
                engine, function, [layer], "app.handler", EVENT, target, args.x86_image, quiet
            )
            assert outcome.ok, outcome.error
            samples.append((outcome.init_ms or 0) + (outcome.duration_ms or 0))

        once()  # the first run also warms the page cache: not counted
        samples.clear()
        for _ in range(max(args.cold_runs, runs)):
            once()
        cold[label] = statistics.median(samples)
    baseline = cold["no pycs (--no-bytecode)"]
    for label, ms in cold.items():
        row(
            f"(d) cold import + validation, {label}",
            f"{ms:.0f} ms = {ms / baseline:.2f}x no pycs",
            "ours <= 0.5x" if label.startswith("ours") else "",
        )
    for label, layer in layers.items():
        row(f"(e) size, {label}", f"{layer.stat().st_size:,} zipped, {unzipped(layer):,} unzipped")
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
