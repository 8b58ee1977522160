#!/usr/bin/env bash
# Make this machine able to run the integration tests, idempotently: debootstrap, docker-registry
# (tests/registry.py runs it on loopback), podman (tests/podman.py serves its Docker API), qemu
# (arm64 runs emulated on x86_64), binfmt_misc mounted with qemu-aarch64 registered, and the
# stand-in images of the Lambda runtime (tests/standin.py), which are reused while their recipe
# holds.
#
#   tests/setup.sh [PYTHON]        # PYTHON: the venv's interpreter (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-.venv/bin/python}

missing=()
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)  # tests/registry.py
[ -x /usr/bin/podman ] || missing+=(podman)  # tests/podman.py: the engine many use instead
command -v htpasswd >/dev/null || missing+=(apache2-utils)  # a registry's login (bcrypt)
if [ "$(uname -m)" != aarch64 ]; then
  [ -e /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
  command -v update-binfmts >/dev/null || [ -x /usr/sbin/update-binfmts ] || missing+=(binfmt-support)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: the integration tests need ${missing[*]}; install them: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "==> installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null; then
    # the package enables a registry service on :5000; the tests start their own on loopback
    systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  fi
fi

if [ "$(uname -m)" != aarch64 ]; then
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    PATH="$PATH:/usr/sbin" update-binfmts --enable qemu-aarch64
  fi
fi

echo "==> stand-in images of the Lambda runtime" >&2
PATH="$PATH:/usr/sbin" "$python" -m tests.standin
