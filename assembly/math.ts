// e^x and ln x for LRN's powers other than 0.75, computed in f64 and rounded once to f32: within an ulp of the
// exact value. AssemblyScript's Mathf.exp and Mathf.log are table-driven and faster, but their tables and code
// took 2.5 % of every build.

const LN2: f64 = 0.6931471805599453;
const LOG2E: f64 = 1.4426950408889634;
const SQRT2: f64 = 1.4142135623730951;

/**
 * e^x = 2ⁿ · e^r with n = round(x / ln 2) and |r| ≤ ln 2 / 2, e^r by its Taylor series to r⁸ (the rest is below
 * 1e-9 of it). |x| is capped at 200, beyond f32's range either way, so that 2ⁿ is a normal f64.
 */
export function exp32(x: f32): f32 {
  if (x != x) return x;
  const capped = min<f64>(max<f64>(<f64>x, -200), 200);
  const n = nearest(capped * LOG2E);
  const r = capped - n * LN2;
  let series: f64 = 1.0 / 40320;
  series = series * r + 1.0 / 5040;
  series = series * r + 1.0 / 720;
  series = series * r + 1.0 / 120;
  series = series * r + 1.0 / 24;
  series = series * r + 1.0 / 6;
  series = series * r + 0.5;
  series = series * r + 1;
  series = series * r + 1;
  return <f32>(series * reinterpret<f64>(<i64>(<i32>n + 1023) << 52));
}

/**
 * ln x: x = 2ᵉ · m with m in [√½, √2), and ln m = 2s(1 + s²/3 + s⁴/5 + …) with s = (m − 1)/(m + 1), |s| < 0.172,
 * to s¹⁰/11 (the rest is below 1e-10). ln 0 = −∞; NaN for x < 0 or NaN; +∞ stays.
 */
export function ln32(x: f32): f32 {
  if (!(x > 0 && x < Infinity)) return x > 0 ? x : x == 0 ? -Infinity : NaN;
  const bits = reinterpret<u64>(<f64>x);
  let exponent = <i32>(bits >> 52) - 1023;
  let m = reinterpret<f64>((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
  if (m > SQRT2) {
    m *= 0.5;
    exponent++;
  }
  const s = (m - 1) / (m + 1), s2 = s * s;
  let series: f64 = 1.0 / 11;
  series = series * s2 + 1.0 / 9;
  series = series * s2 + 1.0 / 7;
  series = series * s2 + 1.0 / 5;
  series = series * s2 + 1.0 / 3;
  series = series * s2 + 1;
  return <f32>(<f64>exponent * LN2 + 2 * s * series);
}
