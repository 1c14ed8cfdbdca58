#!/bin/bash
B=/tmp/size18_bin/scry; C=/work/shared/corpora/out/all.jsonl; O=/tmp/size18_idx
run() { name=$1; shift; rm -rf $O/$name; s=$(date +%s); $B index -q -i $C --index $O/$name --store none --index-fields none "$@" ; e=$(date +%s)
  echo "$name $(du -sb $O/$name | cut -f1) $((e-s))s :: $*" >> $O/sizes.txt; $B stats --index $O/$name > $O/$name.stats 2>&1; }
while pgrep -f size18_sizes.sh >/dev/null; do sleep 5; done
run nopairs_posbp --common-terms 0 --positions-codec simdbp128
run nopairs_possvb --common-terms 0 --positions-codec streamvbyte
run both_df64_pfor --pairs-need-both --pair-min-df 64 --docid-codec pfor
echo done2 >> $O/sizes.txt
