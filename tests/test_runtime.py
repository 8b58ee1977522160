"""Runtime fidelity on the real engine: bytecode that the read-only runtime really uses, `invoke`
as Lambda calls a handler, the build cache, and the parallel matrix."""

from __future__ import annotations

import json
import re
import shutil
import struct
import time
import zipfile
from pathlib import Path

import pytest

from lambdazip.build.engine import Engine
from lambdazip.build.runner import invoke
from lambdazip.cli import main
from lambdazip.cli.console import Console
from lambdazip.targets import RUNTIMES, Arch, Target
from tests.conftest import containers_created, host_env
from tests.wheels import REPO
from tests.zips import collect, write_zip

pytestmark = [pytest.mark.integration, pytest.mark.network]
LOCK = ["-r", str(REPO / "requirements.txt")]
EXAMPLE = REPO / "examples" / "orders"


def _build(kind: str, python: str, arch: str, out: Path, image: str, *extra: str) -> int:
    argv = [kind, "--arch", arch, "--python", python, "-o", str(out), *LOCK, "--base-image", image]
    return main([*argv, "-q", *extra], env=host_env())


def _code_only_function(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    shutil.copy(EXAMPLE / "app.py", code / "app.py")
    return write_zip(tmp_path / "function.zip", collect(code)).path


def _pyc_flags(layer: Path) -> set[int]:
    with zipfile.ZipFile(layer) as archive:
        return {
            struct.unpack_from("<I", archive.read(name), 4)[0]
            for name in archive.namelist()
            if name.endswith(".pyc")
        }


def test_the_read_only_runtime_uses_the_shipped_bytecode(
    tmp_path: Path, engine: Engine, images: dict[tuple[str, str], str]
) -> None:
    image = images[("3.11", "x86_64")]
    assert _build("layer", "3.11", "x86_64", tmp_path / "ours", image) == 0
    assert _build("layer", "3.11", "x86_64", tmp_path / "none", image, "--no-bytecode") == 0
    ours = tmp_path / "ours" / "layer-python3.11-x86_64.zip"
    none = tmp_path / "none" / "layer-python3.11-x86_64.zip"
    assert _pyc_flags(ours) == {0b01}  # PEP 552: hash-based, source not checked
    assert _pyc_flags(none) == set()

    function = _code_only_function(tmp_path)
    target = Target(RUNTIMES["3.11"], Arch.X86_64)
    event = (EXAMPLE / "event.json").read_bytes()
    quiet = Console(verbosity=-1)

    def imports_from_opt(layer: Path) -> tuple[int, int, bool]:
        """From `python -v`: modules whose shipped pyc matched, modules compiled from source,
        and whether writing a pyc there failed because /opt is read-only."""
        invoked = invoke(
            engine, function, [layer], "app.handler", [event], target, image, quiet, ("-v",)
        )
        outcome = invoked.last
        assert outcome.ok, outcome.error
        assert outcome.result == {"statusCode": 200, "order_id": 17, "items": 2}
        lines = [line for line in invoked.logs if "/opt/python/" in line]
        matched = [line for line in lines if " matches /opt/python/" in line]
        compiled = [
            line
            for line in lines
            if line.startswith("# code object from /opt/python/") and line.endswith(".py")
        ]
        read_only = any("Read-only file system" in line for line in lines)
        return len(matched), len(compiled), read_only

    matched, compiled, _ = imports_from_opt(ours)
    assert matched >= 40  # pydantic, pydantic_core, typing_extensions, ...
    assert compiled == 0
    # the control: without bytecode every module is compiled on every cold start, since the
    # compiled code cannot be saved on the read-only /opt
    matched, compiled, read_only = imports_from_opt(none)
    assert (matched, compiled >= 40, read_only) == (0, True, True)


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_example_function_builds_and_answers_its_smoke_event(
    arch: str,
    tmp_path: Path,
    images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = images[("3.11", arch)]
    code = _build(
        "function", "3.11", arch, tmp_path, image, "--src", str(EXAMPLE),
        "--handler", "app.handler", "--smoke-event", str(EXAMPLE / "event.json"),
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    built = tmp_path / f"orders-python3.11-{arch}.zip"
    assert built.is_file()

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"order_id": "x", "customer": "ada", "items": []}))
    argv = ["invoke", str(built), "--handler", "app.handler", "--event", str(bad)]
    assert main([*argv, "--base-image", image], env={}) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["statusCode"] == 400
    assert {e["loc"][0] for e in answer["errors"]} == {"order_id", "items"}


def test_a_failing_smoke_event_writes_no_artifact(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("def handler(event, context):\n    raise ValueError('boom')\n")
    event = tmp_path / "event.json"
    event.write_text("{}")
    code = _build(
        "function", "3.11", "x86_64", tmp_path / "dist", images[("3.11", "x86_64")],
        "--src", str(src), "--handler", "app.handler", "--smoke-event", str(event),
    )  # fmt: skip
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 10
    assert errors == [
        "error: app.handler failed: ValueError: boom; no artifact was written; run with -v for "
        "the function's output"
    ]
    assert not list((tmp_path / "dist").glob("*.zip"))


def test_invoke_reports_import_errors_and_the_context(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ctx.py").write_text(
        "import os, sys\n"
        "def handler(event, context):\n"
        "    open('/tmp/scratch', 'w').write('ok')\n"
        "    try:\n"
        "        open('/var/task/x', 'w')\n"
        "        writable = True\n"
        "    except OSError:\n"
        "        writable = False\n"
        "    left = context.get_remaining_time_in_millis()\n"
        "    return {'name': context.function_name, 'remaining': left > 0,\n"
        "            'request': len(context.aws_request_id), 'path': sys.path[:3],\n"
        "            'task_writable': writable, 'handler': os.environ['_HANDLER']}\n"
    )
    (src / "broken.py").write_text("import not_installed_anywhere\n")
    function = write_zip(tmp_path / "f.zip", collect(src)).path
    event = tmp_path / "e.json"
    event.write_text("{}")
    base = ["invoke", str(function), "--event", str(event), "--arch", "x86_64", "--python", "3.11"]
    base += ["--base-image", images[("3.11", "x86_64")]]

    assert main([*base, "--handler", "ctx.handler"], env={}) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer == {
        "name": "lambdazip-invoke",
        "remaining": True,
        "request": 36,
        "path": ["/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python"],
        "task_writable": False,
        "handler": "ctx.handler",
    }
    assert main([*base, "--handler", "broken.handler"], env={}) == 10
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(
        "error: broken.handler failed: Runtime.ImportModuleError: Unable to import module "
        "'broken': No module named 'not_installed_anywhere'"
    )
    event.write_text("{not json")
    assert main([*base, "--handler", "ctx.handler"], env={}) == 2
    assert "is not JSON" in capsys.readouterr().err


def test_unchanged_inputs_reuse_the_artifact_without_a_container(
    tmp_path: Path, engine: Engine, images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    image = images[("3.11", "x86_64")]
    assert _build("layer", "3.11", "x86_64", tmp_path, image) == 0
    built = tmp_path / "layer-python3.11-x86_64.zip"
    first = built.read_bytes()
    capsys.readouterr()

    time.sleep(1.1)  # the engine's event times are whole seconds
    since = time.time()
    assert main(["layer", "--arch", "x86_64", "--python", "3.11", "-o", str(tmp_path), *LOCK,
                 "--base-image", image], env=host_env()) == 0  # fmt: skip
    assert "up to date, reused (no container started)" in capsys.readouterr().err
    assert containers_created(engine, since) == 0
    assert built.read_bytes() == first

    # --no-cache (and any change of input) builds again, to the same bytes
    assert _build("layer", "3.11", "x86_64", tmp_path, image, "--no-cache") == 0
    assert containers_created(engine, since) == 1
    assert built.read_bytes() == first
    assert _build("layer", "3.11", "x86_64", tmp_path, image, "--bytecode", "checked-hash") == 0
    assert containers_created(engine, since) == 2
    assert built.read_bytes() != first


def test_matrix_builds_every_target_and_reports_failures_last(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["matrix", "--python", "3.11", "--python", "3.13", "-o", str(tmp_path), *LOCK]
    argv += [f"--base-image={p}/{a}={image}" for (p, a), image in images.items()]
    argv += ["--base-image=3.13/arm64=lambdazip-absent.invalid/none:here"]
    code = main([*argv, "-q"], env=host_env())
    out = capsys.readouterr().out
    assert code == 11
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert rows == {
        "python3.11-x86_64": "built",
        "python3.11-arm64": "built",
        "python3.13-x86_64": "built",
        "python3.13-arm64": "FAILED",
    }
    assert sorted(p.name for p in tmp_path.glob("*.zip")) == [
        "layer-python3.11-arm64.zip",
        "layer-python3.11-x86_64.zip",
        "layer-python3.13-x86_64.zip",
    ]


def test_a_handler_that_does_not_return_in_time_is_stopped(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "slow.py").write_text("import time\ndef handler(event, context):\n    time.sleep(600)\n")
    function = write_zip(tmp_path / "slow.zip", collect(src)).path
    event = tmp_path / "e.json"
    event.write_text("{}")
    started = time.monotonic()
    code = main(
        [
            "invoke",
            str(function),
            "--handler",
            "slow.handler",
            "--event",
            str(event),
            "--arch",
            "x86_64",
            "--python",
            "3.11",
            "--timeout",
            "3",
            "--base-image",
            images["3.11", "x86_64"],
        ],
        env={},
    )
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 10
    assert re.match(
        r"error: slow.handler failed: Sandbox.Timedout: RequestId: \S+ Error: Task timed out "
        r"after 3.00 seconds;",
        last,
    ), last
    assert time.monotonic() - started < 60
