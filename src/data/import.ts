// `pairwise import FILE`: preference pairs from an HH-RLHF or TRL JSONL file into imported_pairs.
// The file is streamed line by line and inserted in batches inside ONE transaction: a refused
// import (a bad line without --skip-bad) stores nothing. Re-importing a pair adds nothing: rows
// are keyed by the sha256 of the pair's canonical JSON.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Config } from '../config.ts';
import { openConfiguredDatabase, type Db } from '../db/client.ts';
import { insertImportedPairs, type NewImportedPair } from '../db/pairs-io.ts';
import { contentHash, FormatError, LineError, parsePairFormat, readPairFile, type PairFormat } from './formats.ts';

/** Rows per INSERT: large enough to be quick, small enough to keep memory flat on huge files. */
export const BATCH_ROWS = 500;
/** Bad line numbers kept for the summary; the count covers the rest. */
const BAD_LINES_SHOWN = 10;

export interface ImportOptions {
  format?: PairFormat;
  /** Skip malformed lines (and count them) instead of refusing the whole file. */
  skipBad: boolean;
  /** Rows per INSERT; BATCH_ROWS when absent. */
  batchRows?: number;
  /** Called with the bytes read so far. */
  onProgress?: (bytes: number) => void;
}

export interface ImportSummary {
  file: string;
  /** The format used; null when no line was valid. */
  format: PairFormat | null;
  /** Non-blank lines read. */
  read: number;
  imported: number;
  /** Valid pairs already in the database (or earlier in the same file). */
  alreadyPresent: number;
  skipped: number;
  /** The first skipped line numbers. */
  badLines: number[];
}

export async function importPairs(db: Db, file: string, options: ImportOptions): Promise<ImportSummary> {
  const summary: ImportSummary = { file, format: null, read: 0, imported: 0, alreadyPresent: 0, skipped: 0, badLines: [] };
  const onBad = options.skipBad
    ? (line: number) => {
        summary.read++;
        summary.skipped++;
        if (summary.badLines.length < BAD_LINES_SHOWN) summary.badLines.push(line);
      }
    : undefined;
  await db.transaction(async (tx) => {
    let batch: NewImportedPair[] = [];
    const flush = async () => {
      const inserted = await insertImportedPairs(tx, batch);
      summary.imported += inserted;
      summary.alreadyPresent += batch.length - inserted;
      batch = [];
    };
    for await (const { format, pair } of readPairFile(file, { format: options.format, onBad, onProgress: options.onProgress })) {
      summary.read++;
      summary.format = format;
      batch.push({ contentHash: contentHash(pair), context: pair.context, chosen: pair.chosen, rejected: pair.rejected, source: `${format}:${path.basename(file)}` });
      if (batch.length >= (options.batchRows ?? BATCH_ROWS)) await flush();
    }
    await flush();
  });
  return summary;
}

export function formatImportSummary(s: ImportSummary): string {
  const bad = s.skipped ? ` (bad lines: ${s.badLines.join(', ')}${s.skipped > s.badLines.length ? ', …' : ''})` : '';
  return `read ${s.read} lines from ${s.file}${s.format ? ` (${s.format})` : ''}: ${s.imported} imported, ${s.alreadyPresent} already present, ${s.skipped} skipped${bad}`;
}

export async function importCommand(
  config: Pick<Config, 'DATABASE_URL' | 'PAIRWISE_DATA_DIR'>,
  positionals: string[],
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  if (positionals.length !== 1) throw new FormatError('pairwise import needs exactly one FILE: pairwise import FILE [--format hh|trl] [--skip-bad]');
  const file = positionals[0];
  const format = parsePairFormat(values.format);
  const size = (await stat(file).catch((err: NodeJS.ErrnoException) => Promise.reject(new FormatError(`cannot read ${file}: ${err.code ?? err.message}`)))).size;
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'importing |{bar}| {percentage}% of {total} bytes', hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  const database = await openConfiguredDatabase(config, 2);
  bar?.start(size, 0);
  try {
    const summary = await importPairs(database.db, file, { format, skipBad: Boolean(values['skip-bad']), onProgress: (bytes) => bar?.update(Math.min(bytes, size)) });
    bar?.stop();
    console.log(formatImportSummary(summary));
    return 0;
  } catch (err) {
    bar?.stop();
    if (err instanceof LineError) throw new LineError(err.line, `${err.message}; nothing was imported (fix the line, or pass --skip-bad to skip bad lines)`);
    throw err;
  } finally {
    await database.close();
  }
}
