// The queries the rest of Pairwise calls. Each takes a Db or a transaction handle (Tx).
import { createHash } from 'node:crypto';
import { and, desc, eq, gt, inArray, isNotNull, isNull, or, sql, type SQL } from 'drizzle-orm';
import { PgDialect, type PgPreparedQuery, type PreparedQueryConfig } from 'drizzle-orm/pg-core';
import type { ChatUser, VoteChoice } from '../chat/types.ts';
import type { Db, Tx } from './client.ts';
import { notifyInTx } from './client.ts';
import {
  blockedCandidates,
  candidates,
  checkpointChunks,
  checkpoints,
  conversations,
  importedPairs,
  learnerRuns,
  policyVersions,
  prompts,
  rewardModels,
  users,
  votes,
  type CandidateRow,
  type ContextTurn,
  type ImportedPair,
  type LearnerRun,
  type PolicyKind,
  type PolicyStatus,
  type PolicyVersion,
  type Prompt,
  type RunStatus,
  type SamplingSettings,
  type User,
} from './schema.ts';

/** NOTIFY channel on which a publish or rollback announces the new live policy version id. */
export const POLICY_CHANNEL = 'pairwise_policy';

// ---------------------------------------------------------------- users and conversations

export async function upsertUser(tx: Tx, user: ChatUser): Promise<User> {
  const [row] = await tx
    .insert(users)
    .values({ platform: user.platform, externalId: user.externalId, displayName: user.displayName ?? null, isBot: user.isBot })
    .onConflictDoUpdate({
      target: [users.platform, users.externalId],
      set: {
        displayName: sql`coalesce(excluded.display_name, ${users.displayName})`,
        // Once flagged as a bot (by the platform or an operator), an account stays flagged.
        isBot: sql`${users.isBot} or excluded.is_bot`,
      },
    })
    .returning();
  return row;
}

export async function findUser(tx: Tx, platform: string, externalId: string): Promise<User | undefined> {
  const [row] = await tx.select().from(users).where(and(eq(users.platform, platform), eq(users.externalId, externalId)));
  return row;
}

export async function setOptOut(tx: Tx, user: ChatUser, optedOut: boolean): Promise<void> {
  const row = await upsertUser(tx, user);
  await tx.update(users).set({ optedOutAt: optedOut ? new Date() : null }).where(eq(users.id, row.id));
}

export async function conversationFor(tx: Tx, platform: string, channelId: string, threadId: string | null | undefined): Promise<string> {
  const [row] = await tx
    .insert(conversations)
    .values({ platform, channelId, threadId: threadId ?? '' })
    .onConflictDoUpdate({ target: [conversations.platform, conversations.channelId, conversations.threadId], set: { platform } })
    .returning({ id: conversations.id });
  return row.id;
}

export interface VoteTally {
  a: number;
  b: number;
  tie: number;
  both_bad: number;
}

function byPrompt(rows: { promptId: string; choice: string; n: number }[]): Map<string, VoteTally> {
  const out = new Map<string, VoteTally>();
  for (const r of rows) {
    const t = out.get(r.promptId) ?? { a: 0, b: 0, tie: 0, both_bad: 0 };
    t[r.choice as VoteChoice] = r.n;
    out.set(r.promptId, t);
  }
  return out;
}

/** Live votes per prompt, counted by choice. */
async function tallies(tx: Tx, promptIds: string[]): Promise<Map<string, VoteTally>> {
  if (promptIds.length === 0) return new Map();
  const rows = await tx
    .select({ promptId: votes.promptId, choice: votes.choice, n: sql<number>`count(*)::int` })
    .from(votes)
    .where(and(inArray(votes.promptId, promptIds), isNull(votes.withdrawnAt)))
    .groupBy(votes.promptId, votes.choice);
  return byPrompt(rows);
}

/** The slot that won a prompt by majority of live A/B votes, or null when undecided. */
export function winner(t: VoteTally | undefined): 'a' | 'b' | null {
  if (!t || t.a === t.b) return null;
  return t.a > t.b ? 'a' : 'b';
}

/**
 * The last `limit` exchanges of a conversation as turns, oldest first: each user message,
 * then the bot's reply as it stands in the history (the winning candidate, or A until voted).
 */
export async function conversationHistory(tx: Tx, conversationId: string, limit: number): Promise<ContextTurn[]> {
  const recent = await tx
    .select({ id: prompts.id, userText: prompts.userText })
    .from(prompts)
    .where(eq(prompts.conversationId, conversationId))
    .orderBy(desc(prompts.createdAt))
    .limit(limit);
  if (recent.length === 0) return [];
  const ids = recent.map((p) => p.id);
  const cands = await tx.select({ promptId: candidates.promptId, slot: candidates.slot, text: candidates.text }).from(candidates).where(inArray(candidates.promptId, ids));
  const tally = await tallies(tx, ids);
  const turns: ContextTurn[] = [];
  for (const p of recent.reverse()) {
    const slot = winner(tally.get(p.id)) ?? 'a';
    const reply = cands.find((c) => c.promptId === p.id && c.slot === slot);
    turns.push({ role: 'user', text: p.userText });
    if (reply) turns.push({ role: 'bot', text: reply.text });
  }
  return turns;
}

// ---------------------------------------------------------------- prompts and candidates

export interface NewCandidate {
  slot: 'a' | 'b';
  text: string;
  policyVersionId: number;
  tokenIds: number[];
  logprobs: number[];
  sampling: SamplingSettings;
  latencyMs: number;
}

export interface NewPrompt {
  user: ChatUser;
  channelId: string;
  threadId?: string | null;
  eventId: string;
  userText: string;
  context: ContextTurn[];
  kind?: string;
  slotsSwapped: boolean;
  candidates: [NewCandidate, NewCandidate];
}

export interface StoredPrompt {
  prompt: Prompt;
  candidates: CandidateRow[];
  /** True when this event had been recorded before: nothing new was written. */
  duplicate: boolean;
}

export async function findPromptByEvent(tx: Tx, platform: string, eventId: string): Promise<StoredPrompt | undefined> {
  const [prompt] = await tx.select().from(prompts).where(and(eq(prompts.platform, platform), eq(prompts.eventId, eventId)));
  if (!prompt) return undefined;
  const cands = await tx.select().from(candidates).where(eq(candidates.promptId, prompt.id)).orderBy(candidates.slot);
  return { prompt, candidates: cands, duplicate: true };
}

/** Stores a prompt and its two candidates in one transaction; a redelivered event stores nothing. */
export async function recordPrompt(db: Db, input: NewPrompt): Promise<StoredPrompt> {
  return db.transaction(async (tx) => {
    const user = await upsertUser(tx, input.user);
    const conversationId = await conversationFor(tx, input.user.platform, input.channelId, input.threadId);
    const [prompt] = await tx
      .insert(prompts)
      .values({
        conversationId,
        userId: user.id,
        platform: input.user.platform,
        eventId: input.eventId,
        userText: input.userText,
        context: input.context,
        kind: input.kind ?? 'normal',
        slotsSwapped: input.slotsSwapped,
      })
      .onConflictDoNothing({ target: [prompts.platform, prompts.eventId] })
      .returning();
    if (!prompt) return (await findPromptByEvent(tx, input.user.platform, input.eventId))!;
    const rows = await tx
      .insert(candidates)
      .values(input.candidates.map((c) => ({ ...c, promptId: prompt.id })))
      .returning();
    return { prompt, candidates: rows.sort((x, y) => x.slot.localeCompare(y.slot)), duplicate: false };
  });
}

export async function attachPlatformMessage(tx: Tx, promptId: string, platformMessageId: string): Promise<void> {
  await tx.update(prompts).set({ platformMessageId }).where(eq(prompts.id, promptId));
}

/** How a reaction names a prompt: by its id (the playground) or by the platform message its candidates were posted in. */
export type PromptTarget = { promptId: string } | { platform: string; platformMessageId: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function findPromptId(tx: Tx, target: PromptTarget): Promise<Prompt | undefined> {
  if ('promptId' in target && !UUID.test(target.promptId)) return undefined;
  const where = 'promptId' in target ? eq(prompts.id, target.promptId) : and(eq(prompts.platform, target.platform), eq(prompts.platformMessageId, target.platformMessageId));
  const [row] = await tx.select().from(prompts).where(where);
  return row;
}

// ---------------------------------------------------------------- votes

export type VoteResult = { kind: 'stored'; choice: VoteChoice } | { kind: 'withdrawn' } | { kind: 'ignored'; reason: string };

export interface VoteRules {
  /** Whether a person's vote on the reply to their own message counts. */
  allowOwnPrompt: boolean;
}

/** Why a voter's vote does not count, or null when it does. */
function voterRefusal(voter: Pick<User, 'id' | 'isBot' | 'optedOutAt'>, promptAuthor: number, rules: VoteRules): string | null {
  if (voter.isBot) return 'votes from bot accounts are ignored';
  if (voter.optedOutAt) return 'this user has opted out';
  if (!rules.allowOwnPrompt && promptAuthor === voter.id) return 'votes on replies to your own messages do not count here';
  return null;
}

const dialect = new PgDialect();
const placeholder = sql.placeholder;

/**
 * A statement of the vote path, prepared under its name once per connection, so that PostgreSQL
 * parses and plans it once rather than on every vote (about a third of its cost). Values fill the
 * statement's placeholders; the two ways of naming a prompt make two statements. It runs on the
 * session of `db` (the database's, or a transaction's), through drizzle's public prepareQuery.
 */
function hotStatement<Row>(name: string, statement: (where: SQL) => SQL) {
  const variants = {
    id: dialect.sqlToQuery(statement(sql`${prompts.id} = ${placeholder('promptId')}::uuid`)),
    message: dialect.sqlToQuery(statement(sql`${prompts.platform} = ${placeholder('platform')}::text and ${prompts.platformMessageId} = ${placeholder('messageId')}::text`)),
  };
  const bySession = new WeakMap<object, Map<string, PgPreparedQuery<PreparedQueryConfig>>>();
  return async (db: Tx, target: PromptTarget, values: Record<string, unknown>): Promise<Row | undefined> => {
    if ('promptId' in target && !UUID.test(target.promptId)) return undefined;
    const variant = 'promptId' in target ? 'id' : 'message';
    const session = db._.session;
    let prepared = bySession.get(session);
    if (!prepared) bySession.set(session, (prepared = new Map()));
    let query = prepared.get(variant);
    if (!query) prepared.set(variant, (query = session.prepareQuery(variants[variant], undefined, `${name}_${variant}`, false)));
    const where = 'promptId' in target ? { promptId: target.promptId } : { platform: target.platform, messageId: target.platformMessageId };
    const [row] = ((await query.execute({ ...where, ...values })) as unknown as { rows: Row[] }).rows;
    return row;
  };
}

// One statement, atomic on its own: finds the prompt, upserts the voter as upsertUser does, stores
// the vote only when the voter may vote, and returns the voter's row to say why not.
const voteStatement = hotStatement<{ prompt_id: string; user_id: number; id: number; is_bot: boolean; opted_out_at: string | Date | null }>(
  'pairwise_vote_on',
  (where) => sql`
    with prompt as (
      select ${prompts.id} as id, ${prompts.userId} as user_id from ${prompts} where ${where}
    ), voter as (
      insert into ${users} (platform, external_id, display_name, is_bot)
      select ${placeholder('userPlatform')}::text, ${placeholder('externalId')}::text, ${placeholder('displayName')}::text, ${placeholder('isBot')}::boolean from prompt
      on conflict (platform, external_id) do update set
        display_name = coalesce(excluded.display_name, ${users}.display_name),
        -- Once flagged as a bot (by the platform or an operator), an account stays flagged.
        is_bot = ${users}.is_bot or excluded.is_bot
      returning id, is_bot, opted_out_at
    ), stored as (
      insert into ${votes} (prompt_id, user_id, choice)
      select prompt.id, voter.id, ${placeholder('choice')}::text from prompt, voter
      where not voter.is_bot and voter.opted_out_at is null and (${placeholder('allowOwnPrompt')}::boolean or voter.id <> prompt.user_id)
      on conflict (prompt_id, user_id) do update set choice = excluded.choice, updated_at = now(), withdrawn_at = null
      -- A redelivered event for the live vote changes nothing, not even its timestamp.
      where ${votes}.choice <> excluded.choice or ${votes}.withdrawn_at is not null
    )
    select prompt.id as prompt_id, prompt.user_id, voter.id, voter.is_bot, voter.opted_out_at from prompt, voter`,
);

/**
 * Stores or changes `user`'s vote on the prompt `target` names: one row per (prompt, voter), the
 * latest choice wins, repeats change nothing. Null when no prompt answers to `target`.
 * One prepared statement, because votes are the hot path: as a transaction after a prompt lookup
 * it took five round trips, each parsed and planned anew, and held the voter's row lock across three.
 */
export async function voteOn(db: Tx, target: PromptTarget, user: ChatUser, choice: VoteChoice, rules: VoteRules): Promise<{ promptId: string; result: VoteResult } | null> {
  const row = await voteStatement(db, target, {
    userPlatform: user.platform,
    externalId: user.externalId,
    displayName: user.displayName ?? null,
    isBot: user.isBot,
    choice,
    allowOwnPrompt: rules.allowOwnPrompt,
  });
  if (!row) return null;
  const reason = voterRefusal({ id: row.id, isBot: row.is_bot, optedOutAt: row.opted_out_at === null ? null : new Date(row.opted_out_at) }, row.user_id, rules);
  return { promptId: row.prompt_id, result: reason ? { kind: 'ignored', reason } : { kind: 'stored', choice } };
}

/** voteOn for a prompt already in hand. */
export async function recordVote(db: Tx, prompt: Prompt, user: ChatUser, choice: VoteChoice, rules: VoteRules): Promise<VoteResult> {
  const voted = await voteOn(db, { promptId: prompt.id }, user, choice, rules);
  return voted?.result ?? { kind: 'ignored', reason: 'that prompt no longer exists' };
}

const withdrawStatement = hotStatement<{ prompt_id: string; voter_id: number | null; changed: number }>(
  'pairwise_withdraw_on',
  (where) => sql`
    with prompt as (
      select ${prompts.id} as id from ${prompts} where ${where}
    ), voter as (
      select ${users.id} as id from ${users} where ${users.platform} = ${placeholder('userPlatform')}::text and ${users.externalId} = ${placeholder('externalId')}::text
    ), changed as (
      update ${votes} set withdrawn_at = now(), updated_at = now()
      where prompt_id = (select id from prompt) and user_id = (select id from voter) and withdrawn_at is null
        and (${placeholder('onlyChoice')}::text is null or choice = ${placeholder('onlyChoice')}::text)
      returning 1
    )
    select prompt.id as prompt_id, voter.id as voter_id, (select count(*) from changed)::int as changed from prompt left join voter on true`,
);

/**
 * Withdraws `user`'s live vote on the prompt `target` names; with `onlyChoice`, only if that is the
 * live choice (removing an old reaction keeps a newer vote). Null when no prompt answers to `target`.
 * Idempotent: a vote already withdrawn (with that choice) answers 'withdrawn' again, so a redelivered
 * removal, or a retry whose first attempt committed but lost its answer with the connection, tells
 * the truth. One statement when there is a live vote to withdraw, two otherwise.
 */
export async function withdrawOn(db: Tx, target: PromptTarget, user: ChatUser, onlyChoice?: VoteChoice): Promise<{ promptId: string; result: VoteResult } | null> {
  const row = await withdrawStatement(db, target, { userPlatform: user.platform, externalId: user.externalId, onlyChoice: onlyChoice ?? null });
  if (!row) return null;
  const answer = (result: VoteResult) => ({ promptId: row.prompt_id, result });
  if (row.changed > 0) return answer({ kind: 'withdrawn' });
  if (row.voter_id === null) return answer({ kind: 'ignored', reason: 'no vote to withdraw' });
  // A statement of its own, so it sees a racing copy's withdrawal that committed meanwhile.
  const [done] = await db
    .select({ id: votes.id })
    .from(votes)
    .where(and(eq(votes.promptId, row.prompt_id), eq(votes.userId, row.voter_id), onlyChoice ? eq(votes.choice, onlyChoice) : undefined, isNotNull(votes.withdrawnAt)));
  return answer(done ? { kind: 'withdrawn' } : { kind: 'ignored', reason: 'no live vote with that choice' });
}

/** withdrawOn for a prompt already in hand. */
export async function withdrawVote(db: Tx, prompt: Prompt, user: ChatUser, onlyChoice?: VoteChoice): Promise<VoteResult> {
  return (await withdrawOn(db, { promptId: prompt.id }, user, onlyChoice))?.result ?? { kind: 'ignored', reason: 'that prompt no longer exists' };
}

export async function liveVote(tx: Tx, promptId: string, platform: string, externalId: string): Promise<VoteChoice | null> {
  const [row] = await tx
    .select({ choice: votes.choice })
    .from(votes)
    .innerJoin(users, eq(users.id, votes.userId))
    .where(and(eq(votes.promptId, promptId), eq(users.platform, platform), eq(users.externalId, externalId), isNull(votes.withdrawnAt)));
  return (row?.choice as VoteChoice) ?? null;
}

// ---------------------------------------------------------------- preference pairs

export interface ReplySide {
  text: string;
  tokenIds: number[];
  policyVersionId: number;
}

export interface PreferencePair {
  promptId: string;
  context: ContextTurn[];
  chosen: ReplySide;
  rejected: ReplySide;
  /** The slot of the chosen reply, so position bias can be measured. */
  chosenSlot: 'a' | 'b';
  kind: string;
  votes: VoteTally;
}

export interface PreferenceSet {
  pairs: PreferencePair[];
  /** Prompts whose live votes are split evenly between A and B or are only ties. */
  ties: number;
  /** Prompts where "both bad" has more votes than either reply. */
  bothBad: number;
}

export interface PreferenceOptions {
  /** Only prompts whose votes changed after this (all prompts when omitted). */
  since?: Date;
  /** The newest this many prompts. */
  limit?: number;
  /**
   * Abuse cap: of each voter's votes cast or changed after `since` (all their votes when `since` is
   * omitted), only the most recent this many count; older votes count as before. No cap when omitted.
   */
  maxVotesPerUser?: number;
}

/**
 * Live votes per prompt that the learner may learn from, counted by choice: votes of people (not of
 * accounts flagged as bots, nor of people who opted out, whenever they voted), at most
 * `maxVotesPerUser` recent ones per voter.
 */
async function learnableTallies(tx: Tx, promptIds: string[], opts: PreferenceOptions): Promise<Map<string, VoteTally>> {
  if (promptIds.length === 0) return new Map();
  const since = opts.since ? sql`${opts.since.toISOString()}::timestamptz` : sql`'-infinity'::timestamptz`;
  // MARKED SQL: a window function ranks each voter's live votes of the window, newest first; the
  // ones ranked past the cap are left out of the count below.
  const ranked = tx
    .select({
      promptId: votes.promptId,
      choice: votes.choice,
      updatedAt: votes.updatedAt,
      recent: (opts.maxVotesPerUser === undefined
        ? sql<number>`1`
        : sql<number>`row_number() over (partition by ${votes.userId}, ${votes.updatedAt} > ${since} order by ${votes.updatedAt} desc, ${votes.id} desc)`
      ).as('recent'),
    })
    .from(votes)
    .innerJoin(users, eq(users.id, votes.userId))
    .where(and(isNull(votes.withdrawnAt), eq(users.isBot, false), isNull(users.optedOutAt)))
    .as('ranked');
  const capped = opts.maxVotesPerUser === undefined ? undefined : or(sql`${ranked.updatedAt} <= ${since}`, sql`${ranked.recent} <= ${opts.maxVotesPerUser}`);
  const rows = await tx
    .select({ promptId: ranked.promptId, choice: ranked.choice, n: sql<number>`count(*)::int` })
    .from(ranked)
    .where(and(inArray(ranked.promptId, promptIds), capped))
    .groupBy(ranked.promptId, ranked.choice);
  return byPrompt(rows);
}

/**
 * Preference pairs from prompts whose votes changed after `since` (all prompts when omitted):
 * the majority of the learnable live A/B votes decides chosen and rejected; ties and both-bad are
 * counted apart.
 */
export async function preferencePairs(db: Tx, opts: PreferenceOptions = {}): Promise<PreferenceSet> {
  if (opts.maxVotesPerUser !== undefined && !(Number.isInteger(opts.maxVotesPerUser) && opts.maxVotesPerUser >= 1)) {
    throw new Error(`maxVotesPerUser must be a whole number of at least 1, not ${opts.maxVotesPerUser}: set LEARNER_MAX_VOTES_PER_USER accordingly`);
  }
  const touched = db
    .selectDistinct({ promptId: votes.promptId })
    .from(votes)
    .where(opts.since ? gt(votes.updatedAt, opts.since) : undefined);
  const rows = await db
    .select()
    .from(prompts)
    .where(inArray(prompts.id, touched))
    .orderBy(desc(prompts.createdAt))
    .limit(opts.limit ?? 1_000_000);
  const tally = await learnableTallies(db, rows.map((r) => r.id), opts);
  return pairsFrom(db, rows, tally);
}

/** The decided prompts of `rows` (in their order) as pairs with their candidates; the undecided counted. */
async function pairsFrom(db: Tx, rows: Prompt[], tally: Map<string, VoteTally>): Promise<PreferenceSet> {
  const ids = rows.map((r) => r.id);
  const bySlot = new Map<string, CandidateRow>();
  for (const c of ids.length ? await db.select().from(candidates).where(inArray(candidates.promptId, ids)) : []) bySlot.set(`${c.promptId}:${c.slot}`, c);
  const out: PreferenceSet = { pairs: [], ties: 0, bothBad: 0 };
  for (const prompt of rows) {
    const t = tally.get(prompt.id);
    if (!t) continue;
    if (t.both_bad > Math.max(t.a, t.b)) {
      out.bothBad++;
      continue;
    }
    const win = winner(t);
    if (!win) {
      out.ties++;
      continue;
    }
    const side = (slot: string): ReplySide => {
      const c = bySlot.get(`${prompt.id}:${slot}`)!;
      return { text: c.text, tokenIds: c.tokenIds, policyVersionId: c.policyVersionId };
    };
    out.pairs.push({
      promptId: prompt.id,
      context: prompt.context,
      chosen: side(win),
      rejected: side(win === 'a' ? 'b' : 'a'),
      chosenSlot: win,
      kind: prompt.kind,
      votes: t,
    });
  }
  return out;
}

/**
 * A uniform random sample of up to `count` decided preference pairs from the whole history, for
 * the learner's replay: the votes are tallied and sampled in SQL (ORDER BY random() LIMIT), so only
 * the sampled pairs leave the database, however long the history. With `before`, only prompts none
 * of whose votes changed after it (the pairs preferencePairs({ since: before }) does not return).
 * Votes count as in preferencePairs: live ones of people, neither flagged bots nor opted out (the
 * per-voter cap concerns votes after `since` only, so it never applies here).
 */
export async function samplePreferencePairs(db: Tx, opts: { count: number; before?: Date }): Promise<PreferencePair[]> {
  const learnable = sql`${votes.withdrawnAt} is null and not ${users.isBot} and ${users.optedOutAt} is null`;
  const count = (choice: VoteChoice) => sql<number>`(count(*) filter (where ${learnable} and ${votes.choice} = ${choice}))::int`.as(choice);
  const tallied = db
    .select({ promptId: votes.promptId, a: count('a'), b: count('b'), tie: count('tie'), both_bad: count('both_bad') })
    .from(votes)
    .innerJoin(users, eq(users.id, votes.userId))
    .groupBy(votes.promptId)
    .having(opts.before ? sql`max(${votes.updatedAt}) <= ${opts.before.toISOString()}::timestamptz` : undefined)
    .as('tallied');
  const rows = await db
    .select({ prompt: prompts, a: tallied.a, b: tallied.b, tie: tallied.tie, both_bad: tallied.both_bad })
    .from(tallied)
    .innerJoin(prompts, eq(prompts.id, tallied.promptId))
    // Decided prompts only, by pairsFrom's rules: an A/B majority that "both bad" does not outnumber.
    .where(sql`${tallied.a} <> ${tallied.b} and ${tallied.both_bad} <= greatest(${tallied.a}, ${tallied.b})`)
    .orderBy(sql`random()`)
    .limit(opts.count);
  const tally = new Map(rows.map((r): [string, VoteTally] => [r.prompt.id, { a: r.a, b: r.b, tie: r.tie, both_bad: r.both_bad }]));
  return (await pairsFrom(db, rows.map((r) => r.prompt), tally)).pairs;
}

/** Contexts of the most recent prompts, newest first: the learner's rollout prompts. */
export async function recentContexts(tx: Tx, limit: number): Promise<ContextTurn[][]> {
  const rows = await tx.select({ context: prompts.context }).from(prompts).orderBy(desc(prompts.createdAt)).limit(limit);
  return rows.map((r) => r.context);
}

/** Imported preference pairs, newest first, optionally only those added after `since`. */
export async function importedPairsSince(tx: Tx, opts: { since?: Date; limit: number }): Promise<ImportedPair[]> {
  return tx
    .select()
    .from(importedPairs)
    .where(opts.since ? gt(importedPairs.createdAt, opts.since) : undefined)
    .orderBy(desc(importedPairs.id))
    .limit(opts.limit);
}

export async function recordBlocked(tx: Tx, policyVersionId: number, reason: string, fellBack: boolean): Promise<void> {
  await tx.insert(blockedCandidates).values({ policyVersionId, reason, fellBack });
}

// ---------------------------------------------------------------- forgetting a user

export interface ForgetResult {
  found: boolean;
  prompts: number;
  votes: number;
}

/** Deletes a person's prompts (with their candidates and the votes on them), their votes and their identity. */
export async function forgetUser(db: Db, platform: string, externalId: string): Promise<ForgetResult> {
  return db.transaction(async (tx) => {
    const user = await findUser(tx, platform, externalId);
    if (!user) return { found: false, prompts: 0, votes: 0 };
    const deletedVotes = await tx.delete(votes).where(eq(votes.userId, user.id)).returning({ id: votes.id });
    const deletedPrompts = await tx.delete(prompts).where(eq(prompts.userId, user.id)).returning({ id: prompts.id });
    await tx.delete(users).where(eq(users.id, user.id));
    return { found: true, prompts: deletedPrompts.length, votes: deletedVotes.length };
  });
}

// ---------------------------------------------------------------- checkpoints

export class CheckpointError extends Error {}

/** 1 MiB chunks keep every row well inside PostgreSQL's and PGlite's comfortable sizes. */
const CHUNK_BYTES = 1 << 20;

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function saveCheckpoint(tx: Tx, kind: 'policy' | 'reward', bytes: Uint8Array): Promise<string> {
  const chunkCount = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
  const [row] = await tx
    .insert(checkpoints)
    .values({ kind, sha256: sha256(bytes), sizeBytes: bytes.length, chunkCount })
    .returning({ id: checkpoints.id });
  for (let seq = 0; seq < chunkCount; seq++) {
    await tx.insert(checkpointChunks).values({ checkpointId: row.id, seq, data: bytes.subarray(seq * CHUNK_BYTES, (seq + 1) * CHUNK_BYTES) });
  }
  return row.id;
}

/** Loads a checkpoint's bytes and verifies their size and sha256; throws CheckpointError otherwise. */
export async function loadCheckpoint(tx: Tx, id: string): Promise<Uint8Array> {
  const [meta] = await tx.select().from(checkpoints).where(eq(checkpoints.id, id));
  if (!meta) throw new CheckpointError(`checkpoint ${id} is missing from the database`);
  const chunks = await tx.select({ seq: checkpointChunks.seq, data: checkpointChunks.data }).from(checkpointChunks).where(eq(checkpointChunks.checkpointId, id)).orderBy(checkpointChunks.seq);
  if (chunks.length !== meta.chunkCount || chunks.some((c, i) => c.seq !== i)) {
    throw new CheckpointError(`checkpoint ${id} is incomplete: ${chunks.length} of ${meta.chunkCount} chunks stored`);
  }
  const bytes = new Uint8Array(meta.sizeBytes);
  let offset = 0;
  for (const c of chunks) {
    if (offset + c.data.length > bytes.length) throw new CheckpointError(`checkpoint ${id} is larger than its recorded size`);
    bytes.set(c.data, offset);
    offset += c.data.length;
  }
  if (offset !== meta.sizeBytes) throw new CheckpointError(`checkpoint ${id} is shorter than its recorded size`);
  if (sha256(bytes) !== meta.sha256) throw new CheckpointError(`checkpoint ${id} failed its sha256 check: its stored bytes are corrupt`);
  return bytes;
}

// ---------------------------------------------------------------- policy and reward-model versions

export interface NewPolicyVersion {
  parentId: number | null;
  kind: PolicyKind;
  status: PolicyStatus;
  checkpointId: string;
  metrics?: Record<string, unknown>;
  reason?: string;
}

export async function createPolicyVersion(tx: Tx, v: NewPolicyVersion): Promise<PolicyVersion> {
  const [row] = await tx.insert(policyVersions).values({ ...v, metrics: v.metrics ?? {} }).returning();
  return row;
}

export async function livePolicy(tx: Tx): Promise<PolicyVersion | undefined> {
  const [row] = await tx.select().from(policyVersions).where(eq(policyVersions.status, 'live'));
  return row;
}

/** The newest challenger of a staged rollout, if one is running. */
export async function challengerPolicy(tx: Tx): Promise<PolicyVersion | undefined> {
  const [row] = await tx.select().from(policyVersions).where(eq(policyVersions.status, 'challenger')).orderBy(desc(policyVersions.id)).limit(1);
  return row;
}

export async function policyVersion(tx: Tx, id: number): Promise<PolicyVersion | undefined> {
  const [row] = await tx.select().from(policyVersions).where(eq(policyVersions.id, id));
  return row;
}

export async function listPolicyVersions(tx: Tx): Promise<PolicyVersion[]> {
  return tx.select().from(policyVersions).orderBy(policyVersions.id);
}

/**
 * Makes `id` the live policy inside the caller's transaction (the old live one becomes
 * `previousStatus`) and NOTIFYs the bots, who hear it only once the transaction commits.
 */
export async function makeLiveIn(tx: Tx, id: number, previousStatus: PolicyStatus = 'retired', reason?: string): Promise<PolicyVersion> {
  const target = await policyVersion(tx, id);
  if (!target) throw new Error(`policy version ${id} does not exist: see \`pairwise policy list\``);
  await tx
    .update(policyVersions)
    .set({ status: previousStatus, reason: reason ?? null })
    .where(and(eq(policyVersions.status, 'live'), sql`${policyVersions.id} <> ${id}`));
  const [row] = await tx.update(policyVersions).set({ status: 'live', publishedAt: new Date(), reason: null }).where(eq(policyVersions.id, id)).returning();
  await notifyInTx(tx, POLICY_CHANNEL, String(id));
  return row;
}

export function makeLive(db: Db, id: number, previousStatus: PolicyStatus = 'retired', reason?: string): Promise<PolicyVersion> {
  return db.transaction((tx) => makeLiveIn(tx, id, previousStatus, reason));
}

/** Starts a staged rollout of `id` (a challenger row): it supersedes any earlier challenger, and the bots hear of it. */
export async function startRollout(tx: Tx, id: number): Promise<void> {
  await tx
    .update(policyVersions)
    .set({ status: 'retired', reason: `superseded by challenger ${id}` })
    .where(and(eq(policyVersions.status, 'challenger'), sql`${policyVersions.id} <> ${id}`));
  await notifyInTx(tx, POLICY_CHANNEL, String(id));
}

/** Changes a version's status and tells the bots (a retired challenger stops serving at once). */
export async function setPolicyStatus(tx: Tx, id: number, status: PolicyStatus, reason?: string): Promise<void> {
  await tx.update(policyVersions).set({ status, reason: reason ?? null }).where(eq(policyVersions.id, id));
  await notifyInTx(tx, POLICY_CHANNEL, String(id));
}

export async function createRewardModel(tx: Tx, v: { parentId: number | null; checkpointId: string; metrics: Record<string, unknown> }): Promise<number> {
  const [row] = await tx.insert(rewardModels).values(v).returning({ id: rewardModels.id });
  return row.id;
}

export async function latestRewardModel(tx: Tx) {
  const [row] = await tx.select().from(rewardModels).orderBy(desc(rewardModels.id)).limit(1);
  return row;
}

// ---------------------------------------------------------------- learner runs

export async function startRun(tx: Tx): Promise<number> {
  const [row] = await tx.insert(learnerRuns).values({}).returning({ id: learnerRuns.id });
  return row.id;
}

export async function updateRun(tx: Tx, id: number, patch: Partial<Pick<LearnerRun, 'stage' | 'counts' | 'metrics' | 'policyVersionId' | 'rewardModelId'>>): Promise<void> {
  await tx.update(learnerRuns).set(patch).where(eq(learnerRuns.id, id));
}

export async function finishRun(tx: Tx, id: number, status: RunStatus, patch: Partial<Pick<LearnerRun, 'counts' | 'metrics' | 'error' | 'policyVersionId' | 'rewardModelId'>> = {}): Promise<void> {
  await tx.update(learnerRuns).set({ ...patch, status, finishedAt: new Date() }).where(eq(learnerRuns.id, id));
}

/** The last run that got as far as a decision (published or rejected): new pairs count from its start. */
export async function lastDecidedRun(tx: Tx): Promise<LearnerRun | undefined> {
  const [row] = await tx
    .select()
    .from(learnerRuns)
    .where(inArray(learnerRuns.status, ['succeeded', 'rejected']))
    .orderBy(desc(learnerRuns.id))
    .limit(1);
  return row;
}

export async function lastRun(tx: Tx): Promise<LearnerRun | undefined> {
  const [row] = await tx.select().from(learnerRuns).orderBy(desc(learnerRuns.id)).limit(1);
  return row;
}

/** Marks runs left 'running' by a learner that died as failed, saying at which stage. */
export async function failAbandonedRuns(tx: Tx): Promise<number> {
  const rows = await tx
    .update(learnerRuns)
    .set({ status: 'failed', finishedAt: new Date(), error: sql`'the learner stopped during stage ' || ${learnerRuns.stage} || ' and did not finish'` })
    .where(eq(learnerRuns.status, 'running'))
    .returning({ id: learnerRuns.id });
  return rows.length;
}
