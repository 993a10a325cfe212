"""The Init Lab (issue 11, items 1-3): the classic figures the seed's claims rest on must come
out, through the same initialisation path as training."""
import json
import textwrap

import pytest
import torch

from ftgui import FtguiError
from ftgui.cli import main
from ftgui.lab.activations import run_activations
from ftgui.lab.gradients import run_gradients
from ftgui.lab.stages import run_stages
from ftgui.lab.symmetry import distinct_units, mean_cosine, numerical_rank, run_symmetry
from ftgui.registry import load_registry
from ftgui.sample_data import DEMO_BACKBONE

QUIET = {"log": lambda message: None}


@pytest.fixture(scope="module")
def registry():
    return load_registry(entry_points=False)


def stds(report):
    return [layer.std for layer in report.layers]


# -- activations -------------------------------------------------------------------------
def test_tanh_small_random_collapses(registry):
    report = run_activations("small-random", "tanh", registry=registry, **QUIET)
    values = stds(report)
    assert len(values) == 10
    assert values[-1] < 1e-5  # ANCHORS: ~3e-7
    assert all(later < earlier * 0.5 for earlier, later in zip(values, values[1:]))  # shrinks every layer


def test_tanh_with_std_one_saturates(registry):
    report = run_activations("small-random", "tanh", init_params={"std": "1"}, registry=registry, **QUIET)
    assert all(layer.saturated > 0.85 for layer in report.layers)  # ANCHORS: ~90% |h| > 0.99
    assert all(layer.std > 0.95 for layer in report.layers)


def test_tanh_lecun_decays_slowly(registry):
    values = stds(run_activations("lecun", "tanh", registry=registry, **QUIET))
    assert 0.15 < values[-1] < 0.3  # ANCHORS: ~0.23
    assert values[-1] > values[0] / 4
    assert all(later < earlier for earlier, later in zip(values, values[1:]))


def test_relu_kaiming_holds_and_lecun_does_not(registry):
    kaiming = run_activations("kaiming", "relu", registry=registry, **QUIET)
    assert all(0.5 < layer.std < 1.0 for layer in kaiming.layers)  # ANCHORS: ~0.7, stable
    assert all(0.4 < layer.dead < 0.6 for layer in kaiming.layers)  # ReLU zeroes half
    assert all(layer.saturated is None for layer in kaiming.layers)
    assert stds(run_activations("lecun", "relu", registry=registry, **QUIET))[-1] < 0.05  # ANCHORS: ~0.02


def test_zeros_leave_every_unit_dead(registry):
    report = run_activations("zeros", "tanh", layers=3, width=50, registry=registry, **QUIET)
    assert [layer.dead for layer in report.layers] == [1.0, 1.0, 1.0]


def test_data_dependent_initialiser_sees_the_gaussian_batch(registry):
    """lsuv measures each layer on ctx.batch: every pre-activation gets std 1, so tanh's output
    has the same spread at every depth (~0.63)."""
    values = stds(run_activations("lsuv", "tanh", layers=4, width=100, registry=registry, **QUIET))
    assert all(0.55 < value < 0.7 for value in values)


PROBE = '''
import torch
import ftgui

class Probe(ftgui.Initializer):
    name = "probe"
    description = "identity weights when the Lab set the model up as training does, zeros otherwise"

    def initialize(self, ctx, **params):
        biases_set = all(torch.all(m.bias == ctx.bias) for m in ctx.modules)
        ok = (ctx.role == "scratch" and tuple(ctx.batch.shape) == (1000, 20) and len(ctx.modules) == 3
              and all(isinstance(m, torch.nn.Linear) for m in ctx.modules) and biases_set
              and not torch.is_grad_enabled())
        for module in ctx.modules:
            torch.nn.init.eye_(module.weight)
            module.weight.mul_(1.0 if ok else 0.0)

@ftgui.hookimpl
def ftgui_register_initializers(register):
    register(Probe())
'''


def test_lab_initialises_through_initialize_ctx_like_training(tmp_path):
    (tmp_path / "probe.py").write_text(textwrap.dedent(PROBE))
    report = run_activations("probe", "tanh", layers=3, width=20, bias_init="0.01", plugins_dirs=[str(tmp_path)],
                             **QUIET)
    assert report.layers[0].std > 0.5  # identity weights: the plugin saw what it checks for


def test_unknown_initialiser_and_bad_bias_are_one_line_errors(registry):
    with pytest.raises(FtguiError, match="no initializer named 'lecunn'.*lecun"):
        run_activations("lecunn", registry=registry, **QUIET)
    with pytest.raises(FtguiError, match="--bias-init"):
        run_activations("lecun", bias_init="lots", registry=registry, **QUIET)
    with pytest.raises(FtguiError, match="std"):
        run_activations("small-random", init_params={"sd": "1"}, registry=registry, **QUIET)


# -- a real backbone -----------------------------------------------------------------------
def test_stages_of_a_fresh_backbone_follow_the_initialiser(registry):
    small = run_stages("test_resnet", "sample:digits", init="small-random", img_size=32, images=16,
                       registry=registry, **QUIET)
    assert small.stages == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert small.layers[-1].std < 1e-5 < small.layers[0].std
    kaiming = run_stages("test_resnet", "sample:digits", init="kaiming", img_size=32, images=16,
                         registry=registry, **QUIET)
    assert all(layer.std > 0.1 for layer in kaiming.layers)


def test_stages_of_pretrained_weights_on_your_images(registry):
    report = run_stages("test_resnet", "sample:digits", weights=str(DEMO_BACKBONE), img_size=32, images=8,
                        registry=registry, **QUIET)
    assert report.init is None and report.images == 8
    shown = report.to_json()
    assert [row["stage"] for row in shown["layers"]] == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert all(0.05 < layer.std < 10 for layer in report.layers)


# -- symmetry ------------------------------------------------------------------------------
def test_measures_of_sameness():
    same = torch.ones(4, 3)
    assert (numerical_rank(same), mean_cosine(same), distinct_units(same)) == (1, 1.0, 1)
    zero = torch.zeros(4, 3)
    assert (numerical_rank(zero), mean_cosine(zero), distinct_units(zero)) == (0, 1.0, 1)
    eye = torch.eye(3)
    assert (numerical_rank(eye), mean_cosine(eye), distinct_units(eye)) == (3, 0.0, 3)
    assert distinct_units(torch.ones(2, 3), torch.tensor([0.0, 1.0])) == 2  # the bias makes them differ


def test_zeros_never_move(registry):
    report = run_symmetry("zeros", registry=registry, **QUIET)
    assert report.accuracy == pytest.approx(report.chance)  # 0.1: ten balanced classes
    for layer in report.layers:
        assert (layer.rank, layer.mean_cosine, layer.distinct_units, layer.change) == (0, 1.0, 1, 0.0)


def test_a_constant_stays_one_unit(registry):
    report = run_symmetry("constant", registry=registry, **QUIET)
    for layer in report.layers:
        assert layer.change > 0.1  # it trains...
        assert (layer.rank, layer.distinct_units) == (1, 1)  # ...but every unit stays a copy
        assert layer.mean_cosine > 0.999
    assert report.accuracy < 0.5  # one unit's worth of network: measured 0.36


@pytest.mark.parametrize("init", ["lecun", "small-random"])
def test_random_initialisers_break_the_symmetry(registry, init):
    report = run_symmetry(init, registry=registry, **QUIET)
    for layer in report.layers:
        assert layer.rank >= 30 and layer.distinct_units == 32
        assert abs(layer.mean_cosine) < 0.1
    assert report.accuracy > 0.85  # measured 0.95


# -- gradients -----------------------------------------------------------------------------
def test_deep_sigmoid_gradients_diffuse(registry):
    report = run_gradients("lecun", "sigmoid", layers=10, registry=registry, **QUIET)
    assert len(report.layers) == 10
    assert report.first_to_last < 1e-3  # measured 3e-6: orders of magnitude
    norms = [layer.grad_norm for layer in report.layers]
    assert all(earlier < later for earlier, later in zip(norms, norms[1:]))


def test_relu_kaiming_gradients_do_not(registry):
    report = run_gradients("kaiming", "relu", layers=10, registry=registry, **QUIET)
    assert 0.1 < report.first_to_last < 10  # measured 0.5


# -- the commands ----------------------------------------------------------------------------
def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_lab_commands_print_the_issue_json(capsys):
    code, out, _ = run_cli(capsys, "lab", "activations", "--init", "lecun", "--layers", "3", "--width", "50", "--json")
    assert code == 0
    shown = json.loads(out)
    assert list(shown) == ["layers"] and [row["layer"] for row in shown["layers"]] == [1, 2, 3]
    assert all(list(row) == ["layer", "mean", "std", "saturated", "dead"] for row in shown["layers"])

    code, out, _ = run_cli(capsys, "lab", "symmetry", "--init", "constant", "--steps", "20", "--json")
    shown = json.loads(out)
    assert code == 0 and list(shown) == ["accuracy", "layers"]
    assert shown["layers"][0] == {"layer": 1, "rank": 1, "mean_cosine": pytest.approx(1.0), "distinct_units": 1}

    code, out, _ = run_cli(capsys, "lab", "gradients", "--act", "sigmoid", "--init", "lecun", "--layers", "4",
                           "--json")
    shown = json.loads(out)
    assert code == 0 and [list(row) for row in shown["layers"]] == [["layer", "grad_norm"]] * 4


def test_lab_commands_explain_themselves(capsys):
    code, out, _ = run_cli(capsys, "lab", "activations", "--init", "small-random")
    assert code == 0 and "smaller is not always better" in out
    code, out, _ = run_cli(capsys, "lab", "symmetry", "--init", "zeros", "--steps", "5")
    assert code == 0 and "symmetry trap" in out
    code, out, _ = run_cli(capsys, "lab", "activations", "--model", "test_resnet", "--data", "sample:digits",
                           "--init", "small-random", "--img-size", "32", "--images", "8")
    assert code == 0 and "initialised by small-random" in out and "layer4" in out
    code, _, err = run_cli(capsys, "lab", "activations")
    assert code == 2 and "needs --init" in err
    code, _, err = run_cli(capsys, "lab", "activations", "--model", "test_resnet")
    assert code == 2 and "give --data" in err
    code, _, err = run_cli(capsys, "lab", "gradients", "--init", "lecun", "--layers", "1")
    assert code == 2 and "--layers must be at least 2" in err
