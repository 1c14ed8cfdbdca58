#!/usr/bin/env bash
# Installs every Debian package scry needs to build, test and benchmark;
# with --build-only, only what building `scry` needs (the container image,
# deploy/k8s/Dockerfile). Idempotent: packages already present are skipped;
# apt-get runs only when something is missing. Needs root (or passwordless sudo).
set -euo pipefail

BUILD_ONLY=0
case "${1:-}" in
  "") ;;
  --build-only) BUILD_ONLY=1 ;;
  *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

BUILD_PACKAGES=(
  build-essential cmake pkg-config ccache git
  librocksdb-dev          # storage: one RocksDB instance per shard
  zlib1g-dev libzstd-dev  # gzip and zstd compressed input for `scry index`
  gzip zstd               # the tests compress their inputs with the command-line tools
  libstemmer-dev          # Snowball stemmers (all languages)
  libabsl-dev             # Status/StatusOr, strings, containers
  libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  libboost-dev            # Boost.Beast + Asio (header-only): the HTTP listener (server/http_server.h)
  libsimdjson-dev         # JSON Lines parsing with UTF-8 validation (fast, precise errors)
  libutf8proc-dev         # Unicode categories and case folding for the tokenizer
  libcli11-dev            # subcommands and flags for the `scry` CLI
  libhwy-dev              # Google Highway: portable SIMD with runtime CPU dispatch (SIMD-BP128 codec)
  libstreamvbyte-dev      # Stream VByte: byte-oriented SIMD integer codec
)

TEST_PACKAGES=(
  libgtest-dev libgmock-dev
  libbenchmark-dev        # Google Benchmark micro-benchmarks
  python3 python3-grpcio python3-protobuf  # the Python gRPC client test (tests/clients)
  openssl                 # the TLS tests make a self-signed certificate with it
  clang libclang-rt-14-dev  # libFuzzer targets (tools/fuzz.sh, run by CI)
  chromium python3-websocket  # the search page's browser test (tests/clients/search_page_test.py)
  nghttp2-client          # h2load: an independent gRPC client beside scry-load (bench/grpc_h2load.sh)
  curl                    # the local cluster test calls the broker's HTTP/JSON API with it
)
# node and npm run the Kubernetes manifests' validators (tests/deploy/k8s/, which
# installs npm's kubernetes-models under the build tree). A node that did not
# come from Debian (NodeSource's nodejs carries its own npm, and Debian's npm
# would conflict with it) is used as it is.
if ! command -v node >/dev/null; then TEST_PACKAGES+=(nodejs); fi
if ! command -v npm >/dev/null; then TEST_PACKAGES+=(npm); fi

PACKAGES=("${BUILD_PACKAGES[@]}")
if [ "$BUILD_ONLY" = 0 ]; then PACKAGES+=("${TEST_PACKAGES[@]}"); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
