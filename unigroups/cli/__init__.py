"""The ``unigroups`` command (needs the ``cli`` extra: ``pip install "unigroups[cli]"``).

Exit codes: 0 success; 1 the vendor, the network or the system refused, or a batch had failed
operations; 2 bad usage, a bad config file or option, or invalid input; 3 a plan was not
confirmed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from .. import __version__
from ..errors import (
    BackendError,
    ConfigurationError,
    UnigroupsError,
    UnsupportedOperationError,
    ValidationError,
)

__all__ = ["main"]

EPILOG = """targets come from unigroups.toml ([targets.NAME] with backend = "zoho" and its options;
secrets as ${ENV_VAR}) or from --backend NAME --option key=value.
exit codes: 0 ok, 1 refused by the vendor, the network or the system, or failed operations,
2 bad usage or config, 3 plan not confirmed, 130 interrupted."""


def _number(
    kind: Callable[[str], float], least: float, what: str, *, most: float = math.inf
) -> Callable[[str], float]:
    """An argparse type: a finite number from ``least`` to ``most`` (argparse names the
    option in its message)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value) or not least <= value <= most:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


COUNT = _number(int, 1, "a whole number of at least 1")
AMOUNT = _number(int, 0, "a whole number of at least 0")
SECONDS = _number(float, 0, "a finite number of seconds, 0 or more")
INTERVAL = _number(float, 0.1, "a finite number of seconds, 0.1 or more")
PORT = _number(int, 0, "a port number (0 to 65535)", most=65535)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other error
        sys.stderr.write(f"unigroups: error: {message} (see --help)\n")
        raise SystemExit(2)


def _target_options(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        parser.add_argument("target", nargs="?", help="a target named in the config file")
    parser.add_argument("--backend", help="open this backend instead of a configured target")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="a backend option"
    )


def _global_options(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--config", default=default, help="config file (default: ./unigroups.toml)")
    parser.add_argument(
        "--json", action="store_true", default=default, help="print JSON, not tables"
    )
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="log retries, token renewals and throttling on stderr (-vv: every request)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="unigroups",
        description="Manage CRM user groups the same way for every vendor.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, argparse.SUPPRESS)
    parser.set_defaults(config=None, json=False, debug=False, verbose=0)
    # The same options after the subcommand; SUPPRESS keeps a subcommand from resetting what
    # was given before it (``unigroups --json list t``).
    common = _Parser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"unigroups {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser(
        "backends", parents=[common], help="the registered backends and what they can do"
    )
    demo = sub.add_parser(
        "demo", parents=[common], help="mirror Zoho into SuperOffice on the built-in emulators"
    )
    demo.add_argument("--groups", type=AMOUNT, default=300, help="generated groups (default 300)")
    demo.add_argument("--latency", type=SECONDS, default=0.01, help="emulated latency in seconds")

    listing = sub.add_parser("list", parents=[common], help="list a target's groups")
    _target_options(listing)
    listing.add_argument("--inactive", action="store_true", help="include deactivated groups")
    for name, text in (("get", "show one group with its members"), ("delete", "delete a group")):
        one = sub.add_parser(name, parents=[common], help=text)
        _target_options(one)
        one.add_argument("id", help="the group's id")
    create = sub.add_parser("create", parents=[common], help="create a group")
    _target_options(create)
    create.add_argument("name")
    create.add_argument("--description")
    create.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="KIND:ID",
        help="user:42, role:7+ (+: with subordinates)",
    )
    create.add_argument("--rank", type=int)
    update = sub.add_parser("update", parents=[common], help="change a group")
    _target_options(update)
    update.add_argument("id")
    update.add_argument("--name")
    update.add_argument("--description")
    update.add_argument("--clear-description", action="store_true")
    update.add_argument("--add", action="append", default=[], metavar="KIND:ID")
    update.add_argument("--remove", action="append", default=[], metavar="KIND:ID")
    update.add_argument("--rank", type=int)

    for name, text in (
        ("apply", "make a target hold the groups of a JSON or TOML file"),
        ("mirror", "make a target hold a source's groups"),
    ):
        job = sub.add_parser(name, parents=[common], help=text)
        if name == "apply":
            _target_options(job)
            job.add_argument(
                "file", help="the desired state: groups = [{name, description, members}]"
            )
        else:
            job.add_argument("source", help="the target to read from")
            job.add_argument("target", help="the target to change")
            job.add_argument("--member-map", help='JSON file mapping "kind:id" to the target id')
            job.add_argument(
                "--match-users",
                choices=["email", "none"],
                default="email",
                help="users the map does not cover: matched by e-mail (default), or carried "
                "with their ids unchanged",
            )
        job.add_argument(
            "--delete-missing", action="store_true", help="delete groups the source lacks"
        )
        job.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
        job.add_argument("--yes", action="store_true", help="apply without asking")
        job.add_argument("--journal", help="a journal file, to resume the job if it is cut short")
        job.add_argument(
            "--concurrency", type=COUNT, default=10, help="operations in flight (default 10)"
        )
        job.add_argument(
            "--max-attempts",
            type=COUNT,
            help="sends per request, the first included; also how many sends in a row may "
            "find the target unreachable before the job stops (default: the target's, 6)",
        )
        job.add_argument(
            "--max-wait",
            type=SECONDS,
            help="the longest wait before a send: backoff, Retry-After, a paused throttle "
            "(default: the target's, 120)",
        )
        job.add_argument(
            "--progress-interval",
            type=INTERVAL,
            default=5.0,
            metavar="SECONDS",
            help="when stderr is not a terminal, a progress line this often (default 5)",
        )

    emulate = sub.add_parser(
        "emulate",
        parents=[common],
        help="serve a vendor emulator on 127.0.0.1",
        description="Serve a vendor emulator on 127.0.0.1 until interrupted; prints its URL. "
        "Zoho clients send 'Authorization: Zoho-oauthtoken TOKEN' with the --token value "
        "(default test-token); any other token gets 401 INVALID_TOKEN.",
    )
    emulate.add_argument("vendor", choices=["zoho", "superoffice"])
    emulate.add_argument("--port", type=PORT, default=0, help="0 picks a free port")
    emulate.add_argument("--latency", type=SECONDS, default=0.0, help="seconds added to answers")
    emulate.add_argument(
        "--max-in-flight", type=COUNT, help="answer 429 past N concurrent requests"
    )
    emulate.add_argument(
        "--token",
        default="test-token",
        help="the access token the emulator accepts (default %(default)s); for Zoho sent as "
        "'Authorization: Zoho-oauthtoken TOKEN', any other gets 401 INVALID_TOKEN",
    )
    from ..testing.zoho_emulator import add_zoho_arguments

    add_zoho_arguments(emulate, prefix="zoho: ")
    from ..testing.superoffice_emulator import add_superoffice_arguments

    add_superoffice_arguments(emulate, prefix="superoffice: ")
    return parser


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the standard error of the moment (a progress bar may redirect it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stderr)
        super().emit(record)


def configure_logging(verbosity: int) -> None:
    """``unigroups.*`` log lines on stderr: -v INFO and WARNING, -vv DEBUG; else errors."""
    level = {0: logging.ERROR, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logger = logging.getLogger("unigroups")
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("unigroups: %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from .commands import COMMANDS, JOBS, cmd_emulate, run_job
        from .output import Output
    except ImportError as exc:  # rich is in the cli extra
        sys.stderr.write(f'unigroups: error: {exc.name} is missing; pip install "unigroups[cli]"\n')
        return 2
    configure_logging(args.verbose)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Vendor text that cannot be encoded (a lone surrogate) is shown escaped, not a crash.
        sys.stdout.reconfigure(errors="backslashreplace")
    out = Output(as_json=args.json)
    try:
        if args.command == "emulate":
            return cmd_emulate(args, out)
        # One loop for the whole command, run in steps: a prompt between two steps is asked
        # while no loop runs, so Ctrl-C there ends the command at once.
        with asyncio.Runner() as runner:
            if args.command in JOBS:
                return run_job(runner, JOBS[args.command], args, out)
            return runner.run(COMMANDS[args.command](args, out))
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except BrokenPipeError:  # the reader went away (``unigroups list | head -1``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ConfigurationError, ValidationError, UnsupportedOperationError) as exc:
        if args.debug:
            raise
        out.error(str(exc))
        return 2
    except (BackendError, UnigroupsError) as exc:
        if args.debug:
            raise
        out.error(str(exc))
        return 1
