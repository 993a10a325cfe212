"""How long a person waits for the two things the tests check only functionally:

f. ``ftgui --no-browser``: seconds from starting the process to the first page (HTTP 200).
   Target < 15 s (about 5 s on 2 cores).
g. ``ftgui train --weights hub`` with no network and an empty cache: seconds until it fails
   with its one-line advice (it must fail fast, not hang on the network). Target < 10 s.

    python benchmarks/latency.py [--repeat 3]

Prints one row per measure (the median of --repeat runs); nothing is written. Wall-clock time
depends on the machine and its load, which is why it is measured here and not asserted in tests/.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image

TARGETS = {"f": 15.0, "g": 10.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_page_seconds(work: Path) -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "ftgui", "--no-browser", "--port", str(port),
                                "--runs-dir", str(work / "runs")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while process.poll() is None and time.perf_counter() - started < 300:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"ftgui served no page (exit code {process.poll()})")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def offline_failure_seconds(work: Path, data: Path) -> float:
    env = {**os.environ, "HF_HOME": str(work / "empty-cache"), "HF_HUB_OFFLINE": ""}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ftgui", "train", "--data", str(data), "--model", "test_resnet",
                           "--strategy", "head-only", "--out", str(work / "run")],
                          capture_output=True, text=True, env=env, timeout=300)
    seconds = time.perf_counter() - started
    if proc.returncode != 2:
        raise SystemExit(f"expected exit code 2, got {proc.returncode}: {proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rng = random.Random(0)
        data = work / "data"
        for name in ("a", "b"):
            (data / name).mkdir(parents=True)
            for i in range(4):
                colour = tuple(rng.randint(0, 255) for _ in range(3))
                Image.new("RGB", (32, 32), colour).save(data / name / f"{i}.png")
        rows = [
            ("f", "`ftgui --no-browser` to the first page",
             [first_page_seconds(work / f"f{i}") for i in range(args.repeat)]),
            ("g", "`ftgui train --weights hub` offline, to its one-line failure",
             [offline_failure_seconds(work / f"g{i}", data) for i in range(args.repeat)]),
        ]
    print("| | measure | median (s) | runs (s) | target | ok |")
    print("|---|---|---|---|---|---|")
    for key, what, seconds in rows:
        median = statistics.median(seconds)
        runs = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"| {key} | {what} | {median:.1f} | {runs} | < {TARGETS[key]:.0f} | "
              f"{'yes' if median < TARGETS[key] else 'NO'} |")


if __name__ == "__main__":
    main()
