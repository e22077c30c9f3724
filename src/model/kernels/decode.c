// The policy's forward pass for generation, as one wasm SIMD call per step: TF.js spends ~104
// kernels on a step of the small model and most of the time is per-kernel overhead, not
// arithmetic. The same maths as src/model/transformer.ts (pre-LayerNorm GPT-2 blocks, gelu_new,
// the LM head tied to wte); test/wasm-kernels.test.ts checks the logits against GPT.forward.
//
// It runs on TF.js's own wasm memory (imported), on tensors TF.js allocated: weights, the KV
// cache and scratch are byte offsets into that memory. No C stack, no static data, no malloc:
// scripts/build-kernels.sh refuses a build that would write outside the buffers it is given.
// Built with Debian's clang + lld (scripts/build-kernels.sh); kernels.wasm is committed.
#include "simd.h"

// y (R, N) = x (R, K)·W (K, N) + b (N), N a multiple of 4. Two rows share each load of W; 16
// columns at a time stay in registers over the whole K loop. Column blocks are the outer loop,
// so a block of W stays in cache while every row passes (the prompt's many rows).
static void linear_blocks(const float *x, int R, int K, const float *W, const float *b, int N, float *y) {
  int j = 0;
  for (; j + 16 <= N; j += 16)
    for (int r = 0; r < R; r += 2) {
      const float *x0 = x + r * K;
      const float *x1 = r + 1 < R ? x0 + K : x0; // an odd last row is computed twice, stored once
      float *y0 = y + r * N + j;
      float *y1 = r + 1 < R ? y0 + N : y0;
      f4 a0 = load(b + j), a1 = load(b + j + 4), a2 = load(b + j + 8), a3 = load(b + j + 12);
      f4 c0 = a0, c1 = a1, c2 = a2, c3 = a3;
      const float *w = W + j;
      for (int i = 0; i < K; i++, w += N) {
        f4 u = splat(x0[i]), v = splat(x1[i]);
        f4 w0 = load(w), w1 = load(w + 4), w2 = load(w + 8), w3 = load(w + 12);
        a0 = add(a0, mul(u, w0)), a1 = add(a1, mul(u, w1)), a2 = add(a2, mul(u, w2)), a3 = add(a3, mul(u, w3));
        c0 = add(c0, mul(v, w0)), c1 = add(c1, mul(v, w1)), c2 = add(c2, mul(v, w2)), c3 = add(c3, mul(v, w3));
      }
      store(y1, c0), store(y1 + 4, c1), store(y1 + 8, c2), store(y1 + 12, c3);
      store(y0, a0), store(y0 + 4, a1), store(y0 + 8, a2), store(y0 + 12, a3);
    }
  for (; j < N; j += 4)
    for (int r = 0; r < R; r += 2) {
      const float *x0 = x + r * K;
      const float *x1 = r + 1 < R ? x0 + K : x0;
      float *y0 = y + r * N + j;
      float *y1 = r + 1 < R ? y0 + N : y0;
      f4 a = load(b + j), c = a;
      const float *w = W + j;
      for (int i = 0; i < K; i++, w += N) a = add(a, mul(splat(x0[i]), load(w))), c = add(c, mul(splat(x1[i]), load(w)));
      store(y1, c);
      store(y0, a);
    }
}

// The same for a few rows (a generation step's candidates): W is read once, in memory order,
// two rows of it at a time, and each output row is updated from L1. A step is bound by reading
// W, and linear_blocks' column strips walk it a row of W apart (a page apart in wide layers).
static void linear_stream(const float *x, int R, int K, const float *W, const float *b, int N, float *y) {
  for (int r = 0; r < R; r++)
    for (int j = 0; j < N; j += 4) store(y + r * N + j, load(b + j));
  int i = 0;
  for (; i + 2 <= K; i += 2) {
    const float *w0 = W + i * N, *w1 = w0 + N;
    for (int r = 0; r < R; r++) {
      const f4 u0 = splat(x[r * K + i]), u1 = splat(x[r * K + i + 1]);
      float *yr = y + r * N;
      for (int j = 0; j < N; j += 4) store(yr + j, add(load(yr + j), add(mul(u0, load(w0 + j)), mul(u1, load(w1 + j)))));
    }
  }
  for (; i < K; i++)
    for (int r = 0; r < R; r++) {
      const f4 u = splat(x[r * K + i]);
      float *yr = y + r * N;
      for (int j = 0; j < N; j += 4) store(yr + j, add(load(yr + j), mul(u, load(W + i * N + j))));
    }
}

// Rows at which the column-block order starts to pay: W's strips are then reused across rows.
#define STREAM_MAX_ROWS 4

static void linear(const float *x, int R, int K, const float *W, const float *b, int N, float *y) {
  if (R <= STREAM_MAX_ROWS) linear_stream(x, R, K, W, b, N, y);
  else linear_blocks(x, R, K, W, b, N, y);
}

// LayerNorm of each row of x (R, C) into y (simd.h's row helpers, as train.c's kernel).
static void layer_norm(const float *x, int R, int C, const float *g, const float *b, float *y) {
  for (int r = 0; r < R; r++, x += C, y += C) {
    const float m = row_mean(x, C);
    normalize_row(x, C, m, row_rstd(x, C, m, 1e-5f), g, b, y);
  }
}

// GPT-2's gelu_new in place (n a multiple of 4).
static void gelu(float *x, int n) {
  for (int i = 0; i < n; i += 4) store(x + i, gelu4(load(x + i)));
}

// Where layer l's keys (kv 0) or values (kv 1) of row b, head h, position p start in the cache
// (nLayer, 2, rows, H, ctx, hs).
static inline float *cache_at(float *cache, int l, int kv, int b, int h, int p, int rows, int H, int ctx, int hs) {
  return cache + ((((l * 2 + kv) * rows + b) * H + h) * ctx + p) * hs;
}

/**
 * T new positions of each of B rows, the first at position `pos`: tokens (B·T) → the next-token
 * logits (B, V) after each row's last position; appends the new keys and values to the cache,
 * whose positions < pos must hold the earlier ones. `params` holds the byte offsets of the
 * policy's parameters in the model's own order (transformer.ts's paramSpecs): wte, wpe, then per
 * layer ln_1.g, ln_1.b, c_attn.w, c_attn.b, attn.c_proj.w, attn.c_proj.b, ln_2.g, ln_2.b,
 * c_fc.w, c_fc.b, mlp.c_proj.w, mlp.c_proj.b, then ln_f.g, ln_f.b (the value head after them is
 * not read). scratch holds B·T·10·C + ctx floats. C and C/H must be multiples of 4.
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
    const int at = 2 + l * 12;
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
        for (int j = 0; j <= last; j++) scores[j] = dot(qh, K + j * hs, hs) * scale;
        softmax_row(scores, last);
        float *y = att + r * C + h * hs;
        for (int d = 0; d < hs; d += 4) store(y + d, splat(0));
        for (int j = 0; j <= last; j++) {
          f4 p = splat(scores[j]);
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
  const int lnf = 2 + nLayer * 12;
  for (int b = 0; b < B; b++) layer_norm(x + (b * T + T - 1) * C, 1, C, P(lnf), P(lnf + 1), xn + b * C);
  // The tied head, two rows per pass over wte.
  for (int b = 0; b < B; b += 2) {
    const int b1 = b + 1 < B ? b + 1 : b;
    dots2(xn + b * C, xn + b1 * C, wte, C, V - 1, C, 1.f, logits + b * V, logits + b1 * V);
  }
#undef P
}
