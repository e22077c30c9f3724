// Sampling replies for the learner: rollouts for PPO and the gate's samples.
import { generate, type Sample } from '../model/generate.ts';
import type { Tokenizer, Turn } from '../model/tokenizer.ts';
import type { GPT } from '../model/transformer.ts';
import { spread, type ModelPool } from './parallel.ts';
import type { Sequence } from './sequences.ts';

/** One sampled reply: the sequence it makes with its prompt, and its text as the bot would show it. */
export interface SampledReply {
  context: Turn[];
  seq: Sequence;
  /** Decoded and trimmed, as LivePolicy shows it. */
  text: string;
  /** The reply reached its end token (false: it was cut at maxNewTokens). */
  ended: boolean;
}

/** Sampling settings of a batch of prompts; prompt i of the batch uses seed + i. */
export interface ManyOptions {
  prompts: number[][];
  numSamples: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  eotId: number;
  seed: number;
}

/** `numSamples` samples per prompt (one batched, KV-cached generation per prompt). */
export async function generateMany(model: GPT, opts: ManyOptions): Promise<Sample[][]> {
  const out: Sample[][] = [];
  for (const [i, prompt] of opts.prompts.entries()) out.push(await generate(model, prompt, { ...opts, seed: opts.seed + i }));
  return out;
}

/**
 * `numSamples` replies per prompt from `model`, spread over the pool's workers when given one.
 * topP defaults to 1, plain ancestral sampling, so rollouts follow the distribution PPO trains.
 * Seeded: prompt i uses seed + i, so a pool gives the same replies as this thread.
 */
export async function sampleReplies(
  model: GPT,
  tokenizer: Tokenizer,
  prompts: Turn[][],
  opts: { numSamples: number; maxNewTokens: number; temperature: number; seed: number; topP?: number },
  pool?: ModelPool,
): Promise<SampledReply[]> {
  const eot = tokenizer.special.eot;
  const rendered = prompts.map((context) => tokenizer.renderChat(context, model.config.contextLength - opts.maxNewTokens));
  const parts = await spread(pool, 'generate', [model], prompts.length, (start, end) => ({
    prompts: rendered.slice(start, end),
    numSamples: opts.numSamples,
    maxNewTokens: opts.maxNewTokens,
    temperature: opts.temperature,
    topP: opts.topP ?? 1,
    eotId: eot,
    seed: opts.seed + start,
  }));
  return parts.flat().flatMap((samples, i) =>
    samples.map((s) => {
      const ended = s.tokenIds.at(-1) === eot;
      const body = ended ? s.tokenIds.slice(0, -1) : s.tokenIds;
      return { context: prompts[i]!, seq: { ids: [...rendered[i]!, ...s.tokenIds], promptLength: rendered[i]!.length }, text: tokenizer.decode(body).trim(), ended };
    }),
  );
}
