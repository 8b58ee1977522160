"""Output speaks the language of where it runs: terminal, CI, GitHub Actions."""

from __future__ import annotations

import io
from typing import Any

import pytest

from lambdazip.build.engine import Engine
from lambdazip.cli import main
from lambdazip.cli.console import Console, Mode, detect_mode, wants_color
from lambdazip.judge.findings import Finding, Severity


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


FINDING = Finding(
    code="elf-machine",
    severity=Severity.ERROR,
    path="python/m.so",
    expected="x86_64",
    found="aarch64",
    remedy="Rebuild 100% natively.",
)


def _console(mode: Mode, color: bool = False, verbosity: int = 0) -> tuple[Console, Any, Any]:
    out, err = Terminal(), Terminal()
    return Console(out, err, color, verbosity, mode), out, err


@pytest.mark.parametrize(
    ("env", "tty", "mode", "color"),
    [
        ({}, True, Mode.TTY, True),
        ({"NO_COLOR": ""}, True, Mode.TTY, False),
        ({}, False, Mode.PLAIN, False),
        ({"FORCE_COLOR": "1"}, False, Mode.PLAIN, True),
        ({"CI": "true"}, True, Mode.PLAIN, True),
        ({"CI": "true", "GITHUB_ACTIONS": "true"}, False, Mode.GITHUB, False),
        ({"TERM": "dumb"}, True, Mode.TTY, False),
    ],
)
def test_where_we_are(env: dict[str, str], tty: bool, mode: Mode, color: bool) -> None:
    stream = Terminal() if tty else io.StringIO()
    assert detect_mode(stream, env) is mode
    assert wants_color(stream, env) is color


def test_github_actions_gets_groups_and_annotations() -> None:
    console, out, err = _console(Mode.GITHUB)
    console.step("installing")
    console.detail("ERROR: boom")
    console.step("checking")
    console.finding(FINDING)
    console.error("it failed\nbadly", "do this")
    lines = err.getvalue().splitlines()
    assert lines[0] == "::group::installing"
    assert lines[1] == "    ERROR: boom"
    assert lines[2].startswith("    done in ")
    assert lines[3:5] == ["::endgroup::", "::group::checking"]
    assert lines[-2] == "::endgroup::"  # closed, with no "done" line: it failed
    assert not lines[-3].startswith("    done in")
    assert lines[-1] == "::error::it failed badly; do this"  # one line, whatever it was given
    assert out.getvalue() == (
        "::error title=lambdazip elf-machine::error: python/m.so: expected x86_64; "
        "found aarch64. Rebuild 100%25 natively.\n"
    )


def test_plain_lines_in_ci_have_no_escape_sequences() -> None:
    console, out, err = _console(Mode.PLAIN)
    console.step("pulling")
    console.transfer("pulling", 5_000_000, 10_000_000)
    console.success("ok")
    console.finding(FINDING)
    assert "\033" not in err.getvalue() + out.getvalue()
    assert "\r" not in err.getvalue()
    assert err.getvalue().splitlines()[0] == "==> pulling"
    assert err.getvalue().splitlines()[1].startswith("    done in ")


def test_a_terminal_gets_colour_and_a_live_progress_line() -> None:
    console, _out, err = _console(Mode.TTY, color=True)
    console.step("pulling")
    console.transfer("pulling", 5_000_000, 10_000_000)
    console.transfer("pulling", 10_000_000, 10_000_000)
    console.info("next")
    text = err.getvalue()
    assert "\033[1m==> pulling\033[0m" in text
    assert "\r\033[K    pulling: 5.0 / 10.0 MB (50%)" in text
    assert "\r\033[K    pulling: 10.0 / 10.0 MB (100%)\r\033[Knext\n" in text


def test_quiet_keeps_errors_and_results_only() -> None:
    console, out, err = _console(Mode.PLAIN, verbosity=-1)
    console.step("a")
    console.info("b")
    console.success("c")
    console.result("{}")
    console.error("d")
    assert err.getvalue() == "c\nerror: d\n"  # the result line stays: the zip, its sha256
    assert out.getvalue() == "{}\n"


class _PullingApi:
    """The engine's API at the edge: a pull that streams what a registry sends."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def pull(self, *_args: object, **_kwargs: object) -> Any:
        return iter(self.events)

    def inspect_image(self, reference: str) -> dict[str, Any]:
        return {"Id": "sha256:1", "Architecture": "arm64", "Os": "linux", "RepoDigests": []}


class _Client:
    def __init__(self, api: _PullingApi) -> None:
        self.api = api


def test_pull_reports_the_bytes_of_all_layers() -> None:
    events = [
        {"status": "Pulling from lambda/python", "id": "3.13-arm64"},
        {"status": "Downloading", "id": "a", "progressDetail": {"current": 10, "total": 100}},
        {"status": "Downloading", "id": "b", "progressDetail": {"current": 5, "total": 50}},
        {"status": "Downloading", "id": "a", "progressDetail": {"current": 100, "total": 100}},
        {"status": "Download complete", "id": "a", "progressDetail": {}},
    ]
    engine = Engine(_Client(_PullingApi(events)))  # type: ignore[arg-type]
    statuses: list[str] = []
    moved: list[tuple[int, int]] = []
    info = engine.pull("img", "linux/arm64", statuses.append, lambda d, t: moved.append((d, t)))
    assert info.architecture == "arm64"
    assert moved == [(10, 100), (15, 150), (105, 150)]
    assert statuses == ["3.13-arm64 Pulling from lambda/python", "a Download complete"]


def test_github_actions_error_line_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"GITHUB_ACTIONS": "true", "CI": "true"}
    assert main(["check", "missing.zip", "--arch", "arm64", "--python", "3.13"], env=env) == 4
    err = capsys.readouterr().err
    assert err == (
        "::error::missing.zip does not exist; pass the path of a zip or of an unpacked directory\n"
    )


def test_a_long_step_shows_the_tools_latest_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without -v: a live line on a terminal; in CI a heartbeat, at most one per HEARTBEAT."""
    console, _out, err = _console(Mode.PLAIN)
    clock = iter([100.0, 101.0, 111.0])
    monkeypatch.setattr("lambdazip.cli.console.time.monotonic", lambda: next(clock))
    console.detail("Resolved 5 packages")
    console.detail("Prepared 3 packages")  # 1 s later: no second line
    console.detail("Installed 5 packages")  # 11 s later: a heartbeat
    assert err.getvalue().splitlines() == [
        "    ... Resolved 5 packages",
        "    ... Installed 5 packages",
    ]
    tty, _out, live = _console(Mode.TTY)
    tty.detail("Resolved 5 packages")
    assert live.getvalue() == "\r\033[K    Resolved 5 packages"


def test_a_long_progress_line_fits_without_cutting_a_word_unseen() -> None:
    from lambdazip.cli.console import fit

    words = "    " + "resolving dependencies " * 10
    cut = fit(words, 80)
    assert len(cut) <= 80
    assert cut.endswith(" \u2026")
    assert cut[:-2].split()[-1] in ("resolving", "dependencies")  # whole words only
    path = "    copying /opt/python/lib/python3.13/site-packages/" + "x" * 120 + "/module.py"
    cut = fit(path, 80)
    assert len(cut) == 80
    assert cut.endswith("/module.py")  # the end of a long path is kept
    assert "\u2026" in cut
    assert fit("short", 80) == "short"


def test_a_table_is_aligned_by_its_widest_cells(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console.create({})
    console.table(["target", ">seconds", "artifact"], [["python3.13-arm64", "1.5", "dist/a.zip"]])
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "target            seconds  artifact",
        "python3.13-arm64      1.5  dist/a.zip",
    ]
