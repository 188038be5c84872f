#!/usr/bin/env python3
"""Writes the FHRMA peer analyses (peer-analyses/{A,MD,W}_std.mat) in the format of
wmfb-reference-train (NAME.txt with ACC/DEC lines in minutes, NAME_baseline.csv at 4 Hz), so that
`ctg-analyze eval morphology --reference OUT/W` can score our analysis against another published
method on the 90 test signals, whose WMFB reference is held out.

Usage: peer_reference.py FHRMA_DIR OUT_DIR   (needs numpy and scipy)
"""

import os
import sys

import numpy as np
import scipy.io


def events(x):
    a = np.atleast_2d(np.asarray(x, dtype=float))
    if a.size == 0:
        return []
    return [(float(s), float(e)) for s, e in a.reshape(-1, 2)]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fhrma, out = sys.argv[1], sys.argv[2]
    for method in ("A", "MD", "W"):
        path = os.path.join(fhrma, "peer-analyses", f"{method}_std.mat")
        data = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["data"]
        dest = os.path.join(out, method)
        os.makedirs(dest, exist_ok=True)
        for rec in data:
            name = os.path.splitext(str(rec.filename))[0]
            baseline = np.atleast_1d(np.asarray(rec.baseline, dtype=float))
            if not np.all(np.isfinite(baseline)):
                # ctg-analyze reads numbers only; none of the shipped analyses has gaps.
                sys.exit(f"{path}: {name}: the baseline has non-finite values")
            with open(os.path.join(dest, f"{name}_baseline.csv"), "w") as f:
                for v in baseline:
                    f.write(f"{v:.3f}\n")
            with open(os.path.join(dest, f"{name}.txt"), "w") as f:
                f.write(f"# peer method {method} ({os.path.basename(path)})\n")
                for s, e in events(rec.accelerations):
                    f.write(f"ACC {s:.6f} {e:.6f}\n")
                for s, e in events(rec.decelerations):
                    f.write(f"DEC {s:.6f} {e:.6f}\n")
        print(f"{method}: {len(data)} recordings -> {dest}")


if __name__ == "__main__":
    main()
