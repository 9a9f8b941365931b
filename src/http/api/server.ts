/**
 * Starting and stopping the operator API server of the `api` role (API_HOST, API_PORT).
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../lib/log.js';
import type { Broker } from '../../messaging/broker.js';
import { buildApiApp } from './app.js';
import { createApiContext, type ApiServices, type ApiSettings } from './context.js';
import { loadTokens, type TokenSettings } from './tokens.js';
import type { EvaluationCommand } from './evaluation-jobs.js';

/** What the API server needs from its worker. */
export interface ApiServerOptions {
  config: ApiSettings & TokenSettings & { API_HOST: string; API_PORT: number };
  broker: Broker;
  services: ApiServices;
  logger: Logger;
  /** How to start `npm run eval` for the dashboard's test questions. */
  evaluationCommand: EvaluationCommand;
}

/** A listening API server. */
export interface ApiServer {
  /** The port actually bound (the free one chosen when API_PORT is 0). */
  readonly port: number;
  /** `http://<host>:<port>` as bound, for logs and tests. */
  readonly url: string;
  /** Stops taking requests, lets the running ones finish, closes. */
  close(): Promise<void>;
}

/** Loads the tokens, listens, and logs where the dashboard is. Rejects when the address cannot be bound. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { config, logger } = options;
  const tokens = await loadTokens(config);
  const app = buildApiApp(await createApiContext(options), tokens.tokens);
  try {
    await app.listen({ host: config.API_HOST, port: config.API_PORT });
  } catch (error) {
    await app.close().catch(() => undefined);
    throw new Error(`Cannot serve the API on ${config.API_HOST}:${config.API_PORT} (API_HOST, API_PORT; 0 picks a free port): ${(error as Error).message}`);
  }
  const { port } = app.server.address() as AddressInfo;
  const host = config.API_HOST.includes(':') ? `[${config.API_HOST}]` : config.API_HOST;
  const dashboard = `http://localhost:${port}/`;
  if (tokens.generated) {
    // Where the token is, never the token: stderr ends up in shipped logs, and reading them must not sign anyone in.
    process.stderr.write(
      `\nragmail dashboard: ${dashboard}\nSign in with the token generated for "${tokens.tokens[0].name}", kept in ${tokens.file} (mode 0600):\n  cat ${tokens.file}\nand paste it into the sign-in form, or open ${dashboard}#token=<that token>. Set API_TOKENS to choose your own.\n\n`,
    );
  }
  logger.info('operator API and dashboard listening', {
    url: dashboard,
    operators: tokens.tokens.map((token) => token.name),
    ...(tokens.file ? { token_file: tokens.file } : {}),
  });
  return { port, url: `http://${host}:${port}`, close: () => app.close() };
}
