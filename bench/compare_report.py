#!/usr/bin/env python3
"""usage: compare_report.py WORK CORPUS QUERIES OUT "K1 K2..." ENGINE... > report.md

Reads the raw files that bench/compare.sh leaves in WORK/raw/r<round>/ and
prints Markdown tables of the medians over rounds: build figures, search
figures per query type and K, ratios scry/peer, top-K overlap of the first
engine (scry) with every other one. Writes gnuplot scripts and data for the
charts into OUT (compare.sh runs gnuplot). Standard library only.

Overlap@K (as ../shared/peers/report.py): per query |A & B| / max(|A|, |B|)
of the two top-K id sets (1 if both are empty), averaged over queries;
'same' is the share of queries whose top-K id sets are identical.
"""
import glob
import json
import os
import re
import statistics
import sys

work, corpus, qfile, out = sys.argv[1:5]
ks = [int(k) for k in sys.argv[5].split()]
engines = sys.argv[6:]  # searchers; engines[0] is scry, the reference
ref = engines[0]
rounds = sorted(glob.glob(os.path.join(work, "raw", "r*")), key=lambda p: int(p.rsplit("r", 1)[1]))
if not rounds:
    sys.exit("compare_report.py: no rounds in %s/raw" % work)
types = [line.split("\t", 1)[0] for line in open(qfile, encoding="utf-8") if "\t" in line]
kinds = ["all"] + [t for t in ("and", "or", "phrase") if t in types]
input_bytes = os.path.getsize(corpus)
os.makedirs(out, exist_ok=True)


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
        return json.loads(text.splitlines()[-1]) if text else None
    except FileNotFoundError:
        return None


def time_v(path):
    """(peak RSS in bytes, CPU seconds) from a /usr/bin/time -v file."""
    rss = cpu = None
    try:
        for line in open(path, encoding="utf-8"):
            line = line.strip()
            if line.startswith("Maximum resident set size (kbytes):"):
                rss = int(line.rsplit(":", 1)[1]) * 1024
            elif line.startswith(("User time (seconds):", "System time (seconds):")):
                cpu = (cpu or 0) + float(line.rsplit(":", 1)[1])
    except FileNotFoundError:
        pass
    return rss, cpu


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    return "–" if a is None or b in (None, 0) else f"{a / b:.2f}"


def results(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.split() for line in f]
    except FileNotFoundError:
        return None


# postings: scry's count, the common denominator for every engine
postings = None
for r in rounds:
    for path in glob.glob(os.path.join(r, "*.stats.txt")):
        m = re.search(r"^postings\s+(\d+)", open(path, encoding="utf-8").read(), re.M)
        if m:
            postings = int(m.group(1))
    if postings:
        break

index_engines = [e for e in engines if os.path.exists(os.path.join(rounds[0], e + ".index.json"))]
build = {}
for e in index_engines:
    rows = []
    for r in rounds:
        j = load_json(os.path.join(r, e + ".index.json")) or {}
        rss, cpu = time_v(os.path.join(r, e + ".index.time"))
        rows.append((j.get("docs"), j.get("seconds"), j.get("index_bytes"), rss, cpu))
    docs = median([x[0] for x in rows])
    secs = median([x[1] for x in rows])
    build[e] = {
        "docs": docs,
        "seconds": secs,
        "docs_s": median([x[0] / x[1] for x in rows if x[0] and x[1]]),
        "mb_s": median([input_bytes / 1e6 / x[1] for x in rows if x[1]]),
        "cpu": median([x[4] for x in rows]),
        "rss_mb": median([x[3] / 2**20 for x in rows if x[3]]),
        "index_mb": median([x[2] / 2**20 for x in rows if x[2]]),
        "bpp": median([x[2] / postings for x in rows if x[2] and postings]),
    }

search = {}  # (engine, kind, k) -> dict of medians
for e in engines:
    for k in ks:
        for kind in kinds:
            js = [load_json(os.path.join(r, f"{e}.{kind}.k{k}.json")) for r in rounds]
            js = [j for j in js if j]
            if js:
                search[(e, kind, k)] = {
                    "queries": js[0]["queries"],
                    "qps": median([j["qps"] for j in js]),
                    "p50": median([j["p50_us"] for j in js]),
                    "p99": median([j["p99_us"] for j in js]),
                    "qps_all": [j["qps"] for j in js],
                    "n": len(js),
                }


def round_ratios(e, kind, k, key):
    """scry/e of `key` ("qps_us": QPS, else a latency key) round by round (the rounds are
    interleaved, so each ratio compares engines measured minutes apart)."""
    out = []
    for r in rounds:
        a = load_json(os.path.join(r, f"{ref}.{kind}.k{k}.json"))
        b = load_json(os.path.join(r, f"{e}.{kind}.k{k}.json"))
        # An engine that skipped some queries (PISA: phrases) is not compared.
        if a and b and a.get("queries") and a.get("queries") == b.get("queries") and b.get(key):
            out.append(a[key] / b[key])
    return out


def spread(values, digits=2):
    if not values:
        return "–"
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:,.{digits}f}"
    return f"{m:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"

p = print
settings = dict(line.rstrip("\n").split("=", 1) for line in open(os.path.join(work, "settings.txt")))
p(f"Corpus `{os.path.basename(corpus)}` ({fmt(build.get(ref, {}).get('docs'))} docs, "
  f"{input_bytes / 1e6:.1f} MB), queries `{os.path.basename(qfile)}` ({len(types)}: "
  + ", ".join(f"{types.count(t)} {t}" for t in kinds[1:]) + f"); WARMUP={settings.get('warmup')}, "
  f"{len(rounds)} interleaved round(s), medians shown. Ratios are scry / peer "
  "(QPS, docs/s, MB/s: above 1 means scry is faster; seconds, latency, RSS, bytes: below 1 means "
  "scry is better).")
p()
p("### Build")
p()
p(f"Bytes per posting = index bytes / {fmt(postings)} postings (scry's count from `scry stats`, "
  "the same denominator for every engine). MB/s = input JSONL bytes (10^6) per second. "
  "CPU s = user + system; peak RSS from `/usr/bin/time -v`.")
p()
cols = [("seconds", "seconds", 1), ("docs_s", "docs/s", 0), ("mb_s", "MB/s", 2), ("cpu", "CPU s", 1),
        ("rss_mb", "peak RSS MiB", 0), ("index_mb", "index MiB", 1), ("bpp", "bytes/posting", 2)]
p("| engine | docs | " + " | ".join(c[1] for c in cols) + " |")
p("|---|---:|" + "---:|" * len(cols))
for e in index_engines:
    b = build[e]
    p(f"| {e} | {fmt(b['docs'])} | " + " | ".join(fmt(b[c[0]], c[2]) for c in cols) + " |")
for e in index_engines[1:]:
    p(f"| *scry/{e}* | | " + " | ".join(ratio(build[ref][c[0]], build[e][c[0]]) for c in cols) + " |")
p()

for k in ks:
    p(f"### Search, top-{k} (single thread)")
    p()
    p("| engine | type | queries | QPS | p50 µs | p99 µs | scry/engine QPS | p50 | p99 |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in kinds:
        for e in engines:
            s = search.get((e, kind, k))
            if not s:
                continue
            base = search.get((ref, kind, k))
            rq = rp50 = rp99 = "–"
            if e != ref and base:
                rq, rp50, rp99 = ratio(base["qps"], s["qps"]), ratio(base["p50"], s["p50"]), ratio(base["p99"], s["p99"])
            if e != ref and base:
                rq = spread(round_ratios(e, kind, k, "qps"))
            p(f"| {e} | {kind} | {s['queries']} | {spread(s['qps_all'], 0)} | {fmt(s['p50'], 1)} | {fmt(s['p99'], 1)} | "
              f"{rq} | {rp50} | {rp99} |")
    p()
    p(f"QPS: median of the rounds (min-max). scry/engine QPS: the median of the per-round ratios "
      f"(min-max); p50, p99: ratio of the medians (below 1: scry's latency is lower).")
    p()

# The summary: scry over every peer, per type, both QPS and p99.
peers = [e for e in engines[1:] if not e.startswith("scry")]
if peers:
    p("### scry over each peer (median of per-round ratios, min-max)")
    p()
    p("| K | type | " + " | ".join(f"QPS / {e}" for e in peers) + " | "
      + " | ".join(f"p99 {e} / scry" for e in peers) + " |")
    p("|---:|---|" + "---:|" * (2 * len(peers)))
    for k in ks:
        for kind in kinds:
            if not search.get((ref, kind, k)):
                continue
            q = [spread(round_ratios(e, kind, k, "qps")) if search.get((e, kind, k)) and search[(e, kind, k)]["queries"] else "–" for e in peers]
            l = [spread([1 / x for x in round_ratios(e, kind, k, "p99_us") if x]) if search.get((e, kind, k)) and search[(e, kind, k)]["queries"] else "–" for e in peers]
            p(f"| {k} | {kind} | " + " | ".join(q) + " | " + " | ".join(l) + " |")
    p()

# share of the OR queries' postings that scry's evaluators scored (stderr of scry-peer)
pruned_rows = []
for e in engines:
    for k in ks:
        shares = []
        for r in rounds:
            try:
                text = open(os.path.join(r, f"{e}.or.k{k}.err"), encoding="utf-8").read()
            except FileNotFoundError:
                continue
            m = re.search(r"scored (\d+) of (\d+) postings", text)
            if m and int(m.group(2)):
                shares.append(int(m.group(1)) / int(m.group(2)))
        if shares:
            pruned_rows.append((e, k, median(shares)))
if pruned_rows:
    p("### Dynamic pruning: OR postings scored")
    p()
    p("Share of the OR queries' postings (sum of their terms' document frequencies) that scry "
      "scored (BM25 evaluations); the exhaustive evaluation scores all of them.")
    p()
    p("| searcher | K | postings scored | OR QPS | OR p99 µs |")
    p("|---|---:|---:|---:|---:|")
    for e, k, share in pruned_rows:
        s = search.get((e, "or", k)) or {}
        p(f"| {e} | {k} | {share:.1%} | {fmt(s.get('qps'))} | {fmt(s.get('p99'), 1)} |")
    p()

# overlap of the reference's top-K with every other engine's (round 1)
p("### Overlap with scry (round 1)")
p()
p("Mean overlap@K of the top-K id sets and the share of queries with identical sets ('same'); "
  "top-10 from the K=10 run" + (f", top-{max(ks)} from the K={max(ks)} run" if max(ks) != 10 else "") + ".")
p()
overlap_ks = sorted(set([10] + [max(ks)])) if 10 in ks else [max(ks)]
hdr = []
for k in overlap_ks:
    hdr += [f"{kind} @{k}" for kind in kinds]
p("| engine | " + " | ".join(hdr) + " | no hits (of all) |")
p("|---|" + "---:|" * (len(hdr) + 1))
cells = {}
for e in engines[1:]:
    row = []
    empty = None
    for k in overlap_ks:
        a = results(os.path.join(rounds[0], f"{ref}.k{k}.results"))
        b = results(os.path.join(rounds[0], f"{e}.k{k}.results"))
        if a is None or b is None:
            row += ["–"] * len(kinds)
            continue
        if k == overlap_ks[0]:
            empty = sum(1 for x in b if not x)
        for kind in kinds:
            idx = [i for i, t in enumerate(types) if kind in ("all", t) and i < len(a) and i < len(b)]
            ov, same = [], []
            for i in idx:
                sa, sb = set(a[i]), set(b[i])
                ov.append(len(sa & sb) / max(len(sa), len(sb)) if sa or sb else 1.0)
                same.append(sa == sb)
            row.append(f"{sum(ov) / max(len(ov), 1):.3f} ({sum(same) / max(len(same), 1):.0%})")
            cells[(e, kind, k)] = sum(ov) / max(len(ov), 1)
    p(f"| {e} | " + " | ".join(row) + f" | {fmt(empty)} |")
a = results(os.path.join(rounds[0], f"{ref}.k{overlap_ks[0]}.results"))
if a is not None:
    p(f"| {ref} (itself) | " + " | ".join("–" for _ in hdr) + f" | {fmt(sum(1 for x in a if not x))} |")
p()

# every pair, top-10, all queries: how much the peers agree among themselves
if 10 in ks:
    res10 = {e: results(os.path.join(rounds[0], f"{e}.k10.results")) for e in engines}
    names = [e for e in engines if res10[e] is not None]
    p("Overlap@10 between every pair of engines (all queries; and / or / phrase in brackets), "
      "to read scry's figures against the peers' agreement among themselves:")
    p()
    p("| | " + " | ".join(names) + " |")
    p("|---|" + "---:|" * len(names))
    for x in names:
        row = []
        for y in names:
            if x == y:
                row.append("–")
                continue
            per = {}
            for i, t in enumerate(types):
                if i >= len(res10[x]) or i >= len(res10[y]):
                    continue
                sa, sb = set(res10[x][i]), set(res10[y][i])
                v = len(sa & sb) / max(len(sa), len(sb)) if sa or sb else 1.0
                per.setdefault("all", []).append(v)
                per.setdefault(t, []).append(v)
            mean = {k2: sum(v) / len(v) for k2, v in per.items()}
            row.append(f"{mean.get('all', 0):.3f} (" + " / ".join(f"{mean.get(t, 0):.2f}" for t in kinds[1:]) + ")")
        p(f"| {x} | " + " | ".join(row) + " |")
    p()

# consistency checks: scry's top-10 is the prefix of its top-K, and rounds agree
notes = []
if 10 in ks and max(ks) > 10:
    a10 = results(os.path.join(rounds[0], f"{ref}.k10.results"))
    ak = results(os.path.join(rounds[0], f"{ref}.k{max(ks)}.results"))
    if a10 and ak:
        bad = sum(1 for x, y in zip(a10, ak) if x != y[:10])
        notes.append(f"scry top-10 = first 10 of its top-{max(ks)}: {len(a10) - bad}/{len(a10)} queries")
for k in ks:
    base = results(os.path.join(rounds[0], f"{ref}.k{k}.results"))
    for r in rounds[1:]:
        other = results(os.path.join(r, f"{ref}.k{k}.results"))
        if base is not None and other is not None:
            notes.append(f"scry K={k} round {os.path.basename(r)[1:]} identical to round 1: {base == other}")
if notes:
    p("Checks: " + "; ".join(notes) + ".")
    p()

# charts: gnuplot scripts and data
palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
for k in ks:
    dat = os.path.join(out, f"qps_k{k}.dat")
    with open(dat, "w") as f:
        f.write("# type " + " ".join(engines) + "\n")
        for kind in kinds:
            f.write(kind + " " + " ".join(str((search.get((e, kind, k)) or {}).get("qps") or 0) for e in engines) + "\n")
    with open(os.path.join(out, f"qps_k{k}.gp"), "w") as f:
        f.write(f"""set terminal pngcairo size 760,420 font "sans,10"
set output "{out}/qps_k{k}.png"
set title "Queries per second, top-{k}, single thread (median of {len(rounds)} rounds; log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set logscale y
set yrange [10:*]
set ylabel "QPS"
set grid ytics
set key top right
""")
        plots = [f'"{dat}" using {i + 2}:xtic(1) title "{e}" lc rgb "{palette[i % len(palette)]}"'
                 for i, e in enumerate(engines)]
        f.write("plot " + ", \\\n     ".join(plots) + "\n")

dat = os.path.join(out, "latency.dat")
series = [(k, q) for k in ks for q in ("p50", "p99")]
with open(dat, "w") as f:
    f.write("# engine " + " ".join(f"{q}_k{k}" for k, q in series) + "\n")
    for e in engines:
        f.write(e + " " + " ".join(str((search.get((e, "all", k)) or {}).get(q) or 0) for k, q in series) + "\n")
with open(os.path.join(out, "latency.gp"), "w") as f:
    f.write(f"""set terminal pngcairo size 760,420 font "sans,10"
set output "{out}/latency.png"
set title "Latency per query, all {len(types)} queries, single thread (median of {len(rounds)} rounds; log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set logscale y
set yrange [10:*]
set ylabel "microseconds"
set grid ytics
set key top left
""")
    plots = [f'"{dat}" using {i + 2}:xtic(1) title "{q} top-{k}" lc rgb "{palette[i % len(palette)]}"'
             for i, (k, q) in enumerate(series)]
    f.write("plot " + ", \\\n     ".join(plots) + "\n")
