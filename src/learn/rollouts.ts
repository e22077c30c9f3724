// Sampling replies for the learner: rollouts for PPO and the gate's samples.
import { generate } from '../model/generate.ts';
import type { Tokenizer, Turn } from '../model/tokenizer.ts';
import type { GPT } from '../model/transformer.ts';
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

/**
 * `numSamples` replies per prompt from `model` (one batched, KV-cached generation per prompt).
 * topP defaults to 1, plain ancestral sampling, so rollouts follow the distribution PPO trains.
 * Seeded: prompt i uses seed + i.
 */
export async function sampleReplies(
  model: GPT,
  tokenizer: Tokenizer,
  prompts: Turn[][],
  opts: { numSamples: number; maxNewTokens: number; temperature: number; seed: number; topP?: number },
): Promise<SampledReply[]> {
  const eot = tokenizer.special.eot;
  const out: SampledReply[] = [];
  for (const [i, context] of prompts.entries()) {
    const prompt = tokenizer.renderChat(context, model.config.contextLength - opts.maxNewTokens);
    const samples = await generate(model, prompt, { ...opts, topP: opts.topP ?? 1, seed: opts.seed + i, eotId: eot });
    for (const s of samples) {
      const ended = s.tokenIds.at(-1) === eot;
      const body = ended ? s.tokenIds.slice(0, -1) : s.tokenIds;
      out.push({ context, seq: { ids: [...prompt, ...s.tokenIds], promptLength: prompt.length }, text: tokenizer.decode(body).trim(), ended });
    }
  }
  return out;
}
