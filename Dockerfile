# One image for every role: the role is chosen by the command (`--role=...`).
# Build stage: every dependency, the TypeScript compiled to dist/ (npm ci runs `prepare`, the build),
# then the development dependencies removed.
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY . .
RUN npm ci && npm prune --omit=dev

# Run stage: compiled JavaScript and production dependencies only, as the unprivileged `node` user.
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# Ready: connected to the broker, topology in place, roles started (METRICS_PORT, 9464 by default).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.METRICS_PORT||9464)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1's child under `init: true` (tini) and receives SIGTERM directly.
ENTRYPOINT ["node", "dist/cli/index.js"]
CMD ["worker", "--role=all"]
