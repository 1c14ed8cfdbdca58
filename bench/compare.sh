#!/usr/bin/env bash
# usage: bench/compare.sh CORPUS.jsonl QUERIES.tsv [K[,K...]]
#
# scry beside Lucene, Xapian and SQLite FTS5 (../shared/peers) on one corpus
# and query file: builds what is missing, indexes with every engine, runs the
# queries (all, then each type alone) at every K (default 10,1000), repeats
# the whole round REPEATS times with the engines interleaved (A B C D, A B C D,
# ...), and prints Markdown tables of the medians, the ratio scry/peer of every
# figure, the top-10 overlap of scry with each peer, and writes PNG charts.
#
# Environment:
#   OUT        output directory (default bench/out): report.md, *.png, work/
#   WARMUP     untimed passes before each timed pass (default 20; the JVM needs them)
#   WARMUP_<name>  the same for one engine or searcher (e.g. WARMUP_scry=5
#              WARMUP_fts5=5 with WARMUP=20 for Lucene: a shorter run, every
#              engine still warm; names with a dash use an underscore)
#   REPEATS    interleaved rounds; medians are reported (default 3)
#   GRPC       1 (default): also run scry-grpc (scry-peer-grpc: the same searches
#              through an in-process gRPC server on loopback, on scry's index)
#   ENGINES    NAME=COMMAND list of the engines that index (default: scry,
#              lucene, xapian, fts5). The first one is scry, the reference.
#   VARIANTS   NAME:VAR=VALUE list of extra scry searchers on scry's index, run
#              as scry-NAME with that environment variable set (default:
#              "exhaustive:SCRY_PRUNING=none bmw:SCRY_PRUNING=bmw"; scry itself
#              runs the default, MaxScore); "" for none
#   CPUS       CPU list every search command is pinned to with taskset
#              (e.g. 1; default: not pinned; builds are never pinned). Pinning all engines to one
#              CPU cuts the noise of a shared 2-core machine, but Lucene's JIT and
#              GC threads then share that CPU too, which inflated scry's ratios
#              2-3x (RESULTS.md run 3): never pin a comparison between engines
#   PEERS_BIN  directory of fts5_bench, xapian_bench, lucene_bench (default:
#              ../shared/peers/bin if built, else a copy of ../shared/peers
#              built under $OUT/peers with its build.sh)
#   BUILD_DIR  scry's CMake build directory (default build)
#   SKIP_BUILD 1: do not (re)build scry's binaries
# Progress goes to stderr; the tables to stdout and $OUT/report.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    sed -n '2,35s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi
CORPUS=$(realpath "$1")
QUERIES=$(realpath "$2")
KS=$(echo "${3:-10,1000}" | tr ',' ' ')
OUT=$(realpath -m "${OUT:-$ROOT/bench/out}")
WARMUP=${WARMUP:-20}
REPEATS=${REPEATS:-3}
GRPC=${GRPC:-1}
BUILD_DIR=$(realpath -m "${BUILD_DIR:-$ROOT/build}")
WORK=$OUT/work
log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }

# --- tools ---------------------------------------------------------------
need_pkgs=""
[ -x /usr/bin/time ] || need_pkgs="$need_pkgs time"
command -v gnuplot >/dev/null || need_pkgs="$need_pkgs gnuplot-nox"
command -v python3 >/dev/null || need_pkgs="$need_pkgs python3"
if [ -n "$need_pkgs" ]; then
    log "installing:$need_pkgs"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $need_pkgs >&2
fi

# --- scry ----------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != "1" ]; then
    log "building scry (scry, scry-peer, scry-peer-grpc, codec_bench) in $BUILD_DIR"
    # The configuration of tools/build.sh, restricted to the targets needed here.
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >/dev/null
    cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" \
        --target scry scry-peer scry-peer-grpc codec_bench >&2
fi
# Snapshot the binaries: the build directory may be rebuilt during the run.
mkdir -p "$OUT/bin"
for b in tools/scry bench/scry-peer bench/scry-peer-grpc; do
    [ -x "$BUILD_DIR/$b" ] || { echo "compare.sh: missing $BUILD_DIR/$b (run without SKIP_BUILD)" >&2; exit 1; }
    cp "$BUILD_DIR/$b" "$OUT/bin/"
done
SCRY=$OUT/bin/scry

# --- peers ---------------------------------------------------------------
SHARED_PEERS=$(realpath -m "$ROOT/../shared/peers")
have_peers() { [ -x "$1/fts5_bench" ] && [ -x "$1/xapian_bench" ] && [ -x "$1/lucene_bench" ]; }
if [ -z "${PEERS_BIN:-}" ]; then
    if have_peers "$SHARED_PEERS/bin"; then
        PEERS_BIN=$SHARED_PEERS/bin
    else
        # ../shared is shared by every session (and read-only by its modes):
        # build a private copy instead of writing into it.
        PEERS_BIN=$OUT/peers/bin
        if ! have_peers "$PEERS_BIN"; then
            log "building the peers in $OUT/peers (../shared/peers/build.sh; apt-installs Lucene, Xapian, SQLite)"
            rm -rf "$OUT/peers"
            mkdir -p "$OUT"
            cp -r "$SHARED_PEERS" "$OUT/peers"
            chmod -R u+w "$OUT/peers"
            rm -rf "$OUT/peers/bin" "$OUT/peers/build"
            (cd "$OUT/peers" && ./build.sh) >&2
        fi
    fi
fi
have_peers "$PEERS_BIN" || { echo "compare.sh: no peer binaries in $PEERS_BIN" >&2; exit 1; }
ENGINES=${ENGINES:-"scry=$OUT/bin/scry-peer lucene=$PEERS_BIN/lucene_bench xapian=$PEERS_BIN/xapian_bench fts5=$PEERS_BIN/fts5_bench"}

# --- run -----------------------------------------------------------------
mkdir -p "$WORK"
rm -rf "$WORK/raw"
mkdir -p "$WORK/raw"
KINDS="all"
for t in and or phrase; do
    awk -F'\t' -v t=$t '$1 == t' "$QUERIES" > "$WORK/q_$t.tsv"
    [ -s "$WORK/q_$t.tsv" ] && KINDS="$KINDS $t"
done
cp "$QUERIES" "$WORK/q_all.tsv"

NAMES="" SEARCHERS=""
for e in $ENGINES; do
    NAMES="$NAMES ${e%%=*}"
    SEARCHERS="$SEARCHERS $e"
done
FIRST=$(echo $NAMES | cut -d' ' -f1)
# scry-grpc and the variants search scry's index (its index command is the same program).
[ "$GRPC" = "1" ] && SEARCHERS="$SEARCHERS scry-grpc=$OUT/bin/scry-peer-grpc"
VARIANT_NAMES=""
VARIANTS=${VARIANTS-exhaustive:SCRY_PRUNING=none bmw:SCRY_PRUNING=bmw}
for v in $VARIANTS; do
    vname=scry-${v%%:*}
    printf '#!/bin/sh\nexec env %s "%s" "$@"\n' "${v#*:}" "$OUT/bin/scry-peer" > "$OUT/bin/$vname"
    chmod +x "$OUT/bin/$vname"
    SEARCHERS="$SEARCHERS $vname=$OUT/bin/$vname"
    VARIANT_NAMES="$VARIANT_NAMES $vname"
done
index_of() { case $1 in scry-*) echo "$WORK/idx_$FIRST" ;; *) echo "$WORK/idx_$1" ;; esac; }
PIN=()
[ -n "${CPUS:-}" ] && PIN=(taskset -c "$CPUS")

cat > "$WORK/settings.txt" <<EOF
corpus=$CORPUS
queries=$QUERIES
ks=$KS
warmup=$WARMUP$(env | grep '^WARMUP_' | sort | tr '\n' ' ' | sed 's/^/ (/;s/ $/)/;s/^ ()$//')
repeats=$REPEATS
engines=$ENGINES
searchers=$SEARCHERS
cpus=${CPUS:-not pinned}
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
scry_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores
EOF

WARMUP_ALL=$WARMUP
export WARMUP
for r in $(seq 1 "$REPEATS"); do
    R=$WORK/raw/r$r
    mkdir -p "$R"
    for e in $ENGINES; do
        name=${e%%=*} cmd=${e#*=}
        log "round $r/$REPEATS: $name index"
        rm -rf "$WORK/idx_$name"
        /usr/bin/time -v -o "$R/$name.index.time" $cmd index "$CORPUS" "$WORK/idx_$name" \
            > "$R/$name.index.json" 2> "$R/$name.index.err" ||
            { cat "$R/$name.index.err" >&2; exit 1; }
    done
    "$SCRY" stats --index "$WORK/idx_$FIRST" > "$R/$FIRST.stats.txt"
    for k in $KS; do
        for kind in $KINDS; do
            for e in $SEARCHERS; do
                name=${e%%=*} cmd=${e#*=}
                log "round $r/$REPEATS: K=$k $kind: $name"
                results=()
                [ "$kind" = "all" ] && results=("$R/$name.k$k.results")
                wvar=WARMUP_${name//-/_}
                WARMUP=${!wvar:-$WARMUP_ALL} \
                "${PIN[@]}" $cmd search "$(index_of "$name")" "$WORK/q_$kind.tsv" "$k" "${results[@]}" \
                    > "$R/$name.$kind.k$k.json" 2> "$R/$name.$kind.k$k.err" ||
                    { cat "$R/$name.$kind.k$k.err" >&2; exit 1; }
                if [ -s "$R/$name.$kind.k$k.err" ] && [ "$name" != "${name#scry}" ]; then
                    grep -v '^scry: serving' "$R/$name.$kind.k$k.err" >&2 || true
                fi
            done
        done
    done
done

# --- report --------------------------------------------------------------
log "report"
python3 "$ROOT/bench/compare_report.py" "$WORK" "$CORPUS" "$QUERIES" "$OUT" "$KS" $NAMES \
    $([ "$GRPC" = "1" ] && echo scry-grpc) $VARIANT_NAMES > "$OUT/report.md"
for plot in "$OUT"/*.gp; do
    gnuplot "$plot"
done
cat "$OUT/report.md"
log "wrote $OUT/report.md and $(cd "$OUT" && ls ./*.png | tr '\n' ' ')"
