"""Do ftgui's defaults get what an expert's learning-rate sweep gets? (issue 15)

    python benchmarks/defaults.py [--seeds 12] [--first-seed 129] [--shots 5 20] [--jobs 2]
                                  [--stop-after MINUTES] [--quick] [--spread-only]

The few-shot task of the bundled demo: the demo backbone (a ``test_resnet`` that ftgui trained
from scratch on digits 0-4, ``scripts/make_demo_backbone.py``) is fine-tuned on digits 5-9 of
the bundled sample, which it has never seen, at 32 px. Each run gets the first N images of each
digit (ftgui splits them 80/20 into training and validation images as always: at N = 5 that is
one validation image per class) and is scored on the rest of the sample's images of those digits
(40 - N per class), which no run sees: the test accuracy of the model the run saved.

For each N, mode (full, head-only) and seed (129-140 - the seed also draws the split; seeds
0-128 were all used to choose settings: seeds 0-5 chose the smoothed-loss window, see
ftgui.record.WINDOW_SHARE, seeds 10-23 were used to try other defaults - a higher full
fine-tuning rate, a faster head, weight averaging - none of which held up on fresh seeds,
seeds 20-35 tried training again on all images (``--refit``), seeds 40-51 were this benchmark's
before the new head started at zeros, seeds 60-71 chose how ``--lr auto`` reads its range tests,
seeds 72-80 the new head's start, seeds 81-85 how the range tests start from it, seeds 93-104
were this benchmark's before the trainings on all images were averaged, seeds 105-116 tried
that average (``--refit-runs``) and seeds 117-128 found that it must be checked (an average of
trainings at a high rate knew nothing); so 129-140 are fresh):

- **before**: ftgui's old defaults - 5 epochs, batch 32, warm-up 1, the mode's learning rate,
  the best epoch by validation accuracy, no training again on all images, the new head started
  at random (``--init lecun``);
- **before, 30 epochs**: the same for 30 epochs, as issue 15 measured "today" (its seed-to-seed
  spread is the one to halve: the 5-epoch runs are so short that they mostly measure underfitting);
- **defaults**: ftgui's defaults now - epochs, batch size and warm-up chosen from the data,
  the best epoch by the smoothed validation loss on a small validation set, the mode's rate,
  then trained again from the same start on all images (training and validation) to that epoch
  (``--refit auto``, which does it below 200 validation images: always here), three times with
  their weights averaged when pretrained weights learn (``--refit-runs auto``);
- **defaults, no refit**: the same without the training again (``--refit no``): the defaults
  before refit landed;
- **defaults, one refit**: the same training once on all images (``--refit-runs 1``): the
  defaults before the average of several landed (the same as the defaults when only the head
  learns);
- **--lr auto**: the same with the learning rate found by the range test;
- **sweep**: the defaults with each learning rate from 3e-2 to 3e-4 (an expert's sweep);
- **defaults, one split** and **defaults, one seed**: where the defaults' spread comes from - the
  split fixed (``--split-seed`` = the first seed) while the seed varies (the start of the new
  layer, the order of the images, the augmentation: the luck of training), and the seed fixed
  while the split varies (which images train and which validate: the luck of the data).

Per configuration: the mean test accuracy over seeds, its spread (sample standard deviation
over seeds) and the points below the sweep's best mean. Writes (or replaces) the section
"Defaults against a learning-rate sweep" of benchmarks/RESULTS.md, keeping the rest.
``--spread-only`` runs just *before, 30 epochs* and *defaults*, which the spread target compares,
so that it can afford the many seeds a standard deviation needs (seeds 149-178: 141-148 tried
refits to fixed epochs), and writes its own section "The spread over many seeds", with a
bootstrap interval of the ratio. Runs on
the CPU, one training at a time per process, the (N, mode) cells in ``--jobs`` processes (one
thread and one feature cache each), each cell's seeds as tasks of the pool, seed by seed; with
``--stop-after`` no run starts after that many minutes and a cell's seed that misses a run is
left out (the section says which seeds each cell has).
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from run import machine

from ftgui import runs
from ftgui.config import TrainConfig
from ftgui.engine import train
from ftgui.predict import Predictor
from ftgui.sample_data import DEMO_BACKBONE, SAMPLE_DATA

HERE = Path(__file__).resolve().parent
TITLE = "## Defaults against a learning-rate sweep (issue 15)"
SPREAD_TITLE = "## The spread over many seeds (issue 15)"
NEW_DIGITS = range(5, 10)
PER_DIGIT = 40
SWEEP = (3e-2, 1e-2, 3e-3, 1e-3, 3e-4)
BEFORE = {"epochs": 5, "batch_size": 32, "warmup_epochs": 1, "select": "accuracy", "refit": "no", "init": "lecun"}
"""ftgui's defaults before issue 15 (the learning rate was, and is, the mode's own; no refit; the new
head started at random, LeCun's 1/sqrt(n))."""
ISSUE = {**BEFORE, "epochs": 30}
"""What issue 15 measured as today's: the old defaults for 30 epochs."""
TARGET_POINTS, TARGET_SPREAD = 2.0, 0.5


@dataclass
class Result:
    name: str
    accuracies: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    odd: list[str] = field(default_factory=list)
    """Runs meant to train again on all images (refit) where that did not complete, as 'seed N: status'."""

    @property
    def mean(self) -> float:
        return statistics.mean(self.accuracies)

    @property
    def spread(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0


def chi2_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of a chi-squared distribution with ``df`` degrees of freedom (bisection)."""
    low, high = 0.0, 1000.0
    for _ in range(100):
        middle = (low + high) / 2
        below = torch.special.gammainc(torch.tensor(df / 2, dtype=torch.float64),
                                       torch.tensor(middle / 2, dtype=torch.float64)).item()
        low, high = (middle, high) if below < p else (low, middle)
    return low


def uncertainty(seeds: int) -> str:
    """How uncertain a standard deviation over ``seeds`` runs is (its 95% interval, as factors)."""
    df = seeds - 1
    low, high = ((df / chi2_quantile(q, df)) ** 0.5 for q in (0.975, 0.025))
    return (f"With {seeds} seeds a standard deviation is itself uncertain: its 95% interval runs from {low:.2f} to "
            f"{high:.2f} times the value measured, so only large changes of spread mean something here.")


def make_task(root: Path, shots: int) -> tuple[Path, list[tuple[str, str]]]:
    """A folder of the first ``shots`` images of each new digit; the rest as (path, digit) tests."""
    data, tests = root / f"digits-5-9-{shots}", []
    for digit in NEW_DIGITS:
        (data / str(digit)).mkdir(parents=True)
        for n in range(PER_DIGIT):
            path = SAMPLE_DATA / str(digit) / f"{n}.png"
            if n < shots:
                shutil.copy(path, data / str(digit) / path.name)
            else:
                tests.append((str(path), str(digit)))
    return data, tests


def test_accuracy(run_dir: Path, tests: list[tuple[str, str]]) -> float:
    predictor = Predictor.from_run(run_dir, "cpu")
    rows = predictor.predict_paths([path for path, _ in tests], top_k=1, batch_size=64)
    return sum(row["label"] == digit for row, (_, digit) in zip(rows, tests)) / len(tests)


def one_run(data: Path, tests, out: Path, strategy: str, seed: int, **settings) -> tuple[float, dict, float]:
    start = time.perf_counter()
    config = TrainConfig(data=str(data), weights=str(DEMO_BACKBONE), model="test_resnet", strategy=strategy,
                         img_size=32, seed=seed, device="cpu", num_workers=0, out=str(out), **settings)
    result = train(config)
    seconds = time.perf_counter() - start
    return test_accuracy(result.run_dir, tests), runs.load_run(result.run_dir).record, seconds


FIRST, LOOP = "first seed", "this seed"
"""Stand for the first seed and the loop's seed in SOURCES' settings."""
SOURCES: list[tuple[str, dict]] = [("defaults, one split", {"split_seed": FIRST}),
                                   ("defaults, one seed", {"seed": FIRST, "split_seed": LOOP})]
"""The defaults with the split fixed while the seed varies, and the seed fixed while the split varies."""


def configurations(spread_only: bool) -> list[tuple[str, dict]]:
    """Every configuration, or with ``spread_only`` just the two the spread target compares."""
    if spread_only:
        return [("before, 30 epochs", ISSUE), ("defaults", {})]
    return [("before", BEFORE), ("before, 30 epochs", ISSUE), ("defaults", {}), ("defaults, no refit", {"refit": "no"}),
            ("defaults, one refit", {"refit_runs": 1}), ("--lr auto", {"lr": "auto"}),
            *[(f"sweep {lr:g}", {"lr": lr}) for lr in SWEEP], *SOURCES]


def benchmark(work: Path, data: Path, tests: list[tuple[str, str]], shots: int, strategy: str, seeds: list[int],
              first: int, stop_at: float | None = None, spread_only: bool = False) -> list[Result] | None:
    """Every configuration (see ``configurations``) for each of ``seeds`` (``first``: the
    benchmark's first seed, which *one split* and *one seed* hold fixed); None once the clock
    passed ``stop_at`` (time.time()) before a run started."""
    runs_of = configurations(spread_only)
    results = {name: Result(name) for name, _ in runs_of}
    for seed in seeds:
        default: tuple | None = None
        for name, settings in runs_of:
            if stop_at is not None and time.time() > stop_at:
                print(f"{shots}/class {strategy} seed {seed}: left out, --stop-after passed", flush=True)
                return None
            settings = {key: {FIRST: first, LOOP: seed}.get(value, value) for key, value in settings.items()}
            out = work / "runs" / f"{strategy}-{shots}-{name.replace(' ', '_').replace(',', '')}-{seed}"
            if default is not None and reuses_default(settings, default[3], default[1]["config"]["lr"]):
                accuracy, record, seconds = default[:3]  # the sweep's point at the default rate is the defaults' run
            else:
                accuracy, record, seconds = one_run(data, tests, out, strategy, settings.get("seed", seed),
                                                    **{key: value for key, value in settings.items()
                                                       if key != "seed"})
            if name == "defaults":
                default = accuracy, record, seconds, settings
            refit = record.get("refit") or {}
            if settings.get("refit", "auto") != "no" and refit.get("status") != "completed":  # auto: always here
                results[name].odd.append(f"seed {seed}: {refit.get('status', 'no refit')}")
                print(f"{shots}/class {strategy} seed {seed} {name}: the refit did not complete: {refit}", flush=True)
            result = results[name]
            result.accuracies.append(accuracy)
            result.lrs.append(record["config"]["lr"])
            result.epochs.append(record["config"]["epochs"])
            result.batches.append(record["config"]["batch_size"])
            result.seconds.append(seconds)
            print(f"{shots}/class {strategy} seed {seed} {name}: test accuracy {accuracy:.3f} "
                  f"(lr {result.lrs[-1]:.2g}, {result.epochs[-1]} epochs, batch {result.batches[-1]}, "
                  f"{seconds:.1f} s)", flush=True)
    return list(results.values())


def reuses_default(settings: dict, default_settings: dict, default_lr: float) -> bool:
    """Whether a run with ``settings`` would be the defaults' run (given ``default_settings``, it
    trained at ``default_lr``): the same settings (seed, split, refit and the rest), save that it
    names the learning rate the defaults used. So a *defaults, no refit* run never stands in for a
    sweep point, nor the other way round."""
    rest = {key: value for key, value in settings.items() if key != "lr"}
    return "lr" in settings and settings["lr"] == default_lr and rest == default_settings


def start_process(work: Path) -> None:
    """Each process of the pool: one thread and a feature cache of its own."""
    torch.set_num_threads(1)  # one training at a time per process; on a shared machine more threads wait
    os.environ["FTGUI_CACHE_DIR"] = str(work / f"cache-{os.getpid()}")


def merge(parts: list[tuple[int, list[Result] | None]]) -> tuple[list[int], list[Result]]:
    """One cell's seeds, each run as a task of the pool, as one list of results (the seeds in order;
    those left out at --stop-after dropped) and the seeds in it."""
    seeds, merged = [], None
    for seed, results in parts:
        if results is None:
            continue
        seeds.append(seed)
        merged = merged or [Result(r.name) for r in results]
        for into, r in zip(merged, results):
            for name in ("accuracies", "lrs", "epochs", "batches", "seconds", "odd"):
                getattr(into, name).extend(getattr(r, name))
    return seeds, merged or []


def seed_ranges(seeds: list[int]) -> str:
    """40, 41, 42, 45 -> '40-42, 45'."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs) or "none"


def table(shots: int, strategy: str, results: list[Result]) -> list[str]:
    sweep = [r for r in results if r.name.startswith("sweep")]
    best = max(sweep, key=lambda r: r.mean)
    lines = [f"**{shots} images per class, {strategy}** ({len(best.accuracies)} seeds; the sweep's best: "
             f"{best.name.split()[1]})", "",
             "| configuration | learning rate | epochs | batch | test accuracy (mean) | spread (std over seeds) "
             "| points below the sweep's best | s per run |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lr = math.exp(statistics.mean(math.log(x) for x in r.lrs))
        lr_text = f"{lr:.2g}" + (" (geometric mean)" if len(set(r.lrs)) > 1 else "")
        lines.append(f"| {r.name} | {lr_text} | {'/'.join(sorted({str(e) for e in r.epochs}))} | "
                     f"{'/'.join(sorted({str(b) for b in r.batches}))} | {100 * r.mean:.1f}% | "
                     f"{100 * r.spread:.1f} | {100 * (best.mean - r.mean):.1f} | {statistics.mean(r.seconds):.1f} |")
    lines.append("")
    return lines


def verdicts(cells: list[tuple[int, str, list[Result]]]) -> list[str]:
    """The issue's targets, cell by cell: defaults and --lr auto within 2 points of the sweep's
    best, and the defaults' spread over seeds at most half of what issue 15 measured as today's
    (the old defaults for 30 epochs)."""
    lines = ["| images per class | mode | defaults: points below best | --lr auto: points below best "
             "| spread: before / before, 30 epochs -> defaults, no refit -> defaults "
             "| the defaults' spread: one split / one seed | the defaults with one refit: points below best, "
             "spread | targets met |", "|---|---|---|---|---|---|---|---|"]
    for shots, strategy, results in cells:
        named = {r.name: r for r in results}
        best = max(r.mean for r in results if r.name.startswith("sweep"))
        gap_default, gap_auto, gap_once = (100 * (best - named[n].mean)
                                           for n in ("defaults", "--lr auto", "defaults, one refit"))
        old, before, no_refit, after, training, data, once = (100 * named[n].spread for n in (
            "before", "before, 30 epochs", "defaults, no refit", "defaults", "defaults, one split",
            "defaults, one seed", "defaults, one refit"))
        met = [gap_default <= TARGET_POINTS, gap_auto <= TARGET_POINTS, after <= TARGET_SPREAD * before]
        words = ", ".join(f"{what} {'yes' if ok else 'NO'}" for what, ok in
                          zip(("defaults", "lr auto", "spread"), met))
        lines.append(f"| {shots} | {strategy} | {gap_default:.1f} | {gap_auto:.1f} | {old:.1f} / {before:.1f} -> "
                     f"{no_refit:.1f} -> {after:.1f} | {training:.1f} / {data:.1f} | {gap_once:.1f}, {once:.1f} | "
                     f"{words} |")
    return lines


def spread_ratio_interval(before: list[float], after: list[float], draws: int = 10000) -> tuple[float, float]:
    """A 95% bootstrap interval of spread(after) / spread(before) over the same seeds: the seeds
    drawn again with replacement, both configurations' runs of a seed kept together (NaN below
    three seeds, where it means nothing)."""
    if len(before) < 3:
        return math.nan, math.nan
    rng, ratios = random.Random(0), []
    for _ in range(draws):
        picked = [rng.randrange(len(before)) for _ in before]
        below = statistics.stdev([before[i] for i in picked])
        if below > 0:
            ratios.append(statistics.stdev([after[i] for i in picked]) / below)
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def spread_verdicts(cells: list[tuple[int, str, list[Result]]]) -> list[str]:
    """``--spread-only``: the spread target, cell by cell, with the uncertainty of the ratio."""
    lines = ["| images per class | mode | seeds | before, 30 epochs: mean, spread | defaults: mean, spread "
             "| spread ratio (95% interval) | spread at most half |", "|---|---|---|---|---|---|---|"]
    for shots, strategy, results in cells:
        named = {r.name: r for r in results}
        before, after = named["before, 30 epochs"], named["defaults"]
        ratio = after.spread / before.spread if before.spread else math.inf
        low, high = spread_ratio_interval(before.accuracies, after.accuracies)
        lines.append(f"| {shots} | {strategy} | {len(after.accuracies)} | {100 * before.mean:.1f}%, "
                     f"{100 * before.spread:.1f} | {100 * after.mean:.1f}%, {100 * after.spread:.1f} | "
                     f"{ratio:.2f} ({low:.2f}-{high:.2f}) | {'yes' if ratio <= TARGET_SPREAD else 'NO'} |")
    return lines


def write_section(path: Path, lines: list[str]) -> None:
    """Replace the section that ``lines`` is (its first line the title) in ``path``, or add it,
    keeping every other section."""
    title = lines[0]
    text = path.read_text(encoding="utf-8") if path.exists() else "# ftgui benchmarks\n"
    start = text.find(title)
    if start >= 0:
        end = text.find("\n## ", start + len(title))
        text = text[:start].rstrip("\n") + ("\n" + text[end:] if end >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--first-seed", type=int, default=129)
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--strategies", nargs="+", default=["full", "head-only"])
    parser.add_argument("--quick", action="store_true", help="one seed, 20 images per class: to check the script")
    parser.add_argument("--spread-only", action="store_true",
                        help="only the old defaults for 30 epochs and the defaults, for many seeds: the spread target")
    parser.add_argument("--jobs", type=int, default=2, help="processes running the (N, mode) cells side by side")
    parser.add_argument("--stop-after", type=float, default=None, metavar="MINUTES",
                        help="start no run after this many minutes; a cell's seed with runs left out is left out")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.shots = 1, [20]
    started = time.perf_counter()
    stop_at = None if args.stop_after is None else time.time() + 60 * args.stop_after
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    keys = [(shots, strategy) for shots in args.shots for strategy in args.strategies]
    # Each (N, mode) cell's seeds are tasks of the pool, seed by seed, within a seed the longest cells
    # first (more images, full fine-tuning): the processes stay busy to the end, and every cell has
    # about as many seeds done if --stop-after cuts the benchmark short.
    heavy_first = sorted(keys, key=lambda key: (-key[0], key[1] != "full"))
    jobs = max(1, min(args.jobs, len(keys) * len(seeds)))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tasks_of = {(shots, strategy): make_task(work / f"{strategy}-{shots}", shots) for shots, strategy in keys}
        tasks = [(work, *tasks_of[key], *key, [seed], seeds[0], stop_at, args.spread_only)
                 for seed in seeds for key in heavy_first]
        with multiprocessing.get_context("spawn").Pool(jobs, start_process, (work,)) as pool:
            done = pool.starmap(benchmark, tasks, chunksize=1)
    parts: dict[tuple[int, str], list] = {key: [] for key in keys}
    for task, results in zip(tasks, done):
        parts[task[3], task[4]].append((task[5][0], results))
    merged = {key: merge(parts[key]) for key in keys}
    cells = [(shots, strategy, merged[shots, strategy][1]) for shots, strategy in keys if merged[shots, strategy][1]]
    odd = [f"{shots}/class {strategy}, {r.name}, {what}" for shots, strategy, results in cells
           for r in results for what in r.odd]
    short = [f"{shots}/class {strategy}: seeds {seed_ranges(merged[shots, strategy][0])}"
             for shots, strategy in keys if merged[shots, strategy][0] != seeds]
    counts = [len(merged[key][0]) for key in keys]
    minutes = (time.perf_counter() - started) / 60
    flags = " --quick" * args.quick + " --spread-only" * args.spread_only
    measured = [f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, a machine shared with other work; "
                f"{minutes:.0f} minutes, {jobs} process{'es' if jobs > 1 else ''} of one thread. Produced by "
                f"`python benchmarks/defaults.py{flags}` "
                f"(seeds {args.first_seed}-{args.first_seed + args.seeds - 1}"
                f"{f', --stop-after {args.stop_after:g}' if args.stop_after is not None else ''}).",
                *([f"**Cut short**: --stop-after left some seeds out (a seed counts only with all its runs): "
                   f"{'; '.join(short)}."] if short else [])]
    if args.spread_only:
        lines = [SPREAD_TITLE, "", *measured,
                 "The task of the section \"Defaults against a learning-rate sweep\", with only the two "
                 "configurations that issue 15's spread target compares (*before, 30 epochs* and *defaults*), on "
                 "more seeds than the whole benchmark can afford: "
                 "a standard deviation over 10 seeds may be 0.69 to 1.83 times the true one, so a ratio of two "
                 "of them near the target says little. Spread ratio: the defaults' standard deviation over seeds "
                 "divided by that of the old defaults for 30 epochs, on the same seeds; its interval is a "
                 "bootstrap over the seeds (10000 draws).", *([uncertainty(min(counts))] if min(counts) > 1 else []),
                 "", *spread_verdicts(cells), ""]
    else:
        lines = full_section(measured, cells, counts, odd)
    print("\n".join(lines))
    write_section(Path(args.results), lines)


def full_section(measured: list[str], cells: list[tuple[int, str, list[Result]]], counts: list[int],
                 odd: list[str]) -> list[str]:
    """The whole benchmark's section: how it was measured, the verdicts and each cell's table."""
    lines = [TITLE, "", *measured,
             "The demo backbone (test_resnet trained by ftgui on digits 0-4) fine-tuned at 32 px on digits 5-9 of "
             "the bundled sample: N images per class (split 80/20 into training and validation by the seed), "
             "scored on the other 40 - N images per class of the sample, which no run sees. *before*: the old "
             "defaults (5 epochs, batch 32, warm-up 1, best epoch by validation accuracy, the new head started at "
             "random: LeCun's 1/sqrt(n)); *before, 30 epochs*: the same for 30 epochs, as issue 15 measured "
             "today's spread (the spread target is half of it); *defaults*: the new head started at zeros, epochs,"
             " batch and warm-up chosen from the data, the best epoch by the smoothed validation loss, then "
             "trained again from the same start on all images (training and validation) to that epoch, the model "
             "saved (`--refit auto`: below 200 validation images, always here; when pretrained weights learn, "
             "three times, each with its own order of images and augmentation, their weights averaged: "
             "`--refit-runs auto`); *defaults, no refit*: the same without the training again (`--refit no`, the "
             "defaults before refit landed); *defaults, one refit*: the same training once on all images "
             "(`--refit-runs 1`, the defaults before the average landed; the same as the defaults when only the "
             "head learns); the sweep, *--lr auto*, *one split* and *one seed* are the defaults (with the "
             "refit), the sweep at each learning rate. Spread: the standard deviation of the test accuracy over "
             "seeds, in points. *one split*: the defaults with the train/validation split fixed while the seed "
             "varies (the luck of training: the order of the images, the augmentation, and the new layer's start "
             "where it is random); *one seed*: the seed fixed while the split varies (the luck of the data: which "
             "images train and which validate).", *([uncertainty(min(counts))] if min(counts) > 1 else []),
             "`--spread-only` measures the spread target alone on more seeds (section \"The spread over many "
             "seeds\").",
             *([f"Runs whose training again on all images did not complete (they saved the validated model): "
                f"{'; '.join(odd)}."]
               if odd else []),
             "", *verdicts(cells), ""]
    for shots, strategy, results in cells:
        lines += table(shots, strategy, results)
    return lines


if __name__ == "__main__":
    main()
