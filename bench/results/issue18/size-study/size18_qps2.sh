#!/bin/bash
# phrase and all QPS per index config, interleaved with lucene, 3 rounds
P=/tmp/size18_bin2/scry-peer; L=/work/shared/peers/bin/lucene_bench; O=/tmp/size18_idx
Q=/work/shared/corpora/out/all.queries.tsv; PH=/tmp/size18_phrase.tsv
for r in 1 2 3; do
  for cfg in "$@"; do
    for qs in phrase all; do f=$PH; [ $qs = all ] && f=$Q
      echo "$r $cfg $qs $(WARMUP=3 $P search $O/$cfg $f 10 2>/dev/null) load=$(cut -d' ' -f1 /proc/loadavg)" >> $O/qps2.txt
    done
  done
  for qs in phrase all; do f=$PH; [ $qs = all ] && f=$Q
    echo "$r lucene $qs $(cd /work/shared/peers && WARMUP=20 $L search /tmp/size18_lucene $f 10 2>/dev/null) load=$(cut -d' ' -f1 /proc/loadavg)" >> $O/qps2.txt
  done
done
echo qdone >> $O/qps2.txt
