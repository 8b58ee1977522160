"""The deterministic writer: the same files give the same bytes whatever the host did to them."""

from __future__ import annotations

import hashlib
import os
import stat
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambdazip.errors import OutputError, UsageError
from lambdazip.outputs.archive import ZIP_EPOCH, source_date_epoch
from tests.zips import collect, write_zip

FILES = {
    "python/pkg/__init__.py": b"from .core import run\n",
    "python/pkg/core.py": b"def run():\n    return 42\n",
    "python/pkg/data/z.json": b"{}\n",
    "python/pkg/data/a.json": b"[]\n",
    "python/bin/tool": b"#!/bin/sh\necho hi\n",
}


@pytest.fixture
def host_state() -> Iterator[None]:
    """Restore the umask and TZ the tests change."""
    umask = os.umask(0o022)
    os.umask(umask)
    tz = os.environ.get("TZ")
    yield
    os.umask(umask)
    if tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = tz
    time.tzset()


def _make_tree(root: Path, order: list[str], umask: int, tz: str, mtime: int) -> None:
    os.umask(umask)
    os.environ["TZ"] = tz
    time.tzset()
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(FILES[name])
        if name.endswith("/tool"):
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        os.utime(path, (mtime, mtime))
        mtime += 3601


@pytest.mark.usefixtures("host_state")
def test_same_bytes_under_different_umask_tz_mtimes_and_order(tmp_path: Path) -> None:
    names = sorted(FILES)
    _make_tree(tmp_path / "a", names, 0o022, "UTC", 1_000_000_000)
    _make_tree(tmp_path / "b", names[::-1], 0o077, "America/St_Johns", 1_700_000_123)
    epoch = source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"})

    os.environ["TZ"] = "Asia/Kathmandu"
    time.tzset()
    first = write_zip(tmp_path / "a.zip", collect(tmp_path / "a"), epoch=epoch)
    os.umask(0o000)
    os.environ["TZ"] = "Pacific/Chatham"
    time.tzset()
    second = write_zip(tmp_path / "b.zip", collect(tmp_path / "b"), epoch=epoch)

    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    assert (first.files, first.unzipped_size) == (len(FILES), sum(map(len, FILES.values())))


@pytest.mark.usefixtures("host_state")
def test_entries_are_sorted_dated_and_normalised(tmp_path: Path) -> None:
    _make_tree(tmp_path / "t", sorted(FILES), 0o077, "UTC", 1_000_000_000)
    epoch = 1_700_000_000
    result = write_zip(tmp_path / "out.zip", collect(tmp_path / "t"), epoch=epoch)
    with zipfile.ZipFile(result.path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(FILES)
    assert {i.date_time for i in infos} == {time.gmtime(epoch)[:6]}
    modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in infos}
    assert modes.pop("python/bin/tool") == 0o755
    assert set(modes.values()) == {0o644}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    assert {i.create_system for i in infos} == {3}
    assert all(i.extra == b"" for i in infos)


def test_prefix_places_a_tree_under_python(tmp_path: Path) -> None:
    (tmp_path / "t" / "pkg").mkdir(parents=True)
    (tmp_path / "t" / "pkg" / "m.py").write_text("")
    members = collect(tmp_path / "t", prefix="python/")
    assert [m.arcname for m in members] == ["python/pkg/m.py"]


def test_source_date_epoch_is_clamped_and_validated() -> None:
    assert source_date_epoch({}) == ZIP_EPOCH
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "0"}) == ZIP_EPOCH
    assert source_date_epoch({"SOURCE_DATE_EPOCH": " 1700000000 "}) == 1_700_000_000
    with pytest.raises(UsageError, match="not a whole number"):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})


def test_failure_leaves_the_previous_artifact_and_no_temporary(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "a.py").write_text("A = 1\n")
    dest = tmp_path / "out.zip"
    good = write_zip(dest, collect(tree))
    before = dest.read_bytes()

    members = collect(tree)
    (tree / "a.py").unlink()  # vanishes between collection and writing
    with pytest.raises(OutputError, match="cannot write"):
        write_zip(dest, members)
    assert dest.read_bytes() == before
    assert good.sha256 == hashlib.sha256(before).hexdigest()  # what was reported is on disk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip", "t"]


def test_a_link_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tmp_path / "secret").write_text("token")
    (tree / "leak").symlink_to(tmp_path / "secret")
    with pytest.raises(OutputError, match="leak links outside the tree"):
        collect(tree)


def test_an_unwritable_destination_is_one_error(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "a.py").write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        write_zip(tmp_path / "missing-dir" / "out.zip", collect(tree))


def test_links_inside_the_tree_are_stored_as_what_they_point_to(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "pkg" / "data").mkdir(parents=True)
    (tree / "pkg" / "data" / "x.txt").write_text("x")
    (tree / "pkg" / "run.sh").write_text("#!/bin/sh\n")
    (tree / "pkg" / "run.sh").chmod(0o755)
    (tree / "pkg" / "alias.sh").symlink_to("run.sh")
    (tree / "pkg" / "more").symlink_to("data")
    members = {m.arcname: m for m in collect(tree, "python")}
    assert sorted(members) == [
        "python/pkg/alias.sh",
        "python/pkg/data/x.txt",
        "python/pkg/more/x.txt",
        "python/pkg/run.sh",
    ]
    assert members["python/pkg/alias.sh"].executable
    assert not members["python/pkg/more/x.txt"].executable


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda t: (t / "gone").symlink_to("nothing"), "gone links to nothing"),
        (lambda t: (t / "loop").symlink_to("."), "loop links to a directory that contains it"),
        (lambda t: os.mkfifo(t / "pipe"), "pipe is not a regular file"),
    ],
    ids=["dangling", "loop", "fifo"],
)
def test_what_cannot_be_a_zip_member_is_named(
    tmp_path: Path, make: Callable[[Path], None], said: str
) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    make(tree)
    with pytest.raises(OutputError, match=said):
        collect(tree)


def test_the_artifact_set_is_put_in_place_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk with room for the zip and the manifest but not the SBOM: nothing of the new
    build is kept, and the previous set is as it was (tests/test_faults.py interrupts real
    builds at random points)."""
    import errno

    from lambdazip.outputs.manifest import put_set_in_place

    previous = {"layer.zip": b"old zip", "layer.manifest.json": b"{}", "layer.cdx.json": b"{}"}
    for name, data in previous.items():
        (tmp_path / name).write_bytes(data)
    staged = tmp_path / ".layer.zip.staged"
    staged.write_bytes(b"new zip")

    class Written:  # what put_set_in_place asks of a manifest: its JSON
        def model_dump_json(self, indent: int) -> str:
            return '{"new": true}'

    real_write = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        if ".cdx.json." in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    monkeypatch.setattr("lambdazip.outputs.sbom.sbom_json", lambda _m: "{}")
    with pytest.raises(OutputError, match="No space left on device; nothing of this build"):
        put_set_in_place(
            staged,
            tmp_path / "layer.zip",
            tmp_path / "layer.manifest.json",
            tmp_path / "layer.cdx.json",
            Written(),  # type: ignore[arg-type]
        )
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p != staged} == previous
    assert staged.read_bytes() == b"new zip"  # the caller removes it (builder.build)
