// A reproducible vote workload through the real ChatService, shared by test/votes-race.test.ts and
// scripts/load-votes.ts: prompts answered by the live policy, then many voters reacting at once,
// with redelivered events and races, and the exact vote state the database must end in.
//
// The race is designed so that "the last action" is well defined: one voter's reactions on one
// prompt run in order (a person cannot react twice at the same instant), while every other
// (voter, prompt) sequence runs concurrently with it — the same voter on other prompts, many
// voters on the same prompt — and a redelivered event is the same reaction sent twice at once.
import { isDeepStrictEqual } from 'node:util';
import { sql } from 'drizzle-orm';
import type { ChatService } from '../../src/chat/service.ts';
import { VOTE_CHOICES, type ChatReply, type ChatUser, type IncomingReaction, type VoteChoice } from '../../src/chat/types.ts';
import type { Database } from '../../src/db/client.ts';
import { upsertUser } from '../../src/db/queries.ts';
import { mulberry32 } from '../../src/model/prng.ts';

export interface VoteLoadConfig {
  /** Messages answered by the live policy; every vote lands on one of their prompts. */
  prompts: number;
  /** Messages in flight at once (generation itself runs one at a time in LivePolicy). */
  messageConcurrency: number;
  /** Simulated people who react. */
  voters: number;
  /** Prompts each voter reacts on, besides the hot ones. */
  promptsPerVoter: number;
  /** Prompts every voter reacts on: many voters racing on one prompt. */
  hotPrompts: number;
  /** Most reactions one voter makes on one prompt (vote, change, remove), applied in order. */
  maxActionsPerPair: number;
  /** Share of messages and reactions delivered twice at once, as a platform redelivers an event. */
  duplicateShare: number;
  /** (voter, prompt) sequences in flight at once. */
  concurrency: number;
  /** Voters the database already flags as bots: their reactions must store nothing. */
  flaggedVoters: number;
  seed: number;
}

export const DEFAULT_VOTE_LOAD: VoteLoadConfig = {
  prompts: 240,
  messageConcurrency: 4,
  voters: 300,
  promptsPerVoter: 8,
  hotPrompts: 4,
  maxActionsPerPair: 4,
  duplicateShare: 0.15,
  concurrency: 64,
  flaggedVoters: 10,
  seed: 7,
};

export interface PromptRef {
  promptId: string;
  /** How reactions name it: by platform message id (a Discord post) or by prompt id (the playground). */
  target: IncomingReaction['target'];
}

export interface MessageRun {
  prompts: PromptRef[];
  /** handleMessage latency of each delivery, duplicates included. */
  latenciesMs: number[];
  wallMs: number;
  /** Messages delivered twice at once. */
  duplicated: number;
  /** Redelivered messages answered with anything but the same stored pair: must be empty. */
  inconsistent: string[];
}

const AUTHORS = 10;

function candidatesOf(reply: ChatReply, what: string): Extract<ChatReply, { kind: 'candidates' }> {
  if (reply.kind !== 'candidates') throw new Error(`${what}: expected two candidates, got ${JSON.stringify(reply)}`);
  return reply;
}

/** Runs `count` tasks with at most `limit` in flight. */
export async function pooled(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/**
 * Sends `cfg.prompts` messages (some delivered twice at once) and attaches every other answer to a
 * platform post, as the Discord adapter does, so reactions reach prompts both ways.
 */
export async function postPrompts(service: ChatService, cfg: VoteLoadConfig): Promise<MessageRun> {
  const rand = mulberry32(cfg.seed);
  const prompts: PromptRef[] = new Array(cfg.prompts);
  const latenciesMs: number[] = [];
  const inconsistent: string[] = [];
  let duplicated = 0;
  const started = performance.now();
  const plan = Array.from({ length: cfg.prompts }, () => rand() < cfg.duplicateShare);
  await pooled(cfg.prompts, cfg.messageConcurrency, async (i) => {
    const author: ChatUser = { platform: 'discord', externalId: `author-${i % AUTHORS}`, isBot: false };
    const msg = { user: author, channelId: `load-${i % 7}`, eventId: `load-${cfg.seed}-${i}`, text: `message ${i}: how are you today?` };
    const copies = plan[i] ? 2 : 1;
    if (copies > 1) duplicated++;
    const replies = await Promise.all(
      Array.from({ length: copies }, async () => {
        const t0 = performance.now();
        const reply = await service.handleMessage(msg);
        latenciesMs.push(performance.now() - t0);
        return candidatesOf(reply, `message ${i}`);
      }),
    );
    if (!replies.every((r) => isDeepStrictEqual(r, replies[0]))) inconsistent.push(`event ${msg.eventId} got different answers: ${JSON.stringify(replies)}`);
    const { promptId } = replies[0];
    if (i % 2 === 0) {
      const platformMessageId = `post-${cfg.seed}-${i}`;
      await service.attachPlatformMessage(promptId, 'discord', platformMessageId);
      prompts[i] = { promptId, target: { platform: 'discord', platformMessageId } };
    } else {
      prompts[i] = { promptId, target: { promptId } };
    }
  });
  return { prompts, latenciesMs, wallMs: performance.now() - started, duplicated, inconsistent };
}

export interface Step {
  reaction: IncomingReaction;
  /** 1, or 2 for a redelivered event (the same reaction twice at once). */
  copies: number;
}

export interface PairScript {
  /** pairKey(voter, promptId): how the checks name this (voter, prompt). */
  key: string;
  voter: ChatUser;
  flagged: boolean;
  steps: Step[];
}

export interface VotePlan {
  pairs: PairScript[];
  reactions: number;
  flagged: ChatUser[];
}

export const pairKey = (voter: Pick<ChatUser, 'platform' | 'externalId'>, promptId: string) => `${voter.platform}:${voter.externalId}|${promptId}`;

/** Each voter's reactions, per prompt in order; the pairs come shuffled so hot prompts interleave. */
export function planVotes(prompts: PromptRef[], cfg: VoteLoadConfig): VotePlan {
  const rand = mulberry32(cfg.seed + 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const pairs: PairScript[] = [];
  const flagged: ChatUser[] = [];
  for (let v = 0; v < cfg.voters + cfg.flaggedVoters; v++) {
    const isFlagged = v >= cfg.voters;
    const voter: ChatUser = { platform: 'discord', externalId: `${isFlagged ? 'flagged' : 'voter'}-${v}`, isBot: false };
    if (isFlagged) flagged.push(voter);
    const chosen = new Set(prompts.slice(0, cfg.hotPrompts));
    const want = Math.min(prompts.length, cfg.hotPrompts + cfg.promptsPerVoter);
    while (chosen.size < want) chosen.add(pick(prompts));
    for (const prompt of chosen) {
      const steps: Step[] = [];
      let live: VoteChoice | null = null;
      const actions = 1 + Math.floor(rand() * cfg.maxActionsPerPair);
      for (let s = 0; s < actions; s++) {
        const r = s === 0 ? 0 : rand();
        let reaction: IncomingReaction;
        if (r < 0.5 || live === null) {
          // A first vote or a change of mind (reacting with another emoji).
          const choice = pick(VOTE_CHOICES);
          reaction = { user: voter, target: prompt.target, choice, action: 'add' };
          live = choice;
        } else if (r < 0.75) {
          reaction = { user: voter, target: prompt.target, choice: live, action: 'remove' };
          live = null;
        } else if (r < 0.9) {
          // Removing an older reaction keeps the newer vote.
          const stale = pick(VOTE_CHOICES.filter((c) => c !== live));
          reaction = { user: voter, target: prompt.target, choice: stale, action: 'remove' };
        } else {
          reaction = { user: voter, target: prompt.target, choice: 'a', action: 'remove', anyChoice: true };
          live = null;
        }
        steps.push({ reaction, copies: rand() < cfg.duplicateShare ? 2 : 1 });
      }
      pairs.push({ key: pairKey(voter, prompt.promptId), voter, flagged: isFlagged, steps });
    }
  }
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
  }
  return { pairs, reactions: pairs.reduce((n, p) => n + p.steps.reduce((m, s) => m + s.copies, 0), 0), flagged };
}

/** Marks the plan's flagged voters as bots in the database, as an operator would. */
export async function flagVoters(database: Database, plan: VotePlan): Promise<void> {
  for (const voter of plan.flagged) await upsertUser(database.db, { ...voter, isBot: true });
}

export interface VoteRun {
  /** handleReaction latency of each acknowledged delivery. */
  latenciesMs: number[];
  /** Deliveries that returned an outcome (the adapter would have acknowledged them). */
  acknowledged: number;
  /** Deliveries that threw: the reaction was not acknowledged. */
  failures: string[];
  /** Answers that contradict the sequence (e.g. "stored" for a flagged voter): must be empty. */
  wrongOutcomes: string[];
  /** The vote each pair must hold: its last acknowledged reaction's result, null for none, withdrawn or flagged. */
  expected: Map<string, VoteChoice | null>;
  wallMs: number;
}

/**
 * Runs the plan: pairs concurrently (at most cfg.concurrency), each pair's steps in order, a
 * step's copies at once. `onAck` sees the running count, so a caller can start an outage midway.
 */
export async function runVotes(service: ChatService, plan: VotePlan, cfg: VoteLoadConfig, onAck?: (acknowledged: number) => void): Promise<VoteRun> {
  const run: VoteRun = { latenciesMs: [], acknowledged: 0, failures: [], wrongOutcomes: [], expected: new Map(), wallMs: 0 };
  const started = performance.now();
  await pooled(plan.pairs.length, cfg.concurrency, async (i) => {
    const pair = plan.pairs[i];
    let live: VoteChoice | null = null;
    for (const { reaction, copies } of pair.steps) {
      const outcomes = await Promise.all(
        Array.from({ length: copies }, async () => {
          const t0 = performance.now();
          try {
            const outcome = await service.handleReaction(reaction);
            run.latenciesMs.push(performance.now() - t0);
            run.acknowledged++;
            onAck?.(run.acknowledged);
            return outcome;
          } catch (err) {
            run.failures.push(`${pair.key} ${reaction.action} ${reaction.choice}: ${(err as Error).message}`);
            return undefined;
          }
        }),
      );
      const kinds = outcomes.flatMap((o) => (o ? [o.kind] : [])).sort();
      if (kinds.length === 0) continue; // never acknowledged: the voter's next reaction follows
      const same = (kind: string) => kinds.map(() => kind);
      let want: string[];
      if (pair.flagged) {
        want = same('ignored');
      } else if (reaction.action === 'add') {
        want = same('stored');
        live = reaction.choice;
      } else if (live !== null && (reaction.anyChoice || reaction.choice === live)) {
        // Withdrawing is idempotent: every copy of a racing redelivery says so.
        want = same('withdrawn');
        live = null;
      } else {
        want = same('ignored');
      }
      if (!isDeepStrictEqual(kinds, want)) {
        run.wrongOutcomes.push(`${pair.key} ${reaction.action} ${reaction.choice}${reaction.anyChoice ? ' (any)' : ''}: got ${kinds.join(',')}, want ${want.join(',')}`);
      }
    }
    run.expected.set(pair.key, pair.flagged ? null : live);
  });
  run.wallMs = performance.now() - started;
  return run;
}

export interface VoteCheck {
  /** Pairs compared with the database. */
  checked: number;
  /** Pairs whose stored vote differs from the expected one, described. */
  mismatches: string[];
  /** Acknowledged votes missing from the database (a subset of the mismatches). */
  lost: number;
  /** Vote rows of flagged voters or of pairs nobody voted on. */
  unexpected: string[];
}

/** Compares every stored vote with the expected state, both ways. */
export async function checkVotes(database: Database, plan: VotePlan, run: VoteRun): Promise<VoteCheck> {
  const flagged = new Set(plan.flagged.map((v) => `${v.platform}:${v.externalId}`));
  const result = (await database.db.execute(
    sql`select u.platform, u.external_id, v.prompt_id, v.choice, (v.withdrawn_at is null) as live from votes v join users u on u.id = v.user_id`,
  )) as unknown as { rows: { platform: string; external_id: string; prompt_id: string; choice: VoteChoice; live: boolean }[] };
  const stored = new Map<string, VoteChoice | null>();
  for (const r of result.rows) stored.set(pairKey({ platform: r.platform as ChatUser['platform'], externalId: r.external_id }, r.prompt_id), r.live ? r.choice : null);
  const check: VoteCheck = { checked: 0, mismatches: [], lost: 0, unexpected: [] };
  for (const [key, want] of run.expected) {
    check.checked++;
    const got = stored.get(key) ?? null;
    if (got !== want) {
      check.mismatches.push(`${key}: stored ${got}, expected ${want}`);
      if (want !== null && got === null) check.lost++;
    }
  }
  // Flagged voters must have no row at all, not even a withdrawn one.
  for (const key of stored.keys()) if (!run.expected.has(key) || flagged.has(key.split('|')[0])) check.unexpected.push(key);
  return check;
}
