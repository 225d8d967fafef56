"""Open the rendered notebooks (build/notebooks/chNN.html) in Chromium as a reader would; check every figure.

``python tools/notebook_screenshots.py [--html build/notebooks] [--out /tmp/nb-shots] [--chromium PATH]``:
for each page, counts the <img> figures and those the browser actually decoded and laid out (natural
and rendered size > 0), compares with the PNG outputs of the executed notebook, and saves a screenshot of
the page top and of its first and last figure. Exit status 1 if any figure fails to show.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--html", default=str(ROOT / "build" / "notebooks"))
    ap.add_argument("--out", default="/tmp/nb-shots")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    html_dir, out = Path(args.html), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report, bad = {}, 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for html in sorted(html_dir.glob("ch*.html")):
            nb = nbformat.read(html.with_suffix(".ipynb"), as_version=4)
            expected = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                           for o in c.get("outputs", []))
            page.goto(html.resolve().as_uri())
            page.wait_for_load_state("load")
            imgs = page.evaluate("""() => [...document.querySelectorAll('img')].map(i => ({
                natural: [i.naturalWidth, i.naturalHeight], shown: [i.clientWidth, i.clientHeight],
                complete: i.complete}))""")
            ok = [i for i in imgs if i["complete"] and min(i["natural"]) > 0 and min(i["shown"]) > 0]
            page.screenshot(path=str(out / f"{html.stem}-top.png"))
            handles = page.query_selector_all("img")
            for tag, h in (("first", handles[0] if handles else None), ("last", handles[-1] if handles else None)):
                if h is not None:
                    h.scroll_into_view_if_needed()
                    h.screenshot(path=str(out / f"{html.stem}-{tag}-figure.png"))
            report[html.stem] = {"figures_in_notebook": expected, "img_tags": len(imgs), "shown": len(ok)}
            bad += int(len(ok) != expected or len(imgs) != expected)
            print(f"{html.stem}: {len(ok)} of {len(imgs)} <img> shown; the notebook has {expected} figures")
        browser.close()
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
