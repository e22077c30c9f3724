// `pairwise start`: the bot process. Wires storage, the live policy, the chat service, the web
// pages and every configured platform adapter; on the embedded database it also runs the learner.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from './config.ts';
import { openConfiguredDatabase, type Database } from './db/client.ts';
import { log } from './log.ts';
import { ChatService } from './chat/service.ts';
import type { Adapter } from './chat/types.ts';
import { playgroundRoutes } from './chat/web.ts';
import { startHttpServer, type Route, type WebServer } from './web/http.ts';
import { pageRoutes } from './web/pages.ts';
import { dashboardRoutes } from './web/dashboard.ts';
import { initBackend } from './model/backend.ts';
import { LivePolicy } from './model/live-policy.ts';
import { ensureLivePolicy } from './learn/bootstrap.ts';
import { startLearnerSchedule } from './learn/schedule.ts';

export interface App {
  database: Database;
  service: ChatService;
  policy: LivePolicy;
  web: WebServer;
  adapters: Adapter[];
  stop(): Promise<void>;
}

/** Starts every part; `database` lets a caller (a test) pass one it opened, which it then closes itself. */
export async function startApp(config: Config, given?: { database: Database }): Promise<App> {
  const backend = await initBackend(config.PAIRWISE_BACKEND);
  const database = given?.database ?? (await openConfiguredDatabase(config));
  const stops: (() => Promise<void>)[] = given ? [] : [() => database.close()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err) => log.warn('shutdown step failed', { err: (err as Error).message }));
  };
  try {
    await ensureLivePolicy(database, config);
    const policy = new LivePolicy(database, LivePolicy.optionsFrom(config));
    await policy.start();
    stops.push(() => policy.stop());

    const service = new ChatService(database, policy, {
      maxMessageChars: config.MAX_MESSAGE_CHARS,
      rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
      contextTurns: config.CONTEXT_TURNS,
      allowVoteOnOwnPrompt: config.VOTE_OWN_PROMPTS,
      admins: new Set((config.ADMIN_USERS ?? '').split(',').map((s) => s.trim()).filter(Boolean)),
      voteRetryMs: 60_000,
    });

    const adapters: Adapter[] = [];
    let slackEvents: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
    if (config.DISCORD_TOKEN) {
      const { createDiscordAdapter } = await import('./chat/discord.ts');
      adapters.push(createDiscordAdapter(service, { token: config.DISCORD_TOKEN, apiUrl: config.DISCORD_API_URL }));
    }
    if (config.SLACK_BOT_TOKEN) {
      const { createSlackAdapter } = await import('./chat/slack.ts');
      const slack = createSlackAdapter(service, {
        botToken: config.SLACK_BOT_TOKEN,
        signingSecret: config.SLACK_SIGNING_SECRET,
        appToken: config.SLACK_APP_TOKEN,
        apiUrl: config.SLACK_API_URL,
      });
      slackEvents = slack.requestListener;
      adapters.push(slack);
    }

    const health = async () => ({
      ok: true,
      database: database.driver,
      backend,
      liveVersion: policy.liveVersion(),
      adapters: adapters.map((a) => a.name),
    });
    const routes: Route[] = [...pageRoutes(health), ...playgroundRoutes(service), ...dashboardRoutes(database, config)];
    if (slackEvents) {
      const listener = slackEvents;
      routes.push({ method: 'POST', path: '/slack/events', handler: (req, res) => listener(req, res) });
    }
    const web = await startHttpServer(routes, config.HOST, config.PORT);
    stops.push(() => web.close());
    log.info('playground ready', { url: `http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${web.port}/` });

    for (const adapter of adapters) {
      await adapter.start();
      stops.push(() => adapter.stop());
      log.info('adapter started', { adapter: adapter.name });
    }

    // PGlite serves one process, so the learner runs inside the bot; with PostgreSQL it is its own process.
    if (config.LEARNER_IN_PROCESS ?? database.driver === 'pglite') {
      const schedule = startLearnerSchedule(database, config);
      stops.push(async () => schedule.stop());
    }
    return { database, service, policy, web, adapters, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Runs until SIGINT/SIGTERM, then shuts down in reverse order of start. */
export async function runApp(config: Config): Promise<void> {
  const app = await startApp(config);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info('shutting down', { signal });
      resolve();
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
  await app.stop();
}

