"""Runs INSIDE the Lambda image: invoke a handler the way Lambda does. Standard library only.

    python3 -I invoke.py --handler app.handler --event /lambdazip/event/event.json

The handler runs in AWS's own runtime interface client (awslambdaric, in /var/runtime: the
official image ships it, the stand-ins carry the pinned release), in its own process, with
Lambda's sys.path and environment. This script is the other side: the Runtime API (2018-06-01) on
loopback, serving one event, taking the response or the error document the client posts, and
measuring what CloudWatch's REPORT line says (Init Duration, Duration, Billed Duration, Memory
Size, Max Memory Used). So the result and the error document (errorType, errorMessage,
stackTrace, requestId) are the runtime's own. The REPORT line is printed; the outcome is written
as JSON to contract.OUTCOME (a volume), never through the output.

The function is at /var/task and the layers at /opt, read-only, on a read-only root file system
with a writable /tmp; the container's memory limit is the function's memory size.
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
else:
    sys.path.append(HERE)  # run with -I: the script's directory is not on sys.path
    import lambdazip_contract as contract

    sys.path.remove(HERE)

API = "/2018-06-01/runtime"
OUTCOME = contract.OUTCOME

# the runtime's process: Lambda's sys.path, then AWS's client, as the official bootstrap does
BOOT = """
import sys
ours = {path!r}
sys.path[:] = ours + [p for p in sys.path if p and p not in ours]
from awslambdaric.__main__ import main
main(["awslambdaric", sys.argv[1]])
"""


class Invocation:
    """One event through the Runtime API; the server's threads fill it in, main() reads it."""

    def __init__(self, event: bytes, function_arn: str, timeout: float) -> None:
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.function_arn = function_arn
        self.timeout = timeout
        self.started: float | None = None  # when the client took the event
        self.ended: float | None = None
        self.response: bytes | None = None
        self.error: dict[str, Any] | None = None
        self.init_error: dict[str, Any] | None = None
        self.taken = threading.Event()
        self.done = threading.Event()
        self.closing = threading.Event()


def api(invocation: Invocation) -> type[BaseHTTPRequestHandler]:
    class RuntimeApi(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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
            if invocation.taken.is_set():  # one event per invocation: the runtime waits here
                invocation.closing.wait()
                self.close_connection = True
                return
            deadline = int((time.time() + invocation.timeout) * 1000)
            invocation.started = time.perf_counter()
            invocation.taken.set()
            trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"
            self._reply(
                200,
                invocation.event,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": trace,
                },
            )

        def do_POST(self) -> None:  # the http.server interface
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            prefix = f"{API}/invocation/{invocation.request_id}/"
            if self.path == prefix + "response":
                invocation.ended = time.perf_counter()
                invocation.response = body
            elif self.path == prefix + "error":
                invocation.ended = time.perf_counter()
                invocation.error = document(
                    body, self.headers.get("Lambda-Runtime-Function-Error-Type")
                )
            elif self.path == f"{API}/init/error":
                invocation.init_error = document(
                    body, self.headers.get("Lambda-Runtime-Function-Error-Type")
                )
            else:
                self._reply(404, b'{"errorType": "InvalidRequest"}')
                return
            self._reply(202, b'{"status": "OK"}')
            invocation.done.set()

        def log_message(self, *_args: object) -> None:
            pass

    return RuntimeApi


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


def lambda_environment(
    function_name: str, memory_mb: int, handler: str, api_address: str
) -> dict[str, str]:
    version = "{}.{}".format(*sys.version_info[:2])
    region = os.environ.get("AWS_REGION", "us-east-1")
    keep = ("PATH", "LD_LIBRARY_PATH", "LANG", "TZ")
    return {
        **{k: os.environ[k] for k in keep if k in os.environ},
        "_HANDLER": handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        "AWS_LAMBDA_RUNTIME_API": api_address,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": contract.TASK_ROOT,
        "LAMBDA_RUNTIME_DIR": contract.RUNTIME_DIR,
    }


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


def ended_process(pid: int) -> tuple[int, Any] | None:
    """(wait status, rusage) of the child ``pid`` if it has ended (reaped), else None."""
    done, status, usage = os.wait4(pid, os.WNOHANG)
    return (status, usage) if done else None


def outcome(**fields: Any) -> None:
    """The outcome goes to a file, never through the output the engine may rotate or cut."""
    sys.stdout.flush()
    sys.stderr.flush()
    partial = OUTCOME + ".partial"
    with open(partial, "w") as fh:
        json.dump(fields, fh, default=str)
    os.replace(partial, OUTCOME)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--handler", required=True)
    parser.add_argument("--event", required=True)
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
    with open(args.event, "rb") as fh:
        event = fh.read()

    region = os.environ.get("AWS_REGION", "us-east-1")
    arn = f"arn:aws:lambda:{region}:000000000000:function:{args.function_name}"
    invocation = Invocation(event, arn, args.timeout)
    server = ThreadingHTTPServer(("127.0.0.1", 0), api(invocation))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    boot = BOOT.format(path=contract.runtime_sys_path(here))
    spawned = time.perf_counter()
    before = oom_kills()
    child = subprocess.Popen(
        [sys.executable, *args.flags, "-I", "-c", boot, args.handler],
        env=lambda_environment(args.function_name, args.memory, args.handler, address),
        cwd=contract.TASK_ROOT,
        stdin=subprocess.DEVNULL,
    )
    timed_out = False
    reaped = None
    while not invocation.done.is_set() and (reaped := ended_process(child.pid)) is None:
        now = time.perf_counter()
        limit = args.timeout if invocation.started else max(contract.INIT_LIMIT, args.timeout)
        if now - (invocation.started or spawned) > limit:
            timed_out = True
            break
        invocation.done.wait(0.005)
    ended = invocation.ended or time.perf_counter()
    if reaped is None and invocation.init_error is not None:
        for _ in range(400):  # the client exits after posting an init error
            if (reaped := ended_process(child.pid)) is not None:
                break
            time.sleep(0.005)
    if reaped is None:  # Lambda freezes the sandbox after the response; here the process ends
        os.kill(child.pid, signal.SIGKILL)
        _, status, usage = os.wait4(child.pid, 0)
        reaped = (status, usage)
    status, usage = reaped
    child.returncode = os.waitstatus_to_exitcode(status)
    invocation.closing.set()
    server.shutdown()
    server.server_close()

    taken = invocation.started
    init_ms = ((taken if taken is not None else ended) - spawned) * 1000
    duration_ms = (ended - taken) * 1000 if taken is not None else 0.0
    max_mb = math.ceil(usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux
    died = (
        invocation.response is None and invocation.error is None and invocation.init_error is None
    )
    failure: dict[str, Any] | None = invocation.error or invocation.init_error
    where = f"RequestId: {invocation.request_id} Error:"
    if timed_out:
        failure = error(
            "Sandbox.Timedout", f"{where} Task timed out after {args.timeout:.2f} seconds"
        )
    elif died:
        code = child.returncode
        if code < 0 and oom_kills() > before:
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
    billed = math.ceil(duration_ms + init_ms)
    report = (
        f"REPORT RequestId: {invocation.request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed} ms\tMemory Size: {args.memory} MB\t"
        f"Max Memory Used: {max_mb} MB\tInit Duration: {init_ms:.2f} ms"
    )
    print(report, flush=True)
    result: Any = None
    if failure is None and invocation.response is not None:
        try:
            result = json.loads(invocation.response)
        except ValueError:
            result = invocation.response.decode("utf-8", "replace")
    outcome(
        ok=failure is None,
        result=result,
        error=failure,
        request_id=invocation.request_id,
        init_ms=init_ms,
        duration_ms=duration_ms,
        billed_ms=billed,
        memory_mb=args.memory,
        max_memory_mb=max_mb,
        report=report,
    )
    return contract.Exit.OK if failure is None else contract.Exit.HANDLER_FAILED


if __name__ == "__main__":
    sys.exit(main())
