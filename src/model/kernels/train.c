// Training-time kernels for the wasm backend (registered as TF.js kernels in backend.ts):
// causal attention forward and backward straight from the fused qkv projection, and gelu_new
// forward and backward. In TF.js ops attention took ~800 small matMuls per step plus head
// splits, masks and softmaxes; here each (row, head) is one pass that skips the masked half.
// Same rules as decode.c: pointers into TF.js's memory, no C stack, no static data.
#include "simd.h"

// y_r = Σ_{j<=last} w_r[j]·rows[j] for r = 0, 1 (hs floats, rows `stride` apart); row 1 also
// takes j = last + 1 when `extra`. Sixteen floats of both sums stay in registers per pass.
static void weighted_sums2(const float *w0, const float *w1, const float *rows, int stride, int last, int extra, int hs, float *y0, float *y1) {
  int d = 0;
  for (; d + 16 <= hs; d += 16) {
    f4 a0 = splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const float *r = rows + d;
    for (int j = 0; j <= last; j++, r += stride) {
      f4 u = wasm_v128_load32_splat(w0 + j), v = wasm_v128_load32_splat(w1 + j);
      f4 r0 = load(r), r1 = load(r + 4), r2 = load(r + 8), r3 = load(r + 12);
      a0 = add(a0, mul(u, r0)), a1 = add(a1, mul(u, r1)), a2 = add(a2, mul(u, r2)), a3 = add(a3, mul(u, r3));
      b0 = add(b0, mul(v, r0)), b1 = add(b1, mul(v, r1)), b2 = add(b2, mul(v, r2)), b3 = add(b3, mul(v, r3));
    }
    if (extra) {
      f4 v = wasm_v128_load32_splat(w1 + last + 1);
      b0 = add(b0, mul(v, load(r))), b1 = add(b1, mul(v, load(r + 4))), b2 = add(b2, mul(v, load(r + 8))), b3 = add(b3, mul(v, load(r + 12)));
    }
    store(y0 + d, a0), store(y0 + d + 4, a1), store(y0 + d + 8, a2), store(y0 + d + 12, a3);
    store(y1 + d, b0), store(y1 + d + 4, b1), store(y1 + d + 8, b2), store(y1 + d + 12, b3);
  }
  for (; d < hs; d += 4) {
    f4 a = splat(0), b = a;
    const float *r = rows + d;
    for (int j = 0; j <= last; j++, r += stride) a = add(a, mul(wasm_v128_load32_splat(w0 + j), load(r))), b = add(b, mul(wasm_v128_load32_splat(w1 + j), load(r)));
    if (extra) b = add(b, mul(wasm_v128_load32_splat(w1 + last + 1), load(r)));
    store(y0 + d, a), store(y1 + d, b);
  }
}

// rows[j] += c0[j]·x0 + c1[j]·x1 for j = 0..last, and rows[last + 1] += c1[last + 1]·x1 when
// `extra` (hs floats, rows `stride` apart): the scatter side of the backward pass, two query
// rows per load and store of each key row.
static void scatter2(const float *c0, const float *c1, const float *x0, const float *x1, float *rows, int stride, int last, int extra, int hs) {
  for (int d = 0; d < hs; d += 4) {
    const f4 u = load(x0 + d), v = load(x1 + d);
    float *r = rows + d;
    for (int j = 0; j <= last; j++, r += stride) store(r, add(load(r), add(mul(wasm_v128_load32_splat(c0 + j), u), mul(wasm_v128_load32_splat(c1 + j), v))));
    if (extra) store(r, add(load(r), mul(wasm_v128_load32_splat(c1 + last + 1), v)));
  }
}

// dS = P ⊙ (dP − Σ_j P_j dP_j)·scale in place over dp[0..last] (the softmax's backward).
static void softmax_grad_row(const float *p, float *dp, int last, float scale) {
  f4 acc = splat(0);
  int j = 0;
  for (; j + 3 <= last; j += 4) acc = add(acc, mul(load(p + j), load(dp + j)));
  float pdp = hsum(acc);
  for (; j <= last; j++) pdp += p[j] * dp[j];
  for (j = 0; j + 3 <= last; j += 4) store(dp + j, mul(mul(load(p + j), sub(load(dp + j), splat(pdp))), splat(scale)));
  for (; j <= last; j++) dp[j] = p[j] * (dp[j] - pdp) * scale;
}

/**
 * Causal self-attention of qkv (B·T, 3C) = [q | k | v], H heads of hs = C/H (a multiple of 4):
 * y (B·T, C) with the heads side by side, and the softmax probabilities (B·H, T, T) for the
 * backward pass (entries above the diagonal are left unwritten: they are never read). Query
 * rows go in pairs (a lone last row pairs with itself), so each key and value row is loaded
 * once per pair.
 */
EXPORT("attention_forward")
void attention_forward(const float *qkv, int B, int T, int H, int C, float *y, float *probs) {
  const int hs = C / H, stride = 3 * C;
  const float scale = 1.f / __builtin_sqrtf((float)hs);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      const float *q = qkv + b * T * stride + h * hs, *k = q + C, *v = q + 2 * C;
      float *p = probs + (b * H + h) * T * T;
      for (int i = 0; i < T; i += 2) {
        const int i1 = i + 1 < T ? i + 1 : i; // the pair's second row
        float *p0 = p + i * T, *p1 = p + i1 * T;
        dots2(q + i * stride, q + i1 * stride, k, stride, i1, hs, scale, p0, p1); // p0[i1] is spare room
        softmax_row(p0, i);
        if (i1 > i) softmax_row(p1, i1); // (a lone last row is its own twin)
        weighted_sums2(p0, p1, v, stride, i, i1 > i, hs, y + (b * T + i) * C + h * hs, y + (b * T + i1) * C + h * hs);
      }
    }
}

/**
 * The gradient of attention_forward: dy (B·T, C), its qkv and probs → dqkv (B·T, 3C). `rows`
 * is scratch for 2·T floats.
 */
EXPORT("attention_backward")
void attention_backward(const float *dy, const float *qkv, const float *probs, int B, int T, int H, int C, float *dqkv, float *rows) {
  const int hs = C / H, stride = 3 * C;
  const float scale = 1.f / __builtin_sqrtf((float)hs);
  float *ds0 = rows, *ds1 = rows + T;
  for (int i = 0; i < B * T * stride; i += 4) store(dqkv + i, splat(0));
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      const int at = b * T * stride + h * hs;
      const float *q = qkv + at, *k = q + C, *v = q + 2 * C;
      float *dq = dqkv + at, *dk = dq + C, *dv = dq + 2 * C;
      const float *p = probs + (b * H + h) * T * T;
      for (int i = 0; i < T; i += 2) {
        const int i1 = i + 1 < T ? i + 1 : i, extra = i1 > i;
        const float *p0 = p + i * T, *p1 = p + i1 * T;
        const float *dy0 = dy + (b * T + i) * C + h * hs, *dy1 = dy + (b * T + i1) * C + h * hs;
        dots2(dy0, dy1, v, stride, i1, hs, 1.f, ds0, ds1); // dP_ij = dy_i·v_j
        softmax_grad_row(p0, ds0, i, scale);
        softmax_grad_row(p1, ds1, i1, scale);
        weighted_sums2(ds0, ds1, k, stride, i, extra, hs, dq + i * stride, dq + i1 * stride); // dq_i = Σ_j dS_ij k_j
        // dk_j += Σ_i dS_ij q_i and dv_j += Σ_i P_ij dy_i; a lone last row's twin must add nothing.
        if (!extra) for (int j = 0; j <= i; j++) ds1[j] = 0;
        scatter2(ds0, ds1, q + i * stride, q + i1 * stride, dk, stride, i, extra, hs);
        scatter2(p0, extra ? p1 : ds1, dy0, dy1, dv, stride, i, extra, hs);
      }
    }
}

// s = σ(u) of gelu_new(x) = x·σ(u): what the gradient needs.
static inline f4 gelu_sigmoid4(f4 x) { return wasm_f32x4_div(splat(1.f), add(splat(1.f), exp4(wasm_f32x4_neg(gelu_u4(x))))); }

/**
 * y = gelu_new(x) over n floats; with `s` (not 0), also σ(u) per float for the backward pass,
 * which then needs no exp (it took half of the two kernels' time recomputing it).
 */
EXPORT("gelu_forward")
void gelu_forward(const float *x, float *y, float *s, int n) {
  int i = 0;
  if (s) {
    for (; i + 4 <= n; i += 4) {
      f4 v = load(x + i), g = gelu_sigmoid4(v);
      store(s + i, g), store(y + i, mul(v, g));
    }
    for (; i < n; i++) s[i] = wasm_f32x4_extract_lane(gelu_sigmoid4(splat(x[i])), 0), y[i] = x[i] * s[i];
    return;
  }
  for (; i + 4 <= n; i += 4) store(y + i, gelu4(load(x + i)));
  for (; i < n; i++) y[i] = wasm_f32x4_extract_lane(gelu4(splat(x[i])), 0);
}

// dy·gelu'(x) = dy·(s + x·s·(1 − s)·u'(x)) with s = σ(u), u' = c1 + 3·c3·x².
static inline f4 gelu_grad4(f4 x, f4 s, f4 dy) {
  f4 du = add(splat(GELU_C1), mul(splat(3 * GELU_C3), mul(x, x)));
  return mul(dy, add(s, mul(mul(x, mul(s, sub(splat(1.f), s))), du)));
}

/** dx = dy·gelu_new'(x) over n floats, given gelu_forward's s. */
EXPORT("gelu_backward")
void gelu_backward(const float *x, const float *s, const float *dy, float *dx, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) store(dx + i, gelu_grad4(load(x + i), load(s + i), load(dy + i)));
  for (; i < n; i++) dx[i] = wasm_f32x4_extract_lane(gelu_grad4(splat(x[i]), splat(s[i]), splat(dy[i])), 0);
}

/**
 * out (c) = the sum of the n rows of x (n, c): a bias's gradient. As ones(1, n)·x, XNNPACK
 * repacked the whole of x on every call (5 ms for (1792, 512) here, against 0.3 ms this way).
 */
EXPORT("column_sum")
void column_sum(const float *x, int n, int c, float *out) {
  int j = 0;
  for (; j + 16 <= c; j += 16) { // sixteen columns' sums stay in registers down the rows
    f4 a0 = splat(0), a1 = a0, a2 = a0, a3 = a0;
    for (const float *r = x + j, *end = r + n * c; r < end; r += c) a0 = add(a0, load(r)), a1 = add(a1, load(r + 4)), a2 = add(a2, load(r + 8)), a3 = add(a3, load(r + 12));
    store(out + j, a0), store(out + j + 4, a1), store(out + j + 8, a2), store(out + j + 12, a3);
  }
  for (; j < c; j++) {
    float a = 0;
    for (int i = 0; i < n; i++) a += x[i * c + j];
    out[j] = a;
  }
}

// Tile edge of the transpose: a tile's rows and its transposed rows stay in L1 together.
#define TILE 32

/**
 * y (batch, cols, rows) = x (batch, rows, cols) with the last two axes swapped, in 4×4 SIMD
 * blocks within TILE×TILE tiles. TF.js's own wasm Transpose took ~4 ns an element here.
 */
EXPORT("transpose")
void transpose(const float *x, int batch, int rows, int cols, float *y) {
  for (int b = 0; b < batch; b++, x += rows * cols, y += rows * cols)
    for (int i0 = 0; i0 < rows; i0 += TILE)
      for (int j0 = 0; j0 < cols; j0 += TILE) {
        const int i1 = i0 + TILE < rows ? i0 + TILE : rows, j1 = j0 + TILE < cols ? j0 + TILE : cols;
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
          int j = j0;
          for (; j + 4 <= j1; j += 4) {
            const float *s = x + i * cols + j;
            f4 r0 = load(s), r1 = load(s + cols), r2 = load(s + 2 * cols), r3 = load(s + 3 * cols);
            f4 t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
            f4 t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
            float *d = y + j * rows + i;
            store(d, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
            store(d + rows, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
            store(d + 2 * rows, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
            store(d + 3 * rows, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
          }
          for (; j < j1; j++)
            for (int k = i; k < i + 4; k++) y[j * rows + k] = x[k * cols + j];
        }
        for (; i < i1; i++)
          for (int j = j0; j < j1; j++) y[j * rows + i] = x[i * cols + j];
      }
}

/**
 * LayerNorm over the last axis of x (N, C): y = (x − mean)·rstd·g + b, with each row's mean and
 * rstd = 1/√(var + eps) kept for the backward pass.
 */
EXPORT("layer_norm_forward")
void layer_norm_forward(const float *x, const float *g, const float *b, int N, int C, float eps, float *y, float *mean, float *rstd) {
  for (int r = 0; r < N; r++, x += C, y += C) {
    const float m = row_mean(x, C), rs = row_rstd(x, C, m, eps);
    normalize_row(x, C, m, rs, g, b, y);
    mean[r] = m, rstd[r] = rs;
  }
}

/**
 * Its gradient: with x̂ = (x − mean)·rstd and d̂ = dy·g, dx = rstd·(d̂ − mean(d̂) − x̂·mean(d̂·x̂))
 * per row, and dg = Σ_rows dy·x̂, db = Σ_rows dy.
 */
EXPORT("layer_norm_backward")
void layer_norm_backward(const float *dy, const float *x, const float *g, const float *mean, const float *rstd, int N, int C, float *dx, float *dg, float *db) {
  const int C4 = C & ~3;
  for (int c = 0; c < C; c++) dg[c] = db[c] = 0;
  for (int r = 0; r < N; r++, dy += C, x += C, dx += C) {
    const float m = mean[r], rs = rstd[r];
    f4 sd = splat(0), sdx = splat(0);
    for (int c = 0; c < C4; c += 4) {
      f4 xh = mul(sub(load(x + c), splat(m)), splat(rs)), d = load(dy + c), dh = mul(d, load(g + c));
      sd = add(sd, dh), sdx = add(sdx, mul(dh, xh));
      store(dg + c, add(load(dg + c), mul(d, xh)));
      store(db + c, add(load(db + c), d));
    }
    float sumd = hsum(sd), sumdx = hsum(sdx);
    for (int c = C4; c < C; c++) {
      const float xh = (x[c] - m) * rs, dh = dy[c] * g[c];
      sumd += dh, sumdx += dh * xh;
      dg[c] += dy[c] * xh, db[c] += dy[c];
    }
    const float md = sumd / C, mdx = sumdx / C;
    for (int c = 0; c < C4; c += 4) {
      f4 xh = mul(sub(load(x + c), splat(m)), splat(rs)), dh = mul(load(dy + c), load(g + c));
      store(dx + c, mul(splat(rs), sub(sub(dh, splat(md)), mul(xh, splat(mdx)))));
    }
    for (int c = C4; c < C; c++) dx[c] = rs * (dy[c] * g[c] - md - (x[c] - m) * rs * mdx);
  }
}

/**
 * One Adam step on n floats, TF.js's formula, with the gradient scaled first (global-norm
 * clipping) and decoupled weight decay after: g = grad·scale, m = b1·m + (1 − b1)·g,
 * v = b2·v + (1 − b2)·g², out = (param − lr·m·c1 / (√(v·c2) + eps))·keep, where c1, c2 are the
 * bias corrections 1/(1 − b^t). m and v are updated in place (the optimiser owns them); the new
 * parameter goes to `out`, since a parameter's buffer may be shared with another tensor.
 */
EXPORT("adam")
void adam(const float *param, const float *grad, float *m, float *v, float *out, int n, float scale, float lr, float b1, float b2, float eps, float c1, float c2, float keep) {
  const f4 vs = splat(scale), vb1 = splat(b1), vb2 = splat(b2), va1 = splat(1 - b1), va2 = splat(1 - b2);
  const f4 vlr = splat(lr), ve = splat(eps), vc1 = splat(c1), vc2 = splat(c2), vk = splat(keep);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    f4 g = mul(load(grad + i), vs);
    f4 mi = add(mul(vb1, load(m + i)), mul(va1, g));
    f4 vi = add(mul(vb2, load(v + i)), mul(va2, mul(g, g)));
    store(m + i, mi), store(v + i, vi);
    f4 step = wasm_f32x4_div(mul(vlr, mul(mi, vc1)), add(wasm_f32x4_sqrt(mul(vi, vc2)), ve));
    store(out + i, mul(sub(load(param + i), step), vk));
  }
  for (; i < n; i++) {
    const float g = grad[i] * scale;
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    out[i] = (param[i] - lr * (m[i] * c1) / (__builtin_sqrtf(v[i] * c2) + eps)) * keep;
  }
}
