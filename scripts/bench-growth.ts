// How the cost of a learn cycle grows with the stored history. Each case holds the same number of
// NEW preference pairs since the last decided run (default 1,000) on top of a different number of
// older ones (default 0, 4,000 and 19,000: 1k, 5k and 20k in all), and runs one real learner cycle
// (runLearnerCycle, the default settings, the shipped small policy as live: scripts/bench/shipped-policy.ts). A cycle should cost in
// proportion to the new pairs plus a bounded replay sample (maxPairsPerCycle), not to the history.
//
// Every case runs in its own child process, so its peak RSS is its own; the child first times the
// cycle's data queries on its database (medians of several runs), then the cycle, split into stages
// by the cycle's progress hooks. Runs on an embedded PGlite database in a temp folder, and also on
// PostgreSQL (a throwaway database) when DATABASE_URL is set.
//
// Run: npm run bench:growth [-- --sizes 1000,5000,20000] [--new 1000] [--repeats 1] [--queries-only]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { eq, sql } from 'drizzle-orm';
import * as tf from '@tensorflow/tfjs-core';
import type { VoteChoice } from '../src/chat/types.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import * as q from '../src/db/queries.ts';
import { evaluationComparisons } from '../src/db/reports.ts';
import { candidates, conversations, learnerRuns, prompts, users, votes, type ContextTurn } from '../src/db/schema.ts';
import { loadCorpus } from '../src/learn/corpus.ts';
import { runLearnerCycle } from '../src/learn/cycle.ts';
import { cycleSettings } from '../src/learn/schedule.ts';
import { initBackend } from '../src/model/backend.ts';
import { mulberry32 } from '../src/model/prng.ts';
import { loadPolicy } from '../src/model/store.ts';
import type { Tokenizer } from '../src/model/tokenizer.ts';
import { createTestPgDatabase, dropTestPgDatabase } from '../test/helpers/db.ts';
import { percentile } from '../test/helpers/stats.ts';
import { publishShippedPolicy } from './bench/shipped-policy.ts';
import { printTable } from './bench/table.ts';

const GROWTH = {
  /** Stored prompts with votes in each case, new ones included. */
  historySizes: [1000, 5000, 20_000],
  /** Prompts with votes added after the last decided run: the same in every case. */
  newPairs: 1000,
  /** Runs of each data query per case; the table quotes the median. */
  queryRepeats: 5,
  /** Cycles per case; cases alternate between repeats. */
  cycleRepeats: 1,
  /** People who vote, and people who ask (one conversation each). */
  voters: 300,
  authors: 50,
  /** Most voters on one prompt. */
  maxVotesPerPrompt: 3,
  /** Shares of prompts whose votes decide A or B, and that end in a tie; the rest are "both bad". */
  decisiveShare: 0.85,
  tieShare: 0.08,
  /** Rows per INSERT while seeding. */
  insertChunk: 500,
  /** How often the child samples RSS and tf.memory() during the cycle. */
  memorySampleMs: 50,
  /** Seed of the synthetic history and of the cycle. */
  seed: 1,
};

/** What a child measures for one case. */
interface CaseResult {
  queriesMs: Record<string, number>;
  cycle?: {
    status: string;
    reason?: string;
    seconds: number;
    cpuSeconds: number;
    stagesS: Record<string, number>;
    stagesCpuS: Record<string, number>;
    counts: Record<string, number>;
    peakRssMb: number;
    rssBeforeMb: number;
    peakTfMb: number;
    tensorsLeaked: number;
  };
}

interface Target {
  driver: 'pglite' | 'pg';
  /** PGlite folder or PostgreSQL URL. */
  where: string;
  history: number;
}

const open = (t: Target) => (t.driver === 'pglite' ? openDatabase({ dataDir: t.where }) : openDatabase({ url: t.where, poolSize: 4 }));
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

// ---------------------------------------------------------------------------------------------
// Seeding.

/** The votes on one prompt: a majority for A or B, a tie, or "both bad". */
function votesFor(rand: () => number): VoteChoice[] {
  const n = 1 + Math.floor(rand() * GROWTH.maxVotesPerPrompt);
  const r = rand();
  if (r < GROWTH.decisiveShare) {
    const win: VoteChoice = rand() < 0.5 ? 'a' : 'b';
    // One dissenting vote at most, and only where the majority still holds.
    return Array.from({ length: n }, (_, i) => (n === 3 && i === 2 ? (win === 'a' ? 'b' : 'a') : win));
  }
  if (r < GROWTH.decisiveShare + GROWTH.tieShare) return n === 1 ? ['tie'] : ['a', 'b'];
  return ['both_bad'];
}

/**
 * Bulk-inserts `count` prompts (user turns and replies from the corpus), their two candidates and
 * their votes, `offset` numbering them after earlier batches.
 */
async function seedPrompts(database: Database, ctx: { versionId: number; tokenizer: Tokenizer; userIds: number[]; conversationIds: string[]; dialogues: ContextTurn[][] }, offset: number, count: number): Promise<void> {
  const rand = mulberry32(GROWTH.seed * 7919 + offset);
  const db = database.db;
  const sampling = { temperature: 1, topP: 0.95, maxNewTokens: 48, seed: 0 };
  const replyOf = (d: ContextTurn[]) => d.find((t) => t.role === 'bot')!.text;
  for (let start = 0; start < count; start += GROWTH.insertChunk) {
    const n = Math.min(GROWTH.insertChunk, count - start);
    const picks = Array.from({ length: n }, () => [GROWTH.authors, GROWTH.voters, ctx.dialogues.length].map((k) => Math.floor(rand() * k)));
    const rows = await db
      .insert(prompts)
      .values(
        picks.map(([author, , d], i) => {
          const text = ctx.dialogues[d][0].text;
          return {
            conversationId: ctx.conversationIds[author],
            userId: ctx.userIds[author],
            platform: 'discord',
            eventId: `growth-${offset + start + i}`,
            userText: text,
            context: [{ role: 'user' as const, text }],
            slotsSwapped: rand() < 0.5,
          };
        }),
      )
      .returning({ id: prompts.id });
    await db.insert(candidates).values(
      rows.flatMap(({ id }, i) => {
        const own = replyOf(ctx.dialogues[picks[i][2]]);
        const other = replyOf(ctx.dialogues[(picks[i][2] + 1 + Math.floor(rand() * 50)) % ctx.dialogues.length]);
        return (['a', 'b'] as const).map((slot, k) => {
          const text = k === 0 ? own : other;
          return { promptId: id, slot, text, policyVersionId: ctx.versionId, tokenIds: ctx.tokenizer.encode(text), logprobs: [], sampling, latencyMs: 100 };
        });
      }),
    );
    await db.insert(votes).values(
      rows.flatMap(({ id }, i) =>
        votesFor(rand).map((choice, k) => ({ promptId: id, userId: ctx.userIds[GROWTH.authors + ((picks[i][1] + k) % GROWTH.voters)], choice })),
      ),
    );
  }
}

/** A database with `history - newPairs` older prompts with votes, a decided run, then `newPairs` new ones. */
export async function seedCase(database: Database, history: number): Promise<void> {
  const { versionId, tokenizer } = await publishShippedPolicy(database);
  const people = [...Array.from({ length: GROWTH.authors }, (_, i) => `author-${i}`), ...Array.from({ length: GROWTH.voters }, (_, i) => `voter-${i}`)];
  const userRows = await database.db
    .insert(users)
    .values(people.map((externalId) => ({ platform: 'discord', externalId })))
    .returning({ id: users.id });
  const convRows = await database.db
    .insert(conversations)
    .values(Array.from({ length: GROWTH.authors }, (_, i) => ({ platform: 'discord', channelId: `channel-${i}` })))
    .returning({ id: conversations.id });
  const ctx = { versionId, tokenizer, userIds: userRows.map((r) => r.id), conversationIds: convRows.map((r) => r.id), dialogues: loadCorpus(loadConfig({}).CORPUS_PATH) };
  const old = history - GROWTH.newPairs;
  if (old > 0) {
    await seedPrompts(database, ctx, 0, old);
    // The last decided run: the new pairs are those whose votes changed after it started.
    const runId = await q.startRun(database.db);
    await q.finishRun(database.db, runId, 'succeeded');
    await new Promise((r) => setTimeout(r, 20));
  }
  await seedPrompts(database, ctx, old, GROWTH.newPairs);
  // Statistics, as autovacuum keeps them on a live database: without them the planner takes the bulk
  // loaded tables for empty, and preferencePairs took 1 s instead of 60 ms at 20k on PostgreSQL.
  await database.db.execute(sql`analyze`);
}

// ---------------------------------------------------------------------------------------------
// The child: one case.

async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < GROWTH.queryRepeats; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return Math.round(percentile(times, 0.5) * 10) / 10;
}

/** The queries a cycle runs before training, each timed on its own. */
async function profileQueries(database: Database, maxPairs: number, rolloutPrompts: number): Promise<Record<string, number>> {
  const db = database.db;
  const since = (await q.lastDecidedRun(db))?.startedAt;
  const live = (await q.livePolicy(db))!;
  return {
    'evaluationComparisons (rollout review)': await timeMs(() => evaluationComparisons(db)),
    'preferencePairs since last run (new)': await timeMs(() => q.preferencePairs(db, { since })),
    'importedPairsSince': await timeMs(() => q.importedPairsSince(db, { since, limit: maxPairs })),
    [`samplePreferencePairs ${maxPairs} before last run`]: await timeMs(() => q.samplePreferencePairs(db, { count: maxPairs, before: since })),
    [`recentContexts ${rolloutPrompts * 4}`]: await timeMs(() => q.recentContexts(db, rolloutPrompts * 4)),
    'loadPolicy (live)': await timeMs(async () => (await loadPolicy(db, live)).model.dispose()),
  };
}

async function runCase(target: Target, withCycle: boolean): Promise<CaseResult> {
  await initBackend();
  const database = await open(target);
  try {
    const settings = { ...cycleSettings(loadConfig({})), seed: GROWTH.seed };
    const cfg = settings.learner;
    const result: CaseResult = { queriesMs: await profileQueries(database, cfg.maxPairsPerCycle, cfg.rolloutPrompts + cfg.gateHeldOutPrompts) };
    if (!withCycle) return result;

    // [name, wall ms, CPU ms of this process (PGlite's work included, a PostgreSQL server's not)]
    const marks: [string, number, number][] = [];
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const t0 = performance.now();
    const c0 = cpuMs();
    const rssBefore = process.memoryUsage().rss;
    const tensorsBefore = tf.memory().numTensors;
    let peakRss = rssBefore;
    let peakTf = tf.memory().numBytes;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      peakTf = Math.max(peakTf, tf.memory().numBytes);
    }, GROWTH.memorySampleMs);
    const cycle = await runLearnerCycle(database, {
      ...settings,
      progress: (phase) => {
        marks.push([`${phase} start`, performance.now(), cpuMs()]);
        return { update() {}, stop: () => void marks.push([`${phase} end`, performance.now(), cpuMs()]) };
      },
    });
    const end = performance.now();
    const cEnd = cpuMs();
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
    // Between the progress marks: data and loads, reward model, saving it and the prompts, PPO, gate and publish.
    const all: [string, number, number][] = [['start', t0, c0], ...marks, ['end', end, cEnd]];
    const segments: [string, string, string][] = [
      ['data + loads', 'start', 'reward start'],
      ['reward model', 'reward start', 'reward end'],
      ['save RM + prompts', 'reward end', 'ppo start'],
      ['PPO', 'ppo start', 'ppo end'],
      ['gate + publish', 'ppo end', 'end'],
    ];
    const stagesS: Record<string, number> = {};
    const stagesCpuS: Record<string, number> = {};
    const seconds = (ms: number) => Math.round(ms / 100) / 10;
    for (const [name, from, to] of segments) {
      const [a, b] = [all.find(([n]) => n === from), all.find(([n]) => n === to)];
      if (!a || !b) continue;
      stagesS[name] = seconds(b[1] - a[1]);
      stagesCpuS[name] = seconds(b[2] - a[2]);
    }
    // A repeat must see the same new pairs: the run this cycle decided no longer counts as decided.
    if (cycle.runId !== null) await database.db.update(learnerRuns).set({ status: 'failed', error: 'bench-growth repeat' }).where(eq(learnerRuns.id, cycle.runId));
    result.cycle = {
      status: cycle.status,
      reason: cycle.reason,
      seconds: seconds(end - t0),
      cpuSeconds: seconds(cEnd - c0),
      stagesS,
      stagesCpuS,
      counts: cycle.counts,
      peakRssMb: mb(peakRss),
      rssBeforeMb: mb(rssBefore),
      peakTfMb: mb(peakTf),
      tensorsLeaked: tf.memory().numTensors - tensorsBefore,
    };
    return result;
  } finally {
    await database.close();
  }
}

function runChild(target: Target, withCycle: boolean): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), '--child', JSON.stringify({ target, withCycle })];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as CaseResult);
      else reject(new Error(`the ${target.driver} case with ${target.history} pairs failed (exit ${code}): ${out.trim().slice(-500)}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The parent: seeds every case, runs the children, prints the tables.

function parseFlags() {
  const { values } = parseArgs({
    options: { sizes: { type: 'string' }, new: { type: 'string' }, repeats: { type: 'string' }, 'queries-only': { type: 'boolean' }, child: { type: 'string' } },
  });
  const ints = (name: string, text: string) =>
    text.split(',').map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs positive whole numbers, e.g. --sizes 1000,5000,20000`);
      return n;
    });
  if (values.sizes) GROWTH.historySizes = ints('sizes', values.sizes);
  if (values.new) GROWTH.newPairs = ints('new', values.new)[0];
  if (values.repeats) GROWTH.cycleRepeats = ints('repeats', values.repeats)[0];
  if (GROWTH.historySizes.some((n) => n < GROWTH.newPairs)) throw new Error(`every --sizes value must be at least --new (${GROWTH.newPairs})`);
  return { child: values.child, withCycle: !values['queries-only'] };
}

const med = (xs: number[]) => percentile(xs, 0.5);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');

function report(driver: string, sizes: number[], results: CaseResult[][], withCycle: boolean): void {
  const cols = sizes.map((n) => `${n.toLocaleString('en')} pairs`);
  const last = `${(sizes.at(-1)! / 1000).toFixed(0)}k / ${(sizes[0] / 1000).toFixed(0)}k`;
  const queries = Object.keys(results[0][0].queriesMs);
  printTable(
    `${driver}: data queries of a cycle, ms (median of ${GROWTH.queryRepeats} runs${results[0].length > 1 ? ` x ${results[0].length} repeats` : ''})`,
    ['query', ...cols, last],
    queries.map((name) => {
      const ms = results.map((rs) => med(rs.map((r) => r.queriesMs[name])));
      return [name, ...ms.map((x) => x.toFixed(1)), ratio(ms.at(-1)!, ms[0])];
    }),
  );
  if (!withCycle) return;
  const cycles = results.map((rs) => rs.map((r) => r.cycle!));
  const stageNames = Object.keys(cycles[0][0].stagesS);
  const num = (f: (c: NonNullable<CaseResult['cycle']>) => number) => cycles.map((cs) => med(cs.map(f)));
  const rows: [string, number[], number][] = [
    ['pairs trained (new + replay)', num((c) => c.counts.pairs ?? 0), 0],
    ['cycle, wall s', num((c) => c.seconds), 1],
    ...stageNames.map((s): [string, number[], number] => [`  ${s}, wall s`, num((c) => c.stagesS[s] ?? NaN), 1]),
    ['cycle, CPU s of the learner process', num((c) => c.cpuSeconds), 1],
    ...stageNames.map((s): [string, number[], number] => [`  ${s}, CPU s`, num((c) => c.stagesCpuS[s] ?? NaN), 1]),
    ['CPU s per 100 pairs trained', num((c) => (100 * c.cpuSeconds) / Math.max(c.counts.pairs ?? 0, 1)), 1],
    ['peak RSS, MB', num((c) => c.peakRssMb), 0],
    ['peak tf.memory, MB (sampled)', num((c) => c.peakTfMb), 0],
    ['tensors left after the cycle', num((c) => c.tensorsLeaked), 0],
  ];
  printTable(
    `${driver}: one learn cycle (default settings, small policy), ${GROWTH.newPairs.toLocaleString('en')} new pairs each${cycles[0].length > 1 ? `, median of ${cycles[0].length}` : ''}`,
    ['', ...cols, last],
    rows.map(([name, xs, digits]) => [name, ...xs.map((x) => x.toFixed(digits)), ratio(xs.at(-1)!, xs[0])]),
  );
  const c0 = cycles.map((cs) => cs[0]);
  console.log(`status: ${c0.map((c) => `${c.status}${c.reason ? ` (${c.reason})` : ''}`).join('; ')}`);
  console.log(`counts: ${c0.map((c) => `newPairs ${c.counts.newPairs}, pairs ${c.counts.pairs}, ties ${c.counts.ties}, bothBad ${c.counts.bothBad}`).join('; ')}`);
}

async function main(): Promise<void> {
  const flags = parseFlags();
  if (flags.child) {
    const { target, withCycle } = JSON.parse(flags.child) as { target: Target; withCycle: boolean };
    console.log(JSON.stringify(await runCase(target, withCycle)));
    return;
  }
  await initBackend();
  const drivers: ('pglite' | 'pg')[] = process.env.DATABASE_URL ? ['pglite', 'pg'] : ['pglite'];
  const sizes = GROWTH.historySizes;
  const temp = mkdtempSync(path.join(tmpdir(), 'pairwise-growth-'));
  const targets: Target[] = [];
  try {
    for (const driver of drivers) {
      for (const history of sizes) {
        const where = driver === 'pglite' ? path.join(temp, `case-${history}`) : await createTestPgDatabase();
        const target = { driver, where, history };
        targets.push(target);
        const started = performance.now();
        const database = await open(target);
        try {
          await seedCase(database, history);
        } finally {
          await database.close();
        }
        console.error(`seeded ${driver} with ${history} prompts with votes in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      }
    }
    for (const driver of drivers) {
      const mine = targets.filter((t) => t.driver === driver);
      const results: CaseResult[][] = mine.map(() => []);
      for (let r = 0; r < GROWTH.cycleRepeats; r++) {
        // Alternate the order of the cases between repeats, so drift in the machine's load spreads over all.
        for (let k = 0; k < mine.length; k++) {
          const i = r % 2 === 0 ? k : mine.length - 1 - k;
          results[i].push(await runChild(mine[i], flags.withCycle));
          console.error(`ran ${driver} ${mine[i].history}${flags.withCycle ? ` cycle: ${results[i].at(-1)!.cycle!.seconds} s` : ''}`);
        }
      }
      report(driver === 'pg' ? 'PostgreSQL' : 'PGlite', sizes, results, flags.withCycle);
    }
  } finally {
    for (const t of targets) if (t.driver === 'pg') await dropTestPgDatabase(t.where).catch(() => {});
    rmSync(temp, { recursive: true, force: true });
  }
}

// Runs when started as a script; importing it (e.g. to seed a database by hand) runs nothing.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(`bench:growth: ${err.message}`);
    process.exit(1);
  });
}

