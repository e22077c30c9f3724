// A small fake Discord on 127.0.0.1 for driving the real discord.js: the REST routes the adapter
// uses (under /api/v10) and a JSON, uncompressed gateway with sessions, heartbeats and RESUME.
// It records what the bot posts and reacts, and lets a test play users, reactions, slash
// commands and dropped connections.

import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface FakeDiscordOptions {
  /** The bot token the fake accepts on REST and IDENTIFY/RESUME. */
  token: string;
  /** HELLO's heartbeat interval; short so heartbeats happen within a test. */
  heartbeatIntervalMs?: number;
  /** The reaction route allows one call per this many ms (real Discord: about 250). */
  reactionIntervalMs?: number;
  /** When false, IDENTIFY with the Message Content intent is closed with 4014 like an unapproved bot. */
  messageContentAllowed?: boolean;
}

export interface FakeUser {
  id: string;
  username: string;
  bot: boolean;
}

/** A message the bot posted, by channel message or as an interaction response. */
export interface PostedMessage {
  id: string;
  channelId: string;
  content: string;
  via: 'channel' | 'interaction';
  allowedMentions: unknown;
  /** The message replied to, when it was a reply. */
  replyTo?: string;
}

export interface BotReaction {
  channelId: string;
  messageId: string;
  emoji: string;
}

type Json = Record<string, unknown>;
interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
interface Channel {
  id: string;
  type: number;
  guildId?: string;
  recipient?: FakeUser;
}
interface Session {
  id: string;
  seq: number;
  /** Every dispatch of the session, replayed from the client's sequence on RESUME. */
  sent: Array<{ op: 0; s: number; t: string; d: unknown }>;
  socket: WebSocket | null;
}
interface Interaction {
  id: string;
  token: string;
  channelId: string;
  originalId?: string;
}

const DISCORD_EPOCH = 1420070400000n;
const INTENT_MESSAGE_CONTENT = 1 << 15;
const CHANNEL_GUILD_TEXT = 0;
const CHANNEL_DM = 1;
const PERMISSION_ADMINISTRATOR = 1n << 3n;
/** View channel, send messages, add reactions, read history: what an ordinary member has. */
const PERMISSIONS_MEMBER = (1n << 10n) | (1n << 11n) | (1n << 6n) | (1n << 16n);

export class FakeDiscord extends EventEmitter {
  readonly apiUrl: string;
  readonly gatewayUrl: string;
  /** Handed out in READY; discord.js must reconnect here to resume. */
  readonly resumeUrl: string;
  readonly bot: FakeUser;
  readonly applicationId: string;
  readonly guildId: string;
  /** The guild's text channel. */
  readonly channelId: string;
  /** Owns the guild, so discord.js computes Administrator for them. */
  readonly owner: FakeUser;

  readonly posted: PostedMessage[] = [];
  readonly botReactions: BotReaction[] = [];
  readonly commands: Json[] = [];
  readonly interactionCallbacks: Array<{ interactionId: string; type: number }> = [];
  /** Every REST call as "METHOD /path". */
  readonly requests: string[] = [];
  /** REST calls the fake has no route for: a test should expect none. */
  readonly unhandled: string[] = [];
  identifies = 0;
  resumes = 0;
  heartbeats = 0;
  rateLimited = 0;
  /** Gateway connections opened on the resume URL. */
  resumeConnections = 0;

  private readonly users = new Map<string, FakeUser>();
  private readonly channels = new Map<string, Channel>();
  private readonly messages = new Map<string, Json>();
  private readonly interactions = new Map<string, Interaction>();
  private session: Session | null = null;
  private lastReactionAt = 0;
  private counter = 0n;

  private constructor(
    private readonly opts: FakeDiscordOptions,
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    port: number,
  ) {
    super();
    this.apiUrl = `http://127.0.0.1:${port}/api`;
    this.gatewayUrl = `ws://127.0.0.1:${port}/gateway`;
    this.resumeUrl = `ws://127.0.0.1:${port}/resume`;
    this.bot = this.addUser('pairwise', true);
    this.owner = this.addUser('owner', false);
    this.applicationId = this.bot.id;
    this.guildId = this.snowflake();
    this.channelId = this.snowflake();
    this.channels.set(this.channelId, { id: this.channelId, type: CHANNEL_GUILD_TEXT, guildId: this.guildId });
  }

  static async start(opts: FakeDiscordOptions): Promise<FakeDiscord> {
    const http = createServer();
    const wss = new WebSocketServer({ noServer: true });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const fake = new FakeDiscord(opts, http, wss, (http.address() as AddressInfo).port);
    http.on('request', (req, res) => void fake.onRequest(req, res));
    http.on('upgrade', (req, socket, head) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== '/gateway' && path !== '/resume') return socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => fake.onConnection(ws, req));
    });
    return fake;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  // ---- what a test does as Discord's users ----

  addUser(username: string, bot = false): FakeUser {
    const user = { id: this.snowflake(), username, bot };
    this.users.set(user.id, user);
    return user;
  }

  /** A user posts a message: in the guild channel by default, or in their DM with the bot. */
  sendMessage(opts: { author: FakeUser; content: string; dm?: boolean }): Json {
    const channelId = opts.dm ? this.dmChannel(opts.author).id : this.channelId;
    const message = this.createMessage(channelId, opts.author, { content: opts.content });
    this.dispatch('MESSAGE_CREATE', this.withContext(message, opts.author));
    return message;
  }

  /**
   * A message the bot posted before the adapter started (in the guild channel, or in a DM with
   * `dmWith`), so discord.js has cached neither it nor, for a DM, its channel.
   */
  postedBeforeStart(content: string, dmWith?: FakeUser): Json {
    return this.createMessage(dmWith ? this.dmChannel(dmWith).id : this.channelId, this.bot, { content });
  }

  addReaction(opts: { user: FakeUser; messageId: string; emoji: string }): void {
    this.react('MESSAGE_REACTION_ADD', opts.user, opts.messageId, opts.emoji);
  }

  removeReaction(opts: { user: FakeUser; messageId: string; emoji: string }): void {
    this.react('MESSAGE_REACTION_REMOVE', opts.user, opts.messageId, opts.emoji);
  }

  /** A user runs /pairwise message:<text> in the guild channel; returns the interaction id. */
  runCommand(opts: { user: FakeUser; text: string }): string {
    const command = this.commands.find((c) => c.name === 'pairwise');
    if (!command) throw new Error('fake discord: /pairwise was never registered');
    const interaction: Interaction = { id: this.snowflake(), token: `itoken-${this.snowflake()}`, channelId: this.channelId };
    this.interactions.set(interaction.token, interaction);
    const isOwner = opts.user.id === this.owner.id;
    this.dispatch('INTERACTION_CREATE', {
      id: interaction.id,
      application_id: this.applicationId,
      type: 2,
      token: interaction.token,
      version: 1,
      data: {
        id: command.id,
        name: 'pairwise',
        type: 1,
        options: [{ name: 'message', type: 3, value: opts.text }],
      },
      guild_id: this.guildId,
      channel_id: this.channelId,
      channel: { id: this.channelId, type: CHANNEL_GUILD_TEXT, guild_id: this.guildId, name: 'general' },
      member: {
        ...this.member(opts.user),
        permissions: String(isOwner ? PERMISSION_ADMINISTRATOR : PERMISSIONS_MEMBER),
      },
      app_permissions: String(PERMISSIONS_MEMBER),
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      attachment_size_limit: 10 * 1024 * 1024,
    });
    return interaction.id;
  }

  /** Cuts the gateway socket without a close frame, as a network failure would; discord.js resumes. */
  dropConnection(): void {
    const socket = this.session?.socket;
    if (!socket) throw new Error('fake discord: no gateway connection to drop');
    socket.terminate();
  }

  // ---- gateway ----

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/resume') this.resumeConnections++;
    if (url.searchParams.has('compress')) {
      // Only happens with zlib-sync installed; this fake speaks plain JSON.
      ws.close(4012, 'fake discord: zlib-stream compression is not supported (uninstall zlib-sync)');
      return;
    }
    if (url.searchParams.get('v') !== '10' || url.searchParams.get('encoding') !== 'json') {
      ws.close(4012, 'fake discord: only v=10&encoding=json');
      return;
    }
    ws.on('message', (raw) => this.onGatewayMessage(ws, JSON.parse(raw.toString()) as { op: number; d: Json }));
    ws.on('close', () => {
      if (this.session?.socket === ws) this.session.socket = null;
    });
    this.send(ws, { op: 10, d: { heartbeat_interval: this.opts.heartbeatIntervalMs ?? 1000 }, s: null, t: null });
  }

  private onGatewayMessage(ws: WebSocket, payload: { op: number; d: Json }): void {
    switch (payload.op) {
      case 1:
        this.heartbeats++;
        this.send(ws, { op: 11, d: null, s: null, t: null });
        return;
      case 2:
        return this.identify(ws, payload.d);
      case 6:
        return this.resume(ws, payload.d);
      default:
        return; // presence and member requests need no answer here
    }
  }

  private identify(ws: WebSocket, d: Json): void {
    if (d.token !== this.opts.token) return ws.close(4004, 'Authentication failed.');
    if (this.opts.messageContentAllowed === false && (Number(d.intents) & INTENT_MESSAGE_CONTENT) !== 0) {
      return ws.close(4014, 'Disallowed intent(s).');
    }
    this.identifies++;
    this.session?.socket?.terminate();
    this.session = { id: `session-${this.snowflake()}`, seq: 0, sent: [], socket: ws };
    this.dispatch('READY', {
      v: 10,
      user: this.apiUser(this.bot),
      guilds: [{ id: this.guildId, unavailable: true }],
      session_id: this.session.id,
      resume_gateway_url: this.resumeUrl,
      shard: [0, 1],
      application: { id: this.applicationId, flags: 0 },
    });
    this.dispatch('GUILD_CREATE', this.guild());
    this.emit('ready');
  }

  private resume(ws: WebSocket, d: Json): void {
    const session = this.session;
    if (!session || d.session_id !== session.id || d.token !== this.opts.token) {
      this.send(ws, { op: 9, d: false, s: null, t: null });
      return;
    }
    this.resumes++;
    session.socket = ws;
    for (const payload of session.sent) if (payload.s > Number(d.seq)) this.send(ws, payload);
    this.dispatch('RESUMED', {});
    this.emit('resumed');
  }

  /** Sends to the live socket, or keeps it for replay on RESUME when the connection is down. */
  private dispatch(t: string, d: unknown): void {
    const session = this.session;
    if (!session) throw new Error('fake discord: no gateway session yet; start the adapter first');
    const payload = { op: 0 as const, s: ++session.seq, t, d };
    session.sent.push(payload);
    if (session.socket?.readyState === WebSocket.OPEN) this.send(session.socket, payload);
  }

  private send(ws: WebSocket, payload: unknown): void {
    ws.send(JSON.stringify(payload));
  }

  // ---- REST ----

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const path = decodeURIComponent(url.pathname).replace(/^\/api\/v10/, '');
    this.requests.push(`${method} ${path}`);
    let reply: Reply;
    try {
      reply = this.route(method, path, await readJson(req), req.headers.authorization);
    } catch (err) {
      reply = { status: 500, body: { message: String(err), code: 0 } };
    }
    // discord.js parses any body labelled JSON, so a 204 must carry no content type.
    const type = reply.status === 204 ? {} : { 'content-type': 'application/json' };
    res.writeHead(reply.status, { ...type, ...reply.headers });
    res.end(reply.status === 204 ? undefined : JSON.stringify(reply.body ?? {}));
  }

  private route(method: string, path: string, body: Json, authorization: string | undefined): Reply {
    // Interaction callbacks and webhooks authenticate by their token in the path.
    const byToken = path.startsWith('/interactions/') || path.startsWith('/webhooks/');
    if (!byToken && authorization !== `Bot ${this.opts.token}`) {
      return { status: 401, body: { message: '401: Unauthorized', code: 0 } };
    }
    const at = (pattern: RegExp) => path.match(pattern);
    let m: RegExpMatchArray | null;
    if (method === 'GET' && path === '/gateway/bot') {
      return {
        status: 200,
        body: {
          url: this.gatewayUrl,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
        },
      };
    }
    if (method === 'GET' && path === '/users/@me') return { status: 200, body: this.apiUser(this.bot) };
    if (method === 'GET' && (m = at(/^\/users\/(\d+)$/))) {
      const user = this.users.get(m[1]!);
      return user ? { status: 200, body: this.apiUser(user) } : notFound(10013, 'Unknown User');
    }
    if ((m = at(/^\/applications\/(\d+)\/commands$/))) {
      if (m[1] !== this.applicationId) return notFound(10002, 'Unknown Application');
      if (method === 'PUT') {
        this.commands.splice(0, this.commands.length, ...(body as unknown as Json[]).map((c) => this.command(c)));
        return { status: 200, body: this.commands };
      }
      if (method === 'GET') return { status: 200, body: this.commands };
    }
    if ((m = at(/^\/channels\/(\d+)$/)) && method === 'GET') {
      const channel = this.channels.get(m[1]!);
      return channel ? { status: 200, body: this.apiChannel(channel) } : notFound(10003, 'Unknown Channel');
    }
    if ((m = at(/^\/channels\/(\d+)\/typing$/)) && method === 'POST') return { status: 204 };
    if ((m = at(/^\/channels\/(\d+)\/messages$/)) && method === 'POST') return this.postMessage(m[1]!, body);
    if ((m = at(/^\/channels\/(\d+)\/messages\/(\d+)$/)) && method === 'GET') {
      const message = this.messages.get(m[2]!);
      return message?.channel_id === m[1] ? { status: 200, body: message } : notFound(10008, 'Unknown Message');
    }
    if ((m = at(/^\/channels\/(\d+)\/messages\/(\d+)\/reactions\/([^/]+)\/@me$/)) && method === 'PUT') {
      return this.putReaction(m[1]!, m[2]!, m[3]!);
    }
    if ((m = at(/^\/interactions\/(\d+)\/([^/]+)\/callback$/)) && method === 'POST') {
      return this.interactionCallback(m[1]!, m[2]!, body);
    }
    if ((m = at(/^\/webhooks\/(\d+)\/([^/]+)\/messages\/@original$/))) {
      if (method === 'PATCH') return this.editOriginal(m[2]!, body);
      if (method === 'DELETE') return this.deleteOriginal(m[2]!);
    }
    this.unhandled.push(`${method} ${path}`);
    return { status: 404, body: { message: '404: Not Found', code: 0 } };
  }

  private postMessage(channelId: string, body: Json): Reply {
    if (!this.channels.has(channelId)) return notFound(10003, 'Unknown Channel');
    const reference = body.message_reference as { message_id?: string } | undefined;
    const message = this.createMessage(channelId, this.bot, {
      content: String(body.content ?? ''),
      ...(reference?.message_id ? { message_reference: { message_id: reference.message_id, channel_id: channelId } } : {}),
    });
    this.posted.push({
      id: String(message.id),
      channelId,
      content: String(message.content),
      via: 'channel',
      allowedMentions: body.allowed_mentions,
      replyTo: reference?.message_id,
    });
    this.dispatch('MESSAGE_CREATE', this.withContext(message, this.bot));
    return { status: 200, body: message };
  }

  /** Enforces the reaction route's limit, telling discord.js about it in headers as Discord does. */
  private putReaction(channelId: string, messageId: string, emoji: string): Reply {
    const intervalMs = this.opts.reactionIntervalMs ?? 100;
    const limitHeaders = {
      'x-ratelimit-limit': '1',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset-after': String(intervalMs / 1000),
      'x-ratelimit-bucket': 'fake-reactions',
    };
    const now = Date.now();
    if (now - this.lastReactionAt < intervalMs) {
      this.rateLimited++;
      const retryAfter = (intervalMs - (now - this.lastReactionAt)) / 1000;
      return {
        status: 429,
        headers: { ...limitHeaders, 'retry-after': String(retryAfter), 'x-ratelimit-scope': 'user' },
        body: { message: 'You are being rate limited.', retry_after: retryAfter, global: false },
      };
    }
    const message = this.messages.get(messageId);
    if (message?.channel_id !== channelId) return notFound(10008, 'Unknown Message');
    this.lastReactionAt = now;
    this.botReactions.push({ channelId, messageId, emoji });
    // Discord echoes the bot's own reaction back over the gateway like anyone else's.
    this.react('MESSAGE_REACTION_ADD', this.bot, messageId, emoji);
    return { status: 204, headers: limitHeaders };
  }

  private interactionCallback(interactionId: string, token: string, body: Json): Reply {
    const interaction = this.interactions.get(token);
    if (!interaction || interaction.id !== interactionId) return notFound(10062, 'Unknown interaction');
    if (interaction.originalId) return { status: 400, body: { message: 'Interaction has already been acknowledged.', code: 40060 } };
    const type = Number(body.type);
    this.interactionCallbacks.push({ interactionId, type });
    const data = (body.data ?? {}) as Json;
    const original = this.createMessage(interaction.channelId, this.bot, { content: String(data.content ?? '') });
    interaction.originalId = String(original.id);
    if (type === 4) this.recordInteractionMessage(original, data);
    return { status: 204 };
  }

  private editOriginal(token: string, body: Json): Reply {
    const interaction = this.interactions.get(token);
    const original = interaction?.originalId ? this.messages.get(interaction.originalId) : undefined;
    if (!original) return notFound(10008, 'Unknown Message');
    if (typeof body.content === 'string') original.content = body.content;
    this.recordInteractionMessage(original, body);
    return { status: 200, body: original };
  }

  private deleteOriginal(token: string): Reply {
    const interaction = this.interactions.get(token);
    if (!interaction?.originalId || !this.messages.delete(interaction.originalId)) return notFound(10008, 'Unknown Message');
    const index = this.posted.findIndex((p) => p.id === interaction.originalId);
    if (index >= 0) this.posted.splice(index, 1);
    return { status: 204 };
  }

  private recordInteractionMessage(message: Json, body: Json): void {
    const id = String(message.id);
    const entry: PostedMessage = {
      id,
      channelId: String(message.channel_id),
      content: String(message.content),
      via: 'interaction',
      allowedMentions: body.allowed_mentions,
    };
    const index = this.posted.findIndex((p) => p.id === id);
    if (index >= 0) this.posted[index] = entry;
    else this.posted.push(entry);
  }

  // ---- payloads ----

  private snowflake(): string {
    this.counter++;
    return (((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (this.counter & 0x3fffffn)).toString();
  }

  private dmChannel(user: FakeUser): Channel {
    for (const channel of this.channels.values()) if (channel.recipient?.id === user.id) return channel;
    const channel = { id: this.snowflake(), type: CHANNEL_DM, recipient: user };
    this.channels.set(channel.id, channel);
    return channel;
  }

  private createMessage(channelId: string, author: FakeUser, fields: Json & { content: string }): Json {
    const id = this.snowflake();
    const mentioned = [...fields.content.matchAll(/<@!?(\d+)>/g)]
      .map((match) => this.users.get(match[1]!))
      .filter((user): user is FakeUser => user !== undefined);
    const message: Json = {
      id,
      channel_id: channelId,
      author: this.apiUser(author),
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: mentioned.map((user) => this.apiUser(user)),
      mention_roles: [],
      attachments: [],
      embeds: [],
      components: [],
      pinned: false,
      type: fields.message_reference ? 19 : 0,
      flags: 0,
      ...fields,
    };
    this.messages.set(id, message);
    return message;
  }

  /** The gateway form of a message: guild id and member in a guild, channel type in a DM. */
  private withContext(message: Json, author: FakeUser): Json {
    const channel = this.channels.get(String(message.channel_id))!;
    if (channel.type === CHANNEL_DM) return { ...message, channel_type: CHANNEL_DM };
    return { ...message, guild_id: this.guildId, member: this.member(author) };
  }

  private react(t: 'MESSAGE_REACTION_ADD' | 'MESSAGE_REACTION_REMOVE', user: FakeUser, messageId: string, emoji: string): void {
    const message = this.messages.get(messageId);
    if (!message) throw new Error(`fake discord: no message ${messageId}`);
    const channel = this.channels.get(String(message.channel_id))!;
    const inGuild = channel.type !== CHANNEL_DM;
    this.dispatch(t, {
      user_id: user.id,
      channel_id: channel.id,
      message_id: messageId,
      emoji: { id: null, name: emoji },
      burst: false,
      type: 0,
      ...(inGuild ? { guild_id: this.guildId } : {}),
      ...(inGuild && t === 'MESSAGE_REACTION_ADD'
        ? { member: { ...this.member(user), user: this.apiUser(user) }, message_author_id: (message.author as Json).id }
        : {}),
    });
  }

  private apiUser(user: FakeUser): Json {
    return { id: user.id, username: user.username, global_name: user.username, discriminator: '0', avatar: null, bot: user.bot };
  }

  private member(user: FakeUser): Json {
    return { user: this.apiUser(user), roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: 0 };
  }

  private apiChannel(channel: Channel): Json {
    if (channel.type === CHANNEL_DM) {
      return { id: channel.id, type: CHANNEL_DM, recipients: [this.apiUser(channel.recipient!)], last_message_id: null };
    }
    return { id: channel.id, type: channel.type, guild_id: this.guildId, name: 'general', position: 0, permission_overwrites: [] };
  }

  private guild(): Json {
    return {
      id: this.guildId,
      name: 'Fake Guild',
      icon: null,
      owner_id: this.owner.id,
      unavailable: false,
      large: false,
      member_count: this.users.size,
      joined_at: new Date(0).toISOString(),
      roles: [
        {
          id: this.guildId, // @everyone shares the guild's id
          name: '@everyone',
          permissions: String(PERMISSIONS_MEMBER),
          position: 0,
          color: 0,
          hoist: false,
          managed: false,
          mentionable: false,
          flags: 0,
        },
      ],
      channels: [this.apiChannel(this.channels.get(this.channelId)!)],
      threads: [],
      members: [this.member(this.bot)],
      presences: [],
      voice_states: [],
      emojis: [],
      stickers: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      features: [],
      system_channel_flags: 0,
      premium_tier: 0,
      preferred_locale: 'en-US',
    };
  }

  private command(data: Json): Json {
    return { ...data, id: this.snowflake(), application_id: this.applicationId, version: this.snowflake(), type: data.type ?? 1 };
  }
}

function notFound(code: number, message: string): Reply {
  return { status: 404, body: { message, code } };
}

async function readJson(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  if (!String(req.headers['content-type'] ?? '').includes('application/json')) {
    throw new Error(`fake discord: expected a JSON body, got ${req.headers['content-type']}`);
  }
  return JSON.parse(text) as Json;
}
