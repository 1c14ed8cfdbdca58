#!/bin/bash
B=/tmp/size18_bin2/scry; C=/work/shared/corpora/out/all.jsonl; O=/tmp/size18_idx
run() { name=$1; shift; rm -rf $O/$name; s=$(date +%s); $B index -q -i $C --index $O/$name --store none --index-fields none "$@" ; e=$(date +%s)
  echo "$name $(du -sb $O/$name | cut -f1) $((e-s))s :: $*" >> $O/sizes.txt; $B stats --index $O/$name > $O/$name.stats 2>&1; }
run noimp_default
run noimp_both --pairs-need-both
run noimp_both_pfor --pairs-need-both --docid-codec pfor
run noimp_ct16_both_pfor --common-terms 16 --pairs-need-both --docid-codec pfor
echo done3 >> $O/sizes.txt
