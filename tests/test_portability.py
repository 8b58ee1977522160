"""Host-side code runs on Linux, macOS and Windows: pathlib, zipfile, tarfile and the SDK only, no
POSIX-only calls, no shelling out; paths of any host become `/`-separated names in archives; the
tar stream out of a container is unpacked into plain files, trusting none of it."""

from __future__ import annotations

import ast
import io
import tarfile
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from lambdazip.build.transfer import unpack
from lambdazip.errors import UnsafeArchive
from lambdazip.judge.tree import safe_member_path
from tests.zips import arcname

PACKAGE = Path(__file__).resolve().parent.parent / "lambdazip"
HOST_MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "inside" not in p.parts)  # Linux image
FORBIDDEN_MODULES = {"subprocess", "pwd", "grp", "fcntl", "termios", "resource", "pty", "posix"}
FORBIDDEN_CALLS = {
    "os.system", "os.popen", "os.fork", "os.uname", "os.getuid", "os.geteuid", "os.getgid",
    "os.chown", "os.symlink", "os.link", "os.mkfifo", "os.mknod", "os.setsid", "os.killpg",
    "os.getpgid", "os.spawnv", "os.execv", "os.execvp", "os.posix_spawn",
}  # fmt: skip
FORBIDDEN_METHODS = {"symlink_to", "hardlink_to", "lchmod", "is_mount"}
# the one program the host runs: the pinned uv (a binary of the `uv` package, built for every OS),
# by argument list, never through a shell
RUNS_A_PROGRAM = {"project.py": "uv export"}


@pytest.mark.parametrize("module", HOST_MODULES, ids=lambda p: p.name)
def test_host_code_uses_nothing_posix_only(module: Path) -> None:
    tree = ast.parse(module.read_text(), str(module))
    problems = []
    forbidden = FORBIDDEN_MODULES - ({"subprocess"} if module.name in RUNS_A_PROGRAM else set())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "shell":
            problems.append(f"line {node.value.lineno}: shell=")
        if isinstance(node, ast.Import):
            problems += [a.name for a in node.names if a.name.split(".")[0] in forbidden]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in forbidden:
                problems.append(node.module)
        elif isinstance(node, ast.Attribute):
            dotted = f"{getattr(node.value, 'id', '')}.{node.attr}"
            if dotted in FORBIDDEN_CALLS or node.attr in FORBIDDEN_METHODS:
                problems.append(f"line {node.lineno}: {dotted}")
    assert problems == []


@pytest.mark.parametrize(
    ("path", "root", "prefix", "name"),
    [
        (PureWindowsPath(r"C:\Users\ada\orders\app.py"), PureWindowsPath(r"C:\Users\ada\orders"),
         "", "app.py"),
        (PureWindowsPath(r"C:\b\tree\pkg\sub\m.py"), PureWindowsPath(r"C:\b\tree"), "python",
         "python/pkg/sub/m.py"),
        (PureWindowsPath(r"\\server\share\src\a.py"), PureWindowsPath(r"\\server\share\src"),
         "python\\", "python/a.py"),
        (PurePosixPath("/Users/ada/src/pkg/a.py"), PurePosixPath("/Users/ada/src"), "/python/",
         "python/pkg/a.py"),
    ],
)  # fmt: skip
def test_any_hosts_paths_become_slash_separated_names(
    path: PureWindowsPath, root: PureWindowsPath, prefix: str, name: str
) -> None:
    assert arcname(path, root, prefix) == name


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("python\\pkg\\mod.py", "python/pkg/mod.py"),  # a zip made on Windows
        ("python/pkg/./mod.py", "python/pkg/mod.py"),
        ("C:\\Windows\\system.ini", None),
        ("\\\\server\\share\\x", None),
        ("python\\..\\..\\x", None),
    ],
)
def test_archive_member_names_from_windows(member: str, expected: str | None) -> None:
    assert safe_member_path(member) == expected


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> list[bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buffer.getvalue()
    return [raw[i : i + 700] for i in range(0, len(raw), 700)]  # chunks, as the engine sends


def _file(name: str, data: bytes, mode: int = 0o600) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, None


def test_unpack_writes_plain_files_and_copies_links_inside(tmp_path: Path) -> None:
    chunks = _tar(
        _file("python/pkg/a.py", b"A = 1\n"),
        _file("python/bin/tool", b"#!/bin/sh\n", 0o700),
        _special("python/pkg/b.py", tarfile.SYMTYPE, "a.py"),
        _special("python/alias", tarfile.SYMTYPE, "pkg"),
    )
    assert unpack(chunks, tmp_path / "out") == 3
    out = tmp_path / "out"
    assert (out / "pkg" / "b.py").read_bytes() == b"A = 1\n"
    assert not (out / "pkg" / "b.py").is_symlink()
    assert (out / "alias" / "a.py").read_bytes() == b"A = 1\n"
    assert oct((out / "bin" / "tool").stat().st_mode & 0o777) == oct(0o755)
    assert oct((out / "pkg" / "a.py").stat().st_mode & 0o777) == oct(0o644)


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (_file("/etc/passwd", b"x"), "unsafe name"),
        (_file("python/../../escape", b"x"), "unsafe name"),
        (_special("python/up", tarfile.SYMTYPE, "../../etc"), "outside the tree"),
        (_special("python/abs", tarfile.SYMTYPE, "/etc/passwd"), "outside the tree"),
        (_special("python/hard", tarfile.LNKTYPE, "python/a"), "not a regular file"),
        (_special("python/dev", tarfile.CHRTYPE), "not a regular file"),
        (_special("python/fifo", tarfile.FIFOTYPE), "not a regular file"),
        (_special("python/dangling", tarfile.SYMTYPE, "nothing-here"), "links"),
    ],
)
def test_unpack_refuses_what_could_leave_the_tree(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None], words: str
) -> None:
    with pytest.raises(UnsafeArchive, match=words):
        unpack(_tar(member), tmp_path / "out")
    assert not (tmp_path / "etc").exists()
    assert not (tmp_path / "escape").exists()


def test_unpack_caps_the_total(tmp_path: Path) -> None:
    chunks = _tar(_file("python/a", bytes(600)), _file("python/b", bytes(600)))
    with pytest.raises(UnsafeArchive, match="larger than 1,000 bytes"):
        unpack(chunks, tmp_path / "out", limit=1000)
