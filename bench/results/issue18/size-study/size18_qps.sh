#!/bin/bash
# phrase and all QPS per index config, interleaved with lucene, 3 rounds.
# Pass 1 (qps.txt): PEER=/tmp/size18_bin/scry-peer (main 910425e), configs default nopairs both both_pfor ct16_both.
# Pass 2 (qps2.txt): PEER=/tmp/size18_bin2/scry-peer (47cb8cf) OUT=qps2.txt, configs noimp_default
# noimp_both_pfor noimp_ct16_both_pfor nopairs_pfor nopairs.
P=${PEER:-/tmp/size18_bin/scry-peer}; L=/work/shared/peers/bin/lucene_bench; O=/tmp/size18_idx
Q=/work/shared/corpora/out/all.queries.tsv; PH=/tmp/size18_phrase.tsv
for r in 1 2 3; do
  for cfg in "$@"; do
    for qs in phrase all; do f=$PH; [ $qs = all ] && f=$Q
      echo "$r $cfg $qs $(WARMUP=3 $P search $O/$cfg $f 10 2>/dev/null) load=$(cut -d' ' -f1 /proc/loadavg)" >> $O/${OUT:-qps.txt}
    done
  done
  for qs in phrase all; do f=$PH; [ $qs = all ] && f=$Q
    echo "$r lucene $qs $(cd /work/shared/peers && WARMUP=20 $L search /tmp/size18_lucene $f 10 2>/dev/null) load=$(cut -d' ' -f1 /proc/loadavg)" >> $O/${OUT:-qps.txt}
  done
done
echo qdone >> $O/${OUT:-qps.txt}
