TITLE CaDyn: intracellular Ca in a submembrane shell with first-order removal

COMMENT
Ca dynamics as in Hay et al. (2011, PLoS Comput Biol 7:e1002107), after Destexhe et al.
(1994, J Comput Neurosci 1:195):
  d(cai)/dt = -k * ica * gamma / (2 F depth) - (cai - minCai) / decay
gamma: fraction of the Ca influx left free (not buffered), decay: removal time constant
(ms), depth: shell depth (um), minCai: resting Ca (mM). k = 1e4 converts
(mA/cm2) / ((C/mol) um) to mM/ms.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX CaDyn
    USEION ca READ ica WRITE cai
    RANGE gamma, decay, depth, minCai
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulomb)
}

PARAMETER {
    gamma = 0.05
    decay = 80 (ms)
    depth = 0.1 (um)
    minCai = 1e-4 (mM)
}

ASSIGNED {
    ica (mA/cm2)
}

STATE { cai (mM) }

INITIAL {
    cai = minCai
}

BREAKPOINT {
    SOLVE states METHOD cnexp
}

DERIVATIVE states {
    UNITSOFF
    cai' = -10000 * ica * gamma / (2 * FARADAY * depth) - (cai - minCai) / decay
    UNITSON
}
