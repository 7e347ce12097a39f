TITLE KADist: distal (> 100 um from the soma) A-type K current of CA1 dendrites

COMMENT
A-type K current of Migliore, Hoffman, Magee & Johnston (1999, J Comput Neurosci 7:5), from
the recordings of Hoffman, Magee, Colbert & Johnston (1997, Nature 387:869); used in the CA1
model of Poirazi, Brannon & Mel (2003, Neuron 37:977). distal (> 100 um from the soma) kinetics:
  g = gbar * n * l,  ik = g * (v - ek)
  zeta(v) = zn + pw / (1 + exp((v - tq)/qq)),  pw = -1, tq = -40 mV, qq = 5 mV
  alpha_n = exp(zeta (v - vhn) F/RT),  beta_n = exp(zeta gmn (v - vhn) F/RT)
  ninf = 1/(1 + alpha_n),  ntau = max(beta_n / (qt a0n (1 + alpha_n)), 0.1 ms)
  alpha_l = exp(zl (v - vhl) F/RT),   linf = 1/(1 + alpha_l)
  ltau = max(0.26 (v + 50) ms/mV, 2 ms)
  vhn = -1 mV, a0n = 0.1 /ms, zn = -1.8, gmn = 0.39, vhl = -56 mV, zl = 3,
  qt = 5^((celsius - 24)/10) (activation only).
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX KADist
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
    RANGE ninf, ntau, linf, ltau  : gate steady states and time constants, read by tests/test_brian2_kinetics.py
    GLOBAL q10, tref
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.008 (S/cm2)
    q10 = 5
    tref = 24 (degC)
    vhalfn = -1 (mV)
    vhalfl = -56 (mV)
    a0n = 0.1 (/ms)
    zetan = -1.8
    zetal = 3
    gmn = 0.39
    pw = -1
    tq = -40 (mV)
    qq = 5 (mV)
    nmin = 0.1 (ms)
    lmin = 2 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    celsius (degC)
    ninf
    ntau (ms)
    linf
    ltau (ms)
}

STATE { n l }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * n * l
    ik = g * (v - ek)
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / ntau
    l' = (linf - l) / ltau
}

INITIAL {
    rates(v)
    n = ninf
    l = linf
}

PROCEDURE rates(v (mV)) {
    LOCAL qt, a, b, zeta, frt
    UNITSOFF
    qt = q10 ^ ((celsius - tref) / 10)
    frt = 1e-3 * 9.648e4 / (8.315 * (273.16 + celsius))
    zeta = zetan + pw / (1 + exp((v - tq) / qq))
    a = exp(zeta * (v - vhalfn) * frt)
    b = exp(zeta * gmn * (v - vhalfn) * frt)
    ninf = 1 / (1 + a)
    ntau = b / (qt * a0n * (1 + a))
    if (ntau < nmin) { ntau = nmin }
    a = exp(zetal * (v - vhalfl) * frt)
    linf = 1 / (1 + a)
    ltau = 0.26 * (v + 50)
    if (ltau < lmin) { ltau = lmin }
    UNITSON
}
