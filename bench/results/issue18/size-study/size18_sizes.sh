#!/bin/bash
# builds indexes of all.jsonl under several configs, records size and stats
B=/tmp/size18_bin/scry; C=/work/shared/corpora/out/all.jsonl; O=/tmp/size18_idx; mkdir -p $O
run() { name=$1; shift; rm -rf $O/$name; s=$(date +%s); $B index -q -i $C --index $O/$name --store none --index-fields none "$@" ; e=$(date +%s)
  echo "$name $(du -sb $O/$name | cut -f1) $((e-s))s :: $*" >> $O/sizes.txt; $B stats --index $O/$name > $O/$name.stats 2>&1; }
run default
run nopairs --common-terms 0
run both --pairs-need-both
run both_pfor --pairs-need-both --docid-codec pfor
run nopairs_pfor --common-terms 0 --docid-codec pfor
run both_df64 --pairs-need-both --pair-min-df 64
run ct16_both --common-terms 16 --pairs-need-both
echo done >> $O/sizes.txt
