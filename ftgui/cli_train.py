"""``ftgui train`` and ``ftgui lr-find``: training settings as flags, and the console's
progress. Imports no torch at module level (``ftgui --help`` stays fast)."""
from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from .config import user_settings
from .errors import FtguiError
from .record import REFIT_PHASE, refit_words, saved_epoch_words

if TYPE_CHECKING:  # pragma: no cover
    from tqdm import tqdm


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def callback_spec(text: str) -> tuple[str, dict[str, str]]:
    """``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` -> (name, params)."""
    name, _, rest = text.partition(":")
    params = dict(key_value(item) for item in rest.split(",") if item.strip())
    if not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME or NAME:KEY=VALUE,..., got {text!r}")
    return name.strip(), params


def add_training_flags(train: argparse.ArgumentParser, out_help: str | None = None) -> None:
    """Every training setting as a flag (TrainConfig's metadata), and plugin parameters;
    ``out_help`` words ``--out`` for a command whose output is not one run folder."""
    for setting in user_settings():
        meta = setting.metadata
        if setting.name == "out" and out_help:
            train.add_argument(meta["flag"], dest=setting.name, default=argparse.SUPPRESS, help=out_help)
        elif meta["switch"] is not None:
            train.add_argument(meta["flag"], dest=setting.name, action="store_const", const=meta["switch"],
                               default=argparse.SUPPRESS, help=meta["help"])
        else:
            train.add_argument(meta["flag"], dest=setting.name, type=meta["kind"], default=argparse.SUPPRESS,
                               help=meta["help"])
    train.add_argument("--init-arg", action="append", type=key_value, default=argparse.SUPPRESS,
                       metavar="KEY=VALUE", help="an initialiser parameter (repeatable)")
    train.add_argument("--strategy-arg", action="append", type=key_value, default=argparse.SUPPRESS,
                       metavar="KEY=VALUE", help="a strategy parameter (repeatable)")
    train.add_argument("--callback", action="append", type=callback_spec, default=argparse.SUPPRESS,
                       metavar="NAME[:KEY=VALUE,...]", help="use a callback plugin, e.g. early-stop:patience=3 "
                       "(repeatable; `ftgui plugins` lists them)")
    train.add_argument("--config", metavar="FILE",
                       help="start from a saved config (FILE.yaml or FILE.json, or a run's ftgui.json); "
                            "flags override it")


def config_from_args(args: argparse.Namespace):
    from .config import TrainConfig

    values: dict[str, Any] = {}
    if args.config:
        from .config_files import read_config_file

        values = read_config_file(args.config)  # YAML or JSON, a run's ftgui.json too; never its out
    given = vars(args)
    for setting in user_settings():
        if setting.name in given:
            values[setting.name] = given[setting.name]
    if "init_arg" in given:
        values["init_params"] = dict(given["init_arg"])
    if "strategy_arg" in given:
        values["strategy_params"] = dict(given["strategy_arg"])
    if "callback" in given:
        values["callbacks"] = dict(given["callback"])
    values["plugins_dirs"] = list(values.get("plugins_dirs", [])) + args.plugins_dir
    return TrainConfig.from_dict(values)


class ConsoleProgress:
    """Prints the engine's events: a progress bar per epoch and one line per epoch."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: tqdm | None = None

    def __call__(self, event) -> None:
        from .record import End, Epoch, Log, Start, Step

        if isinstance(event, Log):
            self._write(event.message)
        elif isinstance(event, Start):
            self._write(f"run folder: {event.run_dir} ({event.train_images} training, "
                        f"{event.val_images} validation images)")
        elif isinstance(event, Step) and event.phase in ("train", REFIT_PHASE) and not self.quiet:
            if self.bar is None or event.step == 1:
                from tqdm import tqdm

                self._close_bar()
                where = f"all images, epoch {event.epoch}/{event.epochs}" if event.phase == REFIT_PHASE \
                    else f"epoch {event.epoch}"
                self.bar = tqdm(total=event.steps, desc=where, file=sys.stderr, leave=False, dynamic_ncols=True)
            self.bar.update(1)
            if event.loss is not None:
                self.bar.set_postfix(loss=f"{event.loss:.4f}")
        elif isinstance(event, Epoch):
            self._close_bar()
            self._write(epoch_line(event.row))
        elif isinstance(event, End):
            self._close_bar()
            best = event.best or {}
            acc = best.get("val_acc")
            summary = f"{saved_epoch_words(best)}, val_acc {acc:.4f}" if acc is not None else "no validation"
            reason = f" ({event.reason})" if event.reason else ""
            refit = refit_words(event.refit)
            self._write(f"{event.status}{reason}: {summary}{'; ' + refit if refit else ''}; saved in {event.run_dir}")

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)


def epoch_line(row: dict) -> str:
    def fmt(value, spec=".4f"):
        return "-" if value is None else format(value, spec)

    parts = [f"epoch {row['epoch']}", f"train_loss {fmt(row['train_loss'])}",
             f"train_acc {fmt(row['train_acc'])}", f"val_loss {fmt(row['val_loss'])}",
             f"val_acc {fmt(row['val_acc'])}", f"{row['seconds']:.1f}s"]
    if row.get("images_per_s"):
        parts.append(f"{row['images_per_s']:.0f} img/s")
    return "  ".join(parts)


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        given = vars(args)
        extra = [s.metadata["flag"] for s in user_settings() if s.name in given and s.name != "device"]
        extra += [flag for flag, field in (("--init-arg", "init_arg"), ("--strategy-arg", "strategy_arg"),
                                           ("--callback", "callback"), ("--config", "config")) if given.get(field)]
        if extra:
            raise FtguiError(f"--resume carries on with the run's own settings (only --device may change); "
                             f"drop {', '.join(extra)}")
        from .engine import resume

        run = functools.partial(resume, args.resume, device=given.get("device"))
    else:
        from .engine import train

        run = functools.partial(train, config_from_args(args))

    stop = threading.Event()

    def on_interrupt(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nftgui: stopping after this step (Ctrl-C again to abort)", file=sys.stderr)
        stop.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        result = run(listener=ConsoleProgress(args.quiet), stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one process reports for all
        print(json.dumps({"run_dir": str(result.run_dir), "status": result.status, "best": result.best,
                          "stop_reason": result.stop_reason}))
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    from .engine import lr_find

    if not 3 <= args.steps <= 10_000:
        raise FtguiError("--steps must be between 3 and 10000")
    if not 1 <= args.tests <= 20:
        raise FtguiError("--tests must be between 1 and 20")
    finding = lr_find(config_from_args(args), listener=ConsoleProgress(quiet=True), steps=args.steps,
                      tests=args.tests)
    if args.json:
        print(json.dumps(finding.to_dict()))
        return 0
    lowest = min(range(len(finding.losses)), key=finding.losses.__getitem__)
    print(f"suggested learning rate: {finding.suggestion:.2g} (the loss fell fastest around it; lowest loss "
          f"{finding.losses[lowest]:.3f} at {finding.lrs[lowest]:.2g}; the mean of {finding.tests} tests of "
          f"{finding.steps} steps)")
    print(f"train with: --lr {finding.suggestion:.2g}   (or --lr auto to find it at the start of a run)")
    return 0
