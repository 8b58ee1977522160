"""The suite's leak checks look only at what this run made (tests/conftest.py: every container and
volume of the run carries io.lambdazip.run=RUN): a build of a user's, or another suite, on the
same engine cannot turn them red, and what this run leaves is still found."""

from __future__ import annotations

import pytest

from lambdazip.build.engine import LABEL, RUN_LABEL, Engine, run_id
from tests.conftest import RUN, leftovers, ours

pytestmark = pytest.mark.integration


def test_another_runs_container_is_not_a_leak_and_ours_is(
    engine: Engine, images: dict[tuple[str, str], str]
) -> None:
    assert run_id() == RUN  # the tool labels this process's containers with the run
    image = images[("3.13", "x86_64")]
    before = (ours(engine), ours(engine, "volumes"))
    theirs = engine.client.containers.create(
        image, ["true"], labels={LABEL: "build", RUN_LABEL: "a-users-build"}
    )
    volume = engine.client.volumes.create(labels={LABEL: "job", RUN_LABEL: "another-suite"})
    try:
        assert leftovers(engine, before) == []  # theirs, not ours: no leak
        mine = engine.client.containers.create(image, ["true"], labels={LABEL: "x", RUN_LABEL: RUN})
        try:
            assert leftovers(engine, before) == [mine.name]  # the check can fail
        finally:
            mine.remove(force=True)
        assert leftovers(engine, before) == []
    finally:
        theirs.remove(force=True)
        volume.remove(force=True)
