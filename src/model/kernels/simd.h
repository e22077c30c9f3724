// Shared by the wasm kernels: SIMD shorthands and e^x. Header-only (static inline), so each
// kernel file compiles on its own.
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))
typedef v128_t f4;

#define splat wasm_f32x4_splat
#define add wasm_f32x4_add
#define sub wasm_f32x4_sub
#define mul wasm_f32x4_mul
#define load(p) wasm_v128_load(p)
#define store(p, v) wasm_v128_store(p, v)

static inline float hsum(f4 v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

// e^x to ~1 ulp over float's range: x = n·ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor
// polynomial (error < 2e-8 relative), 2^n built in the exponent bits. Cephes' split of ln2.
static inline f4 exp4(f4 x) {
  x = wasm_f32x4_min(wasm_f32x4_max(x, splat(-87.3f)), splat(88.3f));
  f4 n = wasm_f32x4_nearest(mul(x, splat(1.44269504088896341f)));
  f4 r = sub(sub(x, mul(n, splat(0.693359375f))), mul(n, splat(-2.12194440e-4f)));
  f4 p = splat(1.f / 5040);
  p = add(mul(p, r), splat(1.f / 720));
  p = add(mul(p, r), splat(1.f / 120));
  p = add(mul(p, r), splat(1.f / 24));
  p = add(mul(p, r), splat(1.f / 6));
  p = add(mul(p, r), splat(0.5f));
  p = add(mul(p, r), splat(1.f));
  p = add(mul(p, r), splat(1.f));
  f4 scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return mul(p, scale);
}

static inline float exp1(float x) { return wasm_f32x4_extract_lane(exp4(splat(x)), 0); }

// GPT-2's gelu_new, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as x·σ(u) with u = c1·x + c3·x³
// (the same function; see transformer.ts).
#define GELU_C1 1.5957691216057308f
#define GELU_C3 0.07135481627159927f

static inline f4 gelu_u4(f4 x) { return mul(x, add(splat(GELU_C1), mul(splat(GELU_C3), mul(x, x)))); }

static inline f4 gelu4(f4 x) { return wasm_f32x4_div(x, add(splat(1.f), exp4(wasm_f32x4_neg(gelu_u4(x))))); }

// a·b over n floats (n a multiple of 4).
static inline float dot(const float *a, const float *b, int n) {
  f4 s = splat(0);
  for (int i = 0; i < n; i += 4) s = add(s, mul(load(a + i), load(b + i)));
  return hsum(s);
}

// The four sums of a0..a3's lanes, as one vector (a 4×4 transpose-and-add).
static inline f4 sums4(f4 a0, f4 a1, f4 a2, f4 a3) {
  f4 s01 = add(wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7));
  f4 s23 = add(wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5), wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7));
  return add(wasm_i32x4_shuffle(s01, s23, 0, 1, 4, 5), wasm_i32x4_shuffle(s01, s23, 2, 3, 6, 7));
}

// out_r[j] = x_r·rows[j]·scale for two vectors x_0, x_1 and j = 0..last, rows `stride` floats
// apart: each row of keys is loaded once for both, four keys at a time.
static inline void dots2(const float *x0, const float *x1, const float *rows, int stride, int last, int hs, float scale, float *out0, float *out1) {
  int j = 0;
  for (; j + 3 <= last; j += 4) {
    const float *k0 = rows + j * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
    f4 a0 = splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int d = 0; d < hs; d += 4) {
      f4 u = load(x0 + d), v = load(x1 + d), w0 = load(k0 + d), w1 = load(k1 + d), w2 = load(k2 + d), w3 = load(k3 + d);
      a0 = add(a0, mul(u, w0)), a1 = add(a1, mul(u, w1)), a2 = add(a2, mul(u, w2)), a3 = add(a3, mul(u, w3));
      b0 = add(b0, mul(v, w0)), b1 = add(b1, mul(v, w1)), b2 = add(b2, mul(v, w2)), b3 = add(b3, mul(v, w3));
    }
    store(out0 + j, mul(sums4(a0, a1, a2, a3), splat(scale)));
    store(out1 + j, mul(sums4(b0, b1, b2, b3), splat(scale)));
  }
  for (; j <= last; j++) out0[j] = dot(x0, rows + j * stride, hs) * scale, out1[j] = dot(x1, rows + j * stride, hs) * scale;
}

// LayerNorm of one row x (C floats, any C): its mean, then rstd = 1/√(var + eps), then
// y = (x − mean)·rstd·g + b. Population variance, as transformer.ts. C4: C rounded down to
// whole vectors.
static inline float row_mean(const float *x, int C) {
  const int C4 = C & ~3;
  f4 s = splat(0);
  for (int c = 0; c < C4; c += 4) s = add(s, load(x + c));
  float sum = hsum(s);
  for (int c = C4; c < C; c++) sum += x[c];
  return sum / C;
}

static inline float row_rstd(const float *x, int C, float m, float eps) {
  const int C4 = C & ~3;
  f4 q = splat(0);
  for (int c = 0; c < C4; c += 4) {
    f4 d = sub(load(x + c), splat(m));
    q = add(q, mul(d, d));
  }
  float sq = hsum(q);
  for (int c = C4; c < C; c++) sq += (x[c] - m) * (x[c] - m);
  return 1.f / __builtin_sqrtf(sq / C + eps);
}

static inline void normalize_row(const float *x, int C, float m, float rs, const float *g, const float *b, float *y) {
  const int C4 = C & ~3;
  for (int c = 0; c < C4; c += 4) store(y + c, add(mul(mul(sub(load(x + c), splat(m)), splat(rs)), load(g + c)), load(b + c)));
  for (int c = C4; c < C; c++) y[c] = (x[c] - m) * rs * g[c] + b[c];
}

// Softmax in place over p[0..last].
static inline void softmax_row(float *p, int last) {
  float max = p[0];
  for (int j = 1; j <= last; j++) max = p[j] > max ? p[j] : max;
  f4 acc = splat(0);
  int j = 0;
  for (; j + 3 <= last; j += 4) {
    f4 e = exp4(sub(load(p + j), splat(max)));
    store(p + j, e);
    acc = add(acc, e);
  }
  float sum = hsum(acc);
  for (; j <= last; j++) sum += p[j] = exp1(p[j] - max);
  const f4 inv = splat(1.f / sum);
  for (j = 0; j + 3 <= last; j += 4) store(p + j, mul(load(p + j), inv));
  for (; j <= last; j++) p[j] /= sum;
}
