"""The `downbeat` command: run the local stack and talk to it.

Commands that talk to a running stack use `--api URL`, else `DOWNBEAT_API_URL`, else
http://127.0.0.1:8787, and send the API token (`DOWNBEAT_API_TOKEN`, else the local default
token) that the stack's control endpoints require. Exit codes: 0 done, 1 failed (stack
unreachable, event refused, handler error), 2 bad usage (an argument that is not what it must
be, a file that cannot be read or is not JSON, an unknown function or schedule). Every error is
one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import re
import signal
import sys
import threading
import urllib.error
import urllib.request
from typing import Any, NoReturn
from urllib.parse import quote

from local.cli_arguments import (
    UsageError,
    api_base_url,
    port_number,
    read_json_file,
    shown,
    visibility_seconds,
)
from local.event_limits import over_the_limit, put_events_entry
from local.export_cli import add_export_command
from local.http_server import LOCAL_API_TOKEN, MAX_BODY_BYTES
from local.marketplace_cli import add_marketplace_command
from local.reconcile_cli import add_reconcile_command
from local.stripe_cli import add_stripe_command
from local.sync_cli import add_sync_command

DEFAULT_API_URL = "http://127.0.0.1:8787"
READY_LINE = "downbeat local ready: api={url}"
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what an Authorization header can carry as the token

__all__ = ["CommandFailed", "UsageError", "main", "request_json"]


class CommandFailed(Exception):
    """The command could not do its job: exit code 1."""


# -- talking to the stack --------------------------------------------------------------------------------


def api_url(args: argparse.Namespace) -> str:
    given = getattr(args, "api", None)  # checked by argparse (api_base_url)
    if given:
        return str(given)
    from_environment = os.environ.get("DOWNBEAT_API_URL")
    if not from_environment:
        return DEFAULT_API_URL
    try:
        return api_base_url(from_environment)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"DOWNBEAT_API_URL: {error}") from None


def api_token() -> str:
    """The token the control endpoints (and the API) take: DOWNBEAT_API_TOKEN, else the local default."""
    token = os.environ.get("DOWNBEAT_API_TOKEN") or LOCAL_API_TOKEN
    if not _HEADER_SAFE.fullmatch(token):
        raise UsageError("DOWNBEAT_API_TOKEN holds spaces or characters an HTTP header cannot carry")
    return token


def request_json(
    base: str, method: str, path: str, body: Any = None, timeout: float = 60, token: str | None = None
) -> Any:
    """Call a control endpoint with the API token; a refusal is CommandFailed (404: UsageError) with its message."""
    data = None if body is None else json.dumps(body).encode()
    if data is not None and len(data) > MAX_BODY_BYTES:  # the stack would answer 413 without reading it
        raise CommandFailed(
            f"the request is {len(data)} bytes, over the local stack's limit of {MAX_BODY_BYTES}; nothing was sent"
        )
    headers = {"Authorization": f"Bearer {token or api_token()}", "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise _refusal(base, error) from None
    except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
        raise CommandFailed(
            f"no local stack answers at {base} ({_reason(error)}); start one with `downbeat local`"
        ) from None
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise CommandFailed(
            f"{base} answered {path} with something that is not JSON: is it a downbeat local stack?"
        ) from None


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", error)
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return str(text)


def _refusal(base: str, error: urllib.error.HTTPError) -> Exception:
    try:
        message = json.loads(error.read()).get("message")
    except (OSError, ValueError, AttributeError):
        message = None
    if not isinstance(message, str):
        return CommandFailed(
            f"{base} answered {error.code} {error.reason}, not as a downbeat local stack answers: "
            "is something else listening there?"
        )
    if error.code == 401:
        return CommandFailed(
            f"the local stack at {base} refused the API token: set DOWNBEAT_API_TOKEN to the token it was started with"
        )
    return (UsageError if error.code == 404 else CommandFailed)(message)


def answer_field(answer: Any, name: str) -> Any:
    if not isinstance(answer, dict) or name not in answer:
        raise CommandFailed(f"the local stack's answer has no {name!r}: is it the same version as this command?")
    return answer[name]


def stack_is_running(base: str) -> bool:
    """Whether a downbeat local stack answers at `base` (one that refuses the request counts: it is there)."""
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as error:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return isinstance(json.loads(error.read()).get("message"), str)
        return False
    except (OSError, http.client.HTTPException, ValueError):
        return False


# -- commands --------------------------------------------------------------------------------------------


def cmd_local(args: argparse.Namespace) -> int:
    from local.demo_data import DEMO_STRIPE_CUSTOMERS  # noqa: PLC0415 - keeps --help fast
    from local.stack import LocalStack, StackOptions  # noqa: PLC0415

    _log_to_stderr(args.log_level)
    options = StackOptions(
        port=args.port,
        retry_visibility_seconds=args.retry_visibility,
        run_schedules=not args.no_schedules,
        stripe_customers=DEMO_STRIPE_CUSTOMERS,
        seed_demo_data=args.seed,  # before /health answers: a client that waits for it finds them
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
            raise CommandFailed(f"cannot start the local stack on port {args.port}: {_reason(error)}") from None
        try:
            print(READY_LINE.format(url=stack.url), file=ready_out, flush=True)
            # Woken often: a signal the kernel hands to another thread leaves the main thread's
            # wait uninterrupted, and Python runs the handler only when the main thread runs.
            while not stopping.wait(0.2):
                pass
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
    if isinstance(envelope, dict):  # refused here as the bus would: the request could not even carry it
        refusal = over_the_limit([put_events_entry(envelope, "default")])
        if refusal is not None:
            raise CommandFailed(f"EventBridge would refuse the request: {refusal}")
    answer = request_json(base, "POST", "/_local/events", envelope)
    print(answer_field(answer, "event_id"))
    if answer.get("rules") == []:
        source = envelope.get("source") if isinstance(envelope, dict) else None
        detail_type = envelope.get("detail-type") if isinstance(envelope, dict) else None
        print(
            f"downbeat send-event: warning: no rule on the local bus takes this event (source {source!r}, "
            f"detail-type {detail_type!r}), so no function will see it; invoice events have source "
            "'downbeat.billing'",
            file=sys.stderr,
        )
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    from local.invoke import invoke_against_stack, invoke_in_memory  # noqa: PLC0415
    from local.lambda_runtime import HandlerMissing  # noqa: PLC0415
    from local.resources import find_function  # noqa: PLC0415

    spec = find_function(args.function)
    if spec is None:
        raise UsageError(f"no function {shown(args.function)} in template.yaml (use its directory or logical id)")
    event = read_json_file(args.event_file)
    base = api_url(args)
    if not args.fresh and stack_is_running(base):
        if args.seed:
            request_json(base, "POST", "/_local/seed", {})
            print(f"downbeat invoke: the demo customers and contracts are in the stack at {base}", file=sys.stderr)
        served = request_json(base, "GET", f"/_local/env/{quote(spec.logical_id, safe='')}")
        settings, withheld = answer_field(served, "environment"), served.get("withheld", [])

        def run() -> Any:
            return invoke_against_stack(spec, event, settings, withheld)
    else:

        def run() -> Any:
            return invoke_in_memory(spec, event, seed=args.seed)

    try:
        result = run()
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
            raise UsageError(f"no scheduled function {shown(args.name)} in this build")
    # The running stack knows its template: it answers 404 (exit 2) for a name it cannot run.
    answer = request_json(base, "POST", f"/_local/trigger/{quote(args.name, safe='')}", {}, timeout=900)
    print(json.dumps(answer_field(answer, "result"), indent=2, default=str))
    return 0


def cmd_dlq_list(args: argparse.Namespace) -> int:
    for entry in answer_field(request_json(api_url(args), "GET", "/_local/dlq"), "messages"):
        print(json.dumps(entry, default=str))
    return 0


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    body = {"dry_run": args.dry_run} | ({"message_id": args.id} if args.id else {})
    answer = request_json(api_url(args), "POST", f"/_local/redrive/{quote(args.queue, safe='')}", body, timeout=300)
    for line in answer_field(answer, "moved"):
        print(json.dumps(line))
    for line in answer_field(answer, "kept"):
        print(json.dumps(line), file=sys.stderr)
    verb = "would move" if args.dry_run else "moved"
    print(f"{verb} {answer_field(answer, 'count')} message(s) from {args.queue}", file=sys.stderr)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from local.reconcile_cli import FUNCTION, reconcile_against_stack  # noqa: PLC0415

    base = api_url(args)
    if not stack_is_running(base):
        raise UsageError(f"no local stack answers at {base}; start one with `downbeat local`")
    served = request_json(base, "GET", f"/_local/env/{FUNCTION}")
    try:
        return reconcile_against_stack(args, answer_field(served, "environment"), served.get("withheld", []))
    except UsageError:
        raise
    except Exception as error:  # Stripe or the table unreachable: an error, not a difference (exit 2)
        print(f"downbeat reconcile: {type(error).__name__}: {error}", file=sys.stderr)
        return 2


def cmd_export(args: argparse.Namespace) -> int:
    from local.export_cli import FUNCTION, export_against_stack  # noqa: PLC0415

    base = api_url(args)
    served = request_json(base, "GET", f"/_local/env/{FUNCTION}")  # no stack: CommandFailed (exit 1)
    try:
        return export_against_stack(args, answer_field(served, "environment"), served.get("withheld", []))
    except UsageError:
        raise
    except Exception as error:  # S3 or the table unreachable: the date's previous export stays as it was
        raise CommandFailed(
            f"{type(error).__name__}: {error} (the date's previous export, if any, is unchanged)"
        ) from None


def _log_to_stderr(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- parser ----------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse's exit code 2, with the error on one line (and where to read more)."""

    def error(self, message: str) -> NoReturn:
        one_line = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {one_line} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    api = _Parser(add_help=False)
    api.add_argument(
        "--api",
        metavar="URL",
        type=api_base_url,
        default=argparse.SUPPRESS,
        help=f"the running local stack, http://HOST:PORT (default: $DOWNBEAT_API_URL, else {DEFAULT_API_URL}); "
        "the API token sent is $DOWNBEAT_API_TOKEN, else the local default",
    )
    parser = _Parser(
        prog="downbeat",
        description=(
            "downbeat on this machine: the local stack and the commands that drive it. Exit codes: 0 done, "
            "1 failed (no stack answers, the stack refused, a handler raised), 2 bad usage. "
            "See local/README.md."
        ),
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
            "STRIPE_API_BASE is set. The demo customers and contracts are loaded first (--no-seed starts "
            "empty), so the sample events in events/ route as they are. Prints 'downbeat local ready: api=URL' "
            "when ready; Ctrl-C stops it. The API and the control endpoints the other commands use take the "
            "token $DOWNBEAT_API_TOKEN (default downbeat-local-token); the control endpoints answer only "
            "requests addressed to localhost, 127.0.0.1 or [::1], from no other web origin."
        ),
    )
    local.add_argument(
        "--port", type=port_number, default=8787, help="API port on 127.0.0.1, 0-65535 (0 picks a free one)"
    )
    local.add_argument(
        "--retry-visibility",
        type=visibility_seconds,
        default=2,
        metavar="SECONDS",
        help="a failed SQS record is retried after SECONDS (0-43200) instead of the queue's VisibilityTimeout "
        "(default 2)",
    )
    local.add_argument("--no-schedules", action="store_true", help="do not run schedules on their timers")
    local.add_argument(
        "--seed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="load the demo's customers and contracts (cust_acme, cust_globex) at start: the default; "
        "--no-seed starts with an empty table",
    )
    local.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    local.set_defaults(run=cmd_local)

    send = commands.add_parser(
        "send-event",
        parents=[api],
        help="put an invoice event on the local bus",
        description=(
            "Put FILE's EventBridge event (source, detail-type, detail) on the local bus as given — no "
            "validation here, so bad input reaches the router — and print the event id once it is on the bus. "
            "When no rule on the bus takes the event (invoice events have source downbeat.billing), it says so "
            "on stderr: the event is on the bus, no function will see it, and the exit code is still 0. "
            "A FILE that cannot be read or is not JSON exits 2, a stack that refuses the event 1."
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
            "running local stack when one answers at the API URL (with that function's settings; its secrets — "
            "the API token, the Stripe key, AWS credentials — come from this command's own environment, else "
            "the local defaults, since the stack never serves them); else in a fresh in-memory AWS (moto) "
            "holding the template's resources — no Docker, no AWS credentials."
        ),
    )
    invoke.add_argument("function", metavar="FUNCTION", help="directory name (invoice_router) or logical id")
    invoke.add_argument("event_file", metavar="EVENT_FILE", help="the event as JSON")
    invoke.add_argument(
        "--seed",
        action="store_true",
        help="first load the demo's customers and contracts (cust_acme, cust_globex): into the running stack "
        "when one answers, else into the fresh in-memory AWS",
    )
    invoke.add_argument("--fresh", action="store_true", help="use a fresh in-memory AWS even if a stack is running")
    invoke.set_defaults(run=cmd_invoke)

    trigger = commands.add_parser(
        "trigger",
        parents=[api],
        help="run a scheduled function now and wait for it",
        description=(
            "Run the scheduled function NAME (e.g. marketplace_meter, alert_evaluator, data_export) on the running "
            "stack now, with the payload its schedule sends, and print its result when it has finished "
            "(data_export exports today's date, UTC; `downbeat export --date D` exports another with a progress bar)."
        ),
    )
    trigger.add_argument("name", metavar="NAME", help="directory name or logical id of a scheduled function")
    trigger.set_defaults(run=cmd_trigger)

    dlq = commands.add_parser(
        "dlq", help="dead-letter queues", description="Inspect the stack's dead-letter queues and redrive them."
    )
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
    dlq_redrive = dlq_commands.add_parser(
        "redrive",
        parents=[api],
        help="move dead-lettered messages back to where they came from",
        description=(
            "Move the messages of the dead-letter queue QUEUE (as `dlq list` prints it) back to where they came "
            "from: a worker queue's DLQ to that queue, the router's events (and the events inside its Lambda "
            "on-failure records) back on the bus. Prints one JSON line per message (queue, message_id, to) and a "
            "count on stderr. Safe to repeat: the router and the workers are idempotent on invoice id and version, "
            "so a redriven invoice is never charged twice; a message that fails again is dead-lettered again with "
            "its new reason. Exit 2 for an unknown QUEUE or an --id that matches no message."
        ),
    )
    dlq_redrive.add_argument("queue", metavar="QUEUE", help="a DLQ's logical id, e.g. RouterDLQ or StripeSyncDLQ")
    dlq_redrive.add_argument("--id", metavar="MESSAGE_ID", help="move only this message (its message_id)")
    dlq_redrive.add_argument("--dry-run", action="store_true", help="print what would move; move nothing")
    dlq_redrive.set_defaults(run=cmd_dlq_redrive)
    add_sync_command(commands)  # `downbeat sync --dry-run INVOICE_FILE`
    add_reconcile_command(commands, api, cmd_reconcile)
    add_export_command(commands, api, cmd_export)  # `downbeat export --date D`
    add_stripe_command(commands, api)  # `downbeat stripe pay INVOICE` …
    add_marketplace_command(commands, api)  # `downbeat marketplace land aws` …
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    subcommand = getattr(args, "dlq_command", None) or getattr(args, "marketplace_command", None)
    command = " ".join(filter(None, (args.command, subcommand)))
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except UsageError as error:
        print(f"downbeat {command}: {error}", file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(f"downbeat {command}: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `downbeat dlq list | head -1`: the reader has gone, which is no error
        # What is left in stdout's buffer would fail again when the interpreter flushes it at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"downbeat {command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
