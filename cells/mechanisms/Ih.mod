TITLE Ih: hyperpolarisation-activated cation current (HCN)

COMMENT
HCN current of layer 5 pyramidal neurons, Kole, Hallermann & Stuart (2006, J Neurosci
26:1677), in the form used by Hay et al. (2011, PLoS Comput Biol 7:e1002107):
  g = gbar * m,  ihcn = g * (v - ehcn),  ehcn = -45 mV
  alpha = 0.00643 (v+154.9) / (exp((v+154.9)/11.9) - 1)   (1/ms)
  beta  = 0.193 exp(v/33.1)                              (1/ms)
Kole et al. measured at 33-35 degC and Hay et al. apply no temperature correction, so
q10 = 1 by default (tref = 34 degC).
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gbar, g, ehcn, ihcn
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
    ehcn = -45 (mV)
    q10 = 1
    tref = 34 (degC)
}

ASSIGNED {
    v (mV)
    ihcn (mA/cm2)
    g (S/cm2)
    celsius (degC)
    minf
    mtau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * m
    ihcn = g * (v - ehcn)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
}

INITIAL {
    rates(v)
    m = minf
}

FUNCTION efun(x, k) {
    if (fabs(x / k) < 1e-6) {
        efun = k * (1 + x / (2 * k))
    } else {
        efun = x / (1 - exp(-x / k))
    }
}

PROCEDURE rates(v (mV)) {
    LOCAL qt, a, b
    UNITSOFF
    qt = q10 ^ ((celsius - tref) / 10)
    a = 0.00643 * efun(-(v + 154.9), 11.9)
    b = 0.193 * exp(v / 33.1)
    minf = a / (a + b)
    mtau = 1 / ((a + b) * qt)
    UNITSON
}
