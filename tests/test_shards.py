"""`build --shard I/N` and `build --list`: a stable share of a project's artifacts per runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdazip.cli import main
from lambdazip.errors import UsageError
from lambdazip.inputs.shards import parse_shard, shard_of

NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True), min_size=1, max_size=40,
                 unique=True)  # fmt: skip


@given(NAMES, st.integers(1, 12), st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True))
def test_adding_an_artifact_moves_no_other(names: list[str], count: int, added: str) -> None:
    before = {n: shard_of("function", n, "python3.13-x86_64", count) for n in names}
    after = {n: shard_of("function", n, "python3.13-x86_64", count) for n in [*names, added]}
    assert all(after[n] == before[n] for n in names)
    assert all(1 <= s <= count for s in after.values())


@given(NAMES, st.integers(1, 12))
def test_one_more_shard_moves_only_artifacts_into_it(names: list[str], count: int) -> None:
    """Rendezvous hashing: from N to N+1 shards an artifact either stays or goes to the new one."""
    for name in names:
        before = shard_of("layer", name, "python3.12-arm64", count)
        after = shard_of("layer", name, "python3.12-arm64", count + 1)
        assert after in (before, count + 1)


def test_shards_share_the_work_about_evenly() -> None:
    names = [f"fn-{i}" for i in range(400)]
    sizes = [0] * 4
    for name in names:
        sizes[shard_of("function", name, "python3.13-x86_64", 4) - 1] += 1
    assert min(sizes) > 70, sizes
    assert max(sizes) < 130, sizes


@pytest.mark.parametrize("text", ["0/4", "5/4", "4", "a/b", "1/0", "1/257", " /2"])
def test_a_shard_that_is_not_i_of_n_is_one_line(text: str) -> None:
    with pytest.raises(UsageError, match="is not I/N"):
        parse_shard(text)


PROJECT = """[project]
name = "mono"
version = "1"

[tool.lambdazip]
python = ["3.13"]
arch = ["x86_64", "arm64"]

[tool.lambdazip.layers.common]
requirements = "requirements.txt"

[tool.lambdazip.layers.science]
requirements = "requirements.txt"
"""


def _project(tmp_path: Path, functions: int) -> Path:
    uses = ("science", "common")
    text = PROJECT + "".join(
        f'\n[tool.lambdazip.functions.fn{i}]\nsrc = "src"\nlayers = ["{uses[i % 2]}"]\n'
        for i in range(functions)
    )
    (tmp_path / "pyproject.toml").write_text(text)
    (tmp_path / "src").mkdir(exist_ok=True)
    return tmp_path


def _listed(project: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    assert main(["build", "--project", str(project), "--list", "--json", *extra], env={}) == 0
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


def test_the_list_is_a_ci_matrix_and_the_shards_partition_the_artifacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, 12)
    document = _listed(project, capsys, "--shards", "4")
    artifacts = document["artifacts"]
    assert isinstance(artifacts, list)
    assert len(artifacts) == (2 + 12) * 2  # every artifact for both architectures
    jobs = {(a["shard"], a["arch"]) for a in artifacts}  # a job per pair that has an artifact
    assert document["matrix"] == {
        "include": [{"shard": f"{i}/4", "arch": arch} for i, arch in sorted(jobs)]
    }
    first = artifacts[0]
    assert (first["name"], first["kind"]) == ("common", "layer")
    assert first["zip"] == str(project / "dist" / f"common-{first['target']}.zip")
    # what each shard builds: its own artifacts, once over all shards, and the layers they use
    seen: list[tuple[str, str]] = []
    for index in range(1, 5):
        share = _listed(project, capsys, "--shard", f"{index}/4")["artifacts"]
        assert isinstance(share, list)
        seen += [(a["name"], a["target"]) for a in share if a["shard"] == index]
        used = {(layer, a["target"]) for a in share for layer in a["layers"]}
        assert all((a["name"], a["target"]) in used for a in share if a["shard"] != index)
        assert used <= {(a["name"], a["target"]) for a in share}
    assert sorted(seen) == sorted((a["name"], a["target"]) for a in artifacts)
    # one architecture's runner: only its targets
    arm = _listed(project, capsys, "--shards", "4", "--only-arch", "arm64")["artifacts"]
    assert isinstance(arm, list)
    assert [a for a in artifacts if a["arch"] == "arm64"] == arm
    # a function added moves nothing else
    again = _listed(_project(tmp_path, 13), capsys, "--shards", "4")["artifacts"]
    assert isinstance(again, list)
    assert [a for a in again if a["name"] != "fn12"] == artifacts


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--shards", "4"], "--shards N goes with --list"),
        (["--list", "--shard", "1/4", "--shards", "2"],
         "--shards 2 and --shard 1/4 name different counts"),
    ],
)  # fmt: skip
def test_shard_counts_that_disagree_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: str
) -> None:
    project = _project(tmp_path, 2)
    assert main(["build", "--project", str(project), *extra], env={}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert words in err[0]


def test_a_shard_builds_its_functions_layers_too(tmp_path: Path) -> None:
    from lambdazip.cli.commands.build_project import _in_shard
    from lambdazip.inputs.config import load_config
    from lambdazip.inputs.shards import Shard
    from lambdazip.targets import RUNTIMES, Arch, Target

    config = load_config(_project(tmp_path, 12))
    target = Target(RUNTIMES["3.13"], Arch.X86_64)
    layers = [(n, s, target) for n, s in config.layers.items()]
    functions = [(n, s, target) for n, s in config.functions.items()]
    for index in range(1, 5):
        shard = Shard(index, 4)
        own_layers, own_functions = _in_shard(shard, layers, functions)
        assert {f[0] for f in own_functions} == {
            n for n, _s, t in functions if shard_of("function", n, str(t), 4) == index
        }
        used = {layer for _n, spec, _t in own_functions for layer in spec.layers}
        mine = {n for n, _s, t in layers if shard_of("layer", n, str(t), 4) == index}
        assert {n for n, _s, _t in own_layers} == used | mine


def test_the_text_list_names_each_artifact_s_shard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, 2)
    assert main(["build", "--project", str(project), "--list", "--arch", "x86_64"], env={}) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["artifact", "kind", "target", "shard", "zip"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["common", "layer", "python3.13-x86_64", "1/1"],
        ["science", "layer", "python3.13-x86_64", "1/1"],
        ["fn0", "function", "python3.13-x86_64", "1/1"],
        ["fn1", "function", "python3.13-x86_64", "1/1"],
    ]
