// Queries behind `pairwise export` and `pairwise import`.
import { and, asc, eq, gt, inArray, isNull } from 'drizzle-orm';
import type { Tx } from './client.ts';
import { importedPairs, prompts, users, votes, type ImportedPair } from './schema.ts';

/** inArray lists stay well below PostgreSQL's 65535 bind parameters. */
const ID_CHUNK = 10_000;

export interface PromptDetails {
  platform: string;
  /** External ids of the people with a live vote on the prompt, sorted. */
  voters: string[];
}

/** Platform and live voters of each prompt. */
export async function promptDetails(tx: Tx, promptIds: readonly string[]): Promise<Map<string, PromptDetails>> {
  const out = new Map<string, PromptDetails>();
  for (let i = 0; i < promptIds.length; i += ID_CHUNK) {
    const ids = promptIds.slice(i, i + ID_CHUNK);
    for (const p of await tx.select({ id: prompts.id, platform: prompts.platform }).from(prompts).where(inArray(prompts.id, ids))) {
      out.set(p.id, { platform: p.platform, voters: [] });
    }
    const rows = await tx
      .select({ promptId: votes.promptId, externalId: users.externalId })
      .from(votes)
      .innerJoin(users, eq(users.id, votes.userId))
      .where(and(inArray(votes.promptId, ids), isNull(votes.withdrawnAt)))
      .orderBy(asc(users.externalId));
    for (const r of rows) out.get(r.promptId)?.voters.push(r.externalId);
  }
  return out;
}

export type NewImportedPair = Pick<ImportedPair, 'contentHash' | 'context' | 'chosen' | 'rejected' | 'source'>;

/** Inserts pairs whose content hash is new; returns how many were inserted. */
export async function insertImportedPairs(tx: Tx, rows: readonly NewImportedPair[]): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await tx.insert(importedPairs).values([...rows]).onConflictDoNothing({ target: importedPairs.contentHash }).returning({ id: importedPairs.id });
  return inserted.length;
}

/** Imported pairs in import order, `limit` at a time after id `afterId`, for training and inspection. */
export async function listImportedPairs(tx: Tx, opts: { afterId?: number; limit?: number } = {}): Promise<ImportedPair[]> {
  return tx
    .select()
    .from(importedPairs)
    .where(gt(importedPairs.id, opts.afterId ?? 0))
    .orderBy(asc(importedPairs.id))
    .limit(opts.limit ?? 10_000);
}
