"""The ``flock-tui`` command: run a script, replay a record, or attach to a served run."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from flock_tui import __version__
from flock_tui.keys import KEYS_HELP
from flock_tui.launch import (
    AppCrashed,
    DashboardUnavailable,
    Invocation,
    Launch,
    Mode,
    run_plain_mode,
    run_tui_mode,
)
from flock_tui.record import Recorder, RecordError

PROG = "flock-tui"

USAGE = f"""\
{PROG} [options] SCRIPT [ARGS...]
       {PROG} [options] replay RUN.jsonl [--speed X]
       {PROG} [options] attach ws://HOST:PORT/ws [--token T]"""

DESCRIPTION = """\
Watch every agent of a Flock script stream at once: one live pane per agent.

  SCRIPT [ARGS...]   run SCRIPT (a Python file) as a child process with the same
                     interpreter and working directory; everything after SCRIPT is
                     passed to it unchanged. Its print() output appears in the console
                     pane. To run a script literally named "replay" or "attach", write
                     ./replay (or put -- before it).
  replay RUN.jsonl   re-render a run recorded with --record.
  attach URL         show a run served elsewhere (flock-tui --web, or a script calling
                     flock.serve(dashboard=True)), fed from its WebSocket.

When stdout (or stderr) is not a terminal (a pipe, a file, CI), plain line output is
printed on stdout instead of the TUI; the script still runs and --record still records."""

EPILOG = (
    KEYS_HELP
    + """\

environment:
  DEFAULT_MODEL       the LLM the script's agents use (e.g. openai/gpt-4.1, with
                      the provider's API key); unset = the built-in offline model
  FLOCK_OFFLINE_TPS   tokens per second per agent of the offline model (default
                      40; 0 = no delay)
  FLOCK_TUI_EVENT_FD, FLOCK_TUI_CHILD, FLOCK_TUI_CONTROL_FD
                      set by flock-tui for the child: the pipe the engine writes
                      its events to, a marker that it runs under flock-tui, and
                      (with --web) the socket the dashboard publishes through
  TEXTUAL_FPS         the TUI's maximum frame rate (default 60)
  FLOCK_TUI_DEBUG     set to 1 to get a traceback instead of a one-line error when
                      flock-tui itself fails

exit status:
  the script's exit code (128+N when it was killed by signal N); for replay the
  recorded exit code (0 when the record has none); 2 for a usage error (missing or
  non-Python script, unreadable record file, bad option, --web address that cannot
  be served); 1 when flock-tui itself failed.

examples:
  flock-tui examples/03_blog_review.py
  flock-tui --record run.jsonl examples/16_news_desk.py
  flock-tui replay run.jsonl --speed 4
  flock-tui --web examples/16_news_desk.py        # TUI + dashboard on 127.0.0.1:8344
  flock-tui attach ws://127.0.0.1:8344/ws
  flock-tui examples/03_blog_review.py | cat      # plain output"""
)

_VALUE_OPTIONS = {"--record", "--host", "--port", "--token", "--speed"}
_COMMANDS = ("replay", "attach")


class UsageError(Exception):
    """Bad command line: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if speed < 0 or speed != speed:
        raise argparse.ArgumentTypeError(f"speed must be >= 0: {text}")
    return speed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--record",
        metavar="RUN.jsonl",
        type=Path,
        help="record every event of the run to RUN.jsonl",
    )
    parser.add_argument(
        "--exit-on-finish",
        action="store_true",
        help="quit by itself when the run has ended (default: keep the panes for reading)",
    )
    web = parser.add_argument_group("dashboard (--web)")
    web.add_argument("--web", action="store_true", help="also serve the run to a browser dashboard")
    web.add_argument("--host", help="address to serve on (default 127.0.0.1)")
    web.add_argument(
        "--port", type=_port, help="port to serve on (default 8344; 0 = any free port)"
    )
    web.add_argument(
        "--token",
        help="access token for the dashboard (generated when binding to a non-loopback"
        " address); with attach: the token the server expects",
    )
    replay = parser.add_argument_group("replay")
    replay.add_argument(
        "--speed",
        type=_speed,
        metavar="X",
        help="replay speed: 1 = real time, 4 = four times faster, 0 = at once"
        " (default 1 in the TUI, 0 for plain output)",
    )
    parser.add_argument(
        "command", nargs="?", metavar="SCRIPT | replay | attach", help=argparse.SUPPRESS
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _split(argv: list[str]) -> tuple[list[str], str | None, list[str], bool]:
    """(options before the command, the command or SCRIPT, what follows, explicit --)."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            if i + 1 < len(argv):
                return argv[:i], argv[i + 1], argv[i + 2 :], True
            return argv[:i], None, [], True
        if not token.startswith("-") or token == "-":
            return argv[:i], token, argv[i + 1 :], False
        if token in _VALUE_OPTIONS:
            i += 1
        i += 1
    return argv, None, [], False


def parse_args(argv: list[str]) -> Invocation:
    parser = build_parser()
    head, command, rest, forced = _split(argv)
    if command is None:
        parser.parse_known_args(head)  # --help / --version / a bad option exit here
        raise UsageError("no SCRIPT given (see flock-tui --help)")
    if not forced and command in _COMMANDS:
        # Options may also follow `replay RUN.jsonl` / `attach URL`.
        ns = parser.parse_args([*head, *_options_only(rest), "--", command])
        mode: Mode = "replay" if command == "replay" else "attach"
        operands = _operands(rest)
        if len(operands) != 1:
            what = "RUN.jsonl" if mode == "replay" else "a ws:// URL"
            raise UsageError(f"{mode} needs exactly one argument: {what}")
        target, args = operands[0], []
    else:
        ns = parser.parse_args([*head, "--", command])
        mode, target, args = "script", command, rest
    if ns.speed is not None and mode != "replay":
        raise UsageError("--speed only applies to replay")
    if not ns.web and (ns.host is not None or ns.port is not None):
        raise UsageError("--host and --port only apply with --web")
    if ns.token is not None and not ns.web and mode != "attach":
        raise UsageError("--token only applies with --web or attach")
    return Invocation(
        mode=mode,
        target=target,
        args=list(args),
        record=ns.record,
        exit_on_finish=ns.exit_on_finish,
        web=ns.web,
        host=ns.host if ns.host is not None else "127.0.0.1",
        port=ns.port if ns.port is not None else 8344,
        token=ns.token,
        speed=ns.speed,
    )


def _options_only(rest: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(rest):
        token = rest[i]
        if token.startswith("-") and token != "-":
            out.append(token)
            if token in _VALUE_OPTIONS and i + 1 < len(rest):
                out.append(rest[i + 1])
                i += 1
        i += 1
    return out


def _operands(rest: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(rest):
        token = rest[i]
        if token.startswith("-") and token != "-":
            if token in _VALUE_OPTIONS:
                i += 1
        else:
            out.append(token)
        i += 1
    return out


# -- validation -------------------------------------------------------------------------


def check_script(target: str) -> Path:
    path = Path(target)
    if not path.exists():
        raise UsageError(f"script not found: {target}")
    if path.is_dir():
        raise UsageError(f"not a Python script (a directory): {target}")
    try:
        with path.open("rb") as handle:
            first = handle.readline(256)
    except OSError as exc:
        raise UsageError(f"cannot read script {target}: {exc.strerror or exc}") from None
    if path.suffix in (".py", ".pyw"):
        return path
    if first.startswith(b"#!") and b"python" in first:
        return path
    raise UsageError(f"not a Python script (expected a .py file): {target}")


def check_record_file(target: str) -> Path:
    from engine.events import ProtocolError, decode

    path = Path(target)
    if path.is_dir():
        raise UsageError(f"cannot read record file {target}: it is a directory")
    try:
        with path.open("rb") as handle:
            first = b""
            for line in handle:
                if line.strip():
                    first = line
                    break
    except OSError as exc:
        raise UsageError(f"cannot read record file {target}: {exc.strerror or exc}") from None
    if not first:
        raise UsageError(f"not a flock-tui record (empty): {target}")
    try:
        decode(first)
    except ProtocolError as exc:
        raise UsageError(f"not a flock-tui record: {target} (first event: {exc})") from None
    return path


def check_url(target: str) -> str:
    if not target.startswith(("ws://", "wss://")):
        raise UsageError(f"not a WebSocket URL (expected ws://HOST:PORT/ws): {target}")
    return target


def check_target(inv: Invocation) -> None:
    """Raise UsageError for a bad script, record file or URL (before anything starts)."""
    if inv.mode == "script":
        check_script(inv.target)
    elif inv.mode == "replay":
        check_record_file(inv.target)
    else:
        check_url(inv.target)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The TUI draws on stderr (Textual's choice) and prints nothing useful on stdout, so
    # it needs both to be the terminal; otherwise plain lines go to stdout.
    plain = not (sys.stdout.isatty() and sys.stderr.isatty())
    recorder: Recorder | None = None
    try:
        inv = parse_args(argv)
        check_target(inv)
        if inv.record is not None:
            recorder = Recorder(inv.record)
    except UsageError as exc:
        _error(str(exc))
        return 2
    except RecordError as exc:
        _error(exc.strerror or str(exc))
        return 2
    try:
        launch = Launch(inv, plain=plain, recorder=recorder)  # binds --web's address first
        if plain:
            return run_plain_mode(launch)
        return run_tui_mode(launch)
    except DashboardUnavailable as exc:  # nothing has started: a usage-level error
        _error(str(exc))
        return 2
    except AppCrashed as exc:
        _error(f"the TUI crashed: {exc}; the script was stopped")
        return 1
    except ImportError as exc:
        _error(f"this part of flock-tui is not available: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback, unless debugging
        if os.environ.get("FLOCK_TUI_DEBUG"):
            raise
        _error(f"{type(exc).__name__}: {exc} (set FLOCK_TUI_DEBUG=1 for the traceback)")
        return 1
    finally:
        if recorder is not None:
            recorder.close()


if __name__ == "__main__":
    sys.exit(main())
