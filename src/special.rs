//! Special functions the tape needs for densities beyond the Gaussian (Gamma, Beta, Student-t,
//! Poisson, ...): ln Γ, its derivative ψ (digamma) and ψ' (trigamma), in f64.

use std::f64::consts::PI;

/// ln |Γ(x)|, by the Lanczos approximation (g = 7, nine terms; relative error about 1e-15)
/// for x ≥ ½ and the reflection formula Γ(x) Γ(1 − x) = π / sin(πx) below. +∞ at the poles
/// (0, −1, −2, ...).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 && x == x.floor() {
        return f64::INFINITY;
    }
    if x < 0.5 {
        // ln|Γ(x)| = ln π − ln|sin πx| − ln|Γ(1 − x)|.
        return PI.ln() - (PI * x).sin().abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series = COEFFICIENTS[1..]
        .iter()
        .enumerate()
        .fold(COEFFICIENTS[0], |acc, (i, &c)| {
            acc + c / (x + (i + 1) as f64)
        });
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// ψ(x) = d ln Γ(x) / dx: the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 10, then the
/// asymptotic series; the reflection ψ(1 − x) − ψ(x) = π cot(πx) below 0. NaN at the poles.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || (x <= 0.0 && x == x.floor()) {
        return f64::NAN;
    }
    if x < 0.0 {
        return digamma(1.0 - x) - PI / (PI * x).tan();
    }
    let (mut x, mut shift) = (x, 0.0);
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let r = 1.0 / (x * x);
    // ln x − 1/(2x) − Σ B₂ₖ / (2k x²ᵏ), k = 1..6.
    let series = r
        * (1.0 / 12.0
            - r * (1.0 / 120.0
                - r * (1.0 / 252.0
                    - r * (1.0 / 240.0 - r * (1.0 / 132.0 - r * 691.0 / 32_760.0)))));
    shift + x.ln() - 0.5 / x - series
}

/// ψ'(x), the derivative of [`digamma`]: the recurrence ψ'(x) = ψ'(x + 1) + 1/x² up to x ≥ 10,
/// then the asymptotic series; the reflection ψ'(1 − x) + ψ'(x) = π² / sin²(πx) below 0.
pub fn trigamma(x: f64) -> f64 {
    if x.is_nan() || (x <= 0.0 && x == x.floor()) {
        return f64::NAN;
    }
    if x < 0.0 {
        let s = (PI * x).sin();
        return -trigamma(1.0 - x) + PI * PI / (s * s);
    }
    let (mut x, mut shift) = (x, 0.0);
    while x < 10.0 {
        shift += 1.0 / (x * x);
        x += 1.0;
    }
    let r = 1.0 / (x * x);
    // 1/x + 1/(2x²) + Σ B₂ₖ / x²ᵏ⁺¹, k = 1..5.
    let series =
        r * (1.0 / 6.0 - r * (1.0 / 30.0 - r * (1.0 / 42.0 - r * (1.0 / 30.0 - r * 5.0 / 66.0))));
    shift + 1.0 / x + 0.5 * r + series / x
}
