// A soak of the reply path, shared by test/soak.test.ts and scripts/soak.ts: many replies through the
// real ChatService and LivePolicy while new policy versions are published (and hot-reloaded) now and
// then, sampling TF.js tensors and process memory at quiet moments, when no generation runs.
import * as tf from '@tensorflow/tfjs-core';
import type { ChatService } from '../../src/chat/service.ts';
import type { ChatUser } from '../../src/chat/types.ts';
import type { Database } from '../../src/db/client.ts';
import type { LivePolicy } from '../../src/model/live-policy.ts';
import { publishTinyPolicy } from './policy.ts';

export interface SoakConfig {
  /** Messages answered, each with two candidates. */
  replies: number;
  /** New versions published along the way, evenly spaced; each must be served before the next. */
  reloads: number;
  /** Replies between memory samples (samples are also taken right after each reload). */
  sampleEvery: number;
  /** Conversations the messages rotate through (each keeps its own context). */
  conversations: number;
  /** How long a published version may take to be served. */
  reloadTimeoutMs: number;
}

export interface SoakSample {
  replies: number;
  reloads: number;
  liveVersion: number | null;
  numTensors: number;
  numBytes: number;
  rssMiB: number;
  heapUsedMiB: number;
}

export interface SoakResult {
  samples: SoakSample[];
  /** Tensors once the first reload has settled (the live and the previous version held). */
  baseline: number;
  /** Samples after the baseline whose tensor count differs from it: must be empty. */
  drift: SoakSample[];
  replyLatenciesMs: number[];
  reloadLatenciesMs: number[];
  wallMs: number;
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function sample(replies: number, reloads: number, policy: LivePolicy): SoakSample {
  const { numTensors, numBytes } = tf.memory();
  const { rss, heapUsed } = process.memoryUsage();
  return { replies, reloads, liveVersion: policy.liveVersion(), numTensors, numBytes, rssMiB: mib(rss), heapUsedMiB: mib(heapUsed) };
}

async function servedWithin(policy: LivePolicy, version: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (policy.liveVersion() !== version) {
    if (performance.now() > deadline) throw new Error(`version ${version} was published but not served within ${timeoutMs} ms (still ${policy.liveVersion()})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Runs the soak. Each reload publishes while a reply is being generated, so the replaced version
 * is still in use when the swap happens and must be disposed only afterwards.
 */
export async function soak(database: Database, service: ChatService, policy: LivePolicy, cfg: SoakConfig, onSample?: (s: SoakSample) => void): Promise<SoakResult> {
  const step = Math.floor(cfg.replies / (cfg.reloads + 1));
  const reloadAt = new Set(Array.from({ length: cfg.reloads }, (_, k) => (k + 1) * step));
  const result: SoakResult = { samples: [], baseline: -1, drift: [], replyLatenciesMs: [], reloadLatenciesMs: [], wallMs: 0 };
  const record = (s: SoakSample) => {
    result.samples.push(s);
    if (result.baseline >= 0 && s.numTensors !== result.baseline) result.drift.push(s);
    onSample?.(s);
  };
  const voter: ChatUser = { platform: 'web', externalId: 'soak-voter', isBot: false };
  const started = performance.now();
  let reloads = 0;
  for (let i = 0; i < cfg.replies; i++) {
    const user: ChatUser = { platform: 'web', externalId: `soak-${i % cfg.conversations}`, isBot: false };
    const publishing = reloadAt.has(i) ? publishTinyPolicy(database, { seed: 1000 + i, parentId: policy.liveVersion() }) : undefined;
    const t0 = performance.now();
    const reply = await service.handleMessage({ user, channelId: `soak-${i % cfg.conversations}`, eventId: `soak-${i}`, text: `message ${i}: tell me something` });
    result.replyLatenciesMs.push(performance.now() - t0);
    if (reply.kind !== 'candidates') throw new Error(`reply ${i} was not a pair of candidates: ${JSON.stringify(reply)}`);
    if (i % 2 === 0) await service.handleReaction({ user: voter, target: { promptId: reply.promptId }, choice: i % 4 === 0 ? 'a' : 'b', action: 'add' });
    if (publishing) {
      const next = await publishing;
      await servedWithin(policy, next.id, cfg.reloadTimeoutMs);
      result.reloadLatenciesMs.push(performance.now() - t0);
      reloads++;
      // One more reply, so the new version has generated too before the count is taken.
      await service.handleMessage({ user, channelId: 'soak-after-reload', eventId: `soak-after-${i}`, text: 'and now?' });
      const s = sample(i + 1, reloads, policy);
      if (reloads === 1) result.baseline = s.numTensors;
      record(s);
    } else if ((i + 1) % cfg.sampleEvery === 0 || i === cfg.replies - 1) {
      record(sample(i + 1, reloads, policy));
    }
  }
  result.wallMs = performance.now() - started;
  return result;
}
