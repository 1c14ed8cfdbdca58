import json,re,statistics as st,collections,sys
rows=collections.defaultdict(dict)
for line in open(sys.argv[1]):
    m=re.match(r'(\d+) (\S+) (\S+) (\{.*\}) load=(\S+)',line)
    if not m: continue
    r,cfg,qs,js,load=m.groups(); rows[(cfg,qs)][int(r)]=(json.loads(js)['qps'],float(load))
sizes={}
for line in open('/tmp/size18_idx/sizes.txt'):
    p=line.split()
    if len(p)>=2 and p[1].isdigit(): sizes[p[0]]=int(p[1])
L=31684641
print("| config | MB | / Lucene | phrase QPS median (min-max) | phrase / Lucene per round, median (min-max) | all QPS | all / Lucene |")
print("|---|---:|---:|---:|---:|---:|---:|")
cfgs=sorted({c for c,_ in rows if c!='lucene'},key=lambda c:-sizes.get(c,0))
for c in cfgs:
    out=[c, f"{sizes.get(c,0)/1e6:.2f}", f"{sizes.get(c,0)/L:.3f}"]
    for qs in ('phrase','all'):
        q=rows[(c,qs)]; l=rows[('lucene',qs)]
        v=[q[r][0] for r in sorted(q)]; rat=[q[r][0]/l[r][0] for r in sorted(q) if r in l]
        out.append(f"{st.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f})")
        out.append(f"{st.median(rat):.2f} ({min(rat):.2f}-{max(rat):.2f})" if rat else "-")
    print("| "+" | ".join(out)+" |")
for qs in ('phrase','all'):
    l=rows[('lucene',qs)]; v=[l[r][0] for r in sorted(l)]
    print(f"lucene {qs}: {st.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f}); loads {[l[r][1] for r in sorted(l)]}")
