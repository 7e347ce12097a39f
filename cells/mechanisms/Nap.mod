TITLE Nap: persistent Na current

COMMENT
Persistent Na current after Magistretti & Alonso (1999, J Gen Physiol 114:491), in the form
used by Hay et al. (2011, PLoS Comput Biol 7:e1002107):
  g = gbar * m^3 * h
  minf = 1 / (1 + exp(-(v+52.6)/4.6)),  mtau = 6 / (alpha_m + beta_m) with the NaTa rates
         alpha_m = 0.182 (v+38)/(1-exp(-(v+38)/6)), beta_m = 0.124 (-(v+38))/(1-exp((v+38)/6))
  hinf = 1 / (1 + exp((v+48.8)/10))
  htau = 1 / (alpha_h + beta_h), alpha_h = 2.88e-6 (-(v+17))/(1-exp((v+17)/4.63)),
                                 beta_h  = 6.94e-6 (v+64.4)/(1-exp(-(v+64.4)/2.63))
  rates at 21 degC, q10 = 2.3.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX Nap
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
    minf = 1 / (1 + exp(-(v + 52.6) / 4.6))
    a = 0.182 * efun(v + 38, 6)
    b = 0.124 * efun(-(v + 38), 6)
    mtau = 6 / ((a + b) * qt)
    hinf = 1 / (1 + exp((v + 48.8) / 10))
    a = 2.88e-6 * efun(-(v + 17), 4.63)
    b = 6.94e-6 * efun(v + 64.4, 2.63)
    htau = 1 / ((a + b) * qt)
    UNITSON
}
