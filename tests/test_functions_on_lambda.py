"""The functions people really write, on the real engine, as Lambda runs them: boto3 from the
runtime (/var/runtime), configuration read at import, dependencies in a layer; and invoke's
sandbox as Lambda's: /tmp apart from memory, warm invocations, Lambda's limits."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from lambdazip.build.engine import Engine
from lambdazip.cli import main
from tests.conftest import containers_created, host_env
from tests.wheels import REPO
from tests.zips import collect, write_zip

pytestmark = [pytest.mark.integration, pytest.mark.network]
LOCK = str(REPO / "requirements.txt")
SECRET = "orders-table-Zq81vX"  # a value: it must be nowhere but in the function's process

CONFIGURED = """\
import os
import boto3  # not bundled: the runtime's, in /var/runtime

TABLE = os.environ["TABLE_NAME"]
DDB = boto3.client("dynamodb")  # needs a region, which Lambda gives
print("using the table", TABLE)  # the value in the function's output, at every import


def handler(event, context):
    return {"table_chars": len(TABLE), "region": DDB.meta.region_name,
            "sdk": boto3.__file__.startswith("/var/runtime/")}


def fails(event, context):
    raise ValueError(f"no such table: {TABLE}")
"""


def _src(tmp_path: Path, text: str, name: str = "app.py") -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / name).write_text(text)
    return src


def _empty(tmp_path: Path) -> Path:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("")
    return requirements


def _every_byte_under(path: Path) -> bytes:
    found = b""
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        found += file.read_bytes()
        if file.suffix == ".zip":
            with zipfile.ZipFile(file) as archive:
                found += b"".join(archive.read(n) for n in archive.namelist())
    return found


@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_a_function_using_the_runtimes_boto3_and_its_configuration_builds_as_on_lambda(
    python: str,
    tmp_path: Path,
    images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = images[(python, "x86_64")]
    src = _src(tmp_path, CONFIGURED)
    event = tmp_path / "event.json"
    event.write_text("{}")
    target = ["--arch", "x86_64", "--python", python, "--base-image", image]
    base = ["function", *target, "--src", str(src), "-r", str(_empty(tmp_path))]
    base += ["--handler", "app.handler", "-o", str(tmp_path / "dist")]

    # no configuration: not a packaging fault, so the build succeeds and says what to set
    assert main(base, env=host_env()) == 0, capsys.readouterr().err
    out = capsys.readouterr().out  # the findings
    assert "Lambda would fail" not in out
    (warning,) = [line for line in out.splitlines() if line.startswith("warning: app:")]
    assert "KeyError: 'TABLE_NAME'" in warning
    assert 'app.py:4: TABLE = os.environ["TABLE_NAME"]' in warning
    assert "--env TABLE_NAME=VALUE" in warning
    manifest = json.loads(
        (tmp_path / "dist" / f"src-python{python}-x86_64.manifest.json").read_text()
    )
    assert [f["code"] for f in manifest["findings"]] == ["import-configuration"]

    # configured as on Lambda: no warning, and the smoke event runs with the runtime's boto3
    configured = [*base, "--env", f"TABLE_NAME={SECRET}", "--smoke-event", str(event), "-v"]
    assert main(configured, env=host_env()) == 0
    out, err = capsys.readouterr()
    assert out == ""  # no finding
    assert '"sdk": true' in err
    assert '"region": "us-east-1"' in err
    manifest = json.loads(
        (tmp_path / "dist" / f"src-python{python}-x86_64.manifest.json").read_text()
    )
    assert manifest["findings"] == []
    assert manifest["inputs"]["configuration"] == ["TABLE_NAME"]
    assert "boto3" in {d["name"] for d in manifest["probe"]["runtime_distributions"]}
    assert "/var/runtime" in manifest["probe"]["sys_path"]
    # the value reached no file written, no line printed (-v shows every line of the build)
    assert SECRET.encode() not in _every_byte_under(tmp_path / "dist")
    assert SECRET not in out + err

    # probe and invoke of the same zip agree with the build
    built = str(tmp_path / "dist" / f"src-python{python}-x86_64.zip")
    probe = ["probe", built, *target, "--kind", "function"]
    assert main([*probe, "--env", f"TABLE_NAME={SECRET}"], env={}) == 0
    assert main([*probe, "--json"], env={}) == 0
    facts = json.loads(capsys.readouterr().out)
    (result,) = facts["imports"]
    assert result["unset"] == ["TABLE_NAME"]
    assert result["where"]["line"] == 4
    # the target and the image from the zip's manifest: named as the build named it, not by ID
    invoke = ["invoke", built, "--handler", "app.handler", "--event", str(event)]
    assert main([*invoke, "--env", f"TABLE_NAME={SECRET}"], env={}) == 0
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert answer == {"table_chars": len(SECRET), "region": "us-east-1", "sdk": True}
    assert f"invoking app.handler in {image}" in captured.err
    assert "sha256:" not in captured.err
    # the value is masked wherever the tool prints: the function's output, the runtime's error
    # document (the line and --json), the probe's output
    failing = ["invoke", built, "--handler", "app.fails", "--event", str(event)]
    assert main([*failing, "--env", f"TABLE_NAME={SECRET}"], env={}) == 10
    assert main([*failing, "--env", f"TABLE_NAME={SECRET}", "--json", "-v"], env={}) == 10
    assert main([*probe, "--env", f"TABLE_NAME={SECRET}", "-v"], env={}) == 0
    out, err = capsys.readouterr()
    assert "failed: ValueError: no such table: ***" in err
    assert "using the table ***" in err
    assert SECRET not in out + err

    # a packaging fault still fails the build, and only it says that Lambda would fail too
    checked = [*base, "--env", f"TABLE_NAME={SECRET}"]  # no smoke event: the import check alone
    (src / "app.py").write_text(CONFIGURED + "\nimport broken\n")  # the handler imports it
    (src / "broken.py").write_text("import lambdazip_no_such_module_anywhere\n")
    assert main(checked, env=host_env()) == 3
    out = capsys.readouterr().out
    (error,) = [line for line in out.splitlines() if line.startswith("error: app:")]
    assert "No module named 'lambdazip_no_such_module_anywhere'" in error
    assert "Lambda would fail the same way" in error
    (src / "broken.py").write_text("X = 1 / 0\n")  # unclear: a warning, an error when strict
    assert main(checked, env=host_env()) == 0
    assert "warning: app: expected `import app`" in capsys.readouterr().out
    assert main([*checked, "--strict-import"], env=host_env()) == 3
    assert "error: app: expected `import app`" in capsys.readouterr().out
    # --json: stdout is one document, also when the build fails
    assert main([*checked, "--strict-import", "--json"], env=host_env()) == 3
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert [f["code"] for f in document["findings"]] == ["import-unclear"]


def test_a_code_only_function_imports_through_its_layers(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    image = images[("3.11", "x86_64")]
    target = ["--arch", "x86_64", "--python", "3.11", "--base-image", image]
    layers = tmp_path / "layers"
    assert main(["layer", *target, "-r", LOCK, "-o", str(layers), "-q"], env=host_env()) == 0
    layer = layers / "layer-python3.11-x86_64.zip"
    # the same layer without its manifest: its content says what it is and what it holds
    bare = tmp_path / "bare" / "deps.zip"
    bare.parent.mkdir()
    bare.write_bytes(layer.read_bytes())
    src = _src(
        tmp_path,
        "import pydantic\n\nclass Order(pydantic.BaseModel):\n    id: int\n\n"
        "def handler(event, context):\n    return Order.model_validate(event).model_dump()\n",
    )
    event = tmp_path / "event.json"
    event.write_text('{"id": "7"}')
    for given in (layer, bare):
        out = tmp_path / f"dist-{given.parent.name}"
        argv = ["function", *target, "--src", str(src), "-r", LOCK, "-o", str(out)]
        argv += ["--layer", str(given), "--handler", "app.handler", "--smoke-event", str(event)]
        assert main(argv, env=host_env()) == 0, capsys.readouterr().err
        assert 'smoke event: app.handler returned {"id": 7}' in capsys.readouterr().err
        built = out / "src-python3.11-x86_64.zip"
        with zipfile.ZipFile(built) as archive:
            names = archive.namelist()
        # pydantic and its dependencies are the layer's, at the same versions
        assert sorted(names) == ["__pycache__/app.cpython-311.pyc", "app.py"]
        manifest = json.loads(built.with_suffix(".manifest.json").read_text())
        assert manifest["inputs"]["layer_sha256"] == [manifest_sha(layer)]
        left_out = {x["reason"] for x in manifest["left_out"]}
        assert "provided by its layers, at this version" in left_out

    # without the layer, the same function fails: pydantic is nowhere
    argv = ["function", *target, "--src", str(src), "-r", str(_empty(tmp_path))]
    assert main([*argv, "-o", str(tmp_path / "none")], env=host_env()) == 3
    assert "No module named 'pydantic'" in capsys.readouterr().out
    # a layer for another runtime is refused before anything runs
    other = ["function", "--arch", "x86_64", "--python", "3.13", "--src", str(src), "-r", LOCK]
    assert main([*other, "--layer", str(layer), "-o", str(tmp_path / "x")], env={}) == 2
    assert (
        "is a layer for python3.11-x86_64 (its manifest), not a layer for python3.13-x86_64"
        in capsys.readouterr().err
    )


def test_the_handler_decides_what_lambda_imports(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Lambda imports the handler's module (a package's too) at cold start, and finds the
    function in it; a test file beside it is never imported."""
    src = tmp_path / "src"
    (src / "orders").mkdir(parents=True)
    (src / "orders" / "__init__.py").write_text("")
    (src / "orders" / "api.py").write_text(
        "import lambdazip_no_such_module_anywhere\n\ndef main(event, context):\n    return 1\n"
    )
    (src / "test_api.py").write_text("import pytest\n")
    target = ["--arch", "x86_64", "--python", "3.13", "--base-image", images[("3.13", "x86_64")]]
    base = ["function", *target, "--src", str(src), "-r", str(_empty(tmp_path))]
    base += ["-o", str(tmp_path / "dist")]

    # the package's module is the handler's: its missing import fails the build
    assert main([*base, "--handler", "orders.api.main"], env=host_env()) == 3
    out = capsys.readouterr().out
    assert "error: orders.api: expected `import orders.api`" in out
    assert "at cold start, importing the handler" in out
    # fixed: the test file that cannot import is only a warning, never "Lambda would fail"
    (src / "orders" / "api.py").write_text("def main(event, context):\n    return 1\n")
    assert main([*base, "--handler", "orders.api.main"], env=host_env()) == 0
    out = capsys.readouterr().out
    (warning,) = out.strip().splitlines()
    assert warning.startswith("warning: test_api: expected `import test_api`")
    assert "Lambda would fail" not in warning
    assert main([*base, "--handler", "orders.api.main", "--strict-import"], env=host_env()) == 3
    capsys.readouterr()
    # a handler whose function is not there fails every invocation: an error now
    assert main([*base, "--handler", "orders.api.nothere"], env=host_env()) == 3
    assert "Runtime.HandlerNotFound" in capsys.readouterr().out


def manifest_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


SANDBOX = """\
import os

COUNT = [0]


def handler(event, context):
    COUNT[0] += 1
    if event.get("fail"):
        raise ValueError("this event fails")
    if event.get("tmp_mb"):
        chunk = b"x" * (1 << 20)
        with open("/tmp/big", "wb") as fh:
            for _ in range(event["tmp_mb"]):
                fh.write(chunk)
        return {"tmp": os.path.getsize("/tmp/big") >> 20}
    if event.get("hold_mb"):
        global HELD
        HELD = b"y" * (event["hold_mb"] << 20)
    if event.get("sleep"):
        import time
        time.sleep(event["sleep"])
    return {"count": COUNT[0], "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]}
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(SANDBOX)
    return write_zip(tmp_path / "sandbox.zip", collect(code)).path


def _event(tmp_path: Path, name: str, document: object) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_tmp_is_ephemeral_storage_apart_from_memory(
    tmp_path: Path, sandbox: Path, images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    base = ["invoke", str(sandbox), "--handler", "app.handler", "--arch", "x86_64"]
    base += ["--python", "3.11", "--base-image", images[("3.11", "x86_64")], "--json"]

    def run(*extra: str) -> tuple[int, dict[str, object]]:
        code = main([*base, *extra], env={})
        return code, json.loads(capsys.readouterr().out)

    # 200 MB in /tmp at 128 MB of memory: /tmp is not memory
    code, outcome = run("--event", _event(tmp_path, "t200", {"tmp_mb": 200}))
    assert (code, outcome["result"]) == (0, {"tmp": 200})
    assert outcome["memory_mb"] == 128
    # 600 MB in /tmp at the default 512 MB of ephemeral storage: no space left
    code, outcome = run("--event", _event(tmp_path, "t600", {"tmp_mb": 600}))
    assert code == 10
    assert not outcome["ok"]
    assert "No space left on device" in json.dumps(outcome["error"])
    # ... which --ephemeral-storage gives
    code, outcome = run("--event", _event(tmp_path, "t600", {"tmp_mb": 600}),
                        "--ephemeral-storage", "1024")  # fmt: skip
    assert (code, outcome["result"]) == (0, {"tmp": 600})
    # 400 MB held at 256 MB of memory: out of memory, and --json still says so
    code, outcome = run("--event", _event(tmp_path, "m400", {"hold_mb": 400}), "--memory", "256")
    assert code == 10
    error = outcome["error"]
    assert isinstance(error, dict)
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert isinstance(outcome["report"], str)
    assert "Memory Size: 256 MB" in outcome["report"]
    # Lambda's default timeout is 3 s, and --json says that too
    code, outcome = run("--event", _event(tmp_path, "slow", {"sleep": 5}))
    assert code == 10
    assert "Task timed out after 3.00 seconds" in json.dumps(outcome["error"])


def test_warm_invocations_share_one_sandbox_and_report_as_lambda_does(
    tmp_path: Path, sandbox: Path, engine: Engine, images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    image = images[("3.11", "x86_64")]
    base = ["invoke", str(sandbox), "--handler", "app.handler", "--arch", "x86_64"]
    base += ["--python", "3.11", "--base-image", image]
    one, two = _event(tmp_path, "one", {}), _event(tmp_path, "two", {"n": 2})
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"from": "stdin"}')))
    assert main([*base, "--event", one, "--event", "-", "--repeat", "2"], env={}) == 0
    captured = capsys.readouterr()
    results = [json.loads(line) for line in captured.out.splitlines()]  # one line each
    assert [r["count"] for r in results] == [1, 2, 3, 4]  # one init, module state kept
    reports = [line for line in captured.err.splitlines() if "REPORT RequestId:" in line]
    assert len(reports) == 4  # once each, never twice
    assert ["Init Duration" in line for line in reports] == [True, False, False, False]
    assert "3 warm" in captured.err
    assert f"in {image}" in captured.err
    assert "sha256:" not in captured.err

    assert main([*base, "--event", one, "--event", two, "--json"], env={}) == 0
    document = json.loads(capsys.readouterr().out)
    assert [i["result"]["count"] for i in document["invocations"]] == [1, 2]
    assert document["invocations"][0]["init_ms"] > 0
    assert document["invocations"][1]["init_ms"] is None
    assert sum("REPORT RequestId:" in line for line in document["logs"]) == 2
    assert document["image"] == image

    # a failing event in the middle: the sandbox goes on (a handled error), every result that
    # came back is printed, and --json's top level is the failure
    fails = _event(tmp_path, "fails", {"fail": True})
    assert main([*base, "--event", one, "--event", fails, "--event", two], env={}) == 10
    captured = capsys.readouterr()
    assert [json.loads(line)["count"] for line in captured.out.splitlines()] == [1, 3]
    assert "event 2 of 3: app.handler failed: ValueError: this event fails" in captured.err
    assert main([*base, "--event", one, "--event", fails, "--event", two, "--json"], env={}) == 10
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert document["error"]["errorMessage"] == "this event fails"
    assert [i["ok"] for i in document["invocations"]] == [True, False, True]

    # an event over Lambda's 6 MB is refused before any container starts
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * 6_291_456}))
    time.sleep(1.1)  # the engine's event times are whole seconds
    since = time.time()
    assert main([*base, "--event", str(big)], env={}) == 2
    assert "RequestEntityTooLarge" in capsys.readouterr().err
    assert containers_created(engine, since) == 0
