"""Trainable dendritic layers (PyTorch), after Chavlis & Poirazi 2025 (Nat Commun 16:943).

Structured connectivity (each dendrite belongs to one soma), restricted input sampling
(each dendrite sees `synapses` inputs), weights stored only for real connections, and
dendritic nonlinearities that are either leaky ReLU or transfer functions fitted from
detailed cells (`bridge fit` units files).

Never imports NEURON or brian2.
"""
from bridge.nn.connectivity import SAMPLING_MODES, make_connectivity
from bridge.nn.layers import DendriticLayer, MaskedDenseDendriticLayer
from bridge.nn.models import (MODEL_NAMES, VANN, DendriticNet, count_parameters, dann_param_count,
                              make_model, vann_param_count)
from bridge.nn.nonlinearities import FittedTransfer, make_nonlinearity
from bridge.nn.temporal import HierarchicalLN, PointLN, transfer_from_units
from bridge.nn.temporal_nets import BranchELMNeuron, ELMNeuron, TCNNeuron
from bridge.nn.temporal_metrics import roc_auc, temporal_metrics, tpr_at_fpr
from bridge.nn.temporal_training import TemporalData, fit_temporal, predict_temporal
from bridge.nn.units import load_units

__all__ = [
    "SAMPLING_MODES", "make_connectivity", "DendriticLayer", "MaskedDenseDendriticLayer",
    "MODEL_NAMES", "VANN", "DendriticNet", "count_parameters", "dann_param_count", "make_model",
    "vann_param_count", "FittedTransfer", "make_nonlinearity", "load_units",
    "HierarchicalLN", "PointLN", "transfer_from_units", "TCNNeuron", "ELMNeuron", "BranchELMNeuron",
    "temporal_metrics", "roc_auc", "tpr_at_fpr", "TemporalData", "fit_temporal", "predict_temporal",
]
