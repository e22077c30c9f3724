// Says once which databases the storage tests run against.
export default function setup(): void {
  const pg = process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL) and ' : '';
  process.stderr.write(`storage tests run on ${pg}embedded PGlite${pg ? '' : ' only: set DATABASE_URL to include PostgreSQL'}\n`);
}
