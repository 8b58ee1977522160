"""lambdazip as the builder inside the tools teams deploy with (docs/deploy-tools.md): the
recipes in examples/ run here with the real tools where they run offline (SAM CLI's makefile
build, Terraform with its built-in provider), and the contract each recipe relies on (the same
bytes again, `build --json`'s fields) is checked for all of them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from lambdazip.outputs.archive import sha256_file
from tests.conftest import host_env
from tests.projects import uv_project

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
TARGET = "python3.13-x86_64"
TOOL = """
[tool.lambdazip]
python = ["3.13"]
arch = ["x86_64"]

[tool.lambdazip.layers.deps]

[tool.lambdazip.functions.api]
src = "src"
handler = "orders.app.handler"
layers = ["deps"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The recipes' project: a layer of the lock's dependencies and a function on it."""
    root = uv_project(tmp_path / "orders")
    with (root / "pyproject.toml").open("a") as fh:
        fh.write(TOOL)
    return root


def _members(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as opened:
        return {i.filename: opened.read(i) for i in opened.infolist() if not i.is_dir()}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.integration
@pytest.mark.network
def test_sam_build_gives_lambdazip_s_bytes_and_again_the_same(
    project: Path, images: dict[tuple[str, str], str]
) -> None:
    """examples/sam: `sam build` of a layer and a function on it, each a makefile build that
    calls lambdazip; SAM's artifacts are the files of lambdazip's zips, byte for byte, and a
    second `sam build` after no change gives the same (lambdazip reuses its zips)."""
    sam = REPO / ".venv-sam" / "bin" / "sam"
    if not sam.is_file():
        pytest.skip("SAM CLI is not installed: make .venv-sam/.installed (make test-setup does)")
    for name in ("template.yaml", "Makefile"):
        shutil.copy(EXAMPLES / "sam" / name, project / name)
    env = {
        **os.environ,
        **host_env(),
        "LAMBDAZIP": f"{sys.executable} {REPO / 'build.py'}",
        "LAMBDAZIP_FLAGS": f"--base-image 3.13/x86_64={images['3.13', 'x86_64']}",
        "SAM_CLI_TELEMETRY": "0",
    }

    def sam_build() -> dict[str, dict[str, bytes]]:
        done = subprocess.run(
            [str(sam), "build"], cwd=project, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        built = project / ".aws-sam" / "build"
        return {name: _files(built / name) for name in ("DepsLayer", "Api")}

    first = sam_build()
    dist = project / "dist"
    assert first["DepsLayer"] == _members(dist / f"deps-{TARGET}.zip")
    assert first["Api"] == _members(dist / f"api-{TARGET}.zip")
    assert "python/pydantic_core/__init__.py" in first["DepsLayer"]
    assert "orders/app.py" in first["Api"]
    zips = {p.name: sha256_file(p) for p in dist.glob("*.zip")}
    assert sam_build() == first
    assert {p.name: sha256_file(p) for p in dist.glob("*.zip")} == zips


def _build_json(project: Path, image: str, *extra: str) -> None:
    """As the recipes say: lambdazip build --json > dist/build.json (its stdout, one document)."""
    argv = [sys.executable, str(REPO / "build.py"), "build", "--project", str(project)]
    argv += ["--base-image", image, "--json", "-q", *extra]
    done = subprocess.run(argv, env={**os.environ, **host_env()}, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    (project / "dist" / "build.json").write_bytes(done.stdout)


@pytest.mark.integration
@pytest.mark.network
def test_cdk_asset_hashes_change_only_with_the_inputs(
    project: Path, images: dict[tuple[str, str], str]
) -> None:
    """examples/cdk/cdk_app.py synthesized by the real aws-cdk-lib (on Node.js): each asset is
    the zip lambdazip wrote; a rebuild in new containers (--force) keeps every asset hash (what
    aws-cdk#27331 asks of bundling), a code change moves the function's alone."""
    python = REPO / ".venv-cdk" / "bin" / "python"
    if not python.is_file() or shutil.which("node") is None:
        pytest.skip("AWS CDK is not installed (make .venv-cdk/.installed) or Node.js is missing")
    shutil.copy(EXAMPLES / "cdk" / "cdk_app.py", project / "cdk_app.py")
    image = f"3.13/x86_64={images['3.13', 'x86_64']}"

    def synth() -> dict[str, str]:
        out = project / "cdk.out"
        shutil.rmtree(out, ignore_errors=True)
        env = {
            **os.environ,
            "CDK_OUTDIR": str(out),
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        }
        argv = [str(python), "cdk_app.py"]
        done = subprocess.run(argv, cwd=project, env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        template = json.loads((out / "Orders.template.json").read_text())
        keys = {}
        for resource in template["Resources"].values():
            code = resource["Properties"].get("Code") or resource["Properties"].get("Content")
            if code is not None:
                keys[resource["Type"]] = str(code["S3Key"])
        return keys

    _build_json(project, image)
    first = synth()
    assert set(first) == {"AWS::Lambda::Function", "AWS::Lambda::LayerVersion"}
    _build_json(project, image, "--force")
    assert synth() == first
    app = project / "src" / "orders" / "app.py"
    app.write_text(app.read_text() + "\nVERSION = 2\n")
    _build_json(project, image)
    changed = synth()
    assert changed["AWS::Lambda::LayerVersion"] == first["AWS::Lambda::LayerVersion"]
    assert changed["AWS::Lambda::Function"] != first["AWS::Lambda::Function"]


TERRAFORM = """
locals {
  built = { for a in jsondecode(file("${path.module}/dist/build.json")).artifacts : a.name => a }
}

# what aws_lambda_function and aws_lambda_layer_version are given in examples/terraform/main.tf
resource "terraform_data" "api" {
  input = {
    filename         = local.built.api.zip
    source_code_hash = local.built.api.code_sha256
    runtime          = local.built.api.runtime
    architectures    = [local.built.api.architecture]
    handler          = local.built.api.handler
  }
}

resource "terraform_data" "deps" {
  input = {
    filename         = local.built.deps.zip
    source_code_hash = filebase64sha256(local.built.deps.zip)
  }
}

output "api_hash" {
  value = filebase64sha256(local.built.api.zip)
}
"""


@pytest.fixture
def terraform() -> str:
    found = shutil.which("terraform") or shutil.which("tofu")
    if found is None:
        pytest.skip("neither terraform nor tofu is on PATH")
    return found


@pytest.mark.integration
@pytest.mark.network
def test_terraform_plan_stays_empty_after_a_rebuild(
    project: Path, images: dict[tuple[str, str], str], terraform: str
) -> None:
    """examples/terraform's expressions, with Terraform's built-in provider (the AWS provider
    is not downloadable here): the hash it computes is build --json's code_sha256; a rebuild of
    the same inputs (--force: new containers) leaves the plan empty; a code change does not."""
    image = f"3.13/x86_64={images['3.13', 'x86_64']}"

    def build(*extra: str) -> None:
        _build_json(project, image, *extra)

    def tf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [terraform, *args, "-input=false", "-no-color"],
            cwd=project,
            env={**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"},
            capture_output=True,
            text=True,
        )

    build()
    (project / "main.tf").write_text(TERRAFORM)
    assert tf("init").returncode == 0
    applied = tf("apply", "-auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    document = json.loads((project / "dist" / "build.json").read_text())
    api = next(a for a in document["artifacts"] if a["name"] == "api")
    assert f'api_hash = "{api["code_sha256"]}"' in applied.stdout
    build("--force")  # built again in new containers: the same bytes, the same plan
    assert tf("plan", "-detailed-exitcode").returncode == 0
    app = project / "src" / "orders" / "app.py"
    app.write_text(app.read_text() + "\nVERSION = 2\n")
    build()
    assert tf("plan", "-detailed-exitcode").returncode == 2  # 2: changes


def test_the_terraform_recipe_is_well_formed(terraform: str) -> None:
    done = subprocess.run(
        [terraform, "fmt", "-check", "-diff", "-no-color", str(EXAMPLES / "terraform")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_serverless_recipe_names_lambdazip_s_outputs() -> None:
    """examples/serverless/serverless.yml: each function's package.artifact and each layer's
    package.artifact is the zip `lambdazip build` writes for the runtime and architecture the
    file declares (the Serverless Framework itself is not run here: version 4 needs a login)."""
    document = yaml.safe_load((EXAMPLES / "serverless" / "serverless.yml").read_text())
    provider = document["provider"]
    target = f"{provider['runtime']}-{provider['architecture']}"
    for name, layer in document["layers"].items():
        assert layer["package"]["artifact"] == f"dist/{name}-{target}.zip"
        assert layer["compatibleRuntimes"] == [provider["runtime"]]
    for name, function in document["functions"].items():
        assert function["package"]["artifact"] == f"dist/{name}-{target}.zip"
        assert function["layers"] == [{"Ref": "DepsLambdaLayer"}]
