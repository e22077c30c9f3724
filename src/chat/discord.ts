// Discord adapter (discord.js v14): mentions, DMs and /pairwise become ChatHandler messages; the two
// candidates go out as one message with four seeded vote reactions; reactions become votes.

import {
  ApplicationCommandOptionType,
  Client,
  Events,
  GatewayDispatchEvents,
  GatewayIntentBits,
  Partials,
  PermissionFlagsBits,
  Routes,
  type ChatInputApplicationCommandData,
  type CloseEvent,
  type GatewayDispatchPayload,
  type GatewayMessageReactionRemoveDispatchData,
  type GuildMember,
  type Interaction,
  type Message,
  type MessageCreateOptions,
  type MessageReaction,
  type PartialMessageReaction,
  type PartialUser,
  type User,
} from 'discord.js';
import { addSecret, log } from '../log.ts';
import { formatCandidates, truncate, type CandidateLayout } from './layout.ts';
import type { Adapter, ChatHandler, ChatReply, ChatUser, IncomingMessage, VoteChoice } from './types.ts';

export interface DiscordAdapterOptions {
  /** The bot token (DISCORD_TOKEN). */
  token: string;
  /**
   * REST base without the version, e.g. http://127.0.0.1:8080/api (DISCORD_API_URL; default Discord's).
   * The gateway URL is whatever that API's /gateway/bot returns, so this one option redirects both.
   */
  apiUrl?: string;
}

/** Discord refuses message content over 2,000 characters. */
const MESSAGE_LIMIT = 2000;

/** Seeded in this order under every candidates message. */
const VOTE_EMOJI: ReadonlyArray<readonly [emoji: string, choice: VoteChoice]> = [
  ['🅰️', 'a'],
  ['🅱️', 'b'],
  ['🤝', 'tie'],
  ['👎', 'both_bad'],
];

// Clients differ on the variation selector and users may pick a skin tone: compare without both.
const emojiKey = (name: string): string => name.replace(/[\uFE0F\u{1F3FB}-\u{1F3FF}]/gu, '');
const CHOICE_BY_EMOJI = new Map(VOTE_EMOJI.map(([emoji, choice]) => [emojiKey(emoji), choice]));

const LAYOUT: CandidateLayout = {
  labels: { a: '🅰️', b: '🅱️' },
  maxChars: MESSAGE_LIMIT,
  footer: '-# Vote: 🅰️ or 🅱️ for the better reply · 🤝 tie · 👎 both bad',
};

/** Never ping anyone: no users, roles, @everyone/@here, nor the author of the message replied to. */
const NO_MENTIONS = { parse: [], repliedUser: false } satisfies MessageCreateOptions['allowedMentions'];

const COMMAND: ChatInputApplicationCommandData = {
  name: 'pairwise',
  description: 'Talk to Pairwise: get two replies and vote for the better one',
  options: [
    {
      type: ApplicationCommandOptionType.String,
      name: 'message',
      description: 'Your message, or: help, status, forget me, opt out, opt in',
      required: true,
    },
  ],
};

/** What to do about a gateway close code that stops the bot from connecting. */
function closeAdvice(code: number): string {
  if (code === 4004) return 'the token was rejected: set DISCORD_TOKEN to the bot token from the Developer Portal';
  if (code === 4014) {
    return 'enable the Message Content intent (Developer Portal → your app → Bot → Privileged Gateway Intents)';
  }
  return `the gateway closed with code ${code}: check the bot's settings in the Developer Portal`;
}

function chatUser(user: User, member?: GuildMember | null, isAdmin?: boolean): ChatUser {
  return {
    platform: 'discord',
    externalId: user.id,
    displayName: member?.displayName ?? user.displayName,
    isBot: user.bot,
    isAdmin,
  };
}

export function createDiscordAdapter(handler: ChatHandler, opts: DiscordAdapterOptions): Adapter {
  if (!opts.token) throw new Error('Discord needs a bot token: set DISCORD_TOKEN (Developer Portal → your app → Bot).');
  addSecret(opts.token);
  const logger = log.child({ adapter: 'discord' });
  /** False once stopped, when discord.js's closing the socket is not news. */
  let running = false;

  const client = new Client({
    intents: [
      GatewayIntentBits.Guilds,
      GatewayIntentBits.GuildMessages,
      GatewayIntentBits.GuildMessageReactions,
      GatewayIntentBits.DirectMessages,
      GatewayIntentBits.DirectMessageReactions,
      GatewayIntentBits.MessageContent,
    ],
    // Without partials, DMs and reactions on messages from before a restart never reach us.
    partials: [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User],
    allowedMentions: NO_MENTIONS,
    failIfNotExists: false,
    ...(opts.apiUrl ? { rest: { api: opts.apiUrl } } : {}),
  });

  /** Runs one event's work; a failure is logged and never reaches the process. */
  const guard = (what: string, work: () => Promise<void>): void => {
    work().catch((err: unknown) => logger.error(`${what} failed`, { err }));
  };

  /** Posts the service's reply to msg; returns what kind of reply it was. */
  async function answer(msg: IncomingMessage, post: (content: string) => Promise<Message>): Promise<ChatReply['kind']> {
    const reply = await handler.handleMessage(msg);
    if (reply.kind === 'ignored') return reply.kind;
    if (reply.kind === 'text') {
      await post(truncate(reply.text, MESSAGE_LIMIT));
      return reply.kind;
    }
    const sent = await post(formatCandidates(reply.candidates, LAYOUT));
    // Attach before seeding, so a vote cast while the reactions are still going on finds the prompt.
    await handler.attachPlatformMessage(reply.promptId, 'discord', sent.id);
    // One at a time: the REST queue then follows the reaction route's tight rate limit.
    for (const [emoji] of VOTE_EMOJI) {
      await client.rest.put(Routes.channelMessageOwnReaction(sent.channelId, sent.id, encodeURIComponent(emoji)));
    }
    return reply.kind;
  }

  async function onMessage(message: Message): Promise<void> {
    const me = client.user;
    if (!me || message.author.bot || message.system) return;
    if (message.inGuild() && !message.mentions.users.has(me.id)) return;
    const channel = message.channel;
    const thread = channel.isThread() ? channel : null;
    if (channel.isSendable()) {
      channel.sendTyping().catch((err: unknown) => logger.debug('typing indicator failed', { err }));
    }
    const isAdmin = message.member?.permissions.has(PermissionFlagsBits.Administrator) ?? false;
    await answer(
      {
        user: chatUser(message.author, message.member, isAdmin),
        channelId: thread?.parentId ?? message.channelId,
        threadId: thread?.id ?? null,
        eventId: message.id,
        text: message.content.replace(new RegExp(`<@!?${me.id}>`, 'g'), '').trim(),
      },
      (content) => message.reply({ content, allowedMentions: NO_MENTIONS }),
    );
  }

  async function onInteraction(interaction: Interaction): Promise<void> {
    if (!interaction.isChatInputCommand() || interaction.commandName !== COMMAND.name || interaction.user.bot) return;
    // Discord drops a command not acknowledged within 3 s; sampling two replies can take longer.
    await interaction.deferReply();
    const channel = interaction.channel;
    const thread = channel?.isThread() ? channel : null;
    try {
      const kind = await answer(
        {
          user: chatUser(
            interaction.user,
            null,
            interaction.memberPermissions?.has(PermissionFlagsBits.Administrator) ?? false,
          ),
          channelId: thread?.parentId ?? interaction.channelId,
          threadId: thread?.id ?? null,
          eventId: interaction.id,
          text: interaction.options.getString('message', true).trim(),
        },
        (content) => interaction.editReply({ content, allowedMentions: NO_MENTIONS }),
      );
      if (kind === 'ignored') await interaction.deleteReply();
    } catch (err) {
      // Otherwise the user is left looking at "thinking…" for good.
      await interaction.editReply({ content: 'Sorry, something went wrong. Please try again.' }).catch(() => {});
      throw err;
    }
  }

  /**
   * A vote from a reaction on message `messageId`. `authorId` is the message's author when known;
   * an uncached message is not fetched: its id is all the service needs, and the service ignores
   * messages it never attached.
   */
  async function onReaction(
    emojiName: string | null,
    messageId: string,
    authorId: string | undefined,
    user: User | PartialUser,
    action: 'add' | 'remove',
  ): Promise<void> {
    const me = client.user;
    if (!me || user.id === me.id) return;
    const choice = emojiName ? CHOICE_BY_EMOJI.get(emojiKey(emojiName)) : undefined;
    if (!choice || (authorId !== undefined && authorId !== me.id)) return;
    const voter = user.partial ? await user.fetch() : user;
    if (voter.bot) return;
    const outcome = await handler.handleReaction({
      user: chatUser(voter),
      target: { platform: 'discord', platformMessageId: messageId },
      choice,
      action,
    });
    logger.debug('reaction', { messageId, choice, action, outcome });
  }

  const fromCache = (
    reaction: MessageReaction | PartialMessageReaction,
    user: User | PartialUser,
    action: 'add' | 'remove',
  ): Promise<void> =>
    onReaction(
      reaction.emoji.name,
      reaction.message.id,
      reaction.message.partial ? undefined : reaction.message.author.id,
      user,
      action,
    );

  /**
   * discord.js drops a reaction in a DM channel it has not cached (as after a restart: the packet
   * does not say the channel is a DM), so such reactions are read from the raw packet instead.
   */
  function onRawPacket(packet: GatewayDispatchPayload): void {
    const action =
      packet.t === GatewayDispatchEvents.MessageReactionAdd
        ? 'add'
        : packet.t === GatewayDispatchEvents.MessageReactionRemove
          ? 'remove'
          : null;
    if (!action) return;
    const d = packet.d as GatewayMessageReactionRemoveDispatchData;
    if (d.guild_id || client.channels.cache.has(d.channel_id)) return;
    guard('DM reaction', async () =>
      onReaction(d.emoji.name, d.message_id, undefined, await client.users.fetch(d.user_id), action),
    );
  }

  client.on(Events.MessageCreate, (message) => guard('message', () => onMessage(message)));
  client.on(Events.InteractionCreate, (interaction) => guard('slash command', () => onInteraction(interaction)));
  client.on(Events.MessageReactionAdd, (reaction, user) => guard('reaction', () => fromCache(reaction, user, 'add')));
  client.on(Events.MessageReactionRemove, (reaction, user) =>
    guard('reaction removal', () => fromCache(reaction, user, 'remove')),
  );
  client.on(Events.Raw, onRawPacket);
  client.on(Events.Error, (err) => logger.error('client error', { err }));
  client.on(Events.ShardError, (err) => logger.warn('gateway connection error', { err }));
  client.on(Events.Warn, (message) => logger.warn(message));
  client.on(Events.Debug, (message) => logger.debug(message));
  client.on(Events.ShardReconnecting, () => {
    if (running) logger.info('gateway reconnecting');
  });
  client.on(Events.ShardResume, (_id, replayed) => logger.info('gateway resumed', { replayed }));
  client.on(Events.ShardDisconnect, (event: CloseEvent) =>
    logger.error('gateway closed for good', { code: event.code, advice: closeAdvice(event.code) }),
  );

  async function connect(): Promise<void> {
    let onReady = (): void => {};
    let onClosed = (_event: CloseEvent): void => {};
    // login() alone never settles when the gateway refuses us (bad intents), so also wait for that.
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onClosed = (event) => reject(new Error(`Discord login failed: ${closeAdvice(event.code)}.`));
      client.once(Events.ClientReady, onReady);
      client.once(Events.ShardDisconnect, onClosed);
    });
    const login = client.login(opts.token).catch((err: unknown) => {
      const reason = err instanceof Error ? err.message.replace(/\.$/, '') : String(err);
      const where = opts.apiUrl ? ` and DISCORD_API_URL (${opts.apiUrl})` : '';
      throw new Error(`Discord login failed (${reason}): check DISCORD_TOKEN${where}.`);
    });
    try {
      await Promise.all([login, ready]);
    } finally {
      client.off(Events.ClientReady, onReady);
      client.off(Events.ShardDisconnect, onClosed);
    }
  }

  return {
    name: 'discord',
    async start() {
      running = true;
      try {
        await connect();
      } catch (err) {
        running = false;
        await client.destroy();
        throw err;
      }
      try {
        await client.application?.commands.set([COMMAND]);
      } catch (err) {
        logger.warn('could not register /pairwise; mentions and DMs still work', { err });
      }
      logger.info('connected', { user: client.user?.tag });
    },
    async stop() {
      running = false;
      await client.destroy();
    },
  };
}
