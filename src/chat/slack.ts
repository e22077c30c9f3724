// Slack adapter (Bolt v5): app mentions and DMs become ChatHandler messages, answered in a thread
// with both candidates and four seeded vote reactions; reaction_added/removed become votes.
// Socket Mode when an app token is given; otherwise the Events API over HTTP, served by the web
// server through `requestListener` (no second HTTP server).

import type { IncomingMessage as HttpRequest, ServerResponse } from 'node:http';
import { App, HTTPReceiver, LogLevel, SocketModeReceiver, type Logger as BoltLogger } from '@slack/bolt';
import { addSecret, log, type Logger } from '../log.ts';
import { formatCandidates, truncate, type CandidateLayout } from './layout.ts';
import type { Adapter, ChatHandler, ChatUser, VoteChoice } from './types.ts';

export interface SlackAdapterOptions {
  /** Bot token, xoxb-… (SLACK_BOT_TOKEN). */
  botToken: string;
  /** Verifies Events API requests over HTTP (SLACK_SIGNING_SECRET); needed unless appToken is set. */
  signingSecret?: string;
  /** App-level token, xapp-… with connections:write (SLACK_APP_TOKEN): Socket Mode when set. */
  appToken?: string;
  /** Web API base, e.g. http://127.0.0.1:8080/api/ (SLACK_API_URL); Socket Mode's URL comes from it too. */
  apiUrl?: string;
}

export type SlackAdapter = Adapter & {
  /** HTTP mode only: mount at POST /slack/events, handing over the request with its body unread. */
  requestListener?: (req: HttpRequest, res: ServerResponse) => void;
};

/** Slack advises at most 4,000 characters of text; its hard cap (40,000) leaves room for escaping. */
const MESSAGE_LIMIT = 4000;

/** Seeded in this order under every candidates message: :a: :b: :handshake: :-1:. */
const VOTE_REACTIONS: ReadonlyArray<readonly [name: string, choice: VoteChoice]> = [
  ['a', 'a'],
  ['b', 'b'],
  ['handshake', 'tie'],
  ['-1', 'both_bad'],
];
const CHOICE_BY_REACTION = new Map(VOTE_REACTIONS);

/** How long a users.info answer (name, bot, admin) is trusted. */
const USER_CACHE_MS = 10 * 60_000;

/** Slack's text format gives &, < and > meaning (<!channel>, <@U…>); escaped, they are only text. */
export const escapeSlack = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const unescapeSlack = (text: string): string =>
  text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

const LAYOUT: CandidateLayout = {
  labels: { a: ':a:', b: ':b:' },
  maxChars: MESSAGE_LIMIT,
  footer: '_Vote: :a: or :b: for the better reply · :handshake: tie · :-1: both bad_',
  escape: escapeSlack,
};

/** The id the adapter attaches candidates under and looks reactions up by. */
const slackMessageId = (channel: string, ts: string): string => `${channel}:${ts}`;

/** The fields of message and app_mention events the adapter reads. */
interface UserMessageEvent {
  type: string;
  channel: string;
  ts: string;
  thread_ts?: string;
  user?: string;
  text?: string;
  bot_id?: string;
  subtype?: string;
  channel_type?: string;
}

interface ReactionEvent {
  user: string;
  reaction: string;
  item_user?: string;
  item: { type: string; channel?: string; ts?: string };
}

/** Bolt's logger interface over ours, so its lines are JSON too and secrets stay scrubbed. */
function boltLogger(logger: Logger): BoltLogger {
  const line = (parts: unknown[]) =>
    parts.map((p) => (p instanceof Error ? p.message : typeof p === 'string' ? p : JSON.stringify(p))).join(' ');
  const levels: Record<string, LogLevel> = { debug: LogLevel.DEBUG, warn: LogLevel.WARN, error: LogLevel.ERROR };
  return {
    debug: (...parts) => logger.debug(line(parts)),
    info: (...parts) => logger.info(line(parts)),
    warn: (...parts) => logger.warn(line(parts)),
    error: (...parts) => logger.error(line(parts)),
    // Our LOG_LEVEL decides; Bolt asks only so it can skip building debug lines.
    setLevel: () => {},
    getLevel: () => levels[(process.env.LOG_LEVEL ?? '').toLowerCase()] ?? LogLevel.INFO,
    setName: () => {},
  };
}

export function createSlackAdapter(handler: ChatHandler, opts: SlackAdapterOptions): SlackAdapter {
  if (!opts.botToken) throw new Error('Slack needs a bot token: set SLACK_BOT_TOKEN (xoxb-…, OAuth & Permissions page).');
  if (!opts.appToken && !opts.signingSecret) {
    throw new Error('Slack needs SLACK_SIGNING_SECRET for the Events API over HTTP, or SLACK_APP_TOKEN (xapp-…) for Socket Mode.');
  }
  for (const secret of [opts.botToken, opts.appToken, opts.signingSecret]) addSecret(secret);
  const logger = log.child({ adapter: 'slack' });
  const boltLog = boltLogger(logger);
  // A fresh object each time: App and the Socket Mode client both write into the one they get.
  const clientOptions = () => (opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {});
  // Built here rather than by App, so stop() can wait for the socket to close.
  const socketReceiver = opts.appToken
    ? new SocketModeReceiver({ appToken: opts.appToken, logger: boltLog, installerOptions: { clientOptions: clientOptions() } })
    : undefined;
  const httpReceiver = socketReceiver ? undefined : new HTTPReceiver({ signingSecret: opts.signingSecret!, logger: boltLog });
  const app = new App({
    token: opts.botToken,
    socketMode: socketReceiver !== undefined,
    receiver: socketReceiver ?? httpReceiver,
    logger: boltLog,
    clientOptions: clientOptions(),
    convoStore: false,
    // Otherwise the constructor fires auth.test at once and an early failure goes unhandled.
    deferInitialization: true,
  });
  type Client = App['client'];
  let running = false;

  const users = new Map<string, { user: ChatUser; expires: number }>();
  /** Name, bot flag and admin flag for a Slack user id, cached; without users:read, a plain user. */
  async function lookUpUser(client: Client, id: string): Promise<ChatUser> {
    const hit = users.get(id);
    if (hit && hit.expires > Date.now()) return hit.user;
    let user: ChatUser = { platform: 'slack', externalId: id, isBot: false };
    try {
      const info = (await client.users.info({ user: id })).user;
      if (info) {
        user = {
          platform: 'slack',
          externalId: id,
          displayName: info.profile?.display_name || info.real_name || info.name,
          isBot: Boolean(info.is_bot),
          isAdmin: Boolean(info.is_admin || info.is_owner),
        };
      }
    } catch (err) {
      logger.warn('users.info failed; treating the user as a person without admin rights (add the users:read scope)', {
        user: id,
        err,
      });
    }
    if (users.size > 10_000) users.clear(); // a crude bound; the cache only saves calls
    users.set(id, { user, expires: Date.now() + USER_CACHE_MS });
    return user;
  }

  async function answer(client: Client, event: UserMessageEvent & { user: string }, botUserId?: string): Promise<void> {
    // A new thread under the message, or the thread it is already in.
    const threadTs = event.thread_ts ?? event.ts;
    const mention = botUserId ? new RegExp(`<@${botUserId}(\\|[^>]*)?>`, 'g') : null;
    const text = unescapeSlack(mention ? (event.text ?? '').replace(mention, '') : (event.text ?? '')).trim();
    const reply = await handler.handleMessage({
      user: await lookUpUser(client, event.user),
      channelId: event.channel,
      threadId: threadTs,
      eventId: slackMessageId(event.channel, event.ts),
      text,
    });
    if (reply.kind === 'ignored') return;
    const post = (body: string) =>
      client.chat.postMessage({
        channel: event.channel,
        thread_ts: threadTs,
        text: body,
        parse: 'none',
        unfurl_links: false,
        unfurl_media: false,
      });
    if (reply.kind === 'text') {
      await post(escapeSlack(truncate(reply.text, MESSAGE_LIMIT)));
      return;
    }
    const posted = await post(formatCandidates(reply.candidates, LAYOUT));
    if (!posted.channel || !posted.ts) throw new Error('chat.postMessage answered without channel and ts');
    // Attach before seeding, so a vote cast while the reactions are still going on finds the prompt.
    await handler.attachPlatformMessage(reply.promptId, 'slack', slackMessageId(posted.channel, posted.ts));
    // One at a time, in order; the Web API client waits out any rate limit.
    for (const [name] of VOTE_REACTIONS) {
      await client.reactions.add({ channel: posted.channel, timestamp: posted.ts, name });
    }
  }

  async function onReaction(client: Client, event: ReactionEvent, action: 'add' | 'remove', botUserId?: string) {
    const { channel, ts } = event.item;
    if (event.item.type !== 'message' || !channel || !ts || event.user === botUserId) return;
    // Votes only count on our own posts.
    if (botUserId && event.item_user && event.item_user !== botUserId) return;
    const choice = CHOICE_BY_REACTION.get(event.reaction.replace(/::skin-tone-\d$/, ''));
    if (!choice) return;
    const user = await lookUpUser(client, event.user);
    if (user.isBot) return;
    const outcome = await handler.handleReaction({
      user,
      target: { platform: 'slack', platformMessageId: slackMessageId(channel, ts) },
      choice,
      action,
    });
    logger.debug('reaction', { channel, ts, choice, action, outcome });
  }

  /** Runs one event's work; a failure is logged and never reaches Bolt or the process. */
  async function guard(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      logger.error(`${what} failed`, { err });
    }
  }

  app.event('app_mention', ({ event, client, context }) =>
    guard('app mention', async () => {
      const ev = event as UserMessageEvent;
      if (ev.bot_id || !ev.user) return;
      await answer(client, { ...ev, user: ev.user }, context.botUserId);
    }),
  );
  app.event('message', ({ event, client, context }) =>
    guard('direct message', async () => {
      const ev = event as UserMessageEvent;
      // Edits, joins, bot posts (our own included) and the like carry a subtype or a bot_id.
      if (ev.channel_type !== 'im' || ev.subtype || ev.bot_id || !ev.user) return;
      await answer(client, { ...ev, user: ev.user }, context.botUserId);
    }),
  );
  app.event('reaction_added', ({ event, client, context }) =>
    guard('reaction', () => onReaction(client, event, 'add', context.botUserId)),
  );
  app.event('reaction_removed', ({ event, client, context }) =>
    guard('reaction removal', () => onReaction(client, event, 'remove', context.botUserId)),
  );
  app.error(async (err) => logger.error('bolt error', { err }));

  const requestListener = httpReceiver
    ? (req: HttpRequest, res: ServerResponse): void => {
        if (!running) {
          res.writeHead(503, { 'content-type': 'text/plain' }).end('The Slack adapter is not running.\n');
          return;
        }
        try {
          httpReceiver.requestListener(req, res);
        } catch (err) {
          // Bolt throws for anything but POST to its endpoint (/slack/events).
          logger.debug('request not for the Slack events endpoint', { url: req.url, err });
          res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: Slack events go to POST /slack/events.\n');
        }
      }
    : undefined;

  return {
    name: 'slack',
    requestListener,
    async start() {
      try {
        await app.init();
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new Error(`Slack auth.test failed (${reason}): check SLACK_BOT_TOKEN${opts.apiUrl ? ' and SLACK_API_URL' : ''}.`);
      }
      if (socketReceiver) {
        try {
          await app.start();
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          throw new Error(`Slack Socket Mode failed to connect (${reason}): check SLACK_APP_TOKEN (xapp-…, connections:write).`);
        }
      }
      running = true;
      logger.info('connected', { mode: socketReceiver ? 'socket' : 'http' });
    },
    async stop() {
      running = false;
      await socketReceiver?.client.disconnect();
    },
  };
}
