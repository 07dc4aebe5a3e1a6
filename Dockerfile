# labmta in a container: a Debian 12 build stage (Release, no tests), then a slim runtime
# stage with only the shared libraries, the binary and the lab config.
#   docker build -t labmta .
#   docker run --rm -p 2525:25 -v labmta-spool:/var/spool/labmta labmta

FROM debian:bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake ninja-build pkg-config \
        libuv1-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev \
        libc-ares-dev libcrypt-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    && cmake --build build --target labmta \
    && strip build/labmta

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libuv1 libspdlog1.10 libfmt9 libyaml-cpp0.7 libc-ares2 libcrypt1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/labmta /usr/local/bin/labmta
COPY config/labmta.yaml /etc/labmta/labmta.yaml
# The server starts as root to bind port 25, then runs as labmta (`user:` in the config), which
# must be able to read the config again on SIGHUP.
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin labmta \
    && chgrp labmta /etc/labmta/labmta.yaml && chmod 0640 /etc/labmta/labmta.yaml \
    && mkdir -p /var/spool/labmta && chmod 0700 /var/spool/labmta \
    && labmta check-config --config /etc/labmta/labmta.yaml >/dev/null
VOLUME /var/spool/labmta
EXPOSE 25
STOPSIGNAL SIGTERM
CMD ["labmta", "serve", "--config", "/etc/labmta/labmta.yaml"]
