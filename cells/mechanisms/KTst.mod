TITLE KTst: fast inactivating (transient) K current

COMMENT
Fast inactivating K current of Korngreen & Sakmann (2000, J Physiol 525:621), as used by
Hay et al. (2011, PLoS Comput Biol 7:e1002107), including their +10 mV shift of the
voltage dependence (vshift; the rate functions are evaluated at u = v + vshift):
  g = gbar * m^4 * h
  minf = 1 / (1 + exp(-u/19)),          mtau = 0.34 + 0.92 exp(-((u+71)/59)^2)   (ms)
  hinf = 1 / (1 + exp((u+66)/10)),      htau = 8 + 49 exp(-((u+73)/23)^2)        (ms)
  time constants at 21 degC, q10 = 2.3.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX KTst
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
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
    ek (mV)
    ik (mA/cm2)
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
    g = gbar * m * m * m * m * h
    ik = g * (v - ek)
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
    minf = 1 / (1 + exp(-u / 19))
    mtau = (0.34 + 0.92 * exp(-((u + 71) / 59) ^ 2)) / qt
    hinf = 1 / (1 + exp((u + 66) / 10))
    htau = (8 + 49 * exp(-((u + 73) / 23) ^ 2)) / qt
    UNITSON
}
