"""Every runtime this machine has a stand-in for, built end to end: the hash-locked layer
installed natively in the image, probed there, packed there and checked. python3.10 and 3.12 have
no stand-in (no Debian suite carries them; tests/standin.py): their tables are tested in
test_targets.py and their wheels by `check` in test_check_zips_made_elsewhere.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdazip.cli import main
from lambdazip.targets import RUNTIMES
from tests import standin
from tests.conftest import host_env
from tests.wheels import REPO
from tests.zips import collect, write_zip

pytestmark = [pytest.mark.integration, pytest.mark.network]

HANDLER = """
import sys
from pydantic import BaseModel


class Order(BaseModel):
    id: int
    items: list[str]


def handler(event, context):
    version = "{}.{}".format(*sys.version_info[:2])
    return {**Order.model_validate(event).model_dump(), "python": version}
"""


def _targets() -> list[object]:
    return [
        pytest.param(
            python,
            arch,
            id=f"python{python}-{arch}",
            marks=[pytest.mark.slow] if recipe.slow else [],
        )
        for (python, arch), recipe in sorted(standin.RECIPES.items())
    ]


@pytest.mark.parametrize(("python", "arch"), _targets())
def test_every_stand_in_builds_the_layer_end_to_end(
    python: str,
    arch: str,
    images: dict[tuple[str, str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["layer", "--arch", arch, "--python", python, "-o", str(tmp_path), "-q"]
    argv += ["--base-image", images[python, arch], "-r", str(REPO / "requirements.txt")]
    assert main(argv, env=host_env()) == 0, capsys.readouterr().err
    built = tmp_path / f"layer-python{python}-{arch}.zip"
    manifest = json.loads(built.with_suffix(".manifest.json").read_text())
    probe = manifest["probe"]
    assert probe["python_version"].startswith(python + "."), probe["python_version"]
    assert all(i["ok"] for i in probe["imports"]), probe["imports"]
    assert probe["pydantic"]["ok"], probe["pydantic"]
    provided = {d["name"].lower() for d in probe["runtime_distributions"]}
    assert {"boto3", "botocore", "awslambdaric"} <= provided, provided
    assert manifest["target"]["glibc"] == RUNTIMES[python].glibc_text
    assert main(["check", str(built), "-q"], env={}) == 0

    # and a handler on it, through the runtime's own client (awslambdaric) in that image
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(HANDLER)
    function = write_zip(tmp_path / "f.zip", collect(src)).path
    event = tmp_path / "event.json"
    event.write_text('{"id": "7", "items": ["a"]}')
    argv = ["invoke", str(function), "--handler", "app.handler", "--event", str(event), "--json"]
    argv += ["--layer", str(built), "--arch", arch, "--python", python]
    argv += ["--base-image", images[python, arch]]
    capsys.readouterr()
    assert main(argv, env={}) == 0, capsys.readouterr().err
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["result"] == {"id": 7, "items": ["a"], "python": python}
    assert outcome["report"].startswith(f"REPORT RequestId: {outcome['request_id']}\tDuration: ")
