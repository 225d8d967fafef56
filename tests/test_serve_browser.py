"""The `nnscratch serve` page in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright's own browser download is not used (nor reachable here): ``executable_path`` points
at the system Chromium, which ``.ci/run`` installs with apt-get when it is missing. Skips only
when no Chromium can be found at all.
"""
from __future__ import annotations

import base64
import io
import math
import os
import shutil
import time

import numpy as np
import pytest

from nnscratch import serialization
from nnscratch.datasets import load_mnist_sample
from serve_helpers import png_bytes, running_server


def find_chromium() -> str | None:
    for candidate in (os.environ.get("NNSCRATCH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: not at /usr/bin/chromium nor on PATH "
                                "(apt-get install chromium; .ci/run does this), nor in $NNSCRATCH_CHROMIUM")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage"]

SEVEN = [[(60, 55), (140, 52), (222, 55)], [(222, 55), (190, 115), (160, 175), (130, 240)]]
ZERO = [[(140 + 70 * math.sin(a), 140 - 100 * math.cos(a)) for a in np.linspace(0, math.pi, 16)],
        [(140 + 70 * math.sin(a), 140 - 100 * math.cos(a)) for a in np.linspace(math.pi, 2.05 * math.pi, 17)]]
ONE = [[(150, 40), (148, 140), (146, 240)]]


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no Chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Chromium is here but Playwright for Python is not: pip install -e '.[test]'")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1200, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def site(small_models):
    with running_server([small_models["cnn"], small_models["mlp"]]) as (host, port, app):
        yield f"http://{host}:{port}/", app


@pytest.fixture
def page(browser_context, site):
    """A fresh tab on the page; fails the test on any console error or uncaught exception."""
    problems: list[str] = []
    tab = browser_context.new_page()
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    tab.goto(site[0])
    tab.wait_for_selector("body[data-ready=true]", timeout=15000)
    yield tab
    tab.close()
    assert not problems, problems


def _renders(page) -> int:
    return int(page.get_attribute("#result-card", "data-renders") or 0)


def _settled(page, after: int, timeout: float = 15.0) -> None:
    """Wait until a prediction newer than render number ``after`` is shown and nothing is pending.

    Polled from Python: the page's Content-Security-Policy (script-src 'self') forbids the eval
    that Playwright's wait_for_function uses, and the test must not weaken it.
    """
    deadline = time.monotonic() + timeout
    while True:
        busy, renders = page.evaluate("() => [document.body.dataset.busy, document.getElementById('result-card').dataset.renders]")
        if busy == "false" and int(renders or 0) > after:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no new prediction within {timeout} s (busy={busy}, renders={renders}, after={after})")
        page.wait_for_timeout(25)


def _draw(page, strokes, steps: int = 4) -> None:
    """Each stroke as mouse down, moves in small steps, mouse up, in pad coordinates (0..280)."""
    box = page.locator("#pad").bounding_box()
    s = box["width"] / 280
    for stroke in strokes:
        before = _renders(page)
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x * s, box["y"] + y * s)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * s, box["y"] + y * s, steps=steps)
        page.mouse.up()
        _settled(page, before)


def _layer_names(page) -> list[str]:
    return page.eval_on_selector_all("#layers .layer", "els => els.map(e => e.dataset.name)")


def _top(page) -> str:
    return page.text_content("#top-class")


def _input_mass(page) -> float:
    """Sum of the 28x28 input view's pixels in 0..1 (read as a PNG: getImageData would warn on repeated reads)."""
    from PIL import Image

    url = page.evaluate("() => document.getElementById('input').toDataURL('image/png')")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
        return float(np.asarray(img.convert("L"), dtype=np.float64).sum() / 255)


def test_draw_a_seven_and_a_zero_stroke_by_stroke(page, small_models):
    cnn_layers = list(serialization.load(small_models["cnn"]).layers)
    assert _top(page) == "?" and _input_mass(page) == 0
    _draw(page, SEVEN)
    assert _top(page) == "7"
    assert _layer_names(page) == cnn_layers  # one panel per layer, in order, named
    headings = page.eval_on_selector_all("#layers .layer h3", "els => els.map(e => e.textContent)")
    assert headings[0] == "conv1Convolution \u00b7 30\u00d724\u00d724" and headings[-1].endswith("Affine \u00b7 10")
    assert _input_mass(page) > 20  # the 28x28 input view shows the digit
    bars = page.eval_on_selector_all("#bars .bar", "els => els.map(e => e.classList.contains('top'))")
    assert bars == [i == 7 for i in range(10)]
    assert page.is_enabled("#undo") and page.is_enabled("#clear")
    page.click("#clear")
    assert _top(page) == "?" and not page.is_enabled("#undo")
    _draw(page, ZERO, steps=2)
    assert _top(page) == "0"
    assert _layer_names(page) == cnn_layers


def test_undo_takes_back_the_last_stroke(page):
    _draw(page, SEVEN[:1] + ONE)
    before = _renders(page)
    page.click("#undo")
    _settled(page, before)
    page.click("#undo")
    assert _top(page) == "?" and _input_mass(page) == 0  # nothing left on the pad


def test_upload_a_png_of_a_test_digit_and_switch_models(page, small_models, tmp_path):
    _, (x, t) = load_mnist_sample(flatten=False)
    models = [serialization.load(p) for p in (small_models["cnn"], small_models["mlp"])]
    i = next(i for i in range(len(t)) if all(m.predict(x[i : i + 1]).argmax() == t[i] for m in models) and t[i] in (2, 3, 5))
    path = tmp_path / "digit.png"
    path.write_bytes(png_bytes(x[i, 0], 240))
    before = _renders(page)
    page.set_input_files("#upload", str(path))
    _settled(page, before)
    assert _top(page) == str(t[i])
    assert "digit.png" in page.text_content("#status")
    before = _renders(page)
    page.select_option("#model", "mlp")
    _settled(page, before)
    assert _layer_names(page) == ["affine1", "relu1", "affine2"] and _top(page) == str(t[i])
    assert "(mlp)" in page.text_content("#top-p") and "MultiLayerNet" in page.text_content("#model-info")
    before = _renders(page)
    page.select_option("#model", "cnn")
    _settled(page, before)
    assert len(_layer_names(page)) == 6 and _top(page) == str(t[i])


def test_show_me_a_test_digit(page, site):
    before = _renders(page)
    page.click("#test-digit")
    _settled(page, before)
    status = page.text_content("#status")
    assert "MNIST test image #" in status and "labelled" in status
    assert _top(page) in [str(d) for d in range(10)] and _input_mass(page) > 10


def test_touch_and_pen_strokes_draw_too(page):
    before = _renders(page)
    page.evaluate("""async (strokes) => {
        const pad = document.getElementById('pad');
        const r = pad.getBoundingClientRect(), s = r.width / 280;
        const fire = (type, x, y, kind, id) => pad.dispatchEvent(new PointerEvent(type, {
            pointerId: id, pointerType: kind, isPrimary: true, bubbles: true, cancelable: true,
            clientX: r.left + x * s, clientY: r.top + y * s, pressure: 0.5, button: 0, buttons: 1 }));
        strokes.forEach(([kind, pts], k) => {
            fire('pointerdown', pts[0][0], pts[0][1], kind, 10 + k);
            for (let i = 1; i <= 20; i++) {
                const t = i / 20;
                fire('pointermove', pts[0][0] + t * (pts[1][0] - pts[0][0]), pts[0][1] + t * (pts[1][1] - pts[0][1]), kind, 10 + k);
            }
            fire('pointerup', pts[1][0], pts[1][1], kind, 10 + k);
        });
    }""", [["touch", [[150, 40], [146, 240]]], ["pen", [[150, 40], [120, 75]]]])
    _settled(page, before)
    assert _top(page) == "1"


def test_readable_on_a_phone_screen(browser_context, site):
    tab = browser_context.new_page()
    try:
        tab.set_viewport_size({"width": 390, "height": 844})
        tab.goto(site[0])
        tab.wait_for_selector("body[data-ready=true]")
        _draw(tab, SEVEN)
        assert _top(tab) == "7"
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        pad, layers = tab.locator("#pad").bounding_box(), tab.locator("#layers").bounding_box()
        assert pad["x"] >= 0 and pad["x"] + pad["width"] <= 390 and pad["width"] >= 250
        assert layers["width"] <= 390
    finally:
        tab.close()
