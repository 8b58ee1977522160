"""The README's five-minute tour, run as written, in order, in a copy of the checkout: its only
change is the base image (`--base-image` with the stand-in of the target, as the official image
cannot be pulled here), and a command whose comment says it needs AWS is left out."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from lambdazip.build.engine import Engine
from lambdazip.cli import main
from tests.conftest import host_env

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


def tour() -> list[tuple[list[str], str | None]]:
    """The tour's tool commands (argv after `lambdazip`), each with the TOML block written to
    pyproject.toml before it (or None)."""
    from tests.test_docs import NEEDS, tool_argv

    text = README.read_text()
    section = text[text.index("## A five-minute tour") : text.index("## Container images")]
    # and, on the tour's project, "Past one machine"'s listing and sharding (not its registry)
    beyond = text[text.index("## Past one machine") : text.index("## Documentation")]
    toml = re.search(r"```toml\n(.*?)```", section, re.S)
    steps: list[tuple[list[str], str | None]] = []
    for command in [*_examples_of(section), *_examples_of(beyond)]:
        argv = tool_argv(command)
        if argv is None or NEEDS.search(command):
            continue
        steps.append((argv, toml[1] if toml and argv[0] == "build" else None))
    return steps


def images_section() -> list[list[str]]:
    """The commands of the README's "Container images" (argv after `lambdazip`)."""
    from tests.test_docs import NEEDS, tool_argv

    text = README.read_text()
    section = text[text.index("## Container images") : text.index("## Past one machine")]
    return [
        argv
        for command in _examples_of(section)
        if (argv := tool_argv(command)) is not None and not NEEDS.search(command)
    ]


def _examples_of(section: str) -> Iterator[str]:
    """The commands of a part of a page (examples() reads a file)."""
    import tempfile

    from tests.test_docs import examples

    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch) / "tour.md"
        page.write_text(section)
        yield from examples(page)


@pytest.mark.integration
@pytest.mark.network
def test_the_readme_tour_runs_as_written(
    tmp_path: Path,
    images: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copy(REPO / "requirements.txt", tmp_path / "requirements.txt")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    steps = tour()
    assert [argv[0] for argv, _ in steps] == [
        "layer", "function", "check", "check", "invoke", "verify", "build", "build", "build",
    ]  # fmt: skip
    for argv, toml in steps:
        more: list[str] = []
        if argv[0] in ("layer", "function"):
            python, arch = argv[argv.index("--python") + 1], argv[argv.index("--arch") + 1]
            more = ["--base-image", images[(python, arch)]]
        if argv[0] == "build":
            more = ["--base-image", f"3.13/x86_64={images[('3.13', 'x86_64')]}"]
        if toml is not None:
            (tmp_path / "pyproject.toml").write_text(toml)
        code = main([*argv, *more], env=host_env())
        captured = capsys.readouterr()
        assert code == 0, (argv, captured.err[-2000:])
        if argv[0] == "verify":
            assert "reproduced:" in captured.err
        if argv[0] == "invoke":
            assert '"statusCode": 200' in captured.out
        if "--list" in argv:  # the tour's two artifacts, and a matrix of the shards they are in
            listed = json.loads(captured.out)
            assert {a["name"] for a in listed["artifacts"]} == {"deps", "orders"}
            shards = {a["shard"] for a in listed["artifacts"]}
            assert listed["matrix"]["include"] == [
                {"shard": f"{i}/2", "arch": "x86_64"} for i in sorted(shards)
            ]
        if "--shard" in argv:  # what shard 2/2 holds (and the layer it uses) is up to date
            reused = [line.split()[0] for line in captured.out.splitlines() if " reused " in line]
            own = {a["name"] for a in listed["artifacts"] if a["shard"] == 2}
            assert own  # (the layer: a hash of its kind, name and target)
            assert own <= set(reused)
            assert "orders" not in own or "deps" in reused
    assert (tmp_path / "dist" / "orders-python3.13-x86_64.zip").is_file()
    assert (tmp_path / "dist" / "deps-python3.13-x86_64.zip").is_file()


@pytest.mark.integration
@pytest.mark.network
def test_the_readme_images_section_runs_as_written(
    tmp_path: Path,
    images: dict[tuple[str, str], str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`image`, `check --image`, `invoke --image`, `verify` of the image, as written (the base:
    the stand-in of the target)."""
    shutil.copy(REPO / "requirements.txt", tmp_path / "requirements.txt")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    steps = images_section()
    assert [argv[0] for argv in steps] == ["image", "check", "invoke", "verify"]
    env = {**host_env(), "LAMBDAZIP_CACHE_DIR": str(tmp_path / "cache")}
    try:
        for argv in steps:
            more: list[str] = []
            if argv[0] == "image":
                python, arch = argv[argv.index("--python") + 1], argv[argv.index("--arch") + 1]
                more = ["--base-image", images[(python, arch)]]
            code = main([*argv, *more], env=env)
            captured = capsys.readouterr()
            assert code == 0, (argv, captured.err[-2000:])
            if argv[0] == "invoke":
                assert '"statusCode": 200' in captured.out
            if argv[0] == "verify":
                assert "reproduced:" in captured.err
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            engine.api.remove_image("orders:latest", force=True)


def test_the_readme_shows_the_example_workflow_as_it_is_linted() -> None:
    """The workflow in "Past one machine" is examples/monorepo/workflow.yml (actionlint and
    zizmor check that file: tests/test_workflows.py), word for word."""
    text = README.read_text()
    section = text[text.index("## Past one machine") : text.index("## Documentation")]
    shown = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert shown is not None
    workflow = (REPO / "examples" / "monorepo" / "workflow.yml").read_text()
    assert shown[1] == workflow[workflow.index("name: lambdas") :]
