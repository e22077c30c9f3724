// Fresh, isolated databases for tests: an in-memory PGlite, and (when DATABASE_URL is set) a new
// PostgreSQL database created for the test file and dropped after it.
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/client.ts';

export type Driver = 'pglite' | 'pg';

/** The drivers the storage tests run on: always PGlite, and PostgreSQL where DATABASE_URL points at one. */
export const drivers: Driver[] = process.env.DATABASE_URL ? ['pglite', 'pg'] : ['pglite'];

export interface TestDatabase extends Database {
  /** The URL of the throwaway PostgreSQL database (pg driver only), for a second process. */
  url?: string;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty PostgreSQL database and returns its URL; dropTestPgDatabase removes it. */
export async function createTestPgDatabase(): Promise<string> {
  const name = `pw_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`create database ${name}`));
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropTestPgDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  await admin((c) => c.query(`drop database if exists ${name} with (force)`));
}

export async function freshDatabase(driver: Driver): Promise<TestDatabase> {
  if (driver === 'pglite') return openDatabase({ dataDir: 'memory://' });
  const url = await createTestPgDatabase();
  const database = await openDatabase({ url, poolSize: 4 });
  return {
    ...database,
    url,
    async close() {
      await database.close();
      await dropTestPgDatabase(url);
    },
  };
}

/** Rows in `table` (a name the test writes, never user input). */
export async function countRows(database: Database, table: string): Promise<number> {
  const result = (await database.db.execute(sql.raw(`select count(*)::int as n from ${table}`))) as unknown as { rows: { n: number }[] };
  return Number(result.rows[0]!.n);
}
