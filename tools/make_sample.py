#!/usr/bin/env python3
"""Makes the bundled sample corpus tests/data/sample.jsonl.

It is the two news articles of ../shared/corpora/seeds.jsonl followed by a
deterministic slice (every Nth line) of each real corpus made by
../shared/corpora/build.sh. Run after that script:

    python3 tools/make_sample.py ../shared/corpora > tests/data/sample.jsonl
"""
import json
import sys

# corpus -> take every Nth document, at most M documents
PLAN = [("man", 40, 60), ("linuxdoc", 80, 60), ("gcide", 40, 3000), ("fortunes", 10, 1400)]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/corpora"
    out = sys.stdout
    with open(f"{root}/seeds.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.write(json.dumps(json.loads(line), ensure_ascii=False) + "\n")
    for name, every, most in PLAN:
        taken = 0
        with open(f"{root}/out/{name}.jsonl", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i % every or taken >= most:
                    continue
                doc = json.loads(line)
                out.write(json.dumps(doc, ensure_ascii=False) + "\n")
                taken += 1


if __name__ == "__main__":
    main()
