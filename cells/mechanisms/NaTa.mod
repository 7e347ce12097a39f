TITLE NaTa: fast inactivating (transient) Na current

COMMENT
Kinetics of Colbert & Pan (2002, Nat Neurosci 5:533), as used for the layer 5 pyramidal
cell of Hay, Hill, Schuermann, Markram & Segev (2011, PLoS Comput Biol 7:e1002107):
  g = gbar * m^3 * h
  m: alpha = 0.182 (v+38) / (1 - exp(-(v+38)/6)),  beta = 0.124 (-(v+38)) / (1 - exp((v+38)/6))
  h: alpha = 0.015 (-(v+66)) / (1 - exp((v+66)/6)),  beta = 0.015 (v+66) / (1 - exp(-(v+66)/6))
  rates recorded at 21 degC, q10 = 2.3.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX NaTa
    USEION na READ ena WRITE ina
    RANGE gbar, g, ina
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
    q10 = 2.3
    tref = 21 (degC)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
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
    g = gbar * m * m * m * h
    ina = g * (v - ena)
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
    : x / (1 - exp(-x/k)), with its limit k at x = 0
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
    a = 0.182 * efun(v + 38, 6)
    b = 0.124 * efun(-(v + 38), 6)
    minf = a / (a + b)
    mtau = 1 / ((a + b) * qt)
    a = 0.015 * efun(-(v + 66), 6)
    b = 0.015 * efun(v + 66, 6)
    hinf = a / (a + b)
    htau = 1 / ((a + b) * qt)
    UNITSON
}
