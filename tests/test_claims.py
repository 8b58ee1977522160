"""outputs/claims.disagreement: a zip and the manifest beside it are the set a key's build writes,
or the first reason they are not; what a no-op build reuses and what the shared cache gives are
held to it. Real zips written here, one change from a true set per reason."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lambdazip.outputs.claims import disagreement

KEY = "k" * 64
METADATA = "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nSummary text\n"


def _set(tmp_path: Path, name: str = "orders-python3.13-x86_64.zip") -> tuple[Path, dict[str, Any]]:
    """A zip holding one distribution's dist-info, and its true manifest (its JSON)."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/orders.py", "X = 1\n")
        archive.writestr(
            "python/Orders_Core-1.2.dist-info/METADATA",
            METADATA.format(name="Orders_Core", version="1.2"),
        )
    recorded = {
        "cache_key": KEY,
        "artifact": name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "zipped_size": path.stat().st_size,
        "distributions": [{"name": "orders-core", "version": "1.2"}],
    }
    return path, recorded


def test_a_true_set_holds_together(tmp_path: Path) -> None:
    path, recorded = _set(tmp_path)
    assert disagreement(recorded, path, KEY) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cache_key": "j" * 64}, "its manifest's key is jjjjjjjjjjjj"),
        ({"artifact": "other-python3.13-x86_64.zip"},
         "its manifest is of other-python3.13-x86_64.zip"),
        ({"sha256": "0" * 64}, "the zip's sha256 is "),
        ({"zipped_size": 1}, "the zip's size is not its manifest's"),
        ({"distributions": [{"name": "orders-core", "version": "1.3"}]},
         "the zip's distributions are not its manifest's"),
        ({"distributions": []}, "the zip's distributions are not its manifest's"),
    ],
)  # fmt: skip
def test_each_false_claim_is_the_reason(
    tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    path, recorded = _set(tmp_path)
    said = disagreement({**recorded, **change}, path, KEY)
    assert said is not None
    assert said.startswith(reason)


def test_a_zip_changed_after_its_manifest_is_found(tmp_path: Path) -> None:
    """Same name and size on the disk, other bytes: the sha256 says so."""
    path, recorded = _set(tmp_path)
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF  # inside the central directory's trailing bytes: still the same size
    path.write_bytes(bytes(data))
    said = disagreement(recorded, path, KEY)
    assert said is not None
    assert said.startswith("the zip's sha256 is")
