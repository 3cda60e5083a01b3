# Multi-stage build: compile with the Rust toolchain, run as a non-root user on a slim base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin epro

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/epro --create-home epro
WORKDIR /var/lib/epro
COPY --from=build /src/target/release/epro /usr/local/bin/epro
COPY --from=build /src/studies /opt/epro/studies
COPY --from=build /src/questionnaires /opt/epro/questionnaires
ENV EPRO_LISTEN=0.0.0.0:8080 \
    EPRO_STUDY_FILE=/opt/epro/studies/hermes.toml \
    EPRO_QUESTIONNAIRES_DIR=/opt/epro/questionnaires \
    EPRO_DATA_DIR=/var/lib/epro/data \
    EPRO_LOG_FORMAT=json
USER epro
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["/usr/local/bin/epro"]
CMD ["serve"]
