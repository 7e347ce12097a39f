TITLE Kv3: fast non-inactivating delayed rectifier (Kv3.1)

COMMENT
Kv3.1 current from Rettig et al. (1992, EMBO J 11:2473), in the form used by Hay et al.
(2011, PLoS Comput Biol 7:e1002107):
  g = gbar * m
  minf = 1 / (1 + exp(-(v-18.7)/9.7))
  mtau = 4 / (1 + exp(-(v+46.56)/44.14))   (ms)
Hay et al. fitted these kinetics for 34 degC and give no temperature correction; q10 is
therefore 1 by default (tref = 34 degC), so celsius has no effect unless q10 is changed.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX Kv3
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
    RANGE minf, mtau  : gate steady states and time constants, read by tests/test_brian2_kinetics.py
    GLOBAL q10, tref
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
    q10 = 1
    tref = 34 (degC)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    celsius (degC)
    minf
    mtau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * m
    ik = g * (v - ek)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
}

INITIAL {
    rates(v)
    m = minf
}

PROCEDURE rates(v (mV)) {
    LOCAL qt
    UNITSOFF
    qt = q10 ^ ((celsius - tref) / 10)
    minf = 1 / (1 + exp(-(v - 18.7) / 9.7))
    mtau = 4 / (1 + exp(-(v + 46.56) / 44.14)) / qt
    UNITSON
}
