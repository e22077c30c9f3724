// No leak: replies and hot reloads leave the TF.js tensor count where it was (scripts/soak.ts runs
// the same loop for 10,000 replies and 20 reloads).
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatService } from '../src/chat/service.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { publishTinyPolicy, startLivePolicy } from './helpers/policy.ts';
import { soak } from './helpers/soak.ts';

describe('soak: replies and hot reloads through the real service and policy', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await freshDatabase('pglite');
    await publishTinyPolicy(database);
  });
  afterAll(() => database?.close());

  it('keeps the tensor count flat over 300 replies and 3 reloads, and frees everything on stop', async () => {
    const before = tf.memory().numTensors;
    // One pair in five from the live and the previous version, so both are held and released.
    const policy = await startLivePolicy(database, { maxNewTokens: 4, evalShare: 0.2 });
    const service = new ChatService(database, policy, { maxMessageChars: 2000, rateLimitPerMinute: 100_000, contextTurns: 4, allowVoteOnOwnPrompt: true, admins: new Set(), voteRetryMs: 2000 });
    const result = await soak(database, service, policy, { replies: 300, reloads: 3, sampleEvery: 50, conversations: 5, reloadTimeoutMs: 15_000 });
    await policy.stop();
    expect(result.reloadLatenciesMs).toHaveLength(3);
    expect(new Set(result.samples.map((s) => s.liveVersion)).size).toBe(4);
    expect(result.baseline).toBeGreaterThan(0);
    expect(result.drift).toEqual([]);
    expect(result.samples.filter((s) => s.reloads >= 1).length).toBeGreaterThan(4);
    expect(tf.memory().numTensors).toBe(before);
  });
});
