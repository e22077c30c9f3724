import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type { ChatUser } from '../src/chat/types.ts';
import * as q from '../src/db/queries.ts';
import { checkpointChunks } from '../src/db/schema.ts';
import { drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';

const alice: ChatUser = { platform: 'discord', externalId: 'u-alice', displayName: 'Alice', isBot: false };
const bob: ChatUser = { platform: 'discord', externalId: 'u-bob', displayName: 'Bob', isBot: false };
const carol: ChatUser = { platform: 'discord', externalId: 'u-carol', isBot: false };
const robot: ChatUser = { platform: 'discord', externalId: 'u-robot', isBot: true };
const rules = { allowOwnPrompt: true };

function cand(slot: 'a' | 'b', text: string, policyVersionId: number): q.NewCandidate {
  return {
    slot,
    text,
    policyVersionId,
    tokenIds: [1, 2, 3],
    logprobs: [-0.5, -1.25, -2],
    sampling: { temperature: 1, topP: 0.95, maxNewTokens: 48, seed: 7 },
    latencyMs: 12,
  };
}

describe.each(drivers)('storage on %s', (driver) => {
  let database: TestDatabase;
  let policyId: number;
  let n = 0;

  const newPrompt = (user: ChatUser, text = 'hello there', channelId = 'c1') =>
    q.recordPrompt(database.db, {
      user,
      channelId,
      eventId: `evt-${++n}`,
      userText: text,
      context: [{ role: 'user', text }],
      slotsSwapped: false,
      candidates: [cand('a', `A reply ${n}`, policyId), cand('b', `B reply ${n}`, policyId)],
    });

  beforeAll(async () => {
    database = await freshDatabase(driver);
    const checkpointId = await q.saveCheckpoint(database.db, 'policy', new Uint8Array([1, 2, 3]));
    policyId = (await q.createPolicyVersion(database.db, { parentId: null, kind: 'sft', status: 'live', checkpointId })).id;
  });
  afterAll(() => database?.close());

  it('migrates on open and again on a second open without change', async () => {
    const rows = await database.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    expect(Number((rows as unknown as { rows: { n: number }[] }).rows[0].n)).toBeGreaterThan(0);
  });

  it('records a prompt with exactly two candidates, and a redelivered event stores nothing new', async () => {
    const first = await q.recordPrompt(database.db, {
      user: alice,
      channelId: 'c1',
      eventId: 'same-event',
      userText: 'hi 👋🏽 مرحبا \u200b',
      context: [{ role: 'user', text: 'hi 👋🏽 مرحبا \u200b' }],
      slotsSwapped: true,
      candidates: [cand('a', 'one', policyId), cand('b', 'two', policyId)],
    });
    expect(first.duplicate).toBe(false);
    expect(first.candidates.map((c) => [c.slot, c.text])).toEqual([
      ['a', 'one'],
      ['b', 'two'],
    ]);
    expect(first.candidates[0].logprobs).toEqual([-0.5, -1.25, -2]);
    expect(first.prompt.userText).toBe('hi 👋🏽 مرحبا \u200b');
    const again = await q.recordPrompt(database.db, {
      user: alice,
      channelId: 'c1',
      eventId: 'same-event',
      userText: 'hi',
      context: [],
      slotsSwapped: false,
      candidates: [cand('a', 'other', policyId), cand('b', 'other', policyId)],
    });
    expect(again.duplicate).toBe(true);
    expect(again.prompt.id).toBe(first.prompt.id);
    expect(again.candidates.map((c) => c.text)).toEqual(['one', 'two']);
  });

  it('rolls back the whole prompt when a candidate cannot be stored', async () => {
    const before = await database.db.execute(sql`select count(*)::int as n from prompts`);
    await expect(
      q.recordPrompt(database.db, {
        user: alice,
        channelId: 'c1',
        eventId: 'bad-event',
        userText: 'x',
        context: [],
        slotsSwapped: false,
        candidates: [cand('a', 'ok', policyId), cand('b', 'nul \u0000 inside', policyId)],
      }),
    ).rejects.toThrow();
    const after = await database.db.execute(sql`select count(*)::int as n from prompts`);
    expect((after as unknown as { rows: unknown[] }).rows).toEqual((before as unknown as { rows: unknown[] }).rows);
  });

  it('stores one vote for a duplicated event, lets the latest choice win, and withdraws', async () => {
    const { prompt } = await newPrompt(alice);
    expect(await q.recordVote(database.db, prompt, bob, 'a', rules)).toEqual({ kind: 'stored', choice: 'a' });
    expect(await q.recordVote(database.db, prompt, bob, 'a', rules)).toEqual({ kind: 'stored', choice: 'a' });
    let rows = await database.db.execute(sql`select choice from votes where prompt_id = ${prompt.id}`);
    expect((rows as unknown as { rows: unknown[] }).rows).toEqual([{ choice: 'a' }]);
    await q.recordVote(database.db, prompt, bob, 'b', rules);
    expect(await q.liveVote(database.db, prompt.id, 'discord', 'u-bob')).toBe('b');
    // Removing an older reaction does not touch the newer vote.
    expect((await q.withdrawVote(database.db, prompt, bob, 'a')).kind).toBe('ignored');
    expect(await q.liveVote(database.db, prompt.id, 'discord', 'u-bob')).toBe('b');
    expect((await q.withdrawVote(database.db, prompt, bob, 'b')).kind).toBe('withdrawn');
    expect(await q.liveVote(database.db, prompt.id, 'discord', 'u-bob')).toBeNull();
    rows = await database.db.execute(sql`select count(*)::int as n from votes where prompt_id = ${prompt.id}`);
    expect((rows as unknown as { rows: { n: number }[] }).rows[0].n).toBe(1);
    // Voting again after withdrawing brings the vote back.
    await q.recordVote(database.db, prompt, bob, 'tie', rules);
    expect(await q.liveVote(database.db, prompt.id, 'discord', 'u-bob')).toBe('tie');
  });

  it('refuses votes from bots, from opted-out users, and on own prompts when configured', async () => {
    const { prompt } = await newPrompt(alice);
    expect(await q.recordVote(database.db, prompt, robot, 'a', rules)).toMatchObject({ kind: 'ignored' });
    await q.setOptOut(database.db, carol, true);
    expect(await q.recordVote(database.db, prompt, carol, 'a', rules)).toMatchObject({ kind: 'ignored', reason: 'this user has opted out' });
    await q.setOptOut(database.db, carol, false);
    expect(await q.recordVote(database.db, prompt, carol, 'a', rules)).toMatchObject({ kind: 'stored' });
    expect(await q.recordVote(database.db, prompt, alice, 'b', { allowOwnPrompt: false })).toMatchObject({ kind: 'ignored' });
    expect(await q.recordVote(database.db, prompt, alice, 'b', rules)).toMatchObject({ kind: 'stored' });
    // An account once flagged as a bot stays flagged even if a later event says otherwise.
    expect(await q.recordVote(database.db, prompt, { ...robot, isBot: false }, 'a', rules)).toMatchObject({ kind: 'ignored' });
  });

  it('lists preference pairs by majority of live votes, with ties and both-bad apart', async () => {
    const since = new Date(Date.now() - 1000);
    const won = (await newPrompt(alice, 'which?', 'pairs')).prompt;
    await q.recordVote(database.db, won, bob, 'b', rules);
    await q.recordVote(database.db, won, carol, 'b', rules);
    await q.recordVote(database.db, won, alice, 'a', rules);
    const tied = (await newPrompt(alice, 'tied', 'pairs')).prompt;
    await q.recordVote(database.db, tied, bob, 'a', rules);
    await q.recordVote(database.db, tied, carol, 'b', rules);
    const bad = (await newPrompt(alice, 'bad', 'pairs')).prompt;
    await q.recordVote(database.db, bad, bob, 'both_bad', rules);
    const withdrawn = (await newPrompt(alice, 'gone', 'pairs')).prompt;
    await q.recordVote(database.db, withdrawn, bob, 'a', rules);
    await q.withdrawVote(database.db, withdrawn, bob);

    const set = await q.preferencePairs(database.db, { since });
    const pair = set.pairs.find((p) => p.promptId === won.id)!;
    expect(pair.chosen.text).toBe(won && (await q.findPromptByEvent(database.db, 'discord', won.eventId))!.candidates[1].text);
    expect(pair.chosenSlot).toBe('b');
    expect(pair.votes).toEqual({ a: 1, b: 2, tie: 0, both_bad: 0 });
    expect(pair.context).toEqual([{ role: 'user', text: 'which?' }]);
    expect(set.pairs.some((p) => p.promptId === tied.id || p.promptId === bad.id || p.promptId === withdrawn.id)).toBe(false);
    expect(set.ties).toBeGreaterThanOrEqual(1);
    expect(set.bothBad).toBeGreaterThanOrEqual(1);
    const later = await q.preferencePairs(database.db, { since: new Date(Date.now() + 60_000) });
    expect(later.pairs).toEqual([]);
  });

  it('builds conversation history from prompts and their winning replies', async () => {
    const first = (await newPrompt(alice, 'first', 'hist')).prompt;
    await q.recordVote(database.db, first, bob, 'b', rules);
    await newPrompt(alice, 'second', 'hist');
    const history = await q.conversationHistory(database.db, first.conversationId, 10);
    expect(history.map((t) => `${t.role}:${t.text.split(' ')[0]}`)).toEqual(['user:first', 'bot:B', 'user:second', 'bot:A']);
    expect(await q.conversationHistory(database.db, first.conversationId, 1)).toHaveLength(2);
  });

  it('forgets a user: their prompts, the votes on them, their votes and their identity', async () => {
    const dave: ChatUser = { platform: 'slack', externalId: 'U-DAVE', isBot: false };
    const daves = (await newPrompt({ ...dave }, 'from dave', 'forget')).prompt;
    await q.recordVote(database.db, daves, bob, 'a', rules);
    const others = (await newPrompt(alice, 'from alice', 'forget')).prompt;
    await q.recordVote(database.db, others, dave, 'a', rules);
    const result = await q.forgetUser(database.db, 'slack', 'U-DAVE');
    expect(result).toEqual({ found: true, prompts: 1, votes: 1 });
    expect(await q.findUser(database.db, 'slack', 'U-DAVE')).toBeUndefined();
    expect(await q.findPromptId(database.db, { promptId: daves.id })).toBeUndefined();
    expect(await q.liveVote(database.db, others.id, 'slack', 'U-DAVE')).toBeNull();
    expect(await q.findPromptId(database.db, { promptId: others.id })).toBeDefined();
    expect(await q.forgetUser(database.db, 'slack', 'U-DAVE')).toEqual({ found: false, prompts: 0, votes: 0 });
  });

  it('stores checkpoints in chunks and detects corruption', async () => {
    const bytes = new Uint8Array(2.5 * (1 << 20)).map((_, i) => (i * 31) % 251);
    const id = await q.saveCheckpoint(database.db, 'policy', bytes);
    // Compared as buffers: a deep equality over 2.6 million elements takes seconds.
    expect(Buffer.from(await q.loadCheckpoint(database.db, id)).equals(bytes)).toBe(true);
    await database.db.execute(sql`update ${checkpointChunks} set data = overlay(data placing '\\xff'::bytea from 10 for 1) where checkpoint_id = ${id} and seq = 1`);
    await expect(q.loadCheckpoint(database.db, id)).rejects.toThrow(/sha256/);
    await database.db.execute(sql`delete from ${checkpointChunks} where checkpoint_id = ${id} and seq = 2`);
    await expect(q.loadCheckpoint(database.db, id)).rejects.toThrow(/incomplete/);
    await expect(q.loadCheckpoint(database.db, '00000000-0000-0000-0000-000000000000')).rejects.toThrow(/missing/);
  });

  it('keeps one live policy, notifies on publish, and rolls back', async () => {
    const heard: string[] = [];
    const stop = await database.listen(q.POLICY_CHANNEL, (p) => heard.push(p));
    const checkpointId = await q.saveCheckpoint(database.db, 'policy', new Uint8Array([9]));
    const next = await q.createPolicyVersion(database.db, { parentId: policyId, kind: 'ppo', status: 'candidate', checkpointId });
    await q.makeLive(database.db, next.id);
    expect((await q.livePolicy(database.db))!.id).toBe(next.id);
    expect((await q.policyVersion(database.db, policyId))!.status).toBe('retired');
    await expect(q.createPolicyVersion(database.db, { parentId: null, kind: 'sft', status: 'live', checkpointId })).rejects.toThrow();
    await q.makeLive(database.db, policyId, 'rejected', 'rolled back by operator');
    expect((await q.livePolicy(database.db))!.id).toBe(policyId);
    await expect.poll(() => heard).toEqual([String(next.id), String(policyId)]);
    await stop();
  });

  it('holds an advisory lock for one caller at a time', async () => {
    let inner: unknown = 'not run';
    const outer = await database.withLock(42, async () => {
      inner = await database.withLock(42, async () => 'ran');
      return 'outer';
    });
    expect(outer).toEqual({ value: 'outer' });
    expect(inner).toBeNull();
  });
});
