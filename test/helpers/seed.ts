// Builds small databases through the real queries: versions, prompts with two candidates, votes, runs.
import type { ChatUser, Platform, VoteChoice } from '../../src/chat/types.ts';
import type { Db } from '../../src/db/client.ts';
import * as q from '../../src/db/queries.ts';
import type { ContextTurn, PolicyKind, PolicyStatus, Prompt } from '../../src/db/schema.ts';

export const person = (externalId: string, platform: Platform = 'discord'): ChatUser => ({ platform, externalId, isBot: false });

export async function seedVersion(db: Db, v: { parentId?: number | null; kind?: PolicyKind; status: PolicyStatus; metrics?: Record<string, unknown> }): Promise<number> {
  const checkpointId = await q.saveCheckpoint(db, 'policy', new Uint8Array([1, 2, 3]));
  const row = await q.createPolicyVersion(db, { parentId: v.parentId ?? null, kind: v.kind ?? 'ppo', status: v.status, checkpointId, metrics: v.metrics });
  return row.id;
}

let events = 0;

export interface SeedPrompt {
  user: ChatUser;
  /** Defaults to one user turn with `text`. */
  context?: ContextTurn[];
  text?: string;
  kind?: string;
  /** The versions behind slots A and B. */
  versions: [number, number];
  replies?: [string, string];
}

export async function seedPrompt(db: Db, p: SeedPrompt): Promise<Prompt> {
  const n = ++events;
  const text = p.text ?? `message ${n}`;
  const [ra, rb] = p.replies ?? [`reply A ${n}`, `reply B ${n}`];
  const cand = (slot: 'a' | 'b', reply: string, policyVersionId: number): q.NewCandidate => ({
    slot,
    text: reply,
    policyVersionId,
    tokenIds: [1, 2],
    logprobs: [-1, -2],
    sampling: { temperature: 1, topP: 0.95, maxNewTokens: 8, seed: n },
    latencyMs: 5,
  });
  const stored = await q.recordPrompt(db, {
    user: p.user,
    channelId: 'channel',
    eventId: `seed-${n}`,
    userText: text,
    context: p.context ?? [{ role: 'user', text }],
    kind: p.kind ?? 'normal',
    slotsSwapped: n % 2 === 0,
    candidates: [cand('a', ra, p.versions[0]), cand('b', rb, p.versions[1])],
  });
  return stored.prompt;
}

export async function seedVote(db: Db, prompt: Prompt, voter: ChatUser, choice: VoteChoice): Promise<void> {
  const result = await q.recordVote(db, prompt, voter, choice, { allowOwnPrompt: true });
  if (result.kind !== 'stored') throw new Error(`seed vote not stored: ${JSON.stringify(result)}`);
}

/** An evaluation prompt between two versions with one vote per choice given. */
export async function seedMatch(db: Db, versions: [number, number], choices: VoteChoice[], kind = 'eval'): Promise<void> {
  const prompt = await seedPrompt(db, { user: person('asker'), kind, versions });
  for (const [i, choice] of choices.entries()) await seedVote(db, prompt, person(`judge-${i}`), choice);
}
