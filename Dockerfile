# Every stockflow service's image, one per build argument (the compose file builds all four):
#   docker build --build-arg SERVICE=inventory-worker --build-arg HTTP_PORT=8081 .
#   SERVICE: inventory-worker (8081), order-worker (8082), payment-worker (8083), gateway (8084)
# Multi-stage: compile in a full install, run from a production-only install as a non-root user,
# with the ops CLI beside the service (docker compose exec inventory-worker stockflow-ops status).

# Every workspace's manifest, listed once: npm ci in both stages below needs them all to match
# the lockfile, whichever workspaces it installs.
FROM node:20.19.5-alpine3.22 AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json packages/client/
COPY packages/ops/package.json packages/ops/
COPY packages/testkit/package.json packages/testkit/
COPY shared/package.json shared/
COPY services/inventory-worker/package.json services/inventory-worker/
COPY services/order-worker/package.json services/order-worker/
COPY services/payment-worker/package.json services/payment-worker/
COPY services/gateway/package.json services/gateway/
COPY test/package.json test/

FROM node:20.19.5-alpine3.22 AS build
ARG SERVICE
WORKDIR /app
COPY --from=manifests /app/ ./
COPY tsconfig.base.json tsconfig.json ./
# npm ci: exactly the lockfile, or the build fails (a drifted lockfile must not pass unseen).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY packages/client/ packages/client/
COPY shared/ shared/
COPY packages/ops/ packages/ops/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN npx tsc -b services/${SERVICE} packages/ops

FROM node:20.19.5-alpine3.22 AS runtime
ARG SERVICE
ARG HTTP_PORT
ENV NODE_ENV=production
ENV SERVICE=${SERVICE}
# Same V8 heap flags as every other way of starting a worker (shared/src/worker/node-args.ts),
# on node's command line: NODE_OPTIONS refuses --heap-growing-percent.
ENV WORKER_NODE_ARGS="--max-semi-space-size=8 --max-old-space-size=128 --heap-growing-percent=100"
WORKDIR /app
COPY --from=manifests /app/ ./
# Only this service's and the ops CLI's production dependencies (shared and the client are
# linked as workspaces).
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts --workspace services/${SERVICE} --workspace packages/ops \
    && npm cache clean --force
COPY --from=build /app/packages/client/dist packages/client/dist
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/services/${SERVICE}/dist services/${SERVICE}/dist
COPY --from=build /app/packages/ops/dist packages/ops/dist
RUN chmod +x packages/ops/dist/main.js && ln -s /app/packages/ops/dist/main.js /usr/local/bin/stockflow-ops

# The node image's unprivileged user; nothing here needs root.
USER node
ENV HTTP_PORT=${HTTP_PORT}
EXPOSE ${HTTP_PORT}
# Ready = the broker and Postgres reachable (and for a worker Redis and its partitions owned): GET /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.HTTP_PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains and stops cleanly; exec makes node PID 1, so it is node that gets it.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec node $WORKER_NODE_ARGS services/$SERVICE/dist/main.js"]
