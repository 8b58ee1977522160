"""Every bad input of the catalogue (tests/bad_inputs.py) gives its exit code and one clear error
line, never a traceback; docs/errors.md is the catalogue, regenerated."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from lambdazip.cli import main
from tests.bad_inputs import CASES, REPO, SCENES, Case, make_workspace, markdown
from tests.conftest import host_env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("bad-inputs")
    make_workspace(w)
    return w


def _params() -> list[object]:
    marks = [pytest.mark.integration, pytest.mark.network]
    return [pytest.param(c, id=c.id, marks=marks if c.engine else ()) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_bad_input(
    case: Case, workspace: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    names = {"w": str(workspace), "lock": str(REPO / "requirements.txt")}
    if case.engine:
        images = request.getfixturevalue("images")
        names |= {"x86": images[("3.11", "x86_64")], "arm64": images[("3.11", "arm64")]}
    argv = [arg.format(**names) for arg in case.argv]
    scene: AbstractContextManager[dict[str, str]] = (
        SCENES[case.context](workspace) if case.context else nullcontext({})
    )
    with scene as scene_env:
        code = main(argv, env={**host_env(), **case.env, **scene_env})
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    # ours would start a line; a function's own (in invoke's output) is indented under its step
    assert not re.search(r"^Traceback", captured.out + captured.err, re.MULTILINE)
    assert code == case.code, captured.err
    assert len(errors) == 1, captured.err
    assert case.error.format(**names) in errors[0]
    assert "; " in errors[0]  # what failed; what to do


def test_there_are_at_least_25_and_each_is_distinct() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.argv + tuple(c.env.items()) + (c.context,) for c in CASES}) == len(CASES)


def test_docs_errors_md_is_the_catalogue() -> None:
    assert (REPO / "docs" / "errors.md").read_text() == markdown(), (
        "regenerate it: python -m tests.docs"
    )
