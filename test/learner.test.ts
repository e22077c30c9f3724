// The learner cycle end to end on a tiny model: votes in the database become a new live policy
// that a separately running bot process serves without a restart; the lock, the gate, rollback.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatService } from '../src/chat/service.ts';
import type { ChatUser } from '../src/chat/types.ts';
import * as q from '../src/db/queries.ts';
import { learnerConfig, type LearnerConfig } from '../src/learn/config.ts';
import { runLearnerCycle, type CycleSettings } from '../src/learn/cycle.ts';
import type { LivePolicy } from '../src/model/live-policy.ts';
import { rollback } from '../src/policy-admin.ts';
import { drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { publishTinyPolicy, startLivePolicy } from './helpers/policy.ts';

/** Small enough to run a whole cycle in seconds; `gate` decides whether it can pass. */
function settings(gate: Partial<LearnerConfig>): CycleSettings {
  return {
    learner: learnerConfig({
      rmEpochs: 1,
      rmBatchSize: 8,
      rmMaxReplyTokens: 8,
      rolloutPrompts: 8,
      rolloutBatchPrompts: 4,
      samplesPerPrompt: 2,
      maxNewTokens: 8,
      ppoEpochs: 1,
      minibatchSize: 8,
      gateHeldOutPrompts: 4,
      ...gate,
    }),
    minNewPairs: 4,
    corpusPath: 'data/corpus.jsonl',
    stagedRollout: false,
    rolloutRule: { minVotes: 30, floor: 0.4 },
    autoRollback: false,
    seed: 7,
  };
}
/** A gate any sane candidate passes (the pipeline under test, not the policy's quality). */
const OPEN_GATE = { gateMinRewardMargin: -1e6, gateMaxKl: 1e6, gateMaxLengthRatio: 1e6, gateMaxLengthGrowth: 1e6, gateDistinct2CollapseFactor: 1e6, gateMaxSignalWorsening: 1e6 };
/** A gate no candidate can pass: the margin is unreachable. */
const CLOSED_GATE = { gateMinRewardMargin: 1e6 };

/** Simulated users: ask, then vote for the shorter reply. */
async function collectVotes(service: ChatService, count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const asker: ChatUser = { platform: 'web', externalId: `asker-${tag}-${i}`, isBot: false };
    const reply = await service.handleMessage({ user: asker, channelId: `c-${tag}-${i}`, eventId: `${tag}-${i}`, text: `question ${i} about ${tag}?` });
    if (reply.kind !== 'candidates') throw new Error(JSON.stringify(reply));
    const [a, b] = reply.candidates;
    const choice = a.text.length === b.text.length ? 'tie' : a.text.length < b.text.length ? 'a' : 'b';
    await service.handleReaction({ user: { platform: 'web', externalId: `voter-${i % 3}`, isBot: false }, target: { promptId: reply.promptId }, choice, action: 'add' });
  }
}

describe.each(drivers)('learner cycle on %s', (driver) => {
  let database: TestDatabase;
  let policy: LivePolicy;
  let service: ChatService;
  let bootstrap: number;

  beforeAll(async () => {
    database = await freshDatabase(driver);
    bootstrap = (await publishTinyPolicy(database)).id;
    policy = await startLivePolicy(database);
    service = new ChatService(database, policy, { maxMessageChars: 500, rateLimitPerMinute: 10_000, contextTurns: 2, allowVoteOnOwnPrompt: true, admins: new Set(), voteRetryMs: 1000 });
  });
  afterAll(async () => {
    await policy?.stop();
    await database?.close();
  });

  it('skips a cycle with too few new pairs, and says why', async () => {
    const result = await runLearnerCycle(database, settings(OPEN_GATE));
    expect(result.status).toBe('skipped');
    expect(result.reason).toMatch(/fewer than the 4/);
    expect((await q.lastRun(database.db))!.status).toBe('skipped');
  });

  it('trains a reward model and PPO, publishes, and the serving policy hot-reloads', async () => {
    await collectVotes(service, 30, 'first');
    const result = await runLearnerCycle(database, settings(OPEN_GATE));
    expect(result.status, result.reason).toBe('succeeded');
    expect(result.counts.newPairs).toBeGreaterThanOrEqual(4);
    expect(result.metrics).toMatchObject({ rmAccuracy: expect.any(Number), kl: expect.any(Number), clipFraction: expect.any(Number), entropy: expect.any(Number) });
    const live = await q.livePolicy(database.db);
    expect(live).toMatchObject({ id: result.policyVersionId, kind: 'ppo', parentId: bootstrap, status: 'live' });
    const run = (await q.lastRun(database.db))!;
    expect(run).toMatchObject({ status: 'succeeded', stage: 'publish', policyVersionId: live!.id, rewardModelId: result.rewardModelId });
    await expect.poll(() => policy.liveVersion(), { timeout: 20_000 }).toBe(live!.id);
    const reply = await service.handleMessage({ user: { platform: 'web', externalId: 'after', isBot: false }, channelId: 'after', eventId: 'after-1', text: 'hello again' });
    expect(reply).toMatchObject({ kind: 'candidates', policyVersion: live!.id });
  });

  it('stores a candidate that fails the gate as rejected, with the reason, and keeps the live policy', async () => {
    const before = (await q.livePolicy(database.db))!.id;
    await collectVotes(service, 8, 'second');
    const result = await runLearnerCycle(database, settings(CLOSED_GATE));
    expect(result.status).toBe('rejected');
    expect(result.reason).toMatch(/reward/i);
    const rejected = await q.policyVersion(database.db, result.policyVersionId!);
    expect(rejected).toMatchObject({ status: 'rejected', reason: result.reason });
    expect((await q.livePolicy(database.db))!.id).toBe(before);
  });

  it('runs one cycle at a time: a second learner skips while the first holds the lock', async () => {
    await collectVotes(service, 6, 'third');
    const [one, two] = await Promise.all([runLearnerCycle(database, settings(CLOSED_GATE)), runLearnerCycle(database, settings(CLOSED_GATE))]);
    expect([one.status, two.status].sort()).toEqual(['locked', 'rejected']);
  });

  it('rolls back to the previous live version and the bot follows', async () => {
    const live = (await q.livePolicy(database.db))!;
    const back = await rollback(database.db);
    expect(back.id).toBe(bootstrap);
    expect((await q.policyVersion(database.db, live.id))!.status).toBe('retired');
    await expect.poll(() => policy.liveVersion(), { timeout: 20_000 }).toBe(bootstrap);
  });

  it('marks a run left behind by a learner that died as failed, saying where it stopped', async () => {
    const orphan = await q.startRun(database.db);
    await q.updateRun(database.db, orphan, { stage: 'ppo' });
    await runLearnerCycle(database, settings(OPEN_GATE));
    const runs = await database.db.query.learnerRuns.findFirst({ where: (r, { eq }) => eq(r.id, orphan) });
    expect(runs).toMatchObject({ status: 'failed', error: 'the learner stopped during stage ppo and did not finish' });
  });
});

describe.runIf(drivers.includes('pg'))('a separate bot process', () => {
  let database: TestDatabase;
  let bot: ChildProcess;
  let base: string;

  beforeAll(async () => {
    database = await freshDatabase('pg');
    await publishTinyPolicy(database);
    bot = spawn(process.execPath, ['bin/pairwise.js', 'start'], {
      env: { ...process.env, DATABASE_URL: database.url, PORT: '0', MAX_NEW_TOKENS: '8', EVAL_SHARE: '0', LOG_FORMAT: 'json', LEARNER_IN_PROCESS: 'false' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    base = await new Promise<string>((resolve, reject) => {
      let log = '';
      bot.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        const url = /"url":"(http:\/\/[^"]+)\/"/.exec(log);
        if (url) resolve(url[1]);
      });
      bot.once('exit', (code) => reject(new Error(`bot exited with ${code}: ${log}`)));
    });
  });
  afterAll(async () => {
    bot?.kill('SIGTERM');
    await new Promise((r) => bot?.once('exit', r));
    await database?.close();
  });

  it('answers with a newly published policy without a restart', async () => {
    const ask = async () =>
      (await (await fetch(`${base}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'u', text: 'hi' }) })).json()) as { policyVersion: number };
    const first = await ask();
    const next = await publishTinyPolicy(database, { seed: 5, parentId: first.policyVersion });
    await expect.poll(async () => (await ask()).policyVersion, { timeout: 20_000, interval: 500 }).toBe(next.id);
  });
});
