"""Honest comparisons: several training configurations on the same data and the same split,
each repeated over seeds, so a difference can be told apart from seed-to-seed noise.

A single run says little: on a few images the same configuration's best validation accuracy
moves by +-0.15 from one seed to the next (issue 11's measurement on few-shot digits), so a
one-seed A/B test mostly measures the seed. :func:`compare` trains every configuration (the
product of the ``vary`` settings) with seeds ``seed .. seed + seeds - 1`` through
:func:`ftgui.engine.train`, with the train/validation split fixed (``split_seed``), and
reports per configuration the mean and standard deviation of the best validation accuracy,
the time, the trainable parameters, and per pair whether the difference is larger than the
noise. The CLI's ``ftgui compare`` and the GUI call this module; it writes ``compare.json``
next to the runs.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runs
from .config import TrainConfig, user_settings
from .errors import FtguiError
from .i18n import tr
from .registry import Registry, load_registry

FIXED = ("data", "val_data", "out", "seed", "split_seed", "val_split", "refit")
"""Settings a comparison holds fixed: the same data and split for every run; seeds are its own.
Its runs never train again on all images (``refit``): that leaves the validation accuracy a
comparison ranks by as it was, and would only double the time."""
RESULT_FILE = "compare.json"
NOISE_FACTOR = 2.0
"""A difference counts as real when it exceeds this many standard errors of the difference
(about a 95% interval)."""

OnRun = Callable[[str, int, int, int], None]
"""``on_run(configuration name, seed, index, total)`` before each run starts."""


@dataclass
class Configuration:
    name: str
    """``strategy=full,init=lecun``: the varied settings, as typed."""
    settings: dict[str, Any]


@dataclass
class RunOutcome:
    seed: int
    run_dir: str
    best_val_acc: float
    seconds: float
    status: str


@dataclass
class ConfigResult:
    config: Configuration
    trainable: int | None
    """Parameters that learn at some point of the run (None: not countable for this model)."""
    runs: list[RunOutcome] = field(default_factory=list)

    @property
    def accuracies(self) -> list[float]:
        return [run.best_val_acc for run in self.runs]

    @property
    def mean(self) -> float:
        return sum(self.accuracies) / len(self.accuracies) if self.runs else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (0 for one seed)."""
        values = self.accuracies
        if len(values) < 2:
            return 0.0
        mean = self.mean
        return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.runs) / len(self.runs) if self.runs else math.nan

    def to_json(self) -> dict[str, Any]:
        return {"name": self.config.name, "settings": self.config.settings, "mean": self.mean, "std": self.std,
                "runs": [run.run_dir for run in self.runs]}


@dataclass
class Comparison:
    results: list[ConfigResult]
    seeds: list[int]
    split_seed: int
    root: Path
    stopped: bool = False

    def to_json(self) -> dict[str, Any]:
        """What ``ftgui compare --json`` prints."""
        return {"configs": [result.to_json() for result in self.results]}

    def verdicts(self) -> list[str]:
        """One sentence per pair of configurations."""
        return [verdict(a, b) for a, b in itertools.combinations(self.results, 2)]

    def table(self) -> str:
        """A plain-text table: mean +- std of the best validation accuracy, time, trainable parameters."""
        width = max([len("configuration"), *(len(r.config.name) for r in self.results)])
        lines = [f"{'configuration':<{width}}  {'best val acc':>15}  {'time/run':>9}  {'trainable':>11}"]
        for r in self.results:
            trainable = f"{r.trainable:,}" if r.trainable is not None else "-"
            lines.append(f"{r.config.name:<{width}}  {r.mean:>7.3f} ± {r.std:<5.3f}  {r.seconds:>7.1f} s  "
                         f"{trainable:>11}")
        return "\n".join(lines)


def verdict(a: ConfigResult, b: ConfigResult) -> str:
    """Whether ``a`` and ``b`` differ by more than the seed-to-seed noise: more than
    NOISE_FACTOR standard errors of the difference of their means."""
    diff = a.mean - b.mean
    head = f"{a.config.name} vs {b.config.name}: {a.mean:.3f} vs {b.mean:.3f} ({diff:+.3f})"
    if len(a.runs) < 2 or len(b.runs) < 2:
        return tr("{head}; one seed each, so the noise is unknown and no verdict is possible (use --seeds 3).",
                  head=head)
    margin = NOISE_FACTOR * math.sqrt(a.std ** 2 / len(a.runs) + b.std ** 2 / len(b.runs))
    if abs(diff) > margin:
        better = a if diff > 0 else b
        return tr("{head} is larger than the seed-to-seed noise (±{margin}): {better} is better on these images.",
                  head=head, margin=f"{margin:.3f}", better=better.config.name)
    return tr("{head} is within the seed-to-seed noise (±{margin}): these seeds cannot tell the two apart.",
              head=head, margin=f"{margin:.3f}")


# -- what to vary ----------------------------------------------------------------------
def varyable() -> dict[str, type]:
    """The settings a comparison may vary, with the type of their values."""
    return {f.name: f.metadata["kind"] or bool for f in user_settings() if f.name not in FIXED}


def parse_vary(specs: Sequence[str]) -> dict[str, list[Any]]:
    """``["strategy=head-only,full", "init=zeros,lecun"]`` -> {setting: [typed values]}."""
    kinds = varyable()
    vary: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in kinds:
            raise FtguiError(f"--vary takes SETTING=VALUE,VALUE,... with a setting among {', '.join(kinds)}; "
                             f"not {spec!r}")
        if key in vary:
            raise FtguiError(f"--vary names {key} twice; give all its values at once: {key}=A,B,C")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not items:
            raise FtguiError(f"--vary {key}= has no values; give at least one, e.g. {key}=A,B")
        vary[key] = [_typed(key, item, kinds[key]) for item in items]
    return vary


def _typed(key: str, value: str, kind: type) -> Any:
    if kind is str:
        return value
    if kind is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
    try:
        return kind(value)
    except ValueError:
        pass
    raise FtguiError(f"--vary {key} takes {kind.__name__.replace('_', ' ')} values, not {value!r}")


def configurations(vary: dict[str, list[Any]]) -> list[Configuration]:
    """Every combination of the varied values, in the order given (one empty configuration
    when nothing varies: the seeds alone)."""
    keys = list(vary)
    combos = itertools.product(*(vary[k] for k in keys)) if keys else [()]
    out = []
    for combo in combos:
        settings = dict(zip(keys, combo))
        out.append(Configuration(",".join(f"{k}={v}" for k, v in settings.items()) or "baseline", settings))
    return out


# -- running it ------------------------------------------------------------------------
def compare(base: TrainConfig, vary: dict[str, list[Any]], seeds: int = 3, root: str | Path | None = None,
            registry: Registry | None = None, listener: Callable[[Any], None] | None = None,
            stop: threading.Event | None = None, on_run: OnRun | None = None) -> Comparison:
    """Train every configuration of ``vary`` on ``base`` (its data, split and other settings)
    with ``seeds`` seeds from ``base.seed``; the runs go under ``root`` (default ``base.out``,
    else ``runs/compare-<time>``). Every run is planned before the first one trains, so a
    setting that cannot work fails at once. ``stop`` ends the comparison after the current run."""
    if seeds < 1:
        raise FtguiError(f"--seeds must be at least 1, not {seeds}")
    if not base.data:
        raise FtguiError("compare needs images: give --data (a folder of class sub-folders, a .zip, or sample:digits)")
    if base.val_split == 0 and not base.val_data:
        raise FtguiError("compare ranks configurations by validation accuracy: keep --val-split above 0 "
                         "or give --val-data")
    from .training.plan import plan_run

    registry = registry or load_registry(base.plugins_dirs)
    configs = configurations(vary)
    folder = _root(base, root)
    seed_list = [base.seed + i for i in range(seeds)]
    split_seed = base.split_seed_value()
    planned = []
    for config in configs:
        per_seed = [run_config(base, config, seed, split_seed, folder, registry) for seed in seed_list]
        plan = plan_run(per_seed[0], registry)  # fails here, in one line, before any training
        planned.append((config, per_seed, plan))
    folder.mkdir(parents=True, exist_ok=True)
    comparison = Comparison([], seed_list, split_seed, folder)
    total, index = len(configs) * seeds, 0
    stop = stop or threading.Event()
    from .engine import train

    for config, per_seed, plan in planned:
        result = ConfigResult(config, None)
        comparison.results.append(result)
        for run in per_seed:
            if stop.is_set():
                comparison.stopped = True
                break
            if on_run is not None:
                on_run(config.name, run.seed, index, total)
            index += 1
            started = time.perf_counter()
            try:
                outcome = train(run, listener=listener, stop=stop, registry=registry)
            except FtguiError as exc:
                raise FtguiError(f"{config.name}, seed {run.seed}: {exc}") from None
            if stop.is_set() and outcome.status != "completed":
                break  # a run cut short would compare fewer epochs than the others: left out
            best = (outcome.best or {}).get("val_acc")
            if best is None:
                raise FtguiError(f"{config.name}, seed {run.seed}: the run has no validation accuracy "
                                 f"({outcome.status}); compare needs validation images")
            result.runs.append(RunOutcome(run.seed, str(outcome.run_dir), float(best),
                                          round(time.perf_counter() - started, 3), outcome.status))
            if result.trainable is None:
                result.trainable = trainable_parameters(plan, Path(outcome.run_dir))
        if stop.is_set():
            comparison.stopped = True
            break
    comparison.results = [r for r in comparison.results if r.runs]
    save(comparison)
    return comparison


def run_config(base: TrainConfig, config: Configuration, seed: int, split_seed: int, folder: Path,
               registry: Registry) -> TrainConfig:
    """The TrainConfig of one run: ``base`` with the configuration's settings, the seed, the
    fixed split and its own folder. A strategy that trains from scratch loads no weights, and
    uses the architecture of the weights the others start from, so they stay comparable."""
    values = base.to_dict()
    values.update(config.settings)
    values.update(seed=seed, split_seed=split_seed, out=str(folder / f"{_slug(config.name)}-seed{seed}"),
                  refit="no")
    strategy = registry.strategy(values["strategy"])
    weights = values.get("weights")
    if not values.get("model") and weights not in (None, "hub", "none"):
        from .models import is_run_dir, run_architecture

        path = Path(weights).expanduser()
        if is_run_dir(path):
            values["model"] = run_architecture(path)
    if not strategy.needs_pretrained:
        values["weights"] = None
    return TrainConfig.from_dict(values)


def trainable_parameters(plan: Any, run_dir: Path) -> int | None:
    """Parameters that learn at some epoch of the plan's run: the strategy's param_groups,
    then its on_epoch_start for every epoch, on a copy of the model built on the meta device
    (shapes only, no memory). None when the model cannot be built that way."""
    import timm
    import torch

    strategy, params = plan.strategy, plan.strategy_params
    if not plan.strategy_item.trains:
        return 0
    try:
        run = runs.load_run(run_dir)
        labels = run.label_names
        with torch.device("meta"):
            model = timm.create_model(plan.architecture, pretrained=False, num_classes=len(labels) or 1)
        strategy.call("param_groups", model, **params)
        learning = {id(p): p.numel() for p in model.parameters() if p.requires_grad}
        for epoch in range(int(run.info.config.get("epochs") or 0)):  # as the run resolved them
            if strategy.call("on_epoch_start", model, epoch, **params) is not None:
                learning.update({id(p): p.numel() for p in model.parameters() if p.requires_grad})
        return sum(learning.values())
    except Exception:  # noqa: BLE001 - an hf-hub name or an exotic model: the count is a nicety
        return None


def _root(base: TrainConfig, root: str | Path | None) -> Path:
    given = root if root is not None else base.out
    if given:
        runs.check_out_dir(str(given))
        return Path(given).expanduser()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        path = runs.DEFAULT_ROOT / f"compare-{stamp}{f'-{attempt}' if attempt else ''}"
        if not path.exists():
            return path
    raise FtguiError(f"cannot find a new folder name under {runs.DEFAULT_ROOT}")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.replace("=", "-").replace(",", "_"))[:120] or "baseline"


def save(comparison: Comparison) -> None:
    """``compare.json`` in the comparison's folder: the JSON output, the seeds, each run's
    figures and the verdicts (what the GUI reads back)."""
    details = {
        **comparison.to_json(), "seeds": comparison.seeds, "split_seed": comparison.split_seed,
        "stopped": comparison.stopped, "verdicts": comparison.verdicts(),
        "runs": {r.config.name: [vars(run) for run in r.runs] for r in comparison.results},
        "trainable": {r.config.name: r.trainable for r in comparison.results},
    }
    runs.atomic_write_json(comparison.root / RESULT_FILE, details)


def load(root: str | Path) -> dict[str, Any]:
    """A saved comparison (``compare.json``) as a dict."""
    path = Path(root) / RESULT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FtguiError(f"cannot read {path}: {exc}") from None
