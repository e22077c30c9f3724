// The policy's forward pass for generation, as one wasm SIMD call per step: TF.js spends ~104
// kernels on a step of the small model and most of the time is per-kernel overhead, not
// arithmetic. The same maths as src/model/transformer.ts (pre-LayerNorm GPT-2 blocks, gelu_new,
// the LM head tied to wte); test/decoder.test.ts checks the logits against GPT.forward.
//
// It runs on TF.js's own wasm memory (imported), on tensors TF.js allocated: weights, the KV
// cache and scratch are byte offsets into that memory. No C stack, no static data, no malloc:
// scripts/build-kernels.sh refuses a build that would write outside the buffers it is given.
// Built with Debian's clang + lld (scripts/build-kernels.sh); decode.wasm is committed.
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

// y (R, N) = x (R, K)·W (K, N) + b (N). Two rows share each load of W; 16 columns at a time
// stay in registers over the whole K loop. N is a multiple of 4.
static void linear(const float *x, int R, int K, const float *W, const float *b, int N, float *y) {
  for (int r = 0; r < R; r += 2) {
    const float *x0 = x + r * K;
    const float *x1 = r + 1 < R ? x0 + K : x0; // an odd last row is computed twice, stored once
    float *y0 = y + r * N;
    float *y1 = r + 1 < R ? y0 + N : y0;
    int j = 0;
    for (; j + 16 <= N; j += 16) {
      f4 a0 = load(b + j), a1 = load(b + j + 4), a2 = load(b + j + 8), a3 = load(b + j + 12);
      f4 c0 = a0, c1 = a1, c2 = a2, c3 = a3;
      const float *w = W + j;
      for (int i = 0; i < K; i++, w += N) {
        f4 u = splat(x0[i]), v = splat(x1[i]);
        f4 w0 = load(w), w1 = load(w + 4), w2 = load(w + 8), w3 = load(w + 12);
        a0 = add(a0, mul(u, w0)), a1 = add(a1, mul(u, w1)), a2 = add(a2, mul(u, w2)), a3 = add(a3, mul(u, w3));
        c0 = add(c0, mul(v, w0)), c1 = add(c1, mul(v, w1)), c2 = add(c2, mul(v, w2)), c3 = add(c3, mul(v, w3));
      }
      store(y1 + j, c0), store(y1 + j + 4, c1), store(y1 + j + 8, c2), store(y1 + j + 12, c3);
      store(y0 + j, a0), store(y0 + j + 4, a1), store(y0 + j + 8, a2), store(y0 + j + 12, a3);
    }
    for (; j < N; j += 4) {
      f4 a = load(b + j), c = a;
      const float *w = W + j;
      for (int i = 0; i < K; i++, w += N) a = add(a, mul(splat(x0[i]), load(w))), c = add(c, mul(splat(x1[i]), load(w)));
      store(y1 + j, c);
      store(y0 + j, a);
    }
  }
}

// LayerNorm of each row of x (R, C) into y, population variance, as transformer.ts.
static void layer_norm(const float *x, int R, int C, const float *g, const float *b, float *y) {
  for (int r = 0; r < R; r++, x += C, y += C) {
    f4 s = splat(0);
    for (int c = 0; c < C; c += 4) s = add(s, load(x + c));
    f4 m = splat(hsum(s) / C);
    f4 q = splat(0);
    for (int c = 0; c < C; c += 4) {
      f4 d = sub(load(x + c), m);
      q = add(q, mul(d, d));
    }
    f4 rstd = splat(1.f / __builtin_sqrtf(hsum(q) / C + 1e-5f));
    for (int c = 0; c < C; c += 4) store(y + c, add(mul(mul(sub(load(x + c), m), rstd), load(g + c)), load(b + c)));
  }
}

// GPT-2's gelu_new in place, as x·σ(c1·x + c3·x³) (see transformer.ts).
static void gelu(float *x, int n) {
  const f4 c1 = splat(1.5957691216057308f), c3 = splat(0.07135481627159927f), one = splat(1.f);
  for (int i = 0; i < n; i += 4) {
    f4 v = load(x + i);
    f4 u = mul(v, add(c1, mul(c3, mul(v, v))));
    store(x + i, wasm_f32x4_div(v, add(one, exp4(wasm_f32x4_neg(u)))));
  }
}

static float dot(const float *a, const float *b, int n) {
  f4 s = splat(0);
  for (int i = 0; i < n; i += 4) s = add(s, mul(load(a + i), load(b + i)));
  return hsum(s);
}

// Where layer l's keys (kv 0) or values (kv 1) of row b, head h, position p start in the cache
// (nLayer, 2, rows, H, ctx, hs).
static inline float *cache_at(float *cache, int l, int kv, int b, int h, int p, int rows, int H, int ctx, int hs) {
  return cache + ((((l * 2 + kv) * rows + b) * H + h) * ctx + p) * hs;
}

/**
 * T new positions of each of B rows, the first at position `pos`: tokens (B·T) → the next-token
 * logits (B, V) after each row's last position; appends the new keys and values to the cache,
 * whose positions < pos must hold the earlier ones. `params` holds byte offsets: wte, wpe,
 * ln_f.g, ln_f.b, then per layer ln_1.g, ln_1.b, c_attn.w, c_attn.b, attn.c_proj.w,
 * attn.c_proj.b, ln_2.g, ln_2.b, c_fc.w, c_fc.b, mlp.c_proj.w, mlp.c_proj.b. scratch holds
 * B·T·10·C + ctx floats. C and C/H must be multiples of 4.
 */
EXPORT("decode")
void decode(const int32_t *params, int nLayer, int H, int C, int V, int ctx, float *cache, int cacheRows, int B, int T, int pos,
            const int32_t *tokens, float *scratch, float *logits) {
#define P(i) ((const float *)(uintptr_t)params[i])
  const int R = B * T, hs = C / H;
  float *x = scratch, *xn = x + R * C, *qkv = xn + R * C, *att = qkv + R * 3 * C, *mlp = att + R * C, *scores = mlp + R * 4 * C;
  const float *wte = P(0), *wpe = P(1);
  for (int r = 0; r < R; r++) {
    const float *te = wte + tokens[r] * C, *pe = wpe + (pos + r % T) * C;
    for (int c = 0; c < C; c += 4) store(x + r * C + c, add(load(te + c), load(pe + c)));
  }
  const float scale = 1.f / __builtin_sqrtf((float)hs);
  for (int l = 0; l < nLayer; l++) {
    const int at = 4 + l * 12;
    layer_norm(x, R, C, P(at), P(at + 1), xn);
    linear(xn, R, C, P(at + 2), P(at + 3), 3 * C, qkv);
    for (int r = 0; r < R; r++)
      for (int h = 0; h < H; h++) {
        const float *q = qkv + r * 3 * C + h * hs;
        float *k = cache_at(cache, l, 0, r / T, h, pos + r % T, cacheRows, H, ctx, hs);
        float *v = cache_at(cache, l, 1, r / T, h, pos + r % T, cacheRows, H, ctx, hs);
        for (int d = 0; d < hs; d += 4) store(k + d, load(q + C + d)), store(v + d, load(q + 2 * C + d));
      }
    for (int r = 0; r < R; r++) {
      const int b = r / T, last = pos + r % T; // this position sees keys 0..last
      for (int h = 0; h < H; h++) {
        const float *qh = qkv + r * 3 * C + h * hs;
        const float *K = cache_at(cache, l, 0, b, h, 0, cacheRows, H, ctx, hs);
        const float *Vs = cache_at(cache, l, 1, b, h, 0, cacheRows, H, ctx, hs);
        float max = -3.4e38f;
        for (int j = 0; j <= last; j++) {
          float s = dot(qh, K + j * hs, hs) * scale;
          scores[j] = s;
          if (s > max) max = s;
        }
        float sum = 0;
        for (int j = 0; j <= last; j++) sum += scores[j] = exp1(scores[j] - max);
        float *y = att + r * C + h * hs;
        for (int d = 0; d < hs; d += 4) store(y + d, splat(0));
        for (int j = 0; j <= last; j++) {
          f4 p = splat(scores[j] / sum);
          for (int d = 0; d < hs; d += 4) store(y + d, add(load(y + d), mul(p, load(Vs + j * hs + d))));
        }
      }
    }
    linear(att, R, C, P(at + 4), P(at + 5), C, xn);
    for (int i = 0; i < R * C; i += 4) store(x + i, add(load(x + i), load(xn + i)));
    layer_norm(x, R, C, P(at + 6), P(at + 7), xn);
    linear(xn, R, C, P(at + 8), P(at + 9), 4 * C, mlp);
    gelu(mlp, R * 4 * C);
    linear(mlp, R, 4 * C, P(at + 10), P(at + 11), C, xn);
    for (int i = 0; i < R * C; i += 4) store(x + i, add(load(x + i), load(xn + i)));
  }
  for (int b = 0; b < B; b++) {
    const int r = b * T + T - 1;
    layer_norm(x + r * C, 1, C, P(2), P(3), xn);
    for (int t = 0; t < V; t++) logits[b * V + t] = dot(xn, wte + t * C, C);
  }
#undef P
}
