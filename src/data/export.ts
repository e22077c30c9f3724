// `pairwise export`: the bot's own preference pairs (decided by live votes; imported pairs are not
// exported) as JSON Lines on stdout or in --out FILE, in TRL (default) or HH-RLHF layout.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Config } from '../config.ts';
import { openConfiguredDatabase, type Tx } from '../db/client.ts';
import { promptDetails } from '../db/pairs-io.ts';
import { preferencePairs } from '../db/queries.ts';
import { FormatError, pairRecord, parsePairFormat, type PairFormat } from './formats.ts';

export interface ExportOptions {
  format: PairFormat;
  /** Only pairs with a vote cast or changed after this moment. */
  since?: Date;
  /** Only pairs from prompts on this platform. */
  platform?: string;
  /** Adds "users": the external ids of the live voters on each pair. */
  withUsers: boolean;
}

export interface ExportSummary {
  written: number;
  /** Pairs HH cannot hold exactly (a text contains a turn marker); TRL never skips. */
  skipped: number;
}

/** Writes one JSON line per pair, oldest first, waiting for the stream whenever it is full. */
export async function exportPairs(tx: Tx, out: Writable, options: ExportOptions): Promise<ExportSummary> {
  const { pairs } = await preferencePairs(tx, { since: options.since });
  const details = options.platform || options.withUsers ? await promptDetails(tx, pairs.map((p) => p.promptId)) : undefined;
  const summary: ExportSummary = { written: 0, skipped: 0 };
  // A failed write (a full disk, a reader that went away) surfaces here instead of crashing the process.
  let failure: Error | undefined;
  out.on('error', (err) => (failure ??= err));
  for (const p of pairs.reverse()) {
    if (failure) throw failure;
    const detail = details?.get(p.promptId);
    if (options.platform && detail?.platform !== options.platform) continue;
    let record;
    try {
      record = pairRecord({ context: p.context, chosen: p.chosen.text, rejected: p.rejected.text }, options.format);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      summary.skipped++;
      continue;
    }
    if (options.withUsers) record.users = detail?.voters ?? [];
    if (!out.write(JSON.stringify(record) + '\n')) await once(out, 'drain');
    summary.written++;
  }
  if (failure) throw failure;
  return summary;
}

function parseSince(value: unknown): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(String(value));
  if (Number.isNaN(date.getTime())) throw new FormatError(`--since must be a date such as 2024-05-01 or 2024-05-01T12:00Z (got "${String(value)}")`);
  return date;
}

export async function exportCommand(
  config: Pick<Config, 'DATABASE_URL' | 'PAIRWISE_DATA_DIR'>,
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const options: ExportOptions = {
    format: parsePairFormat(values.format) ?? 'trl',
    since: parseSince(values.since),
    platform: typeof values.platform === 'string' ? values.platform : undefined,
    withUsers: Boolean(values['with-users']),
  };
  const file = typeof values.out === 'string' ? values.out : undefined;
  const database = await openConfiguredDatabase(config, 2);
  try {
    const out = file ? createWriteStream(file) : process.stdout;
    if (file) await once(out, 'open').catch((err: NodeJS.ErrnoException) => Promise.reject(new Error(`cannot write ${file}: ${err.code ?? err.message}`)));
    const summary = await exportPairs(database.db, out, options).catch((err: NodeJS.ErrnoException) => {
      // A reader that stops early (`pairwise export | head`) is not a failure.
      if (err.code === 'EPIPE') return null;
      throw new Error(`writing ${file ?? 'stdout'} failed: ${err.code ?? err.message}`);
    });
    if (!summary) return 0;
    if (file) {
      out.end();
      await finished(out);
    }
    // The summary goes to stderr: stdout may be the JSONL itself.
    const skipped = summary.skipped ? `; ${summary.skipped} skipped because HH cannot hold their text exactly (use --format trl)` : '';
    process.stderr.write(`exported ${summary.written} preference pairs (${options.format}) to ${file ?? 'stdout'}${skipped}\n`);
    return 0;
  } finally {
    await database.close();
  }
}
