"""ftgui's speed benchmarks: each measured side by side with its floor, in one run, on one machine.

    python benchmarks/run.py [--images 400] [--size 128] [--model resnet18] [--quick]

Prints the ratios and writes the top of benchmarks/RESULTS.md (figures, machine, date; the
sections below it, from other benchmarks, are kept):

a. head-only, 20 epochs: ftgui's total time / one plain forward pass of the backbone over the
   same (pre-decoded) images - the floor. Target <= 1.5. Median of three runs of each.
b. one full fine-tune epoch from image files on disk (ftgui's whole train() call) / a plain
   hand-written PyTorch loop over the same model, batch size and pre-decoded tensors. Target <= 1.15.
c. ftgui's Predictor over a folder (load + decode + predict) / a plain script: PIL decode, timm
   transform, batched forward. Target <= 1.3.
d. cold ``ftgui --help``, seconds. Target < 0.5.
e. the CLI check: ``ftgui train --strategy head-only`` 20 epochs / 1 epoch. Target <= 1.5.

Every measurement is cold (a fresh model's first pass), as ftgui's own runs are, after one
warm-up run of ftgui in the same process so that one-time imports are not counted.
With a CUDA GPU it repeats a-c there and adds full fine-tune images/s against a plain loop with
AMP and channels_last. Timings use nothing from the network: the "pretrained" weights are a
randomly initialised backbone saved to a file (speed does not depend on the values).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import timm
import torch
from PIL import Image, ImageDraw
from timm.data import create_transform, resolve_model_data_config

from ftgui import features
from ftgui.config import TrainConfig
from ftgui.engine import train
from ftgui.predict import Predictor

HERE = Path(__file__).resolve().parent
TARGETS = {"a": 1.5, "b": 1.15, "c": 1.3, "d": 0.5, "e": 1.5}


def make_images(root: Path, count: int, size: int, classes: int = 4) -> Path:
    rng = random.Random(0)
    for i in range(count):
        label = i % classes
        image = Image.new("RGB", (size, size), tuple(rng.randint(0, 80) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        r = rng.uniform(0.2, 0.4) * size
        cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
        colour = [(220, 40, 40), (40, 180, 60), (40, 70, 220), (230, 210, 30)][label]
        (draw.ellipse if label % 2 else draw.rectangle)((cx - r, cy - r, cx + r, cy + r), fill=colour)
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:04d}.png")
    return root


def decoded_batches(model, data: Path, size: int, batch: int, device) -> list[torch.Tensor]:
    """The images, decoded and normalised once, as batches: the plain loops' input."""
    cfg = resolve_model_data_config(model)
    cfg["input_size"] = (3, size, size)
    transform = create_transform(**cfg, is_training=False)
    tensors = [transform(Image.open(p).convert("RGB")) for p in sorted(data.rglob("*.png"))]
    return [torch.stack(tensors[i:i + batch]).to(device) for i in range(0, len(tensors), batch)]


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plain_forward(model, batches, device, amp: bool = False) -> float:
    model.eval()

    def run():
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            for x in batches:
                model(x)
        sync(device)

    return timed(run)  # cold, like ftgui's own first pass


def plain_train_epoch(model, batches, device, amp: bool = False, channels_last: bool = False) -> float:
    """A hand-written fine-tuning epoch over pre-decoded tensors."""
    model.train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    labels = [torch.randint(0, 4, (len(x),), device=device) for x in batches]

    def run():
        for x, y in zip(batches, labels):
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync(device)

    return timed(run)  # cold, like ftgui's single epoch


def ftgui_train(data: Path, weights: Path, out: Path, device: str, **settings) -> tuple[float, object]:
    features._MEMO.clear()  # measure a first run, not a reuse
    start = time.perf_counter()
    result = train(TrainConfig(data=str(data), weights=str(weights), out=str(out), device=device,
                               seed=0, **settings))
    return time.perf_counter() - start, result


def bench_device(device_name: str, args, data: Path, weights: Path, work: Path) -> dict:
    device = torch.device(device_name)
    model = timm.create_model(args.model, num_classes=4).to(device)
    batches = decoded_batches(model, data, args.size, args.batch, device)
    images = sum(len(x) for x in batches)
    common = dict(model=args.model, img_size=args.size, batch_size=args.batch, aug="none")
    out: dict = {"device": device_name, "images": images}

    # one warm-up run, so one-time imports and allocator set-up are not counted (check e
    # times the CLI as a person sees it, imports included)
    ftgui_train(data, weights, work / f"warm-{device_name}", device_name, strategy="head-only",
                epochs=1, **common)
    # the shortest measurement: the median of three of each, on a machine that may be shared
    floors, totals = [], []
    for rep in range(3):
        floors.append(plain_forward(timm.create_model(args.model, num_classes=4).to(device), batches, device))
        totals.append(ftgui_train(data, weights, work / f"a-{device_name}-{rep}", device_name,
                                  strategy="head-only", epochs=args.epochs, **common)[0])
    out["a"] = (statistics.median(totals), statistics.median(floors))

    plain = plain_train_epoch(timm.create_model(args.model, num_classes=4).to(device), batches, device)
    total, result = ftgui_train(data, weights, work / f"b-{device_name}", device_name, strategy="full",
                                epochs=1, val_split=0.0, **common)
    out["b"] = (total, plain)
    out["b_epoch_seconds"] = result.metrics[0]["seconds"]

    folder = data
    predictor_time = timed(lambda: list(Predictor.from_run(result.run_dir, device_name).predict_paths(
        [str(folder)], batch_size=args.batch)))
    run_model = timm.create_model(f"local-dir:{result.run_dir}", pretrained=True).to(device).eval()
    transform = create_transform(**resolve_model_data_config(run_model), is_training=False)

    def plain_predict():
        paths = sorted(folder.rglob("*.png"))
        with torch.inference_mode():
            for i in range(0, len(paths), args.batch):
                x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[i:i + args.batch]])
                run_model(x.to(device)).softmax(1).cpu()
        sync(device)

    out["c"] = (predictor_time, timed(plain_predict))

    if device.type == "cuda":
        gpu_model = timm.create_model(args.model, num_classes=4).to(device)
        plain_fast = plain_train_epoch(gpu_model, batches, device, amp=True, channels_last=True)
        ours = result.metrics[0]["images_per_s"]
        out["gpu_images_per_s"] = (ours, images / plain_fast)
    return out


def cold_help_seconds() -> float:
    script = Path(sys.executable).with_name("ftgui")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ftgui"]
    return timed(lambda: subprocess.run([*command, "--help"], check=True, capture_output=True))


def cli_epochs_ratio(data: Path, weights: Path, work: Path, args) -> tuple[float, float]:
    def run(epochs: int) -> float:
        command = [sys.executable, "-m", "ftgui", "train", "--data", str(data), "--weights", str(weights),
                   "--model", args.model, "--strategy", "head-only", "--epochs", str(epochs),
                   "--img-size", str(args.size), "--batch-size", str(args.batch), "--device", "cpu",
                   "--out", str(work / f"cli-{epochs}"), "--quiet"]
        env = {**os.environ, "FTGUI_CACHE_DIR": str(work / f"cache-{epochs}")}
        return timed(lambda: subprocess.run(command, check=True, capture_output=True, env=env))

    return run(20), run(1)


def ddp_images_per_s(data: Path, weights: Path, work: Path, args, gpus: int) -> float:
    """Full fine-tuning images/s with torchrun over ``gpus`` GPUs (the same global batch as one
    GPU's ``args.batch`` x gpus), read from the run's own metrics."""
    out = work / f"ddp-{gpus}"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
               "-m", "ftgui", "train", "--data", str(data), "--weights", str(weights), "--model", args.model,
               "--strategy", "full", "--epochs", "2", "--img-size", str(args.size), "--batch-size",
               str(args.batch), "--out", str(out), "--quiet"]
    subprocess.run(command, check=True, capture_output=True)
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return last["images_per_s"]  # images of every process over the epoch's time


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, timm {timm.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a tiny model and 96 images, to check the script")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    if args.quick:
        args.images, args.size, args.model = 96, 64, "test_resnet"
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["FTGUI_CACHE_DIR"] = str(work / "cache")
        data = make_images(work / "data", args.images, args.size)
        weights = work / "backbone.safetensors"
        from safetensors.torch import save_file
        save_file(timm.create_model(args.model).state_dict(), str(weights))
        results = [bench_device("cpu", args, data, weights, work)]
        if torch.cuda.is_available():
            results.append(bench_device("cuda", args, data, weights, work))
        ddp = (torch.cuda.device_count(), ddp_images_per_s(data, weights, work, args, torch.cuda.device_count())) \
            if torch.cuda.device_count() > 1 else None
        help_seconds = cold_help_seconds()
        cli20, cli1 = cli_epochs_ratio(data, weights, work, args)

    rows = []
    for r in results:
        dev = r["device"]
        rows.append(("a", dev, f"head-only {args.epochs} epochs / one backbone forward pass", *r["a"]))
        rows.append(("b", dev, "full fine-tune epoch from files (whole train()) / plain loop", *r["b"]))
        rows.append(("c", dev, "Predictor over a folder / plain decode+transform+forward", *r["c"]))
    rows.append(("e", "cpu", "CLI head-only 20 epochs / 1 epoch", cli20, cli1))
    lines = [
        "# ftgui benchmarks", "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}.",
        f"Data: {args.images} generated PNG images of {args.size} px, 4 classes; model {args.model}, "
        f"batch {args.batch}. Produced by `python benchmarks/run.py`{' --quick' if args.quick else ''}.", "",
        "| | device | measure | ftgui (s) | baseline (s) | ratio | target | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, dev, what, ours, base in rows:
        ratio = ours / base
        lines.append(f"| {key} | {dev} | {what} | {ours:.2f} | {base:.2f} | {ratio:.2f} | "
                     f"<= {TARGETS[key]} | {'yes' if ratio <= TARGETS[key] else 'NO'} |")
    lines.append(f"| d | cpu | cold `ftgui --help` | {help_seconds:.3f} | - | - | < {TARGETS['d']} s | "
                 f"{'yes' if help_seconds < TARGETS['d'] else 'NO'} |")
    for r in results:
        lines.append("")
        lines.append(f"{r['device']}: the full fine-tune epoch itself took {r['b_epoch_seconds']:.2f} s "
                     f"(the rest of train() reads, checks and decodes the files and saves the model).")
        if "gpu_images_per_s" in r:
            ours, plain = r["gpu_images_per_s"]
            lines.append(f"GPU full fine-tune: ftgui {ours:.0f} images/s vs plain loop with AMP and "
                         f"channels_last {plain:.0f} images/s (ratio {plain / ours:.2f}).")
    if ddp is not None:
        lines.append(f"DDP (torchrun, {ddp[0]} GPUs): full fine-tune {ddp[1]:.0f} images/s in all.")
    text = "\n".join(lines) + "\n"
    print(text)
    results_file = Path(args.results)
    previous = results_file.read_text() if results_file.exists() else ""
    others = previous.find("\n## ")  # other benchmarks' sections (defaults.py's) are kept
    results_file.write_text(text + (previous[others:] if others >= 0 else ""))


if __name__ == "__main__":
    main()
