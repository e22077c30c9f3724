// Retries for database writes that must survive a short outage (votes above all).
import { log } from '../log.ts';

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

/** True for errors that say the database is unreachable right now, not that the request is wrong. */
export function isTransientDbError(err: unknown): boolean {
  for (let e = err as { code?: string; message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code && TRANSIENT_CODES.has(e.code)) return true;
    if (/Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(e.message ?? '')) return true;
  }
  return false;
}

/** Runs fn, retrying transient database errors with backoff for up to `budgetMs`. */
export async function retrying<T>(fn: () => Promise<T>, budgetMs: number): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() >= deadline) throw err;
      const wait = Math.min(2000, 100 * 2 ** attempt, Math.max(0, deadline - Date.now()));
      if (attempt === 0) log.warn('database unavailable, retrying', { err: (err as Error).message });
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
