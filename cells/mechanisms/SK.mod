TITLE SK: small-conductance Ca-activated K current

COMMENT
SK current after Koehler et al. (1996, Science 273:1709), in the form used by Hay et al.
(2011, PLoS Comput Biol 7:e1002107):
  g = gbar * z,  ik = g * (v - ek)
  zinf = 1 / (1 + (0.00043 mM / cai)^4.8),  ztau = 1 ms
Voltage independent, no temperature correction (as in Hay et al.). A 1e-7 mM floor keeps
zinf defined when cai is zero.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX SK
    USEION ca READ cai
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik, kd, hill, ztau
    RANGE zinf  : gate steady states and time constants, read by tests/test_brian2_kinetics.py
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
    kd = 0.00043 (mM)
    hill = 4.8
    ztau = 1 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    cai (mM)
    g (S/cm2)
    zinf
}

STATE { z }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * z
    ik = g * (v - ek)
}

DERIVATIVE states {
    rates(cai)
    z' = (zinf - z) / ztau
}

INITIAL {
    rates(cai)
    z = zinf
}

PROCEDURE rates(ca (mM)) {
    LOCAL c
    UNITSOFF
    c = ca
    if (c < 1e-7) {
        c = c + 1e-7
    }
    zinf = 1 / (1 + (kd / c) ^ hill)
    UNITSON
}
