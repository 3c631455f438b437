# syntax=docker/dockerfile:1
#
# nfscacheproxy container image. Build from the repository root:
#
#   docker build -t nfscacheproxy:dev .
#   podman build --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t nfscacheproxy:v0.1.0 .
#
# Base images are fully qualified and versioned (buildah and podman refuse
# short names; a tag that moves makes builds unrepeatable).
#
# Run with only the capability it needs (the configuration goes to
# /etc/nfscacheproxy/config.yaml, the cache to the volume at
# /var/cache/nfscacheproxy):
#
#   docker run -d --name nfscacheproxy \
#     --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges \
#     --read-only \
#     -v /etc/nfscacheproxy:/etc/nfscacheproxy:ro \
#     -v /srv/nfscache:/var/cache/nfscacheproxy \
#     -p 2049:2049 -p 111:111/tcp -p 111:111/udp -p 9102:9102 \
#     nfscacheproxy:dev
#
# Privileges. The image runs as the unprivileged user 65532 ("nonroot").
# Its one need is binding ports below 1024: listening on 2049 (NFS, MOUNT)
# and 111 (the built-in portmapper), and privileged ("secure") source ports
# toward upstream servers that require them, the Linux knfsd default
# (upstream.unprivileged_port: false). That is CAP_NET_BIND_SERVICE, which
# `--cap-add NET_BIND_SERVICE` grants; a non-root process only uses it when
# it is also ambient, which Docker does not do, so Docker 20.10+ also sets
# net.ipv4.ip_unprivileged_port_start=0 in the container's own network
# namespace (older engines: --sysctl net.ipv4.ip_unprivileged_port_start=0).
# Kubernetes: deploy/kubernetes/base/statefulset.yaml.
#
# The cache filesystem should support user xattrs (ext4, xfs); elsewhere the
# cache keeps sidecar records.

FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/nfscacheproxy ./cmd/nfscacheproxy \
 && mkdir -p /out/cache /out/etc

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="nfscacheproxy" \
      org.opencontainers.image.description="An NFSv3 caching proxy: clients mount it instead of the file server; it answers from its own on-disk cache when it can." \
      org.opencontainers.image.source="https://github.com/nfscacheproxy/nfscacheproxy" \
      org.opencontainers.image.url="https://github.com/nfscacheproxy/nfscacheproxy" \
      org.opencontainers.image.documentation="https://github.com/nfscacheproxy/nfscacheproxy#readme" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/nfscacheproxy /usr/local/bin/nfscacheproxy
# An empty cache directory owned by nonroot, so a fresh volume is writable.
COPY --from=build --chown=65532:65532 /out/cache /var/cache/nfscacheproxy
COPY --from=build /out/etc /etc/nfscacheproxy
USER 65532:65532
VOLUME /var/cache/nfscacheproxy
# 2049/tcp NFSv3 + MOUNT v3; 111/tcp+udp portmapper (portmap.enabled); 9102/tcp metrics, /healthz, /readyz.
EXPOSE 2049/tcp 111/tcp 111/udp 9102/tcp
# Liveness of the process, through its metrics listener (default :9102).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/nfscacheproxy","health","--config","/etc/nfscacheproxy/config.yaml"]
ENTRYPOINT ["/usr/local/bin/nfscacheproxy"]
CMD ["serve","--config","/etc/nfscacheproxy/config.yaml"]
