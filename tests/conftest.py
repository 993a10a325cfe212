"""Shared fixtures: small generated image data sets and tiny trained runs.

Nothing here downloads anything: "pretrained" weights are runs the tests train themselves.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "cross", "bar")
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220),
           "yellow": (230, 210, 30), "purple": (150, 50, 170)}


def draw_shape(shape: str, colour: tuple, size: int, rng: random.Random) -> Image.Image:
    """One noisy picture of a coloured shape, at a random place and scale."""
    bg = tuple(rng.randint(0, 60) for _ in range(3))
    image = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(image)
    r = rng.uniform(0.25, 0.4) * size
    cx, cy = (rng.uniform(r, size - r) for _ in range(2))
    box = (cx - r, cy - r, cx + r, cy + r)
    jitter = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in colour)
    if shape == "circle":
        draw.ellipse(box, fill=jitter)
    elif shape == "square":
        draw.rectangle(box, fill=jitter)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=jitter)
    elif shape == "cross":
        draw.rectangle((cx - r, cy - r / 4, cx + r, cy + r / 4), fill=jitter)
        draw.rectangle((cx - r / 4, cy - r, cx + r / 4, cy + r), fill=jitter)
    else:
        draw.rectangle((cx - r, cy - r / 3, cx + r, cy + r / 3), fill=jitter)
    return image


def make_dataset(root: Path, classes: dict[str, tuple[str, str]], per_class: int = 12,
                 size: int = 32, seed: int = 0) -> Path:
    """Write ``per_class`` PNGs for each class name -> (shape, colour name)."""
    rng = random.Random(seed)
    for name, (shape, colour) in classes.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw_shape(shape, COLOURS[colour], size, rng).save(folder / f"{i:03d}.png")
    return root


def zip_folder(folder: Path, zip_path: Path, wrapper: str | None = None) -> Path:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                archive.write(path, f"{wrapper}/{name}" if wrapper else name)
    return zip_path


THREE = {"circle": ("circle", "red"), "square": ("square", "green"), "triangle": ("triangle", "blue")}
PRETRAIN = {"cross": ("cross", "yellow"), "bar": ("bar", "purple"), "ring": ("circle", "blue"),
            "box": ("square", "red")}


@pytest.fixture(scope="session")
def three_classes(tmp_path_factory) -> Path:
    """A learnable 3-class data set: 12 images of 32x32 per class."""
    return make_dataset(tmp_path_factory.mktemp("data") / "three", THREE)


@pytest.fixture(scope="session")
def pretrained_run(tmp_path_factory) -> Path:
    """A test_resnet trained from scratch by ftgui on other classes: our 'pretrained' weights."""
    from ftgui.config import TrainConfig
    from ftgui.engine import train

    base = tmp_path_factory.mktemp("pretrain")
    data = make_dataset(base / "data", PRETRAIN, per_class=10, seed=1)
    result = train(TrainConfig(data=str(data), model="test_resnet", strategy="scratch", init="kaiming",
                               epochs=2, img_size=32, batch_size=16, out=str(base / "run")))
    return result.run_dir


# -- processes -----------------------------------------------------------------------------
# A child started by a test must not outlive it, and must not depend on how pytest itself was
# started: under `nohup pytest &` (any background job) SIGINT is ignored, and an ignored signal
# stays ignored across exec, so a child could never be stopped with Ctrl-C.
_SIGINT_DEFAULT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                   "os.execvp(sys.argv[1], sys.argv[1:])")


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL ``process`` and, when it leads its own process group, everything in that group."""
    if process.poll() is None:
        try:
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        except (ProcessLookupError, PermissionError):
            pass
    try:
        process.communicate(timeout=30)  # reap it and close its pipes
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


@pytest.fixture
def spawn():
    """Start a process for this test: ``spawn(args, **popen_kwargs)`` -> Popen.

    The child starts in its own session and process group, with SIGINT's default action
    whatever pytest inherited (so ``send_signal(SIGINT)`` is a real Ctrl-C). At teardown,
    on every path (a failed assertion, a timeout, Ctrl-C), the child and its whole process
    group are killed and reaped.
    """
    started: list[subprocess.Popen] = []

    def start(args, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("start_new_session", True)
        process = subprocess.Popen([sys.executable, "-c", _SIGINT_DEFAULT, *map(str, args)], **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        _kill_group(process)


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test(monkeypatch):
    """A safety net under every test: any subprocess it started (subprocess.run, Popen) that is
    still running when the test ends, whichever way it ends, is killed and reaped."""
    started: list[subprocess.Popen] = []
    original = subprocess.Popen.__init__

    def recording(self, *args, **kwargs):
        original(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(subprocess.Popen, "__init__", recording)
    yield
    monkeypatch.setattr(subprocess.Popen, "__init__", original)
    for process in started:
        if process.returncode is None:
            _kill_group(process)


# -- browser tests (tests/test_browser*.py; what they share is in browser_kit.py) ------------------------
@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for one test module."""
    from browser_kit import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def problems():
    """The test's :class:`browser_kit.PageProblems`: it fails if a watched page reported any."""
    from browser_kit import PageProblems

    found = PageProblems()
    yield found
    found.check()


@pytest.fixture
def page(browser, problems):
    """A desktop-sized page in its own browser context, watched for problems."""
    from browser_kit import DESKTOP

    context = browser.new_context(viewport=DESKTOP)
    yield problems.watch(context.new_page())
    problems.close(context)


@pytest.fixture(autouse=True)
def _no_training_outlives_a_browser_test(request):
    """A browser test shares its module's app (the ``app`` fixture) with the next test: on every
    path (passed, failed, interrupted) the app's training is stopped and waited for when the test
    ends, so that no test starts on a page that follows another test's job (its form read-only)."""
    if request.node.get_closest_marker("browser") is None or "app" not in request.fixturenames:
        yield
        return
    jobs = request.getfixturevalue("app").ftgui_context.jobs
    yield
    jobs.shutdown()
    still = jobs.running()
    assert still is None, f"the training {still.name} did not stop when the test ended"
