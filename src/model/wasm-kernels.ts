// The project's own wasm SIMD kernels (kernels/*.c, built into kernels/kernels.wasm by
// scripts/build-kernels.sh), instantiated on TF.js's wasm memory so they read and write tensors
// in place. Arguments are byte offsets into that memory and plain integers.
import { readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Fn<N extends number> = (...args: number[] & { length: N }) => void;

export interface WasmKernels {
  /** decode.c: one generation step of the policy (see decoder.ts). */
  decode: Fn<14>;
  /** train.c: causal attention from qkv, forward (y, probs) and backward (dqkv). */
  attention_forward: Fn<7>;
  attention_backward: Fn<9>;
  /** train.c: gelu_new and its gradient, elementwise. */
  gelu_forward: Fn<4>;
  gelu_backward: Fn<5>;
  /** train.c: LayerNorm over the last axis, forward (y, mean, rstd) and backward (dx, dg, db). */
  layer_norm_forward: Fn<9>;
  layer_norm_backward: Fn<10>;
  /** train.c: one Adam step of one variable. */
  adam: Fn<14>;
  /** train.c: swaps the last two axes of (batch, rows, cols). */
  transpose: Fn<5>;
  /** train.c: the sum of the rows of (n, c). */
  column_sum: Fn<4>;
}

const WASM_FILE = new URL('./kernels/kernels.wasm', import.meta.url);
let compiled: WebAssembly.Module | undefined;
/** One instance per wasm memory: a re-initialised backend brings a new memory. */
const instances = new WeakMap<WebAssembly.Memory, WasmKernels>();

export function wasmKernels(backend: BackendWasm): WasmKernels {
  const memory = (backend.wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
  let kernels = instances.get(memory);
  if (!kernels) {
    compiled ??= new WebAssembly.Module(readFileSync(WASM_FILE));
    kernels = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as WasmKernels;
    instances.set(memory, kernels);
  }
  return kernels;
}

/** Where a tensor's data starts in the wasm memory, in bytes. */
export function heapOffset(backend: BackendWasm, t: tf.TensorInfo): number {
  return (backend.dataIdMap.get(t.dataId) as unknown as { memoryOffset: number }).memoryOffset;
}
