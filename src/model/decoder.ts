// Generation steps through the fused wasm kernel (kernels/decode.c, loaded by wasm-kernels.ts):
// one call per step instead of ~100 TF.js kernels, on the same weights, in TF.js's own wasm
// memory. Only on the wasm backend; elsewhere (and for configs it cannot take) generate.ts
// keeps the TF.js KV cache.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { GPT } from './transformer.ts';
import { heapOffset, wasmKernels } from './wasm-kernels.ts';

/** Whether the fused decoder can run `model` here: the wasm backend, and widths in whole SIMD lanes. */
export function canDecodeFused(model: GPT): boolean {
  const { nEmbd, nHead } = model.config;
  return tf.getBackend() === 'wasm' && nEmbd % 4 === 0 && (nEmbd / nHead) % 4 === 0;
}

/**
 * A KV cache and its buffers for `rows` candidates of one prompt of up to `promptLength` tokens.
 * `prefill` runs the prompt once, as one row, and copies its keys and values to every row;
 * `step` then feeds one token per row. Both return the next-token logits (rows, V), a view
 * valid until the next call. The model's weights must not change meanwhile. Dispose when done.
 */
export class FusedDecoder {
  private readonly backend = tf.backend() as BackendWasm;
  private readonly decode = wasmKernels(this.backend).decode;
  private readonly tensors: Record<'params' | 'tokens' | 'cache' | 'scratch' | 'logits', tf.Tensor>;
  private length = 0;

  constructor(
    private readonly model: GPT,
    private readonly rows: number,
    promptLength: number,
  ) {
    if (!canDecodeFused(model)) throw new Error('the fused decoder needs the wasm backend and nEmbd, nEmbd/nHead multiples of 4');
    const { nLayer, nEmbd: C, contextLength } = model.config;
    const maxRows = Math.max(rows, promptLength);
    this.tensors = {
      // decode.c reads the parameters in the model's own order.
      params: tf.tensor1d([...model.getWeights().values()].map((w) => this.offset(w)), 'int32'),
      tokens: tf.zeros([maxRows], 'int32'),
      cache: tf.zeros([nLayer * 2 * rows * contextLength * C]),
      scratch: tf.zeros([maxRows * 10 * C + contextLength]),
      logits: tf.zeros([rows, model.config.vocabSize]),
    };
  }

  /** Runs the prompt as one row; returns the logits repeated for every row. */
  prefill(prompt: number[]): Float32Array {
    if (this.length !== 0) throw new Error('prefill: this decoder already holds a prompt');
    this.run(1, prompt);
    // Copy row 0's keys and values to the other rows: (nLayer·2, rows, H·ctx·hs) blocks.
    const { nLayer, nEmbd: C, contextLength } = this.model.config;
    const cache = this.view<Float32Array>(this.tensors.cache);
    const block = contextLength * C;
    for (let lk = 0; lk < nLayer * 2; lk++) {
      const first = lk * this.rows * block;
      for (let r = 1; r < this.rows; r++) cache.copyWithin(first + r * block, first, first + block);
    }
    const logits = this.view<Float32Array>(this.tensors.logits);
    const V = this.model.config.vocabSize;
    for (let r = 1; r < this.rows; r++) logits.copyWithin(r * V, 0, V);
    return logits;
  }

  /** Feeds one token per row. */
  step(tokens: number[]): Float32Array {
    if (tokens.length !== this.rows) throw new Error(`step: ${tokens.length} tokens for ${this.rows} rows`);
    this.run(this.rows, tokens);
    return this.view<Float32Array>(this.tensors.logits);
  }

  dispose(): void {
    tf.dispose(Object.values(this.tensors));
  }

  private run(rows: number, tokens: number[]): void {
    const { nLayer, nHead, nEmbd, vocabSize, contextLength } = this.model.config;
    const positions = tokens.length / rows;
    if (this.length + positions > contextLength) throw new Error(`sequence of ${this.length + positions} tokens exceeds the model's contextLength ${contextLength}`);
    this.view(this.tensors.tokens).set(tokens);
    const t = this.tensors;
    this.decode(this.offset(t.params), nLayer, nHead, nEmbd, vocabSize, contextLength, this.offset(t.cache), this.rows, rows, positions, this.length, this.offset(t.tokens), this.offset(t.scratch), this.offset(t.logits));
    this.length += positions;
  }

  private offset(t: tf.Tensor): number {
    return heapOffset(this.backend, t);
  }

  /** A view of t on the wasm heap, taken afresh: a heap growth detaches older views. */
  private view<T extends Float32Array | Int32Array>(t: tf.Tensor): T {
    return this.backend.typedArrayFromHeap(t) as T;
  }
}
