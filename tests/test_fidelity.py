"""What the tests see is what users get on the real runtime: the installer picks the wheels the
runtime's glibc can load (not the build image's), on the stand-ins, from real wheels served by a
local index (tests/index.py) so that nothing here moves with the package index."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lambdazip.build.engine import RUN_LABEL, Engine
from lambdazip.cli import main
from tests import deflate, index, lockfile, wheels
from tests.conftest import RUN, host_env

pytestmark = [pytest.mark.integration, pytest.mark.network]

# numpy 2.4.6 publishes only manylinux_2_27/2_28 wheels for Linux x86_64 (GLIBC_2.27 symbols);
# 2.2.6 publishes manylinux2014 (2.17) ones. Amazon Linux 2 (python3.10, 3.11) has glibc 2.26,
# AL2023 (python3.12+) 2.34; the stand-ins have 2.36 (bookworm) and 2.41 (trixie).
NEW, OLD = "2.4.6", "2.2.6"


@pytest.fixture(scope="module")
def numpy_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("index")
    for python in ("311", "313"):
        for wheel in (
            wheels.fetch("numpy", NEW, python, "manylinux_2_28_x86_64"),
            wheels.fetch("numpy", OLD, python, "manylinux2014_x86_64"),
        ):
            shutil.copy(wheel, directory / wheel.name)
    # and uv itself, which the image's pip installs for --installer uv (as pinned)
    pin = (wheels.REPO / "lambdazip/inside/uv-requirements.txt").read_text()
    version = pin.split("uv==", 1)[1].split()[0]
    uv = wheels.fetch_any(
        f"uv=={version}",
        f"uv-{version}-py3-none-manylinux*x86_64*.whl",
        platforms=("manylinux_2_17_x86_64",),
    )
    shutil.copy(uv, directory / uv.name)
    return directory


def _layer(
    image: str, python: str, out: Path, requirements: str, env: dict[str, str], *extra: str
) -> tuple[int, dict[str, object]]:
    lock = out / "requirements.txt"
    out.mkdir(parents=True, exist_ok=True)
    lock.write_text(requirements)
    argv = ["layer", "--arch", "x86_64", "--python", python, "-o", str(out), "-r", str(lock)]
    code = main([*argv, "--base-image", image, "-q", *extra], env=host_env() | env)
    manifest = out / f"layer-python{python}-x86_64.manifest.json"
    return code, json.loads(manifest.read_text()) if manifest.exists() else {}


def _numpy(manifest: dict[str, object]) -> dict[str, object]:
    dists = manifest["distributions"]
    assert isinstance(dists, list)
    return next(d for d in dists if d["name"] == "numpy")


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_the_runtime_glibc_not_the_images_decides_the_wheel(
    installer: str,
    engine: Engine,
    images: dict[tuple[str, str], str],
    numpy_index: Path,
    tmp_path: Path,
) -> None:
    with index.serve(numpy_index, engine.client) as env:
        # the image's own pip, asked without the runtime's ceiling, takes the newest wheel its
        # glibc (2.36) allows: what a build in a stand-in did before
        own = engine.client.containers.run(
            images["3.11", "x86_64"],
            [
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                "/tmp/w",
                "--index-url",
                env["PIP_INDEX_URL"],
                "--trusted-host",
                env["PIP_TRUSTED_HOST"],
                "numpy>=2.2,<2.5",
            ],
            entrypoint="/var/lang/bin/python3",
            labels={RUN_LABEL: RUN},
            environment={"NO_PROXY": env["NO_PROXY"]},
            remove=True,
        ).decode()
        assert f"numpy-{NEW}-cp311" in own
        for python, wanted, tag in (
            ("3.11", OLD, "manylinux_2_17"),
            ("3.13", NEW, "manylinux_2_28"),
        ):
            code, manifest = _layer(
                images[python, "x86_64"],
                python,
                tmp_path / python,
                "numpy>=2.2,<2.5\n",
                env,
                "--installer",
                installer,
                "--allow-unhashed",  # a range, to let the runtime's glibc choose the version
            )
            assert code == 0, (python, installer)
            numpy = _numpy(manifest)
            assert numpy["version"] == wanted, (python, installer, numpy)
            assert any(tag in t for t in numpy["wheel_tags"]), numpy  # type: ignore[attr-defined]


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_a_pin_with_only_newer_glibc_wheels_fails_naming_the_glibc(
    installer: str,
    engine: Engine,
    images: dict[tuple[str, str], str],
    numpy_index: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wheel = wheels.fetch("numpy", NEW, "311", "manylinux_2_28_x86_64")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with index.serve(numpy_index, engine.client) as env:
        code, _ = _layer(
            images["3.11", "x86_64"],
            "3.11",
            tmp_path,
            f"numpy=={NEW} --hash=sha256:{digest}\n",
            env,
            "--installer",
            installer,
        )
    err = capsys.readouterr().err
    assert code == 9, err
    newest = "manylinux_2_26" if installer == "pip" else "manylinux_2_17"  # what uv can name
    line = next(x for x in err.splitlines() if x.startswith("error:")).split(";")[0]
    assert line == (
        f"error: no wheel of numpy=={NEW} for python3.11 on x86_64 (glibc 2.26, Amazon Linux 2: "
        f"{newest} or older)"
    ), err
    assert not (tmp_path / "layer-python3.11-x86_64.zip").exists()


def test_the_zip_is_the_same_bytes_whatever_deflates_on_the_host(
    images: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    image = images["3.11", "x86_64"]
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "--base-image", image, "-q"]
    argv += ["-r", str(wheels.REPO / "requirements.txt")]
    env = os.environ | host_env()
    digests = {}
    for how, command in (
        ("zlib", [sys.executable, "-m", "lambdazip"]),
        ("zlib-ng", [sys.executable, "-c", deflate.LAMBDAZIP_WITH_ZLIB_NG]),
    ):
        out = tmp_path / how
        done = subprocess.run(
            [*command, *argv, "-o", str(out)], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        manifest = json.loads((out / "layer-python3.11-x86_64.manifest.json").read_text())
        assert manifest["packed_by"]["where"] == "image"
        digests[how] = manifest["sha256"]
        assert (
            hashlib.sha256((out / "layer-python3.11-x86_64.zip").read_bytes()).hexdigest()
            == (digests[how])
        )
    assert digests["zlib"] == digests["zlib-ng"], digests
    print("sha256 with the host's zlib:", digests["zlib"], "with zlib-ng:", digests["zlib-ng"])

    # not vacuous: had the host deflated, the two would differ
    tree = tmp_path / "tree"
    with zipfile.ZipFile(tmp_path / "zlib" / "layer-python3.11-x86_64.zip") as archive:
        archive.extractall(tree)
    host = {
        how: deflate.host_zip(tree, tmp_path / f"{how}.zip", how) for how in ("zlib", "zlib-ng")
    }
    assert host["zlib"] != host["zlib-ng"]


def test_the_same_bytes_under_a_second_host_python(
    engine: Engine, images: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    """The host side under another CPython (Debian trixie's 3.13, its own zlib) than this one,
    in a container that drives this engine through its socket: the same zip."""
    image = images["3.11", "x86_64"]
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "--base-image", image, "-q"]
    ours = tmp_path / "ours"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lambdazip",
            *argv,
            "-r",
            str(wheels.REPO / "requirements.txt"),
            "-o",
            str(ours),
        ],
        env=os.environ | host_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    mine = json.loads((ours / "layer-python3.11-x86_64.manifest.json").read_text())

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    ca = host_env().get("PIP_CERT")
    script = (
        "set -e; python3 -c 'import sys, zlib; print(sys.version.split()[0],"
        " zlib.ZLIB_RUNTIME_VERSION)' > /out/host.txt;"
        " pip install --quiet --no-index --find-links /wheels --require-hashes"
        " --target /tmp/deps -r /repo/requirements-tool.txt; PYTHONPATH=/tmp/deps:/repo python3"
        f" -m lambdazip {' '.join(argv)} -r /repo/requirements.txt -o /out"
    )
    volumes = {
        "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
        str(wheels.REPO): {"bind": "/repo", "mode": "ro"},
        str(lockfile.tool_wheelhouse("3.13")): {"bind": "/wheels", "mode": "ro"},
        str(theirs): {"bind": "/out", "mode": "rw"},
    }
    environment = {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if ca:
        volumes[ca] = {"bind": "/ca.pem", "mode": "ro"}
        environment["PIP_CERT"] = "/ca.pem"
    container = engine.client.containers.run(
        images["3.13", "x86_64"],
        ["-c", script],
        entrypoint="/bin/sh",
        labels={RUN_LABEL: RUN},
        volumes=volumes,
        environment=environment,
        detach=True,
    )
    try:
        status = container.wait(timeout=600)
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, logs
    host = (theirs / "host.txt").read_text().split()
    assert host[0].startswith("3.13."), host
    other = json.loads((theirs / "layer-python3.11-x86_64.manifest.json").read_text())
    print(
        f"host Python {sys.version.split()[0]}: {mine['sha256']}; host Python {host[0]} "
        f"(zlib {host[1]}): {other['sha256']}"
    )
    assert other["sha256"] == mine["sha256"]
