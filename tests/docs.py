"""The pages of docs/ that are generated, never typed: docs/errors.md (every bad input and exit
code, tests/bad_inputs.py), the rules table of docs/check.md (lambdazip/judge/rules.py) and
docs/options.md (the build options, lambdazip/inputs/build_inputs.py). `python -m tests.docs`
writes them; tests/test_docs.py fails when one is stale."""

from __future__ import annotations

from pathlib import Path

from lambdazip.inputs.build_inputs import declarations, default_text
from tests.bad_inputs import check_page_with_rules, markdown, replace_block

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def options_page() -> str:
    lines = [
        "# Build options",
        "",
        "Every build command (`layer`, `function`, `matrix`, `build`) takes these options,",
        "declared once in `lambdazip/inputs/build_inputs.py`, from which this page is generated.",
        "Each comes",
        "from the first of: the command line; the environment (`LAMBDAZIP_` and the option in",
        "capitals); the artifact's table in `[tool.lambdazip]` (`build` only); the top level of",
        "`[tool.lambdazip]` in the project's `pyproject.toml`; the default.",
        "",
        "```toml",
        "[tool.lambdazip]",
        'installer = "pip"       # every artifact',
        "strip = true",
        "",
        "[tool.lambdazip.layers.deps]",
        'exclude = ["boto3"]     # this one alone',
        "```",
        "",
        "| option | environment | `[tool.lambdazip]` | default | what it does | in the manifest |",
        "|---|---|---|---|---|---|",
    ]
    for field, declared in declarations():
        flag = f"`{declared.flag}`" + (f", `{declared.off[0]}`" if declared.off else "")
        key = f"`{declared.key}`" if declared.config else "-"
        recorded = "yes; `verify` rebuilds with it" if not declared.recorded else declared.recorded
        lines.append(
            f"| {flag} | `{declared.variable}` | {key} | {default_text(field)} | "
            f"{declared.help} | {recorded} |"
        )
    return "\n".join(lines) + "\n"


MODULES_START = "<!-- modules: generated from the docstrings -->\n"
MODULES_END = "<!-- end of modules -->\n"


def module_table() -> str:
    """Every module of the package and the first sentence of its docstring."""
    import ast

    rows = ["| module | what |", "|---|---|"]
    for path in sorted((REPO / "lambdazip").rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if not doc:
            continue  # an empty __init__.py
        first = " ".join(doc.split("\n\n")[0].split())
        sentence = first.split(". ")[0].rstrip(".") + "."
        name = path.relative_to(REPO).as_posix()
        escaped = sentence.replace("|", "\\|")
        rows.append(f"| `{name}` | {escaped} |")
    return "\n".join(rows) + "\n"


def generated() -> dict[Path, str]:
    """Each generated page (or page with a generated part) and what it should hold."""
    return {
        DOCS / "errors.md": markdown(),
        DOCS / "check.md": check_page_with_rules((DOCS / "check.md").read_text()),
        DOCS / "options.md": options_page(),
        DOCS / "development.md": replace_block(
            (DOCS / "development.md").read_text(), MODULES_START, MODULES_END, module_table()
        ),
        DOCS / "build-document.schema.json": build_document_schema(),
    }


def build_document_schema() -> str:
    """`lambdazip build --json`'s JSON Schema (outputs/report.py's BuildDocument)."""
    import json

    from lambdazip.outputs.report import BuildDocument

    return json.dumps(BuildDocument.model_json_schema(), indent=2, sort_keys=True) + "\n"


def write_generated() -> None:
    for path, text in generated().items():
        path.write_text(text)


if __name__ == "__main__":
    write_generated()
