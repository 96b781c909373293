# Builder: Swift 6 with libpq headers. Runtime: slim Debian with libpq5 only.
FROM swift:6.1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product b24outbox --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/b24outbox" /out/b24outbox

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates tzdata curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 b24outbox
COPY --from=build /out/b24outbox /usr/local/bin/b24outbox
USER b24outbox
# serve and run listen here.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/b24outbox"]
CMD ["--help"]
