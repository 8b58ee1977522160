"""Runs INSIDE the Lambda image: invoke a handler the way Lambda does. Standard library only.

    python3 -I invoke.py --handler app.handler --order 0,1,0,1 --memory 128 --timeout 3

The handler runs in AWS's own runtime interface client (awslambdaric, in /var/runtime: the
official image ships it, the stand-ins carry the pinned release), in its own process, with
Lambda's sys.path and environment (contract.lambda_path, contract.lambda_environment, with the
function's configuration). This script is the other side: the Runtime API (2018-06-01) on
loopback, serving the events in turn to the one runtime process (one init, then warm
invocations, module state kept, as Lambda reuses a sandbox), taking the response or the error
document the client posts, and measuring what CloudWatch's REPORT line says (Init Duration on the
first only, Duration, Billed Duration, Memory Size, Max Memory Used). So the result and the error
document (errorType, errorMessage, stackTrace, requestId) are the runtime's own. One REPORT line
per event is printed; the outcome is written as JSON to contract.OUTCOME (a volume), never
through the output.

The function is at /var/task and the layers at /opt, read-only, on a read-only root file system
with a writable /tmp of the function's ephemeral storage (a tmpfs the host sizes). Memory: the
resident memory of the function's processes is watched, and over the memory size the runtime is
killed (Runtime.OutOfMemory); the container's own limit is the memory size plus the ephemeral
storage, since a tmpfs is charged to the container's memory and /tmp is not the function's memory
on Lambda. The function's memory is what its memory cgroup counts as anonymous (each page once),
less this script's own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING:
    from lambdazip.inside import lambdazip_contract as contract
    from lambdazip.inside import lambdazip_memory, lambdazip_results
else:
    sys.path.append(HERE)  # run with -I: the script's directory is not on sys.path
    import lambdazip_contract as contract
    import lambdazip_memory
    import lambdazip_results

    sys.path.remove(HERE)

API = "/2018-06-01/runtime"
OUTCOME = contract.OUTCOME
POLL = 0.005  # seconds between two looks at the runtime process and its memory

# the runtime's process: Lambda's sys.path, then AWS's client, as the official bootstrap does
BOOT = """
import sys
sys.path.insert(0, {here!r})
import lambdazip_contract
sys.path[:] = lambdazip_contract.lambda_path({version!r}, sys.path[1:])
del sys.modules["lambdazip_contract"]
from awslambdaric.__main__ import main
main(["awslambdaric", sys.argv[1]])
"""


class Invocation:
    """One event through the Runtime API; the server's threads fill it in, main() reads it."""

    def __init__(self, event: bytes, timeout: float) -> None:
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.timeout = timeout
        self.started: float | None = None  # when the client took the event
        self.ended: float | None = None
        self.response: bytes | None = None
        self.error: dict[str, Any] | None = None
        self.done = threading.Event()


class Sandbox:
    """The events of one sandbox, served in turn, and what the runtime posts."""

    def __init__(self, events: list[bytes], function_arn: str, timeout: float) -> None:
        self.invocations = [Invocation(e, timeout) for e in events]
        self.function_arn = function_arn
        self.served = 0
        self.lock = threading.Lock()
        self.init_error: dict[str, Any] | None = None
        self.init_failed = threading.Event()
        self.closing = threading.Event()

    def next(self) -> Invocation | None:
        with self.lock:
            if self.served >= len(self.invocations):
                return None
            invocation = self.invocations[self.served]
            self.served += 1
            return invocation

    def by_id(self, request_id: str) -> Invocation | None:
        return next((i for i in self.invocations if i.request_id == request_id), None)


def api(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class RuntimeApi(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body are two writes: without this, each waits for the client's delayed
        # ACK of the first (40 ms on Linux), and every warm invocation would seem that slow
        disable_nagle_algorithm = True

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # the http.server interface
            if self.path != f"{API}/invocation/next":
                self._reply(404, b'{"errorType": "InvalidRequest"}')
                return
            invocation = sandbox.next()
            if invocation is None:  # no event left: the runtime waits here, as when frozen
                sandbox.closing.wait()
                self.close_connection = True
                return
            deadline = int((time.time() + invocation.timeout) * 1000)
            invocation.started = time.perf_counter()
            trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"
            self._reply(
                200,
                invocation.event,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": sandbox.function_arn,
                    "Lambda-Runtime-Trace-Id": trace,
                },
            )

        def do_POST(self) -> None:  # the http.server interface
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            kind = self.headers.get("Lambda-Runtime-Function-Error-Type")
            parts = self.path.removeprefix(f"{API}/").split("/")
            invocation = sandbox.by_id(parts[1]) if len(parts) == 3 else None
            if parts == ["init", "error"]:
                sandbox.init_error = document(body, kind)
                sandbox.init_failed.set()
            elif invocation is not None and parts[2] in ("response", "error"):
                invocation.ended = time.perf_counter()
                if parts[2] == "response":
                    invocation.response = body
                else:
                    invocation.error = document(body, kind)
                invocation.done.set()
            else:
                self._reply(404, b'{"errorType": "InvalidRequest"}')
                return
            self._reply(202, b'{"status": "OK"}')

        def log_message(self, *_args: object) -> None:
            pass

    return RuntimeApi


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the runtime's connection reset when its process ends: nothing to report


def document(body: bytes, kind: str | None) -> dict[str, Any]:
    """The error document the client posted (its own errorType, errorMessage, stackTrace)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        parsed = {"errorMessage": body.decode("utf-8", "replace"), "errorType": kind or "Unknown"}
    return parsed


def error(kind: str, message: str) -> dict[str, Any]:
    return {"errorType": kind, "errorMessage": message}


def ended_process(pid: int) -> tuple[int, Any] | None:
    """(wait status, rusage) of the child ``pid`` if it has ended (reaped), else None."""
    done, status, usage = os.wait4(pid, os.WNOHANG)
    return (status, usage) if done else None


def outcome(**fields: Any) -> None:
    """The outcome (lambdazip_results.InvokeOutcome) goes to a file, never through the output the
    engine may rotate or cut."""
    sys.stdout.flush()
    sys.stderr.flush()
    partial = OUTCOME + ".partial"
    with open(partial, "w") as fh:
        fh.write(lambdazip_results.dump(lambdazip_results.InvokeOutcome(**fields)))
    os.replace(partial, OUTCOME)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--handler", required=True)
    parser.add_argument(
        "--order",
        default="0",
        help="the events to send, in turn: numbers N of EVENT_DIR/event-N.json",
    )
    parser.add_argument("--function-name", default="lambdazip-invoke")
    parser.add_argument("--memory", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--python", help="the target's version: refuse to run in another")
    parser.add_argument("--machine", help="the target's CPU (uname -m): refuse another")
    parser.add_argument("--python-flag", action="append", default=[], dest="flags")
    args = parser.parse_args(argv)

    here = "{}.{}".format(*sys.version_info[:2])
    machine = platform.machine()
    if (args.python and args.python != here) or (args.machine and args.machine != machine):
        outcome(ok=False, image={"python": here, "machine": machine})
        return contract.Exit.IMAGE_MISMATCH
    if not os.path.isdir(os.path.join(contract.RUNTIME_DIR, "awslambdaric")):
        outcome(ok=False, no_runtime_client=True)
        return contract.Exit.NO_RUNTIME_CLIENT
    distinct: dict[int, bytes] = {}
    events = []
    for number in (int(n) for n in args.order.split(",")):
        if number not in distinct:
            with open(contract.event_file(number), "rb") as fh:
                distinct[number] = fh.read()
        events.append(distinct[number])
    configured = contract.read_configuration(contract.INVOKE_CONFIGURATION)

    region = os.environ.get("AWS_REGION") or contract.DEFAULT_REGION
    arn = f"arn:aws:lambda:{region}:000000000000:function:{args.function_name}"
    sandbox = Sandbox(events, arn, args.timeout)
    server = Server(("127.0.0.1", 0), api(sandbox))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    boot = BOOT.format(here=HERE, version=here)
    environment = contract.lambda_environment(
        here, configured, dict(os.environ), args.function_name, args.memory, args.handler, address
    )
    memory = lambdazip_memory.Memory()
    spawned = time.perf_counter()
    before = lambdazip_memory.oom_kills()
    child = subprocess.Popen(
        [sys.executable, *args.flags, "-I", "-c", boot, args.handler],
        env=environment,
        cwd=contract.TASK_ROOT,
        stdin=subprocess.DEVNULL,
    )
    reaped = None
    over_memory = False
    results: list[dict[str, Any]] = []
    previous = spawned  # when the last invocation ended: the clock of the next one until taken
    for number, invocation in enumerate(sandbox.invocations):
        timed_out = False
        while not invocation.done.is_set() and not sandbox.init_failed.is_set():
            if (reaped := ended_process(child.pid)) is not None:
                break
            if memory.now() > args.memory:  # the function's memory; /tmp is not part of it
                os.kill(child.pid, signal.SIGKILL)
                over_memory = True
                continue  # reaped on the next turn
            now = time.perf_counter()
            started = invocation.started
            limit = args.timeout if started or number else max(contract.INIT_LIMIT, args.timeout)
            if now - (started or previous) > limit:
                timed_out = True
                break
            invocation.done.wait(POLL)
        ended = previous = invocation.ended or time.perf_counter()
        if reaped is None:
            memory.now()  # at least once an invocation, however fast it was
        if reaped is None and sandbox.init_failed.is_set():
            for _ in range(400):  # the client exits after posting an init error
                if (reaped := ended_process(child.pid)) is not None:
                    break
                time.sleep(POLL)
        last = number == len(sandbox.invocations) - 1
        fatal = timed_out or reaped is not None or sandbox.init_failed.is_set()
        if (fatal or last) and reaped is None:
            # Lambda freezes the sandbox after the last response; here the process ends
            os.kill(child.pid, signal.SIGKILL)
            _, status, usage = os.wait4(child.pid, 0)
            reaped = (status, usage)
        killed = over_memory or (reaped is not None and lambdazip_memory.oom_kills() > before)
        results.append(
            report(
                args, invocation, number, spawned, ended, timed_out, reaped, sandbox, killed,
                math.ceil(memory.peak),
            )
        )  # fmt: skip
        if fatal:
            break
    sandbox.closing.set()
    server.shutdown()
    server.server_close()
    ok = len(results) == len(events) and all(r["ok"] for r in results)
    outcome(ok=ok, invocations=tuple(lambdazip_results.Invocation(**r) for r in results))
    return contract.Exit.OK if ok else contract.Exit.HANDLER_FAILED


def report(
    args: argparse.Namespace,
    invocation: Invocation,
    number: int,
    spawned: float,
    ended: float,
    timed_out: bool,
    reaped: tuple[int, Any] | None,
    sandbox: Sandbox,
    out_of_memory: bool,
    max_mb: int,
) -> dict[str, Any]:
    """One invocation's outcome and its REPORT line (printed)."""
    taken = invocation.started
    first = number == 0
    init_ms = ((taken if taken is not None else ended) - spawned) * 1000 if first else None
    duration_ms = (ended - taken) * 1000 if taken is not None else 0.0
    failure: dict[str, Any] | None = invocation.error or sandbox.init_error
    where = f"RequestId: {invocation.request_id} Error:"
    if timed_out:
        failure = error(
            "Sandbox.Timedout", f"{where} Task timed out after {args.timeout:.2f} seconds"
        )
    elif invocation.response is None and failure is None:  # the runtime died before answering
        code = os.waitstatus_to_exitcode(reaped[0]) if reaped is not None else 0
        if out_of_memory:
            failure = error(
                "Runtime.OutOfMemory", f"{where} Runtime exited with error: signal: killed"
            )
        elif code < 0:
            name = signal.Signals(-code).name.removeprefix("SIG").lower()
            failure = error(
                "Runtime.ExitError", f"{where} Runtime exited with error: signal: {name}"
            )
        else:
            failure = error(
                "Runtime.ExitError", f"{where} Runtime exited with error: exit status {code}"
            )
    elif invocation.response is not None and len(invocation.response) > contract.RESPONSE_LIMIT:
        failure = error(
            "Function.ResponseSizeTooLarge",
            "Response payload size exceeded maximum allowed payload size "
            f"({contract.RESPONSE_LIMIT} bytes).",
        )
    # billed: the duration rounded up to the ms, and since August 2025 the init phase with it
    billed = math.ceil(duration_ms + (init_ms or 0.0))
    line = (
        f"REPORT RequestId: {invocation.request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed} ms\tMemory Size: {args.memory} MB\t"
        f"Max Memory Used: {max_mb} MB"
    )
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    print(line, flush=True)
    result: Any = None
    if failure is None and invocation.response is not None:
        try:
            result = json.loads(invocation.response)
        except ValueError:
            result = invocation.response.decode("utf-8", "replace")
    return {
        "ok": failure is None,
        "result": result,
        "error": failure,
        "request_id": invocation.request_id,
        "init_ms": init_ms,
        "duration_ms": duration_ms,
        "billed_ms": billed,
        "memory_mb": args.memory,
        "max_memory_mb": max_mb,
        "report": line,
    }


if __name__ == "__main__":
    sys.exit(main())
