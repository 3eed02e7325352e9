# syntax=docker/dockerfile:1
#
# Endure server image (production mode). Build from the repository root:
#
#   docker build -t endure:latest .
#
# The build needs nothing but crates.io: the Temporal protos come from the `temporalio-protos`
# crate (compiled with protox, no system protoc) and SQLite is bundled.

# ---- build -------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts (BuildKit) keep the crates.io registry and target/ between builds; the binary is
# copied out of the mounted target/ inside the same RUN, since the mount is gone afterwards.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p endure \
 && install -m 0755 target/release/endure /usr/local/bin/endure

# ---- runtime -----------------------------------------------------------------------------------
# Same Debian release as the builder, so the binary's glibc matches.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 endure \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin endure
COPY --from=builder /usr/local/bin/endure /usr/local/bin/endure
USER 10001:10001
# 7233 client gRPC (Temporal API), 7234 replica-to-replica gRPC, 7243 HTTP /healthz and /readyz
EXPOSE 7233 7234 7243
ENTRYPOINT ["endure"]
CMD ["server", "start", "--config", "/etc/endure/endure.toml"]
