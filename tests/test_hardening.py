"""Builds and invokes that cannot lie, on the real engine and the stand-ins: verification on reuse,
what --src packs, installer leftovers, the outcome of a handler whatever it prints or however it
ends, Lambda's bounds and user, and the image's own Python checked before anything runs."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from lambdazip.cli import main
from tests.conftest import host_env
from tests.wheels import REPO
from tests.zips import collect, write_zip

pytestmark = [pytest.mark.integration, pytest.mark.network]

LOCK = ["-r", str(REPO / "requirements.txt")]
T = ["--arch", "x86_64", "--python", "3.11"]


def _handler_src(tmp_path: Path, body: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "app.py").write_text(body)
    return src


def test_a_smoke_event_runs_on_a_reused_zip_and_is_part_of_the_key(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = _handler_src(
        tmp_path,
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise ValueError('told to fail')\n"
        "    return {'ok': True}\n",
    )
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"fail": false}')
    bad.write_text('{"fail": true}')
    argv = [
        "function",
        *T,
        "--src",
        str(src),
        "--handler",
        "app.handler",
        "-o",
        str(tmp_path / "d"),
    ]
    argv += [*LOCK, "--base-image", images[("3.11", "x86_64")]]
    assert main([*argv, "--smoke-event", str(good)], env=host_env()) == 0
    capsys.readouterr()
    assert main([*argv, "--smoke-event", str(good)], env=host_env()) == 0
    assert "up to date, reused; the smoke event ran again on it" in capsys.readouterr().err
    assert main([*argv, "--smoke-event", str(bad)], env=host_env()) == 10  # not "up to date"
    assert "ValueError: told to fail" in capsys.readouterr().err


def test_src_leaves_out_junk_and_the_output_and_lists_them(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = _handler_src(tmp_path, "def handler(event, context):\n    return event\n")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\x00" * 16)
    (src / ".env").write_text("API_KEY=hunter2\n")
    out = src / "dist"  # the output inside --src
    argv = ["function", *T, "--src", str(src), "-o", str(out), *LOCK]
    argv += ["--base-image", images[("3.11", "x86_64")]]
    assert main(argv, env=host_env()) == 2
    assert "typically hold secrets: .env" in capsys.readouterr().err
    (src / ".lambdazipignore").write_text(".env\n")
    for _ in range(2):  # the second run must not pack the first one's zip
        assert main([*argv, "--force"], env=host_env()) == 0
    zip_path = out / "src-python3.11-x86_64.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        pyc = zf.read("__pycache__/app.cpython-311.pyc")  # compiled in the image, not the host's
    assert "app.py" in names
    assert not [n for n in names if n.startswith((".git", "dist", ".env"))]
    assert pyc != b"\x00" * 16
    manifest = json.loads(zip_path.with_suffix(".manifest.json").read_text())
    left_out = {item["path"]: item["reason"] for item in manifest["left_out"]}
    assert left_out[".git/HEAD"] == "version control"
    assert left_out[".env"] == ".lambdazipignore"
    assert left_out["dist/src-python3.11-x86_64.zip"] == "the output directory"


def test_installer_droppings_never_reach_a_layer(
    tmp_path: Path, images: dict[tuple[str, str], str]
) -> None:
    out = tmp_path / "dist"
    argv = ["layer", *T, "-o", str(out), *LOCK, "--base-image", images[("3.11", "x86_64")]]
    assert main([*argv, "--force", "-q"], env=host_env()) == 0
    zip_path = out / "layer-python3.11-x86_64.zip"
    with zipfile.ZipFile(zip_path) as zf:
        assert "python/.lock" not in zf.namelist()
        assert not [n for n in zf.namelist() if n.startswith("python/bin/")]
    manifest = json.loads(zip_path.with_suffix(".manifest.json").read_text())
    assert {"path": ".lock", "reason": "the installer's lock file"} in manifest["left_out"]


HANDLERS = """
import os, sys
def loud(event, context):
    sys.stdout.write("x" * 1024 * 1024 * 6)
    sys.stdout.flush()
    return {"printed": 6}
def leaves(event, context):
    sys.exit(3)
def vanishes(event, context):
    os._exit(4)
def greedy(event, context):
    hog = bytearray(400 * 1024 * 1024)
    return len(hog)
def who(event, context):
    return {"uid": os.getuid(), "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
            "left_ms": context.get_remaining_time_in_millis(), "id": context.aws_request_id}
def sdk(event, context):
    import boto3  # not in the zip: the runtime's own, as on Lambda
    return {"boto3": boto3.__version__, "from": boto3.__file__}
def raises(event, context):
    raise ValueError("no such order")
def large(event, context):
    return "x" * 6_300_000
"""
ERROR = "Runtime exited with error"
REPORT = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>[0-9.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<size>\d+) MB\t"
    r"Max Memory Used: (?P<used>\d+) MB\tInit Duration: (?P<init>[0-9.]+) ms"
)


def test_invoke_reports_what_happened_whatever_the_handler_does(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = _handler_src(tmp_path, HANDLERS)
    function = write_zip(tmp_path / "f.zip", collect(src)).path
    event = tmp_path / "e.json"
    event.write_text("{}")
    base = ["invoke", str(function), "--event", str(event), *T, "--json"]
    base += ["--base-image", images[("3.11", "x86_64")]]

    assert main([*base, "--handler", "app.loud"], env={}) == 0
    assert json.loads(capsys.readouterr().out)["result"] == {"printed": 6}
    assert main([*base, "--handler", "app.leaves"], env={}) == 10
    assert re.search(
        rf"Runtime.ExitError: RequestId: \S+ Error: {ERROR}: exit status 3$",
        capsys.readouterr().err.splitlines()[-1].split(";")[0],
    )
    assert main([*base, "--handler", "app.vanishes"], env={}) == 10
    assert "Runtime.ExitError: RequestId: " in (err := capsys.readouterr().err)
    assert f"{ERROR}: exit status 4" in err
    assert main([*base, "--handler", "app.greedy", "--memory", "128"], env={}) == 10
    err = capsys.readouterr().err
    assert "Runtime.OutOfMemory: RequestId: " in err, err
    assert f"{ERROR}: signal: killed" in err, err
    assert "raise --memory" in err

    # Lambda's limit on a synchronous response
    assert main([*base, "--handler", "app.large"], env={}) == 10
    assert (
        "app.large failed: Function.ResponseSizeTooLarge: Response payload size exceeded maximum "
        "allowed payload size (6291556 bytes)." in capsys.readouterr().err
    )

    # the runtime's own error document, through AWS's client
    assert main([*base, "--handler", "app.raises"], env={}) == 10
    err = capsys.readouterr().err
    assert "app.raises failed: ValueError: no such order" in err, err

    assert main([*base, "--handler", "app.who", "--memory", "256", "--timeout", "7"], env={}) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"]["uid"] == 993
    assert out["result"]["memory"] == "256"
    assert 0 < out["result"]["left_ms"] <= 7000
    report = REPORT.fullmatch(out["report"])
    assert report, out["report"]
    assert report["id"] == out["request_id"] == out["result"]["id"]
    assert report["size"] == "256"
    assert 0 < int(report["used"]) < 256
    assert int(report["billed"]) >= float(report["duration"]) + float(report["init"])

    assert main([*base, "--handler", "app.sdk"], env={}) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert result["from"].startswith("/var/runtime/boto3/"), result


def test_invoke_refuses_an_image_of_another_python(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    src = _handler_src(tmp_path, "def handler(event, context):\n    return 1\n")
    function = write_zip(tmp_path / "f.zip", collect(src)).path
    event = tmp_path / "e.json"
    event.write_text("{}")
    argv = ["invoke", str(function), "--event", str(event), "--handler", "app.handler"]
    argv += ["--arch", "x86_64", "--python", "3.13", "--base-image", images[("3.11", "x86_64")]]
    assert main(argv, env={}) == 7
    err = capsys.readouterr().err
    assert "runs python3.11 on x86_64, but the target is python3.13 on x86_64" in err
    assert "nothing was run" in err
