TITLE Im: muscarinic (M-type) K current

COMMENT
M current after Adams, Brown & Constanti (1982, J Physiol 330:537), in the form used by
Hay et al. (2011, PLoS Comput Biol 7:e1002107):
  g = gbar * m
  alpha = 3.3e-3 exp( 0.1 (v+35)),  beta = 3.3e-3 exp(-0.1 (v+35))   (1/ms)
  rates at 21 degC, q10 = 2.3.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX Im
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
    q10 = 2.3
    tref = 21 (degC)
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
    LOCAL qt, a, b
    UNITSOFF
    qt = q10 ^ ((celsius - tref) / 10)
    a = 3.3e-3 * exp(0.1 * (v + 35))
    b = 3.3e-3 * exp(-0.1 * (v + 35))
    minf = a / (a + b)
    mtau = 1 / ((a + b) * qt)
    UNITSON
}
