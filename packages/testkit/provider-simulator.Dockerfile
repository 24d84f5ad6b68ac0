# The payment provider simulator (packages/testkit/src/provider-simulator) for `docker compose up`:
# docker build -f packages/testkit/provider-simulator.Dockerfile .   (context: the repository root)

FROM node:20.19.5-alpine3.22 AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY packages/client/package.json packages/client/
COPY shared/package.json shared/
COPY services/inventory-worker/package.json services/inventory-worker/
COPY services/order-worker/package.json services/order-worker/
COPY services/payment-worker/package.json services/payment-worker/
COPY services/gateway/package.json services/gateway/
COPY packages/ops/package.json packages/ops/
COPY packages/testkit/package.json packages/testkit/
COPY test/package.json test/
# npm ci: exactly the lockfile, or the build fails (a drifted lockfile must not pass unseen).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY packages/client/ packages/client/
COPY shared/ shared/
COPY services/payment-worker/ services/payment-worker/
COPY packages/testkit/src/provider-simulator/ packages/testkit/src/provider-simulator/
# Only the simulator (it needs payment-worker's webhook secret default), not the whole test kit.
RUN npx tsc -b services/payment-worker \
 && npx tsc --rootDir packages/testkit/src --outDir packages/testkit/dist --module node16 --moduleResolution node16 --target ES2022 --lib ES2023 \
      --strict --skipLibCheck --types node packages/testkit/src/provider-simulator/main.ts

FROM node:20.19.5-alpine3.22 AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json packages/client/
COPY shared/package.json shared/
COPY services/inventory-worker/package.json services/inventory-worker/
COPY services/order-worker/package.json services/order-worker/
COPY services/payment-worker/package.json services/payment-worker/
COPY services/gateway/package.json services/gateway/
COPY packages/ops/package.json packages/ops/
COPY packages/testkit/package.json packages/testkit/
COPY test/package.json test/
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts --workspace services/payment-worker \
    && npm cache clean --force
COPY --from=build /app/packages/client/dist packages/client/dist
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/services/payment-worker/dist services/payment-worker/dist
COPY --from=build /app/packages/testkit/dist/provider-simulator packages/testkit/dist/provider-simulator

USER node
ENV PROVIDER_HOST=0.0.0.0 PROVIDER_PORT=4100
EXPOSE 4100
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PROVIDER_PORT || 4100) + '/admin/ledger').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "packages/testkit/dist/provider-simulator/main.js"]
