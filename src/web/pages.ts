// Static pages and operational endpoints served beside the APIs.
import { readFileSync } from 'node:fs';
import { registry } from '../metrics.ts';
import { sendJson, sendText, type Route } from './http.ts';

const here = (name: string) => new URL(name, import.meta.url);

/** Files are read once at start-up: the pages never change while the process runs. */
function file(path: string, name: string, contentType: string): Route {
  const body = readFileSync(here(name));
  return { method: 'GET', path, handler: (_req, res) => sendText(res, 200, contentType, body) };
}

export function pageRoutes(health: () => Promise<Record<string, unknown>>): Route[] {
  return [
    file('/', 'playground.html', 'text/html; charset=utf-8'),
    file('/static/playground.js', 'playground.js', 'text/javascript; charset=utf-8'),
    file('/static/pairwise.css', 'pairwise.css', 'text/css; charset=utf-8'),
    file('/favicon.ico', 'favicon.svg', 'image/svg+xml'),
    {
      method: 'GET',
      path: '/metrics',
      async handler(_req, res) {
        sendText(res, 200, registry.contentType, await registry.metrics());
      },
    },
    {
      method: 'GET',
      path: '/healthz',
      async handler(_req, res) {
        sendJson(res, 200, await health());
      },
    },
  ];
}
