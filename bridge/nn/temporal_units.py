"""Temporal neuron models in a units file: module <-> netCDF group, and the loader.

A fitted model is stored as its class name, its constructor's arguments (arrays as
variables ``init.NAME``, the rest as JSON) and its ``state_dict`` (variables ``state.KEY``);
the group layout is `bridge.schema.TEMPORAL_MODEL_ATTRS`. Rebuilding runs the constructor
with the stored arguments, then loads the state strictly, so a module comes back exactly
as it was saved (parameters and buffers), without pickle.

    from bridge.nn import temporal_neuron
    model = temporal_neuron("units.nc", model="hln", condition="control")
    v_mV, spike_logit = model(x)        # x: (batch, time, synapse) spike counts per 1 ms bin
"""
from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np
import torch
import xarray as xr
from torch import nn

from bridge.nn.temporal import HierarchicalLN, PointLN
from bridge.nn.temporal_nets import BranchELMNeuron, ELMNeuron, TCNNeuron

TEMPORAL_CLASSES: dict[str, type[nn.Module]] = {
    c.__name__: c for c in (HierarchicalLN, PointLN, BranchELMNeuron, ELMNeuron, TCNNeuron)}
INPUT_UNITS = "spike counts per dt_ms bin, (batch, time, synapse)"


def temporal_model(class_name: str, kwargs: Mapping) -> nn.Module:
    """A new module of `class_name` (one of :data:`TEMPORAL_CLASSES`) built with `kwargs`."""
    if class_name not in TEMPORAL_CLASSES:
        raise ValueError(f"unknown temporal model class {class_name!r} (known: {', '.join(TEMPORAL_CLASSES)})")
    kwargs = dict(kwargs)
    if "kinetics" in kwargs:   # JSON keys are strings; the synapse classes are integers
        kwargs["kinetics"] = {int(k): [tuple(c) for c in v] for k, v in kwargs["kinetics"].items()}
    return TEMPORAL_CLASSES[class_name](**kwargs)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def model_dataset(module: nn.Module, kwargs: Mapping, attrs: Mapping | None = None) -> xr.Dataset:
    """The units-file group of a fitted `module` built with `kwargs` (its constructor's
    arguments, as passed to :func:`temporal_model`); `attrs` adds model, condition, metrics ..."""
    name = type(module).__name__
    if name not in TEMPORAL_CLASSES:
        raise ValueError(f"{name} is not a temporal model class ({', '.join(TEMPORAL_CLASSES)})")
    arrays = {k: np.asarray(v) for k, v in kwargs.items() if isinstance(v, (np.ndarray, torch.Tensor))}
    rest = {k: _jsonable(v) for k, v in kwargs.items() if k not in arrays}
    data = {}
    for k, a in arrays.items():
        data[f"init.{k}"] = xr.Variable((f"init.{k}_dim0",), a.reshape(-1), {"units": "1"})
    for k, t in module.state_dict().items():
        a = t.detach().cpu().numpy()
        data[f"state.{k}"] = xr.Variable(tuple(f"{k}_dim{i}" for i in range(a.ndim)), a, {"units": "1"})
    n_syn = getattr(module, "n_synapses", None)
    info = {"class_name": name, "constructor_json": json.dumps(rest), "input_units": INPUT_UNITS,
            "n_synapses": int(n_syn if n_syn is not None else -1),
            "n_parameters": int(sum(p.numel() for p in module.parameters() if p.requires_grad))}
    info.update({k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in (attrs or {}).items()
                 if v is not None})
    return xr.Dataset(data, attrs=info)


def model_from_dataset(ds: xr.Dataset, device="cpu") -> nn.Module:
    """Rebuild the module stored in one temporal-model group (strict state load), in eval mode."""
    kwargs = json.loads(str(ds.attrs["constructor_json"]))
    for k in ds.data_vars:
        if str(k).startswith("init."):
            kwargs[str(k)[len("init."):]] = np.asarray(ds[k].values)
    module = temporal_model(str(ds.attrs["class_name"]), kwargs)
    state = {str(k)[len("state."):]: torch.from_numpy(np.array(ds[k].values))
             for k in ds.data_vars if str(k).startswith("state.")}
    # 0-d parameters come back as 0-d arrays; shapes are checked by load_state_dict
    module.load_state_dict(state, strict=True)
    return module.to(device).eval()


def temporal_models(path: str | os.PathLike) -> dict[str, xr.Dataset]:
    """The temporal-model groups of a units file, {"condition/model": dataset} (checked)."""
    from bridge.schema import open_temporal_models

    return open_temporal_models(path)


def temporal_neuron(path: str | os.PathLike, model: str = "hln", condition: str | None = None,
                    device="cpu") -> nn.Module:
    """The fitted temporal neuron `model` of `condition` (default: the file's only or first,
    control preferred) from a units file, ready to run on spike-count input (batch, time, synapse).
    Its group's attributes (held-out metrics, training settings) are on ``module.units_attrs``."""
    from dendritic_errors import InputError

    groups = temporal_models(path)
    if not groups:
        raise InputError(f"{os.fspath(path)}: no temporal models (write them with `bridge fit CHAR.nc --temporal "
                         "-o UNITS.nc`)")
    conds = list(dict.fromkeys(k.split("/")[0] for k in groups))
    if condition is None:
        condition = "control" if "control" in conds else conds[0]
    key = f"{condition}/{model}"
    if key not in groups:
        raise InputError(f"{os.fspath(path)}: no temporal model {key!r} (has {', '.join(groups)})")
    module = model_from_dataset(groups[key], device=device)
    module.units_attrs = dict(groups[key].attrs)
    return module
