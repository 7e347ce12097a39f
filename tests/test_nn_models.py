import pytest
import torch

from bridge.nn import (MODEL_NAMES, DendriticLayer, MaskedDenseDendriticLayer, count_parameters,
                       dann_param_count, make_model, vann_param_count)
from bridge.schema import make_units_dataset

torch.set_num_threads(1)


@pytest.mark.parametrize("D,S", [(1, 32), (4, 16), (16, 8)])
@pytest.mark.parametrize("name", ["dann-r", "dann-lrf", "dann-grf", "pdann", "vann"])
def test_parameter_counts_match_reference_formulas(name, D, S):
    model = make_model(name, dendrites=D, somata=S, synapses=16, seed=1)
    if name == "vann":
        expected = vann_param_count(784, D, S, 10)
    else:
        expected = dann_param_count(784 if name == "pdann" else 16, D, S, 10)
    assert count_parameters(model) == expected
    assert model(torch.rand(2, 784)).shape == (2, 10)


def test_masked_dense_counts_only_real_connections():
    layer = DendriticLayer(100, 6, 4, 7)
    assert count_parameters(MaskedDenseDendriticLayer.from_layer(layer)) == count_parameters(layer) \
        == dann_param_count(7, 4, 6, 0)


def test_fitted_transfer_counts_only_when_trainable():
    units = make_units_dataset([0, 1], ["basal", "basal"], ["sigmoid", "sigmoid"],
                               [dict(threshold=10, slope=2, amplitude=20, baseline=0)] * 2)
    frozen = make_model("dann-r", dendrites=4, somata=8, nonlinearity=units, seed=1)
    train = make_model("dann-r", dendrites=4, somata=8, nonlinearity=units, trainable_nonlinearity=True, seed=1)
    base = dann_param_count(16, 4, 8, 10)
    assert count_parameters(frozen) == base
    assert count_parameters(train) == base + 4 * 4 * 8  # 4 sigmoid parameters per dendrite


def test_model_names_and_determinism():
    assert set(MODEL_NAMES) == {"dann-r", "dann-lrf", "dann-grf", "pdann", "vann"}
    with pytest.raises(ValueError):
        make_model("cnn")
    a = make_model("dann-lrf", dendrites=2, somata=4, seed=3)
    b = make_model("dann-lrf", dendrites=2, somata=4, seed=3)
    x = torch.rand(3, 784)
    assert torch.equal(a(x), b(x))
    b.load_state_dict(make_model("dann-lrf", dendrites=2, somata=4, seed=4).state_dict())
    assert not torch.equal(a(x), b(x))


def test_two_layer_network():
    m = make_model("dann-r", dendrites=2, somata=8, synapses=4, n_layers=2, seed=0)
    assert m(torch.rand(2, 784)).shape == (2, 10)
    assert m.layers[1].in_features == 8


def test_import_hygiene():
    import subprocess
    import sys
    code = ("import sys, bridge, bridge.transfer, bridge.schema, bridge.data; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "import bridge.nn, bridge.nn.training; "
            "bad = [m for m in ('neuron', 'brian2') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
