"""The GitHub Actions workflows pass actionlint and zizmor (both installed from the package
index as dev dependencies), and the check itself can fail: a bad workflow is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.wheels import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
EXAMPLES = sorted((REPO / "examples").glob("*/workflow.yml"))  # the docs' workflows, to copy
ACTION = REPO / "action.yml"  # actionlint checks it through the workflow's `uses: ./`
BIN = Path(sys.executable).parent

BAD = """name: bad
on: pull_request_target
jobs:
  x:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `make venv` installs it from the package index")
    return path


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)


def test_there_are_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["build.yml"]
    assert [p.parent.name for p in EXAMPLES] == ["monorepo"]


@pytest.mark.parametrize("workflow", [*WORKFLOWS, *EXAMPLES], ids=lambda p: p.parent.name + p.name)
def test_actionlint_finds_nothing(workflow: Path) -> None:
    result = _run(_tool("actionlint"), "-no-color", str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "workflow", [*WORKFLOWS, *EXAMPLES, ACTION], ids=lambda p: p.parent.name + p.name
)
def test_zizmor_finds_nothing(workflow: Path) -> None:
    result = _run(_tool("zizmor"), "--offline", "--no-progress", str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_catch_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD)
    zizmor = _run(_tool("zizmor"), "--offline", "--no-progress", str(bad))
    assert zizmor.returncode != 0
    assert "template-injection" in zizmor.stdout
    assert "unpinned-uses" in zizmor.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text(BAD.replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    timeout: x"))
    actionlint = _run(_tool("actionlint"), "-no-color", str(broken))
    assert actionlint.returncode != 0
    assert "timeout" in actionlint.stdout


def test_actionlint_reads_the_action_through_uses_dot(tmp_path: Path) -> None:
    """A workflow giving the action an input it does not declare fails: actionlint reads
    action.yml, so its inputs are checked on every run of the test above. The broken workflow
    goes into a copy of the project's layout (its root marked by .git), never the repository."""
    workflow = REPO / ".github" / "workflows" / "build.yml"
    bad = workflow.read_text().replace("requirements: requirements.txt", "requirement: x.txt")
    assert bad != workflow.read_text()
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)  # where actionlint takes the project's root to be
    (project / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(REPO / "action.yml", project / "action.yml")
    broken = project / ".github" / "workflows" / "build.yml"
    broken.write_text(bad)
    result = subprocess.run(
        [_tool("actionlint"), "-no-color", str(broken.relative_to(project))],
        capture_output=True, text=True, check=False, cwd=project,
    )  # fmt: skip
    assert result.returncode != 0
    assert 'input "requirement" is not defined in action "lambdazip"' in result.stdout
