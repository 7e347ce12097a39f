TITLE KdrCA1: CA1 delayed rectifier K current

COMMENT
Delayed rectifier of Migliore, Hoffman, Magee & Johnston (1999, J Comput Neurosci 7:5), used
in the CA1 model of Poirazi, Brannon & Mel (2003, Neuron 37:977):
  g = gbar * n,  ik = g * (v - ek)
  alpha = exp(zn (v - vhn) F/RT),  beta = exp(zn gmn (v - vhn) F/RT)
  ninf = 1 / (1 + alpha),  ntau = max(beta / (qt a0n (1 + alpha)), 2 ms)
  zn = -3, gmn = 0.7, vhn = 13 mV, a0n = 0.02 /ms, qt = q10^((celsius-24)/10) with q10 = 1.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX KdrCA1
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
    RANGE ninf, ntau  : gate steady states and time constants, read by tests/test_brian2_kinetics.py
    GLOBAL q10, tref
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.003 (S/cm2)
    q10 = 1
    tref = 24 (degC)
    vhalfn = 13 (mV)
    a0n = 0.02 (/ms)
    zetan = -3
    gmn = 0.7
    nmax = 2 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    celsius (degC)
    ninf
    ntau (ms)
}

STATE { n }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * n
    ik = g * (v - ek)
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / ntau
}

INITIAL {
    rates(v)
    n = ninf
}

PROCEDURE rates(v (mV)) {
    LOCAL qt, a, b, frt
    UNITSOFF
    qt = q10 ^ ((celsius - tref) / 10)
    frt = 1e-3 * 9.648e4 / (8.315 * (273.16 + celsius))
    a = exp(zetan * (v - vhalfn) * frt)
    b = exp(zetan * gmn * (v - vhalfn) * frt)
    ninf = 1 / (1 + a)
    ntau = b / (qt * a0n * (1 + a))
    if (ntau < nmax) { ntau = nmax }
    UNITSON
}
