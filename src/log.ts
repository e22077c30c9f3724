// Structured logging: JSON lines when not attached to a terminal (production, CI),
// short readable lines in a terminal. Secrets are scrubbed from every line.

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const secrets = new Set<string>();

/** Registers a value (token, password) that must never appear in any log line. */
export function addSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

/** Replaces registered secrets and any password inside a connection URL with "***". */
export function redact(text: string): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

function levelFromEnv(): Level {
  const v = (process.env.LOG_LEVEL ?? 'info').toLowerCase();
  return (v in ORDER ? v : 'info') as Level;
}

function formatError(err: unknown): unknown {
  if (err instanceof Error) return { message: err.message, name: err.name, stack: err.stack };
  return err;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

function makeLogger(bindings: Record<string, unknown>): Logger {
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[levelFromEnv()]) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...bindings };
    for (const [k, v] of Object.entries(fields ?? {})) record[k] = k === 'err' || v instanceof Error ? formatError(v) : v;
    const pretty = process.env.LOG_FORMAT ? process.env.LOG_FORMAT === 'pretty' : process.stderr.isTTY;
    let line: string;
    if (pretty) {
      const { time, level: _l, msg: _m, ...rest } = record;
      const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
      line = `${String(time).slice(11, 19)} ${level.toUpperCase().padEnd(5)} ${msg}${extra}`;
    } else {
      line = JSON.stringify(record);
    }
    process.stderr.write(redact(line) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (b) => makeLogger({ ...bindings, ...b }),
  };
}

export const log: Logger = makeLogger({});
