TITLE NMDA: dual-exponential NMDA conductance with Mg block (Jahr & Stevens 1990)

COMMENT
g(t) = sum over events k of w_k * f * (exp(-(t-t_k)/tau_decay) - exp(-(t-t_k)/tau_rise)),
normalised (f, as in AMPA.mod) so that one event of NetCon weight w (uS) has peak
conductance w; events superpose linearly.
Mg block (Jahr & Stevens 1990, J Neurosci 10:3178):
  B(v) = 1 / (1 + mg/3.57 mM * exp(-0.062 /mV * v)),   i = g * B * (v - e)
Defaults: tau_rise 2 ms, tau_decay 50 ms (NMDA kinetics in the range 30-70 ms used for
dendritic NMDA spikes by Poirazi, Brannon & Mel 2003, Neuron 37:977, and Hay & Segev 2015,
Cereb Cortex 25:3561; Major et al. 2008, J Neurophysiol 99:2584), e 0 mV, mg 1 mM.
Set tau_rise/tau_decay before finitialize (f is computed in INITIAL).
Written for this project.
ENDCOMMENT

NEURON {
    POINT_PROCESS NMDA
    RANGE tau_rise, tau_decay, e, mg, g, B, i
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
    (mM) = (milli/liter)
}

PARAMETER {
    tau_rise = 2 (ms)
    tau_decay = 50 (ms)
    e = 0 (mV)
    mg = 1 (mM)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    B
    factor
}

STATE {
    r (uS)
    d (uS)
}

INITIAL {
    LOCAL tp
    if (tau_rise / tau_decay > 0.999) {
        tau_rise = 0.999 * tau_decay
    }
    tp = (tau_rise * tau_decay) / (tau_decay - tau_rise) * log(tau_decay / tau_rise)
    factor = 1 / (exp(-tp / tau_decay) - exp(-tp / tau_rise))
    r = 0
    d = 0
    g = 0
    B = mgblock(v)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = d - r
    B = mgblock(v)
    i = g * B * (v - e)
}

DERIVATIVE states {
    r' = -r / tau_rise
    d' = -d / tau_decay
}

FUNCTION mgblock(v (mV)) {
    UNITSOFF
    mgblock = 1 / (1 + mg / 3.57 * exp(-0.062 * v))
    UNITSON
}

NET_RECEIVE(weight (uS)) {
    r = r + weight * factor
    d = d + weight * factor
}
