"""`build --shard I/N` and `build --list`: a stable share of a project's artifacts per runner."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import statistics
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdazip.cli import main
from lambdazip.errors import UsageError
from lambdazip.inputs.shards import Unit, assign, cap_of, parse_shard, weight_of

NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True), min_size=1, max_size=40,
                 unique=True)  # fmt: skip
TARGET = "python3.13-x86_64"
LAYERS = ("pydantic", "typing", "annotated")


def _units(names: list[str], weights: list[int] | None = None) -> list[Unit]:
    """Three layers and a function per name, each on one of them (chosen by its name)."""
    layers = [Unit("layer", n, TARGET, "x86_64", 22) for n in LAYERS]
    return layers + [
        Unit("function", n, TARGET, "x86_64", (weights or [10] * len(names))[i],
             (LAYERS[len(n) % 3],))
        for i, n in enumerate(names)
    ]  # fmt: skip


@given(NAMES, st.integers(1, 12), st.randoms())
def test_the_share_depends_on_the_artifacts_not_their_order(
    names: list[str], count: int, rnd: random.Random
) -> None:
    """Every runner reads the same project: each must compute the same shares, whatever the
    order the file lists them in, and every artifact has exactly one shard."""
    units = _units(names)
    shuffled = list(units)
    rnd.shuffle(shuffled)
    assert assign(units, count) == assign(shuffled, count)
    assert set(assign(units, count)) == {u.key for u in units}
    assert all(1 <= s <= count for s in assign(units, count).values())


def test_every_runner_computes_the_same_shares() -> None:
    """Each runner is a process of its own, with its own string hashing (PYTHONHASHSEED): the
    shares must not depend on it (sets iterated, sums of weights in another order)."""
    import subprocess
    import sys

    script = """
import json, random
from lambdazip.inputs.shards import Unit, assign, weight_of
out = []
for seed in range(60):  # projects of 2-6 layers and 2-9 functions on some of them
    r = random.Random(seed)
    n = r.randint(2, 6)
    layers = [Unit("layer", f"l{i}", "t", "x", weight_of(r.randint(1, 9))) for i in range(n)]
    functions = [
        Unit("function", f"f{i}", "t", "x", weight_of(r.choice([0, 0, r.randint(1, 9)])),
             tuple(f"l{j}" for j in range(n) if r.random() < 0.6))
        for i in range(r.randint(2, 9))
    ]
    out.append(sorted(assign(layers + functions, r.randint(2, 5)).items()))
print(json.dumps(out))
"""
    shares = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(8)
    }
    assert len(shares) == 1, shares


def test_adding_an_artifact_moves_few_others() -> None:
    """Bounded loads trade some stability for balance: adding a function moves about one artifact
    in eight (none, nearly a third of the time), where a round-robin over the list moves about
    half."""
    rnd = random.Random(7)
    moved, unmoved, robin = [], 0, []
    for _ in range(300):
        names = [f"fn-{rnd.random():.8f}" for _ in range(rnd.randint(1, 40))]
        count = rnd.randint(2, 8)
        units = _units(names, [rnd.choice([10, 10, 23]) for _ in names])
        before = assign(units, count)
        at = rnd.randint(3, len(units))
        added = Unit("function", "new", TARGET, "x86_64", 10, ("pydantic",))
        after = assign([*units[:at], added, *units[at:]], count)
        changed = sum(before[u.key] != after[u.key] for u in units)
        moved.append(changed / len(units))
        unmoved += changed == 0
        robin.append(sum(i % count != (i + (i >= at)) % count for i in range(len(units)))
                     / len(units))  # fmt: skip
    assert statistics.mean(moved) < 0.16, statistics.mean(moved)
    assert unmoved > 75, unmoved
    assert statistics.mean(robin) > 2 * statistics.mean(moved), statistics.mean(robin)


def test_shards_share_the_work_evenly_and_keep_functions_with_their_layers() -> None:
    """20 functions on 3 layers (bench/monorepo.py's project) in 4 shards: each shard's work,
    its layers included, within the bound of the even share, and no shard needs every layer."""
    units = _units([f"fn{i:02d}" for i in range(20)])
    total = sum(u.weight for u in units)
    for count in (2, 3, 4, 5):
        shares = assign(units, count)
        for index in range(1, count + 1):
            mine = [u for u in units if shares[u.key] == index]
            layers = {n for u in mine for n in u.layers} | {
                u.name for u in mine if u.kind == "layer"
            }
            work = sum(u.weight for u in mine if u.kind == "function") + 22 * len(layers)
            assert work <= cap_of(total, count) + 22, (count, index, work)
            if count > 2:
                assert len(layers) < 3, (count, index, layers)


def test_a_heavier_artifact_counts_for_more() -> None:
    """Functions with their own dependencies weigh more than those without: a shard holds fewer."""
    assert weight_of(0) == 10
    assert weight_of(5) > weight_of(1) > weight_of(0)
    light = [Unit("function", f"l{i}", TARGET, "x86_64", weight_of(0)) for i in range(12)]
    heavy = [Unit("function", f"h{i}", TARGET, "x86_64", weight_of(20)) for i in range(4)]
    shares = assign(light + heavy, 4)
    for index in range(1, 5):
        load = sum(u.weight for u in light + heavy if shares[u.key] == index)
        assert load <= cap_of(12 * weight_of(0) + 4 * weight_of(20), 4)


def test_each_architecture_is_shared_out_on_its_own() -> None:
    """Its runners are its own: x86_64's shares are the same with or without arm64's artifacts."""
    x86 = _units([f"fn{i}" for i in range(10)])
    arm = [dataclasses.replace(u, target="python3.13-arm64", group="arm64") for u in x86]
    both = assign(x86 + arm, 3)
    assert {k: v for k, v in both.items() if k[2] == TARGET} == assign(x86, 3)


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
    # a function added moves few others (shards.py: bounded loads)
    again = _listed(_project(tmp_path, 13), capsys, "--shards", "4")["artifacts"]
    assert isinstance(again, list)
    kept = [a for a in again if a["name"] != "fn12"]
    assert [{**a, "shard": 0} for a in kept] == [{**a, "shard": 0} for a in artifacts]
    assert sum(a != b for a, b in zip(kept, artifacts, strict=True)) <= len(artifacts) // 4


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
    from lambdazip.inputs.config import load_config
    from lambdazip.inputs.shards import in_shard, share_out
    from lambdazip.targets import RUNTIMES, Arch, Target

    project = _project(tmp_path, 12)
    config = load_config(project)
    target = Target(RUNTIMES["3.13"], Arch.X86_64)
    layers = [(n, s, target) for n, s in config.layers.items()]
    functions = [(n, s, target) for n, s in config.functions.items()]
    shared = share_out(project, layers, functions, 4)
    for index in range(1, 5):
        own_layers, own_functions = in_shard(index, shared, layers, functions)
        assert {f[0] for f in own_functions} == {
            n for n, _s, t in functions if shared["function", n, str(t)] == index
        }
        used = {layer for _n, spec, _t in own_functions for layer in spec.layers}
        mine = {n for n, _s, t in layers if shared["layer", n, str(t)] == index}
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
