"""`lambdazip build`: the layers and functions pyproject.toml's [tool.lambdazip] declares, layers
first, each function without what its layers provide, checked with them; one summary."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from lambdazip.cli import main
from tests.conftest import host_env
from tests.projects import uv_project
from tests.wheels import REPO

TOOL = """
[tool.lambdazip]
python = ["3.11"]
arch = ["x86_64"]

[tool.lambdazip.layers.deps]

[tool.lambdazip.functions.api]
src = "src"
handler = "orders.app.handler"
layers = ["deps"]
extra = ["fast"]
smoke-event = "event.json"
environment = { ORDERS_STAGE = "stage-value-x9" }

[tool.lambdazip.functions.worker]
src = "src"
handler = "orders.app.handler"
layers = ["deps"]
"""


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('[tool.lambdazip.functions.api]\nsrc = "src"\nhandlr = "a.b"\n',
         "[tool.lambdazip.functions.api.handlr] is not a known key"),
        ('[tool.lambdazip.functions.api]\nsrc = "src"\nlayers = ["nope"]\n',
         "functions.api uses layer 'nope', which is not declared"),
        ('[tool.lambdazip]\npython = ["3.11"]\n',
         "declares no [tool.lambdazip] layers or functions"),
        ('[tool.lambdazip.layers.deps]\nlock = "a"\nrequirements = "b"\n',
         "[tool.lambdazip.layers.deps] give lock or requirements, not both"),
        ('[tool.lambdazip]\npython = ["3.11"]\n[tool.lambdazip.functions.api]\nsrc = "."\n'
         'environment = { AWS_REGION = "eu-west-1" }\n',
         "AWS_REGION is set by Lambda itself: a function's configuration may not set it"),
        ('[tool.lambdazip.layers.http]\n[tool.lambdazip.functions.http]\nsrc = "."\n',
         "layers.http and functions.http would write the same files (http-python3.X-ARCH.zip "
         "and its manifest): give one another name"),
        ('[tool.lambdazip.layers.Deps]\n[tool.lambdazip.functions.deps]\nsrc = "."\n',
         "layers.Deps and functions.deps would write the same files (deps-python3.X-ARCH.zip "
         "and its manifest, one on a case-insensitive file system): give one another name"),
        ('[tool.lambdazip.layers.api]\n[tool.lambdazip.layers.API]\n',
         "layers.api and layers.API would write the same files (API-python3.X-ARCH.zip and its "
         "manifest, one on a case-insensitive file system)"),
        ('[tool.lambdazip.layers.deps]\n[tool.lambdazip.functions.api]\nsrc = "."\n'
         'layers = ["deps", "deps"]\n',
         "functions.api names layer 'deps' twice: Lambda takes each once"),
    ],
)  # fmt: skip
def test_a_wrong_table_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, words: str
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n' + table)
    assert main(["build", "--project", str(tmp_path)], env={}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert words in err[0]


_LAID_OUT = """
[tool.lambdazip]
python = ["3.13"]
[tool.lambdazip.layers.deps]
requirements = "locks/deps.txt"
[tool.lambdazip.functions.api]
src = "../services/api"
handler = "app.handler"
layers = ["deps"]
requirements = "locks/none.txt"
"""


@pytest.mark.parametrize(
    ("old", "new", "words", "tip"),
    [
        ('requirements = "locks/deps.txt"', 'requirements = "locks/gone.txt"',
         "[tool.lambdazip.layers.deps] requirements = 'locks/gone.txt': ",
         "fix the path (relative to pyproject.toml), or make the file: `uv pip compile"),
        ('requirements = "locks/deps.txt"', "",
         "[tool.lambdazip.layers.deps] names no lock or requirements file, and ",
         'lock the project (`uv lock`), or set requirements = "FILE" in '
         "[tool.lambdazip.layers.deps]"),
        ('requirements = "locks/deps.txt"', 'requirements = "locks/deps.txt"\ngroup = ["a"]',
         "[tool.lambdazip.layers.deps] installs from deps.txt, a requirements file, but chooses a "
         "group", 'remove group from the file\'s table, or set lock = "uv.lock" in'),
        ('src = "../services/api"', 'src = "../services/gone"',
         "[tool.lambdazip.functions.api] src = '../services/gone': ",
         "point src at the directory of the function's code"),
        ('handler = "app.handler"', 'handler = "application"',
         "[tool.lambdazip.functions.api] handler = 'application' is not MODULE.FUNCTION",
         'e.g. handler = "app.handler" in [tool.lambdazip.functions.api]'),
        ('handler = "app.handler"', 'handler = "orders.app.handler"',
         "[tool.lambdazip.functions.api] handler = 'orders.app.handler': ",
         "add orders/app.py to "),
        ('handler = "app.handler"', 'handler = "app.handler"\nsmoke-event = "event.json"',
         "[tool.lambdazip.functions.api] smoke-event = 'event.json': ",
         "point smoke-event at a JSON event file"),
    ],
)  # fmt: skip
def test_a_project_s_missing_input_is_said_in_the_file_s_terms_before_any_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, words: str, tip: str
) -> None:
    """Infra in a directory of its own, the code in ../services: every mistake names the table
    and key to fix (never -r, --src or --handler, which `build` has not), before any container
    (the unit tier has no engine)."""
    project = tmp_path / "infra"
    (project / "locks").mkdir(parents=True)
    (project / "locks" / "deps.txt").write_text("# nothing\n")
    (project / "locks" / "none.txt").write_text("# nothing\n")
    (tmp_path / "services" / "api").mkdir(parents=True)
    (tmp_path / "services" / "api" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (project / "pyproject.toml").write_text(_LAID_OUT.replace(old, new, 1))
    assert main(["build", "--project", str(project)], env={}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert words in err[0]
    assert tip in err[0]
    for flag in (" -r", "--src", "--handler", "--project", "--group"):
        assert flag not in err[0]


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"locks/none.txt": "six==1.17.0\n"},
         "[tool.lambdazip.functions.api] "),
        ({"event.json": "{not json"}, "[tool.lambdazip.functions.api] the event "),
        ({"../services/api/.env": "SECRET=1\n"},
         "[tool.lambdazip.functions.api] --src "),
    ],
)  # fmt: skip
def test_a_function_s_mistake_is_said_before_its_layers_are_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], words: str
) -> None:
    """What only the function's plan finds (an unhashed requirements file, an event that is not
    JSON, a secret in its code): said before anything is built (no engine in this tier), in one
    line naming its table."""
    project = tmp_path / "infra"
    (project / "locks").mkdir(parents=True)
    (project / "locks" / "deps.txt").write_bytes((REPO / "requirements.txt").read_bytes())
    (project / "locks" / "none.txt").write_text("# nothing\n")
    (project / "event.json").write_text("{}")
    (tmp_path / "services" / "api").mkdir(parents=True)
    (tmp_path / "services" / "api" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    for name, text in files.items():
        (project / name).write_text(text)
    table = _LAID_OUT.replace(
        'handler = "app.handler"', 'handler = "app.handler"\nsmoke-event = "event.json"'
    )
    (project / "pyproject.toml").write_text(table)
    assert main(["build", "--project", str(project)], env={}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {words}")
    assert not (project / "dist").exists()


@pytest.mark.integration
@pytest.mark.network
def test_layers_first_then_functions_without_what_the_layers_hold(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = uv_project(tmp_path / "orders")
    with (project / "pyproject.toml").open("a") as fh:
        fh.write(TOOL)
    (project / "event.json").write_text('{"id": 1, "items": ["x"]}')
    image = f"3.11/x86_64={images['3.11', 'x86_64']}"
    code = main(["build", "--project", str(project), "--base-image", image], env=host_env())
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = [line.split() for line in captured.out.splitlines() if line.strip()]
    assert [row[:4] for row in table[1:]] == [
        ["deps", "layer", "python3.11-x86_64", "built"],
        ["api", "function", "python3.11-x86_64", "built"],
        ["worker", "function", "python3.11-x86_64", "built"],
    ]
    dist = project / "dist"
    with zipfile.ZipFile(dist / "deps-python3.11-x86_64.zip") as layer:
        assert "python/pydantic/__init__.py" in layer.namelist()
    with zipfile.ZipFile(dist / "api-python3.11-x86_64.zip") as api:
        names = api.namelist()
    assert "orders/app.py" in names
    assert any(n.startswith("orjson/") for n in names)  # its own extra: not in the layer
    assert not any(n.startswith(("pydantic/", "pydantic_core/")) for n in names)
    manifest = json.loads((dist / "api-python3.11-x86_64.manifest.json").read_text())
    left = {x["path"]: x["reason"] for x in manifest["left_out"]}
    assert left[next(p for p in left if p.startswith("pydantic=="))] == (
        "provided by its layers, at this version"
    )
    assert {d["name"] for d in manifest["distributions"]} == {"orjson"}
    assert manifest["inputs"]["configuration"] == ["ORDERS_STAGE"]  # the name, never the value
    assert not any(b"stage-value-x9" in p.read_bytes() for p in dist.iterdir())
    with zipfile.ZipFile(dist / "worker-python3.11-x86_64.zip") as worker:
        assert not any(".dist-info/" in n for n in worker.namelist())  # all in the layer
    # the function rebuilt from its manifest alone (its lock, extra and layers): the same bytes
    assert main(["verify", str(dist / "api-python3.11-x86_64.zip")], env=host_env()) == 0
    assert "reproduced: " in capsys.readouterr().err
    # nothing changed: every artifact is reused (api's smoke event runs again, in a container)
    assert main(["build", "--project", str(project), "--base-image", image], env=host_env()) == 0
    out = capsys.readouterr().out
    assert out.count(" reused ") == 3
    # what the deploy tools' recipes read: one versioned document (docs/deploy-tools.md)
    argv = ["build", "--project", str(project), "--base-image", image, "--json"]
    assert main(argv, env=host_env()) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["schema_version"], document["ok"]) == (1, True)
    rows = {a["name"]: a for a in document["artifacts"]}
    assert list(rows) == ["deps", "api", "worker"]
    api = rows["api"]
    digest = hashlib.sha256(Path(api["zip"]).read_bytes()).digest()
    assert api["sha256"] == digest.hex()
    assert api["code_sha256"] == base64.b64encode(digest).decode()  # Lambda's CodeSha256
    assert (api["runtime"], api["architecture"]) == ("python3.11", "x86_64")
    assert api["layers"] == ["deps"]
    assert (api["handler"], api["status"], api["error"]) == ("orders.app.handler", "reused", None)
    assert api["size"] == Path(api["zip"]).stat().st_size
    assert json.loads(Path(api["manifest"]).read_text())["sha256"] == api["sha256"]
    assert Path(api["sbom"]).is_file()


def test_a_layer_s_facts_are_kept_by_its_bytes(tmp_path: Path) -> None:
    """A layer read once is not read again by the next command (a function's code changed): its
    facts come back from the user cache equal to what reading the zip gives, ELF facts, dists
    and pycs included; a damaged note is read past and written again."""
    import _bz2
    import shutil

    from lambdazip.build.session import LayerFacts
    from lambdazip.judge.facts import gather
    from lambdazip.judge.tree import open_tree
    from lambdazip.oci.store import CACHE_VARIABLE, BlobStore
    from lambdazip.outputs.archive import sha256_file
    from tests.zips import collect, write_zip

    tree = tmp_path / "tree"
    site = tree / "python"
    site.mkdir(parents=True)
    extension = Path(_bz2.__file__)  # a real ELF extension module, this host's
    shutil.copy(extension, site / extension.name)
    (site / "orders.py").write_text(f"import {extension.name.split('.')[0]}\n")
    info = site / "orders-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: orders\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"orders.py,,\n{extension.name},,\n")
    layer = tmp_path / "layer.zip"
    write_zip(layer, collect(tree))
    with open_tree(layer) as opened:
        read = gather(opened)
    assert read.shared_objects
    assert read.dists

    store = BlobStore.of({CACHE_VARIABLE: str(tmp_path / "cache")})
    digest = sha256_file(layer)
    assert LayerFacts()(layer, digest, store) == read  # gathered, and kept
    notes = list((tmp_path / "cache").rglob(f"facts-*-{digest}.json"))
    assert len(notes) == 1
    assert LayerFacts()(layer, digest, store) == read  # the next command: from the note
    kept = json.loads(notes[0].read_text())
    kept["facts"]["zipped_size"] = 1  # (a note changed: it is what the next command reads)
    notes[0].write_text(json.dumps(kept))
    assert LayerFacts()(layer, digest, store).zipped_size == 1
    moved = tmp_path / "elsewhere.zip"
    shutil.copy(layer, moved)
    assert LayerFacts()(moved, digest, store).source == str(moved)  # named as it is now
    notes[0].write_text('{"facts": {"source": 1}}')
    assert LayerFacts()(layer, digest, store) == read
    assert json.loads(notes[0].read_text())["facts"]["zipped_size"] == read.zipped_size


def _fake_output(out: Path, name: str, body: bytes = b"zip") -> None:
    """A zip with the manifest and SBOM a build writes beside it (the fields the ledger reads)."""
    (out / name).write_bytes(body)
    manifest = {
        "tool": "lambdazip 0.1.0",
        "artifact": name,
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    (out / name).with_suffix(".manifest.json").write_text(json.dumps(manifest))
    (out / name).with_suffix(".cdx.json").write_text("{}")


def test_build_removes_only_its_own_artifacts_the_project_no_longer_declares(
    tmp_path: Path,
) -> None:
    """outputs/ledger.py: of what this project's builds wrote, what it declares no more goes
    (zip, manifest, SBOM); another project's, a file put there by hand and a zip changed since it
    was written stay."""
    from lambdazip.outputs.ledger import LEDGER, settle

    out, project, other = tmp_path / "dist", tmp_path / "p", tmp_path / "q"
    out.mkdir()
    for directory in (project, other):
        directory.mkdir()
        (directory / "pyproject.toml").write_text("[tool.lambdazip.functions.api]\nsrc = '.'\n")
    for name in ("api-python3.13-x86_64.zip", "old-python3.13-x86_64.zip", "edited-x.zip"):
        _fake_output(out, name)
    _fake_output(out, "theirs-python3.13-x86_64.zip")
    (out / "notes.txt").write_text("mine")
    written = ["api-python3.13-x86_64.zip", "old-python3.13-x86_64.zip", "edited-x.zip"]
    assert settle(out, project, set(written), written) == []
    assert (
        settle(out, other, {"theirs-python3.13-x86_64.zip"}, ["theirs-python3.13-x86_64.zip"]) == []
    )
    (out / "edited-x.zip").write_bytes(b"changed by hand")
    kept: list[Path] = []
    removed = settle(
        out, project, {"api-python3.13-x86_64.zip"}, ["api-python3.13-x86_64.zip"], kept
    )
    assert removed == [out / "old-python3.13-x86_64.zip"]
    assert kept == [out / "edited-x.zip"]  # (said once: the ledger lists it no more)
    assert sorted(p.name for p in out.iterdir()) == sorted([
        LEDGER, "notes.txt", "edited-x.zip", "edited-x.manifest.json", "edited-x.cdx.json",
        "api-python3.13-x86_64.zip", "api-python3.13-x86_64.manifest.json",
        "api-python3.13-x86_64.cdx.json", "theirs-python3.13-x86_64.zip",
        "theirs-python3.13-x86_64.manifest.json", "theirs-python3.13-x86_64.cdx.json",
    ])  # fmt: skip
    ledger = json.loads((out / LEDGER).read_text())["projects"]
    assert ledger[str(project.resolve())] == ["api-python3.13-x86_64.zip"]
    assert ledger[str(other.resolve())] == ["theirs-python3.13-x86_64.zip"]


def test_two_projects_in_one_output_directory_never_share_an_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Project q's last build wrote api-...zip into the shared directory: p, declaring an api too,
    is refused before anything is built (it would write over q's zip, and remove it once
    renamed), in one line naming q; p's own ledger listing the name does not let p remove it;
    once q is gone (its pyproject.toml), its entries are dropped."""
    from lambdazip.outputs.ledger import LEDGER, settle, theirs

    out, project, other = tmp_path / "build" / "out", tmp_path / "p", tmp_path / "q"
    out.mkdir(parents=True)
    table = '[tool.lambdazip]\npython = ["3.13"]\noutput-dir = "../build/out"\n'
    function = '[tool.lambdazip.functions.{0}]\nsrc = "."\nrequirements = "none.txt"\n'
    for directory in (project, other):
        directory.mkdir()
        (directory / "none.txt").write_text("# nothing\n")
        (directory / "pyproject.toml").write_text(table + function.format("api"))
    name = "api-python3.13-x86_64.zip"
    _fake_output(out, name)
    assert settle(out, other, {name}, [name]) == []
    assert main(["build", "--project", str(project)], env={}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {project / '../build/out' / name} is the project {other.resolve()}'s (its last "
        "build wrote it there): two projects' artifacts of one name in one output directory "
        "overwrite each other; give the artifact another name, or this project another output-dir"
    ]
    # p listed it once too (before this check was made): p declares it no more, q still does
    ledger = json.loads((out / LEDGER).read_text())
    ledger["projects"][str(project.resolve())] = [name]
    (out / LEDGER).write_text(json.dumps(ledger))
    assert settle(out, project, set(), []) == []
    assert (out / name).is_file()
    assert theirs(out, project, ["API-python3.13-x86_64.zip"]) == {
        "API-python3.13-x86_64.zip": str(other.resolve())
    }  # (one file on macOS and Windows)
    (other / "pyproject.toml").unlink()  # q is gone: its entry is no one's
    assert theirs(out, project, [name]) == {}
    assert settle(out, project, set(), []) == []
    assert not (out / LEDGER).exists()  # nothing of any project's listed: no ledger either


@pytest.mark.integration
def test_a_renamed_function_s_zip_is_removed_by_the_next_build(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: a function renamed; the next build removes the old name's zip, manifest
    and SBOM, says so, and the summary counts what is there."""
    project = tmp_path / "mono"
    for name in ("keep", "old"):
        (project / name).mkdir(parents=True)
        (project / name / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (project / "none.txt").write_text("# nothing to install\n")
    table = '[project]\nname = "mono"\nversion = "1"\n\n[tool.lambdazip]\npython = ["3.11"]\n'
    function = (
        '\n[tool.lambdazip.functions.{0}]\nsrc = "{1}"\nhandler = "app.handler"\n'
        'requirements = "none.txt"\n'
    )
    (project / "pyproject.toml").write_text(
        table + function.format("keep", "keep") + function.format("old", "old")
    )
    image = f"3.11/x86_64={images['3.11', 'x86_64']}"
    argv = ["build", "--project", str(project), "--base-image", image]
    assert main(argv, env=host_env()) == 0
    dist = project / "dist"
    (dist / "notes.txt").write_text("mine")
    assert (dist / "old-python3.11-x86_64.zip").is_file()
    capsys.readouterr()
    (project / "pyproject.toml").write_text(
        table + function.format("keep", "keep") + function.format("new", "old")
    )
    assert main(argv, env=host_env()) == 0
    err = capsys.readouterr().err
    assert f"removed {dist / 'old-python3.11-x86_64.zip'} (and its manifest and SBOM)" in err
    assert sorted(p.name for p in dist.iterdir() if not p.name.startswith(".")) == sorted([
        "notes.txt", *(f"{n}-python3.11-x86_64.{s}" for n in ("keep", "new")
                       for s in ("zip", "manifest.json", "cdx.json")),
    ])  # fmt: skip
    # the file's output-dir moved: what it wrote into the old one goes, the rest stays there
    (project / "pyproject.toml").write_text(
        table.replace("[tool.lambdazip]\n", '[tool.lambdazip]\noutput-dir = "out"\n')
        + function.format("keep", "keep") + function.format("new", "old")
    )  # fmt: skip
    assert main(["build", "--project", str(project), "-o", str(tmp_path / "once"),
                 "--base-image", image], env=host_env()) == 0  # fmt: skip
    assert (dist / "keep-python3.11-x86_64.zip").is_file()  # -o: a one-off, dist/ untouched
    assert main([*argv, "--only", "keep"], env=host_env()) == 0
    assert (dist / "new-python3.11-x86_64.zip").is_file()  # a part: the rest stays where it is
    assert main(argv, env=host_env()) == 0
    err = capsys.readouterr().err
    assert (
        f"removed {dist / 'keep-python3.11-x86_64.zip'} (and its manifest and SBOM): the output "
        f"directory is now {project / 'out'}"
    ) in err
    assert sorted(p.name for p in dist.iterdir()) == ["notes.txt"]  # (the ledger too: empty)
    assert (project / "out" / "keep-python3.11-x86_64.zip").is_file()


@pytest.mark.integration
def test_findings_and_errors_of_several_lines_keep_the_reports_whole(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A build with a finding (python3.15, a preview runtime) and an error of two lines (a smoke
    event's exception): --json's stdout is the document alone (the findings on stderr), and
    each row of the table is one line."""
    project = tmp_path / "preview"
    (project / "code").mkdir(parents=True)
    (project / "code" / "h.py").write_text(
        "def ok(event, context):\n    return 1\n\n\n"
        "def bad(event, context):\n    raise ValueError('boom\\nsecond line')\n"
    )
    (project / "none.txt").write_text("# nothing to install\n")
    (project / "event.json").write_text("{}")
    function = (
        '\n[tool.lambdazip.functions.{0}]\nsrc = "code"\nhandler = "h.{0}"\n'
        'requirements = "none.txt"\n'
    )
    (project / "pyproject.toml").write_text(
        '[tool.lambdazip]\npython = ["3.15"]\n'
        + function.format("ok")
        + function.format("bad")
        + 'smoke-event = "event.json"\n'
    )
    image = f"3.15/x86_64={images['3.15', 'x86_64']}"
    argv = ["build", "--project", str(project), "--base-image", image]
    assert main([*argv, "--json"], env=host_env()) == 11
    captured = capsys.readouterr()
    document = json.loads(captured.out)  # the document, and nothing else
    assert [(a["name"], a["status"]) for a in document["artifacts"]] == [
        ("ok", "built"), ("bad", "FAILED"),
    ]  # fmt: skip
    assert "warning: python3.15: " in captured.err
    assert "ValueError: boom" in document["artifacts"][1]["error"]
    assert main(argv, env=host_env()) == 11
    out = capsys.readouterr().out.splitlines()
    table = out[[line.split()[:1] for line in out].index(["artifact"]) :]
    assert [line.split()[:4] for line in table[1:]] == [
        ["ok", "function", "python3.15-x86_64", "reused"],
        ["bad", "function", "python3.15-x86_64", "FAILED"],
    ]
    assert "ValueError: boom second line" in table[2]


def test_a_target_named_twice_is_one_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "3.11" and "python3.11", "x86_64" and "amd64" name one target: one zip, one row (it was
    built twice and listed twice)."""
    (tmp_path / "none.txt").write_text("# nothing\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lambdazip]\npython = ["3.11", "python3.11"]\narch = ["x86_64", "amd64"]\n'
        '[tool.lambdazip.functions.api]\nsrc = "."\nrequirements = "none.txt"\n'
    )
    argv = ["build", "--project", str(tmp_path), "--list", "--json"]
    assert main(argv, env={}) == 0
    rows = json.loads(capsys.readouterr().out)["artifacts"]
    assert [(r["name"], r["target"]) for r in rows] == [("api", "python3.11-x86_64")]
    assert main([*argv, "--python", "3.13", "--python", "python3.13"], env={}) == 0
    rows = json.loads(capsys.readouterr().out)["artifacts"]
    assert [(r["name"], r["target"]) for r in rows] == [("api", "python3.13-x86_64")]


def test_a_build_stopped_before_any_artifact_still_prints_its_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: a mistake that stops the build before any artifact (exit 2) is still one document
    on stdout, saying what stopped it; the Action's step summary says so, its artifacts output
    names the document."""
    from lambdazip.outputs.github import write_project

    project = tmp_path / "infra"
    project.mkdir()
    (project / "none.txt").write_text("# nothing\n")
    (project / "pyproject.toml").write_text(
        '[tool.lambdazip]\npython = ["3.13"]\n[tool.lambdazip.functions.api]\nsrc = "gone"\n'
        'requirements = "none.txt"\n'
    )
    assert main(["build", "--project", str(project), "--json"], env={}) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert (document["ok"], document["artifacts"]) == (False, [])
    assert document["error"] == (
        f"[tool.lambdazip.functions.api] src = 'gone': {project / 'gone'} is not a directory"
    )
    assert document["tip"].startswith("point src at the directory of the function's code")
    assert captured.err.count("error:") == 1
    printed = tmp_path / "build.json"
    printed.write_text(captured.out)
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "GITHUB_OUTPUT": str(tmp_path / "out")}
    write_project(printed, env)
    summary = (tmp_path / "summary").read_text()
    assert summary.startswith("### lambdazip build: stopped before building\n\n[tool.lambdazip")
    assert (tmp_path / "out").read_text() == f"artifacts={printed}\n"
