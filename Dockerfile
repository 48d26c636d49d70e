# The Stratus platform image — the gateways of deploy/gateway.yaml and the build worker of
# deploy/build-worker/ run it: `node dist/platform/main.js` as uid 10000, on a read-only root file system
# (it writes only to its state dir and /tmp, which the pod mounts).
#   docker build -t stratus/gateway:latest .                                   (public node:20 base)
#   docker build --build-arg BASE_IMAGE=stratus/base:trixie -t stratus/gateway:latest .   (offline base)
# Any base with Node >= 20.19 and npm works. The build stage installs from package-lock.json (npm ci) and
# needs the npm registry; the image keeps only the production dependencies. Behind a proxy that intercepts
# TLS, put its CA certificate (PEM) at ./build-ca.pem first (git ignores it): the install trusts it too, and
# it stays out of the image.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /opt/stratus
# build-ca.pe[m]: the CA file when there is one, nothing (and no error) when there is none.
COPY package.json package-lock.json build-ca.pe[m] ./
RUN if [ -f build-ca.pem ]; then export NODE_EXTRA_CA_CERTS="$PWD/build-ca.pem"; fi \
 && npm ci --no-audit --no-fund \
 && rm -f build-ca.pem
COPY . .
# dist/ (esbuild, as `npm start` builds it) and the console's editor bundle, then the dev dependencies go.
RUN rm -f build-ca.pem \
 && node scripts/build-dist.mjs \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${BASE_IMAGE}
WORKDIR /opt/stratus
COPY --from=build --chown=0:0 /opt/stratus /opt/stratus
# In a container 127.0.0.1 would reach nobody; the state dir is a volume the pod mounts.
ENV NODE_ENV=production \
    HOME=/tmp \
    STRATUS_HOST=0.0.0.0 \
    STRATUS_STATE_DIR=/var/lib/stratus
# Numeric, so that runAsNonRoot can check it; it owns nothing in the image.
USER 10000:10000
EXPOSE 8080
CMD ["node", "dist/platform/main.js"]
