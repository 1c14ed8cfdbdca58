#!/usr/bin/env python3
"""A corpus scry was never tuned on: the Python 3.11 and PostgreSQL 15 manuals.

Issue 18 asks for results on a second corpus beside the shared one, from
another Debian source. This script downloads `python3.11-doc` and
`postgresql-doc-15` (`apt-get download`, nothing installed), turns every HTML
page into text and cuts it at its h1-h3 headings: one section = one document
(`{"id": "docs-<n>", "title": heading, "body": text}`), in file-name order so
the output is the same on every run. Navigation, sidebars, scripts and styles
are dropped. The queries come from the shared harness's own generator
(`../shared/corpora/queries.py`, seed 42, 1000 queries) so they follow the same
rules as the shared corpus's.

    bench/untuned_corpus.py OUT_DIR      # writes OUT_DIR/docs.jsonl, docs.queries.tsv
"""
import glob
import html.parser
import json
import os
import subprocess
import sys

PACKAGES = ["python3.11-doc", "postgresql-doc-15"]
SKIP_CLASSES = {"sphinxsidebar", "related", "navheader", "navfooter", "footer", "headerlink"}
SKIP_TAGS = {"script", "style", "head", "nav"}
HEADINGS = {"h1", "h2", "h3"}
BLOCKS = {"p", "div", "li", "pre", "tr", "dt", "dd", "br", "table", "section", "h4", "h5", "h6"}
VOID = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"}


class Sections(html.parser.HTMLParser):
    """Collects (heading, text) pairs; text before the first heading is dropped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []  # (tag, skipped)
        self.skip_depth = 0
        self.in_heading = False
        self.heading = []
        self.text = []
        self.sections = []

    def _flush(self):
        if self.heading:
            title = " ".join("".join(self.heading).split())
            body = " ".join("".join(self.text).split())
            if title and body:
                self.sections.append((title, body))
        self.heading, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            if tag == "br" and not self.skip_depth:
                self.text.append("\n")
            return
        classes = set((dict(attrs).get("class") or "").split())
        skipped = tag in SKIP_TAGS or bool(classes & SKIP_CLASSES)
        self.stack.append((tag, skipped))
        if skipped:
            self.skip_depth += 1
        if self.skip_depth:
            return
        if tag in HEADINGS:
            self._flush()
            self.in_heading = True
        elif tag in BLOCKS:
            self.text.append("\n")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        # Pops to the matching tag (HTML in the wild leaves some unclosed).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for _, skipped in self.stack[i:]:
                    if skipped:
                        self.skip_depth -= 1
                del self.stack[i:]
                break
        if tag in HEADINGS:
            self.in_heading = False

    def handle_data(self, data):
        if self.skip_depth:
            return
        (self.heading if self.in_heading else self.text).append(data)

    def close(self):
        super().close()
        self._flush()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    for package in PACKAGES:
        if not glob.glob(os.path.join(work, package + "_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=work, check=True)
    tree = os.path.join(work, "x")
    if not os.path.isdir(tree):
        for deb in sorted(glob.glob(os.path.join(work, "*.deb"))):
            subprocess.run(["dpkg-deb", "-x", deb, tree], check=True)
    pages = sorted(glob.glob(os.path.join(tree, "usr/share/doc/**/*.html"), recursive=True))
    corpus = os.path.join(out, "docs.jsonl")
    n = 0
    with open(corpus, "w", encoding="utf-8") as f:
        for page in pages:
            if "/_static/" in page or os.path.basename(page) in ("genindex.html", "search.html"):
                continue
            parser = Sections()
            with open(page, encoding="utf-8", errors="replace") as p:
                parser.feed(p.read())
            parser.close()
            for title, body in parser.sections:
                n += 1
                f.write(json.dumps({"id": f"docs-{n}", "title": title, "body": body},
                                   ensure_ascii=False) + "\n")
    print(f"{n} documents from {len(pages)} pages -> {corpus}", file=sys.stderr)
    queries_py = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "../../shared/corpora/queries.py")
    subprocess.run([sys.executable, queries_py, corpus, "--seed", "42", "-n", "1000", "-o",
                    os.path.join(out, "docs.queries.tsv")], check=True)


if __name__ == "__main__":
    main()
