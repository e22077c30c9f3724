// `pairwise policy list | rollback [VERSION] | promote VERSION | retire VERSION`: the operator's
// hand on which policy serves. Every change is one transaction followed by NOTIFY to the bots.
import type { Config } from './config.ts';
import { ConfigError } from './config.ts';
import type { Db } from './db/client.ts';
import * as q from './db/queries.ts';
import type { PolicyVersion } from './db/schema.ts';

const USAGE = 'usage: pairwise policy list | rollback [VERSION] | promote VERSION | retire VERSION';

function versionArg(arg: string | undefined, required: boolean): number | undefined {
  if (arg === undefined) {
    if (required) throw new ConfigError(`a version number is needed; ${USAGE}`);
    return undefined;
  }
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`"${arg}" is not a policy version number; see \`pairwise policy list\``);
  return n;
}

/** The version to roll back to: the given one, or the one that was live before the current one. */
export async function rollbackTarget(db: Db, requested?: number): Promise<PolicyVersion> {
  const versions = await q.listPolicyVersions(db);
  const live = versions.find((v) => v.status === 'live');
  if (requested !== undefined) {
    const target = versions.find((v) => v.id === requested);
    if (!target) throw new ConfigError(`policy version ${requested} does not exist; see \`pairwise policy list\``);
    if (target.id === live?.id) throw new ConfigError(`policy version ${requested} is already live`);
    return target;
  }
  const earlier = versions
    .filter((v) => v.publishedAt && v.id !== live?.id && (!live?.publishedAt || v.publishedAt < live.publishedAt))
    .sort((a, b) => b.publishedAt!.getTime() - a.publishedAt!.getTime());
  if (!earlier[0]) throw new ConfigError('no earlier live version to roll back to; name one: pairwise policy rollback VERSION');
  return earlier[0];
}

export async function rollback(db: Db, requested?: number): Promise<PolicyVersion> {
  const target = await rollbackTarget(db, requested);
  return q.makeLive(db, target.id, 'retired', `rolled back to version ${target.id}`);
}

export async function promote(db: Db, id: number): Promise<PolicyVersion> {
  const target = await q.policyVersion(db, id);
  if (!target) throw new ConfigError(`policy version ${id} does not exist; see \`pairwise policy list\``);
  if (target.status === 'live') throw new ConfigError(`policy version ${id} is already live`);
  return q.makeLive(db, id, 'retired', `replaced by version ${id}`);
}

export async function retire(db: Db, id: number, reason = 'retired by operator'): Promise<void> {
  const target = await q.policyVersion(db, id);
  if (!target) throw new ConfigError(`policy version ${id} does not exist; see \`pairwise policy list\``);
  if (target.status === 'live') throw new ConfigError(`policy version ${id} is live: roll back or promote another version instead`);
  await q.setPolicyStatus(db, id, 'retired', reason);
}

function table(versions: PolicyVersion[]): string {
  const rows = versions.map((v) => {
    const m = v.metrics as Record<string, unknown>;
    const reward = typeof m.meanRewardAfter === 'number' ? m.meanRewardAfter.toFixed(3) : '';
    const kl = typeof m.kl === 'number' ? m.kl.toFixed(3) : '';
    return [String(v.id), v.kind, v.status, v.parentId ? String(v.parentId) : '', v.createdAt.toISOString().slice(0, 19).replace('T', ' '), reward, kl, v.reason ?? ''];
  });
  const head = ['version', 'kind', 'status', 'parent', 'created', 'reward', 'kl', 'reason'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export async function policyCommand(config: Config, args: string[], json: boolean): Promise<number> {
  const [action, arg] = args;
  const { openConfiguredDatabase } = await import('./db/client.ts');
  if (!action || !['list', 'rollback', 'promote', 'retire'].includes(action)) throw new ConfigError(USAGE);
  const database = await openConfiguredDatabase(config);
  const db = database.db;
  try {
    if (action === 'list') {
      const versions = await q.listPolicyVersions(db);
      console.log(json ? JSON.stringify(versions) : versions.length ? table(versions) : 'no policy versions yet: run `pairwise bootstrap`');
    } else if (action === 'rollback') {
      const row = await rollback(db, versionArg(arg, false));
      console.log(json ? JSON.stringify(row) : `policy version ${row.id} is live again; running bots switch to it now`);
    } else if (action === 'promote') {
      const row = await promote(db, versionArg(arg, true)!);
      console.log(json ? JSON.stringify(row) : `policy version ${row.id} is live; running bots switch to it now`);
    } else {
      const id = versionArg(arg, true)!;
      await retire(db, id);
      console.log(json ? JSON.stringify({ id, status: 'retired' }) : `policy version ${id} is retired`);
    }
    return 0;
  } finally {
    await database.close();
  }
}
