"""Constants every experiment shares (one value each)."""
from __future__ import annotations

SOMA = (0, 0.5)          # branch 0 is the soma (cells.morphology); its centre

# Stimuli start here. Every cell is integrated to rest before t = 0 (cells.contract: the
# settle step), so a short baseline is enough; 5 ms keeps the many short synaptic runs of
# a characterization cheap. (Before the redesign, validation used 20 ms.)
STIMULUS_START_MS = 5.0

# With a holding current the cell first settles to the new level: the holding current is
# on from t = 0 and the test step starts this much later (Hay et al. 2011's f-I protocol
# holds at -0.126 nA before its steps).
HOLDING_SETTLE_MS = 300.0

INACTIVE_MS = 1e9        # an event time after the end of every run: a synapse kept silent
