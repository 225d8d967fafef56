"""Running the book's scripts (../shared/book-code/ch01-ch08) through nnscratch.book, and as the book ships them.

``rewrite`` changes only a script's import lines (``from common.X`` -> ``from nnscratch.book.common.X``,
``from dataset.mnist`` -> ``from nnscratch.book.dataset.mnist``, a chapter-local module gets its chapter)
and, for the quick run, cuts its loop counts and data (:data:`CUTS`, applied the same way to the book's
copy). ``Workspace`` holds a temporary copy of the book's tree with a local ``dataset/mnist.pkl`` built
from nnscratch's loader (the book's loader cannot download here) and stand-ins for the Lena pictures.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BOOK = Path(__file__).resolve().parents[1].parent / "shared" / "book-code"
CHAPTERS = [f"ch0{i}" for i in range(1, 9)]
#: scripts that read the Lena pictures the book's copy here lacks: both sides get a stand-in picture
LENA = {"ch01/img_show.py": "lena.png", "ch07/apply_filter.py": "lena_gray.png"}
#: no randomness: nnscratch must print the very numbers the book's code prints
DETERMINISTIC = {
    "ch01/hungry.py", "ch01/man.py", "ch01/simple_graph.py", "ch01/sin_graph.py", "ch01/sin_cos_graph.py",
    "ch01/img_show.py", "ch02/and_gate.py", "ch02/nand_gate.py", "ch02/or_gate.py", "ch02/xor_gate.py",
    "ch03/mnist_show.py", "ch03/neuralnet_mnist.py", "ch03/neuralnet_mnist_batch.py", "ch03/relu.py",
    "ch03/sigmoid.py", "ch03/step_function.py", "ch03/sig_step_compare.py", "ch04/gradient_1d.py",
    "ch04/gradient_2d.py", "ch04/gradient_method.py", "ch04/two_layer_net.py", "ch05/buy_apple.py",
    "ch05/buy_apple_orange.py", "ch05/layer_naive.py", "ch05/two_layer_net.py", "ch06/optimizer_compare_naive.py",
    "ch07/apply_filter.py", "ch07/simple_convnet.py", "ch08/awesome_net.py", "ch08/deep_convnet.py",
    "ch08/half_float_network.py", "ch08/misclassified_mnist.py",
}
_LOAD = r"^(\(x_train, t_train\), \(x_test, t_test\) = load_mnist\(.*\))$"


def _data_cut(n_train: int, n_test: int) -> tuple[str, str]:
    return _LOAD, (r"\1\nx_train, t_train = x_train[:%d], t_train[:%d]\nx_test, t_test = x_test[:%d], t_test[:%d]"
                   % (n_train, n_train, n_test, n_test))


#: the quick run's cuts (regex, replacement), the same on both sides; the full run has none
CUTS: dict[str, list[tuple[str, str]]] = {
    "ch04/train_neuralnet.py": [_data_cut(1000, 200), (r"iters_num = 10000", "iters_num = 30")],
    "ch05/train_neuralnet.py": [_data_cut(1000, 200), (r"iters_num = 10000", "iters_num = 30")],
    "ch06/batch_norm_gradient_check.py": [(r"hidden_size_list=\[100, 100\]", "hidden_size_list=[3, 3]")],
    "ch05/gradient_check.py": [(r"hidden_size=50", "hidden_size=2")],
    "ch06/batch_norm_test.py": [(r"max_epochs = 20", "max_epochs = 2"), (r"num=16", "num=2")],
    "ch06/hyperparameter_optimization.py": [(r"optimization_trial = 100", "optimization_trial = 2"),
                                            (r"epocs=50", "epocs=2")],
    "ch06/optimizer_compare_mnist.py": [(r"max_iterations = 2000", "max_iterations = 20")],
    "ch06/weight_init_compare.py": [(r"max_iterations = 2000", "max_iterations = 20")],
    "ch06/overfit_dropout.py": [(r"epochs=301", "epochs=3")],
    "ch06/overfit_weight_decay.py": [(r"max_epochs = 201", "max_epochs = 3")],
    "ch06/weight_init_activation_histogram.py": [(r"np.random.randn\(1000, 100\)", "np.random.randn(200, 100)")],
    "ch07/train_convnet.py": [_data_cut(300, 100), (r"max_epochs = 20", "max_epochs = 1")],
    "ch08/train_deepnet.py": [_data_cut(200, 100), (r"epochs=20", "epochs=1")],
    "ch08/half_float_network.py": [(r"sampled = 10000", "sampled = 300")],
    "ch08/misclassified_mnist.py": [_data_cut(100, 500)],
}


def scripts() -> list[str]:
    """Every script of ch01-ch08 as 'chNN/name.py'."""
    return sorted(f"{ch}/{p.name}" for ch in CHAPTERS for p in (BOOK / ch).glob("*.py"))


def rewrite(source: str, script: str, cut: bool, nnscratch: bool = True) -> str:
    """The script with its book imports prefixed (when ``nnscratch``) and, when ``cut``, its loops cut."""
    chapter = script.split("/")[0]
    local = {p.stem for p in (BOOK / chapter).glob("*.py")}
    lines = []
    for line in source.splitlines():
        m = re.match(r"^(\s*)from (\w+)(\.\w+)? import (.*)$", line)
        if nnscratch and m:
            indent, top, sub, names = m.groups()
            if top in ("common", "dataset"):
                line = f"{indent}from nnscratch.book.{top}{sub or ''} import {names}"
            elif top in local and not sub:
                line = f"{indent}from nnscratch.book.{chapter}.{top} import {names}"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    for pattern, repl in (CUTS.get(script, []) if cut else []):
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n, f"{script}: the cut {pattern!r} no longer matches"
    return text


def numbers(text: str) -> list[str]:
    """The numbers a script printed, as text (so 0.9352 and 0.93520 differ, as they would to a reader)."""
    return re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0


class Workspace:
    """Temporary trees: ``book/`` (the book's code with a local mnist.pkl) and ``nn/`` (rewritten scripts only)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.book = root / "book"
        self.nn = root / "nn"
        for part in [*CHAPTERS, "common", "dataset"]:
            shutil.copytree(BOOK / part, self.book / part, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
        (self.nn / "dataset").mkdir(parents=True)
        self._mnist_pickle(self.book / "dataset" / "mnist.pkl")
        for name in LENA.values():
            for tree in (self.book, self.nn):
                self._stand_in(tree / "dataset" / name)

    @staticmethod
    def _mnist_pickle(path: Path) -> None:
        """The book's mnist.pkl (uint8 images (N, 784), uint8 labels), made from nnscratch's loader."""
        from nnscratch.datasets import load_mnist

        (x, t), (xt, tt) = load_mnist(normalize=False, flatten=True)
        data = {"train_img": np.asarray(x, np.uint8), "train_label": np.asarray(t, np.uint8),
                "test_img": np.asarray(xt, np.uint8), "test_label": np.asarray(tt, np.uint8)}
        path.write_bytes(pickle.dumps(data, protocol=4))

    @staticmethod
    def _stand_in(path: Path) -> None:
        """A 256x256 picture in place of Lena: the first MNIST test digit, enlarged, with a gradient."""
        from nnscratch.datasets import load_mnist_sample
        from nnscratch.plotting import pyplot

        (_, _), (x, _) = load_mnist_sample(flatten=False)
        img = np.kron(x[0, 0], np.ones((9, 9)))[:256, :256]
        img = np.pad(img, ((0, 256 - img.shape[0]), (0, 256 - img.shape[1])))
        img = 0.8 * img + 0.2 * np.linspace(0, 1, 256)[None, :]
        rgb = np.stack([img, img * 0.9, img * 0.8], axis=-1) if path.name == "lena.png" else img
        pyplot().imsave(path, rgb, cmap=None if rgb.ndim == 3 else "gray")
        if path.name == "lena_gray.png":  # the book reads it as one channel
            from PIL import Image

            Image.open(path).convert("L").save(path)

    def run_many(self, scripts: list[str], nnscratch: bool, cut: bool, timeout: float = 600) -> dict[str, Run]:
        """Run several scripts in one interpreter (tests/book_runner.py), each from its chapter folder."""
        targets = [self._prepare(s, nnscratch, cut) for s in scripts]
        root = self.nn if nnscratch else self.book
        proc = subprocess.run([sys.executable, str(Path(__file__).with_name("book_runner.py")), str(root),
                               *[str(t.relative_to(root)) for t in targets]], cwd=root, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)
        if "\x00" not in proc.stdout:
            raise RuntimeError(f"the script runner failed: {proc.stderr[-2000:]}")
        results = json.loads(proc.stdout.split("\x00", 1)[1])
        return {s: Run(r["returncode"], r["stdout"], r["stderr"], r["seconds"]) for s, r in zip(scripts, results)}

    @staticmethod
    def env() -> dict[str, str]:
        return {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
                "PYTHONWARNINGS": "ignore"}

    def _prepare(self, script: str, nnscratch: bool, cut: bool) -> Path:
        chapter = script.split("/")[0]
        if nnscratch:
            folder = self.nn / chapter
            if not folder.exists():
                shutil.copytree(BOOK / chapter, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        else:
            folder = self.book / chapter
        source = (BOOK / script).read_text(encoding="utf-8")
        target = folder / f"_run_{Path(script).name}"
        target.write_text(rewrite(source, script, cut, nnscratch), encoding="utf-8")
        return target

    def run(self, script: str, nnscratch: bool, cut: bool, timeout: float = 600) -> Run:
        """Run one script in a fresh interpreter from its chapter folder, headless."""
        target = self._prepare(script, nnscratch, cut)
        proc = subprocess.run([sys.executable, target.name], cwd=target.parent, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)
        return Run(proc.returncode, proc.stdout, proc.stderr)
