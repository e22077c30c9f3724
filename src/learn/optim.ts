// The optimiser step shared by the reward model, PPO and DPO: gradients of a scalar loss, clipped
// by their global norm, then Adam, then optional decoupled weight decay on the weight matrices.
import * as tf from '@tensorflow/tfjs-core';
import { Adam } from './adam.ts';

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * One optimiser step on `loss()` over `vars`. Whatever `loss` returns must be a scalar; any tensors
 * it wants to report it keeps itself (tf.keep) and disposes after the step.
 */
export function optimiserStep(
  optimizer: tf.Optimizer,
  vars: tf.Variable[],
  loss: () => tf.Scalar,
  opts: { maxGradNorm: number; weightDecay?: number; lr?: number },
): StepResult {
  const { value, grads } = tf.variableGrads(loss, vars);
  const lossValue = value.dataSync()[0]!;
  value.dispose();
  return { loss: lossValue, gradNorm: applyGradients(optimizer, vars, grads, opts) };
}

/**
 * The step itself, given gradients by variable name (disposed here): clipped by their global
 * norm, Adam, decoupled weight decay (one fused step with our Adam; any other tf.Optimizer, such
 * as the SGD of the pool's equivalence test, steps in three). Returns the norm before clipping.
 */
export function applyGradients(
  optimizer: tf.Optimizer,
  vars: tf.Variable[],
  grads: tf.NamedTensorMap,
  opts: { maxGradNorm: number; weightDecay?: number; lr?: number },
  /** The gradients' global norm where the caller already has it (the pool takes it from the flat sum). */
  knownNorm?: number,
): number {
  const gradNorm =
    knownNorm ??
    tf.tidy(() => {
      const squares = Object.values(grads).map((g) => tf.sum(tf.square(g)));
      return tf.sqrt(tf.addN(squares)).dataSync()[0]!;
    });
  const scale = gradNorm > opts.maxGradNorm ? opts.maxGradNorm / (gradNorm + 1e-6) : 1;
  const keep = opts.weightDecay && opts.lr ? 1 - opts.lr * opts.weightDecay : 1;
  if (optimizer instanceof Adam) {
    // Matrices only: decaying LayerNorm gains and biases pulls them away from their roles.
    optimizer.update(grads, scale, (v) => (v.rank >= 2 ? keep : 1));
    tf.dispose(Object.values(grads));
    return gradNorm;
  }
  const scaled: tf.NamedTensorMap = {};
  for (const [name, g] of Object.entries(grads)) scaled[name] = scale === 1 ? g : tf.mul(g, scale);
  optimizer.applyGradients(scaled);
  if (keep !== 1) for (const v of vars) if (v.rank >= 2) tf.tidy(() => v.assign(tf.mul(v, keep)));
  tf.dispose([...Object.values(grads), ...(scale === 1 ? [] : Object.values(scaled))]);
  return gradNorm;
}
