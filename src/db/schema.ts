// The whole Pairwise schema, in one file (drizzle-kit generates migrations/ from it).
// A conversation's turns are its prompts: each prompt row is one user turn, and the bot's
// turn after it is that prompt's winning candidate (candidate A until someone votes).
import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  // node-postgres hands back a Buffer and PGlite a Uint8Array: both are Uint8Array.
  fromDriver: (value) => value,
});

const created = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const users = pgTable(
  'users',
  {
    id: serial('id').primaryKey(),
    platform: text('platform').notNull(),
    externalId: text('external_id').notNull(),
    displayName: text('display_name'),
    isBot: boolean('is_bot').notNull().default(false),
    optedOutAt: timestamp('opted_out_at', { withTimezone: true }),
    createdAt: created(),
  },
  (t) => [uniqueIndex('users_platform_external_uq').on(t.platform, t.externalId)],
);

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    platform: text('platform').notNull(),
    channelId: text('channel_id').notNull(),
    /** '' for a plain channel or DM, so the unique index also covers thread-less conversations. */
    threadId: text('thread_id').notNull().default(''),
    createdAt: created(),
  },
  (t) => [uniqueIndex('conversations_place_uq').on(t.platform, t.channelId, t.threadId)],
);

export interface ContextTurn {
  role: 'user' | 'bot';
  text: string;
}

export const prompts = pgTable(
  'prompts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull(),
    /** The platform's id of the user's message: a redelivered event finds its prompt. */
    eventId: text('event_id').notNull(),
    userText: text('user_text').notNull(),
    /** The exact turns the model was given, oldest first, ending with this user turn. */
    context: jsonb('context').$type<ContextTurn[]>().notNull(),
    /** 'normal': both candidates from the live policy; 'eval' / 'challenger': one each from two versions. */
    kind: text('kind').notNull().default('normal'),
    /** True when the first generated sample was shown in slot B (slot order is randomised per prompt). */
    slotsSwapped: boolean('slots_swapped').notNull().default(false),
    /** Where the adapter posted the candidates (Discord message id, Slack "channel:ts"). */
    platformMessageId: text('platform_message_id'),
    createdAt: created(),
  },
  (t) => [
    uniqueIndex('prompts_event_uq').on(t.platform, t.eventId),
    uniqueIndex('prompts_platform_message_uq').on(t.platform, t.platformMessageId),
    index('prompts_conversation_idx').on(t.conversationId, t.createdAt),
    index('prompts_created_idx').on(t.createdAt),
  ],
);

export interface SamplingSettings {
  temperature: number;
  topP: number;
  maxNewTokens: number;
  seed: number;
}

export const candidates = pgTable(
  'candidates',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    promptId: uuid('prompt_id')
      .notNull()
      .references(() => prompts.id, { onDelete: 'cascade' }),
    slot: text('slot').notNull(),
    text: text('text').notNull(),
    policyVersionId: integer('policy_version_id')
      .notNull()
      .references(() => policyVersions.id),
    tokenIds: integer('token_ids').array().notNull(),
    logprobs: real('logprobs').array().notNull(),
    sampling: jsonb('sampling').$type<SamplingSettings>().notNull(),
    latencyMs: integer('latency_ms').notNull(),
  },
  (t) => [
    uniqueIndex('candidates_prompt_slot_uq').on(t.promptId, t.slot),
    check('candidates_slot_ck', sql`${t.slot} in ('a', 'b')`),
  ],
);

export const votes = pgTable(
  'votes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    promptId: uuid('prompt_id')
      .notNull()
      .references(() => prompts.id, { onDelete: 'cascade' }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    choice: text('choice').notNull(),
    createdAt: created(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    /** Set when the voter takes the vote back; a later vote clears it. */
    withdrawnAt: timestamp('withdrawn_at', { withTimezone: true }),
  },
  (t) => [
    // One row per (prompt, voter): the live vote is that row when withdrawn_at is null.
    uniqueIndex('votes_prompt_user_uq').on(t.promptId, t.userId),
    index('votes_updated_idx').on(t.updatedAt),
    check('votes_choice_ck', sql`${t.choice} in ('a', 'b', 'tie', 'both_bad')`),
  ],
);

export const checkpoints = pgTable('checkpoints', {
  id: uuid('id').primaryKey().defaultRandom(),
  kind: text('kind').notNull(),
  sha256: text('sha256').notNull(),
  sizeBytes: integer('size_bytes').notNull(),
  chunkCount: integer('chunk_count').notNull(),
  createdAt: created(),
});

export const checkpointChunks = pgTable(
  'checkpoint_chunks',
  {
    checkpointId: uuid('checkpoint_id')
      .notNull()
      .references(() => checkpoints.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.checkpointId, t.seq] })],
);

export type PolicyKind = 'sft' | 'ppo' | 'dpo' | 'imported';
export type PolicyStatus = 'candidate' | 'challenger' | 'live' | 'rejected' | 'retired';

export const policyVersions = pgTable(
  'policy_versions',
  {
    id: serial('id').primaryKey(),
    parentId: integer('parent_id'),
    kind: text('kind').$type<PolicyKind>().notNull(),
    status: text('status').$type<PolicyStatus>().notNull(),
    checkpointId: uuid('checkpoint_id')
      .notNull()
      .references(() => checkpoints.id),
    metrics: jsonb('metrics').$type<Record<string, unknown>>().notNull().default({}),
    /** Why the gate rejected it, or who retired it. */
    reason: text('reason'),
    createdAt: created(),
    publishedAt: timestamp('published_at', { withTimezone: true }),
  },
  (t) => [
    // At most one live policy at any moment: a publish flips both rows in one transaction.
    uniqueIndex('policy_versions_one_live_uq').on(t.status).where(sql`${t.status} = 'live'`),
    check('policy_versions_status_ck', sql`${t.status} in ('candidate', 'challenger', 'live', 'rejected', 'retired')`),
  ],
);

export const rewardModels = pgTable('reward_models', {
  id: serial('id').primaryKey(),
  parentId: integer('parent_id'),
  checkpointId: uuid('checkpoint_id')
    .notNull()
    .references(() => checkpoints.id),
  metrics: jsonb('metrics').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: created(),
});

export type RunStatus = 'running' | 'succeeded' | 'rejected' | 'skipped' | 'failed';

export const learnerRuns = pgTable('learner_runs', {
  id: serial('id').primaryKey(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  status: text('status').$type<RunStatus>().notNull().default('running'),
  /** The stage reached: a run killed mid-way says where it stopped. */
  stage: text('stage').notNull().default('start'),
  counts: jsonb('counts').$type<Record<string, number>>().notNull().default({}),
  metrics: jsonb('metrics').$type<Record<string, unknown>>().notNull().default({}),
  error: text('error'),
  policyVersionId: integer('policy_version_id'),
  rewardModelId: integer('reward_model_id'),
});

export type User = typeof users.$inferSelect;
export type Conversation = typeof conversations.$inferSelect;
export type Prompt = typeof prompts.$inferSelect;
export type CandidateRow = typeof candidates.$inferSelect;
export type Vote = typeof votes.$inferSelect;
export type PolicyVersion = typeof policyVersions.$inferSelect;
export type RewardModelRow = typeof rewardModels.$inferSelect;
export type LearnerRun = typeof learnerRuns.$inferSelect;

/** Preference pairs brought in by `pairwise import` (HH-RLHF or TRL JSONL); they train the reward model like votes. */
export const importedPairs = pgTable('imported_pairs', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  /** sha256 of (context, chosen, rejected): re-importing the same pair adds nothing. */
  contentHash: text('content_hash').notNull().unique(),
  context: jsonb('context').$type<ContextTurn[]>().notNull(),
  chosen: text('chosen').notNull(),
  rejected: text('rejected').notNull(),
  source: text('source').notNull(),
  createdAt: created(),
});

export type ImportedPair = typeof importedPairs.$inferSelect;

/** Candidates the content filter kept from being posted: the reason only, never the text. */
export const blockedCandidates = pgTable(
  'blocked_candidates',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    policyVersionId: integer('policy_version_id').notNull(),
    reason: text('reason').notNull(),
    /** True when every resample was blocked too and the fallback reply was posted. */
    fellBack: boolean('fell_back').notNull().default(false),
    createdAt: created(),
  },
  (t) => [index('blocked_candidates_created_idx').on(t.createdAt)],
);
