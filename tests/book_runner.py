"""Run several of the book's scripts in one interpreter (numpy and matplotlib imported once), each as
``__main__`` from its own folder, and print a JSON list of {script, returncode, stdout, stderr}.

Usage: python book_runner.py ROOT SCRIPT... where each SCRIPT is 'chNN/_run_name.py' under ROOT. Modules a
script imported from ROOT (the book's common/, dataset/, chapter modules) are forgotten before the next one.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import time
import traceback
from pathlib import Path


def main(root: Path, scripts: list[str]) -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base_path, results = list(sys.path), []
    for script in scripts:
        path = root / script
        os.chdir(path.parent)
        sys.path[:] = [str(path.parent), *base_path]
        out, err, code, start = io.StringIO(), io.StringIO(), 0, time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(str(path), run_name="__main__")
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - a failing script is a result, not the runner's failure
                traceback.print_exc()
                code = 1
        plt.close("all")
        for name, mod in list(sys.modules.items()):
            file = getattr(mod, "__file__", None)
            if file and Path(path.parent, file).resolve().is_relative_to(root.resolve()):
                del sys.modules[name]
        results.append({"script": script, "returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                        "seconds": time.perf_counter() - start})
    return results


if __name__ == "__main__":
    print("\x00" + json.dumps(main(Path(sys.argv[1]), sys.argv[2:])))
