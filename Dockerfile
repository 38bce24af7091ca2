# datasurface: the CLI and `datasurface serve` (docs/service.md, "Running in production").
# Build: docker build -t datasurface .   Run: see deploy/compose.yaml.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin datasurface

FROM debian:bookworm-slim
# CA certificates for HTTPS to GitHub, GitLab and their git remotes; nothing else is needed
# (git is read with gix, TLS is rustls).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/datasurface --shell /usr/sbin/nologin datasurface \
 && mkdir -p /var/lib/datasurface \
 && chown datasurface /var/lib/datasurface
COPY --from=build /src/target/release/datasurface /usr/local/bin/datasurface
USER datasurface
ENV DATASURFACE_LISTEN=0.0.0.0:8080
ENV DATASURFACE_WORK_DIR=/var/lib/datasurface
# The bare mirrors, the parse cache and (without PostgreSQL) the SQLite queue.
VOLUME ["/var/lib/datasurface"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["/usr/local/bin/datasurface", "serve", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/datasurface"]
CMD ["serve"]
