// The command line as an operator meets it: one-line errors that say what to do, and the
// embedded default created and migrated on first use.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/client.ts';
import { drivers, createTestPgDatabase, dropTestPgDatabase } from './helpers/db.ts';

const run = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'pw-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `pairwise ARGS` with only the given settings; never throws, returns the exit code and output. */
async function pairwise(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/pairwise.js', ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PAIRWISE_DATA_DIR: path.join(tmp, 'data'), LOG_FORMAT: 'json', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('pairwise CLI', () => {
  it('creates and migrates the embedded database on first use, with no server', async () => {
    const result = await pairwise(['migrate']);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/database at .*data\/db is up to date/);
    const status = await pairwise(['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ database: { ok: true } });
  });

  it('refuses a bad setting with one line naming it', async () => {
    const result = await pairwise(['status'], { PORT: 'eighty', TEMPERATURE: '-1' });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pairwise: Invalid configuration, fix these settings: PORT: .*\(got "eighty"\); TEMPERATURE: /);
  });

  it('names the host, never the password, when DATABASE_URL cannot be reached', async () => {
    const result = await pairwise(['status'], { DATABASE_URL: 'postgres://pairwise:hunter2secret@127.0.0.1:1/pairwise' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/Cannot connect to PostgreSQL at 127\.0\.0\.1:1\/pairwise \(ECONNREFUSED\): check that the server is running/);
    expect(result.stdout + result.stderr).not.toContain('hunter2secret');
  });

  it('rejects unknown commands and options with the usage', async () => {
    expect(await pairwise(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "frobnicate"/) });
    expect(await pairwise(['learn', '--twice'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/usage: pairwise learn --once/) });
    expect(await pairwise(['learn'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/needs --once/) });
    expect(await pairwise(['policy', 'rollback', 'abc'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/"abc" is not a policy version number/) });
  });
});

/** A copy of migrations/ with a third migration that creates a table and then fails. */
function brokenMigrations(): string {
  const dir = path.join(tmp, `migrations-${Math.random().toString(36).slice(2)}`);
  cpSync('migrations', dir, { recursive: true });
  const journalFile = path.join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalFile, 'utf8'));
  const idx = journal.entries.length;
  journal.entries.push({ idx, version: '7', when: Date.now() + 1000, tag: `${String(idx).padStart(4, '0')}_broken`, breakpoints: true });
  writeFileSync(journalFile, JSON.stringify(journal));
  writeFileSync(path.join(dir, `${String(idx).padStart(4, '0')}_broken.sql`), 'CREATE TABLE half_done (id int);\n--> statement-breakpoint\nSELECT * FROM no_such_table;\n');
  return dir;
}

describe.each(drivers)('a failed migration on %s', (driver) => {
  it('leaves no partial schema and says what failed', async () => {
    const migrationsFolder = brokenMigrations();
    if (driver === 'pglite') {
      const dataDir = path.join(tmp, `lite-${Math.random().toString(36).slice(2)}`);
      await expect(openDatabase({ dataDir, migrationsFolder })).rejects.toThrow(/Migrating the database .* failed, nothing was changed: .*no_such_table/);
      const database = await openDatabase({ dataDir, migrationsFolder: 'migrations' });
      const tables = await database.db.execute<{ n: number }>(
        // Marked query: is the table from the failed migration there?
        (await import('drizzle-orm')).sql`select count(*)::int as n from information_schema.tables where table_name = 'half_done'`,
      );
      expect((tables as unknown as { rows: { n: number }[] }).rows[0].n).toBe(0);
      await database.close();
      return;
    }
    const url = await createTestPgDatabase();
    try {
      await expect(openDatabase({ url, migrationsFolder })).rejects.toThrow(/nothing was changed/);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query(`select table_name from information_schema.tables where table_schema = 'public'`);
      await client.end();
      expect(rows).toEqual([]);
    } finally {
      await dropTestPgDatabase(url);
    }
  });
});
