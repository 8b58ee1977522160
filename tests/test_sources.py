"""What of --src goes into a function (lambdazip/inputs/source.py and the plan): on real
directories, no engine needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lambdazip.build.plan import make_plan
from lambdazip.errors import UsageError
from lambdazip.inputs.source import select
from lambdazip.judge.checks import Kind
from lambdazip.targets import RUNTIMES, Arch, Target
from tests.wheels import REPO

TARGET = Target(RUNTIMES["3.13"], Arch.X86_64)


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "app.py").write_text("def handler(event, context):\n    return event\n")
    (src / "pkg" / "__init__.py").write_text("")
    return src


def _names(src: Path, out: Path, include: tuple[str, ...] = ()) -> list[str]:
    return [m.arcname for m in select(src, out, include).members]


def test_vcs_host_caches_and_editor_files_are_left_out_and_listed(tmp_path: Path) -> None:
    src = _src(tmp_path)
    junk = [".git/HEAD", ".git/objects/ab/cd", "__pycache__/app.cpython-311.pyc",
            "pkg/__pycache__/x.cpython-311.pyc", ".venv/bin/python", ".DS_Store", "app.py.swp",
            ".idea/workspace.xml", ".pytest_cache/v", ".mypy_cache/x"]  # fmt: skip
    for name in junk:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("x")
    selection = select(src, tmp_path / "dist")
    assert [m.arcname for m in selection.members] == ["app.py", "pkg/__init__.py"]
    assert sorted(x.path for x in selection.left_out) == sorted(junk)
    assert {x.reason for x in selection.left_out} == {
        "version control", "a host cache", "an editor or OS file"
    }  # fmt: skip


def test_secrets_are_refused_unless_included(tmp_path: Path) -> None:
    src = _src(tmp_path)
    for name in (".env", "config/.env.production", "keys/id_rsa", "certs/server.pem",
                 ".aws/credentials", ".netrc"):  # fmt: skip
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("secret")
    with pytest.raises(UsageError, match=r"typically hold secrets: \.aws/credentials, \.env") as e:
        select(src, tmp_path / "dist")
    assert "--include" in (e.value.tip or "")
    (src / ".lambdazipignore").write_text(".aws/\nkeys/\ncerts/\n.netrc\nconfig/\n")
    with pytest.raises(UsageError, match=r"secrets: \.env$"):
        select(src, tmp_path / "dist")
    assert ".env" in _names(src, tmp_path / "dist", (".env",))


def test_lambdazipignore_is_gitignore_syntax(tmp_path: Path) -> None:
    src = _src(tmp_path)
    for name in ("docs/index.md", "tests/test_app.py", "pkg/data.csv", "pkg/keep.csv"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("x")
    (src / ".lambdazipignore").write_text("docs/\n/tests\n*.csv\n!keep.csv\n")
    assert _names(src, tmp_path / "dist") == ["app.py", "pkg/__init__.py", "pkg/keep.csv"]


def test_the_output_directory_inside_src_is_never_an_input(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "dist").mkdir()
    (src / "dist" / "src-python3.13-x86_64.zip").write_bytes(b"PK previous")
    (src / "dist" / "src-python3.13-x86_64.manifest.json").write_text("{}")
    selection = select(src, src / "dist")
    assert [m.arcname for m in selection.members] == ["app.py", "pkg/__init__.py"]
    assert {x.reason for x in selection.left_out} == {"the output directory"}


def test_an_earlier_output_directory_inside_src_is_never_an_input(tmp_path: Path) -> None:
    """`src = "."` and an output-dir since changed (or a one-off -o): the directory holding
    lambdazip's ledger is an output directory too, and a ledger is never code."""
    from lambdazip.outputs.ledger import LEDGER

    src = _src(tmp_path)
    for old in ("build/zips", "oneoff"):
        (src / old).mkdir(parents=True)
        (src / old / "src-python3.13-x86_64.zip").write_bytes(b"PK previous")
        (src / old / LEDGER).write_text("{}")
    (src / LEDGER).write_text("{}")  # (src itself written into: the ledger alone left out)
    selection = select(src, src / "dist")
    assert [m.arcname for m in selection.members] == ["app.py", "pkg/__init__.py"]
    assert {x.reason for x in selection.left_out} == {"the output directory"}


def test_links_inside_are_followed_and_a_link_out_is_an_input_error(tmp_path: Path) -> None:
    src = _src(tmp_path)
    (src / "shared").symlink_to(src / "pkg", target_is_directory=True)
    assert _names(src, tmp_path / "dist") == ["app.py", "pkg/__init__.py", "shared/__init__.py"]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (src / "out").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UsageError, match=r"is a link to .*, outside --src") as e:
        select(src, tmp_path / "dist")
    assert e.value.exit_code == 2


def test_a_name_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    src = _src(tmp_path)
    with open(bytes(src) + b"/caf\xe9.py", "wb") as fh:
        fh.write(b"X = 1\n")
    with pytest.raises(UsageError, match=r"the file name 'caf\\\\xe9.py' is not UTF-8"):
        select(src, tmp_path / "dist")


def _plan(tmp_path: Path, src: Path, **kwargs: object) -> object:
    options: dict[str, object] = {
        "kind": Kind.FUNCTION, "target": TARGET, "requirements": REPO / "requirements.txt",
        "src": src, "out_dir": tmp_path / "dist", "name": None, "base_image": None,
        "ca_bundle": None, "env": {}, "epoch": 315532800,
    }  # fmt: skip
    return make_plan(**{**options, **kwargs})  # type: ignore[arg-type]


def test_sizes_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    src = _src(tmp_path)
    big = src / "model.bin"
    with big.open("wb") as fh:
        fh.truncate(263_000_000)  # sparse: no disk used
    with pytest.raises(UsageError, match=r"over the 262,144,000 bytes .* model\.bin \(263,000,000"):
        _plan(tmp_path, src)


def test_names_and_roots_that_are_not_names(tmp_path: Path) -> None:
    src = _src(tmp_path)
    with pytest.raises(UsageError, match="--name '' is not a plain file name"):
        _plan(tmp_path, src, name="")
    with pytest.raises(UsageError, match="is too long for a file name"):
        _plan(tmp_path, src, name="n" * 250)
    with pytest.raises(UsageError, match="is the whole file system"):
        _plan(tmp_path, Path(os.sep))


def test_the_smoke_event_and_handler_are_part_of_the_key(tmp_path: Path) -> None:
    src = _src(tmp_path)
    plain = _plan(tmp_path, src)
    smoked = _plan(tmp_path, src, handler="app.handler", smoke_event=b'{"a": 1}')
    other = _plan(tmp_path, src, handler="app.handler", smoke_event=b'{"a": 2}')
    keys = {p.cache_key("sha256:base", "ctx") for p in (plain, smoked, other)}  # type: ignore[attr-defined]
    assert len(keys) == 3


def test_requirements_written_with_a_bom_are_read(tmp_path: Path) -> None:
    """Windows editors start UTF-8 files with a byte order mark; pip accepts it, so do we."""
    from lambdazip.inputs.requirements import read_requirements

    lock = tmp_path / "requirements.txt"
    lock.write_bytes(b"\xef\xbb\xbf" + (REPO / "requirements.txt").read_bytes())
    read = read_requirements(lock, allow_unhashed=False, allow_empty=False)
    assert read.all_hashed
