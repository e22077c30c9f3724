// A small HTTP layer on node:http: exact-path routes, JSON bodies with a size cap, and JSON
// errors that name the offending field. Every page and API of Pairwise is served through it.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { log } from '../log.ts';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface Route {
  method: string;
  path: string;
  handler: Handler;
}

const MAX_BODY_BYTES = 1 << 20;

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON object body; a 4xx that says what is wrong otherwise. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  // JSON only by its content type: a browser sends that cross-site only after a CORS preflight,
  // which this server never grants, so no other web page can chat or vote through a visitor.
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'send the body as JSON with the header "Content-Type: application/json"');
  const body = await readBody(req);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': contentType,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  });
  res.end(body);
}

export interface WebServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(routes: Route[], host: string, port: number): Promise<WebServer> {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes.find((r) => r.path === url.pathname && r.method === req.method);
    try {
      if (!route) {
        const known = routes.some((r) => r.path === url.pathname);
        throw new HttpError(known ? 405 : 404, known ? `${req.method} is not allowed on ${url.pathname}` : `no such page: ${url.pathname}`);
      }
      await route.handler(req, res);
    } catch (err) {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err instanceof HttpError) {
        sendJson(res, err.status, err.field ? { error: err.message, field: err.field } : { error: err.message });
      } else {
        log.error('request failed', { path: url.pathname, err });
        sendJson(res, 500, { error: 'internal error; the server log has the details' });
      }
    }
  });
  // Keep-alive sockets would otherwise hold close() open for minutes.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
