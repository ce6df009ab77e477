"""The `downbeat` command: run the local stack and talk to it (DESIGN §6).

Commands that talk to a running stack use `--api URL`, else `DOWNBEAT_API_URL`, else
http://127.0.0.1:8787. Exit codes: 0 done, 1 failed (stack unreachable, event refused, handler
error), 2 bad usage (unknown command or function, a file that is not JSON, no such schedule).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local.sync_cli import add_sync_command

DEFAULT_API_URL = "http://127.0.0.1:8787"
READY_LINE = "downbeat local ready: api={url}"


class UsageError(Exception):
    """Bad input from the user: exit code 2."""


class CommandFailed(Exception):
    """The command could not do its job: exit code 1."""


# -- talking to the stack --------------------------------------------------------------------------------


def api_url(args: argparse.Namespace) -> str:
    return str(getattr(args, "api", None) or os.environ.get("DOWNBEAT_API_URL") or DEFAULT_API_URL).rstrip("/")


def request_json(base: str, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
    """Call a control endpoint; a non-2xx answer is CommandFailed (404 → UsageError) with its message."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("message", "")
        except ValueError:
            message = error.reason
        raise (UsageError if error.code == 404 else CommandFailed)(message) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise CommandFailed(f"no local stack answers at {base} ({error}); start one with `downbeat local`") from None


def stack_is_running(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=0.5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return False


def read_json_file(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise UsageError(f"{path} is not JSON ({error}); nothing was sent") from None


# -- commands --------------------------------------------------------------------------------------------


def cmd_local(args: argparse.Namespace) -> int:
    from local.demo_data import DEMO_STRIPE_CUSTOMERS, seed_demo_data  # noqa: PLC0415 - keeps --help fast
    from local.stack import LocalStack, StackOptions  # noqa: PLC0415
    from shared.adapters.dynamodb import DynamoDBStore  # noqa: PLC0415

    _log_to_stderr(args.log_level)
    options = StackOptions(
        port=args.port,
        retry_visibility_seconds=args.retry_visibility,
        run_schedules=not args.no_schedules,
        stripe_customers=DEMO_STRIPE_CUSTOMERS,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    # stdout carries the ready line only: handler logs and metrics (Powertools prints them to the
    # stdout it sees when the handlers are imported, at start) go to stderr.
    ready_out, sys.stdout = sys.stdout, sys.stderr
    try:
        try:
            stack = LocalStack(options).start()
        except OSError as error:
            raise CommandFailed(f"cannot start the local stack on port {args.port}: {error}") from None
        try:
            if args.seed:
                seed_demo_data(DynamoDBStore(stack.clients.dynamodb, stack.table_name))
            print(READY_LINE.format(url=stack.url), file=ready_out, flush=True)
            stopping.wait()
        finally:
            stack.stop()
    finally:
        sys.stdout = ready_out
    return 0


def cmd_send_event(args: argparse.Namespace) -> int:
    envelope = read_json_file(args.file)
    base = api_url(args)
    if args.claim_check:
        from local.claim_check_cli import with_claim_check  # noqa: PLC0415 - boto3 only when asked

        def bucket() -> dict[str, str]:
            answer: dict[str, str] = request_json(base, "GET", "/_local/claim-check-bucket")
            return answer

        envelope = with_claim_check(envelope, bucket, CommandFailed)
    answer = request_json(base, "POST", "/_local/events", envelope)
    print(answer["event_id"])
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    from local.invoke import invoke_against_stack, invoke_in_memory  # noqa: PLC0415
    from local.lambda_runtime import HandlerMissing  # noqa: PLC0415
    from local.resources import find_function  # noqa: PLC0415

    spec = find_function(args.function)
    if spec is None:
        raise UsageError(f"no function {args.function!r} in template.yaml (use its directory or logical id)")
    event = read_json_file(args.event_file)
    base = api_url(args)
    try:
        if not args.fresh and stack_is_running(base):
            environment = request_json(base, "GET", f"/_local/env/{spec.logical_id}")["environment"]
            result = invoke_against_stack(spec, event, environment)
        else:
            result = invoke_in_memory(spec, event, seed=args.seed)
    except HandlerMissing as missing:
        raise UsageError(str(missing)) from None
    except Exception as error:  # the handler failed: print what Lambda would return, exit 1
        print(json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}, indent=2))
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    from local.resources import find_function  # noqa: PLC0415

    base = api_url(args)
    if not stack_is_running(base):
        spec = find_function(args.name)
        if spec is None or not spec.schedules:
            raise UsageError(f"no scheduled function {args.name} in this build")
    # The running stack knows its template: it answers 404 (exit 2) for a name it cannot run.
    answer = request_json(base, "POST", f"/_local/trigger/{args.name}", {}, timeout=900)
    print(json.dumps(answer["result"], indent=2, default=str))
    return 0


def cmd_dlq_list(args: argparse.Namespace) -> int:
    for entry in request_json(api_url(args), "GET", "/_local/dlq")["messages"]:
        print(json.dumps(entry, default=str))
    return 0


def _log_to_stderr(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- parser ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument(
        "--api",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"the running local stack (default: $DOWNBEAT_API_URL, else {DEFAULT_API_URL})",
    )
    parser = argparse.ArgumentParser(
        prog="downbeat",
        description="downbeat on this machine: the local stack and the commands that drive it (DESIGN §6).",
        parents=[api],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser(
        "local",
        help="run the local stack in the foreground",
        description=(
            "Run the whole template in this process on an embedded moto server: the API on 127.0.0.1, the "
            "router fed from the local EventBridge bus in arrival order, SQS workers driven as Lambda's event "
            "source mapping drives them, rate() schedules at their rates, the built-in Stripe double unless "
            "STRIPE_API_BASE is set. Prints 'downbeat local ready: api=URL' when ready; Ctrl-C stops it."
        ),
    )
    local.add_argument("--port", type=int, default=8787, help="API port on 127.0.0.1 (0 picks a free one)")
    local.add_argument(
        "--retry-visibility",
        type=int,
        default=2,
        metavar="SECONDS",
        help="a failed SQS record is retried after SECONDS instead of the queue's VisibilityTimeout (default 2)",
    )
    local.add_argument("--no-schedules", action="store_true", help="do not run schedules on their timers")
    local.add_argument(
        "--seed", action="store_true", help="load the demo's customers and contracts (cust_acme, cust_globex) at start"
    )
    local.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    local.set_defaults(run=cmd_local)

    send = commands.add_parser(
        "send-event",
        parents=[api],
        help="put an invoice event on the local bus",
        description=(
            "Put FILE's EventBridge event (source, detail-type, detail) on the local bus as given — no "
            "validation here, so bad input reaches the router — and print the event id once it is on the bus."
        ),
    )
    send.add_argument(
        "file", metavar="FILE", help="an EventBridge envelope as JSON, e.g. events/invoice_router/finalized.json"
    )
    send.add_argument(
        "--claim-check",
        action="store_true",
        help="put detail.line_items in the stack's claim-check bucket and send the event with line_items [] and "
        "line_items_uri naming that object (for an invoice over PutEvents' 1 MB limit)",
    )
    send.set_defaults(run=cmd_send_event)

    invoke = commands.add_parser(
        "invoke",
        parents=[api],
        help="run one function's handler with an event (like `sam local invoke`)",
        description=(
            "Call FUNCTION's handler in this process with EVENT_FILE and print its JSON result. Against the "
            "running local stack when one answers at the API URL (with that function's environment); else in a "
            "fresh in-memory AWS (moto) holding the template's resources — no Docker, no AWS credentials."
        ),
    )
    invoke.add_argument("function", metavar="FUNCTION", help="directory name (invoice_router) or logical id")
    invoke.add_argument("event_file", metavar="EVENT_FILE", help="the event as JSON")
    invoke.add_argument(
        "--seed",
        action="store_true",
        help="in a fresh in-memory AWS, first load the demo's customers and contracts (cust_acme, cust_globex)",
    )
    invoke.add_argument("--fresh", action="store_true", help="use a fresh in-memory AWS even if a stack is running")
    invoke.set_defaults(run=cmd_invoke)

    trigger = commands.add_parser(
        "trigger",
        parents=[api],
        help="run a scheduled function now and wait for it",
        description=(
            "Run the scheduled function NAME (e.g. marketplace_meter, alert_evaluator, data_export) on the running "
            "stack now, with the payload its schedule sends, and print its result when it has finished."
        ),
    )
    trigger.add_argument("name", metavar="NAME", help="directory name or logical id of a scheduled function")
    trigger.set_defaults(run=cmd_trigger)

    dlq = commands.add_parser("dlq", help="dead-letter queues", description="Inspect the stack's dead-letter queues.")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    dlq_list = dlq_commands.add_parser(
        "list",
        parents=[api],
        help="every message now in the DLQs, one JSON object per line",
        description=(
            "Print every message now in the stack's dead-letter queues, one JSON object per line with queue, "
            "message_id, reason and body. Listing never consumes or loses a message."
        ),
    )
    dlq_list.set_defaults(run=cmd_dlq_list)
    add_sync_command(commands)  # `downbeat sync --dry-run INVOICE_FILE`
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except UsageError as error:
        print(f"downbeat {args.command}: {error}", file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(f"downbeat {args.command}: {error}", file=sys.stderr)
        return 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
