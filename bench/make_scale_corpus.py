#!/usr/bin/env python3
"""usage: make_scale_corpus.py SRC.jsonl N OUT.jsonl [--seed S]

Writes a corpus of N documents (1M and more) made only from the real
documents of SRC.jsonl (one JSON object per line with id, title, body), for
scale runs of bench/compare.sh. Standard library only; deterministic for a
given SRC, N and seed.

Copy c = 0, 1, 2, ... of source document i gets the fresh id "<id>-x<c>"
(ids stay free of whitespace). Copy 0 is the document unchanged. Later copies
are recombined from real text so that exact duplicates do not dominate:
  - the body is cut into paragraphs (blank lines), or into sentences when it
    has a single paragraph;
  - the units are rotated by c places;
  - one unit (chosen at random) is replaced by a random unit of another
    random real document, and, with probability 1/2, one more unit of a
    third document is appended.
Titles are kept as they are. No word is ever invented: every unit is a
paragraph or sentence of a real document. Copies are written round by round
(all copy-0 documents, then all copy-1 documents, ...) until N are written.
"""
import json
import random
import re
import sys

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def units_of(body):
    paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
    if len(paragraphs) >= 2:
        return paragraphs, "\n\n"
    sentences = [s for s in SENTENCE_END.split(body) if s.strip()]
    return sentences, " "


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--seed")]
    seed = 1
    for a in argv[1:]:
        if a.startswith("--seed="):
            seed = int(a.split("=", 1)[1])
    if len(args) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, n_out, out_path = args[0], int(args[1]), args[2]
    if n_out <= 0:
        sys.stderr.write("N must be positive\n")
        return 2

    docs = []  # (id, title, body)
    with open(src, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            docs.append((str(d["id"]), d.get("title") or "", d.get("body") or ""))
    if not docs:
        sys.stderr.write("no documents in %s\n" % src)
        return 1
    sys.stderr.write("read %d documents from %s\n" % (len(docs), src))

    rng = random.Random(seed)
    written = 0
    copy = 0
    with open(out_path, "w", encoding="utf-8") as out:
        while written < n_out:
            for doc_id, title, body in docs:
                if written >= n_out:
                    break
                if copy > 0:
                    units, sep = units_of(body)
                    if len(units) > 1:
                        r = copy % len(units)
                        units = units[r:] + units[:r]
                    donor_units, _ = units_of(docs[rng.randrange(len(docs))][2])
                    if donor_units:
                        donor = donor_units[rng.randrange(len(donor_units))]
                        if units:
                            units[rng.randrange(len(units))] = donor
                        else:
                            units = [donor]
                    if rng.random() < 0.5:
                        extra, _ = units_of(docs[rng.randrange(len(docs))][2])
                        if extra:
                            units.append(extra[rng.randrange(len(extra))])
                    body_out = sep.join(units)
                else:
                    body_out = body
                out.write(json.dumps({"id": "%s-x%d" % (doc_id, copy), "title": title,
                                      "body": body_out}, ensure_ascii=False))
                out.write("\n")
                written += 1
                if written % 200000 == 0:
                    sys.stderr.write("%d documents\n" % written)
            copy += 1
    sys.stderr.write("wrote %d documents (%d rounds) to %s\n" % (written, copy, out_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
