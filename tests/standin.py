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
import hashlib
import inspect
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

REPOSITORY = "lambdazip-standin"

# (python, arch) -> (Debian suite, Debian architecture, OCI platform)
RECIPES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("3.11", "x86_64"): ("bookworm", "amd64", "linux/amd64"),
    ("3.11", "arm64"): ("bookworm", "arm64", "linux/arm64"),
    ("3.13", "x86_64"): ("trixie", "amd64", "linux/amd64"),
}

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


PACKAGES = "python3,python3-pip,ca-certificates"


def recipe_hash() -> str:
    """A digest of everything that decides an image's content, and nothing else."""
    recipe = [
        DOCKERFILE,
        ENTRYPOINT,
        PACKAGES,
        repr(sorted(RECIPES.items())),
        inspect.getsource(_shape),
    ]
    return hashlib.sha256("\0".join(recipe).encode()).hexdigest()[:12]


def tag_for(python: str, arch: str) -> str:
    return f"{REPOSITORY}:python{python}-{arch}-{recipe_hash()}"


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


def build(python: str, arch: str, client: docker.DockerClient) -> str:
    tag = tag_for(python, arch)
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    suite, debian_arch, platform = RECIPES[(python, arch)]
    print(f"building {tag} from Debian {suite} ({debian_arch})", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="lambdazip-standin-") as scratch:
        root = Path(scratch) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--arch={debian_arch}",
                "--include=python3,python3-pip,ca-certificates",
                suite,
                str(root),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        _shape(root, python)
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
                "lambdazip.recipe": recipe_hash(),
            },
            rm=True,
            forcerm=True,
        )
    image = client.images.get(tag)
    wanted = platform.split("/")[1]
    if image.attrs.get("Architecture") != wanted:
        raise SystemExit(f"{tag} came out as {image.attrs.get('Architecture')}, not {wanted}")
    return tag


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", nargs=2, metavar=("PYTHON", "ARCH"))
    args = parser.parse_args(argv)
    client = docker.from_env()
    wanted = [tuple(args.tag)] if args.tag else list(RECIPES)
    for python, arch in wanted:
        print(build(python, arch, client))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
