TITLE KPst: slow inactivating (persistent) K current

COMMENT
Persistent K current of Korngreen & Sakmann (2000, J Physiol 525:621), as used by Hay et al.
(2011, PLoS Comput Biol 7:e1002107), including their +10 mV shift (u = v + vshift):
  g = gbar * m^2 * h
  minf = 1 / (1 + exp(-(u+1)/12))
  mtau = 1.25 + 175.03 exp(0.026 u)   for u < -50 mV
         1.25 + 13 exp(-0.026 u)      otherwise                               (ms)
  hinf = 1 / (1 + exp((u+54)/11))
  htau = 360 + (1010 + 24 (u+55)) exp(-((u+75)/48)^2)                       (ms)
  time constants at 21 degC, q10 = 2.3.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX KPst
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
    g = gbar * m * m * h
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
    minf = 1 / (1 + exp(-(u + 1) / 12))
    if (u < -50) {
        mtau = (1.25 + 175.03 * exp(0.026 * u)) / qt
    } else {
        mtau = (1.25 + 13 * exp(-0.026 * u)) / qt
    }
    hinf = 1 / (1 + exp((u + 54) / 11))
    htau = (360 + (1010 + 24 * (u + 55)) * exp(-((u + 75) / 48) ^ 2)) / qt
    UNITSON
}
