# One image for every role: the role is chosen by the command (`--role=...`).
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY . .

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data
COPY --from=build /app /app
VOLUME /data
# node itself is PID 1's child under `init: true` and receives SIGTERM directly (npx would not pass it on).
ENTRYPOINT ["node", "--import", "tsx", "src/cli/index.ts"]
CMD ["worker", "--role=all"]
