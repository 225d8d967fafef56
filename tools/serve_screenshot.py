"""Screenshot of the `nnscratch serve` page with a digit drawn on it, for the README (docs/serve.png).

Serves the given model(s) on 127.0.0.1, opens the page in headless Chromium (the system's, via
Playwright), draws a digit with mouse strokes and saves a full-page screenshot.

    python tools/serve_screenshot.py deepcnn=runs/deep/model.npz --out docs/serve.png
    python tools/serve_screenshot.py --pretrained deepcnn --out docs/serve.png   # once weights ship
"""
from __future__ import annotations

import argparse
import math
import tempfile
import threading
import time
from pathlib import Path

from nnscratch.serve import App, build_registry, make_server

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def three() -> list[list[tuple[float, float]]]:
    """A hand-drawn-looking 3 in pad coordinates (0..280): an upper and a lower bowl."""
    upper = [(140 + 62 * math.cos(a), 82 + 48 * math.sin(a)) for a in (math.radians(d) for d in range(-160, 95, 15))]
    lower = [(136 + 74 * math.cos(a), 192 + 58 * math.sin(a)) for a in (math.radians(d) for d in range(-85, 165, 15))]
    return [upper, lower]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="model files (NAME=PATH to name them)")
    ap.add_argument("--pretrained", action="append", default=None, metavar="NAME", help="a shipped model to show")
    ap.add_argument("--out", default="docs/serve.png")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    app = App(build_registry(args.models, args.pretrained, all_shipped=False), quiet=True)
    server = make_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % server.server_address[1]
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            ctx = p.chromium.launch_persistent_context(profile, executable_path=args.chromium, headless=True, args=ARGS,
                                                       viewport={"width": args.width, "height": 900})
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]")
            box = page.locator("#pad").bounding_box()
            for stroke in three():
                page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
                page.mouse.down()
                for x, y in stroke[1:]:
                    page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
                page.mouse.up()
            deadline = time.monotonic() + 15
            while page.evaluate("() => document.body.dataset.busy") != "false" and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            page.wait_for_timeout(300)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            print(f"{args.out}: the page says {page.text_content('#top-class')} ({page.text_content('#top-p')})")
            ctx.close()
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
