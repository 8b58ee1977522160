"""The build, end to end on the real engine, in local stand-ins of the Lambda image
(tests/standin.py), with the real hash-locked requirements.txt installed from the package index."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Protocol

import pytest

from lambdazip.build.engine import RUN_LABEL, Engine
from lambdazip.build.plan import cache_volume_name
from lambdazip.build.runner import probe_artifact
from lambdazip.cli import main
from lambdazip.cli.console import Console
from lambdazip.judge.checks import Kind
from lambdazip.judge.probe import check_probe
from lambdazip.targets import RUNTIMES, Arch, Target
from tests.conftest import RUN, host_env, ours
from tests.wheels import REPO, locked_version

pytestmark = [pytest.mark.integration, pytest.mark.network]
LOCK = ["-r", str(REPO / "requirements.txt")]

HANDLER = """
from pydantic import BaseModel


class Order(BaseModel):
    id: int
    items: list[str]


def handler(event, context):
    return Order.model_validate(event).model_dump()
"""


class Built:
    def __init__(self, code: int, out: str, err: str, zip_path: Path) -> None:
        self.code, self.out, self.err, self.zip = code, out, err, zip_path

    @property
    def manifest(self) -> dict[str, object]:
        path = self.zip.with_suffix(".manifest.json")
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    @property
    def names(self) -> list[str]:
        with zipfile.ZipFile(self.zip) as archive:
            return archive.namelist()


class Builder(Protocol):
    def __call__(self, kind: str, python: str, arch: str, out: Path, *extra: str) -> Built: ...


@pytest.fixture
def build(images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]) -> Builder:
    def run(kind: str, python: str, arch: str, out: Path, *extra: str) -> Built:
        argv = [kind, "--arch", arch, "--python", python, "-o", str(out)]
        argv += ["--base-image", images[(python, arch)], "-r", str(REPO / "requirements.txt")]
        code = main([*argv, *extra], env=host_env())
        captured = capsys.readouterr()
        name = "layer" if kind == "layer" else Path(extra[extra.index("--src") + 1]).name
        return Built(code, captured.out, captured.err, out / f"{name}-python{python}-{arch}.zip")

    return run


def _check(zip_path: Path, arch: str, python: str) -> int:
    return main(["check", str(zip_path), "--arch", arch, "--python", python, "-q"], env={})


@pytest.fixture
def src(tmp_path: Path) -> Path:
    directory = tmp_path / "orders"
    directory.mkdir()
    (directory / "app.py").write_text(HANDLER)
    return directory


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_layer_is_native_checked_and_reproducible(
    arch: str, tmp_path: Path, build: Builder
) -> None:
    first = build("layer", "3.11", arch, tmp_path / "one")
    assert first.code == 0, first.err
    triplet = Arch(arch).info.triplet
    module = f"python/pydantic_core/_pydantic_core.cpython-311-{triplet}.so"
    assert module in first.names
    assert all(name.startswith("python/") for name in first.names)
    pycs = [name for name in first.names if name.endswith(".pyc")]
    assert pycs  # compiled by the runtime's interpreter
    assert all(name.endswith(".cpython-311.pyc") for name in pycs)
    assert _check(first.zip, arch, "3.11") == 0

    manifest = first.manifest
    assert manifest["target"]["arch"] == arch  # type: ignore[index]
    assert manifest["probe"]["machine"] == Arch(arch).info.uname_machine  # type: ignore[index]
    assert manifest["probe"]["ext_suffix"] == f".cpython-311-{triplet}.so"  # type: ignore[index]
    versions = {d["name"]: d["version"] for d in manifest["distributions"]}  # type: ignore[attr-defined]
    assert versions["pydantic-core"] == locked_version("pydantic-core")
    assert manifest["base_image"]["architecture"] == Arch(arch).info.oci_architecture  # type: ignore[index]
    assert manifest["installer"].startswith("uv ")  # type: ignore[attr-defined]
    assert manifest["bytecode"] == "unchecked-hash"
    assert all(i["ok"] for i in manifest["probe"]["imports"])  # type: ignore[index]

    second = build("layer", "3.11", arch, tmp_path / "two")
    assert second.code == 0, second.err
    assert second.zip.read_bytes() == first.zip.read_bytes()
    assert second.manifest["sha256"] == manifest["sha256"]


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_function_has_code_and_dependencies_at_the_root(
    arch: str, tmp_path: Path, build: Builder, src: Path
) -> None:
    first = build("function", "3.11", arch, tmp_path / "one", "--src", str(src))
    assert first.code == 0, first.err
    assert "app.py" in first.names
    assert f"pydantic_core/_pydantic_core.cpython-311-{Arch(arch).info.triplet}.so" in first.names
    assert not any(name.startswith("python/") for name in first.names)
    imported = {i["module"] for i in first.manifest["probe"]["imports"]}  # type: ignore[index]
    assert {"app", "pydantic", "pydantic_core"} <= imported
    assert _check(first.zip, arch, "3.11") == 0
    if arch == "x86_64":
        second = build("function", "3.11", arch, tmp_path / "two", "--src", str(src))
        assert second.zip.read_bytes() == first.zip.read_bytes()


def test_the_tree_built_in_memory_on_disk_or_again_on_disk_is_the_same_zip(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The install root is a tmpfs unless LAMBDAZIP_TMPFS_MB=0; a tree that does not fit there
    (here the function's own code, copied in before the install, fills a 1 MB tmpfs) is built
    again on disk. Each way gives the same bytes."""
    code = tmp_path / "orders"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    (code / "table.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    argv = ["function", "--arch", "x86_64", "--python", "3.13", "--src", str(code), *LOCK]
    argv += ["--base-image", images[("3.13", "x86_64")], "--handler", "app.handler"]
    fallback = "the installed tree needs more than 1 MB (LAMBDAZIP_TMPFS_MB): building again on"
    zips = {}
    for size in ("", "0", "1"):
        out = tmp_path / f"tmpfs-{size or 'default'}"
        env = host_env() | {"LAMBDAZIP_TMPFS_MB": size}
        assert main([*argv, "-o", str(out)], env=env) == 0
        err = capsys.readouterr().err
        assert (fallback in err) == (size == "1"), err
        zips[size] = (out / "orders-python3.13-x86_64.zip").read_bytes()
    assert zips[""] == zips["0"] == zips["1"]
    with zipfile.ZipFile(tmp_path / "tmpfs-1" / "orders-python3.13-x86_64.zip") as archive:
        assert archive.read("table.bin") == (code / "table.bin").read_bytes()


def test_a_function_whose_src_packs_nothing_of_its_own_holds_its_dependencies(
    tmp_path: Path, build: Builder
) -> None:
    """--src may hold nothing that is packed (here: nothing at all); the function is then its
    dependencies alone, and install.py is given no code to copy in."""
    empty = tmp_path / "empty"
    empty.mkdir()
    built = build("function", "3.13", "x86_64", tmp_path / "out", "--src", str(empty))
    assert built.code == 0, built.err
    assert "pydantic/__init__.py" in built.names


SPOIL_KEPT_BYTECODE = """
import glob, sys
garbage, other, empty, source = (glob.glob(f"/cache/bytecode/*/{key}.pyc") for key in sys.argv[1:])
assert garbage and other and empty and source, sys.argv
for path in garbage:
    with open(path, "wb") as fh:
        fh.write(b"not a pyc at all")
for path in other:
    with open(path, "wb") as fh, open(source[0], "rb") as src:
        fh.write(src.read())  # a whole, valid pyc: of another source
for path in empty:
    open(path, "wb").close()
"""


def _in_volume(engine: Engine, image: str, volume: str, script: str, *args: str) -> str:
    """What a Python ``script`` prints, run with ``args`` in ``image`` with ``volume`` at /cache."""
    output = engine.client.containers.run(
        image,
        list(args),
        labels={RUN_LABEL: RUN},
        entrypoint=["/var/lang/bin/python3", "-c", script],
        volumes={volume: {"bind": "/cache", "mode": "rw"}},
        remove=True,
    )
    return bytes(output).decode()


def _kept_name(layer: Path, member: str) -> str:
    """Where the store keeps the pyc of a layer's source ``member``: its path and bytes."""
    with zipfile.ZipFile(layer) as archive:
        data = archive.read(member)
    key = hashlib.sha256(f"/opt/{member}".encode() + b"\0" + data).hexdigest()
    return f"{key[:2]}/{key[2:]}"


def test_kept_bytecode_is_what_the_compiler_writes_and_a_spoiled_one_is_compiled_again(
    tmp_path: Path, build: Builder, engine: Engine, images: dict[tuple[str, str], str]
) -> None:
    """Each pyc is kept in the cache volume; a later build takes it instead of compiling the
    same source again. The zip is the same bytes as one compiled from nothing (--no-cache), and
    a kept pyc that is not the one of its source is never used."""
    fresh = build("layer", "3.13", "x86_64", tmp_path / "fresh", "--no-cache", "-v")
    assert fresh.code == 0, fresh.err
    assert "bytecode:" not in fresh.err + fresh.out  # no cache: nothing kept, nothing taken
    build("layer", "3.13", "x86_64", tmp_path / "fill", "--force")  # fills what it lacks

    def counts(built: Built) -> tuple[int, int]:
        return _bytecode_counts(built.err + built.out)

    warm = build("layer", "3.13", "x86_64", tmp_path / "warm", "--force", "-v")
    assert warm.code == 0, warm.err
    kept, compiled = counts(warm)
    pycs = sum(name.endswith(".pyc") for name in fresh.names)
    assert (kept, compiled) == (pycs, 0)
    assert warm.zip.read_bytes() == fresh.zip.read_bytes()

    volume = cache_volume_name(Target(RUNTIMES["3.13"], Arch.X86_64))
    sources = ["__init__.py", "main.py", "fields.py", "types.py"]
    keys = [_kept_name(fresh.zip, f"python/pydantic/{name}") for name in sources]
    _in_volume(engine, images[("3.13", "x86_64")], volume, SPOIL_KEPT_BYTECODE, *keys)
    spoiled = build("layer", "3.13", "x86_64", tmp_path / "spoiled", "--force", "-v")
    assert spoiled.code == 0, spoiled.err
    assert counts(spoiled) == (pycs - 3, 3)
    assert spoiled.zip.read_bytes() == fresh.zip.read_bytes()
    again = build("layer", "3.13", "x86_64", tmp_path / "again", "--force", "-v")
    assert counts(again) == (pycs, 0)  # compiled again, and kept whole


AGE_THE_STORE = """
import glob, os, time
now = time.time()
old = now - 40 * 86400
for path in glob.glob("/cache/bytecode/*/*/*.pyc"):
    os.utime(path, (old, old))  # as if no build had taken them for 40 days
unused = "/cache/bytecode/cpython-00-gone/00/unused.pyc"
os.makedirs(os.path.dirname(unused), exist_ok=True)
open(unused, "wb").close()
os.utime(unused, (old, old))
marker = "/cache/bytecode/.swept"
open(marker, "a").close()
os.utime(marker, (now - 2 * 86400, now - 2 * 86400))  # last swept two days ago
"""


def test_the_kept_bytecode_no_build_took_for_30_days_is_swept_away(
    tmp_path: Path, build: Builder, engine: Engine, images: dict[tuple[str, str], str]
) -> None:
    """The store does not grow without end: a build marks each pyc it takes, and once a day one
    removes what no build took for 30 days; the pycs it took stay, and the next build takes them
    all again."""
    build("layer", "3.13", "x86_64", tmp_path / "fill", "--force")
    volume = cache_volume_name(Target(RUNTIMES["3.13"], Arch.X86_64))

    image = images[("3.13", "x86_64")]
    _in_volume(engine, image, volume, AGE_THE_STORE)
    swept = build("layer", "3.13", "x86_64", tmp_path / "swept", "--force", "-v")
    assert swept.code == 0, swept.err
    pycs = sum(name.endswith(".pyc") for name in swept.names)
    assert _bytecode_counts(swept.err + swept.out) == (pycs, 0)
    removed = re.search(r"bytecode: (\d+) kept pycs no build took for 30 days removed", swept.err)
    assert removed, swept.err
    assert int(removed[1]) >= 1
    assert (
        _in_volume(
            engine,
            image,
            volume,
            "import os; print(os.path.exists('/cache/bytecode/cpython-00-gone/00/unused.pyc'))",
        )
        == "False\n"
    )
    again = build("layer", "3.13", "x86_64", tmp_path / "again", "--force", "-v")
    assert _bytecode_counts(again.err + again.out) == (pycs, 0)
    assert "no build took" not in again.err  # swept less than a day ago


NOOP_IMPORTS = """
import sys
from lambdazip.cli import main
code = main(sys.argv[1:])
heavy = {"pydantic", "pydantic_core", "docker", "requests", "elftools", "cyclonedx", "packaging"}
print(sorted({m.split(".")[0] for m in sys.modules} & heavy))
sys.exit(code)
"""


def test_a_no_op_loads_neither_the_sdk_nor_what_judges_a_build(
    tmp_path: Path, images: dict[tuple[str, str], str]
) -> None:
    """Up to date is decided with the least work: the engine's answers on its socket and the
    zip's sha256, without the Docker SDK, pydantic, pyelftools or cyclonedx."""
    argv = ["layer", "--arch", "x86_64", "--python", "3.13", "-o", str(tmp_path), *LOCK]
    argv += ["--base-image", images[("3.13", "x86_64")]]
    runs = [
        subprocess.run(
            [sys.executable, "-c", NOOP_IMPORTS, *argv],
            env=os.environ | host_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr
    assert "pydantic" in runs[0].stdout  # the build judged its zip: not vacuous
    assert "up to date, reused (no container started)" in runs[1].stderr
    assert runs[1].stdout.strip() == "[]"


def _bytecode_counts(text: str) -> tuple[int, int]:
    said = re.search(r"bytecode: (\d+) kept, (\d+) compiled", text)
    assert said, text
    return int(said[1]), int(said[2])


def test_two_builds_of_one_target_at_once_keep_whole_pycs(
    tmp_path: Path, images: dict[tuple[str, str], str]
) -> None:
    """Two builds share the target's cache volume and write the same new pycs at the same time
    (each install.py is process 1 of its own container): each gets the zip a build alone gets,
    and what is kept is whole: a third build takes every pyc and gives the same bytes."""
    src = tmp_path / "src"
    src.mkdir()
    salt = os.urandom(8).hex()  # sources no build has compiled before: every pyc is new
    for n in range(300):
        body = f"SALT = {salt!r}\n" + "".join(
            f"def f{i}(x):\n    return x + {i}\n" for i in range(40)
        )
        (src / f"mod{n:03}.py").write_text(body)
    (src / "app.py").write_text(HANDLER)

    def command(out: Path) -> list[str]:
        argv = [sys.executable, "-m", "lambdazip", "function", "--src", str(src), "-v"]
        argv += ["--python", "3.13", "--arch", "x86_64", "-o", str(out), *LOCK]
        return [*argv, "--base-image", images[("3.13", "x86_64")]]

    env = os.environ | host_env()
    running = [
        subprocess.Popen(command(tmp_path / name), env=env, text=True, stderr=subprocess.PIPE)
        for name in ("one", "two")
    ]
    outputs = [process.communicate()[1] for process in running]
    assert [process.returncode for process in running] == [0, 0], outputs
    zips = [(tmp_path / name / "src-python3.13-x86_64.zip").read_bytes() for name in ("one", "two")]
    assert zips[0] == zips[1]
    # every new source compiled by one of them at least (by both where they overlapped)
    assert sum(_bytecode_counts(text)[1] for text in outputs) >= 301
    third = subprocess.run(command(tmp_path / "three"), env=env, text=True, capture_output=True)
    assert third.returncode == 0, third.stderr
    kept, compiled = _bytecode_counts(third.stderr)
    assert (compiled, kept >= 301) == (0, True)
    assert (tmp_path / "three" / "src-python3.13-x86_64.zip").read_bytes() == zips[0]


def test_a_311_layer_in_the_313_runtime_fails_as_the_seed_describes(
    tmp_path: Path, build: Builder, engine: Engine, images: dict[tuple[str, str], str]
) -> None:
    layer = build("layer", "3.11", "x86_64", tmp_path).zip
    target = Target(RUNTIMES["3.13"], Arch.X86_64)

    # check refuses it first, without Docker, naming the suffix 3.13 needs
    assert _check(layer, "x86_64", "3.13") == 3

    # and in the 3.13 image the probe sees what the seed's two checks see, and the import fails
    facts = probe_artifact(
        engine, layer, Kind.LAYER, target, images[("3.13", "x86_64")], Console(verbosity=-1)
    )
    assert facts.ext_suffix == ".cpython-313-x86_64-linux-gnu.so"
    assert facts.pydantic_core is not None
    assert (
        "pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so" in facts.pydantic_core.files
    )
    pydantic = next(i for i in facts.imports if i.module == "pydantic")
    assert not pydantic.ok
    # pydantic-core 2.4x+: the stubs' _pydantic_core/ directory is imported in the .so's place
    assert pydantic.error is not None
    assert "from 'pydantic_core._pydantic_core' (unknown location)" in pydantic.error
    codes = {f.code for f in check_probe(facts, target)}
    assert {"pydantic-core-module", "import", "pydantic-validation"} <= codes


def test_a_requirement_without_a_wheel_leaves_dist_untouched(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    previous = dist / "layer-python3.11-x86_64.zip"
    previous.write_bytes(b"the previous artifact")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("docopt==0.6.2\n")  # published as an sdist only (and not hashed)
    code = main(
        [
            "layer",
            "--arch",
            "x86_64",
            "--python",
            "3.11",
            "-r",
            str(requirements),
            "-o",
            str(dist),
            "--base-image",
            images["3.11", "x86_64"],
            "--allow-unhashed",
        ],
        env=host_env(),
    )
    err = capsys.readouterr().err
    assert code == 9
    assert "error: no wheel of docopt==0.6.2 for python3.11 on x86_64 (glibc 2.26, " in err
    assert "Traceback" not in err
    assert sorted(p.name for p in dist.iterdir()) == ["layer-python3.11-x86_64.zip"]
    assert previous.read_bytes() == b"the previous artifact"


def test_a_base_image_of_the_wrong_architecture_is_refused(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "layer",
            "--arch",
            "arm64",
            "--python",
            "3.13",
            "-o",
            str(tmp_path),
            *LOCK,
            "--base-image",
            images["3.13", "x86_64"],
        ],
        env={},
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 7
    assert lines[-1].startswith(f"error: {images[('3.13', 'x86_64')]} is an image for linux/amd64")
    assert "needs linux/arm64" in lines[-1]
    assert list(tmp_path.iterdir()) == []


def test_an_absent_image_that_cannot_be_pulled_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "layer",
            "--arch",
            "x86_64",
            "--python",
            "3.13",
            "-o",
            str(tmp_path),
            *LOCK,
            "--base-image",
            "lambdazip-absent.invalid/nothing:here",
        ],
        env={},
    )
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert code == 7
    assert len(lines) == 1
    assert (
        "lambdazip-absent.invalid/nothing:here is not on this engine and cannot be pulled"
        in lines[0]
    )


def test_an_unreachable_engine_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["layer", "--arch", "x86_64", "--python", "3.13", "-o", str(tmp_path), *LOCK],
        env={"DOCKER_HOST": "tcp://127.0.0.1:9"},
    )
    err = capsys.readouterr().err
    assert code == 6
    assert err.count("\n") == 1
    assert err.startswith("error: cannot reach the Docker engine at DOCKER_HOST=tcp://127.0.0.1:9")
    assert "start Docker" in err


def test_a_hash_mismatch_is_one_clear_error(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"typing-extensions==4.16.0 --hash=sha256:{'0' * 64}\n")
    code = main(
        [
            "layer",
            "--arch",
            "x86_64",
            "--python",
            "3.11",
            "-r",
            str(requirements),
            "-o",
            str(tmp_path / "dist"),
            "--base-image",
            images["3.11", "x86_64"],
        ],
        env=host_env(),
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 9
    assert errors == [
        "error: a downloaded file does not match the hash in the requirements; lock again "
        "(`uv pip compile --generate-hashes requirements.in -o requirements.txt` (or `uv lock`)) "
        "or check what your index serves"
    ]
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_an_interrupted_build_leaves_no_container_and_no_artifact(
    signal_number: int, tmp_path: Path, engine: Engine, images: dict[tuple[str, str], str]
) -> None:
    command = [sys.executable, str(REPO / "build.py"), "layer", "--arch", "arm64"]
    command += ["--python", "3.11", "-o", str(tmp_path), *LOCK]
    command += ["--base-image", images[("3.11", "arm64")]]
    process = subprocess.Popen(
        command, env={**os.environ, **host_env()}, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not ours(engine):  # wait until the build container exists
            assert process.poll() is None, "the build ended before it could be interrupted"
            assert time.monotonic() < deadline, "no build container appeared"
            time.sleep(0.2)
        process.send_signal(signal_number)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted; nothing was written"
    assert ours(engine) == set()
    assert list(tmp_path.iterdir()) == []
