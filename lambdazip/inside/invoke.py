"""Runs INSIDE the Lambda image: call a handler the way Lambda's Python runtime does. Standard
library only.

    python3 -I invoke.py --handler app.handler --event /lambdazip/event/event.json

The function is at /var/task and the layers at /opt (the host mounts both read-only, with a
read-only root file system and a writable /tmp, as Lambda does). sys.path is Lambda's: the task
root, then the layers' site-packages and python/, then the runtime's own. The handler gets the
event and a context object with the usual attributes. The function's output passes through; the
outcome is written as JSON to contract.OUTCOME (a volume), never through the output.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
import uuid
from typing import TYPE_CHECKING, Any

HERE = os.path.dirname(os.path.abspath(__file__))
if TYPE_CHECKING:
    from lambdazip.inside import lambdazip_contract as contract
else:
    sys.path.append(HERE)  # run with -I: the script's directory is not on sys.path
    import lambdazip_contract as contract

    sys.path.remove(HERE)


class LambdaContext:
    """The attributes and method of the context object of Lambda's Python runtime."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float) -> None:
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{function_name}"
        self.memory_limit_in_mb = str(memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_environment(function_name: str, memory_mb: int, handler: str) -> dict[str, str]:
    version = "{}.{}".format(*sys.version_info[:2])
    return {
        "_HANDLER": handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "LAMBDA_TASK_ROOT": contract.TASK_ROOT,
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
    }


def error(kind: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorType": kind, "errorMessage": message, "stackTrace": stack or []}


OUTCOME = contract.OUTCOME


def outcome(**fields: Any) -> None:
    """The outcome goes to a file, never through the output the engine may rotate or cut."""
    sys.stdout.flush()
    sys.stderr.flush()
    partial = OUTCOME + ".partial"
    with open(partial, "w") as fh:
        json.dump(fields, fh, default=str)
    os.replace(partial, OUTCOME)


def exited(code: object) -> dict[str, Any]:
    """What Lambda reports when the function's code ends the runtime's process."""
    status = code if isinstance(code, int) else (0 if code is None else 1)
    return error("Runtime.ExitError", f"Runtime exited with error: exit status {status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--handler", required=True)
    parser.add_argument("--event", required=True)
    parser.add_argument("--function-name", default="lambdazip-invoke")
    parser.add_argument("--memory", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--python", help="the target's version: refuse to run in another")
    parser.add_argument("--machine", help="the target's CPU (uname -m): refuse another")
    args = parser.parse_args(argv)

    here = "{}.{}".format(*sys.version_info[:2])
    machine = platform.machine()
    if (args.python and args.python != here) or (args.machine and args.machine != machine):
        outcome(ok=False, image={"python": here, "machine": machine})
        return contract.Exit.IMAGE_MISMATCH

    version = "{}.{}".format(*sys.version_info[:2])
    ours = contract.lambda_sys_path(version)
    sys.path[:] = ours + [p for p in sys.path if p and p not in ours]
    os.environ.update(lambda_environment(args.function_name, args.memory, args.handler))
    os.chdir(contract.TASK_ROOT)

    with open(args.event, "rb") as fh:
        raw = fh.read()
    try:
        event = json.loads(raw)
    except ValueError as exc:
        outcome(ok=False, error=error("Runtime.InvalidEvent", f"the event is not JSON: {exc}"))
        return contract.Exit.HANDLER_FAILED

    module_name, _, function_name = args.handler.rpartition(".")
    if not module_name:
        message = f"Bad handler '{args.handler}': not enough values to unpack (expected 2, got 1)"
        outcome(ok=False, error=error("Runtime.MalformedHandlerName", message))
        return contract.Exit.HANDLER_FAILED
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except SystemExit as exc:
        outcome(ok=False, error=exited(exc.code), init_ms=None)
        return contract.Exit.HANDLER_FAILED
    except Exception as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        outcome(ok=False, error=error("Runtime.ImportModuleError", message), init_ms=None)
        return contract.Exit.HANDLER_FAILED
    init_ms = (time.perf_counter() - started) * 1000
    function = getattr(module, function_name, None)
    if function is None:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        outcome(ok=False, error=error("Runtime.HandlerNotFound", message), init_ms=init_ms)
        return contract.Exit.HANDLER_FAILED

    context = LambdaContext(args.function_name, args.memory, args.timeout)
    started = time.perf_counter()
    try:
        result = function(event, context)
    except SystemExit as exc:
        duration_ms = (time.perf_counter() - started) * 1000
        outcome(ok=False, error=exited(exc.code), init_ms=init_ms, duration_ms=duration_ms)
        return contract.Exit.HANDLER_FAILED
    except Exception as exc:
        duration_ms = (time.perf_counter() - started) * 1000
        stack = traceback.format_tb(exc.__traceback__)
        outcome(
            ok=False,
            error=error(type(exc).__name__, str(exc), stack),
            init_ms=init_ms,
            duration_ms=duration_ms,
        )
        return contract.Exit.HANDLER_FAILED
    duration_ms = (time.perf_counter() - started) * 1000
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        outcome(ok=False, error=error("Runtime.MarshalError", message), init_ms=init_ms)
        return contract.Exit.HANDLER_FAILED
    outcome(ok=True, result=result, init_ms=init_ms, duration_ms=duration_ms)
    return contract.Exit.OK


if __name__ == "__main__":
    sys.exit(main())
