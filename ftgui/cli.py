"""The ``ftgui`` command. Sub-commands import torch, timm and gradio only when they run,
so ``ftgui --help`` stays fast."""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import cli_desktop, cli_lab, cli_ship
from .cli_train import add_training_flags, cmd_lr_find, cmd_train
from .errors import FtguiError

if TYPE_CHECKING:  # pragma: no cover
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """Flags every command takes, before or after its name. Given after it, they land in
    ``plugins_dir``; before it, in ``plugins_dir_before`` (argparse would otherwise let the
    sub-command's default overwrite what came before)."""
    dest = "plugins_dir" if default is argparse.SUPPRESS else "plugins_dir_before"
    parser.add_argument("--plugins-dir", action="append", dest=dest, default=default if default is
                        argparse.SUPPRESS else [], metavar="DIR",
                        help="also load plugins from the .py files in DIR (repeatable; "
                             "FTGUI_PLUGINS_DIR works too)")
    parser.add_argument("--debug", action="store_true", default=default if default is argparse.SUPPRESS
                        else False, help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    _common_flags(common, argparse.SUPPRESS)

    parser = _Parser(prog="ftgui", usage="ftgui [APP OPTIONS] | ftgui COMMAND [OPTIONS]",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Fine-tune timm image classifiers on your own images.\n"
                                 "Without a command, ftgui opens the GUI (ftgui launch) and takes the\n"
                                 "app's options listed below, e.g. ftgui --demo.",
                     epilog=_app_options_help())
    _common_flags(parser, None)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = sub.add_parser("train", parents=[common], help="train or fine-tune a model",
                           description="Train or fine-tune a model; writes a run folder.")
    add_training_flags(train)
    train.add_argument("--resume", metavar="RUN",
                       help="carry on an interrupted run from its last checkpoint (only --device may be added)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    finder = sub.add_parser("lr-find", parents=[common], help="find a learning rate (a range test)",
                            description="Train for at most --steps steps with the learning rate growing from "
                                        "1e-7 to 10, on the same data, mode and layers a run would train, "
                                        "--tests times from the same weights (the batches in another order; a head "
                                        "that starts at zeros from a new random draw each time), "
                                        "and suggest a learning rate from the mean loss; writes no run. "
                                        "`ftgui train --lr auto` does this first.")
    add_training_flags(finder)
    finder.add_argument("--steps", type=int, default=100, help="at most this many steps per test (default 100)")
    finder.add_argument("--tests", type=int, default=3, help="tests averaged (default 3)")
    finder.add_argument("--json", action="store_true", help="the curve and the suggestion as JSON")

    pred = sub.add_parser("predict", parents=[common], help="label images with a run or a pretrained model")
    source = pred.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run folder")
    source.add_argument("--model", help="a pretrained timm model, used as it is (ImageNet labels)")
    pred.add_argument("paths", nargs="+", metavar="PATH", help="images, folders (recursive) or zips")
    pred.add_argument("--top-k", type=int, default=5)
    pred.add_argument("--format", choices=("json", "csv"), default="json",
                      help="json: one object per line (default); csv: a table")
    pred.add_argument("--batch-size", type=int, default=32)
    pred.add_argument("--device", default="auto")

    plugins = sub.add_parser("plugins", parents=[common], help="list initialisers, strategies and callbacks")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    launch = sub.add_parser("launch", parents=[common], help="open the GUI (what bare `ftgui` does)",
                            description="Serve the GUI on this computer and open it in the browser.")
    add_launch_flags(launch)

    models = sub.add_parser("models", parents=[common], help="list timm architectures")
    models.add_argument("filter", nargs="?", default="", help="e.g. 'resnet*' or 'vit'")
    models.add_argument("--pretrained", action="store_true", help="only those with pretrained weights")
    cli_ship.add_parsers(sub, common)
    cli_lab.add_parsers(sub, common)
    cli_desktop.add_parsers(sub, common)
    return parser


COMMANDS = ("train", "lr-find", "predict", "plugins", "models", "launch", *cli_lab.COMMANDS, *cli_ship.COMMANDS,
            *cli_desktop.COMMANDS)


def add_launch_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true",
                        help="start with the bundled sample data and settings that train in seconds, offline")
    parser.add_argument("--runs-dir", default="runs", metavar="DIR", help="where runs are kept (default ./runs)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    parser.add_argument("--share", action="store_true",
                        help="also serve on a temporary public gradio.live link (always with a login)")
    parser.add_argument("--auth", metavar="USER:PASS",
                        help="ask for this login (or set FTGUI_AUTH); shared apps without one get a "
                             "generated password")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--window", action="store_true",
                        help="open in a native window (needs pip install 'ftgui[window]')")
    parser.add_argument("--max-file-size", default="1gb", metavar="SIZE",
                        help="largest upload accepted, e.g. 500mb (default 1gb)")
    parser.add_argument("--lang", choices=("en", "zh"),
                        help="the app's language for every visitor: en (English) or zh (简体中文); default: "
                             "each browser's own (the page has a switch too)")


def _app_options_help() -> str:
    """The app's options (``ftgui launch``'s flags), as a section of ``ftgui --help``: bare
    ``ftgui`` takes them too."""
    app = argparse.ArgumentParser(prog="ftgui", add_help=False)
    add_launch_flags(app)
    formatter = app._get_formatter()
    formatter.start_section("the app's options (bare ftgui, or ftgui launch)")
    formatter.add_arguments(app._actions)
    formatter.end_section()
    return (formatter.format_help().rstrip() + "\n\nMore: ftgui COMMAND --help, e.g. ftgui train --help.")


def _with_default_command(argv: Sequence[str] | None) -> list[str]:
    """Bare ``ftgui`` (or ``ftgui --demo``, any flags without a command) means ``ftgui launch``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in COMMANDS for a in args) or any(a in ("-h", "--help") for a in args):
        return args
    return ["launch", *args]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_with_default_command(argv))
    args.plugins_dir = [*args.plugins_dir_before, *getattr(args, "plugins_dir", [])]
    try:
        code = {"train": cmd_train, "lr-find": cmd_lr_find, "predict": cmd_predict, "plugins": cmd_plugins,
                "models": cmd_models, "launch": cmd_launch, **cli_lab.HANDLERS, **cli_ship.HANDLERS,
                **cli_desktop.HANDLERS}[args.command](args)
        sys.stdout.flush()  # a reader that went away shows here, not at the interpreter's exit
        return code
    except FtguiError as exc:
        print(f"ftgui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ftgui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()  # the reader (`| head`) has gone: nothing more to say, and no one to say it to
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(f"ftgui: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again (the
    Python docs' recipe for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# -- predict -----------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    if args.top_k < 1 or args.batch_size < 1:
        raise FtguiError("--top-k and --batch-size must be at least 1")
    from .predict import Predictor

    predictor = (Predictor.from_run(args.run, args.device) if args.run
                 else Predictor.from_pretrained(args.model, args.device))
    rows = predictor.predict_paths(args.paths, top_k=args.top_k, batch_size=args.batch_size)
    failures = 0
    writer = None
    for row in rows:
        failures += "error" in row
        if args.format == "json":
            print(json.dumps(row, ensure_ascii=False), flush=True)
            continue
        if writer is None:
            writer = csv.writer(sys.stdout)
            writer.writerow(["path", "label", "score", "topk", "error"])
        topk = ";".join(f"{label}:{score:.6f}" for label, score in row.get("topk", []))
        writer.writerow([row["path"], row.get("label", ""), row.get("score", ""), topk, row.get("error", "")])
    if failures:
        print(f"ftgui: {failures} file(s) could not be read (see their 'error')", file=sys.stderr)
    return 0


# -- listings ----------------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    from .registry import load_registry

    listing = load_registry(args.plugins_dir).describe()
    if args.json:
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return 0
    for kind in ("strategies", "initializers", "callbacks"):
        print(f"{kind}:")
        for item in listing[kind]:
            params = ", ".join(f"{p['name']}={p['default']!r}" for p in item["params"])
            print(f"  {item['name']:<14} {item['description']}")
            print(f"  {'':<14} [{item['source']}]" + (f" params: {params}" if params else ""))
    if listing["broken"]:
        print("broken plugins:")
        for broken in listing["broken"]:
            print(f"  {broken['plugin']} ({broken['source']}): {broken['error']}")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from .ui.launch import run

    return run(runs_dir=args.runs_dir, plugins_dirs=args.plugins_dir, host=args.host, port=args.port,
               share=args.share, auth=args.auth, demo=args.demo, open_browser=not args.no_browser,
               window=args.window, max_file_size=args.max_file_size, language=args.lang)


def cmd_models(args: argparse.Namespace) -> int:
    import timm

    pattern = args.filter or ""
    if pattern and not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    names = timm.list_models(pattern or "", pretrained=args.pretrained)
    if not names:
        raise FtguiError(f"no timm model matches '{args.filter}'")
    print("\n".join(names))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
