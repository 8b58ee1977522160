"""All terminal output goes through one Console. It knows where it is and speaks that place's
language: on a terminal, colour (unless NO_COLOR), step durations and a live pull progress line; in
CI, plain lines; on GitHub Actions, ``::group::`` per step and ``::error::``/``::warning::``
annotations. Only the CLI creates one; library code returns values and raises errors."""

from __future__ import annotations

import enum
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # pydantic stays out of commands that never meet a finding (a no-op build)
    from lambdazip.judge.findings import Finding

_CODES = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "dim": "2"}
_LOCK = threading.Lock()  # whole lines, also when parallel builds report at once


class Mode(str, enum.Enum):
    TTY = "tty"  # a person at a terminal
    PLAIN = "plain"  # CI, a pipe, a file
    GITHUB = "github"  # GitHub Actions: workflow commands


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def wants_color(stream: TextIO, env: Mapping[str, str]) -> bool:
    """NO_COLOR (any value) turns colour off; FORCE_COLOR turns it on; else only on a TTY."""
    if "NO_COLOR" in env:
        return False
    if env.get("FORCE_COLOR"):
        return True
    return _isatty(stream) and env.get("TERM") != "dumb"


def detect_mode(stream: TextIO, env: Mapping[str, str]) -> Mode:
    if env.get("GITHUB_ACTIONS") == "true":
        return Mode.GITHUB
    if env.get("CI") or not _isatty(stream):
        return Mode.PLAIN
    return Mode.TTY


def _escape(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped as GitHub reads them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


HEARTBEAT = 10.0  # seconds between heartbeat lines of a long step in CI


def fit(text: str, width: int) -> str:
    """``text`` in ``width`` characters: cut after a word with an ellipsis, or, where the end is
    one long word (a path), with its middle left out, so that no word is cut in two unseen."""
    if len(text) <= width:
        return text
    head = text[: width - 2]
    space = head.rfind(" ")
    if space >= width * 2 // 3:
        return head[:space] + " \u2026"
    keep = (width - 1) // 2
    return text[:keep] + "\u2026" + text[len(text) - (width - 1 - keep) :]


@dataclass
class Console:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    color: bool = False
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    mode: Mode = Mode.PLAIN
    json: bool = False  # stdout is one JSON document (--json): findings go to stderr
    _step: tuple[str, float] | None = None
    _live: bool = False  # a progress line is on the terminal, to be overwritten
    _heartbeat: float = 0.0  # when the last heartbeat line was written (CI)

    @classmethod
    def create(cls, env: Mapping[str, str], verbosity: int = 0) -> Console:
        mode = detect_mode(sys.stderr, env)
        return cls(sys.stdout, sys.stderr, wants_color(sys.stderr, env), verbosity, mode)

    # -- the low level ---------------------------------------------------------------------------

    def write_line(self, text: str, stream: TextIO) -> None:
        with _LOCK:
            if self._live:
                self.err.write("\r\033[K")
                self._live = False
            stream.write(text + "\n")
            stream.flush()

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"

    # -- what commands say -------------------------------------------------------------------------

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self.write_line(message, self.err)

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            self.write_line(self.paint(message, "dim"), self.err)

    def result(self, text: str) -> None:
        """The command's product (a report, JSON): stdout, never suppressed."""
        self.write_line(text, self.out)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A summary table on stdout: each column as wide as its widest cell; a column whose
        name starts with ">" is right-aligned (numbers); the last one is not padded; a cell of
        several lines (an error's) folded into one."""
        names = [c.removeprefix(">") for c in columns]
        rows = [[" ".join(cell.split()) for cell in row] for row in rows]  # a row is one line
        widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
        for cells in [names, *rows]:
            parts = [
                cell.rjust(width) if column.startswith(">") else cell.ljust(width)
                for cell, width, column in zip(cells, widths, columns, strict=True)
            ]
            self.result("  ".join([*parts[:-1], cells[-1]]))

    def finding(self, finding: Finding) -> None:
        """A finding, part of the report on stdout; on stderr when stdout is a JSON document
        (which carries the findings itself, or the manifests it names do)."""
        stream = self.err if self.json else self.out
        if self.mode is Mode.GITHUB:
            kind = "error" if finding.severity == "error" else "warning"
            self.write_line(
                f"::{kind} title=lambdazip {finding.code}::{_escape(finding.line())}", stream
            )
            return
        color = "red" if finding.severity == "error" else "yellow"
        label = self.paint(f"{finding.severity.value}:", color, "bold")
        self.write_line(f"{label}{finding.line().split(':', 1)[1]}", stream)

    def success(self, message: str) -> None:
        """The result line (the zip, its sha256): kept also with -q, which drops progress."""
        self._end_step()
        self.write_line(self.paint(message, "green"), self.err)

    def warning(self, message: str, tip: str | None = None) -> None:
        """One line about how the command went (not a finding on an artifact): it goes on."""
        self._end_step()  # (in GitHub's log, not inside the step's folded group)
        line = f"{message}; {tip}" if tip else message
        if self.mode is Mode.GITHUB:
            self.write_line(f"::warning::{_escape(line)}", self.err)
        else:
            self.write_line(f"{self.paint('warning:', 'yellow', 'bold')} {line}", self.err)

    def error(self, message: str, tip: str | None = None) -> None:
        """One line: what failed, then what to do (whatever either holds: line breaks folded)."""
        self._end_step(failed=True)
        line = " ".join((f"{message}; {tip}" if tip else message).split())
        if self.mode is Mode.GITHUB:
            self.write_line(f"::error::{_escape(line)}", self.err)
        else:
            self.write_line(f"{self.paint('error:', 'red', 'bold')} {line}", self.err)

    # -- progress of long jobs ---------------------------------------------------------------------

    def step(self, title: str) -> None:
        """Begin a step of a long job; the previous one ends, with its duration."""
        self._end_step()
        self._step = (title, time.monotonic())
        if self.verbosity < 0:
            return
        if self.mode is Mode.GITHUB:
            self.write_line(f"::group::{_escape(title)}", self.err)
        else:
            self.write_line(self.paint(f"==> {title}", "bold"), self.err)

    def _end_step(self, failed: bool = False) -> None:
        """The current step ends: its duration, unless it failed (the error line follows)."""
        if self._step is None:
            return
        _title, started = self._step
        self._step = None
        if self.verbosity < 0:
            return
        elapsed = time.monotonic() - started
        ended = f"    failed after {elapsed:.1f}s" if failed else f"    done in {elapsed:.1f}s"
        self.write_line(self.paint(ended, "red" if failed else "dim"), self.err)
        if self.mode is Mode.GITHUB:
            self.write_line("::endgroup::", self.err)

    def detail(self, line: str) -> None:
        """Output of a tool we run (pip, uv, the engine): shown with -v, its errors always;
        otherwise its latest line live on a terminal, and a heartbeat every HEARTBEAT seconds
        in CI, so a long install is never silent."""
        if self.verbosity > 0 or line.startswith(("ERROR", "error")):
            self.write_line(f"    {line}", self.err)
            return
        if self.verbosity < 0 or not line.strip():
            return
        if self.mode is Mode.TTY:
            import shutil

            width = shutil.get_terminal_size((100, 24)).columns - 1
            with _LOCK:
                self.err.write("\r\033[K" + fit(f"    {line.strip()}", width))
                self.err.flush()
                self._live = True
            return
        now = time.monotonic()
        if now - self._heartbeat >= HEARTBEAT:
            self._heartbeat = now
            self.write_line(fit(f"    ... {line.strip()}", 108), self.err)

    def transfer(self, what: str, done: int, total: int) -> None:
        """A live byte count (an image pull): one line rewritten in place, on a terminal only."""
        if self.mode is not Mode.TTY or self.verbosity < 0 or total <= 0:
            return
        text = f"    {what}: {done / 1e6:.1f} / {total / 1e6:.1f} MB ({100 * done // total}%)"
        with _LOCK:
            self.err.write("\r\033[K" + text)
            self.err.flush()
            self._live = True


class Prefixed:
    """Progress of one of several parallel jobs: its lines carry its name."""

    def __init__(self, console: Console, label: str) -> None:
        self.console = console
        self.label = label

    def step(self, title: str) -> None:
        if self.console.verbosity >= 0:
            self.console.write_line(
                self.console.paint(f"[{self.label}] ==> {title}", "bold"), self.console.err
            )

    def detail(self, line: str) -> None:
        if self.console.verbosity > 0 or line.startswith(("ERROR", "error")):
            self.console.write_line(f"[{self.label}]     {line}", self.console.err)

    def transfer(self, what: str, done: int, total: int) -> None:
        pass  # parallel jobs share the terminal: no live lines
