# Vigil: the `vigil` binary (crate vigil-pipeline) on a slim Debian runtime.
#   docker build -t vigil .            (or: docker compose up --build, see docker-compose.yml)

# ---- build ----
FROM rust:1.95-bookworm AS builder
# rdkafka-sys compiles librdkafka from source (configure + make with the C/C++ compilers in this image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p vigil-pipeline --bin vigil \
 && install -m 0755 target/release/vigil /usr/local/bin/vigil

# ---- runtime ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home vigil
COPY --from=builder /usr/local/bin/vigil /usr/local/bin/vigil
USER vigil
ENTRYPOINT ["vigil"]
CMD ["--help"]
