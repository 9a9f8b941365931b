/**
 * The operator API and dashboard as one fastify instance: the static page (no data, no auth) at
 * `/` with its chart library at `/vendor/uplot/`, and the JSON API under `/api`, where every route
 * needs a bearer token.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import type { ApiToken } from './tokens.js';
import { requireToken } from './auth.js';
import { SignInThrottle } from './sign-in-throttle.js';
import type { ApiContext } from './context.js';
import { errorHandler } from './errors.js';
import { overviewRoutes } from './overview.js';
import { documentRoutes } from './documents.js';
import { uploadLimits, uploadRoutes } from './uploads.js';
import { emailRoutes } from './emails.js';
import { reviewRoutes } from './reviews.js';
import { deadLetterRoutes } from './dead-letters.js';
import { brokerRoutes } from './broker.js';
import { conversationRoutes } from './conversations.js';
import { createFileLinkSigner } from './file-links.js';
import { manualFileRoutes } from './manual-files.js';
import { statisticsRoutes } from './statistics.js';
import { categoryRoutes } from './categories.js';
import { evaluationRoutes } from './evaluations.js';

/** The dashboard's files (index.html, app.js, style.css), served as they are. */
const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));

/**
 * The chart library's folder in node_modules (resolved as Node resolves the package, so a hoisted or
 * linked install works too). The page loads it from here: no build step, no CDN.
 */
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js'));

/**
 * What of the chart library the page may load, under `/vendor/uplot/`: these two files by name and
 * nothing else of node_modules; any other path under the prefix is the ordinary 404.
 */
const VENDOR_FILES = ['uPlot.esm.js', 'uPlot.min.css'] as const;

const isApiPath = (url: string) => url === '/api' || url.startsWith('/api/') || url.startsWith('/api?');

/**
 * The page loads only its own files: an injected `<script>`, inline handler or style, a foreign
 * image or form target is refused by the browser. It is never framed (clickjacking).
 */
const CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'";

/** Builds the app; the caller listens (see server.ts). */
export function buildApiApp(context: ApiContext, tokens: readonly ApiToken[]): FastifyInstance {
  const { logger } = context;
  // Behind a trusted proxy `request.ip` is the client it names, so the sign-in throttle counts per client, not per proxy.
  const app = Fastify({ logger: false, bodyLimit: 1_048_576, trustProxy: context.config.API_TRUST_PROXY });
  const authenticate = requireToken({ tokens, throttle: new SignInThrottle(context.config.API_MAX_FAILED_SIGN_INS), logger });

  app.decorateRequest('operator', '');
  app.setErrorHandler(errorHandler(logger));
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply) => {
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer');
    if (isApiPath(request.url)) reply.header('cache-control', 'no-store');
  });
  // Never the headers: they carry the token.
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    logger.debug('api request', {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      duration_ms: Math.round(reply.elapsedTime),
      operator: request.operator || undefined,
    });
  });
  app.setNotFoundHandler(async (request, reply) => {
    // An unknown /api path says nothing to a caller without a token.
    if (isApiPath(request.url)) {
      await authenticate(request, reply);
      if (reply.sent) return reply;
    }
    return reply.status(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, code: 'not_found' });
  });

  // The plugin's own default would cap files at bodyLimit (1 MiB).
  void app.register(multipart, { limits: uploadLimits(context.config.API_MAX_UPLOAD_BYTES) });
  void app.register(fastifyStatic, {
    root: DASHBOARD_DIR,
    prefix: '/',
    index: 'index.html',
    dotfiles: 'ignore',
    // The API is not a folder of files: its unknown paths get the JSON 404 above.
    allowedPath: (pathName) => !isApiPath(pathName),
  });
  for (const name of VENDOR_FILES) {
    app.get(`/vendor/uplot/${name}`, (_request, reply) => reply.sendFile(name, UPLOT_DIR));
  }
  // Citations open manuals in a new tab, which sends no bearer token: the API signs short-lived links instead.
  const signer = createFileLinkSigner(tokens);
  void app.register(manualFileRoutes({ documents: context.documents, uploadDir: context.config.UPLOAD_DIR, signer }));
  void app.register(
    async (api) => {
      api.addHook('onRequest', authenticate);
      for (const routes of [overviewRoutes, documentRoutes, uploadRoutes, emailRoutes, reviewRoutes, deadLetterRoutes, brokerRoutes]) {
        await api.register(routes(context));
      }
      await api.register(conversationRoutes({ activity: context.activity, documents: context.documents, reviews: context.reviews, signer }));
      await api.register(statisticsRoutes({ database: context.database, lowScore: context.config.AUTO_SEND_MIN_SCORE }));
      await api.register(categoryRoutes({ activity: context.activity }));
      await api.register(evaluationRoutes({ dataDir: context.config.DATA_DIR, command: context.evaluationCommand, logger }));
    },
    { prefix: '/api' },
  );
  return app;
}
