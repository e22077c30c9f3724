// A real, tiny policy for tests: random weights (or a few SFT steps), the default tokenizer,
// stored in the test database as the live version exactly as a bootstrap would.
import type { ServiceOptions } from '../../src/chat/service.ts';
import type { Database } from '../../src/db/client.ts';
import * as q from '../../src/db/queries.ts';
import type { PolicyVersion } from '../../src/db/schema.ts';
import { initBackend } from '../../src/model/backend.ts';
import { LivePolicy, type LivePolicyOptions } from '../../src/model/live-policy.ts';
import { savePolicy } from '../../src/model/store.ts';
import { loadDefaultTokenizer } from '../../src/model/tokenizer.ts';
import { GPT, MODEL_SIZES } from '../../src/model/transformer.ts';
import { ContentFilter } from '../../src/safety/filter.ts';

export function tinyPolicy(seed = 1): GPT {
  return new GPT({ ...MODEL_SIZES.tiny, vocabSize: loadDefaultTokenizer().vocabSize }, { seed });
}

/** Stores a tiny policy and makes it live (or stores it with `status`). */
export async function publishTinyPolicy(database: Database, opts: { seed?: number; parentId?: number | null; live?: boolean } = {}): Promise<PolicyVersion> {
  await initBackend();
  const model = tinyPolicy(opts.seed ?? 1);
  try {
    return await database.db.transaction(async (tx) => {
      const row = await savePolicy(tx, { model, tokenizer: loadDefaultTokenizer() }, { parentId: opts.parentId ?? null, kind: opts.parentId ? 'ppo' : 'sft', status: 'candidate' });
      return opts.live === false ? row : q.makeLiveIn(tx, row.id);
    });
  } finally {
    model.dispose();
  }
}

export function testPolicyOptions(overrides: Partial<LivePolicyOptions> = {}): LivePolicyOptions {
  return { temperature: 1, topP: 0.95, maxNewTokens: 8, evalShare: 0, challengerShare: 0, pollMs: 60_000, filter: new ContentFilter(), ...overrides };
}

export async function startLivePolicy(database: Database, overrides: Partial<LivePolicyOptions> = {}): Promise<LivePolicy> {
  const policy = new LivePolicy(database, testPolicyOptions(overrides));
  await policy.start();
  return policy;
}

/**
 * A chat service for load and soak runs: the default message size and context, and a rate limit
 * far above what the workload sends (the limit is not what these runs measure).
 */
export function loadServiceOptions(voteRetryMs: number): ServiceOptions {
  return { maxMessageChars: 2000, rateLimitPerMinute: 1_000_000, contextTurns: 6, allowVoteOnOwnPrompt: true, admins: new Set(), voteRetryMs };
}
