"""The `lolpim` command. Each subcommand lives in orchestration/commands/<name>.py and
exposes ``register(subparsers)``; they are discovered, so adding one touches no other file."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from lolpim.core.errors import ParameterError, UserError
from lolpim.orchestration import commands
from lolpim.orchestration import interrupts
from lolpim.orchestration.cli_checks import check_args


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is one `--help` away), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lolpim",
        description="Simulate multi-node PIM systems for long-context LLM decoding, and "
                    "learning with physical synapses, as discrete-event actors on Ray.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    with interrupts.sigterm_as_ctrl_c():   # a SIGTERM stops a command as Ctrl-C does
        return _run(args)


def _run(args) -> int:
    try:
        check_args(args)
        return int(args.func(args) or 0)
    except (UserError, ParameterError) as exc:
        print(f"lolpim: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:   # a safety net: commands estimate their memory first where they can
        print(f"lolpim: error: not enough memory for what was asked ({exc or 'MemoryError'}); "
              f"ask for smaller sizes", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`: the reader has gone, not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        interrupts.stop_embedded_ray(after_stop=True)
        print(f"lolpim: {interrupts.stopped_by()}; results written so far are kept", file=sys.stderr)
        return interrupts.exit_code()
    except Exception as exc:
        if not interrupts.ray_failure(exc):   # a bug of ours: its traceback is what a report needs
            raise
        print(f"lolpim: error: Ray failed ({interrupts.one_line(exc)}); results written so far are kept",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
