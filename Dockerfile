# syntax=docker/dockerfile:1
# Gestalt Live's container image: `gestalt-live` and its site on distroless, running as non-root.
#
#   docker build -t gestalt-live:dev .          (BuildKit, the default since Docker 23: cache mounts, --chmod)
#
# The build reaches crates.io, npm, Debian and rustup's servers. No Docker engine runs on this project's
# development machines, so `make test` does not build the image; it proves the manifests that run it
# (scripts/test-deploy.sh). See deploy/README.md for tags, digests and loading it into kind.

# ---- builder: exactly what `make build` needs -------------------------------------------------------------
# The same stable Rust the project is developed with (cargo-leptos 0.3.10 installs on it; see scripts/setup.sh).
ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder

# npm: scripts/setup.sh installs wasm-opt from npm's binaryen (Debian's breaks the wasm). make: the build.
# Not pinned to exact versions: bookworm is the pin, and exact versions leave the mirror at point releases.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm make \
 && rm -rf /var/lib/apt/lists/*
# rustup's wasm32 target, so setup.sh never needs Debian's rustc-web fallback here.
RUN rustup target add wasm32-unknown-unknown

ENV GESTALT_TOOLS_DIR=/opt/gestalt-tools \
    CARGO_TARGET_DIR=/build/target
WORKDIR /build

# The tools (cargo-leptos: ~20 min on 2 cores; wasm-bindgen-cli pinned by Cargo.lock; wasm-opt) depend on the
# setup script and the lock file only: their own layer, rebuilt only when those change.
COPY scripts/ scripts/
COPY Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    scripts/setup.sh run

COPY . .
# The target directory is a cache mount (fast rebuilds), so the results are copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    make build \
 && mkdir -p /out \
 && cp /build/target/release/gestalt-live /out/gestalt-live \
 && cp -r /build/target/site /out/site

# ---- runtime: glibc + libgcc only, no shell, no package manager ------------------------------------------------
# distroless/cc: the binary links only libc, libm and libgcc_s (TLS is rustls); debian12 matches the builder's
# glibc. `nonroot` is uid/gid 65532, the numeric user the Deployment's runAsUser names.
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="gestalt-live" \
      org.opencontainers.image.description="A live 3D map of Kubernetes clusters" \
      org.opencontainers.image.licenses="Apache-2.0"

# Owned by root, so the running user can read but never change them. The binary looks for its site in
# ../site next to itself (/app/site); GESTALT_SITE_ROOT says so explicitly.
COPY --from=builder --chown=0:0 --chmod=0555 /out/gestalt-live /app/bin/gestalt-live
COPY --from=builder --chown=0:0 /out/site /app/site
ENV GESTALT_SITE_ROOT=/app/site
WORKDIR /app
USER 65532:65532
EXPOSE 3000
ENTRYPOINT ["/app/bin/gestalt-live"]
# Outside a cluster: docker run -p 3000:3000 -v ~/.kube:/kube:ro gestalt-live:dev serve --listen 0.0.0.0:3000 --kubeconfig /kube/config
# or `demo --listen 0.0.0.0:3000` for the simulated cluster.
CMD ["serve", "--listen", "0.0.0.0:3000"]
