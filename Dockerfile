# The Chorus server image: one binary, roles chosen with --roles (see docker-compose.yml).
#   docker build -t chorus .
#   docker run --rm -e CHORUS_KAFKA_BROKERS=... chorus --roles gateway

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/chorus ./cmd/chorus

# debian-slim rather than distroless: the compose healthchecks call curl on /readyz.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/chorus --create-home chorus
COPY --from=build /out/chorus /usr/local/bin/chorus
USER 10001:10001
WORKDIR /var/lib/chorus
# Listen on every interface inside the container; CHORUS_DATA_DIR only matters for the
# embedded broker (no CHORUS_KAFKA_BROKERS), which a deployment does not use.
ENV CHORUS_HTTP_ADDR=0.0.0.0:8080 \
    CHORUS_DATA_DIR=/var/lib/chorus/data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/chorus"]
