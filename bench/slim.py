"""What --prune and --strip save, measured in ONE run: layers built default and slim, their zipped
and unzipped sizes, and the cold import of each in the runtime (build.py invoke of a code-only
function whose module imports the layer's package; a fresh container per run; init + duration,
median of --runs after one unmeasured run).

    python bench/slim.py --image IMG [--strip-image IMG] [--python 3.11] [--runs 5]

Layers: the pydantic layer of requirements.txt, and a larger one: pandas (with numpy), hash-locked
here by the pinned uv for the target with a fixed --exclude-newer. --strip needs an image with
binutils (--strip-image; the tests make one from a stand-in with tests/binutils.py); without one
the slim build is --prune only. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lambdazip.build.engine import Engine  # noqa: E402
from lambdazip.build.runner import invoke  # noqa: E402
from lambdazip.cli.console import Console  # noqa: E402
from lambdazip.inputs.project import uv_binary  # noqa: E402
from lambdazip.targets import RUNTIMES, Arch, Target  # noqa: E402
from tests.zips import collect, write_zip  # noqa: E402

LOCK_DATE = "2026-11-25T00:00:00Z"
MODULES = {
    "pydantic": "from pydantic import BaseModel\n\n\nclass Order(BaseModel):\n    id: int\n\n\n"
    "def handler(event, context):\n    return Order(id=1).model_dump()\n",
    "pandas": "import pandas\n\n\ndef handler(event, context):\n"
    "    return int(pandas.DataFrame({'a': [1, 2]})['a'].sum())\n",
}


def build(out: Path, image: str, python: str, requirements: Path, *extra: str) -> Path:
    command = [sys.executable, str(REPO / "build.py"), "layer", "--arch", "x86_64"]
    command += ["--python", python, "-r", str(requirements), "-o", str(out), "--base-image", image]
    subprocess.run([*command, "-q", "--force", *extra], check=True, stdout=subprocess.DEVNULL)
    return next(out.glob("*.zip"))


def lock_pandas(directory: Path, python: str) -> Path:
    source = directory / "pandas.in"
    source.write_text("pandas\n")
    output = directory / "pandas.txt"
    command = [uv_binary(), "pip", "compile", str(source), "--generate-hashes", "--quiet"]
    command += ["--python-version", python, "--python-platform", "x86_64-manylinux_2_17"]
    command += ["--exclude-newer", LOCK_DATE, "--only-binary", ":all:", "-o", str(output)]
    subprocess.run(command, check=True)
    return output


def cold_ms(engine: Engine, layer: Path, module: str, image: str, python: str, runs: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        code = Path(directory) / "code"
        code.mkdir()
        (code / "app.py").write_text(MODULES[module])
        function = write_zip(Path(directory) / "function.zip", collect(code)).path
        target = Target(RUNTIMES[python], Arch.X86_64)
        quiet = Console.create({})
        quiet.verbosity = -1
        samples = []
        for _ in range(runs + 1):
            outcome = invoke(
                engine, function, [layer], "app.handler", [b"{}"], target, image, quiet
            ).last
            assert outcome.ok, outcome.error
            samples.append((outcome.init_ms or 0) + (outcome.duration_ms or 0))
        return statistics.median(samples[1:])


def unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return sum(i.file_size for i in zf.infolist())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--strip-image", help="the same image with binutils (for --strip)")
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    engine = Engine.connect({})
    work = Path(tempfile.mkdtemp(prefix="bench-slim-"))
    slim = ["--prune", "--strip"] if args.strip_image else ["--prune"]
    slim_image = args.strip_image or args.image
    print(f"slim = {' '.join(slim)}; cold import: median of {args.runs} (ms)")
    print("| layer | build | zipped | unzipped | cold import |")
    print("|---|---|---|---|---|")
    layers = {
        "pydantic": REPO / "requirements.txt",
        "pandas": lock_pandas(work, args.python),
    }
    for module, requirements in layers.items():
        for label, image, extra in (("default", args.image, []), ("slim", slim_image, slim)):
            zip_path = build(work / f"{module}-{label}", image, args.python, requirements, *extra)
            ms = cold_ms(engine, zip_path, module, args.image, args.python, args.runs)
            print(
                f"| {module} | {label} | {zip_path.stat().st_size:,} | {unzipped(zip_path):,} | "
                f"{ms:.0f} ms |",
                flush=True,
            )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
