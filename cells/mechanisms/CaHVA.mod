TITLE CaHVA: high-voltage-activated Ca current

COMMENT
HVA Ca current of Reuveni, Friedman, Amitai & Gutnick (1993, J Neurosci 13:4609), in the
form used by Hay et al. (2011, PLoS Comput Biol 7:e1002107):
  g = gbar * m^2 * h,  ica = g * (v - eca)
  m: alpha = 0.055 (-27-v) / (exp((-27-v)/3.8) - 1),  beta = 0.94 exp((-75-v)/17)
  h: alpha = 0.000457 exp((-13-v)/50),               beta = 0.0065 / (exp((-15-v)/28) + 1)
Hay et al. apply no temperature correction: q10 = 1 by default (tref = 34 degC).
eca follows cai (written by CaDyn) through the Nernst equation.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX CaHVA
    USEION ca READ eca WRITE ica
    RANGE gbar, g, ica
    RANGE minf, mtau, hinf, htau  : gate steady states and time constants, read by tests/test_brian2_kinetics.py
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
    eca (mV)
    ica (mA/cm2)
    g (S/cm2)
    celsius (degC)
    minf
    mtau (ms)
    hinf
    htau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * m * m * h
    ica = g * (v - eca)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
}

INITIAL {
    rates(v)
    m = minf
    h = hinf
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
    a = 0.055 * efun(v + 27, 3.8)
    b = 0.94 * exp((-75 - v) / 17)
    minf = a / (a + b)
    mtau = 1 / ((a + b) * qt)
    a = 0.000457 * exp((-13 - v) / 50)
    b = 0.0065 / (exp((-15 - v) / 28) + 1)
    hinf = a / (a + b)
    htau = 1 / ((a + b) * qt)
    UNITSON
}
