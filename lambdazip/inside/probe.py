"""The probe: runs INSIDE the Lambda image, under the runtime's own interpreter, and prints facts as
JSON on stdout. Standard library only; no judgement (the host does that).

    python3 -I probe.py --kind layer|function --task-root /var/task --opt /opt

It runs as the function's code runs on Lambda: Lambda's whole sys.path (task root, the layers'
site-packages and python/, the runtime's site-packages and /var/runtime with the SDK, the standard
library) and Lambda's environment with the function's configuration (CONFIGURATION). It reads
what troubleshooting a failed import of pydantic-core reads (the pydantic-core files
importlib.metadata lists, EXT_SUFFIX), then imports every top-level module of the artifact and
validates a pydantic model with the result. Of an import that fails it reports what was raised
(the exception's classes, the line of the artifact's code it came from, the environment variables
it read that are not set): the host decides whether that is a packaging fault. No value of the
configuration is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import sysconfig
import threading
import traceback
from typing import TYPE_CHECKING, Any

HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING:
    from lambdazip.inside import lambdazip_contract as contract
else:
    sys.path.append(HERE)  # run with -I: the script's directory is not on sys.path
    import lambdazip_contract as contract

    sys.path.remove(HERE)

SCHEMA_VERSION = 2  # of the facts (ProbeFacts on the host); 2: what a failed import raised
SKIP_DIRS = {"__pycache__", "bin"}


def top_level_modules(root: str) -> list[str]:
    """What `import X` can find directly under ``root``: packages, modules, extension modules."""
    names: set[str] = set()
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return []
    for entry in entries:
        path = os.path.join(root, entry)
        if os.path.isdir(path):
            if entry in SKIP_DIRS or "." in entry or "-" in entry or not entry.isidentifier():
                continue
            names.add(entry)
        elif entry.endswith((".py", ".so")):
            stem = entry.split(".", 1)[0]
            if stem.isidentifier() and stem != "__init__":
                names.add(stem)
    return sorted(names)


def headers(dist: Any) -> dict[str, str]:
    """Name and Version of a distribution's core metadata, as importlib.metadata's ``metadata``
    gives them (the first of each), read from the header block alone: its email parser reads the
    whole long description after it too, which costs seconds under emulation."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    found: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line.strip():
            break  # the end of the headers
        key, colon, value = line.partition(":")
        if colon and key in ("Name", "Version") and key not in found:
            found[key] = value.strip()
    return found


def pydantic_core_facts() -> dict[str, Any] | None:
    """The files importlib.metadata lists for pydantic-core (the troubleshooting guide's first
    check: is there a compiled module, and for which platform)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("pydantic-core")
    except metadata.PackageNotFoundError:
        return None
    listed = dist.files or ()
    files = [str(f) for f in listed if f.name.startswith("_pydantic_core")]
    files += [str(f) for f in listed if "/_pydantic_core/" in str(f)]  # stubs in a package
    return {"version": headers(dist).get("Version", ""), "files": sorted(set(files))}


def distributions(path: list[str] | None = None) -> list[dict[str, str]]:
    """The distributions on sys.path (or on ``path``), each as importlib finds it first."""
    from importlib import metadata

    seen: dict[str, dict[str, str]] = {}
    found = metadata.distributions() if path is None else metadata.distributions(path=path)
    for dist in found:
        said = headers(dist)
        name = said.get("Name")
        if name and name.lower() not in seen:
            seen[name.lower()] = {"name": name, "version": said.get("Version", "")}
    return sorted(seen.values(), key=lambda d: d["name"].lower())


def _error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


# where os.environ's own code is (a source file, or frozen into the interpreter since 3.11)
ENVIRON_CODE = ("/os.py", "/_collections_abc.py", "<frozen os>", "<frozen _collections_abc>")


class Reads:
    """The environment variables the artifact's own code (a file under one of ``roots``) reads
    while a module imports and finds unset: os.environ[...], .get, getenv and `in` all go
    through os._Environ.__getitem__. What the standard library or the runtime's SDK reads for
    itself (HOME, AWS_PROFILE, ...) is not the function's configuration."""

    def __init__(self, roots: list[str]) -> None:
        self.unset: set[str] = set()
        environ = type(os.environ)
        original = environ.__getitem__
        reads = self
        prefixes = tuple(root + "/" for root in roots)

        def getitem(self: Any, key: Any) -> Any:
            try:
                return original(self, key)
            except KeyError:
                frame = sys._getframe(1)
                while frame is not None and frame.f_code.co_filename.endswith(ENVIRON_CODE):
                    frame = frame.f_back  # type: ignore[assignment]
                if frame is not None and frame.f_code.co_filename.startswith(prefixes):
                    reads.unset.add(str(key))
                raise

        self._original = original
        environ.__getitem__ = getitem  # type: ignore[method-assign]

    def close(self) -> None:
        """os.environ as it was (the probe's process ends anyway; a test's does not)."""
        type(os.environ).__getitem__ = self._original  # type: ignore[method-assign]


def _raised_from(exc: BaseException) -> BaseException | None:
    """The exception ``exc`` was raised from (``raise ... from``), or while handling, unless
    that context was suppressed (``from None``)."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _where(exc: BaseException, roots: list[str]) -> dict[str, Any] | None:
    """The line of the artifact's own code the exception came from (the innermost frame under a
    root), else the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    ours = [f for f in frames if any(f.filename.startswith(r + "/") for r in roots)]
    frame = (ours or frames)[-1]
    path = frame.filename
    for root in roots:
        if path.startswith(root + "/"):
            path = path[len(root) + 1 :]
            break
    return {"path": path, "line": frame.lineno, "code": (frame.line or "").strip()}


IMPORT_LIMIT = 120  # seconds: a module still importing then waits for something that never comes
# (Lambda gives the whole init 10 s; emulated, an honest import may take many times longer)
SLOW = 10.0  # seconds: Lambda's whole init phase; an import still running then is said


class _Alarm:
    """One interval timer (SIGALRM) watches each import: past SLOW it says so (a progress line,
    the host shows it as a step), past the limit it raises TimeoutError inside the import."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.name = ""
        self.said = False

    def start(self, name: str) -> None:
        self.name, self.said = name, False
        signal.setitimer(signal.ITIMER_REAL, min(SLOW, self.limit))

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def ring(self, _signum: int, _frame: Any) -> None:
        if not self.said and self.limit > SLOW:
            self.said = True
            print(
                f"{contract.PROGRESS}importing {self.name} is taking more than {SLOW:g} s (Lambda "
                f"gives the whole init {SLOW:g} s); waiting up to {self.limit:g} s",
                file=sys.stderr,
                flush=True,
            )
            signal.setitimer(signal.ITIMER_REAL, self.limit - SLOW)
            return
        raise TimeoutError(f"the import did not finish in {self.limit:g} s")


def import_all(
    names: list[str],
    roots: list[str],
    reads: Reads,
    secrets: list[str],
    limit: float = IMPORT_LIMIT,
    handler: str | None = None,
) -> list[dict[str, Any]]:
    """Import each of ``names`` in turn (the handler's module first, if there is one: what
    Lambda imports) and report what each raised."""
    handler_module, _, handler_function = (handler or "").rpartition(".")
    results: list[dict[str, Any]] = []
    watch = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    alarm = _Alarm(limit)
    previous = signal.signal(signal.SIGALRM, alarm.ring) if watch else None
    for name in names:
        reads.unset = set()
        try:
            if watch:
                alarm.start(name)
            try:
                module = __import__(name, fromlist=["_"])  # the module itself, also a.b.c
            finally:
                if watch:
                    alarm.stop()
            result: dict[str, Any] = {"module": name, "ok": True, "error": None}
            if name == handler_module:
                result["handler_found"] = callable(getattr(module, handler_function, None))
            results.append(result)
            continue
        except BaseException as exc:  # SystemExit and friends too: report, never die
            raised = exc
        where = _where(raised, roots)
        if where is not None:
            where["code"] = contract.redact(where["code"], secrets)
        chained: set[str] = set()
        seen = _raised_from(raised)
        for _ in range(100):  # what it was raised from, or while handling, if anything
            if seen is None:
                break
            chained.update(_qualified(c) for c in type(seen).__mro__)
            seen = _raised_from(seen)
        missing = getattr(raised, "filename", None) if isinstance(raised, OSError) else None
        results.append(
            {
                "module": name,
                "ok": False,
                "error": contract.redact(_error(raised), secrets),
                "raised": [_qualified(c) for c in type(raised).__mro__],
                "chained": sorted(chained),
                "where": where,
                "unset": sorted(reads.unset),
                # a file it opened that is not there, as an absolute path (cwd: the task root)
                "missing_file": contract.redact(os.path.abspath(missing), secrets)
                if isinstance(missing, str)
                else None,
            }
        )
    if watch:
        signal.signal(signal.SIGALRM, previous)
    return results


def validate_pydantic() -> dict[str, Any]:
    """What a handler does with pydantic: define a model, validate an event, dump it."""
    try:
        import pydantic
    except BaseException as exc:
        return {"ok": False, "error": _error(exc), "version": None}
    try:

        class Event(pydantic.BaseModel):
            id: int
            tags: list[str] = []

        event = Event.model_validate({"id": "42", "tags": ["a"]})
        assert event.model_dump() == {"id": 42, "tags": ["a"]}, event.model_dump()
        try:
            Event.model_validate({"id": "not a number"})
        except pydantic.ValidationError:
            pass
        else:
            raise AssertionError("an invalid event was accepted")
        return {"ok": True, "error": None, "version": pydantic.VERSION}
    except BaseException as exc:
        return {"ok": False, "error": _error(exc), "version": getattr(pydantic, "VERSION", None)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["layer", "function"], required=True)
    parser.add_argument("--task-root", default=contract.TASK_ROOT)
    parser.add_argument("--opt", default=contract.OPT)
    parser.add_argument("--configuration", default=contract.CONFIGURATION)
    parser.add_argument("--handler", help="MODULE.FUNCTION: its module is imported first")
    args = parser.parse_args(argv)

    # the facts go to what stdout is now; anything the artifact's modules print goes to stderr
    facts_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    version = "{}.{}".format(*sys.version_info[:2])
    configured = contract.read_configuration(args.configuration)
    sys.path[:] = contract.lambda_path(version, sys.path, args.task_root, args.opt)
    image = dict(os.environ)
    if os.path.isdir(args.task_root):
        os.chdir(args.task_root)  # where Lambda starts the function: relative paths resolve there
    os.environ.clear()
    os.environ.update(contract.lambda_environment(version, configured, image))
    reads = Reads([args.task_root, args.opt])
    artifact = contract.lambda_sys_path(version, args.task_root, args.opt)
    roots = [args.task_root] if args.kind == "function" else artifact[1:]
    modules: list[str] = [args.handler.rpartition(".")[0]] if args.handler else []
    for root in roots:
        modules += [m for m in top_level_modules(root) if m not in modules]

    libc, libc_version = platform.libc_ver()
    facts = {
        "schema_version": SCHEMA_VERSION,
        "machine": platform.machine(),
        "python_version": platform.python_version(),
        "implementation": sys.implementation.name,
        "cache_tag": sys.implementation.cache_tag,
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "soabi": sysconfig.get_config_var("SOABI"),
        "libc": libc,
        "libc_version": libc_version,
        "sys_path": list(sys.path),
        "pydantic_core": pydantic_core_facts(),
        "distributions": distributions(),
        # what the runtime itself provides, after the layers: the AWS SDK, the runtime client
        "runtime_distributions": distributions([contract.RUNTIME_DIR]),
        "imports": import_all(
            modules,
            [args.task_root, args.opt],
            reads,
            list(configured.values()),
            handler=args.handler,
        ),
        "handler": args.handler,
        "configuration": sorted(configured),  # the names only
    }
    facts["pydantic"] = validate_pydantic() if facts["pydantic_core"] is not None else None
    json.dump(facts, facts_out, indent=1, sort_keys=True)
    facts_out.write("\n")
    facts_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
