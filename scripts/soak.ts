// Soak test of the reply path: 10,000 replies from the tiny model through the real ChatService and
// LivePolicy, with 20 policy versions published and hot-reloaded along the way and one evaluation
// pair in ten (so the previous version is held and released too). Prints TF.js tensors and process
// memory at intervals and at the end; exits 1 if the tensor count moves once the first reload has
// settled, or if anything is left after the policy stops.
//
// The database is an in-memory PGlite, whose growth shows in the process's RSS; with DATABASE_URL
// set it is a throwaway PostgreSQL database instead (created and dropped), so RSS is the bot's alone.
//
// Run: npm run soak [-- --replies 10000 --reloads 20]
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { ChatService } from '../src/chat/service.ts';
import { openDatabase } from '../src/db/client.ts';
import { initBackend } from '../src/model/backend.ts';
import { createTestPgDatabase, dropTestPgDatabase } from '../test/helpers/db.ts';
import { loadServiceOptions, publishTinyPolicy, startLivePolicy } from '../test/helpers/policy.ts';
import { soak, type SoakConfig, type SoakSample } from '../test/helpers/soak.ts';
import { formatLatency, summarize } from '../test/helpers/stats.ts';

const SOAK: SoakConfig & { maxNewTokens: number; evalShare: number } = {
  replies: 10_000,
  reloads: 20,
  sampleEvery: 500,
  conversations: 20,
  reloadTimeoutMs: 30_000,
  /** New tokens per candidate. */
  maxNewTokens: 16,
  /** Share of prompts answered by the live and the previous version. */
  evalShare: 0.1,
};

function count(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} needs a whole number of at least ${min}, e.g. --${name} ${fallback}`);
  return n;
}

const { values: flags } = parseArgs({ options: { replies: { type: 'string' }, reloads: { type: 'string' } } });
const cfg: typeof SOAK = { ...SOAK, replies: count('replies', flags.replies, SOAK.replies, 2), reloads: count('reloads', flags.reloads, SOAK.reloads, 1) };
if (cfg.replies <= cfg.reloads) throw new Error('--replies must be larger than --reloads');

const line = (s: SoakSample) =>
  `${String(s.replies).padStart(6)} replies  ${String(s.reloads).padStart(2)} reloads  v${s.liveVersion}  tensors ${s.numTensors} (${(s.numBytes / 2 ** 20).toFixed(1)} MiB)  rss ${s.rssMiB} MiB  heap ${s.heapUsedMiB} MiB`;

async function main(): Promise<boolean> {
  const backend = await initBackend();
  const url = process.env.DATABASE_URL ? await createTestPgDatabase() : undefined;
  const database = await openDatabase(url ? { url } : { dataDir: 'memory://' });
  try {
    await publishTinyPolicy(database);
    const before = tf.memory().numTensors;
    const policy = await startLivePolicy(database, { maxNewTokens: cfg.maxNewTokens, evalShare: cfg.evalShare });
    const service = new ChatService(database, policy, loadServiceOptions(5000));
    console.log(`soak: ${cfg.replies} replies, ${cfg.reloads} reloads, tiny policy (${cfg.maxNewTokens} new tokens) on ${backend}, ${url ? `PostgreSQL ${database.where}` : 'PGlite in memory'}; ${before} tensors before start`);
    const result = await soak(database, service, policy, cfg, (s) => console.log(line(s)));
    await policy.stop();
    const after = tf.memory().numTensors;
    const rss = result.samples.map((s) => s.rssMiB);
    console.log(`replies: ${(cfg.replies / (result.wallMs / 1000)).toFixed(1)}/s; latency ${formatLatency(summarize(result.replyLatenciesMs))}`);
    console.log(`reloads: publish to served ${formatLatency(summarize(result.reloadLatenciesMs))}`);
    console.log(`tensors: baseline ${result.baseline} after the first reload, ${result.drift.length} samples off it; ${after} after stop (${before} before start)`);
    console.log(`rss: first sample ${rss[0]} MiB, last ${rss.at(-1)} MiB, max ${Math.max(...rss)} MiB`);
    for (const s of result.drift.slice(0, 5)) console.log(`  drift: ${line(s)}`);
    return result.drift.length === 0 && after === before;
  } finally {
    await database.close();
    if (url) await dropTestPgDatabase(url);
  }
}

main().then(
  (ok) => {
    console.log(ok ? 'soak: OK, tensor count flat' : 'soak: FAILED, tensors leaked');
    process.exit(ok ? 0 : 1);
  },
  (err: Error) => {
    console.error(`soak: ${err.message}`);
    process.exit(1);
  },
);
