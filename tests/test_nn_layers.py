import pytest
import torch

from bridge.nn import DendriticLayer, FittedTransfer, MaskedDenseDendriticLayer

torch.set_num_threads(1)


def _pair(sampling="random", act="leaky_relu", **kw):
    layer = DendriticLayer(49, 5, 3, 6 if sampling != "all" else None, sampling=sampling, seed=4,
                           dendrite_nonlinearity=act, dtype=torch.float64, **kw)
    with torch.no_grad():  # nonzero biases so they are exercised
        layer.dendrite_bias.uniform_(-0.3, 0.3)
        layer.soma_bias.uniform_(-0.3, 0.3)
    return layer, MaskedDenseDendriticLayer.from_layer(layer)


@pytest.mark.parametrize("chunked", [False, True], ids=["one-pass", "chunked"])
@pytest.mark.parametrize("sampling", ["random", "local_rf", "global_rf", "all"])
def test_matches_masked_dense_outputs_and_gradients(sampling, chunked, monkeypatch):
    if chunked:   # batch columns in chunks of 3 (15 dendrites x 3): 3 chunks for the 8 rows
        monkeypatch.setattr("bridge.nn.layers._CHUNK_ELEMENTS", 45)
    layer, ref = _pair(sampling)
    x = torch.randn(8, 49, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    y, y_ref = layer(x), ref(x2)
    assert torch.allclose(y, y_ref, atol=1e-12)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    assert torch.allclose(x.grad, x2.grad, atol=1e-12)
    assert torch.allclose(layer.dendrite_weight.grad, ref.weight1.grad.gather(1, layer.indices), atol=1e-12)
    # masked-out entries of the dense gradient are zero (mask applied)
    assert torch.all(ref.weight1.grad[ref.mask1 == 0] == 0)
    assert torch.allclose(layer.dendrite_bias.grad, ref.bias1.grad, atol=1e-12)
    w2g = ref.weight2.grad.view(5, 5, 3)[torch.arange(5), torch.arange(5)]
    assert torch.allclose(layer.soma_weight.grad, w2g, atol=1e-12)
    assert torch.allclose(layer.soma_bias.grad, ref.bias2.grad, atol=1e-12)


@pytest.mark.parametrize("chunked", [False, True], ids=["one-pass", "chunked"])
def test_matches_masked_dense_with_fitted_transfer(chunked, monkeypatch):
    if chunked:
        monkeypatch.setattr("bridge.nn.layers._CHUNK_ELEMENTS", 45)
    act = FittedTransfer("sigmoid", {"threshold": torch.linspace(5, 15, 15).numpy(), "slope": 2.0,
                                     "amplitude": 20.0, "baseline": 0.0},
                         input_scale=10.0, output_scale=20.0, trainable=True, clamp=(0.0, 40.0),
                         dtype=torch.float64)
    layer, ref = _pair("random", act)
    x = torch.randn(8, 49, dtype=torch.float64)
    y = layer(x)
    assert torch.allclose(y, ref(x), atol=1e-12)
    gl = torch.autograd.grad(layer(x).sum(), act.threshold)[0]
    gr = torch.autograd.grad(ref(x).sum(), act.threshold)[0]
    assert torch.allclose(gl, gr, atol=1e-12) and gl.abs().sum() > 0


def test_state_dict_round_trip_and_buffers():
    a = DendriticLayer(30, 4, 2, 5, seed=1)
    b = DendriticLayer(30, 4, 2, 5, seed=99)
    assert not torch.equal(a.indices, b.indices)
    sd = a.state_dict()
    assert "indices" in sd and sd["indices"].dtype == torch.int64
    b.load_state_dict(sd)
    x = torch.rand(3, 30)
    assert torch.equal(a(x), b(x))
    assert "indices" in dict(a.named_buffers())
    a2 = a.to(torch.float64)
    assert a2.indices.dtype == torch.int64  # buffers of ints keep their dtype


def test_reset_parameters_and_repr():
    layer = DendriticLayer(30, 4, 2, 5, seed=1)
    w = layer.dendrite_weight.detach().clone()
    with torch.no_grad():
        layer.dendrite_weight.zero_()
    layer.reset_parameters()
    assert torch.equal(layer.dendrite_weight, w)
    r = repr(layer)
    assert "n_somata=4" in r and "synapses=5" in r and "sampling='random'" in r


def test_input_checks():
    layer = DendriticLayer(30, 4, 2, 5)
    with pytest.raises(ValueError, match="30 input features"):
        layer(torch.rand(2, 31))
    with pytest.raises(ValueError, match="synapses"):
        DendriticLayer(10, 2, 2, 11)


@pytest.mark.skipif(not hasattr(torch, "compile"), reason="torch.compile not available")
def test_torch_compile_tiny_layer():
    # ~15 s on CPU: inductor compiles C++ for the layer
    layer = DendriticLayer(16, 3, 2, 4, seed=0)
    compiled = torch.compile(layer)
    x = torch.rand(4, 16)
    assert torch.allclose(compiled(x), layer(x), atol=1e-6)
    compiled(x).sum().backward()
    assert layer.dendrite_weight.grad is not None
