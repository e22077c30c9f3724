import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatService } from '../src/chat/service.ts';
import * as q from '../src/db/queries.ts';
import { wilsonInterval } from '../src/learn/ratings.ts';
import { reviewChallenger, reviewLiveAgainstParent, rolloutDecision } from '../src/learn/staged-rollout.ts';
import type { LivePolicy } from '../src/model/live-policy.ts';
import { drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { publishTinyPolicy, startLivePolicy } from './helpers/policy.ts';

const rule = { minVotes: 20, floor: 0.4 };
const record = (wins: number, games: number) => ({ wins, games, winRate: wins / games, ...wilsonInterval(wins, games) });

describe('the promotion rule', () => {
  it('waits for enough decided votes, then promotes above the floor, retires a clear loser, waits when unsure', () => {
    expect(rolloutDecision(record(19, 19), rule).action).toBe('wait');
    expect(rolloutDecision(record(14, 20), rule).action).toBe('promote'); // 0.70, interval 0.48–0.85
    expect(rolloutDecision(record(10, 20), rule).action).toBe('wait'); // 0.50, interval 0.30–0.70
    expect(rolloutDecision(record(4, 20), rule).action).toBe('retire'); // 0.20, interval 0.08–0.42
    expect(rolloutDecision(record(12, 20), rule).action).toBe('wait'); // 0.60, lower bound 0.39
  });

  it('follows a scripted vote stream: promotion comes at the first vote that lifts the lower bound', () => {
    // The challenger wins 3 of every 4 decided votes.
    const stream = Array.from({ length: 60 }, (_, i) => (i % 4 === 3 ? 0 : 1));
    let wins = 0;
    let promotedAt = -1;
    stream.forEach((w, i) => {
      wins += w;
      if (promotedAt < 0 && rolloutDecision(record(wins, i + 1), rule).action === 'promote') promotedAt = i + 1;
    });
    expect(promotedAt).toBe(20);
    expect(wilsonInterval(15, 20).low).toBeGreaterThan(0.4);
  });
});

describe.each(drivers)('staged rollout on %s', (driver) => {
  let database: TestDatabase;
  let policy: LivePolicy;
  let liveId: number;
  let challengerId: number;

  beforeAll(async () => {
    database = await freshDatabase(driver);
    liveId = (await publishTinyPolicy(database)).id;
    const challenger = await publishTinyPolicy(database, { seed: 3, parentId: liveId, live: false });
    await database.db.transaction(async (tx) => {
      await q.setPolicyStatus(tx, challenger.id, 'challenger');
      await q.startRollout(tx, challenger.id);
    });
    challengerId = challenger.id;
    policy = await startLivePolicy(database, { challengerShare: 1 });
  });
  afterAll(async () => {
    await policy?.stop();
    await database?.close();
  });

  it('answers with one candidate from the live policy and one from the challenger, then promotes it on votes', async () => {
    const service = new ChatService(database, policy, { maxMessageChars: 500, rateLimitPerMinute: 10_000, contextTurns: 1, allowVoteOnOwnPrompt: true, admins: new Set(), voteRetryMs: 1000 });
    for (let i = 0; i < 24; i++) {
      const reply = await service.handleMessage({ user: { platform: 'web', externalId: `u${i}`, isBot: false }, channelId: `c${i}`, eventId: `e${i}`, text: `hi ${i}` });
      if (reply.kind !== 'candidates') throw new Error(JSON.stringify(reply));
      const stored = await q.findPromptByEvent(database.db, 'web', `e${i}`);
      expect(stored!.prompt.kind).toBe('challenger');
      expect(new Set(stored!.candidates.map((c) => c.policyVersionId))).toEqual(new Set([liveId, challengerId]));
      const challengerSlot = stored!.candidates.find((c) => c.policyVersionId === challengerId)!.slot as 'a' | 'b';
      // Voters prefer the challenger 5 times in 6.
      const choice = i % 6 === 5 ? (challengerSlot === 'a' ? 'b' : 'a') : challengerSlot;
      await service.handleReaction({ user: { platform: 'web', externalId: `v${i}`, isBot: false }, target: { promptId: reply.promptId }, choice, action: 'add' });
      const decision = await reviewChallenger(database, rule);
      if (i + 1 < rule.minVotes) expect(decision!.action).toBe('wait');
      if (decision!.action === 'promote') break;
    }
    expect((await q.livePolicy(database.db))!.id).toBe(challengerId);
    expect((await q.policyVersion(database.db, liveId))!.status).toBe('retired');
    expect(await q.challengerPolicy(database.db)).toBeUndefined();
    await expect.poll(() => policy.liveVersion(), { timeout: 20_000 }).toBe(challengerId);
  });
});

describe.each(drivers)('online evaluation alarm on %s', (driver) => {
  let database: TestDatabase;
  let policy: LivePolicy;

  beforeAll(async () => {
    database = await freshDatabase(driver);
  });
  afterAll(async () => {
    await policy?.stop();
    await database?.close();
  });

  it('warns when the live version loses clearly to its parent, and rolls back when allowed', async () => {
    const parent = (await publishTinyPolicy(database)).id;
    policy = await startLivePolicy(database, { evalShare: 1 });
    const child = (await publishTinyPolicy(database, { seed: 8, parentId: parent })).id;
    await expect.poll(() => policy.liveVersion(), { timeout: 20_000 }).toBe(child);
    const service = new ChatService(database, policy, { maxMessageChars: 500, rateLimitPerMinute: 10_000, contextTurns: 1, allowVoteOnOwnPrompt: true, admins: new Set(), voteRetryMs: 1000 });
    expect(await reviewLiveAgainstParent(database, false)).toBeNull();
    for (let i = 0; i < 10; i++) {
      const reply = await service.handleMessage({ user: { platform: 'web', externalId: `e${i}`, isBot: false }, channelId: `e${i}`, eventId: `eval-${i}`, text: `hello ${i}` });
      const stored = await q.findPromptByEvent(database.db, 'web', `eval-${i}`);
      expect(stored!.prompt.kind).toBe('eval');
      const parentSlot = stored!.candidates.find((c) => c.policyVersionId === parent)!.slot as 'a' | 'b';
      await service.handleReaction({ user: { platform: 'web', externalId: `judge${i}`, isBot: false }, target: { promptId: (reply as { promptId: string }).promptId }, choice: parentSlot, action: 'add' });
    }
    expect(await reviewLiveAgainstParent(database, false)).toMatchObject({ liveId: child, parentId: parent, rolledBack: false });
    expect((await q.livePolicy(database.db))!.id).toBe(child);
    expect(await reviewLiveAgainstParent(database, true)).toMatchObject({ rolledBack: true });
    expect((await q.livePolicy(database.db))!.id).toBe(parent);
  });
});
