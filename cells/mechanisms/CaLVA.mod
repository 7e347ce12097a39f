TITLE CaLVA: low-voltage-activated (T-type) Ca current

COMMENT
LVA Ca current after Avery & Johnston (1996, J Neurosci 16:5567) and Randall & Tsien (1997,
Neuropharmacology 36:879), in the form used by Hay et al. (2011, PLoS Comput Biol 7:e1002107),
including their +10 mV shift (u = v + vshift):
  g = gbar * m^2 * h,  ica = g * (v - eca)
  minf = 1 / (1 + exp(-(u+30)/6)),    mtau = 5 + 20 / (1 + exp((u+25)/5))    (ms)
  hinf = 1 / (1 + exp((u+80)/6.4)),   htau = 20 + 50 / (1 + exp((u+40)/7))   (ms)
  time constants at 21 degC, q10 = 2.3.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX CaLVA
    USEION ca READ eca WRITE ica
    RANGE gbar, g, ica
    RANGE minf, mtau, hinf, htau  : gate steady states and time constants, read by tests/test_brian2_kinetics.py
    GLOBAL q10, tref, vshift
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
    vshift = 10 (mV)
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

PROCEDURE rates(v (mV)) {
    LOCAL qt, u
    UNITSOFF
    qt = q10 ^ ((celsius - tref) / 10)
    u = v + vshift
    minf = 1 / (1 + exp(-(u + 30) / 6))
    mtau = (5 + 20 / (1 + exp((u + 25) / 5))) / qt
    hinf = 1 / (1 + exp((u + 80) / 6.4))
    htau = (20 + 50 / (1 + exp((u + 40) / 7))) / qt
    UNITSON
}
