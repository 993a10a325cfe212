"""The ``ftgui export`` and ``ftgui push`` commands (issue 12: taking a model out of ftgui).

:mod:`ftgui.cli` adds these parsers and dispatches to the ``cmd_*`` functions here; the work
is done by :mod:`ftgui.export` and :mod:`ftgui.push`, which the GUI can call too. Nothing
here imports torch until a command runs, so ``ftgui --help`` stays fast.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

COMMANDS = ("export", "push")


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``export`` and ``push`` to ``sub``."""
    export = sub.add_parser("export", parents=[common], help="export a run's model as ONNX or TorchScript",
                            description="Write a run's model as ONNX (any batch size) or TorchScript, and beside "
                                        "it PATH.json with the label names and the preprocessing, so nothing of "
                                        "ftgui is needed to use it.")
    export.add_argument("run", metavar="RUN", help="a run folder")
    export.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default onnx")
    export.add_argument("--out", metavar="PATH", help="the model file (default RUN/export/model.onnx or .pt)")

    push = sub.add_parser("push", parents=[common], help="publish a run's model on the Hugging Face hub",
                          description="Upload a run's model with a model card written from the run, through "
                                      "timm's push_to_hf_hub (log in first: hf auth login, or set HF_TOKEN).")
    push.add_argument("run", metavar="RUN", help="a run folder")
    push.add_argument("--repo", required=True, metavar="ID", help="hub repository, e.g. your-name/my-model")
    push.add_argument("--private", action="store_true", help="create the repository as private")


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_run, sidecar_path

    out = export_run(args.run, args.format, args.out, log=_log)
    print(json.dumps({"model": str(out), "info": str(sidecar_path(out))}))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .push import push_run

    url = push_run(args.run, args.repo, private=args.private, log=_log)
    print(json.dumps({"repo": args.repo, "url": url}))
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"export": cmd_export, "push": cmd_push}
