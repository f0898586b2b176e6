"""Training and tagging throughput of seqpipe's tagger, side by side in one process.

Variants at the flagship size (pipelines/pos_brown_bilstm.yaml: embeddings 100, BiLSTM 128):
word embeddings only, + the character BiLSTM word encoder (the flagship), the flagship with a CRF
output (forward algorithm in the loss), and the flagship with padded batches instead of length
buckets. Training: real (non-padding) tokens per second over steady-state epochs. Tagging: tokens
per second of Tagger.tag_lists (the code the SavedModel signature runs; argmax or Viterbi).
Rounds are interleaved so machine noise hits every variant alike; the table reports medians and
the ratio to the first row.

Data: a seeded sample of the Brown corpus (recipe brown, universal tags; prepared once).

Run:  python bench/tagger_throughput.py            (writes bench/results/tagger_throughput.md)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import cpu_name, write_results  # noqa: E402  (bench/ is on sys.path when run as a script)
from _timing import EpochTimer  # noqa: E402

from seqpipe._quiet import import_tensorflow  # noqa: E402

tf = import_tensorflow()
import keras  # noqa: E402

from seqpipe.data import load_splits  # noqa: E402
from seqpipe.data.config import DataConfig  # noqa: E402
from seqpipe.layers.char_words import CharWordEncoder  # noqa: E402
from seqpipe.layers.crf import CRF, CRFLoss  # noqa: E402
from seqpipe.layers.recurrent import recurrent_stack  # noqa: E402
from seqpipe.tasks.tagging.runtime import TagAccuracy, TagCrossEntropy, Tagger, tag_ids, tagging_dataset  # noqa: E402
from seqpipe.text import TOKENIZERS  # noqa: E402
from seqpipe.text.chars import CharEncoder, char_vocabulary  # noqa: E402
from seqpipe.text.encoder import TextEncoder  # noqa: E402

VARIANTS = [  # (label, chars, output, bucketing)
    ("words only, softmax", False, "softmax", True),
    ("words + char BiLSTM, softmax (flagship)", True, "softmax", True),
    ("words + char BiLSTM, CRF", True, "crf", True),
    ("words + char BiLSTM, softmax, padded batches", True, "softmax", False),
]


def build(chars, output, words, char_encoder, labels):
    keras.utils.set_random_seed(0)
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    inputs = {"token_ids": ids}
    x = keras.layers.Embedding(words.vocabulary_size, 100, mask_zero=True)(ids)
    if chars:
        inputs["char_ids"] = keras.Input((None, None), dtype="int32", name="char_ids")
        x = keras.layers.Concatenate()([x, CharWordEncoder(char_encoder.vocabulary_size, 32, 32)(inputs["char_ids"])])
    x = recurrent_stack(x, cell="lstm", units=128, layers=1, bidirectional=True)
    scores = keras.layers.Dense(len(labels), dtype="float32")(x)
    crf = CRF(len(labels)) if output == "crf" else None
    model = keras.Model(inputs, crf(scores) if crf else scores)
    model.compile(keras.optimizers.Adam(2e-3), loss=CRFLoss(crf) if crf else TagCrossEntropy(), metrics=[TagAccuracy()])
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=6000, help="training sentences (seeded sample of Brown)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per round (after one warm-up epoch)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "tagger_throughput.md"))
    args = parser.parse_args()

    cfg = DataConfig.model_validate({"source": {"recipe": "brown", "tagset": "universal", "limit": args.sentences},
                                     "split": {"valid": 0.0, "test": 0.2}})
    splits = load_splits(cfg, roles=["tokens", "tags"], seed=13, base_dir=Path("."))
    train, test = splits["train"], splits["test"]
    sentences = train["tokens"].tolist()
    labels = sorted({t for tags in train["tags"] for t in tags.split()}
                    | {t for tags in test["tags"] for t in tags.split()})
    kind = TOKENIZERS.get("whitespace")(None, True)
    words = TextEncoder("whitespace", kind.build_vocabulary(sentences, 20000, 2), 100)
    char_encoder = CharEncoder(char_vocabulary(sentences), 20)
    y = tag_ids(train, labels, "train")
    tokens = sum(len(t) for t in y)
    test_sentences = test["tokens"].tolist()
    test_tokens = sum(len(s.split()) for s in test_sentences)

    train_times = {v[0]: [] for v in VARIANTS}
    tag_times = {v[0]: [] for v in VARIANTS}
    models = {}
    for rnd in range(args.rounds):
        for label, chars, output, bucketing in VARIANTS:
            ds = tagging_dataset(words, char_encoder if chars else None, sentences, y, 32, shuffle=True, seed=rnd,
                                 bucketing=bucketing)
            if label not in models:
                models[label] = build(chars, output, words, char_encoder, labels)
                models[label].fit(ds, epochs=1, verbose=0)  # warm-up: tracing and first-epoch costs
            timer = EpochTimer()
            models[label].fit(ds, epochs=args.epochs, verbose=0, callbacks=[timer])
            train_times[label] += timer.times
            tagger = Tagger(models[label], words, char_encoder if chars else None, labels)
            tagger.tag_lists(test_sentences[:64])  # trace once
            t0 = time.perf_counter()
            tagger.tag_lists(test_sentences, batch_size=256)
            tag_times[label].append(time.perf_counter() - t0)
            print(f"round {rnd + 1} {label}: train {tokens / statistics.median(timer.times):,.0f} tok/s, "
                  f"tag {test_tokens / tag_times[label][-1]:,.0f} tok/s", flush=True)

    lines = [f"# Tagger throughput ({date.today()})", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
             "no GPU; float32.",
             f"Data: Brown (universal tags), {len(train):,} training sentences ({tokens:,} real tokens per epoch), "
             f"batch 32; tagging {len(test):,} held-out sentences ({test_tokens:,} tokens), batch 256. "
             f"{args.rounds} interleaved rounds x {args.epochs} timed epoch(s) after a warm-up epoch.",
             "Model: embeddings 100, char BiLSTM 32+32 (where used), BiLSTM 128, as pipelines/pos_brown_bilstm.yaml.",
             "Command: `python bench/tagger_throughput.py`", "",
             "| variant | median epoch (s) | training tokens/s | ratio | tagging tokens/s | ratio |",
             "|---|---|---|---|---|---|"]
    base_train = base_tag = None
    for label, *_ in VARIANTS:
        epoch = statistics.median(train_times[label])
        train_rate, tag_rate = tokens / epoch, test_tokens / statistics.median(tag_times[label])
        base_train, base_tag = base_train or train_rate, base_tag or tag_rate
        lines.append(f"| {label} | {epoch:.1f} | {train_rate:,.0f} | {train_rate / base_train:.2f} | "
                     f"{tag_rate:,.0f} | {tag_rate / base_tag:.2f} |")
    write_results(args.output, lines)


if __name__ == "__main__":
    main()
