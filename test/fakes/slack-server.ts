// A small fake Slack on 127.0.0.1 for driving the real Bolt: the Web API methods the adapter calls,
// Socket Mode (apps.connections.open plus its WebSocket with hello, events_api envelopes and acks),
// and signed Events API requests for HTTP mode. It records what the bot posts and reacts.

import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface FakeSlackOptions {
  /** xoxb- token the Web API accepts for bot methods. */
  botToken: string;
  /** xapp- token apps.connections.open accepts (Socket Mode). */
  appToken?: string;
  /** Signs the requests deliver() sends over HTTP. */
  signingSecret?: string;
  /** How often the Socket Mode server pings; Bolt reconnects after 30 s without one. */
  pingIntervalMs?: number;
}

export interface SlackUser {
  id: string;
  name: string;
  isBot?: boolean;
  isAdmin?: boolean;
}

export interface SlackPost {
  channel: string;
  ts: string;
  text: string;
  thread_ts?: string;
  parse?: string;
}

export interface SlackReaction {
  channel: string;
  timestamp: string;
  name: string;
}

type Json = Record<string, unknown>;

export const BOT_USER_ID = 'UBOT0001';
export const BOT_ID = 'BBOT0001';
export const TEAM_ID = 'TFAKE0001';
const APP_ID = 'AFAKE0001';

/** Slack's v0 request signature: HMAC-SHA256 over "v0:{timestamp}:{body}" with the signing secret. */
export function signSlackRequest(signingSecret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface SignedRequestOptions {
  /** Signs with this secret; leave out for an unsigned request. */
  signingSecret?: string;
  /** Unix seconds; default now. */
  timestamp?: number;
  /** Sent instead of the correct signature. */
  signature?: string;
}

/** POSTs an Events API body to url the way Slack does; returns the status and response text. */
export async function postSignedEvent(
  url: string,
  body: string,
  opts: SignedRequestOptions,
): Promise<{ status: number; text: string }> {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.signingSecret !== undefined || opts.signature !== undefined) {
    headers['x-slack-request-timestamp'] = String(timestamp);
    headers['x-slack-signature'] = opts.signature ?? signSlackRequest(opts.signingSecret!, timestamp, body);
  }
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

export class FakeSlack {
  /** Bolt's clientOptions.slackApiUrl. */
  readonly apiUrl: string;
  /** Where deliver() POSTs events when no Socket Mode connection is open (HTTP mode). */
  eventsUrl: string | undefined;

  readonly posts: SlackPost[] = [];
  readonly reactions: SlackReaction[] = [];
  /** Every Web API call by method name. */
  readonly calls: string[] = [];
  /** Methods the fake does not implement: a test should expect none. */
  readonly unhandled: string[] = [];
  socketConnections = 0;
  /** Envelope ids the Socket Mode client acknowledged. */
  readonly acks: string[] = [];

  private readonly users = new Map<string, SlackUser>();
  private readonly pendingAcks = new Map<string, () => void>();
  private socket: WebSocket | null = null;
  private tsCounter = 0;
  private eventCounter = 0;

  private constructor(
    private readonly opts: FakeSlackOptions,
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly port: number,
  ) {
    this.apiUrl = `http://127.0.0.1:${port}/api/`;
    this.addUser({ id: BOT_USER_ID, name: 'pairwise', isBot: true });
  }

  static async start(opts: FakeSlackOptions): Promise<FakeSlack> {
    const http = createServer();
    const wss = new WebSocketServer({ noServer: true });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const fake = new FakeSlack(opts, http, wss, (http.address() as AddressInfo).port);
    http.on('request', (req, res) => void fake.onRequest(req, res));
    http.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/link')) return socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => fake.onSocket(ws));
    });
    return fake;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  addUser(user: SlackUser): SlackUser {
    this.users.set(user.id, user);
    return user;
  }

  /** A fresh message timestamp, unique within the fake. */
  ts(): string {
    return `${Math.floor(Date.now() / 1000)}.${String(++this.tsCounter).padStart(6, '0')}`;
  }

  /** The Events API body Slack wraps an event in, for both HTTP and Socket Mode. */
  envelope(event: Json): Json {
    return {
      token: 'legacy-verification-token',
      team_id: TEAM_ID,
      api_app_id: APP_ID,
      event: { event_ts: this.ts(), ...event },
      type: 'event_callback',
      event_id: `Ev${String(++this.eventCounter).padStart(8, '0')}`,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: TEAM_ID, user_id: BOT_USER_ID, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
    };
  }

  /**
   * Delivers an event as Slack would: over the open Socket Mode connection (resolving on the ack),
   * or else as a signed POST to eventsUrl (resolving with the HTTP status).
   */
  async deliver(event: Json): Promise<{ via: 'socket' | 'http'; status: number }> {
    const body = this.envelope(event);
    const socket = this.socket;
    if (socket?.readyState === WebSocket.OPEN) {
      const envelopeId = randomUUID();
      const acked = new Promise<void>((resolve) => this.pendingAcks.set(envelopeId, resolve));
      socket.send(
        JSON.stringify({ envelope_id: envelopeId, payload: body, type: 'events_api', accepts_response_payload: false, retry_attempt: 0, retry_reason: '' }),
      );
      await acked;
      return { via: 'socket', status: 200 };
    }
    if (!this.eventsUrl || !this.opts.signingSecret) {
      throw new Error('fake slack: no Socket Mode connection, and no eventsUrl and signingSecret to POST to');
    }
    const { status } = await postSignedEvent(this.eventsUrl, JSON.stringify(body), { signingSecret: this.opts.signingSecret });
    return { via: 'http', status };
  }

  // ---- Socket Mode ----

  private onSocket(ws: WebSocket): void {
    this.socketConnections++;
    this.socket = ws;
    const ping = setInterval(() => ws.ping(), this.opts.pingIntervalMs ?? 10_000);
    ws.on('close', () => {
      clearInterval(ping);
      if (this.socket === ws) this.socket = null;
    });
    ws.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as { envelope_id?: string };
      if (!message.envelope_id) return;
      this.acks.push(message.envelope_id);
      this.pendingAcks.get(message.envelope_id)?.();
      this.pendingAcks.delete(message.envelope_id);
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: 1,
        debug_info: { host: 'fake-slack', build_number: 1, approximate_connection_time: 3600 },
        connection_info: { app_id: APP_ID },
      }),
    );
  }

  // ---- Web API ----

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/api\//, '');
    this.calls.push(method);
    let reply: Json;
    try {
      reply = this.call(method, await readArgs(req), req.headers.authorization);
    } catch (err) {
      reply = { ok: false, error: 'fatal_error', detail: String(err) };
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(reply));
  }

  private call(method: string, args: Json, authorization: string | undefined): Json {
    if (method === 'apps.connections.open') {
      if (!this.opts.appToken || authorization !== `Bearer ${this.opts.appToken}`) return { ok: false, error: 'invalid_auth' };
      return { ok: true, url: `ws://127.0.0.1:${this.port}/link/?ticket=${randomUUID()}&app_id=${APP_ID}` };
    }
    if (authorization !== `Bearer ${this.opts.botToken}`) return { ok: false, error: 'invalid_auth' };
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://fake.slack.test/',
          team: 'Fake Team',
          user: 'pairwise',
          team_id: TEAM_ID,
          user_id: BOT_USER_ID,
          bot_id: BOT_ID,
          is_enterprise_install: false,
        };
      case 'chat.postMessage':
        return this.postMessage(args);
      case 'reactions.add':
        return this.addReaction(args);
      case 'users.info': {
        const user = this.users.get(String(args.user));
        if (!user) return { ok: false, error: 'user_not_found' };
        return {
          ok: true,
          user: {
            id: user.id,
            team_id: TEAM_ID,
            name: user.name,
            real_name: user.name,
            is_bot: user.isBot ?? false,
            is_admin: user.isAdmin ?? false,
            is_owner: false,
            profile: { display_name: user.name, real_name: user.name },
          },
        };
      }
      default:
        this.unhandled.push(method);
        return { ok: false, error: 'unknown_method' };
    }
  }

  private postMessage(args: Json): Json {
    if (!args.channel) return { ok: false, error: 'channel_not_found' };
    if (typeof args.text !== 'string' || args.text === '') return { ok: false, error: 'no_text' };
    const post: SlackPost = {
      channel: String(args.channel),
      ts: this.ts(),
      text: args.text,
      ...(args.thread_ts ? { thread_ts: String(args.thread_ts) } : {}),
      ...(args.parse ? { parse: String(args.parse) } : {}),
    };
    this.posts.push(post);
    return {
      ok: true,
      channel: post.channel,
      ts: post.ts,
      message: { type: 'message', text: post.text, user: BOT_USER_ID, bot_id: BOT_ID, ts: post.ts, thread_ts: post.thread_ts },
    };
  }

  private addReaction(args: Json): Json {
    const reaction = { channel: String(args.channel), timestamp: String(args.timestamp), name: String(args.name) };
    const message = this.posts.find((p) => p.channel === reaction.channel && p.ts === reaction.timestamp);
    if (!message) return { ok: false, error: 'message_not_found' };
    if (this.reactions.some((r) => r.channel === reaction.channel && r.timestamp === reaction.timestamp && r.name === reaction.name)) {
      return { ok: false, error: 'already_reacted' };
    }
    this.reactions.push(reaction);
    // Slack sends the app its own reaction like anyone else's.
    this.deliver({
      type: 'reaction_added',
      user: BOT_USER_ID,
      reaction: reaction.name,
      item: { type: 'message', channel: reaction.channel, ts: reaction.timestamp },
      item_user: BOT_USER_ID,
    }).catch(() => {}); // the adapter may be gone by then
    return { ok: true };
  }
}

/** Web API arguments arrive form-encoded (Bolt's default) or as JSON. */
async function readArgs(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  if (String(req.headers['content-type']).includes('application/json')) return JSON.parse(text) as Json;
  return Object.fromEntries(new URLSearchParams(text));
}
