"""Runs INSIDE the Lambda image (imported by invoke.py): the function's memory as Lambda counts
it, the container's anonymous memory from its memory cgroup (v2 or v1), less invoke.py's own;
without a cgroup, its processes' resident memory; and the kernel's out-of-memory kills. Standard
library only."""

from __future__ import annotations

import os


def oom_kills() -> int:
    """How many processes the kernel has killed for memory in this container (cgroup v2 or v1)."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as fh:
                for line in fh:
                    name, _, value = line.partition(" ")
                    if name == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


PAGE = os.sysconf("SC_PAGE_SIZE")
# the container's anonymous memory (what processes allocate; not files, not a tmpfs such as
# /tmp, which is shared memory): cgroup v2's "anon", cgroup v1's "total_rss"
CGROUP_STATS = (
    ("/sys/fs/cgroup/memory.stat", "anon"),
    ("/sys/fs/cgroup/memory/memory.stat", "total_rss"),
)


def anonymous_mb() -> float | None:
    """The container's anonymous memory in MB, as its memory cgroup counts it (each page once,
    however many processes share it), or None without a memory cgroup to read."""
    for path, key in CGROUP_STATS:
        try:
            with open(path) as fh:
                for line in fh:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value) / (1024 * 1024)
        except (OSError, ValueError):
            continue
    return None


def resident_mb() -> float:
    """Without a memory cgroup: the resident memory of every process of the container but this
    one (the function's runtime and whatever it started), in MB."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/statm") as fh:
                total += int(fh.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
    return total * PAGE / (1024 * 1024)


class Memory:
    """The function's memory: the container's anonymous memory less this script's own (taken
    before the runtime starts), or, without a memory cgroup, its processes' resident memory."""

    def __init__(self) -> None:
        self.base = anonymous_mb()
        self.peak = 0.0

    def now(self) -> float:
        anonymous = anonymous_mb() if self.base is not None else None
        used = resident_mb() if anonymous is None or self.base is None else anonymous - self.base
        self.peak = max(self.peak, used)
        return used
