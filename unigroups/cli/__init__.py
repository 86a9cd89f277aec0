"""The ``unigroups`` command (needs the ``cli`` extra: ``pip install "unigroups[cli]"``).

Exit codes: 0 success; 1 the vendor or the network refused, or a batch had failed operations;
2 bad usage, a bad config file or option, or invalid input; 3 a plan was not confirmed;
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
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
exit codes: 0 ok, 1 refused by the vendor or failed operations, 2 bad usage or config,
3 plan not confirmed, 130 interrupted."""


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="unigroups",
        description="Manage CRM user groups the same way for every vendor.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, argparse.SUPPRESS)
    parser.set_defaults(config=None, json=False, debug=False)
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
    demo.add_argument("--groups", type=int, default=300, help="generated groups (default 300)")
    demo.add_argument("--latency", type=float, default=0.01, help="emulated latency in seconds")

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
            "--delete-missing", action="store_true", help="delete groups the source lacks"
        )
        job.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
        job.add_argument("--yes", action="store_true", help="apply without asking")
        job.add_argument("--journal", help="a journal file, to resume the job if it is cut short")

    emulate = sub.add_parser(
        "emulate",
        parents=[common],
        help="serve a vendor emulator on 127.0.0.1",
        description="Serve a vendor emulator on 127.0.0.1 until interrupted; prints its URL. "
        "Zoho clients send 'Authorization: Zoho-oauthtoken TOKEN' with the --token value "
        "(default test-token); any other token gets 401 INVALID_TOKEN.",
    )
    emulate.add_argument("vendor", choices=["zoho", "superoffice"])
    emulate.add_argument("--port", type=int, default=0, help="0 picks a free port")
    emulate.add_argument("--latency", type=float, default=0.0, help="seconds added to answers")
    emulate.add_argument("--max-in-flight", type=int, help="answer 429 past N concurrent requests")
    emulate.add_argument(
        "--token",
        default="test-token",
        help="the access token the emulator accepts (default %(default)s); for Zoho sent as "
        "'Authorization: Zoho-oauthtoken TOKEN', any other gets 401 INVALID_TOKEN",
    )
    from ..testing.zoho_emulator import add_zoho_arguments

    add_zoho_arguments(emulate, prefix="zoho: ")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from .commands import COMMANDS, cmd_emulate
        from .output import Output
    except ImportError as exc:  # rich is in the cli extra
        sys.stderr.write(f'unigroups: error: {exc.name} is missing; pip install "unigroups[cli]"\n')
        return 2
    out = Output(as_json=args.json)
    try:
        if args.command == "emulate":
            return cmd_emulate(args, out)
        return asyncio.run(COMMANDS[args.command](args, out))
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
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
