# `ssmspeech serve` in a container: build with the Swift toolchain, run on a slim Debian with only the
# shared libraries the binary links and the bundled Resources (models, voices, language model).
#
#   docker build -t ssmspeech .
#   docker run --rm -p 8080:8080 ssmspeech                  # one replica; Docs/SERVER.md for N behind a proxy
#
# The server keeps no state between connections: scale out by running more replicas.

# Swift 6.2 or later (hummingbird-websocket's manifest needs tools 6.2; the project is tested with 6.3.1).
FROM swift:6.3-bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        pkg-config libsndfile1-dev libfftw3-dev libopenblas-dev libsoxr-dev libespeak-ng-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources Sources
COPY Benchmarks Benchmarks
COPY Fuzz Fuzz
COPY Tests Tests
# The Swift runtime and Foundation linked in: the runtime image needs only the C libraries below.
RUN swift build -c release --product ssmspeech --static-swift-stdlib \
    && cp "$(swift build -c release --show-bin-path)/ssmspeech" /ssmspeech

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libsndfile1 libfftw3-single3 libfftw3-double3 libopenblas0-pthread libsoxr0 libespeak-ng1 espeak-ng-data \
        libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app ssmspeech
COPY --from=build /ssmspeech /app/ssmspeech
COPY Resources /app/Resources
ENV SSMSPEECH_RESOURCES=/app/Resources OPENBLAS_NUM_THREADS=1
USER ssmspeech
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 || exit 1"]
ENTRYPOINT ["/app/ssmspeech", "serve", "--host", "0.0.0.0", "--port", "8080"]
