#!/usr/bin/env python3
"""False-signal experiment: a bidirectional GRU over the sequence of 4-s chunks of each
recording, scored exactly like `ctg-analyze train false-signal --cv` (per sample, the same
recording-level folds), next to the shipped gradient-boosted stack and the average of both.

Input: the file written by
    ctg-analyze train false-signal --cv --dump-chunks CHUNKS.bin ...
(CHUNKS.bin and CHUNKS.json: every chunk's level-1 features, labelled sample counts, fold and
the stack's out-of-fold answers). Nothing here is shipped: the library has no sequence model.

Usage: sequence_model.py CHUNKS.bin [--epochs 12] [--hidden 32] [--with-p1]
(needs numpy and torch; about 8 min per run with 12 epochs on two idle cores)
"""

import argparse
import json

import numpy as np
import torch
from torch import nn


def load(path, with_p1):
    layout = json.load(open(path.rsplit(".", 1)[0] + ".json"))
    cols = layout["columns"]
    col = {c: i for i, c in enumerate(cols)}
    x = np.fromfile(path, dtype="<f4").reshape(-1, len(cols))
    names = cols[14:] + ["fhr_mean", "mhr_mean", "toco_mean", "fhr_fraction", "mhr_fraction", "has_row"]
    if with_p1:
        names.append("p1")
    f = x[:, [col[c] for c in names]]
    present = np.isfinite(f)
    # Robust scaling; missing values as 0 with a flag.
    med = np.nanmedian(f, 0)
    lo, hi = np.nanpercentile(f, [10, 90], 0)
    z = np.clip((f - med) / np.maximum(hi - lo, 1e-3), -5, 5)
    z = np.where(present, z, 0.0)
    feats = np.concatenate([z, (~present[:, :1]).astype(np.float32)], 1).astype(np.float32)
    rec = x[:, col["recording"]].astype(int)
    bounds = [(a, b) for a, b in zip(np.searchsorted(rec, np.arange(rec.max() + 1)),
                                     np.searchsorted(rec, np.arange(rec.max() + 1), "right"))]
    return {
        "x": feats,
        "fs": x[:, col["fs_samples"]],
        "ts": x[:, col["ts_samples"]],
        "p2": x[:, col["p2"]],
        "bounds": bounds,
        "val": np.array([x[a, col["validation"]] > 0.5 for a, _ in bounds]),
        "fold": np.array([int(x[a, col["fold"]]) for a, _ in bounds]),
    }


class Net(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(d, 64), nn.ReLU())
        self.gru = nn.GRU(64, hidden, num_layers=2, batch_first=True, bidirectional=True, dropout=0.1)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x):
        return self.out(self.gru(self.inp(x))[0]).squeeze(-1)


def windows(d, recs, win, batch, rng):
    """Random windows of `win` chunks of the labelled recordings, in batches."""
    items = []
    for r in recs:
        a, b = d["bounds"][r]
        if (d["fs"][a:b] + d["ts"][a:b]).sum() == 0:
            continue
        for _ in range(max(1, -(-(b - a) // win))):
            s = a + (rng.integers(0, b - a - win + 1) if b - a > win else 0)
            items.append((s, min(s + win, b)))
    rng.shuffle(items)
    for i in range(0, len(items), batch):
        group = items[i:i + batch]
        n = max(b - a for a, b in group)
        xb = np.zeros((len(group), n, d["x"].shape[1]), np.float32)
        yb = np.zeros((len(group), n), np.float32)
        wb = np.zeros_like(yb)
        for j, (a, b) in enumerate(group):
            xb[j, :b - a] = d["x"][a:b]
            yb[j, :b - a] = d["fs"][a:b] > d["ts"][a:b]
            wb[j, :b - a] = d["fs"][a:b] + d["ts"][a:b]
        yield torch.from_numpy(xb), torch.from_numpy(yb), torch.from_numpy(wb)


def train(d, recs, epochs, hidden, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Net(d["x"].shape[1], hidden)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
    for _ in range(epochs):
        net.train()
        for xb, yb, wb in windows(d, recs, 512, 32, rng):
            loss = nn.functional.binary_cross_entropy_with_logits(net(xb), yb, reduction="none")
            loss = (loss * wb).sum() / wb.sum()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
    return net


def predict(d, net, recs, out):
    net.eval()
    with torch.no_grad():
        for r in recs:
            a, b = d["bounds"][r]
            out[a:b] = torch.sigmoid(net(torch.from_numpy(d["x"][a:b])[None]))[0].numpy()


def score(d, p, recs, t):
    """Per-sample sensitivity and PPV, as `ctg-analyze` scores them."""
    tp = fn = fp = 0.0
    for r in recs:
        a, b = d["bounds"][r]
        flag = p[a:b] >= t
        tp += d["fs"][a:b][flag].sum()
        fn += d["fs"][a:b][~flag].sum()
        fp += d["ts"][a:b][flag].sum()
    return f"{100 * tp / (tp + fn):.2f} % / {100 * tp / max(tp + fp, 1):.2f} %"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chunks")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--with-p1", action="store_true", help="also feed the stack's level-1 answers")
    args = ap.parse_args()
    torch.set_num_threads(2)
    d = load(args.chunks, args.with_p1)
    train_recs = np.where(~d["val"])[0]
    val_recs = np.where(d["val"])[0]
    oof = np.zeros(len(d["fs"]), np.float32)
    for fold in sorted(set(d["fold"][train_recs])):
        inside = train_recs[d["fold"][train_recs] != fold]
        held = train_recs[d["fold"][train_recs] == fold]
        predict(d, train(d, inside, args.epochs, args.hidden, fold), held, oof)
        print(f"fold {fold} done", flush=True)
    predict(d, train(d, train_recs, args.epochs, args.hidden, 99), val_recs, oof)
    mean = (oof + d["p2"]) / 2
    for name, recs in [("train cross-validated", train_recs), ("validation (unseen)", val_recs)]:
        for t in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]:
            print(f"{name}, threshold {t:.1f} (sensitivity / PPV): GRU {score(d, oof, recs, t)} | "
                  f"stack {score(d, d['p2'], recs, t)} | average {score(d, mean, recs, t)}")


if __name__ == "__main__":
    main()
