TITLE NaCA1: CA1 Na current with slow (cumulative) inactivation

COMMENT
Na current of Migliore, Hoffman, Magee & Johnston (1999, J Comput Neurosci 7:5), used in the
CA1 model of Poirazi, Brannon & Mel (2003, Neuron 37:977):
  g = gbar * m^3 * h * s,  ina = g * (v - ena)
  trap(v, th, a, q) = a (v - th) / (1 - exp(-(v - th)/q))
  m: alpha = trap(v, -30, 0.4, 7.2), beta = trap(-v, 30, 0.124, 7.2)
     minf = alpha/(alpha+beta), mtau = max(1/((alpha+beta) qt), 0.02 ms)
  h: alpha = trap(v, -45, 0.03, 1.5), beta = trap(-v, 45, 0.01, 1.5)
     hinf = 1/(1 + exp((v+50)/4)),   htau = max(1/((alpha+beta) qt), 0.5 ms)
  s (slow inactivation, Colbert et al. 1997 / Jung et al. 1997):
     c = 1/(1 + exp((v+58)/2)),  sinf = c + ar (1 - c)
     taus = max(exp(zs gms (v-vhs) F/RT) / (a0s (1 + exp(zs (v-vhs) F/RT))), 10 ms)
     zs = 12, gms = 0.2, vhs = -60 mV, a0s = 0.0003 /ms
  qt = 2^((celsius - 24)/10) (m and h only).
ar = 1 removes slow inactivation; Migliore et al. / Poirazi et al. use ar < 1 in dendrites.
Written for this project from the published equations.
ENDCOMMENT

NEURON {
    SUFFIX NaCA1
    USEION na READ ena WRITE ina
    RANGE gbar, g, ina, ar
    RANGE minf, mtau, hinf, htau, sinf, taus  : gate steady states and time constants, read by tests/test_brian2_kinetics.py
    GLOBAL q10, tref
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.01 (S/cm2)
    ar = 1
    q10 = 2
    tref = 24 (degC)
    tha = -30 (mV)
    qa = 7.2 (mV)
    Ra = 0.4 (/ms)
    Rb = 0.124 (/ms)
    thi1 = -45 (mV)
    thi2 = -45 (mV)
    qd = 1.5 (mV)
    qg = 1.5 (mV)
    Rd = 0.03 (/ms)
    Rg = 0.01 (/ms)
    thinf = -50 (mV)
    qinf = 4 (mV)
    mmin = 0.02 (ms)
    hmin = 0.5 (ms)
    vhalfs = -60 (mV)
    a0s = 0.0003 (/ms)
    zetas = 12
    gms = 0.2
    smax = 10 (ms)
    vvh = -58 (mV)
    vvs = 2 (mV)
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
    sinf
    taus (ms)
}

STATE { m h s }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * m * m * m * h * s
    ina = g * (v - ena)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
    s' = (sinf - s) / taus
}

INITIAL {
    rates(v)
    m = minf
    h = hinf
    s = sinf
}

FUNCTION trap(x, th, a, q) {
    : a (x - th) / (1 - exp(-(x - th)/q)), with its limit a q at x = th
    if (fabs((x - th) / q) < 1e-6) {
        trap = a * q * (1 + (x - th) / (2 * q))
    } else {
        trap = a * (x - th) / (1 - exp(-(x - th) / q))
    }
}

PROCEDURE rates(v (mV)) {
    LOCAL qt, a, b, c, frt
    UNITSOFF
    qt = q10 ^ ((celsius - tref) / 10)
    a = trap(v, tha, Ra, qa)
    b = trap(-v, -tha, Rb, qa)
    minf = a / (a + b)
    mtau = 1 / ((a + b) * qt)
    if (mtau < mmin) { mtau = mmin }
    a = trap(v, thi1, Rd, qd)
    b = trap(-v, -thi2, Rg, qg)
    htau = 1 / ((a + b) * qt)
    if (htau < hmin) { htau = hmin }
    hinf = 1 / (1 + exp((v - thinf) / qinf))
    c = 1 / (1 + exp((v - vvh) / vvs))
    sinf = c + ar * (1 - c)
    frt = 1e-3 * 9.648e4 / (8.315 * (273.16 + celsius))   : F/RT in 1/mV
    taus = exp(zetas * gms * (v - vhalfs) * frt) / (a0s * (1 + exp(zetas * (v - vhalfs) * frt)))
    if (taus < smax) { taus = smax }
    UNITSON
}
