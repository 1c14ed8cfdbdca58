#!/usr/bin/env python3
"""Makes typed_sample.jsonl: the first 400 documents of sample.jsonl (bodies cut
to 600 characters) with typed members for tests and the search page's facets
(schema: typed_sample.schema.json). The values are derived from a hash of the
id, not from the text (the corpus has none): `section` one or two keywords,
`year` 1995-2024, `published` a date-time in that year, `words` the body's
word count before the cut. Deterministic: run it again to get the same file."""
import hashlib
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
sections = ["world", "business", "sports", "science", "culture", "politics"]
with open(os.path.join(here, "sample.jsonl"), encoding="utf-8") as src, \
        open(os.path.join(here, "typed_sample.jsonl"), "w", encoding="utf-8") as out:
    for n, line in enumerate(src):
        if n == 400:
            break
        d = json.loads(line)
        h = int(hashlib.sha256(d["id"].encode()).hexdigest(), 16)
        doc = {"id": d["id"], "title": d["title"], "body": d["body"][:600]}
        k = 1 + (h >> 8) % 2
        doc["section"] = ([sections[(h >> (12 + 4 * i)) % len(sections)] for i in range(k)]
                          if k > 1 else sections[h % len(sections)])
        doc["year"] = 1995 + (h >> 40) % 30
        doc["words"] = len(d["body"].split())
        doc["published"] = "%04d-%02d-%02dT%02d:00:00Z" % (
            doc["year"], 1 + (h >> 50) % 12, 1 + (h >> 60) % 28, (h >> 70) % 24)
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
