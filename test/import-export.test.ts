import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportPairs } from '../src/data/export.ts';
import { canonicalJson, contentHash, FormatError, LineError, pairRecord, parseLine, type PairFormat, type PortablePair } from '../src/data/formats.ts';
import { formatImportSummary, importPairs } from '../src/data/import.ts';
import type { Db } from '../src/db/client.ts';
import { listImportedPairs } from '../src/db/pairs-io.ts';
import { preferencePairs } from '../src/db/queries.ts';
import { importedPairs } from '../src/db/schema.ts';
import { createTestPgDatabase, drivers, dropTestPgDatabase, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { person, seedPrompt, seedVersion, seedVote } from './helpers/seed.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'pairwise-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, lines: string[]) => {
  const p = path.join(dir, name);
  writeFileSync(p, lines.map((l) => l + '\n').join(''));
  return p;
};

const multiTurn: PortablePair = {
  context: [
    { role: 'user', text: 'hi 👋🏽 مرحبا' },
    { role: 'bot', text: 'hello!\nhow can I help?' },
    { role: 'user', text: '  spaces kept  \n\n' },
  ],
  chosen: 'like this\n\nHuman there',
  rejected: '',
};

/** Exports in `format` through a stream into a string. */
async function exportText(db: Db, format: PairFormat, extra: { platform?: string; withUsers?: boolean; since?: Date } = {}) {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const summary = await exportPairs(db, out, { format, withUsers: false, ...extra });
  out.end();
  return { summary, text: Buffer.concat(chunks).toString('utf8') };
}

const storedPairs = async (db: Db) =>
  (await listImportedPairs(db)).map((p) => canonicalJson({ context: p.context, chosen: p.chosen, rejected: p.rejected })).sort();

describe('pair formats', () => {
  it('renders HH and parses it back into the same turns', () => {
    const record = pairRecord(multiTurn, 'hh');
    expect(record.chosen).toBe('\n\nHuman: hi 👋🏽 مرحبا\n\nAssistant: hello!\nhow can I help?\n\nHuman:   spaces kept  \n\n\n\nAssistant: like this\n\nHuman there');
    const back = parseLine(JSON.stringify(record));
    expect(back.format).toBe('hh');
    expect(back.pair).toEqual(multiTurn);
  });

  it('renders TRL as conversational messages and parses it back exactly', () => {
    const record = pairRecord(multiTurn, 'trl');
    expect(record.prompt).toEqual([
      { role: 'user', content: 'hi 👋🏽 مرحبا' },
      { role: 'assistant', content: 'hello!\nhow can I help?' },
      { role: 'user', content: '  spaces kept  \n\n' },
    ]);
    expect(record.chosen).toEqual([{ role: 'assistant', content: 'like this\n\nHuman there' }]);
    expect(parseLine(JSON.stringify(record))).toEqual({ format: 'trl', pair: multiTurn });
  });

  it('reads TRL standard strings, HH-style string prompts and implicit prompts', () => {
    expect(parseLine('{"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}').pair).toEqual({
      context: [{ role: 'user', text: 'What is 2+2?' }],
      chosen: '4',
      rejected: '5',
    });
    expect(parseLine(JSON.stringify({ prompt: '\n\nHuman: hi\n\nAssistant: yo\n\nHuman: sum?\n\nAssistant:', chosen: '4', rejected: '5' })).pair.context).toEqual([
      { role: 'user', text: 'hi' },
      { role: 'bot', text: 'yo' },
      { role: 'user', text: 'sum?' },
    ]);
    const implicit = {
      chosen: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }],
      rejected: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'go' }],
    };
    expect(parseLine(JSON.stringify(implicit))).toEqual({ format: 'trl', pair: { context: [{ role: 'user', text: 'hi' }], chosen: 'hello', rejected: 'go' } });
  });

  it('refuses malformed records with a reason', () => {
    expect(() => parseLine('{"chosen": "x"')).toThrow(/not valid JSON/);
    expect(() => parseLine('[1]')).toThrow(/JSON object/);
    expect(() => parseLine('{"foo": 1}')).toThrow(/neither HH-RLHF/);
    expect(() => parseLine(JSON.stringify({ chosen: '\n\nHuman: a\n\nAssistant: b', rejected: '\n\nHuman: other\n\nAssistant: c' }))).toThrow(/same conversation/);
    expect(() => parseLine(JSON.stringify({ chosen: '\n\nHuman: a', rejected: '\n\nHuman: a' }))).toThrow(/end with an Assistant turn/);
    expect(() => parseLine(JSON.stringify({ prompt: [{ role: 'system', content: 'x' }], chosen: 'a', rejected: 'b' }))).toThrow(/"prompt"\[0\]/);
    expect(() => parseLine(JSON.stringify({ prompt: 'q', chosen: 'a', rejected: 'b' }), 'hh')).toThrow(/must start with/);
  });

  it('refuses to write HH for a text holding a turn marker', () => {
    expect(() => pairRecord({ ...multiTurn, chosen: 'x\n\nAssistant: y' }, 'hh')).toThrow(FormatError);
    expect(() => pairRecord({ ...multiTurn, chosen: 'x\n\nAssistant: y' }, 'trl')).not.toThrow();
  });

  it('hashes the canonical JSON, whatever extra fields a record has', () => {
    const a = parseLine(JSON.stringify({ ...pairRecord(multiTurn, 'trl'), users: ['u1'], score: 3 })).pair;
    expect(contentHash(a)).toBe(contentHash(multiTurn));
    expect(contentHash({ ...multiTurn, chosen: multiTurn.rejected, rejected: multiTurn.chosen })).not.toBe(contentHash(multiTurn));
  });
});

describe.each(drivers)('export and import on %s', (driver) => {
  let source: TestDatabase;
  let target: TestDatabase;
  let expected: string[];

  beforeAll(async () => {
    [source, target] = await Promise.all([freshDatabase(driver), freshDatabase(driver)]);
    const db = source.db;
    const v = await seedVersion(db, { status: 'live', kind: 'sft' });
    const alice = person('alice');
    const votes: [string, ('a' | 'b' | 'tie')[]][] = [
      ['a', ['a']],
      ['b', ['b', 'b', 'a']],
      ['tie only', ['tie']],
      ['split', ['a', 'b']],
      ['marker', ['a']],
    ];
    for (const [i, [label, choices]] of votes.entries()) {
      const prompt = await seedPrompt(db, {
        user: alice,
        context: [...multiTurn.context, { role: 'user', text: `question ${label}` }],
        text: `question ${label}`,
        versions: [v, v],
        replies: label === 'marker' ? ['has\n\nAssistant: a marker', 'plain'] : [`first ${i} ✓`, `second ${i}\n`],
      });
      for (const [j, choice] of choices.entries()) await seedVote(db, prompt, person(`voter-${j}`), choice);
    }
    const slack = await seedPrompt(db, { user: person('sam', 'slack'), versions: [v, v] });
    await seedVote(db, slack, person('sue', 'slack'), 'b');
    expected = (await preferencePairs(db)).pairs.map((p) => canonicalJson({ context: p.context, chosen: p.chosen.text, rejected: p.rejected.text })).sort();
    expect(expected).toHaveLength(4);
  });
  afterAll(async () => {
    await source?.close();
    await target?.close();
  });

  it('round-trips TRL: export, import into a fresh database, identical pairs', async () => {
    const { summary, text } = await exportText(source.db, 'trl');
    expect(summary).toEqual({ written: 4, skipped: 0 });
    const result = await importPairs(target.db, file('export.trl.jsonl', text.trimEnd().split('\n')), { skipBad: false });
    expect(result).toMatchObject({ format: 'trl', read: 4, imported: 4, alreadyPresent: 0, skipped: 0 });
    expect(await storedPairs(target.db)).toEqual(expected);
  });

  it('adds nothing on re-import, counting the pairs as already present', async () => {
    const again = await importPairs(target.db, path.join(dir, 'export.trl.jsonl'), { skipBad: false });
    expect(again).toMatchObject({ read: 4, imported: 0, alreadyPresent: 4 });
    expect(formatImportSummary(again)).toMatch(/read 4 lines .*\(trl\): 0 imported, 4 already present, 0 skipped$/);
    expect(await storedPairs(target.db)).toEqual(expected);
  });

  it('round-trips HH, skipping the pair whose text holds a turn marker', async () => {
    const { summary, text } = await exportText(source.db, 'hh');
    expect(summary).toEqual({ written: 3, skipped: 1 });
    const hhFile = file('export.hh.jsonl', text.trimEnd().split('\n'));
    const result = await importPairs(target.db, hhFile, { skipBad: false });
    // Same pairs as the TRL export, so all are present already: the hashes agree across formats.
    expect(result).toMatchObject({ format: 'hh', read: 3, imported: 0, alreadyPresent: 3 });
  });

  it('filters by platform and since, and adds voters only with users', async () => {
    const slack = await exportText(source.db, 'trl', { platform: 'slack', withUsers: true });
    expect(slack.summary.written).toBe(1);
    expect(JSON.parse(slack.text).users).toEqual(['sue']);
    const plain = await exportText(source.db, 'trl', { platform: 'discord' });
    expect(plain.summary.written).toBe(3);
    expect(plain.text).not.toContain('"users"');
    expect(plain.text).not.toContain('voter-');
    const future = await exportText(source.db, 'trl', { since: new Date(Date.now() + 3_600_000) });
    expect(future.summary.written).toBe(0);
  });

  // The source database's imported_pairs table is free (export reads votes only): the file tests use it.
  const emptyImports = async () => {
    await source.db.delete(importedPairs);
    return source;
  };

  it('refuses a file with a bad line, naming the line, and stores nothing', async () => {
    const scratch = await emptyImports();
    const good = (n: number) => JSON.stringify({ prompt: `q${n}`, chosen: 'yes', rejected: 'no' });
    const bad = file('bad.jsonl', [good(1), good(2), good(3), '', good(4), '{"prompt": "q", "chosen": 1}', good(5), 'not json']);
    // Batches of two, so rows are inserted before the bad line: the transaction must undo them.
    const err = await importPairs(scratch.db, bad, { skipBad: false, batchRows: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LineError);
    expect((err as LineError).line).toBe(6);
    expect((err as Error).message).toMatch(/^line 6 of .*bad\.jsonl: "chosen" must be a string or a list of messages$/);
    expect(await listImportedPairs(scratch.db)).toHaveLength(0);

    const skipped = await importPairs(scratch.db, bad, { skipBad: true, batchRows: 2 });
    expect(skipped).toMatchObject({ read: 7, imported: 5, alreadyPresent: 0, skipped: 2, badLines: [6, 8] });
    expect(formatImportSummary(skipped)).toContain('2 skipped (bad lines: 6, 8)');
    expect(await listImportedPairs(scratch.db)).toHaveLength(5);
  });

  it('takes the format from the first valid line, or from --format', async () => {
    const scratch = await emptyImports();
    const hh = JSON.stringify(pairRecord(multiTurn, 'hh'));
    const trl = JSON.stringify(pairRecord(multiTurn, 'trl'));
    const mixed = file('mixed.jsonl', ['garbage', hh, trl]);
    const detected = await importPairs(scratch.db, mixed, { skipBad: true });
    expect(detected).toMatchObject({ format: 'hh', imported: 1, skipped: 2, badLines: [1, 3] });
    const forced = await importPairs(scratch.db, mixed, { format: 'trl', skipBad: true });
    expect(forced).toMatchObject({ format: 'trl', imported: 0, alreadyPresent: 1, skipped: 2, badLines: [1, 2] });
    await expect(importPairs(scratch.db, path.join(dir, 'missing.jsonl'), { skipBad: true })).rejects.toThrow(/cannot read .*missing\.jsonl: ENOENT/);
  });
});

describe('the export and import commands', () => {
  const run = promisify(execFile);
  const cli = path.resolve('bin/pairwise.js');
  // A server database when there is one: the embedded one pays its initdb in the first command.
  let url = '';
  beforeAll(async () => {
    if (drivers.includes('pg')) url = await createTestPgDatabase();
  });
  afterAll(async () => {
    if (url) await dropTestPgDatabase(url);
  });
  const pairwise = (...args: string[]) =>
    run(process.execPath, [cli, ...args], { env: { ...process.env, DATABASE_URL: url, PAIRWISE_DATA_DIR: path.join(dir, 'cli-data'), LOG_LEVEL: 'warn' } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('refuses a bad file with one line, then imports and exports through the CLI', async () => {
    const lines = [JSON.stringify(pairRecord(multiTurn, 'trl')), '{oops'];
    const refused = await pairwise('import', file('cli-bad.jsonl', lines));
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/line 2 of .*cli-bad\.jsonl: not valid JSON.*nothing was imported.*--skip-bad/);

    const imported = await pairwise('import', path.join(dir, 'cli-bad.jsonl'), '--skip-bad');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/1 imported, 0 already present, 1 skipped \(bad lines: 2\)/);

    // Imported pairs are not the bot's own: the export stays empty.
    const out = path.join(dir, 'cli-out.jsonl');
    const exported = await pairwise('export', '--format', 'hh', '--out', out);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toContain(`exported 0 preference pairs (hh) to ${out}`);
    expect(readFileSync(out, 'utf8')).toBe('');

    const unwritable = await pairwise('export', '--out', path.join(dir, 'no-such-dir', 'x.jsonl'));
    expect(unwritable.code).toBe(1);
    expect(unwritable.stderr).toMatch(/cannot write .*x\.jsonl: ENOENT/);

    const wrong = await pairwise('export', '--format', 'csv');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/--format must be one of hh, trl/);
  });
});
