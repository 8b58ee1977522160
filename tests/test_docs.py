"""The docs: the README is a short front page; docs/ builds as a site with warnings as errors; the
generated pages are current; every command example parses with the tool's own parser (and names a
real make target), and those that need what this machine lacks say so. No engine needed: the
README's tour runs for real in tests/test_docs_examples.py."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lambdazip.cli.parser import build_parser
from tests.docs import generated

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOOL = ("lambdazip", "python build.py", ".venv/bin/python build.py", "python -m lambdazip")
NEEDS = re.compile(r"#\s*needs (AWS|a registry|a remote engine)")


def examples(path: Path) -> list[str]:
    """The commands of the ```sh blocks of a page, continuation lines joined."""
    found: list[str] = []
    inside = False
    pending = ""
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```sh"
            continue
        if not inside:
            continue
        pending += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            found.append(pending.strip())
            pending = ""
    return [f for f in found if f]


def tool_argv(command: str) -> list[str] | None:
    """The argv a command example gives the tool (its synopsis' optional parts, in [ ], and its
    comment left out), or None when it is not a command of the tool."""
    text = command.split(" #")[0].strip()
    text = re.sub(r"^\S+=\S+\s+", "", text)  # VAR=value before the command
    for prefix in TOOL:
        if text.startswith(prefix + " "):
            rest = re.sub(r"\[[^\]]*\]", "", text.removeprefix(prefix))
            words = shlex.split(rest.replace("<digest>", "0" * 64))
            shell = [i for i, w in enumerate(words) if w in (">", ">>", "|", "&&", ";")]
            return words[: shell[0]] if shell else words  # the shell's part is not the tool's
    return None


def test_the_readme_is_a_short_front_page() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 260  # of which "Past one machine"'s workflow is 40
    assert "## The two commands" in readme
    assert "## Layout" in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / link).is_file(), link


def test_the_generated_pages_are_current() -> None:
    for path, text in generated().items():
        assert path.read_text() == text, f"regenerate {path.name}: python -m tests.docs"


def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "options" / "index.html").is_file()
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", (REPO / "mkdocs.yml").read_text(), re.M))
    assert listed == {p.name for p in PAGES if p.parent.name == "docs"}  # every page in the nav


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_example_is_one_the_tool_takes(page: Path) -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    for command in examples(page):
        argv = tool_argv(command)
        if argv is not None:
            build_parser().parse_args(argv)  # a UsageError names what is wrong
            continue
        words = shlex.split(command.split(" #")[0])
        words = [w for w in words if not re.match(r"^[A-Z_0-9]+=", w)]
        if words and words[0] == "make":
            for target in words[1:]:
                assert target in targets, f"{page.name}: make {target}: no such target"
            for variable in re.findall(r"\b([A-Z_]+)=", command):
                assert re.search(rf"\b{variable}\b", makefile), f"{page.name}: {variable}"


def test_the_tours_commands_run_or_say_what_they_need() -> None:
    """Every tool command of the README runs in tests/test_docs_examples.py, unless its comment
    says it needs what this machine does not have (AWS, a registry, a remote engine)."""
    from tests.test_docs_examples import images_section, tour

    readme = REPO / "README.md"
    run = {" ".join(argv) for argv, _toml in tour()} | {" ".join(a) for a in images_section()}
    for command in examples(readme):
        argv = tool_argv(command)
        if argv is None or command.split(" ")[0] != "lambdazip":
            continue
        assert " ".join(argv) in run or NEEDS.search(command), command
