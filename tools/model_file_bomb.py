"""A model file holding a 512 MiB zeroed member (0.5 MB on disk, deflated): how long and how much memory
`serialization.load` takes to refuse it. Prints both; tests/test_bad_input.py asserts the memory.

    python tools/model_file_bomb.py [--mib 512] [--pythonpath OLD_CHECKOUT/src]

The refusal runs in a fresh subprocess so its peak resident size (ru_maxrss) is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nnscratch import serialization
from nnscratch.models import MultiLayerNet

CHILD = r"""
import json, resource, sys, time, tracemalloc
from nnscratch import serialization
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
try:
    serialization.load(sys.argv[1])
    outcome = "loaded"
except serialization.ModelFileError as exc:
    outcome = str(exc)
seconds = time.perf_counter() - t0
traced = tracemalloc.get_traced_memory()[1]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "maxrss_extra_kib": after - before, "tracemalloc_peak": traced,
                  "outcome": outcome}))
"""


def make_bomb(path: Path, mib: int = 512, level: int = 9) -> Path:
    """A real model file (MultiLayerNet 4-5-10) whose ``param/affine1.W`` member is ``mib`` MiB of zeros,
    deflated at ``level`` (9: about 0.5 MB on disk; 1: about 2.3 MB, written faster)."""
    good = serialization.save(MultiLayerNet(4, [5], 10, seed=0), path.with_name("good.npz"))
    n = mib * 2**20 // 4
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = (n,)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as out:
        for info in src.infolist():
            if info.filename != "param/affine1.W.npy":
                out.writestr(info.filename, src.read(info))
                continue
            with out.open(info.filename, "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, header)
                chunk = bytes(2**20)
                for _ in range(mib):
                    f.write(chunk)
    good.unlink()
    return path


def measure(path: Path, pythonpath: str | None = None) -> dict:
    """Run the refusal in a fresh interpreter; its seconds, extra peak RSS (KiB) and message.

    ``pythonpath``: a source tree to load nnscratch from instead (e.g. an older checkout, for a 'before')."""
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mib", type=int, default=512)
    p.add_argument("--pythonpath", default=None, help="load nnscratch from this source tree (a 'before' measurement)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = make_bomb(Path(d) / "bomb.npz", args.mib)
        r = measure(path, args.pythonpath)
        print(f"file: {path.stat().st_size / 1e6:.2f} MB on disk, member {args.mib} MiB of zeros")
        print(f"refused in {r['seconds'] * 1000:.1f} ms, extra peak RSS {r['maxrss_extra_kib'] / 1024:.1f} MiB, "
              f"tracemalloc peak {r['tracemalloc_peak'] / 2**20:.2f} MiB")
        print(f"message: {r['outcome']}")


if __name__ == "__main__":
    main()
