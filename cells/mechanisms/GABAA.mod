TITLE GABAA: dual-exponential synaptic conductance, normalised to its peak

COMMENT
g(t) = sum over events k of w_k * f * (exp(-(t-t_k)/tau_decay) - exp(-(t-t_k)/tau_rise)),
f = 1 / (exp(-tp/tau_decay) - exp(-tp/tau_rise)),  tp = tau_rise tau_decay / (tau_decay - tau_rise) ln(tau_decay/tau_rise),
so that one event of NetCon weight w (uS) has peak conductance w; events superpose linearly.
i = g * (v - e).
Defaults: tau_rise 0.5 ms, tau_decay 7 ms, e -80 mV: GABA-A IPSCs of
neocortical/hippocampal pyramidal cells (e.g. Salin & Prince 1996, J Neurophysiol 75:1573;
values as used in Poirazi, Brannon & Mel 2003, Neuron 37:977).
Set tau_rise/tau_decay before finitialize (f is computed in INITIAL; tau_rise is kept below
0.999 tau_decay).
Written for this project.
ENDCOMMENT

NEURON {
    POINT_PROCESS GABAA
    RANGE tau_rise, tau_decay, e, g, i
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau_rise = 0.5 (ms)
    tau_decay = 7.0 (ms)
    e = -80 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
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
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = d - r
    i = g * (v - e)
}

DERIVATIVE states {
    r' = -r / tau_rise
    d' = -d / tau_decay
}

NET_RECEIVE(weight (uS)) {
    r = r + weight * factor
    d = d + weight * factor
}
