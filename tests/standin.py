"""Local stand-ins for the official Lambda Python image, which cannot be pulled here.

Each is a Debian root filesystem made by debootstrap and shaped like public.ecr.aws/lambda/python:
Python reachable as /var/lang/bin/python3, the image's environment and working directory, an
entrypoint that exits 142 without a handler, no zip, no find, no EXTERNALLY-MANAGED marker. It is
labelled with the right architecture, so the product treats it exactly as it would the official one
(it only ever reaches it through --base-image).

Images are tagged with a hash of this file, so a machine builds each one once per recipe:

    python -m tests.standin                 # build (or reuse) all, print their tags
    python -m tests.standin --tag 3.11 arm64   # print one tag, building it if needed

Needs root, debootstrap, and for arm64 on an x86_64 host, qemu-user-static with binfmt_misc.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import inspect
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import docker
from docker.errors import ImageNotFound

REPOSITORY = "lambdazip-standin"
HERE = Path(__file__).resolve().parent
# What the official image carries in /var/runtime (the AWS SDK, the runtime interface client),
# hash-locked; installed into each stand-in for its Python and CPU.
RUNTIME_LOCK = HERE / "standin-runtime.txt"


class Recipe(NamedTuple):
    suite: str  # the Debian suite that has this Python
    debian_arch: str
    platform: str  # OCI platform
    interpreter: str  # the Debian package of the interpreter
    slow: bool = False  # an emulated debootstrap of minutes: built and tested in CI, but last


# (python, arch) -> how to make it. python3.10 and python3.12 are in no Debian suite (bookworm
# has 3.11, trixie 3.13, forky and sid 3.13-3.15), so no stand-in can be made for them here.
RECIPES: dict[tuple[str, str], Recipe] = {
    ("3.11", "x86_64"): Recipe("bookworm", "amd64", "linux/amd64", "python3"),
    ("3.11", "arm64"): Recipe("bookworm", "arm64", "linux/arm64", "python3"),
    ("3.13", "x86_64"): Recipe("trixie", "amd64", "linux/amd64", "python3"),
    ("3.13", "arm64"): Recipe("trixie", "arm64", "linux/arm64", "python3", slow=True),
    ("3.14", "x86_64"): Recipe("forky", "amd64", "linux/amd64", "python3.14"),
    # AWS's python3.15 preview: forky carries 3.15 beside its default 3.14 (pip, from
    # python3-pip in the shared dist-packages, runs under either)
    ("3.15", "x86_64"): Recipe("forky", "amd64", "linux/amd64", "python3.15"),
}
# suites this host's debootstrap may not know by name, and the script that makes them
SCRIPTS = {"forky": "sid"}

ENTRYPOINT = """#!/bin/sh
# Like the official image's: exactly one argument, the handler.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" >&2
  exit 142
fi
echo "stand-in image: no Runtime Interface Emulator; run handlers with build.py invoke" >&2
exit 1
"""

DOCKERFILE = """FROM scratch
ADD rootfs.tar /
ENV LANG=en_US.UTF-8 TZ=:/etc/localtime
ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin
ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
"""


PACKAGES = "python3-pip,ca-certificates"


def recipe_hash(python: str, arch: str) -> str:
    """A digest of everything that decides this image's content, and nothing else (another
    image's recipe does not: adding one rebuilds no other)."""
    recipe = [
        DOCKERFILE,
        ENTRYPOINT,
        PACKAGES,
        repr((python, arch, RECIPES[(python, arch)])),
        inspect.getsource(_shape),
        inspect.getsource(_runtime_dir),
        RUNTIME_LOCK.read_text(),
    ]
    return hashlib.sha256("\0".join(recipe).encode()).hexdigest()[:12]


def tag_for(python: str, arch: str) -> str:
    return f"{REPOSITORY}:python{python}-{arch}-{recipe_hash(python, arch)}"


def _shape(root: Path, python: str) -> None:
    """Lay the Debian tree out like the Lambda image."""
    for directory in (
        "var/lang/bin",
        f"var/lang/lib/python{python}/site-packages",
        "var/task",
        "var/runtime",
        "opt",
    ):
        (root / directory).mkdir(parents=True, exist_ok=True)
    interpreter = f"/usr/bin/python{python}"
    for name in ("python3", f"python{python}", "python"):
        link = root / "var/lang/bin" / name
        link.unlink(missing_ok=True)
        link.symlink_to(interpreter)
    for name in ("pip", "pip3"):
        script = root / "var/lang/bin" / name
        script.write_text(f'#!/bin/sh\nexec {interpreter} -m pip "$@"\n')
        script.chmod(0o755)
    entrypoint = root / "lambda-entrypoint.sh"
    entrypoint.write_text(ENTRYPOINT)
    entrypoint.chmod(0o755)
    (root / f"usr/lib/python{python}/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    for tool in ("usr/bin/find", "usr/bin/zip", "usr/bin/unzip"):
        (root / tool).unlink(missing_ok=True)
    for cache in ("var/lib/apt/lists", "var/cache/apt/archives", "usr/share/doc", "usr/share/man"):
        shutil.rmtree(root / cache, ignore_errors=True)


def _runtime_dir(root: Path, python: str, arch: str) -> None:
    """/var/runtime as the official image has it: boto3, botocore and awslambdaric (the runtime
    interface client), for this Python and CPU, from the hash-locked pins, by the host's pip."""
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[arch]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--target", str(root / "var/runtime"), "--no-deps", "--require-hashes"]
    command += ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    command += ["--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_17_{machine}"]
    command += ["--no-compile", "-r", str(RUNTIME_LOCK)]
    subprocess.run(command, check=True)
    shutil.rmtree(root / "var/runtime/bin", ignore_errors=True)


def _mirror() -> list[str]:
    """The Debian mirror this host's apt uses (debootstrap needs it when naming a script)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        try:
            text = source.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] or words[:1] == ["deb"]:
                uri = words[1] if words[0] == "URIs:" else words[-3]
                if uri.rstrip("/").endswith("/debian"):
                    return [uri]
    raise SystemExit("cannot find a Debian mirror in /etc/apt/sources.list(.d); add one")


def build(python: str, arch: str, client: docker.DockerClient) -> str:
    """The stand-in's tag, built first if this engine does not have it; a build of the same tag
    by another process on this machine is waited for, not repeated."""
    tag = tag_for(python, arch)
    lock = Path(tempfile.gettempdir()) / f"{tag.replace(':', '-')}.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            client.images.get(tag)
            return tag
        except ImageNotFound:
            return _build(tag, python, arch, client)


def _build(tag: str, python: str, arch: str, client: docker.DockerClient) -> str:
    suite, debian_arch, platform, interpreter, slow = RECIPES[(python, arch)]
    took = "10-15 minutes: debootstrap under emulation" if slow else "2-5 minutes"
    print(
        f"building {tag} from Debian {suite} ({debian_arch}); it takes {took}",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    script = SCRIPTS.get(suite)
    where = [*_mirror(), f"/usr/share/debootstrap/scripts/{script}"] if script else []
    with tempfile.TemporaryDirectory(prefix="lambdazip-standin-") as scratch:
        root = Path(scratch) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--arch={debian_arch}",
                f"--include={interpreter},{PACKAGES}",
                suite,
                str(root),
                *where,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        _shape(root, python)
        _runtime_dir(root, python, arch)
        context = Path(scratch) / "context"
        context.mkdir()
        with tarfile.open(context / "rootfs.tar", "w") as rootfs:
            rootfs.add(root, arcname=".")
        (context / "Dockerfile").write_text(DOCKERFILE)
        # FROM scratch + ADD under an explicit platform gives an image whose config names the
        # target architecture, as a pulled arm64 image would.
        client.images.build(
            path=str(context),
            tag=tag,
            platform=platform,
            labels={
                "lambdazip.standin": f"python{python}-{arch}",
                "lambdazip.recipe": recipe_hash(python, arch),
            },
            rm=True,
            forcerm=True,
        )
    image = client.images.get(tag)
    print(f"built {tag} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    wanted = platform.split("/")[1]
    if image.attrs.get("Architecture") != wanted:
        raise SystemExit(f"{tag} came out as {image.attrs.get('Architecture')}, not {wanted}")
    return tag


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", nargs=2, metavar=("PYTHON", "ARCH"))
    args = parser.parse_args(argv)
    client = docker.from_env()
    if args.tag:
        python, arch = args.tag
        print(build(python, arch, client))
        return 0
    # two at a time, the longest first (emulated, then slow): the emulated debootstraps keep one
    # core busy for minutes, the native ones mostly wait on the network and the disk
    order = sorted(RECIPES, key=lambda k: (not RECIPES[k].slow, k[1] != "arm64", k))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for tag in pool.map(lambda key: build(key[0], key[1], client), order):
            print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
