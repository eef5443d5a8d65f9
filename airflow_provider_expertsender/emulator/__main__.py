"""Command line: ``python -m airflow_provider_expertsender.emulator`` (or ``expertsender-emulator``).

Every switch of :class:`~airflow_provider_expertsender.emulator.switches.Switches` is a flag of the same name
(``--item-error-style errors_2xx``, ``--accept-cancelled``, ``--max-batch-size 100``...).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.emulator.admin import is_loopback
from airflow_provider_expertsender.emulator.seeds import Seeds
from airflow_provider_expertsender.emulator.server import Emulator
from airflow_provider_expertsender.emulator.switches import Switches, switch_docs

if TYPE_CHECKING:
    from collections.abc import Sequence

KEYS_ENV = "EXPERTSENDER_EMULATOR_API_KEYS"
_OPTIONAL_INT = {"max_batch_size", "hostile_status"}
_OPTIONAL_FLOAT = {"rate_limit_per_second"}


def _none_or(kind: type) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "") else kind(text)

    parse.__name__ = kind.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="expertsender-emulator",
        description="A local ExpertSender ECDP API for tests (in memory, one business unit per key).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port; 0 picks a free one (default 8080)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted x-api-key, one business unit each (repeatable); or set {KEYS_ENV}=KEY1,KEY2 to keep "
        "keys out of the process list",
    )
    parser.add_argument("--seed-file", help="JSON file with the settings lists (see docs/emulator.md)")
    parser.add_argument(
        "--admin",
        action="store_true",
        help="serve the admin API under /_emulator/ (no key; loopback --host only)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log one line per request")
    group = parser.add_argument_group("switches (see docs/emulator.md)")
    for doc in switch_docs():
        name, default = doc["name"], doc["default"]
        flag = "--" + name.replace("_", "-")
        help_text = doc["help"].replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, list):
            kwargs["type"] = str
            kwargs["metavar"] = "A,B"
        elif name in _OPTIONAL_INT:
            kwargs.update(type=_none_or(int), metavar="N|none")
        elif name in _OPTIONAL_FLOAT:
            kwargs.update(type=_none_or(float), metavar="X|none")
        else:
            kwargs["type"] = type(default)
            if doc["choices"]:
                kwargs["choices"] = doc["choices"]
            else:
                kwargs["metavar"] = "X" if isinstance(default, float) else "N"
        group.add_argument(flag, **kwargs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until interrupted (Ctrl-C or SIGTERM)."""
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    keys = args.pop("api_keys") or [k for k in os.environ.get(KEYS_ENV, "").split(",") if k]
    if not keys:
        parser.error(f"give at least one --api-key (or set {KEYS_ENV})")
    switch_names = {doc["name"] for doc in switch_docs()}
    try:
        switches = Switches(**{k: v for k, v in args.items() if k in switch_names})
        seeds = Seeds.from_file(args["seed_file"]) if args["seed_file"] else None
    except (ValueError, OSError) as err:
        parser.error(str(err))
    if args["admin"] and not is_loopback(args["host"]):
        parser.error(
            f"--admin needs a loopback --host (127.0.0.1, ::1, localhost), not {args['host']!r}: the admin "
            "API needs no key, so anyone who can reach the port could read and change every business unit."
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    emulator = Emulator(
        keys,
        port=args["port"],
        host=args["host"],
        switches=switches,
        seeds=seeds,
        admin=args["admin"],
        log_requests=not args["quiet"],
    )
    # Ctrl-C and SIGTERM stop the same way: the handler only sets the event, so no KeyboardInterrupt can
    # land in the middle of start-up or shutdown.
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with emulator:
        print(
            f"ECDP emulator listening on {emulator.url} ({len(keys)} API key(s), admin API "
            f"{'on' if args['admin'] else 'off'}). Ctrl-C to stop.",
            flush=True,
        )
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
