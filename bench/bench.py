"""Benchmarks against the naive recipe and SAM CLI, measured in ONE run on one machine; prints
ratios, each figure the median of --runs with its spread (min-max).

    python bench/bench.py --x86-image IMG --arm64-image IMG [--python 3.11] [--runs 3]
        [--sam PATH] [--matrix-image PY/ARCH=IMG ...] [--check-mb 400]

Baselines, run beside ours with the same images, requirements and network:
  naive    the one-liner users write: `docker run IMG pip install -t DIR -r requirements.txt`,
           then zip DIR (here through the Docker SDK with a bind mount, and shutil.make_archive)
  sam      `sam build` of the same layer without a container (AWS SAM CLI, pinned in
           bench/requirements-sam.txt): it cross-downloads wheels for the target, runs nothing in
           the runtime, compiles no bytecode; the runtime's Python must be the host's, so only
           when --python is the host's version; then zipped as naive's is
  zipfile  `python -m zipfile -t` of the same big zip, for `check`'s throughput
Measured (median of --runs, wall clock):
  (a) no-op rebuild: ours with the artifact up to date vs the naive one-liner
  (b) warm x86_64 build: ours (--force: build image and download cache warm) vs naive and SAM,
      for each installer (pip, uv)
  (c) warm arm64 build, emulated on an x86_64 host: the same
  (f) `matrix` of the --matrix-image targets (e.g. 2 pythons x 2 arches) vs each built alone
  (g) `check` of a zip of --check-mb MB (the layer's files, many times over): MB/s
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

from lambdazip.build.engine import Engine  # noqa: E402
from lambdazip.build.runner import invoke  # noqa: E402
from lambdazip.cli.console import Console  # noqa: E402
from lambdazip.targets import RUNTIMES, Arch, Target  # noqa: E402
from tests.zips import collect, write_zip  # noqa: E402

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


NOOP_SAMPLES = 15  # (a)'s samples: a tenth of a second each

# as users run it: Python keeps the tool's bytecode (some CI shells set PYTHONDONTWRITEBYTECODE,
# which would recompile every module of the tool on every run)
OURS_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def ours(out: Path, image: str, arch: str, python: str, *extra: str) -> None:
    command = [sys.executable, str(REPO / "build.py"), "layer", "--arch", arch, "--python", python]
    command += ["-r", str(REQUIREMENTS), "-o", str(out), "--base-image", image, "-q", *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=OURS_ENV)


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


SAM_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python{python}]
      CompatibleArchitectures: [{arch}]
    Metadata:
      BuildMethod: python{python}
      BuildArchitecture: {arch}
"""


def sam(out: Path, sam_bin: str, arch: str, python: str) -> Path:
    """`sam build` of the layer (no container), then its directory zipped as naive's is."""
    work = Path(tempfile.mkdtemp(prefix="sam-", dir=out))
    (work / "layer").mkdir()
    shutil.copy(REQUIREMENTS, work / "layer" / "requirements.txt")
    (work / "template.yaml").write_text(SAM_TEMPLATE.format(python=python, arch=arch))
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "SAM_CLI_CONTACT_EMAIL": ""}
    command = [sam_bin, "build", "--template-file", "template.yaml", "--build-dir", "build"]
    subprocess.run(command, cwd=work, check=True, env=env, capture_output=True)
    archive = out / f"sam-{arch}.zip"
    shutil.make_archive(str(archive.with_suffix("")), "zip", work / "build" / "Deps", "python")
    shutil.rmtree(work, ignore_errors=True)
    return archive


def big_zip(layer: Path, path: Path, megabytes: int) -> Path:
    """A layer zip of about ``megabytes`` MB: the files of ``layer`` again and again, each copy
    under its own top-level names (python/copyN_<package>/...), as a big real layer has many
    packages with native code; deflate level 1 to make it quickly."""
    with zipfile.ZipFile(layer) as source:
        members = [(i, source.read(i)) for i in source.infolist() if not i.is_dir()]
    size = sum(i.compress_size for i, _ in members)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for copy in range(max(1, megabytes * 1024 * 1024 // size)):
            for info, data in members:
                parts = info.filename.split("/")
                parts[1] = f"copy{copy}_{parts[1]}"  # a package, a module or a .dist-info
                clone = zipfile.ZipInfo("/".join(parts), info.date_time)
                clone.external_attr = info.external_attr
                clone.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(clone, data)
    return path


def unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return sum(i.file_size for i in zf.infolist())


def row(label: str, value: str, target: str = "") -> None:
    print(f"| {label} | {value} | {target} |", flush=True)


def spread(times: list[float]) -> str:
    return f"{min(times):.2f}-{max(times):.2f}"


def met(ok: bool, target: str) -> str:
    return f"{target}: {'met' if ok else 'MISSED'}"


def matrix_bench(out: Path, specs: list[str], runs: int) -> None:
    """(f) each target built alone (--force, warm), then all of them in one `matrix` (--force):
    the parallel run against the sum of the two slowest alone, and its ratio to the slowest."""
    targets = []
    for spec in specs:
        key, _, image = spec.partition("=")
        python, _, arch = key.partition("/")
        targets.append((python, arch, image))
        ours(out / "f-warm", image, arch, python)  # build image and download cache warm
    alone = {}
    for python, arch, image in targets:
        build = partial(ours, out / "f-alone", image, arch, python, "--force")
        alone[f"python{python} {arch}"], _ = median(build, runs)
    command = [sys.executable, str(REPO / "build.py"), "matrix", "-r", str(REQUIREMENTS), "-q"]
    command += ["-o", str(out / "f-matrix"), "--force"]
    command += ["--python", *dict.fromkeys(p for p, _, _ in targets)]
    command += ["--arch", *dict.fromkeys(a for _, a, _ in targets)]
    for python, arch, image in targets:
        command += ["--base-image", f"{python}/{arch}={image}"]
    together, times = median(
        lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=OURS_ENV), runs
    )
    slowest = sorted(alone.values(), reverse=True)
    each = ", ".join(f"{k} {v:.1f} s" for k, v in alone.items())
    row(
        f"(f) `matrix` of {len(targets)} targets (alone: {each})",
        f"{together:.2f} s ({spread(times)}) = {together / sum(slowest[:2]):.2f}x the two "
        f"slowest together, {together / slowest[0]:.2f}x the slowest alone",
        met(together <= sum(slowest[:2]), "<= the sum of the two slowest alone"),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x86-image", required=True)
    parser.add_argument("--arm64-image", required=True)
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-arm64", action="store_true")
    parser.add_argument(
        "--sam", default=shutil.which("sam"), help="the sam executable (default: on PATH)"
    )
    parser.add_argument(
        "--matrix-image",
        action="append",
        default=[],
        metavar="PY/ARCH=IMG",
        help="the targets of (f), each with its image (may repeat)",
    )
    parser.add_argument("--check-mb", type=int, default=400, help="the size of (g)'s zip")
    parser.add_argument("--skip-cold", action="store_true", help="leave out (d) and (e)")
    parser.add_argument(
        "--cold-runs", type=int, default=9, help="samples per layer for (d): it is the noisiest"
    )
    args = parser.parse_args()
    runs, py = max(args.runs, 3), args.python
    out = Path(tempfile.mkdtemp(prefix="lambdazip-bench-"))
    quiet = Console(verbosity=-1)
    engine = Engine.connect(os.environ)
    host_python = f"{sys.version_info.major}.{sys.version_info.minor}"
    sam_bin = str(Path(args.sam).resolve()) if args.sam and py == host_python else None
    print(
        f"runs: {runs} (medians, spread min-max); python{py}; x86_64 image {args.x86_image}; "
        f"host {os.uname().machine}; {os.cpu_count()} cores; SAM CLI: "
        f"{'yes' if sam_bin else f'no (needs --sam and python{py} on the host)'}\n"
    )
    print("| measurement | result | target |\n|---|---|---|")

    # warm-up: build images, download caches, pip's and the engine's first-run costs
    for image, arch, platform in [(args.x86_image, "x86_64", "linux/amd64")] + (
        [] if args.skip_arm64 else [(args.arm64_image, "arm64", "linux/arm64")]
    ):
        for installer in ("pip", "uv"):
            ours(out / f"warm-{arch}-{installer}", image, arch, py, "--installer", installer)
        naive(out, image, platform)
        if sam_bin:
            sam(out, sam_bin, arch, py)

    naive_x86, naive_x86_times = median(lambda: naive(out, args.x86_image, "linux/amd64"), runs)
    row("naive one-liner, x86_64", f"{naive_x86:.2f} s ({spread(naive_x86_times)})")
    sam_times: dict[str, float] = {}
    if sam_bin:
        sam_times["x86_64"], times = median(lambda: sam(out, sam_bin, "x86_64", py), runs)
        row("SAM CLI `sam build`, x86_64", f"{sam_times['x86_64']:.2f} s ({spread(times)})")

    noop_dir = out / "noop"
    ours(noop_dir, args.x86_image, "x86_64", py)
    # a tenth of a second on a shared machine: more samples than the builds get (they cost
    # nothing), so that the median says what a no-op costs rather than what the machine did
    noop_runs = max(runs, NOOP_SAMPLES)
    noop, times = median(lambda: ours(noop_dir, args.x86_image, "x86_64", py), noop_runs)
    row(
        f"(a) no-op rebuild (median of {noop_runs})",
        f"{noop:.3f} s ({spread(times)}) = {noop / naive_x86:.3f}x naive "
        f"({naive_x86 / noop:.0f}x faster)",
        met(noop <= 0.15 and naive_x86 / noop >= 15, "<= 0.15 s and >= 15x faster"),
    )

    def warm_rows(
        label: str, image: str, arch: str, naive_s: float, goals: tuple[float, float]
    ) -> None:
        """Ours rebuilt warm with each installer, against naive (and SAM); the targets for uv."""
        sam_s = sam_times.get(arch)
        for installer in ("pip", "uv"):
            build = partial(ours, out / f"{label}-{installer}", image, arch, py)
            warm, times = median(partial(build, "--force", "--installer", installer), runs)
            versus_sam = f", {warm / sam_s:.2f}x SAM" if sam_s else ""
            goal = ""
            if installer == "uv":
                goal = met(warm / naive_s <= goals[0], f"<= {goals[0]}x naive")
                if sam_s:
                    goal += "; " + met(warm / sam_s <= goals[1], f"<= {goals[1]}x SAM")
            emulated = " (emulated)" if arch == "arm64" else ""
            row(
                f"({label}) warm {arch} build{emulated}, {installer}",
                f"{warm:.2f} s ({spread(times)}) = {warm / naive_s:.2f}x naive{versus_sam}",
                goal,
            )

    warm_rows("b", args.x86_image, "x86_64", naive_x86, (0.6, 0.8))

    if not args.skip_arm64:
        naive_arm, times = median(lambda: naive(out, args.arm64_image, "linux/arm64"), runs)
        row("naive one-liner, arm64 (emulated)", f"{naive_arm:.2f} s ({spread(times)})")
        if sam_bin:
            sam_times["arm64"], times = median(lambda: sam(out, sam_bin, "arm64", py), runs)
            row(
                "SAM CLI `sam build`, arm64 (no container)",
                f"{sam_times['arm64']:.2f} s ({spread(times)})",
            )
        warm_rows("c", args.arm64_image, "arm64", naive_arm, (0.3, 1.5))

    if args.matrix_image:
        matrix_bench(out, args.matrix_image, runs)

    layer = next((out / "noop").glob("*.zip"))
    big = big_zip(layer, out / "big.zip", args.check_mb)
    megabytes = big.stat().st_size / 1e6
    check = [sys.executable, str(REPO / "build.py"), "check", str(big), "-q"]
    check += ["--arch", "x86_64", "--python", py, "--kind", "layer"]
    reference = [sys.executable, "-m", "zipfile", "-t", str(big)]
    checked, times = median(
        lambda: subprocess.run(
            check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=OURS_ENV
        ),
        runs,
    )
    tested, _ = median(lambda: subprocess.run(reference, stdout=subprocess.DEVNULL), runs)
    row(
        f"(g) `check` of a {megabytes:.0f} MB zip",
        f"{checked:.2f} s ({spread(times)}) = {megabytes / checked:.0f} MB/s; "
        f"`python -m zipfile -t` {megabytes / tested:.0f} MB/s",
        met(megabytes / checked >= 90, ">= 90 MB/s"),
    )
    if args.skip_cold:
        shutil.rmtree(out, ignore_errors=True)
        return 0

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
                engine, function, [layer], "app.handler", [EVENT], target, args.x86_image, quiet
            ).last
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
