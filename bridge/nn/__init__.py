"""Trainable dendritic layers (PyTorch), after Chavlis & Poirazi 2025 (Nat Commun 16:943).

Structured connectivity (each dendrite belongs to one soma), restricted input sampling
(each dendrite sees `synapses` inputs), weights stored only for real connections, and
dendritic nonlinearities that are either leaky ReLU or transfer functions fitted from
detailed cells (`bridge fit` units files). `bridge.nn.spiking`: the same layers with
leaky integrate-and-fire somata, trained with surrogate gradients. `bridge.nn.temporal`,
`temporal_nets`: whole-cell temporal models (hLN, LN, TCN, ELM) fitted to a detailed cell's
response to in-vivo-like input, with `temporal_metrics` and `temporal_training`;
`temporal_units`: those models in a units file (`temporal_neuron(path)` reads one back).

Never imports NEURON or brian2.
"""
from bridge.nn.connectivity import SAMPLING_MODES, make_connectivity
from bridge.nn.layers import DendriticLayer, MaskedDenseDendriticLayer
from bridge.nn.models import (MODEL_NAMES, VANN, DendriticNet, count_parameters, dann_param_count,
                              make_model, vann_param_count)
from bridge.nn.nonlinearities import FittedTransfer, make_nonlinearity
from bridge.nn.spiking import (SPIKING_MODEL_NAMES, LIFLayer, LIFSomata, SpikingDendriticLayer, SpikingNet,
                               make_spiking_model, spike)
from bridge.nn.temporal import HierarchicalLN, PointLN, transfer_from_units
from bridge.nn.temporal_nets import BranchELMNeuron, ELMNeuron, TCNNeuron
from bridge.nn.temporal_metrics import roc_auc, temporal_metrics, tpr_at_fpr
from bridge.nn.temporal_training import TemporalData, fit_temporal, predict_temporal
from bridge.nn.temporal_units import temporal_models, temporal_neuron
from bridge.nn.units import load_units

__all__ = [
    "SAMPLING_MODES", "make_connectivity", "DendriticLayer", "MaskedDenseDendriticLayer",
    "MODEL_NAMES", "VANN", "DendriticNet", "count_parameters", "dann_param_count", "make_model",
    "vann_param_count", "FittedTransfer", "make_nonlinearity", "load_units",
    "SPIKING_MODEL_NAMES", "LIFLayer", "LIFSomata", "SpikingDendriticLayer", "SpikingNet", "make_spiking_model",
    "spike",
    "HierarchicalLN", "PointLN", "transfer_from_units", "TCNNeuron", "ELMNeuron", "BranchELMNeuron",
    "temporal_metrics", "roc_auc", "tpr_at_fpr", "TemporalData", "fit_temporal", "predict_temporal",
    "temporal_neuron", "temporal_models",
]
