// A loopback TCP proxy in front of PostgreSQL that a test can cut: every open connection is reset
// and new ones are refused until it is restored. It plays a database outage in CI without stopping
// the shared server (scripts/load-votes.ts --outage stops the real one).
import net from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private down = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.pipe(client, targetHost, targetPort));
    return proxy;
  }

  private pipe(client: net.Socket, host: string, port: number): void {
    if (this.down) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(port, host);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
    }
  }

  /** Resets every connection and refuses new ones: to the client, the server has vanished. */
  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.resetAndDestroy();
  }

  restore(): void {
    this.down = false;
  }

  /** A URL like `url` that goes through the proxy. */
  via(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
