"""The book's 48 scripts of ch01-ch08 run on nnscratch with only their imports rewritten, and print the
numbers the book's own code prints (tests/book_scripts.py has the rule, the cuts and the workspace).

Quick run (``make test``): all 48 scripts through ``nnscratch.book``, and the 32 deterministic ones also as
the book ships them (against a local mnist.pkl made from nnscratch's loader) to compare what they print; the
long ones with their loops and data cut by the same rewrite on both sides (book_scripts.CUTS). Full run
(``make test-full``, ``-m slow``): the same with no cuts (the book's random training scripts are not run on
its side: their numbers cannot be compared, and at full length they take hours).
Skipped, with the reason, where ../shared/book-code is absent (a user's fresh clone).
"""
from __future__ import annotations

import threading

import pytest

import book_scripts as bs

pytestmark = pytest.mark.skipif(not bs.BOOK.is_dir(), reason=f"the book's code is not at {bs.BOOK} (a fresh clone)")

GRADIENT_CHECKS = ("ch05/gradient_check.py", "ch07/gradient_check.py")


def _both_sides(ws: bs.Workspace, scripts: list[str], book_scripts: list[str], cut: bool,
                timeout: float) -> tuple[dict, dict]:
    """Run ``scripts`` through nnscratch and ``book_scripts`` through the book's code, side by side."""
    results: dict[str, dict] = {}

    def side(name: str, nnscratch: bool) -> None:
        results[name] = ws.run_many(scripts if nnscratch else book_scripts, nnscratch=nnscratch, cut=cut,
                                    timeout=timeout)

    threads = [threading.Thread(target=side, args=(n, n == "nn")) for n in ("nn", "book")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results["nn"], results["book"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[dict, dict]:
    ws = bs.Workspace(tmp_path_factory.mktemp("book-scripts"))
    # the book's side runs the scripts whose numbers can be compared (no randomness)
    return _both_sides(ws, bs.scripts(), sorted(bs.DETERMINISTIC), cut=True, timeout=900)


def test_there_are_48_scripts_and_each_runs_with_only_its_imports_rewritten(quick):
    ours, book = quick
    assert len(bs.scripts()) == 48
    assert len(ours) == 48 and len(book) == len(bs.DETERMINISTIC) == 32
    failed = {s: r.stderr[-1500:] for s, r in ours.items() if r.returncode != 0}
    assert not failed, failed
    assert all(r.returncode == 0 for r in book.values()), {s: r.stderr[-800:] for s, r in book.items() if r.returncode}


def test_the_rewritten_scripts_import_nothing_of_the_books_code():
    for script in bs.scripts():
        text = bs.rewrite((bs.BOOK / script).read_text(encoding="utf-8"), script, cut=False)
        for line in text.splitlines():
            if line.lstrip().startswith("from ") and " import " in line:
                top = line.split()[1].split(".")[0]
                assert top in ("nnscratch", "numpy", "matplotlib", "mpl_toolkits", "PIL", "collections",
                               "__future__"), f"{script}: {line}"


@pytest.mark.parametrize("script", sorted(bs.DETERMINISTIC))
def test_deterministic_scripts_print_the_books_numbers(quick, script):
    ours, book = quick
    assert bs.numbers(ours[script].stdout) == bs.numbers(book[script].stdout), (ours[script].stdout, book[script].stdout)


def test_the_books_figures_for_the_issue(quick):
    ours, _ = quick
    floats = {s: [float(v) for v in bs.numbers(ours[s].stdout)] for s in ours}
    assert "Accuracy:0.9352" in ours["ch03/neuralnet_mnist.py"].stdout
    assert "Accuracy:0.9352" in ours["ch03/neuralnet_mnist_batch.py"].stdout
    assert floats["ch05/buy_apple.py"] == pytest.approx([220, 2.2, 110, 200])
    assert floats["ch05/buy_apple_orange.py"] == pytest.approx([715, 2.2, 110, 3.3, 165, 650])
    assert floats["ch04/gradient_1d.py"] == pytest.approx([0.2], abs=1e-9)
    assert ours["ch02/xor_gate.py"].stdout.split() == "(0, 0) -> 0 (1, 0) -> 1 (0, 1) -> 1 (1, 1) -> 0".split()


@pytest.mark.parametrize("script", GRADIENT_CHECKS)
def test_gradient_checks_print_differences_at_the_books_level(quick, script):
    ours, _ = quick
    diffs = [float(v) for v in bs.numbers(ours[script].stdout) if "." in v or "e" in v]
    assert len(diffs) == (4 if script.startswith("ch05") else 6) and max(diffs) <= 1e-6, ours[script].stdout


@pytest.mark.slow
def test_full_runs(tmp_path):
    """No cuts: every script through nnscratch; the deterministic ones against the book's code (the book's
    own training scripts at full length take hours, so the book side runs only those)."""
    ws = bs.Workspace(tmp_path)
    ours, book = _both_sides(ws, bs.scripts(), sorted(bs.DETERMINISTIC), cut=False, timeout=6 * 3600)
    assert all(r.returncode == 0 for r in ours.values()), {s: r.stderr[-800:] for s, r in ours.items() if r.returncode}
    for script in bs.DETERMINISTIC:
        assert bs.numbers(ours[script].stdout) == bs.numbers(book[script].stdout), script
