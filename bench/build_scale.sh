#!/usr/bin/env bash
# usage: bench/build_scale.sh CORPUS.jsonl [CORPUS2.jsonl ...]
#
# Bulk-build throughput, peak memory and index size: every engine indexes
# every corpus, REPEATS rounds with the engines interleaved (A B C D, A B C D,
# ...) so that the noise of a shared machine hits them alike. Each build runs
# under /usr/bin/time (wall seconds, CPU seconds, peak RSS). Prints a Markdown
# table of the medians per corpus and engine with the ratios scry/peer, and
# writes the raw rows to $OUT/builds.tsv.
#
# Environment:
#   OUT       output directory (default bench/out/build): builds.tsv, report.md, indexes
#   REPEATS   rounds (default 3)
#   ENGINES   NAME=COMMAND list (default: scry=BUILD_DIR/bench/scry-peer and
#             lucene, xapian, fts5 from PEERS_BIN); the first is the reference.
#             Every command follows ../shared/peers' contract:
#             `COMMAND index CORPUS DIR` prints {"engine","docs","seconds","index_bytes"}.
#   ENGINES_FOR_LARGE  engines run on corpora over LARGE_DOCS documents
#             (default: all of ENGINES; e.g. "scry fts5" to skip slow peers)
#   LARGE_DOCS  default 500000
#   PEERS_BIN directory of the peers' binaries (default ../shared/peers/bin)
#   BUILD_DIR scry's build directory (default build); the binary is copied to
#             $OUT/bin first, so a rebuild during the run changes nothing measured
#   SCRY_MEMORY_MB, SCRY_THREADS  passed on to scry-peer (its --memory-mb, --threads)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ]; then
    sed -n '2,25s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi
OUT=$(realpath -m "${OUT:-$ROOT/bench/out/build}")
REPEATS=${REPEATS:-3}
BUILD_DIR=$(realpath -m "${BUILD_DIR:-$ROOT/build}")
PEERS_BIN=$(realpath -m "${PEERS_BIN:-$ROOT/../shared/peers/bin}")
LARGE_DOCS=${LARGE_DOCS:-500000}
[ -x /usr/bin/time ] || { echo "build_scale: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
mkdir -p "$OUT/bin" "$OUT/idx"
cp "$BUILD_DIR/bench/scry-peer" "$OUT/bin/scry-peer"
ENGINES=${ENGINES:-"scry=$OUT/bin/scry-peer lucene=$PEERS_BIN/lucene_bench xapian=$PEERS_BIN/xapian_bench fts5=$PEERS_BIN/fts5_bench"}
NAMES=""
for e in $ENGINES; do NAMES="$NAMES ${e%%=*}"; done
ENGINES_FOR_LARGE=${ENGINES_FOR_LARGE:-$NAMES}
log() { echo "[build_scale $(date +%H:%M:%S)] $*" >&2; }

TSV=$OUT/builds.tsv
printf 'corpus\tdocs\tengine\tround\tseconds\tcpu_s\tpeak_rss_kb\tindex_bytes\n' > "$TSV"
for corpus in "$@"; do
    corpus=$(realpath "$corpus")
    docs=$(wc -l < "$corpus")
    for round in $(seq 1 "$REPEATS"); do
        for e in $ENGINES; do
            name=${e%%=*}
            cmd=${e#*=}
            if [ "$docs" -gt "$LARGE_DOCS" ] && ! echo " $ENGINES_FOR_LARGE " | grep -q " $name "; then
                continue
            fi
            dir=$OUT/idx/$name
            rm -rf "$dir"
            log "$name $(basename "$corpus") round $round"
            json=$(/usr/bin/time -o "$OUT/time.txt" -f '%e %U %S %M' $cmd index "$corpus" "$dir")
            read -r wall user sys rss < "$OUT/time.txt"
            secs=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
            bytes=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["index_bytes"])')
            cpu=$(python3 -c "print(round($user + $sys, 2))")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(basename "$corpus")" "$docs" "$name" "$round" \
                "$secs" "$cpu" "$rss" "$bytes" >> "$TSV"
            rm -rf "$dir"
        done
    done
done

python3 - "$TSV" "${NAMES# }" <<'EOF' | tee "$OUT/report.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
names = sys.argv[2].split()
ref = names[0]
print("| corpus | docs | engine | seconds | docs/s | CPU s | peak RSS MiB | index MiB | "
      f"{ref}/engine seconds | docs/s | RSS | index |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
corpora = []
for r in rows:
    if r["corpus"] not in corpora:
        corpora.append(r["corpus"])
for c in corpora:
    med = {}
    for n in names:
        rs = [r for r in rows if r["corpus"] == c and r["engine"] == n]
        if not rs:
            continue
        m = lambda k: statistics.median(float(r[k]) for r in rs)
        med[n] = dict(docs=int(rs[0]["docs"]), s=m("seconds"), cpu=m("cpu_s"),
                      rss=m("peak_rss_kb") / 1024, idx=m("index_bytes") / 2**20, n=len(rs))
    for n, v in med.items():
        ratio = ""
        if n != ref and ref in med:
            a = med[ref]
            ratio = (f"{a['s'] / v['s']:.2f} | {v['s'] / a['s']:.2f} | "
                     f"{a['rss'] / v['rss']:.2f} | {a['idx'] / v['idx']:.2f}")
        else:
            ratio = "– | – | – | –"
        print(f"| {c} | {v['docs']:,} | {n} | {v['s']:.2f} | {v['docs'] / v['s']:,.0f} | "
              f"{v['cpu']:.1f} | {v['rss']:.0f} | {v['idx']:.1f} | {ratio} |")
print(f"\nMedians of {max(v['n'] for v in med.values())} interleaved rounds; seconds as the engine "
      "reports them (open to close, final merge included), CPU s and peak RSS from /usr/bin/time. "
      f"Every ratio is {ref} / engine: below 1 is better for {ref} in seconds, RSS and index size, "
      "above 1 in docs/s.")
EOF
