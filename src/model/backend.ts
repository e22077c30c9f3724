// Picks and initialises the TF.js backend once per process.
//
// Order: the `preferred` argument, else the PAIRWISE_BACKEND env variable, else the
// first that loads of node-gpu, node (optional native packages, usually absent), wasm, cpu.
// wasm is the default on the small CPU-only hosts this bot runs on; it is patched
// here with the kernels our models need that it lacks.
import { createRequire } from 'node:module';
import path from 'node:path';
import { buildSync } from 'esbuild';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { log } from '../log.ts';
import { heapOffset, wasmKernels } from './wasm-kernels.ts';

export const BACKEND_NAMES = ['node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/**
 * A wasm-only kernel: LayerNorm over the last axis of x (N, C) with g, b (C) and attr
 * `epsilon`, returning [y (N, C), mean (N, 1), rstd (N, 1)] (rstd = 1/√(var + ε)).
 */
export const LAYER_NORM_KERNEL = 'PairwiseLayerNorm';
/** A wasm-only kernel: [dx (N, C), dg (C), db (C)] of LAYER_NORM_KERNEL from inputs dy, x, g, mean, rstd. */
export const LAYER_NORM_GRAD_KERNEL = 'PairwiseLayerNormGrad';
/**
 * A wasm-only kernel: GPT-2's gelu_new of x, elementwise (kernels/train.c); with attr
 * `sigmoid: true`, [y, s] where s = σ(u) is what GELU_GRAD_KERNEL needs.
 */
export const GELU_KERNEL = 'PairwiseGelu';
/** A wasm-only kernel: dy·gelu_new'(x) for inputs x, s (GELU_KERNEL's), dy. */
export const GELU_GRAD_KERNEL = 'PairwiseGeluGrad';
/**
 * A wasm-only kernel: causal self-attention of qkv (B, T, 3, H, hs), returning
 * [y (B, T, H, hs), probs (B·H, T, T)] (kernels/train.c).
 */
export const ATTENTION_KERNEL = 'PairwiseAttention';
/** A wasm-only kernel: dqkv (B, T, 3, H, hs) from inputs dy (B, T, H, hs), qkv, probs. */
export const ATTENTION_GRAD_KERNEL = 'PairwiseAttentionGrad';
/**
 * A wasm-only kernel: one Adam step (train.c's adam) of inputs param, grad, m, v with attrs
 * scale, lr, b1, b2, eps, c1, c2, keep; returns the new param and updates m and v in place.
 */
export const ADAM_KERNEL = 'PairwiseAdam';
/** A wasm-only kernel: the sum over the rows of x (N, C) → (C) (train.c's column_sum). */
export const COLUMN_SUM_KERNEL = 'PairwiseColumnSum';

/** The TF.js registry name each of our names runs on (both native packages register "tensorflow"). */
const TF_NAME: Record<BackendName, string> = { 'node-gpu': 'tensorflow', node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };
const NATIVE_PACKAGE: Partial<Record<BackendName, string>> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
};

let current: Promise<BackendName> | undefined;
/** Known as soon as it is fixed: at the call for an explicit request, on resolution for auto. */
let currentName: BackendName | undefined;

/**
 * Initialises the backend and returns its name (one of BACKEND_NAMES). Idempotent: a second
 * call returns the first choice unless it names a different backend explicitly, which switches.
 * An explicitly requested backend that cannot load is an error, never a silent fallback.
 */
export async function initBackend(preferred?: string): Promise<string> {
  const wanted = preferred ?? (process.env.PAIRWISE_BACKEND || undefined);
  if (wanted !== undefined && !(BACKEND_NAMES as readonly string[]).includes(wanted)) {
    throw new Error(`unknown backend "${wanted}": set PAIRWISE_BACKEND to one of ${BACKEND_NAMES.join(', ')}`);
  }
  if (current && (wanted === undefined || wanted === currentName)) return current;
  const previous = { current, currentName };
  currentName = wanted as BackendName | undefined;
  const attempt = (currentName ? activate(currentName) : autoSelect()).then((chosen) => {
    (previous.current ? log.debug : log.info)('tfjs backend ready', { backend: chosen });
    currentName = chosen;
    return chosen;
  });
  current = attempt;
  // A failed switch leaves the backend that was active before it.
  attempt.catch(() => {
    if (current === attempt) ({ current, currentName } = previous);
  });
  return attempt;
}

async function autoSelect(): Promise<BackendName> {
  for (const name of BACKEND_NAMES) {
    try {
      return await activate(name);
    } catch (err) {
      log.debug('tfjs backend unavailable', { backend: name, reason: (err as Error).message });
    }
  }
  throw new Error('no TF.js backend could be initialised (not even cpu): reinstall node_modules');
}

async function activate(name: BackendName): Promise<BackendName> {
  const pkg = NATIVE_PACKAGE[name];
  if (pkg) {
    try {
      await import(pkg); // a variable specifier: these optional packages are not type-checked
    } catch (err) {
      throw new Error(`backend "${name}" needs ${pkg} (npm install ${pkg}) or choose wasm/cpu: ${(err as Error).message}`);
    }
  }
  registerAllGradients();
  if (name === 'wasm') prepareWasm();
  const before = { exc: process.listeners('uncaughtException'), rej: process.listeners('unhandledRejection') };
  const ok = await tf.setBackend(TF_NAME[name]);
  await tf.ready();
  // Emscripten's glue installs process handlers that rethrow, which makes Node print a whole
  // minified line of wasm glue above every unrelated crash; our own handling is enough.
  for (const l of process.listeners('uncaughtException')) if (!before.exc.includes(l)) process.off('uncaughtException', l);
  for (const l of process.listeners('unhandledRejection')) if (!before.rej.includes(l)) process.off('unhandledRejection', l);
  if (!ok) throw new Error(`backend "${name}" failed to initialise`);
  return name;
}

/**
 * tfjs-core's Node bundle ships no gradient functions (the @tensorflow/tfjs umbrella brings
 * them via tfjs-layers), and its ESM sources use extensionless imports that Node cannot
 * load. So bundle core's own register_all_gradients module once, in memory, with esbuild
 * (~0.3 s). The copy shares the engine and the gradient registry, which live on globalThis.
 * Chained ops (`x.add(y)`) stay unregistered: call the functional ops (`tf.add(x, y)`).
 */
function registerAllGradients(): void {
  if (tf.getGradient('Add')) return; // a native backend package already registered them
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const out = buildSync({ entryPoints: [entry], bundle: true, write: false, format: 'cjs', platform: 'node', logLevel: 'silent' });
  const mod = { exports: {} };
  new Function('module', 'exports', 'require', out.outputFiles[0].text)(mod, mod.exports, require);
}

let wasmPrepared = false;

function prepareWasm(): void {
  if (wasmPrepared) return;
  wasmPrepared = true;
  // Load the .wasm binaries from node_modules, never from a CDN.
  const require = createRequire(import.meta.url);
  const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
  setWasmPaths(dist);
  registerUnsortedSegmentSum();
  registerHeapSlices();
  registerAliasingCopies();
  registerLayerNorm();
  registerSimdKernels();
  registerRowGather();
}

/**
 * Registers `kernelFunc` for wasm under `kernelName`, replacing tfjs's own if present. The
 * original's setupFunc is kept: it binds the wasm functions that the original kernelFunc (still
 * called for the cases a replacement passes on) needs.
 */
function replaceWasmKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  const original = tf.getKernel(kernelName, 'wasm');
  if (original) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: original?.setupFunc });
}

/**
 * wasm lacks UnsortedSegmentSum, which is the gradient of tf.gather (embedding lookups).
 * A scatter-add on the wasm heap is O(N·inner), so plain JS is fast enough.
 */
function registerUnsortedSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const wasm = backend as BackendWasm;
      const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
      const inner = tf.util.sizeFromShape(x.shape) / rows;
      const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      const out = wasm.makeOutput(outShape, x.dtype);
      // Views are taken after the allocation above: a heap growth would detach earlier ones.
      const xs = wasm.typedArrayFromHeap(x);
      const ids = wasm.typedArrayFromHeap(segmentIds);
      const acc = wasm.typedArrayFromHeap(out);
      acc.fill(0);
      for (let r = 0; r < rows; r++) {
        const seg = ids[r];
        if (seg < 0 || seg >= numSegments) continue; // TF semantics: out-of-range ids are dropped
        const src = r * inner;
        const dst = seg * inner;
        for (let i = 0; i < inner; i++) acc[dst + i] += xs[src + i];
      }
      return out;
    },
  });
}

/**
 * wasm's Slice copies its whole input (readSync) for every slice, so unstacking a
 * (32, T, hs) attention tensor into 32 matrices cost 32 full copies (~9 ms). These
 * replacements copy only the sliced rows from a heap view. Unpack and SplitV are replaced
 * too because tfjs calls its own slice from them directly. Strings keep the original path.
 */
function registerHeapSlices(): void {
  const original = tf.getKernel('Slice', 'wasm')!.kernelFunc;
  const sliceKernel: tf.KernelFunc = (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { x: tf.TensorInfo }; backend: BackendWasm; attrs: { begin: number[]; size: number[] } };
    const { x } = inputs;
    if (x.dtype === 'string') return original(args);
    const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin, attrs.size);
    return heapSlice(backend, x, begin, size);
  };
  replaceWasmKernel('Slice', sliceKernel);

  replaceWasmKernel('Unpack', (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { value: tf.TensorInfo }; backend: BackendWasm; attrs: { axis: number } };
    const { value } = inputs;
    const axis = attrs.axis < 0 ? attrs.axis + value.shape.length : attrs.axis;
    const outShape = value.shape.filter((_, i) => i !== axis);
    const begin = value.shape.map(() => 0);
    const size = value.shape.slice();
    size[axis] = 1;
    return Array.from({ length: value.shape[axis] }, (_, i) => {
      begin[axis] = i;
      const out = value.dtype === 'string' ? (original({ ...args, inputs: { x: value }, attrs: { begin, size } }) as tf.TensorInfo) : heapSlice(backend, value, begin, size);
      return { dataId: out.dataId, dtype: out.dtype, shape: outShape };
    });
  });

  replaceWasmKernel('SplitV', (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { x: tf.TensorInfo }; backend: BackendWasm; attrs: { numOrSizeSplits: number | number[]; axis: number } };
    const { x } = inputs;
    const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits, axis);
    const begin = x.shape.map(() => 0);
    return sizes.map((n) => {
      const size = x.shape.slice();
      size[axis] = n;
      const out = x.dtype === 'string' ? (original({ ...args, inputs: { x }, attrs: { begin: begin.slice(), size } }) as tf.TensorInfo) : heapSlice(backend, x, begin, size);
      begin[axis] += n;
      return out;
    });
  });
}

/** Copies x[begin : begin + size] into a new heap tensor, one contiguous run at a time. */
function heapSlice(backend: BackendWasm, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  if (dst.length === 0) return out;
  const rank = x.shape.length;
  const strides = [...tf.util.computeStrides(x.shape), 1];
  // Trailing axes taken whole merge into one contiguous run with the last partial axis.
  let inner = rank - 1;
  while (inner > 0 && size[inner] === x.shape[inner]) inner--;
  const run = size[inner] * strides[inner];
  const outer = size.slice(0, inner);
  const index = outer.map(() => 0);
  for (let written = 0; written < dst.length; written += run) {
    let offset = begin[inner] * strides[inner];
    for (let d = 0; d < inner; d++) offset += (begin[d] + index[d]) * strides[d];
    dst.set(src.subarray(offset, offset + run), written);
    for (let d = inner - 1; d >= 0; d--) {
      if (++index[d] < outer[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

/**
 * Row gathers (axis 0: embedding lookups) as one heap copy per row: wasm's GatherV2 computed every
 * element's index and took 17 ms for 1,792 rows of 128 floats. Other axes keep the original.
 */
function registerRowGather(): void {
  const original = tf.getKernel('GatherV2', 'wasm')!.kernelFunc;
  replaceWasmKernel('GatherV2', (args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    if (tf.util.parseAxisParam(axis, x.shape)[0] !== 0 || batchDims !== 0 || x.dtype === 'string' || x.dtype === 'complex64') return original(args);
    const wasm = args.backend as BackendWasm;
    const n = x.shape[0]!;
    const inner = tf.util.sizeFromShape(x.shape.slice(1));
    const out = wasm.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    // Views after the allocation: a heap growth would detach earlier ones.
    const [src, ids, dst] = [x, indices, out].map((t) => wasm.typedArrayFromHeap(t));
    for (let r = 0; r < ids.length; r++) {
      const id = ids[r]!;
      if (!(id >= 0 && id < n)) {
        wasm.disposeData(out.dataId);
        throw new Error(`gather: index ${id} is not in [0, ${n - 1}]`);
      }
      if (inner === 1) dst[r] = src[id]!;
      else dst.set(src.subarray(id * inner, (id + 1) * inner), r * inner);
    }
    return out;
  });
}

/**
 * Tensors are immutable, yet wasm's Identity and same-dtype Cast copy their input. The
 * gradient tape clones every tensor it saves for the backward pass (~350 copies per training
 * step of the default model), so share the buffer by reference count, as the cpu backend does.
 */
function registerAliasingCopies(): void {
  const alias = (backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo => {
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  const identity = tf.getKernel('Identity', 'wasm')!.kernelFunc;
  replaceWasmKernel('Identity', (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    return x.dtype === 'string' ? identity(args) : alias(args.backend as BackendWasm, x);
  });
  const cast = tf.getKernel('Cast', 'wasm')!.kernelFunc;
  replaceWasmKernel('Cast', (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    return x.dtype === (args.attrs as { dtype: string }).dtype && x.dtype !== 'string' ? alias(args.backend as BackendWasm, x) : cast(args);
  });
}

/**
 * LayerNorm as one kernel each way (kernels/train.c): composed of tfjs ops the forward takes
 * nine kernels and the backward a dozen, and at generation sizes each kernel's fixed cost
 * (~10 µs) dominates.
 */
function registerLayerNorm(): void {
  replaceWasmKernel(LAYER_NORM_KERNEL, ({ inputs, backend, attrs }) => {
    const { x, g, b } = inputs as { x: tf.TensorInfo; g: tf.TensorInfo; b: tf.TensorInfo };
    const eps = (attrs as { epsilon: number }).epsilon;
    const wasm = backend as BackendWasm;
    const C = x.shape[x.shape.length - 1]!;
    const N = tf.util.sizeFromShape(x.shape) / C;
    const outs = [wasm.makeOutput(x.shape, 'float32'), wasm.makeOutput([N, 1], 'float32'), wasm.makeOutput([N, 1], 'float32')];
    const at = (t: tf.TensorInfo) => heapOffset(wasm, t);
    wasmKernels(wasm).layer_norm_forward(at(x), at(g), at(b), N, C, eps, ...(outs.map(at) as [number, number, number]));
    return outs;
  });
  replaceWasmKernel(LAYER_NORM_GRAD_KERNEL, ({ inputs, backend }) => {
    const { dy, x, g, mean, rstd } = inputs as Record<'dy' | 'x' | 'g' | 'mean' | 'rstd', tf.TensorInfo>;
    const wasm = backend as BackendWasm;
    const C = x.shape[x.shape.length - 1]!;
    const N = tf.util.sizeFromShape(x.shape) / C;
    const outs = [wasm.makeOutput(x.shape, 'float32'), wasm.makeOutput([C], 'float32'), wasm.makeOutput([C], 'float32')];
    const at = (t: tf.TensorInfo) => heapOffset(wasm, t);
    wasmKernels(wasm).layer_norm_backward(at(dy), at(x), at(g), at(mean), at(rstd), N, C, ...(outs.map(at) as [number, number, number]));
    return outs;
  });
}

/** GELU, Adam, attention forward and backward, the last-two-axes transpose and column sums, each one call into kernels.wasm (see train.c). */
function registerSimdKernels(): void {
  const transpose = tf.getKernel('Transpose', 'wasm')!.kernelFunc;
  replaceWasmKernel('Transpose', (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as { perm: number[] };
    const n = perm.length;
    const swapsLastTwo = n >= 2 && perm[n - 2] === n - 1 && perm[n - 1] === n - 2 && perm.slice(0, -2).every((p, i) => p === i);
    if (!swapsLastTwo || (x.dtype !== 'float32' && x.dtype !== 'int32')) return transpose(args);
    const wasm = args.backend as BackendWasm;
    const [rows, cols] = x.shape.slice(-2);
    const y = wasm.makeOutput(perm.map((p) => x.shape[p]!), x.dtype);
    wasmKernels(wasm).transpose(heapOffset(wasm, x), tf.util.sizeFromShape(x.shape.slice(0, -2)), rows!, cols!, heapOffset(wasm, y));
    return y;
  });
  replaceWasmKernel(COLUMN_SUM_KERNEL, ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const wasm = backend as BackendWasm;
    const [n, c] = x.shape as [number, number];
    const y = wasm.makeOutput([c], 'float32');
    wasmKernels(wasm).column_sum(heapOffset(wasm, x), n, c, heapOffset(wasm, y));
    return y;
  });
  replaceWasmKernel(GELU_KERNEL, ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const wasm = backend as BackendWasm;
    const y = wasm.makeOutput(x.shape, 'float32');
    const s = (attrs as { sigmoid?: boolean } | undefined)?.sigmoid ? wasm.makeOutput(x.shape, 'float32') : undefined;
    wasmKernels(wasm).gelu_forward(heapOffset(wasm, x), heapOffset(wasm, y), s ? heapOffset(wasm, s) : 0, tf.util.sizeFromShape(x.shape));
    return s ? [y, s] : y;
  });
  replaceWasmKernel(GELU_GRAD_KERNEL, ({ inputs, backend }) => {
    const { x, s, dy } = inputs as { x: tf.TensorInfo; s: tf.TensorInfo; dy: tf.TensorInfo };
    const wasm = backend as BackendWasm;
    const dx = wasm.makeOutput(x.shape, 'float32');
    const at = (t: tf.TensorInfo) => heapOffset(wasm, t);
    wasmKernels(wasm).gelu_backward(at(x), at(s), at(dy), at(dx), tf.util.sizeFromShape(x.shape));
    return dx;
  });
  replaceWasmKernel(ADAM_KERNEL, ({ inputs, backend, attrs }) => {
    const { param, grad, m, v } = inputs as Record<'param' | 'grad' | 'm' | 'v', tf.TensorInfo>;
    const a = attrs as Record<'scale' | 'lr' | 'b1' | 'b2' | 'eps' | 'c1' | 'c2' | 'keep', number>;
    const wasm = backend as BackendWasm;
    const out = wasm.makeOutput(param.shape, 'float32');
    const at = (t: tf.TensorInfo) => heapOffset(wasm, t);
    wasmKernels(wasm).adam(at(param), at(grad), at(m), at(v), at(out), tf.util.sizeFromShape(param.shape), a.scale, a.lr, a.b1, a.b2, a.eps, a.c1, a.c2, a.keep);
    return out;
  });
  replaceWasmKernel(ATTENTION_KERNEL, ({ inputs, backend }) => {
    const { qkv } = inputs as { qkv: tf.TensorInfo };
    const [B, T, , H, hs] = qkv.shape;
    const wasm = backend as BackendWasm;
    const y = wasm.makeOutput([B, T, H, hs], 'float32');
    const probs = wasm.makeOutput([B * H, T, T], 'float32');
    wasmKernels(wasm).attention_forward(heapOffset(wasm, qkv), B, T, H, H * hs, heapOffset(wasm, y), heapOffset(wasm, probs));
    return [y, probs];
  });
  replaceWasmKernel(ATTENTION_GRAD_KERNEL, ({ inputs, backend }) => {
    const { dy, qkv, probs } = inputs as { dy: tf.TensorInfo; qkv: tf.TensorInfo; probs: tf.TensorInfo };
    const [B, T, , H, hs] = qkv.shape;
    const wasm = backend as BackendWasm;
    const dqkv = wasm.makeOutput(qkv.shape, 'float32');
    const row = wasm.makeOutput([2 * T], 'float32'); // scratch
    const at = (t: tf.TensorInfo) => heapOffset(wasm, t);
    wasmKernels(wasm).attention_backward(at(dy), at(qkv), at(probs), B, T, H, H * hs, at(dqkv), at(row));
    wasm.disposeData(row.dataId);
    return dqkv;
  });
}
