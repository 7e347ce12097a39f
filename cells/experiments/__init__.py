"""The experiment layer: every stimulus, recording and measurement, defined once.

An experiment runs on one cell through the cell contract (`add_synapses`, `activate`,
`add_step_current`, `add_current_waveform`, `record`, `run`; NEURON and Brian2 alike) and
returns numbers (and its traces, for figures and the simulator comparison). It does not
build or close the cell: the caller decides whether a cell is fresh or reused.

Three consumers, one definition:
- `cells.validation` composes experiments into the validation protocols and compares the
  features with published targets (`bridge validate`);
- `bridge.characterize` runs the same experiments as tasks on a process pool or Dask and
  stores their numbers as datasets (`bridge characterize`);
- `cells.equivalence` runs them in both simulators and compares the traces (`bridge compare`).

Modules
    common    the stimulus onset, the soma site, the silent-synapse time
    features  trace features (spike times, peaks, half-width, dV/dt, tau ...)
    sites     where experiments stimulate and record, chosen from the morphology by rule
    steps     current steps: passive response, firing, steady-state attenuation
    bap       a somatic pulse and the backpropagating AP
    bac       BAC firing (Larkum et al. 1999)
    synaptic  synapses at sites: unitary responses, cumulative sweeps, timing, drive patterns
"""
