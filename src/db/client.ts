// One factory for both drivers: node-postgres when DATABASE_URL is set (production, scale-out),
// embedded PGlite under the data folder when it is not (zero setup). Migrations run at open.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { log } from '../log.ts';
import * as schema from './schema.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle, or the database itself: queries accept either. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0] | Db;

export interface Database {
  db: Db;
  driver: 'pg' | 'pglite';
  /** Where it lives, safe to print: host:port/name for pg, the folder for PGlite. */
  where: string;
  /** Calls onPayload for each NOTIFY on the channel; returns a function that stops listening. */
  listen(channel: string, onPayload: (payload: string) => void, onError?: (err: Error) => void): Promise<() => Promise<void>>;
  /** Runs fn while holding a session-level advisory lock; null when another session holds it (or waits for it). */
  withLock<T>(key: number, fn: () => Promise<T>, opts?: { wait?: boolean }): Promise<{ value: T } | null>;
  close(): Promise<void>;
}

export class DatabaseError extends Error {}

const MIGRATIONS = fileURLToPath(new URL('../../migrations', import.meta.url));
const MIGRATION_LOCK = 7_100_001;

export interface OpenOptions {
  /** postgres:// URL; when absent the embedded PGlite database is used. */
  url?: string;
  /** PGlite folder; 'memory://' keeps it in memory (tests). */
  dataDir?: string;
  /** Connections in the pg pool. */
  poolSize?: number;
  /** Where the SQL migrations are (tests point it at a broken copy). */
  migrationsFolder?: string;
}

/** The database the settings name: PostgreSQL at DATABASE_URL, else PGlite under PAIRWISE_DATA_DIR. */
export function openConfiguredDatabase(config: { DATABASE_URL?: string; PAIRWISE_DATA_DIR: string }, poolSize?: number): Promise<Database> {
  return openDatabase({ url: config.DATABASE_URL, dataDir: config.PAIRWISE_DATA_DIR, poolSize });
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  const database = opts.url ? await openPg(opts.url, opts.poolSize ?? 10) : await openPglite(opts.dataDir ?? './data');
  try {
    await migrate(database, opts.migrationsFolder ?? MIGRATIONS);
  } catch (err) {
    await database.close();
    // drizzle wraps the server's error in "Failed query: <the whole SQL>"; the cause says what went wrong.
    const reason = ((err as { cause?: Error }).cause ?? (err as Error)).message.split('\n')[0];
    throw new DatabaseError(`Migrating the database at ${database.where} failed, nothing was changed: ${reason}`);
  }
  return database;
}

async function migrate(database: Database, migrationsFolder: string): Promise<void> {
  const run = async () => {
    if (database.driver === 'pg') {
      const { migrate: pgMigrate } = await import('drizzle-orm/node-postgres/migrator');
      await pgMigrate(database.db as never, { migrationsFolder });
    } else {
      const { migrate: liteMigrate } = await import('drizzle-orm/pglite/migrator');
      await liteMigrate(database.db as never, { migrationsFolder });
    }
  };
  // Many bot processes may start at once against one server: one migrates, the others wait.
  if (database.driver === 'pg') {
    await database.withLock(MIGRATION_LOCK, run, { wait: true });
  } else {
    await run();
  }
}

function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    throw new DatabaseError('DATABASE_URL is not a valid URL: use postgres://user:password@host:5432/database');
  }
}

async function openPg(url: string, poolSize: number): Promise<Database> {
  const where = describeUrl(url);
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000 });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', (err) => log.warn('database connection lost', { where, err: err.message }));
  // A client can also lose its server while checked out (inside a transaction, between queries):
  // node-postgres then emits 'error' on it, which with no listener crashes the process. With this
  // one, the owner's next query fails (a transient error, retried) and its release drops the client.
  pool.on('connect', (client) => client.on('error', (err) => log.debug('database connection lost while in use', { where, err: err.message })));
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => {});
    const e = err as NodeJS.ErrnoException;
    throw new DatabaseError(
      `Cannot connect to PostgreSQL at ${where} (${e.code ?? e.message}): check that the server is running and that DATABASE_URL's host, port, user, password and database are right`,
    );
  }
  const db = drizzle(pool, { schema }) as unknown as Db;
  // drizzle-orm (0.45) checks a pool client out for a transaction and sends BEGIN before its
  // try/finally: when the server goes away right then, that client is never released and the pool
  // shrinks for good (found by scripts/load-votes.ts --outage). Here the pool lends the client to a
  // single-client drizzle and always takes it back; a broken one is dropped by the pool on release.
  const transaction = async (fn: Parameters<Db['transaction']>[0], config?: Parameters<Db['transaction']>[1]) => {
    const client = await pool.connect();
    try {
      return await (drizzle(client, { schema }) as unknown as Db).transaction(fn, config);
    } finally {
      client.release();
    }
  };
  db.transaction = transaction as Db['transaction'];
  return {
    db,
    driver: 'pg',
    where,
    async listen(channel, onPayload, onError) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      // node-postgres reports one lost connection several times (the server's message, the socket
      // error, then 'end'), and a failed connect ends too: the caller hears of a loss once, and only
      // after listening began (a failed start is the exception listen() throws).
      let listening = false;
      let lost = false;
      const fail = (err: Error) => {
        if (!listening || lost) return;
        lost = true;
        onError?.(err);
      };
      client.on('error', fail);
      client.on('end', () => fail(new Error('notification connection closed')));
      client.on('notification', (n) => {
        if (n.channel === channel) onPayload(n.payload ?? '');
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (err) {
        await client.end().catch(() => {});
        throw err;
      }
      listening = true;
      return async () => {
        lost = true;
        await client.end().catch(() => {});
      };
    },
    async withLock(key, fn, options) {
      const client = await pool.connect();
      try {
        if (options?.wait) {
          await client.query('select pg_advisory_lock($1)', [key]);
        } else {
          const { rows } = await client.query('select pg_try_advisory_lock($1) as ok', [key]);
          if (!rows[0].ok) return null;
        }
        try {
          return { value: await fn() };
        } finally {
          await client.query('select pg_advisory_unlock($1)', [key]).catch(() => {});
        }
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** PGlite serves one process: a lock file says which, so a second one fails clearly. */
function takeDataDirLock(dir: string): () => void {
  const lockFile = path.join(dir, 'pairwise.lock');
  try {
    const pid = Number(readFileSync(lockFile, 'utf8'));
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new DatabaseError(
        `The embedded database in ${dir} is in use by another Pairwise process (pid ${pid}); the embedded database serves one process, and a running \`pairwise start\` already runs the learner on LEARNER_CRON. Stop that process first, or set DATABASE_URL so several processes share a PostgreSQL server`,
      );
    }
  } catch (err) {
    if (err instanceof DatabaseError) throw err;
  }
  writeFileSync(lockFile, String(process.pid));
  return () => rmSync(lockFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function openPglite(dataDir: string): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const inMemory = dataDir === 'memory://';
  const dbDir = inMemory ? undefined : path.resolve(dataDir, 'db');
  let unlock = () => {};
  if (dbDir) {
    mkdirSync(dbDir, { recursive: true });
    unlock = takeDataDirLock(dbDir);
  }
  let client: InstanceType<typeof PGlite>;
  try {
    client = new PGlite(dbDir);
    await client.waitReady;
  } catch (err) {
    unlock();
    throw new DatabaseError(`Cannot open the embedded database in ${dbDir}: ${(err as Error).message}; move the folder aside to start afresh`);
  }
  const db = drizzle(client, { schema }) as unknown as Db;
  // PGlite serves this process alone, so an in-process lock is the advisory lock.
  const held = new Map<number, Promise<void>>();
  return {
    db,
    driver: 'pglite',
    where: dbDir ?? 'memory',
    async listen(channel, onPayload) {
      const stop = await client.listen(channel, onPayload);
      return stop;
    },
    async withLock(key, fn, options) {
      while (held.has(key)) {
        if (!options?.wait) return null;
        await held.get(key);
      }
      let release = () => {};
      held.set(key, new Promise<void>((resolve) => (release = resolve)));
      try {
        return { value: await fn() };
      } finally {
        held.delete(key);
        release();
      }
    },
    async close() {
      await client.close();
      unlock();
    },
  };
}

/** Sends a NOTIFY inside the caller's transaction: listeners hear it only once that commits. */
export async function notifyInTx(tx: Tx, channel: string, payload: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${channel}, ${payload})`);
}
