import math

import pytest
import torch

from bridge.nn import DendriticLayer, make_connectivity

torch.set_num_threads(1)


@pytest.mark.parametrize("mode", ["random", "local_rf", "global_rf"])
def test_each_dendrite_has_distinct_inputs(mode):
    idx = make_connectivity(mode, 784, 7, 5, 16, input_shape=(28, 28), seed=3)
    assert idx.dtype == torch.int64 and idx.shape == (35, 16)
    assert idx.min() >= 0 and idx.max() < 784
    assert all(len(set(row.tolist())) == 16 for row in idx)


def test_seeded():
    a = make_connectivity("random", 100, 4, 3, 10, seed=1)
    b = make_connectivity("random", 100, 4, 3, 10, seed=1)
    c = make_connectivity("random", 100, 4, 3, 10, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_all_mode():
    idx = make_connectivity("all", 20, 3, 2, None)
    assert idx.shape == (6, 20) and torch.equal(idx[4], torch.arange(20))
    with pytest.raises(ValueError):
        make_connectivity("all", 20, 3, 2, 5)


def test_local_rf_is_the_nearest_pixels():
    h, w, syn = 12, 10, 9
    idx, info = make_connectivity("local_rf", h * w, 6, 4, syn, input_shape=(h, w), seed=5, return_centres=True)
    rows = torch.arange(h * w) // w
    cols = torch.arange(h * w) % w
    for k in range(idx.shape[0]):
        r, c = info["dendrite_centres"][k].tolist()
        d2 = (rows - r) ** 2 + (cols - c) ** 2
        chosen = torch.zeros(h * w, dtype=torch.bool)
        chosen[idx[k]] = True
        # every chosen pixel is at least as near as every unchosen one
        assert d2[chosen].max() <= d2[~chosen].min()
        # bounded: the syn nearest pixels lie within 2*sqrt(syn) (even in a corner)
        assert math.sqrt(d2[chosen].max()) <= 2 * math.sqrt(syn)


def test_global_rf_dendrites_of_a_soma_near_its_centre():
    S, D, syn, spread = 10, 6, 8, 3
    idx, info = make_connectivity("global_rf", 784, S, D, syn, input_shape=(28, 28), seed=2,
                                  rf_spread=spread, return_centres=True)
    bound = spread * math.sqrt(2) + 2 * math.sqrt(syn)
    for s in range(S):
        r0, c0 = info["soma_centres"][s].tolist()
        pix = idx[s * D:(s + 1) * D].reshape(-1)
        dist = torch.sqrt(((pix // 28 - r0) ** 2 + (pix % 28 - c0) ** 2).double())
        assert dist.max() <= bound
        dc = info["dendrite_centres"][s * D:(s + 1) * D]
        assert (dc - torch.tensor([r0, c0])).abs().max() <= spread


def test_each_soma_only_its_own_dendrites():
    layer = DendriticLayer(50, 4, 3, 5, seed=0)
    _, w2 = layer.dense_weights()
    # soma j is connected exactly to dendrites 3j..3j+2
    expected = torch.block_diag(*[torch.ones(1, 3)] * 4).bool()
    assert torch.equal(w2 != 0, expected)
    w1, _ = layer.dense_weights()
    assert torch.equal((w1 != 0).sum(1), torch.full((12,), 5))


def test_receptive_fields_need_an_image_shape():
    with pytest.raises(ValueError, match="input_shape"):
        make_connectivity("local_rf", 50, 2, 2, 4)
    make_connectivity("local_rf", 49, 2, 2, 4)  # square: inferred
