"""Training throughput of seqpipe's classifier path, side by side in one process.

Measures real (non-padding) tokens per second over steady-state epochs for:
length bucketing on/off, float32 vs mixed_bfloat16, LSTM vs GRU, at the flagship size and
a larger size. Data: the training split of the sentence-polarity recipe (prepared once).
Rounds are interleaved so that machine noise hits every variant alike; the table reports
the median epoch and the ratio to the first variant of each size.

Run:  python bench/train_throughput.py            (writes bench/results/train_throughput.md)
"""

from __future__ import annotations

import argparse
import os
import statistics
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import cpu_name, write_results  # noqa: E402  (bench/ is on sys.path when run as a script)
from _timing import EpochTimer  # noqa: E402

from seqpipe._quiet import import_tensorflow  # noqa: E402

tf = import_tensorflow()
import keras  # noqa: E402

from seqpipe.data import load_splits  # noqa: E402
from seqpipe.data.batching import token_dataset  # noqa: E402
from seqpipe.data.config import DataConfig  # noqa: E402
from seqpipe.layers.pooling import MaskedPooling  # noqa: E402
from seqpipe.layers.recurrent import recurrent_stack  # noqa: E402
from seqpipe.tasks.classification.runtime import label_ids  # noqa: E402
from seqpipe.text import TOKENIZERS  # noqa: E402
from seqpipe.text.encoder import TextEncoder  # noqa: E402

SIZES = {"flagship (emb 64, 2x BiLSTM 32)": dict(dim=64, units=32, layers=2),
         "large (emb 256, 1x BiLSTM 256)": dict(dim=256, units=256, layers=1)}
VARIANTS = [  # (label, cell, precision, bucketing)
    ("lstm float32 bucketed", "lstm", "float32", True),
    ("lstm float32 padded batches", "lstm", "float32", False),
    ("lstm mixed_bfloat16 bucketed", "lstm", "mixed_bfloat16", True),
    ("gru float32 bucketed", "gru", "float32", True),
]


def build(size, cell, precision, vocab):
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(vocab, size["dim"], mask_zero=True)(ids)
    x = recurrent_stack(x, cell=cell, units=size["units"], layers=size["layers"], bidirectional=True, residual=True)
    out = keras.layers.Dense(2, activation="softmax", dtype="float32")(MaskedPooling("max")(x))
    model = keras.Model(ids, out)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per round (after one warm-up epoch)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "train_throughput.md"))
    args = parser.parse_args()

    cfg = DataConfig.model_validate({"source": {"recipe": "sentence-polarity"}, "split": {"valid": 0.1, "test": 0.15}})
    train = load_splits(cfg, roles=["text", "label"], seed=13, base_dir=Path("."))["train"]
    kind = TOKENIZERS.get("word")(None, True)
    encoder = TextEncoder("word", kind.build_vocabulary(train["text"].tolist(), 12000, 2), 64)
    ids = encoder.tokenize(train["text"].tolist())
    y = label_ids(train, sorted(set(train["label"])), "train")
    real_tokens = int(ids.row_lengths().numpy().sum())

    results = {(s, v[0]): [] for s in SIZES for v in VARIANTS}
    models = {}
    for rnd in range(args.rounds):
        for size_name, size in SIZES.items():
            for label, cell, precision, bucketing in VARIANTS:
                key = (size_name, label)
                if key not in models:
                    models[key] = build(size, cell, precision, encoder.vocabulary_size)
                    ds = token_dataset(ids, y, 32, shuffle=True, seed=0, bucketing=bucketing)
                    models[key].fit(ds, epochs=1, verbose=0)  # warm-up: tracing and first-epoch costs
                keras.mixed_precision.set_global_policy(precision)
                timer = EpochTimer()
                ds = token_dataset(ids, y, 32, shuffle=True, seed=rnd, bucketing=bucketing)
                models[key].fit(ds, epochs=args.epochs, verbose=0, callbacks=[timer])
                results[key] += timer.times
                print(f"round {rnd + 1} {size_name} {label}: {real_tokens / statistics.median(timer.times):,.0f} tok/s",
                      flush=True)

    lines = [f"# Training throughput ({date.today()})", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores, "
             f"TensorFlow {tf.__version__}, Keras {keras.__version__}, no GPU.",
             f"Data: sentence-polarity training split, {len(train):,} sentences, "
             f"{real_tokens:,} real tokens per epoch; "
             f"batch 32; {args.rounds} interleaved rounds x {args.epochs} timed epochs after a warm-up epoch.",
             "Command: `python bench/train_throughput.py`", "",
             "| model | variant | median epoch (s) | real tokens/s | ratio to first row of the model |",
             "|---|---|---|---|---|"]
    for size_name in SIZES:
        base = None
        for label, *_ in VARIANTS:
            median = statistics.median(results[(size_name, label)])
            rate = real_tokens / median
            base = base or rate
            lines.append(f"| {size_name} | {label} | {median:.2f} | {rate:,.0f} | {rate / base:.2f} |")
    write_results(args.output, lines)


if __name__ == "__main__":
    main()
