#!/usr/bin/python3
"""The search page (GET / of `scry serve --http-listen`) in a real browser.

Indexes a small corpus with the `scry` binary, starts `scry serve` with the
HTTP listener on 127.0.0.1 (free ports), and drives Debian's headless
Chromium over the DevTools protocol as a user would: it types a query and
presses Enter, sees hits with highlighted snippets, pages forward with the
Next button and back with the browser's Back, sees a query without hits
answered, and sees that text from the index is shown as text, never run as
HTML. The corpus has a keyword field (`kind`, scry index --schema): the page
shows its facet counts, a click on a value filters the hits to it, a click on
the filter's chip removes it. Screenshots of the results are kept as test
artifacts.

usage: search_page_test.py SCRY_BINARY ARTIFACT_DIR
Needs Debian's chromium and python3-websocket.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import websocket  # python3-websocket

SCRY, ARTIFACTS = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
WORK = tempfile.mkdtemp(prefix="scry_page_")

# 25 documents about apples (so there are three pages of 10), one whose text
# would run a script if it were inserted as HTML, and one about pears.
# A keyword member `kind`: "fruit", "tree" or both (16 fruit and 15 tree
# among the 27 apple matches), and a hostile value.
def kind(i):
    return ["fruit", "tree"] if i % 5 == 0 else ("fruit" if i % 2 == 0 else "tree")


DOCS = [{"id": f"apple-{i:02d}", "title": f"Apple note {i}", "kind": kind(i),
         "body": f"Note {i}: the apple orchard grows {i} kinds of apple trees near the river."}
        for i in range(25)]
DOCS.append({"id": "hostile", "title": "<img src=x onerror=\"document.title='pwned'\">",
             "kind": "<b>k</b>",
             "body": "an apple <script>document.title='pwned'</script> and <b>bold</b> claims"})
DOCS.append({"id": "pear", "title": "Pears", "kind": "fruit",
             "body": "a pear is not an apple, said nobody"})


def wait_for(predicate, what, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Browser:
    """One page of a headless Chromium, driven over the DevTools protocol."""

    def __init__(self):
        self.profile = os.path.join(WORK, "profile")
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "--window-size=1000,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(),
                 "Chromium's DevTools port", timeout=60)
        with open(port_file) as f:
            port = int(f.read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.next_id = 0

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def eval(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector):
        box = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                        "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); "
                        "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1)

    def type_and_enter(self, selector, text):
        self.click(selector)
        self.eval(f"document.querySelector({json.dumps(selector)}).select()")
        self.send("Input.insertText", text=text)
        for kind in ("rawKeyDown", "char", "keyUp"):
            params = {"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
            if kind == "char":
                params["text"] = "\r"
            self.send("Input.dispatchKeyEvent", **params)

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class SearchPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        corpus = os.path.join(WORK, "docs.jsonl")
        with open(corpus, "w", encoding="utf-8") as f:
            for d in DOCS:
                f.write(json.dumps(d) + "\n")
        schema = os.path.join(WORK, "schema.json")
        with open(schema, "w") as f:
            json.dump({"fields": {"kind": "keyword"}}, f)
        cls.index = os.path.join(WORK, "idx")
        subprocess.run([SCRY, "index", "-q", "--input", corpus, "--index", cls.index,
                        "--shards", "2", "--schema", schema], check=True)
        port_file, http_port_file = cls.index + ".port", cls.index + ".http"
        cls.server = subprocess.Popen(
            [SCRY, "serve", "--index", cls.index, "--listen", "127.0.0.1:0", "--port-file",
             port_file, "--http-listen", "127.0.0.1:0", "--http-port-file", http_port_file],
            stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(port_file) or cls.server.poll() is not None, "the server")
        if cls.server.poll() is not None:
            raise RuntimeError("scry serve exited")
        with open(http_port_file) as f:
            cls.base = f"http://127.0.0.1:{int(f.read())}/"
        cls.browser = Browser()
        cls.browser.send("Page.enable")
        cls.browser.send("Runtime.enable")

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.server.send_signal(signal.SIGTERM)
        cls.server.wait(timeout=30)
        shutil.rmtree(WORK, ignore_errors=True)

    def open_page(self, query=""):
        b = self.browser
        b.send("Page.navigate", url=self.base + query)
        wait_for(lambda: b.eval("document.readyState === 'complete' && "
                                "!!document.getElementById('q')"), "the page")

    def hits(self):
        return self.browser.eval(
            "[...document.querySelectorAll('#hits .hit')].map(h => ({"
            "title: h.querySelector('.title').textContent,"
            "meta: h.querySelector('.meta').textContent,"
            "marks: [...h.querySelectorAll('mark')].map(m => m.textContent),"
            "snippets: [...h.querySelectorAll('.snippet')].map(s => s.textContent)}))")

    def test_type_a_query_see_hits_and_snippets_then_page(self):
        b = self.browser
        self.open_page()
        # The page tells the size of the index (from /v1/stats).
        wait_for(lambda: "27 documents" in b.eval("document.getElementById('about').textContent"),
                 "the index size")
        b.type_and_enter("#q", "apple")
        hits = wait_for(lambda: len(self.hits()) == 10 and self.hits(), "ten hits")
        self.assertIn("?q=apple&page=1", b.eval("location.search"))
        summary = b.eval("document.getElementById('summary').textContent")
        self.assertIn("27 documents", summary)
        for hit in hits:
            self.assertTrue(hit["snippets"], hit)  # each hit has a snippet ...
            self.assertTrue(all(m.lower().startswith("apple") for m in hit["marks"]), hit)
        self.assertTrue(any(hit["marks"] for hit in hits))  # ... with the words marked
        self.assertEqual(b.eval("document.getElementById('pageinfo').textContent"), "Page 1 of 3")
        os.makedirs(ARTIFACTS, exist_ok=True)
        b.screenshot(os.path.join(ARTIFACTS, "search_page.png"))

        first_page = [h["meta"] for h in hits]
        b.click("#next")
        wait_for(lambda: "page=2" in b.eval("location.search") and self.hits()
                 and self.hits()[0]["meta"].startswith("#11 "), "page 2")
        self.assertFalse(set(h["meta"] for h in self.hits()) & set(first_page))
        b.click("#next")
        wait_for(lambda: "page=3" in b.eval("location.search") and len(self.hits()) == 7,
                 "page 3 with the last 7")
        self.assertTrue(b.eval("document.getElementById('next').disabled"))
        b.eval("history.back()")
        wait_for(lambda: "page=2" in b.eval("location.search") and
                 self.hits() and self.hits()[0]["meta"].startswith("#11 "), "back to page 2")

    def facets(self):
        return self.browser.eval(
            "Object.fromEntries([...document.querySelectorAll('#facets ul[data-field=kind] "
            "button.facet')].map(b => [b.querySelector('.value').textContent,"
            " Number(b.querySelector('.count').textContent)]))")

    def summary(self):
        return self.browser.eval("document.getElementById('summary').textContent")

    def test_click_a_facet_to_filter_then_remove_it(self):
        b = self.browser
        self.open_page()
        b.type_and_enter("#q", "apple")
        facets = wait_for(lambda: self.facets(), "the facet counts")
        self.assertEqual(facets, {"fruit": 16, "tree": 15, "<b>k</b>": 1})
        self.assertEqual(b.eval("document.querySelectorAll('#facets b').length"), 0)
        self.assertIn("27 documents", self.summary())
        b.click("#facets button.facet[data-value='tree']")
        wait_for(lambda: "f=kind%3Atree" in b.eval("location.search") and
                 "15 documents" in self.summary(), "the filtered hits")
        hits = wait_for(lambda: len(self.hits()) == 10 and self.hits(), "ten filtered hits")
        for hit in hits:
            kinds = hit["meta"].split(" · kind: ")[1]
            self.assertIn("tree", kinds, hit)
        self.assertEqual(self.facets().get("tree"), 15)
        self.assertTrue(b.eval("document.querySelector(\"#facets button.facet[data-value='tree']\")"
                               ".classList.contains('on')"))
        os.makedirs(ARTIFACTS, exist_ok=True)
        b.screenshot(os.path.join(ARTIFACTS, "search_page_facet.png"))
        # The filter stays when paging, and goes with its chip.
        b.click("#next")
        wait_for(lambda: "page=2" in b.eval("location.search") and len(self.hits()) == 5,
                 "page 2 of the filtered hits")
        self.assertIn("f=kind%3Atree", b.eval("location.search"))
        b.click("#filters button")
        wait_for(lambda: "27 documents" in self.summary() and
                 "f=" not in b.eval("location.search"), "the filter removed")

    def test_text_from_the_index_is_never_run(self):
        b = self.browser
        self.open_page("?q=script%20bold")
        hits = wait_for(lambda: self.hits(), "the hostile document")
        self.assertEqual(hits[0]["meta"].split(" · ")[1], "hostile")
        self.assertIn("<img src=x", hits[0]["title"])  # shown as text
        self.assertIn("<script>", " ".join(hits[0]["snippets"]))
        self.assertEqual(b.eval("document.querySelectorAll('#hits img, #hits script, #hits b')"
                                ".length"), 0)
        self.assertNotEqual(b.eval("document.title"), "pwned")

    def test_no_hits_and_bad_queries_are_answered(self):
        b = self.browser
        self.open_page("?q=zeppelin")
        wait_for(lambda: "No documents match" in
                 b.eval("document.getElementById('summary').textContent"), "no hits")
        self.assertEqual(self.hits(), [])
        self.open_page("?q=%22unclosed")
        error = wait_for(lambda: b.eval("document.getElementById('error').textContent"),
                         "the error")
        self.assertIn("INVALID_ARGUMENT", error)


if __name__ == "__main__":
    unittest.main(verbosity=2)
