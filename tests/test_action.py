"""action.yml, run here as a runner would run it: each `run:` step with bash, with the
GITHUB_* variables and files a runner sets (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STEP_SUMMARY,
RUNNER_TEMP) and the `${{ }}` expressions the action uses evaluated; actions/cache's restore and
save played by a directory that stands for GitHub's cache service. Two workflow runs on "fresh
runners" (the engine's cache volume removed in between): the second restores the cache and
downloads nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from lambdazip.build.engine import Engine
from lambdazip.outputs.report import Manifest
from tests.conftest import host_env
from tests.lockfile import clean_env, tool_wheelhouse
from tests.projects import uv_project
from tests.wheels import REPO

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


class LocalRunner:
    """Just enough of a GitHub runner for a composite action's steps."""

    def __init__(self, home: Path, inputs: dict[str, str], cache_service: Path) -> None:
        defaults = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()}
        self.inputs = defaults | inputs
        self.home = home
        self.cache_service = cache_service
        self.temp = home / "runner-temp"
        self.temp.mkdir(parents=True)
        self.env_file = home / "github-env"
        self.summary = home / "step-summary.md"
        self.outputs: dict[str, dict[str, str]] = {}
        self.log: list[str] = []

    def value(self, expression: str) -> str:
        if expression.startswith("inputs."):
            return self.inputs[expression.removeprefix("inputs.")]
        if expression == "github.action_path":
            return str(REPO)
        step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        if step:
            return self.outputs.get(step[1], {}).get(step[2], "")
        raise AssertionError(f"the local runner does not know {expression!r}")

    def expand(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: self.value(m[1]), text)

    def condition(self, text: str) -> bool:
        for part in text.split("&&"):
            match = re.fullmatch(r"\s*(\S+)\s*(==|!=)\s*'([^']*)'\s*", part)
            assert match, f"the local runner cannot evaluate {text!r}"
            equal = self.value(match[1]) == match[3]
            if equal != (match[2] == "=="):
                return False
        return True

    def runner_env(self) -> dict[str, str]:
        extra = dict(
            line.split("=", 1) for line in self.env_file.read_text().splitlines() if "=" in line
        ) if self.env_file.exists() else {}  # fmt: skip
        wheelhouse = str(tool_wheelhouse())  # the step's pip: the locked wheels, no index
        env = clean_env() | host_env() | extra
        return env | {
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_ENV": str(self.env_file),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_WORKSPACE": str(self.home),
            "GITHUB_ACTIONS": "true",
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": wheelhouse,
        }

    def run(self) -> None:
        for step in ACTION["runs"]["steps"]:
            if "if" in step and not self.condition(step["if"]):
                continue
            if "uses" in step:
                self._cache(step)
            else:
                self._shell(step)

    def _shell(self, step: dict[str, Any]) -> None:
        output = self.home / "github-output"
        output.write_text("")
        env = self.runner_env() | {k: self.expand(str(v)) for k, v in step.get("env", {}).items()}
        env["GITHUB_OUTPUT"] = str(output)
        assert "${{" not in step["run"], "expressions belong in env:, not in the script"
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
            cwd=self.home, env=env, capture_output=True, text=True,
        )  # fmt: skip
        self.log += [f"[{step['name']}] {line}" for line in result.stderr.splitlines()]
        assert result.returncode == 0, f"{step['name']}: {result.stderr}"
        if "id" in step:
            pairs = [line.split("=", 1) for line in output.read_text().splitlines()]
            self.outputs[step["id"]] = dict(pairs)

    def _cache(self, step: dict[str, Any]) -> None:
        with_ = {k: self.expand(str(v)) for k, v in step["with"].items()}
        path, key = Path(with_["path"]), with_["key"]
        if step["uses"].startswith("actions/cache/restore@"):
            stored = self.cache_service / key
            if not stored.exists():
                prefix = with_.get("restore-keys", "")
                near = sorted(p for p in self.cache_service.glob("*") if p.name.startswith(prefix))
                stored = near[-1] if prefix and near else stored
            hit = stored.name == key and stored.exists()
            if stored.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(stored, path)
            self.outputs[step["id"]] = {"cache-hit": "true" if hit else "false"}
        elif step["uses"].startswith("actions/cache/save@"):
            self.cache_service.mkdir(exist_ok=True)
            shutil.copy(path, self.cache_service / key)
        else:
            raise AssertionError(f"the local runner does not play {step['uses']}")


def _fresh_engine_cache(engine: Engine) -> None:
    """A new CI runner: the engine has no download cache volume for the target."""
    name = "lambdazip-cache-python3.11-x86_64"
    if any(v["Name"] == name for v in engine.api.volumes().get("Volumes") or []):
        engine.api.remove_volume(name, force=True)


def _archives(tar_path: Path) -> set[str]:
    """The package files in an exported cache: wheels uv unpacked, pip's http cache, tools."""
    with tarfile.open(tar_path) as tf:
        names = tf.getnames()
    return {n for n in names if n.startswith(("cache/uv/archive-", "cache/pip/", "cache/tools/"))}


@pytest.mark.integration
@pytest.mark.network
def test_the_action_builds_and_a_second_run_downloads_nothing(
    engine: Engine, images: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    service = tmp_path / "github-cache-service"
    (tmp_path / "requirements.txt").write_bytes((REPO / "requirements.txt").read_bytes())
    inputs = {
        "arch": "x86_64",
        "python": "3.11",
        "requirements": str(tmp_path / "requirements.txt"),
        "base-image": images[("3.11", "x86_64")],
        "verbose": "true",
    }
    runs = []
    for number in (1, 2):
        _fresh_engine_cache(engine)
        runner = LocalRunner(tmp_path / f"run{number}", inputs, service)
        runner.run()
        runs.append(runner)
    first, second = runs

    # outputs and the step summary
    for runner in runs:
        built = runner.outputs["build"]
        zip_path, manifest_path = Path(built["zip"]), Path(built["manifest"])
        if not zip_path.is_absolute():
            zip_path, manifest_path = runner.home / zip_path, runner.home / manifest_path
        manifest = Manifest.model_validate_json(manifest_path.read_bytes())
        assert zip_path.name == "layer-python3.11-x86_64.zip"
        assert built["sha256"] == manifest.sha256
        summary = runner.summary.read_text()
        assert "| target | kind | sha256 | zipped | unzipped | files | base image |" in summary
        assert f"| python3.11 on x86_64 | layer | `{manifest.sha256}` |" in summary
        assert "| pydantic-core | 2.50.4 |" in summary
    assert first.outputs["build"]["sha256"] == second.outputs["build"]["sha256"]

    # the first run had no cache and saved one; the second restored it by its exact key
    assert first.outputs["restore"]["cache-hit"] == "false"
    assert second.outputs["restore"]["cache-hit"] == "true"
    assert [p.name for p in service.iterdir()] == [first.outputs["key"]["key"]]
    first_log, second_log = "\n".join(first.log), "\n".join(second.log)
    assert re.search(r"Prepared \d+ packages", first_log)  # uv downloaded the wheels
    assert "uv-requirements.txt" in first_log  # and the image's pip installed uv itself
    assert not re.search(r"Prepared \d+ packages", second_log), second_log
    assert "uv-requirements.txt" not in second_log
    assert re.search(r"Installed 5 packages", second_log)

    # what the engine's cache holds after the second run is what was restored: nothing new
    restored = Path(first.outputs["key"]["file"])
    after = tmp_path / "after.tar"
    command = [sys.executable, str(REPO / "build.py"), "cache", "export"]
    command += [str(after), "--arch", "x86_64", "--python", "3.11"]
    command += ["--base-image", images[("3.11", "x86_64")], "-q"]
    subprocess.run(command, check=True, env=os.environ.copy())
    assert _archives(after) == _archives(restored)
    assert len(_archives(after)) > 20


@pytest.mark.integration
@pytest.mark.network
def test_the_action_shares_zips_through_a_registry_with_its_login(
    engine: Engine, images: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    """Two runners, each fresh (no download cache, no build image), one shared cache behind a
    login given as the action's inputs: the second takes the first's zip and starts nothing."""
    from tests.conftest import containers_created
    from tests.registry import Login, htpasswd_line, running_registry
    from tests.test_shared_cache import _empty_the_engine

    login = Login("ci", "runner-Pa55word")
    line = htpasswd_line(login)
    if line is None:
        pytest.skip("no bcrypt module and no htpasswd to write the login with")
    (tmp_path / "requirements.txt").write_bytes((REPO / "requirements.txt").read_bytes())
    with running_registry(tmp_path / "registry", line) as host:
        inputs = {
            "arch": "x86_64",
            "python": "3.11",
            "requirements": str(tmp_path / "requirements.txt"),
            "base-image": images[("3.11", "x86_64")],
            "cache": "false",
            "shared-cache": f"{host}/ci/lambdazip",
            "registry-username": login.username,
            "registry-password": login.password,
        }
        runs, created = [], []
        for number in (1, 2):
            _empty_the_engine(engine, images["3.11", "x86_64"])
            runner = LocalRunner(tmp_path / f"run{number}", inputs, tmp_path / "service")
            since = time.time()
            runner.run()
            created.append(containers_created(engine, since))
            runs.append(runner)
    first, second = ("\n".join(r.log) for r in runs)
    assert f"pushed to {host}/ci/lambdazip@sha256:" in first, first
    assert f"pulled from the shared cache {host}/ci/lambdazip@sha256:" in second, second
    assert created[0] > 0
    assert created[1] == 0
    assert runs[0].outputs["build"]["sha256"] == runs[1].outputs["build"]["sha256"]
    assert login.password not in first + second
    config = runs[1].temp / "lambdazip-docker" / "config.json"
    assert config.stat().st_mode & 0o077 == 0  # the login is the runner user's alone


@pytest.mark.integration
@pytest.mark.network
def test_the_action_builds_a_whole_project_and_lists_every_artifact(
    images: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    """project: `lambdazip build` of a [tool.lambdazip] project (a layer from the uv.lock, and a
    function on it), with the group and extra inputs (every artifact's), its document as the
    artifacts output, and the step summary listing each artifact; the per-target download cache
    steps are not run."""
    project = uv_project(tmp_path / "orders")
    with (project / "pyproject.toml").open("a") as fh:
        fh.write(
            '\n[tool.lambdazip]\npython = ["3.11"]\n\n[tool.lambdazip.layers.deps]\n\n'
            '[tool.lambdazip.functions.api]\nsrc = "src"\nhandler = "orders.app.handler"\n'
            'layers = ["deps"]\n'
        )
    inputs = {
        "project": str(project), "group": "lambda,dev", "extra": "fast",
        "base-image": f"3.11/x86_64={images['3.11', 'x86_64']}",
    }  # fmt: skip
    runner = LocalRunner(tmp_path / "run", inputs, tmp_path / "github-cache-service")
    runner.run()
    assert "restore" not in runner.outputs  # the download cache is per target: not in this mode
    document = json.loads(Path(runner.outputs["build"]["artifacts"]).read_text())
    assert document["ok"] is True
    rows = {a["name"]: a for a in document["artifacts"]}
    assert list(rows) == ["deps", "api"]
    summary = runner.summary.read_text()
    assert "### lambdazip build: 2 artifacts, every artifact built" in summary
    for name, kind in (("deps", "layer"), ("api", "function")):
        row = rows[name]
        assert Path(row["zip"]).is_file()
        assert f"| {name} | {kind} | python3.11-x86_64 | built | `{row['sha256']}` |" in summary
    # the group's and the extra's packages are in the layer (the inputs were passed on)
    manifest = json.loads(Path(rows["deps"]["manifest"]).read_text())
    assert {"iniconfig", "orjson"} <= {d["name"] for d in manifest["distributions"]}
