"""The ``ftgui lab`` and ``ftgui compare`` commands (issue 11: the Init Lab).

:mod:`ftgui.cli` adds these parsers and dispatches to the ``cmd_*`` functions here; the work
is done by :mod:`ftgui.lab` and :mod:`ftgui.compare`, which the GUI calls too. Like the rest
of the CLI, nothing here imports torch until a command runs, so ``ftgui --help`` stays fast.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .cli_train import add_training_flags, key_value
from .errors import FtguiError

COMMANDS = ("lab", "compare")
ACTS = ("tanh", "relu", "sigmoid")


def _init_flags(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--init", required=required, metavar="NAME",
                        help="initialiser (`ftgui plugins` lists them: zeros, constant, small-random, lecun, ...)")
    parser.add_argument("--init-arg", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                        help="an initialiser parameter, e.g. std=1 for small-random (repeatable)")
    parser.add_argument("--bias-init", default="zero", help="biases: zero (default) or a number such as 0.01")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``lab`` (with activations, symmetry, gradients) and ``compare`` to ``sub``."""
    lab = sub.add_parser("lab", parents=[common], help="the Init Lab: see why initialisation matters",
                         description="Small offline experiments behind the seed's claims about initialisation.")
    experiments = lab.add_subparsers(dest="experiment", required=True, parser_class=type(lab))

    act = experiments.add_parser(
        "activations", parents=[common], help="activation statistics per layer",
        description="Unit-Gaussian input through a deep MLP (or, with --model, your images through a timm "
                    "model): per layer the mean, std, and saturated (tanh) or dead (ReLU) fraction.")
    _init_flags(act, required=False)
    act.add_argument("--act", choices=ACTS, default="tanh", help="non-linearity (default tanh)")
    act.add_argument("--layers", type=int, default=10, help="hidden layers (default 10)")
    act.add_argument("--width", type=int, default=500, help="units per layer (default 500)")
    act.add_argument("--model", metavar="NAME", help="a timm model: per-stage statistics of your images (needs --data)")
    act.add_argument("--weights", default="none",
                     help="with --model: none (default: freshly initialised by --init), hub, or a weights file or run")
    act.add_argument("--data", help="with --model: your images (folder of class sub-folders, .zip, sample:digits)")
    act.add_argument("--images", type=int, default=32, help="with --model: images in the batch (default 32)")
    act.add_argument("--img-size", type=int, help="with --model: input size (default: the model's own)")
    act.add_argument("--device", default="auto", help="with --model: auto (default), cpu, cuda, mps")

    sym = experiments.add_parser(
        "symmetry", parents=[common], help="the symmetry trap, measured after training",
        description="Train a small tanh MLP on the bundled digits; per hidden layer the rank of W, the mean "
                    "cosine similarity of units' incoming weights and the number of distinct units.")
    _init_flags(sym, required=True)
    sym.add_argument("--steps", type=int, default=300, help="full-batch Adam steps (default 300)")
    sym.add_argument("--hidden", type=int, default=32, help="units per hidden layer (default 32)")

    grad = experiments.add_parser(
        "gradients", parents=[common], help="gradient diffusion: gradient norm per layer",
        description="The gradient norm of every layer of a deep MLP on the bundled digits, at the start of "
                    "training: a deep sigmoid MLP's first layers get orders of magnitude less than its last.")
    _init_flags(grad, required=True)
    grad.add_argument("--act", choices=ACTS, default="sigmoid", help="non-linearity (default sigmoid)")
    grad.add_argument("--layers", type=int, default=10, help="weight layers, the output layer included (default 10)")
    grad.add_argument("--width", type=int, default=100, help="units per hidden layer (default 100)")

    comp = sub.add_parser(
        "compare", parents=[common], help="compare training configurations over seeds",
        description="Train every combination of the --vary settings on the same data and the same split, "
                    "repeated over seeds; report mean ± std of the best validation accuracy, time and trainable "
                    "parameters, and whether each difference is larger than the seed-to-seed noise.")
    comp.add_argument("--vary", action="append", default=[], metavar="SETTING=A,B,...",
                      help="a setting and its values, e.g. strategy=head-only,full,scratch (repeatable: "
                           "every combination runs)")
    comp.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")
    comp.add_argument("--json", action="store_true", help="machine-readable output")
    comp.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    add_training_flags(comp, out_help="folder for the comparison's runs (default runs/compare-<time>)")


# -- lab -----------------------------------------------------------------------------------
def cmd_lab(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    log = _stderr_log
    if args.experiment == "activations":
        report, text = _activations(args, log)
    elif args.experiment == "symmetry":
        from .lab.symmetry import run_symmetry

        _positive(steps=(args.steps, 0), hidden=(args.hidden, 1))
        report = run_symmetry(args.init, steps=args.steps, hidden=args.hidden, seed=args.seed,
                              init_params=dict(args.init_arg), bias_init=args.bias_init,
                              plugins_dirs=args.plugins_dir, log=log)
        text = _symmetry_text(report)
    else:
        from .lab.gradients import run_gradients

        _positive(layers=(args.layers, 2), width=(args.width, 1))
        report = run_gradients(args.init, act=args.act, layers=args.layers, width=args.width, seed=args.seed,
                               init_params=dict(args.init_arg), bias_init=args.bias_init,
                               plugins_dirs=args.plugins_dir, log=log)
        text = _gradients_text(report)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(text)
        print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0


def _positive(**values: tuple[int, int]) -> None:
    for name, (value, least) in values.items():
        if value < least:
            raise FtguiError(f"--{name} must be at least {least}, not {value}")


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _activations(args: argparse.Namespace, log: Callable[[str], None]) -> tuple[Any, str]:
    if args.model:
        if not args.data:
            raise FtguiError("lab activations --model shows your images going through the model: give --data")
        from .lab.stages import run_stages

        staged = run_stages(args.model, args.data, weights=args.weights, init=args.init or "timm-default",
                            init_params=dict(args.init_arg), bias_init=args.bias_init, images=args.images,
                            img_size=args.img_size, seed=args.seed, device=args.device,
                            plugins_dirs=args.plugins_dir, log=log)
        start = f"initialised by {staged.init}" if staged.init else f"weights {staged.weights}"
        lines = [f"{args.model} ({start}), {staged.images} of your images, output of each stage:",
                 f"{'stage':<12} {'mean':>10} {'std':>10} {'dead':>7}"]
        lines += [f"{name:<12} {s.mean:>10.4g} {s.std:>10.4g} {s.dead:>7.1%}"
                  for name, s in zip(staged.stages, staged.layers)]
        return staged, "\n".join(lines)
    if not args.init:
        raise FtguiError("lab activations needs --init NAME (e.g. small-random, lecun, kaiming; `ftgui plugins` "
                         "lists them), or --model NAME --data PATH for a real backbone")
    _positive(layers=(args.layers, 1), width=(args.width, 1))
    from .lab.activations import run_activations

    report = run_activations(args.init, act=args.act, layers=args.layers, width=args.width, seed=args.seed,
                             init_params=dict(args.init_arg), bias_init=args.bias_init,
                             plugins_dirs=args.plugins_dir, log=log)
    lines = [f"{args.act} MLP, {args.layers} layers x {args.width} units, init {report.init}, "
             "unit-Gaussian input:",
             f"{'layer':>5} {'mean':>11} {'std':>11} {'saturated':>10} {'dead':>7}"]
    for s in report.layers:
        saturated = "-" if s.saturated is None else f"{s.saturated:.1%}"
        lines.append(f"{s.layer:>5} {s.mean:>11.3g} {s.std:>11.3g} {saturated:>10} {s.dead:>7.1%}")
    last = report.layers[-1]
    if last.std < 1e-3:
        lines.append("The signal has all but vanished: the seed's warning that smaller is not always better.")
    elif last.saturated is not None and last.saturated > 0.5:
        lines.append("Most units are saturated, where the slope - and so the gradient - is about 0.")
    return report, "\n".join(lines)


def _symmetry_text(report: Any) -> str:
    lines = [f"tanh MLP trained {report.steps} steps on the bundled digits from init {report.init}: "
             f"validation accuracy {report.accuracy:.3f} (chance {report.chance:.3f})",
             f"{'layer':>5} {'rank':>5} {'mean cosine':>12} {'distinct units':>15} {'moved':>8}"]
    for layer in report.layers:
        lines.append(f"{layer.layer:>5} {layer.rank:>5} {layer.mean_cosine:>12.3f} "
                     f"{layer.distinct_units:>7} of {layer.units:<5} {layer.change:>8.3g}")
    if any(layer.distinct_units == 1 for layer in report.layers):
        lines.append("Every unit of a layer is the same unit: the symmetry trap (the seed's all-zeros / "
                     "one-constant warning).")
    return "\n".join(lines)


def _gradients_text(report: Any) -> str:
    lines = [f"{report.act} MLP, {len(report.layers)} weight layers, init {report.init}: gradient norm per "
             "layer at the start of training (bundled digits)",
             f"{'layer':>5} {'grad norm':>11}"]
    lines += [f"{layer.layer:>5} {layer.grad_norm:>11.3g}" for layer in report.layers]
    lines.append(f"first layer / last layer: {report.first_to_last:.3g}"
                 + (" - gradient diffusion: the first layers barely learn" if report.first_to_last < 1e-2 else ""))
    return "\n".join(lines)


# -- compare ---------------------------------------------------------------------------------
def cmd_compare(args: argparse.Namespace) -> int:
    from .cli_train import ConsoleProgress, config_from_args
    from .compare import compare, parse_vary

    vary = parse_vary(args.vary)
    base = config_from_args(args)
    stop = threading.Event()

    def on_interrupt(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nftgui: stopping after this step (Ctrl-C again to abort)", file=sys.stderr)
        stop.set()

    def on_run(name: str, seed: int, index: int, total: int) -> None:
        print(f"[{index + 1}/{total}] {name}, seed {seed}", file=sys.stderr, flush=True)

    progress = ConsoleProgress(True)
    listener = None if args.quiet else progress
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        result = compare(base, vary, seeds=args.seeds, listener=listener, stop=stop, on_run=on_run)
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    print(result.table())
    for sentence in result.verdicts():
        print(sentence)
    note = " (stopped early: partial)" if result.stopped else ""
    print(f"runs and compare.json in {result.root}{note}")
    return 0


HANDLERS = {"lab": cmd_lab, "compare": cmd_compare}
