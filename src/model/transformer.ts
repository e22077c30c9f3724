// The GPT-style transformer (nanoGPT layout, GPT-2 numerics) that the bot samples from and
// the learner trains: the policy `GPT` (tied LM head + value head for PPO's critic) and the
// `RewardModel` (same trunk, scalar head on the last real token).
//
// Shapes: B batch rows, T tokens per row, C = nEmbd, H heads of hs = C / H, V = vocabSize.
// Sequences are right-padded. Attention is causal, so padding after a row's end never changes
// its real positions: the forward pass needs no padding mask; losses mask pad positions.
//
// Speed on TF.js wasm (the default backend) shaped this file. Its fast matMul (XNNPACK) is
// the plain 2D, untransposed one (~25 GFLOP/s); transposed or batched matMuls fall back to a
// naive loop (~0.4-2 GFLOP/s). So `matMul` below transposes explicitly, also in the backward
// pass. Attention over whole sequences, LayerNorm, GELU and the bias gradients' column sums run
// as the project's own wasm SIMD kernels (kernels/train.c, registered in backend.ts), one kernel
// each way; on other backends, and for the TF.js KV cache, the composed ops below (attention's
// batched products as a stack of 2D ones). Generation on wasm bypasses this file's ops entirely
// (decoder.ts).
import * as tf from '@tensorflow/tfjs-core';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL, COLUMN_SUM_KERNEL, GELU_GRAD_KERNEL, GELU_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from './backend.ts';
import { mulberry32, normalArray } from './prng.ts';

export interface ModelConfig {
  /** Token ids are 0 .. vocabSize-1; rows of the tied input/output embedding. */
  vocabSize: number;
  /** Longest sequence (prompt + reply) the model sees; rows of the learned position table. */
  contextLength: number;
  /** Transformer blocks. */
  nLayer: number;
  /** Attention heads per block; must divide nEmbd. */
  nHead: number;
  /** Width C of the residual stream. */
  nEmbd: number;
}

/**
 * Named sizes (vocabSize comes from the tokenizer). Parameter counts with a 2,048 vocab:
 * tiny 93,089 (for tests), small 1,072,001 (the default). See countParams.
 */
export const MODEL_SIZES = {
  tiny: { contextLength: 64, nLayer: 2, nHead: 2, nEmbd: 32 },
  small: { contextLength: 128, nLayer: 4, nHead: 4, nEmbd: 128 },
} as const satisfies Record<string, Omit<ModelConfig, 'vocabSize'>>;
export type ModelSize = keyof typeof MODEL_SIZES;
export const DEFAULT_MODEL_SIZE: ModelSize = 'small';

/** GPT-2's LayerNorm epsilon, so imported GPT-2 weights reproduce GPT-2's logits. */
const LN_EPS = 1e-5;
/** Std of the normal init of every weight matrix (GPT-2); residual projections get / sqrt(2·nLayer). */
const INIT_STD = 0.02;
/** Added to attention scores of future positions: exp underflows to exactly 0. */
const MASKED = -1e9;
/** Below this many multiply-adds per matrix, wasm's batched kernel beats a stack of 2D matMuls (per-op overhead). */
const LOOP_MIN_MACS = 16_384;

export type ModelKind = 'policy' | 'reward';
/** The scalar head each kind adds on top of the trunk. */
const HEAD: Record<ModelKind, string> = { policy: 'value_head', reward: 'reward_head' };

type Init = 'zeros' | 'ones' | { std: number };
interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

function paramSpecs(cfg: ModelConfig, kind: ModelKind): ParamSpec[] {
  const { vocabSize: V, contextLength, nLayer, nEmbd: C } = cfg;
  const normal = { std: INIT_STD };
  const residual = { std: INIT_STD / Math.sqrt(2 * nLayer) };
  const norm = (name: string): ParamSpec[] => [
    { name: `${name}.g`, shape: [C], init: 'ones' },
    { name: `${name}.b`, shape: [C], init: 'zeros' },
  ];
  // Linear weights are (in, out), as GPT-2's Conv1D stores them: x·W is a plain 2D matMul.
  const linear = (name: string, nIn: number, nOut: number, init: Init = normal): ParamSpec[] => [
    { name: `${name}.w`, shape: [nIn, nOut], init },
    { name: `${name}.b`, shape: [nOut], init: 'zeros' },
  ];
  const specs: ParamSpec[] = [
    { name: 'wte', shape: [V, C], init: normal },
    { name: 'wpe', shape: [contextLength, C], init: normal },
  ];
  for (let i = 0; i < nLayer; i++) {
    specs.push(
      ...norm(`h.${i}.ln_1`),
      ...linear(`h.${i}.attn.c_attn`, C, 3 * C),
      ...linear(`h.${i}.attn.c_proj`, C, C, residual),
      ...norm(`h.${i}.ln_2`),
      ...linear(`h.${i}.mlp.c_fc`, C, 4 * C),
      ...linear(`h.${i}.mlp.c_proj`, 4 * C, C, residual),
    );
  }
  specs.push(...norm('ln_f'), ...linear(HEAD[kind], C, 1));
  return specs;
}

/** Every parameter name of a model of this kind with its shape, in a fixed order. */
export function parameterShapes(cfg: ModelConfig, kind: ModelKind): Map<string, number[]> {
  return new Map(paramSpecs(cfg, kind).map((s) => [s.name, s.shape]));
}

/** Parameters of the policy (trunk, tied embedding counted once, value head). */
export function countParams(cfg: ModelConfig): number {
  return paramSpecs(cfg, 'policy').reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** Throws a one-line error naming the bad field. */
export function validateConfig(cfg: ModelConfig): void {
  for (const key of ['vocabSize', 'contextLength', 'nLayer', 'nHead', 'nEmbd'] as const) {
    const v = cfg?.[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`model config ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (cfg.nEmbd % cfg.nHead !== 0) throw new Error(`model config nEmbd (${cfg.nEmbd}) must be divisible by nHead (${cfg.nHead})`);
}

// ---------------------------------------------------------------------------------------------
// Ops, in order of use.

/**
 * An op with a hand-written gradient: tf.customGrad under a gradient tape, the plain forward
 * otherwise (a custom gradient's scope costs ~30 µs a call, which adds up over a generation).
 */
function withGradient<A extends tf.Tensor[]>(
  f: (...args: [...A, tf.GradSaveFunc]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] },
): (...args: A) => tf.Tensor {
  const custom = tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => tf.Tensor;
  return (...args: A) => (taping() ? custom(...args) : f(...args, () => {}).value);
}

/** Whether ops now run under a gradient tape (taping ops outside custom-gradient forwards). */
function taping(): boolean {
  const { gradientDepth, kernelDepth } = tf.engine().state;
  return gradientDepth > 0 && kernelDepth === 0;
}

/** a·b for (m,k)x(k,n) or (N,m,k)x(N,k,n), in the fastest form the backend has (see top). */
function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b);
  const [m, k] = a.shape.slice(-2);
  if (a.rank === 3 && m * k * b.shape[2]! < LOOP_MIN_MACS) return tf.matMul(a, b);
  return wasmMatMul(a, b);
}

/** Swaps the last two axes. */
function transposeLast(x: tf.Tensor): tf.Tensor {
  return x.rank === 2 ? tf.transpose(x) : tf.transpose(x, [0, 2, 1]);
}

/** a·bᵀ for (N,m,k)x(N,n,k). Small products (generation steps) take wasm's batched kernel, whose transposed form is no slower. */
function matMulTransposeB(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor {
  const [, m, k] = a.shape;
  if (tf.getBackend() !== 'wasm' || m * k * b.shape[1] < LOOP_MIN_MACS) return tf.matMul(a, b, false, true);
  return matMul(a, transposeLast(b));
}

// Plain 2D matMuls forward and backward: dA = dY·Bᵀ and dB = Aᵀ·dY with explicit transposes.
const wasmMatMul = withGradient((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  const bs = a.rank === 3 ? (tf.unstack(b) as tf.Tensor2D[]) : [];
  const value = a.rank === 2 ? tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D) : tf.stack((tf.unstack(a) as tf.Tensor2D[]).map((ai, i) => tf.matMul(ai, bs[i])));
  return {
    value,
    gradFunc: (dy: tf.Tensor, [sa, sb]: tf.Tensor[]) => {
      // For a B wider than tall (c_attn, c_fc, the tied head) (dYᵀ·A)ᵀ beats Aᵀ·dY by ~15-40%:
      // XNNPACK repacks its right operand on every call and prefers many rows on the left.
      const wide = sa.rank === 2 && sb.shape[1]! > sb.shape[0]!;
      return [matMul(dy, transposeLast(sb)), wide ? tf.transpose(matMul(tf.transpose(dy), sa)) : matMul(transposeLast(sa), dy)];
    },
  };
});

/** x·W + b for x (N, in), W (in, out), b (out). */
function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return addRows(matMul(x, w), b) as tf.Tensor2D;
}

/**
 * Σ over the rows of x (N, ...) → (...). On wasm one pass of train.c's column_sum: wasm's own sum
 * over a leading axis transposes first, and ones(1, N)·x repacks all of x for XNNPACK.
 */
function columnSum(x: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.sum(x, 0);
  const [n, c] = [x.shape[0]!, x.size / x.shape[0]!];
  return tf.reshape(tf.engine().runKernel(COLUMN_SUM_KERNEL, { x: tf.reshape(x, [n, c]) }) as tf.Tensor, x.shape.slice(1));
}

/** x + b with b broadcast over x's leading axis (x (N, ...), b (...)); b's gradient is columnSum. */
const addRows = withGradient((x: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([]);
  return { value: tf.add(x, b), gradFunc: (dy: tf.Tensor) => [dy, columnSum(dy)] };
});

/** LayerNorm over the last axis of (N, C); on wasm one fused kernel (see backend.ts) instead of nine. */
function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  if (tf.getBackend() === 'wasm') return fusedLayerNorm(x, g, b) as tf.Tensor2D;
  const centred = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, LN_EPS))), g), b);
}

const fusedLayerNorm = withGradient((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x, g, b }, { epsilon: LN_EPS }) as tf.Tensor[];
  save([x, g, mean, rstd]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, [sx, sg, sm, sr]: tf.Tensor[]) => tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, x: sx, g: sg, mean: sm, rstd: sr }) as tf.Tensor[],
  };
});

// GPT-2's gelu_new, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written as x·σ(2·that) (the same
// function): wasm's sigmoid is vectorised, its tanh ~13x slower. Hand-written gradient: fewer ops.
// On wasm one SIMD kernel each way (kernels/train.c).
const GELU_C1 = 2 * Math.sqrt(2 / Math.PI);
const GELU_C3 = GELU_C1 * 0.044715;

function gelu(x: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return composedGelu(x);
  return taping() ? wasmGelu(x) : (tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor);
}

// Under a tape the forward kernel also keeps σ(u), so the backward kernel needs no exp.
const wasmGelu = withGradient((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const [y, s] = tf.engine().runKernel(GELU_KERNEL, { x }, { sigmoid: true }) as tf.Tensor[];
  save([x, s!]);
  return {
    value: y!,
    gradFunc: (dy: tf.Tensor, [sx, ss]: tf.Tensor[]) => tf.engine().runKernel(GELU_GRAD_KERNEL, { x: sx!, s: ss!, dy }) as tf.Tensor,
  };
});

const composedGelu = withGradient((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const x2 = tf.square(x);
  const u = tf.mul(x, tf.add(tf.mul(x2, GELU_C3), GELU_C1)); // u = c1·x + c3·x³
  const s = tf.sigmoid(u);
  save([x, x2, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [sx, sx2, ss]: tf.Tensor[]) => {
      const du = tf.add(tf.mul(sx2, 3 * GELU_C3), GELU_C1); // u'(x)
      const dsdx = tf.mul(tf.mul(ss, tf.sub(1, ss)), du); // σ'(u)·u'
      return tf.mul(dy, tf.add(ss, tf.mul(sx, dsdx)));
    },
  };
});

/**
 * Causal self-attention of every position of qkv (B, T, 3, H, hs), the c_attn output viewed by
 * part and head → (B, T, H, hs), as one wasm kernel each way (kernels/train.c): it replaces the
 * per-head matMuls, the mask, the softmax and the head transposes.
 */
const wasmAttention = withGradient((qkv: tf.Tensor, save: tf.GradSaveFunc) => {
  const [y, probs] = tf.engine().runKernel(ATTENTION_KERNEL, { qkv }) as tf.Tensor[];
  save([qkv, probs]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, [sqkv, sprobs]: tf.Tensor[]) => tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy, qkv: sqkv, probs: sprobs }) as tf.Tensor,
  };
});

/** Additive causal mask (Tq, Tk) for the last Tq of Tk positions: 0 where allowed, MASKED ahead. */
function causalBias(tq: number, tk: number): tf.Tensor2D {
  const bias = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) bias.fill(MASKED, i * tk + tk - tq + i + 1, (i + 1) * tk);
  return tf.tensor2d(bias, [tq, tk]);
}

/**
 * (B·T, C) → (B·H, T, hs): heads become batch entries of the attention matMuls. With T = 1 (a
 * generation step) the memory order does not change, so a reshape does.
 */
function splitHeads(x: tf.Tensor, B: number, T: number, H: number): tf.Tensor3D {
  const hs = x.shape[1]! / H;
  const moved = T === 1 ? x : tf.transpose(tf.reshape(x, [B, T, H, hs]), [0, 2, 1, 3]);
  return tf.reshape(moved, [B * H, T, hs]);
}

/**
 * log softmax(logits)[target] per position: (..., V), (...) int32 → (...), e.g. (B, T, V) → (B, T).
 * Uses that Σ exp(x − max) = 1 / max(softmax(x)) (never below 1/V, so no underflow): wasm's
 * softmax kernel is vectorised while its exp is not, and a gathered log-softmax has no gradient.
 * Gradient: (onehot − softmax)·dy.
 */
export function tokenLogProbs<R extends tf.Rank>(logits: tf.Tensor, targets: tf.Tensor<R>): tf.Tensor<R> {
  const V = logits.shape.at(-1)!;
  const lead = logits.shape.slice(0, -1);
  if (targets.rank !== lead.length || targets.shape.some((d, i) => d !== lead[i])) {
    throw new Error(`tokenLogProbs: targets shape [${targets.shape}] must match logits [${lead},…]`);
  }
  const n = targets.size;
  return tf.tidy(() => tf.reshape(logProbsOf(tf.reshape(logits, [n, V]), tf.reshape(tf.cast(targets, 'int32'), [n])), targets.shape));
}

const logProbsOf = withGradient((x: tf.Tensor, targets: tf.Tensor, save: tf.GradSaveFunc) => {
  const [N, V] = x.shape as [number, number];
  const p = tf.softmax(x); // (N, V)
  const flat = tf.add(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(V, 'int32')), targets); // where x[n, target n] sits
  const picked = tf.gather(tf.reshape(x, [N * V]), flat); // (N); no gradient needed inside a custom op
  save([p, targets]);
  return {
    value: tf.add(tf.sub(picked, tf.max(x, -1)), tf.log(tf.max(p, -1))),
    gradFunc: (dy: tf.Tensor, [sp, st]: tf.Tensor[]) => [tf.mul(tf.sub(tf.oneHot(st, V), sp), tf.expandDims(dy, -1)), tf.zerosLike(st)],
  };
});

// ---------------------------------------------------------------------------------------------
// The KV cache for generation.

/**
 * Keys and values of the positions already processed, per layer, so each new token costs one
 * position's work. Made by `model.initCache(batch)`; `forwardCached` appends to it in place
 * (old tensors disposed). Inference only: no gradients flow through it. Call dispose() when done.
 */
export class KVCache {
  /** Positions processed so far (the same for every row). */
  length = 0;
  // Appending along the middle axis keeps concat cheap: wasm's concat copies one run per outer row.
  private layers: { k: tf.Tensor3D /* (B·H, length, hs) */; v: tf.Tensor3D /* (B·H, length, hs) */ }[] = [];

  constructor(
    /** Rows the cached keys and values are for. */
    public batch: number,
    /** wteᵀ (C, V), transposed once: the tied output projection of every step. */
    readonly headT: tf.Tensor2D,
  ) {}

  /**
   * Turns a cache of one row into `batch` copies of it: candidates of one prompt share its
   * prefix, so the prompt is processed once and then repeated.
   */
  repeat(batch: number): void {
    if (this.batch !== 1) throw new Error(`only a one-row KV cache can be repeated, this one has ${this.batch} rows`);
    this.layers = this.layers.map((l) => {
      const next = { k: tf.keep(tf.tile(l.k, [batch, 1, 1])), v: tf.keep(tf.tile(l.v, [batch, 1, 1])) }; // (H, T, hs) → (batch·H, T, hs), row-major by batch
      tf.dispose([l.k, l.v]);
      return next;
    });
    this.batch = batch;
  }

  /** Appends this step's keys and values (B·H, Tnew, hs); returns all of them (B·H, length, hs). */
  append(layer: number, k: tf.Tensor3D, v: tf.Tensor3D): { k: tf.Tensor3D; v: tf.Tensor3D } {
    const old = this.layers[layer];
    const next = old ? { k: tf.concat([old.k, k], 1), v: tf.concat([old.v, v], 1) } : { k: tf.clone(k), v: tf.clone(v) };
    tf.keep(next.k);
    tf.keep(next.v);
    if (old) tf.dispose([old.k, old.v]);
    this.layers[layer] = next;
    return next;
  }

  dispose(): void {
    for (const l of this.layers) tf.dispose([l.k, l.v]);
    this.layers = [];
    this.headT.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Models.

export interface ModelOptions {
  /** Seed of the deterministic init of every parameter not given in `weights`. Default 0. */
  seed?: number;
  /** Initial values by parameter name (copied); unknown names or wrong shapes are errors. */
  weights?: Map<string, tf.Tensor>;
}

/** Trunk shared by both models: embeddings, blocks, final LayerNorm, and a scalar head. */
abstract class Transformer {
  readonly config: ModelConfig;
  protected readonly params = new Map<string, tf.Variable>();

  protected constructor(
    readonly kind: ModelKind,
    config: ModelConfig,
    opts: ModelOptions,
  ) {
    validateConfig(config);
    this.config = { vocabSize: config.vocabSize, contextLength: config.contextLength, nLayer: config.nLayer, nHead: config.nHead, nEmbd: config.nEmbd };
    const specs = paramSpecs(this.config, kind);
    const known = new Set(specs.map((s) => s.name));
    for (const name of opts.weights?.keys() ?? []) {
      if (!known.has(name)) throw new Error(`unknown ${kind} parameter "${name}" for this config`);
    }
    const rand = mulberry32(opts.seed ?? 0);
    for (const spec of specs) {
      const given = opts.weights?.get(spec.name);
      if (given) assertShape(spec.name, given.shape, spec.shape);
      const value = given ? tf.cast(given, 'float32') : initialValue(spec, rand);
      this.params.set(spec.name, tf.variable(value, true));
      value.dispose();
    }
  }

  /** Parameters in a fixed order: pass them to the optimizer (minimize's varList). */
  trainableVariables(): tf.Variable[] {
    return [...this.params.values()];
  }

  /** The live parameter variables by name (e.g. `wte`, `h.0.ln_1.g`): read them, do not dispose. */
  getWeights(): Map<string, tf.Tensor> {
    return new Map(this.params);
  }

  /** Copies values into every parameter; the map must hold exactly this model's names and shapes. */
  setWeights(weights: Map<string, tf.Tensor>): void {
    for (const name of weights.keys()) if (!this.params.has(name)) throw new Error(`setWeights: unknown ${this.kind} parameter "${name}"`);
    for (const [name, v] of this.params) {
      const w = weights.get(name);
      if (!w) throw new Error(`setWeights: missing ${this.kind} parameter "${name}"`);
      assertShape(name, w.shape, v.shape);
    }
    tf.tidy(() => {
      for (const [name, v] of this.params) v.assign(tf.cast(weights.get(name)!, 'float32'));
    });
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }

  protected p(name: string): tf.Tensor {
    const v = this.params.get(name);
    if (!v) throw new Error(`model parameter "${name}" is missing (was the model disposed?)`);
    return v;
  }

  /**
   * Final hidden states (B·T, C) of ids (B, T), at positions cache.length.. when cached. With
   * `at` (N int32 indices into the B·T positions), only those rows (N, C): the last block then
   * runs its attention projection and MLP at just those positions (its keys and values still
   * come from all of them), a fifth of the small model's trunk when one position per row counts.
   */
  protected hidden(ids: tf.Tensor2D, cache?: KVCache, at?: tf.Tensor1D): tf.Tensor2D {
    const [B, T] = ids.shape;
    const { contextLength, nEmbd: C, nLayer } = this.config;
    const past = cache?.length ?? 0;
    if (ids.dtype !== 'int32') throw new Error(`token ids must be an int32 tensor, got ${ids.dtype}`);
    if (T < 1) throw new Error('token ids must hold at least one position');
    if (past + T > contextLength) {
      throw new Error(`sequence of ${past + T} tokens exceeds the model's contextLength ${contextLength}: truncate the input`);
    }
    if (cache && cache.batch !== B) throw new Error(`ids have ${B} rows but the KV cache was made for ${cache.batch}`);
    const tok = tf.reshape(tf.gather(this.p('wte'), tf.reshape(ids, [B * T])), [B, T, C]);
    const pos = tf.slice(this.p('wpe'), [past, 0], [T, C]); // (T, C)
    let x = tf.reshape(addRows(tok, pos), [B * T, C]) as tf.Tensor2D; // (B·T, C)
    for (let i = 0; i < nLayer; i++) x = this.block(x, i, B, T, cache, i === nLayer - 1 ? at : undefined);
    if (cache) cache.length += T;
    return layerNorm(x, this.p('ln_f.g'), this.p('ln_f.b'));
  }

  /** One pre-LayerNorm block on the residual stream x (B·T, C); its output at rows `at` only when given. */
  private block(x: tf.Tensor2D, i: number, B: number, T: number, cache?: KVCache, at?: tf.Tensor1D): tf.Tensor2D {
    const w = (name: string) => this.p(`h.${i}.${name}`);
    const a = this.attention(layerNorm(x, w('ln_1.g'), w('ln_1.b')), i, B, T, cache, at);
    const h = tf.add(at ? tf.gather(x, at) : x, a);
    const m = linear(gelu(linear(layerNorm(h, w('ln_2.g'), w('ln_2.b')), w('mlp.c_fc.w'), w('mlp.c_fc.b'))), w('mlp.c_proj.w'), w('mlp.c_proj.b'));
    return tf.add(h, m);
  }

  /** Causal multi-head self-attention of x (B·T, C) → (B·T, C), or → (N, C) at rows `at`. */
  private attention(x: tf.Tensor2D, i: number, B: number, T: number, cache?: KVCache, at?: tf.Tensor1D): tf.Tensor2D {
    const { nHead: H, nEmbd: C } = this.config;
    const hs = C / H;
    const w = (name: string) => this.p(`h.${i}.attn.${name}`);
    const project = (y: tf.Tensor) => linear(at ? tf.gather(y, at) : y, w('c_proj.w'), w('c_proj.b'));
    const qkv = linear(x, w('c_attn.w'), w('c_attn.b')); // (B·T, 3C)
    if (!cache && tf.getBackend() === 'wasm' && hs % 4 === 0) return project(tf.reshape(wasmAttention(tf.reshape(qkv, [B, T, 3, H, hs])), [B * T, C]));
    const [q, k, v] = tf.split(qkv, 3, 1); // 3 × (B·T, C)
    const qh = splitHeads(tf.mul(q, 1 / Math.sqrt(hs)), B, T, H); // (B·H, T, hs), pre-scaled
    let kh = splitHeads(k, B, T, H);
    let vh = splitHeads(v, B, T, H);
    if (cache) ({ k: kh, v: vh } = cache.append(i, kh, vh)); // now over all Tk = past + T positions
    const tk = kh.shape[1];
    let scores = matMulTransposeB(qh, kh); // (B·H, T, Tk)
    if (T > 1) scores = tf.add(scores, causalBias(T, tk)); // one new position may see every key
    const y = matMul(tf.softmax(scores), vh); // (B·H, T, hs) = (B, H, T, hs)
    return project(T === 1 ? tf.reshape(y, [B, C]) : tf.reshape(tf.transpose(tf.reshape(y, [B, H, T, hs]), [0, 2, 1, 3]), [B * T, C]));
  }

  /** The kind's scalar head on hidden states (B·T, C) → (B, T). */
  protected head(h: tf.Tensor2D, B: number, T: number): tf.Tensor2D {
    const name = HEAD[this.kind];
    return tf.reshape(linear(h, this.p(`${name}.w`), this.p(`${name}.b`)), [B, T]);
  }
}

function initialValue(spec: ParamSpec, rand: () => number): tf.Tensor {
  if (spec.init === 'zeros') return tf.zeros(spec.shape);
  if (spec.init === 'ones') return tf.ones(spec.shape);
  const size = spec.shape.reduce((a, b) => a * b, 1);
  return tf.tensor(normalArray(size, spec.init.std, rand), spec.shape);
}

function assertShape(name: string, got: number[], want: number[]): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new Error(`parameter "${name}" has shape [${got}] but the model config needs [${want}]`);
  }
}

/**
 * The policy: logits over the next token at every position (LM head tied to wte) and a value
 * per position (PPO's critic, sharing the trunk).
 */
export class GPT extends Transformer {
  constructor(config: ModelConfig, opts: ModelOptions = {}) {
    super('policy', config, opts);
  }

  /**
   * ids int32 (B, T) → logits (B, T, V), values (B, T). Differentiable: use it inside
   * tf.variableGrads / optimizer.minimize (with varList = trainableVariables()).
   */
  forward(ids: tf.Tensor2D): { logits: tf.Tensor3D; values: tf.Tensor2D } {
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      const h = this.hidden(ids);
      return { logits: tf.reshape(this.lmHead(h), [B, T, this.config.vocabSize]) as tf.Tensor3D, values: this.head(h, B, T) };
    });
  }

  /**
   * forward at chosen positions only: ids (B, T) and `at` int32 (N), indices into the B·T
   * positions (row-major) → logits (N, V), values (N). Differentiable. Training reads only reply
   * tokens, and the tied head with its softmax is a quarter of the default model's FLOPs per position.
   */
  forwardAt(ids: tf.Tensor2D, at: tf.Tensor1D): { logits: tf.Tensor2D; values: tf.Tensor1D } {
    return tf.tidy(() => {
      const h = this.hidden(ids, undefined, at); // (N, C)
      return { logits: this.lmHead(h), values: tf.reshape(this.head(h, 1, at.size), [at.size]) as tf.Tensor1D };
    });
  }

  /** The LM head tied to wte: hidden states (N, C) → logits (N, V). */
  private lmHead(h: tf.Tensor2D): tf.Tensor2D {
    return matMul(h, tf.transpose(this.p('wte'))) as tf.Tensor2D;
  }

  /** An empty KV cache for `batch` rows; dispose it after generating. */
  initCache(batch: number): KVCache {
    return new KVCache(batch, tf.tidy(() => tf.transpose(this.p('wte') as tf.Tensor2D)));
  }

  /**
   * Like forward for the next Tnew positions of every row, reusing the cache's keys and values:
   * ids (B, Tnew) → logits (B, Tnew, V), values (B, Tnew); appends to the cache. Inference only.
   */
  forwardCached(ids: tf.Tensor2D, cache: KVCache): { logits: tf.Tensor3D; values: tf.Tensor2D } {
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      const h = this.hidden(ids, cache);
      const logits = tf.reshape(matMul(h, cache.headT), [B, T, this.config.vocabSize]) as tf.Tensor3D;
      return { logits, values: this.head(h, B, T) };
    });
  }

  /**
   * Logits of the next token after ids (B, Tnew) → (B, V), reusing and extending the cache: what
   * sampling needs, without the other positions' logits or the value head.
   */
  nextLogits(ids: tf.Tensor2D, cache: KVCache): tf.Tensor2D {
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      const h = this.hidden(ids, cache); // (B·T, C)
      const last = T === 1 ? h : tf.reshape(tf.slice(tf.reshape(h, [B, T, -1]), [0, T - 1, 0], [B, 1, -1]), [B, -1]);
      return matMul(last, cache.headT) as tf.Tensor2D;
    });
  }

  /** An independent copy (same weights, own variables). */
  clone(): GPT {
    return new GPT(this.config, { weights: this.getWeights() });
  }
}

/** Scores a whole conversation with a scalar (Bradley–Terry reward): its own trunk and head. */
export class RewardModel extends Transformer {
  constructor(config: ModelConfig, opts: ModelOptions = {}) {
    super('reward', config, opts);
  }

  /** A reward model starting from the policy's trunk, with a fresh head (init from `seed`). */
  static fromPolicy(policy: GPT, seed = 0): RewardModel {
    const trunk = new Map([...policy.getWeights()].filter(([name]) => !name.startsWith(`${HEAD.policy}.`)));
    return new RewardModel(policy.config, { seed, weights: trunk });
  }

  /**
   * ids int32 (B, T) right-padded, lengths[b] = real tokens of row b (1..T) → scores (B): the
   * head on the hidden state of each row's last real token. Differentiable.
   */
  score(ids: tf.Tensor2D, lengths: number[]): tf.Tensor1D {
    const [B, T] = ids.shape;
    if (lengths.length !== B) throw new Error(`score: ${lengths.length} lengths for ${B} rows`);
    const last = lengths.map((n, b) => {
      if (!Number.isInteger(n) || n < 1 || n > T) throw new Error(`score: length ${n} of row ${b} must be an integer in 1..${T}`);
      return b * T + n - 1; // each row's last real position among the B·T
    });
    return tf.tidy(() => tf.reshape(this.head(this.hidden(ids, undefined, tf.tensor1d(last, 'int32')), 1, B), [B]) as tf.Tensor1D);
  }

  clone(): RewardModel {
    return new RewardModel(this.config, { weights: this.getWeights() });
  }
}
