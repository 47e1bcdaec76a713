"""int8 dynamic quantisation of the cached ONNX export: is it faster, and does dense search still agree with fp32?

    PYTHONPATH=src .venv/bin/python benchmarks/quantisation.py --index INDEX [--passages 600] [QUESTIONS.jsonl ...]

Issue 14 allows an int8 model only if the top-10 dense results agree with fp32's at >= 0.99. This script makes
each variant with onnxruntime's own tool (``onnxruntime.quantization.quantize_dynamic``: weights int8 ahead of
time, activations quantised per batch at run time; see onnxruntime's "Quantize ONNX models" docs), embeds the
same random sample of the index's passages and the questions with each, and prints per variant: top-10
agreement (mean over questions of |top-10 fp32 ∩ top-10 variant| / 10, both sides embedded by their own model),
passage cosine to fp32 (mean, min) and the speed-up of embedding the sample (one run, same texts, variants in
turn: compare the ratios, not the seconds, on a shared machine). ``reduce_range`` (7-bit weights) is onnxruntime's
advice for CPUs without VNNI, such as this one (AVX2 only). The export is read from the cache and never changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"


def variants():
    from onnxruntime.quantization import QuantType

    return {
        "fp32": None,
        "uint8 per tensor": dict(weight_type=QuantType.QUInt8, per_channel=False, reduce_range=False),
        "int8 per channel": dict(weight_type=QuantType.QInt8, per_channel=True, reduce_range=False),
        "int8 per channel, 7-bit": dict(weight_type=QuantType.QInt8, per_channel=True, reduce_range=True),
        "uint8 per channel, 7-bit": dict(weight_type=QuantType.QUInt8, per_channel=True, reduce_range=True),
    }


def make_variant(export: Path, folder: Path, settings: dict | None) -> None:
    """A copy of the export folder whose model.onnx is quantised with ``settings`` (None: the fp32 original)."""
    from onnxruntime.quantization import quantize_dynamic

    folder.mkdir(parents=True)
    for item in export.iterdir():
        if item.name != "model.onnx":
            shutil.copy(item, folder / item.name)
    if settings is None:
        shutil.copy(export / "model.onnx", folder / "model.onnx")
    else:
        quantize_dynamic(str(export / "model.onnx"), str(folder / "model.onnx"), **settings)


def embed(runtime, texts: list[str], batch: int = 32) -> np.ndarray:
    """Unit vectors (len(texts), dim), batches of similar length as the build makes them."""
    order = np.argsort([len(t) for t in texts])
    out = None
    for lo in range(0, len(texts), batch):
        rows = order[lo : lo + batch]
        pooled = runtime.pooled([texts[i] for i in rows])
        if out is None:
            out = np.zeros((len(texts), pooled.shape[1]), np.float32)
        out[rows] = pooled
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="*", type=Path, default=[EVAL / "dev.jsonl", EVAL / "dev2.jsonl"])
    parser.add_argument("--index", required=True, help="an index built with the default model")
    parser.add_argument("--passages", type=int, default=600, help="random passages of the index to embed")
    args = parser.parse_args()

    from tripsearch import Index
    from tripsearch.embed.cache import check_export, onnx_status
    from tripsearch.embed.runtime import Runtime

    status = onnx_status()
    if status.path is None:
        raise SystemExit(f"no ONNX export in the cache: {status.reason}")
    meta = check_export(status.path, status.fingerprint, status.model, status.path.parent)
    idx = Index.open(args.index)
    rows = np.random.default_rng(0).choice(len(idx.passages), min(args.passages, len(idx.passages)), replace=False)
    texts = [idx.passages[int(r)].text for r in rows]
    questions = [json.loads(line)["question"] for f in args.questions for line in f.open() if line.strip()]

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in variants().items():
            folder = Path(tmp) / str(len(results))
            make_variant(status.path, folder, settings)
            runtime = Runtime(folder, meta)
            embed(runtime, texts[:32])  # warm-up: the first run allocates
            started = time.perf_counter()
            passages = embed(runtime, texts)
            seconds = time.perf_counter() - started
            results[name] = (passages, embed(runtime, questions), seconds)
            print(f"embedded with {name}: {seconds:.1f} s", flush=True)

    base_p, base_q, base_s = results["fp32"]
    base_top = np.argsort(-(base_q @ base_p.T), axis=1)[:, :10]
    print(f"\n{len(questions)} questions, {len(texts)} passages")
    print(f"{'variant':26s} {'agree@10':>9s} {'cos mean':>9s} {'cos min':>8s} {'speed-up':>9s}")
    for name, (p, q, seconds) in results.items():
        top = np.argsort(-(q @ p.T), axis=1)[:, :10]
        agree = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(base_top, top)]))
        cos = (p * base_p).sum(axis=1)
        print(f"{name:26s} {agree:9.4f} {cos.mean():9.4f} {cos.min():8.4f} {base_s / seconds:8.2f}x")


if __name__ == "__main__":
    main()
