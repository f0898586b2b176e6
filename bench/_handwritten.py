"""Hand-written Keras scripts for B1: each smoke pipeline's task, model shapes and data slice, without seqpipe.

``python -m bench._handwritten TASK WORKDIR`` (B1 runs it under ``bench._probe``). Each script reads the
recipe's cached table (``~/.cache/seqpipe/datasets``) with pandas, takes the smoke pipeline's slice
(seeded shuffle, ``limit`` rows, the same split fractions), tokenizes with stock tools (Python counters,
the ``sentencepiece`` package), batches with ``tf.data`` (length buckets at length quantiles, as
seqpipe's ``train.bucketing``), builds the same architecture from stock Keras layers (a few lines of
custom layer where Keras has none: masked max pooling, the attention decoder), trains with Adam 2e-3 and
clipnorm 5 for the smoke pipeline's epochs with validation after each, evaluates on the test slice and
saves the weights. What it leaves out of a seqpipe run: tracking, the run folder's reports and plots,
validation BLEU with beam search (translation), samples (language model), per-class reports and the
SavedModel export with in-graph tokenization.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

DATASETS = Path.home() / ".cache" / "seqpipe" / "datasets"
SEED = 13
PAD, UNK, START, END = 0, 1, 2, 3


# -- data ------------------------------------------------------------------------------------------
def slice_rows(frame: pd.DataFrame, limit: int, valid: float, test: float) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    frame = frame.iloc[rng.permutation(len(frame))[:limit]].reset_index(drop=True)
    n_valid, n_test = round(len(frame) * valid), round(len(frame) * test)
    return {"valid": frame[:n_valid], "test": frame[n_valid:n_valid + n_test], "train": frame[n_valid + n_test:]}


def vocabulary(token_lists, size: int, min_frequency: int) -> dict[str, int]:
    counts = collections.Counter(t for tokens in token_lists for t in tokens)
    kept = [t for t, c in counts.most_common(size) if c >= min_frequency]
    return {t: i + 4 for i, t in enumerate(kept)}


def ids_of(tokens, vocab, max_length) -> list[int]:
    return [vocab.get(t, UNK) for t in tokens[:max_length]]


def padded(rows: list[list[int]]) -> np.ndarray:
    out = np.zeros((len(rows), max(1, max(map(len, rows)))), dtype="int32")
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def bucketed(ds: tf.data.Dataset, lengths: np.ndarray, batch_size: int, length_fn) -> tf.data.Dataset:
    """Batches of similar length: 8 buckets with boundaries at the length quantiles."""
    boundaries = sorted({int(q) + 1 for q in np.quantile(lengths, np.linspace(0, 1, 9)[1:-1]) if q >= 1})
    return ds.bucket_by_sequence_length(length_fn, boundaries, [batch_size] * (len(boundaries) + 1))


def train_set(columns: tuple, lengths: np.ndarray, batch_size: int, length_fn, cut) -> tf.data.Dataset:
    """Shuffled every epoch, each row cut to its length, bucketed."""
    n = len(lengths)
    ds = tf.data.Dataset.from_tensor_slices((*columns, lengths)).shuffle(n, seed=SEED, reshuffle_each_iteration=True)
    return bucketed(ds.map(cut), lengths, batch_size, length_fn).prefetch(tf.data.AUTOTUNE)


def masked_token_loss(label_smoothing: float = 0.0):
    def loss(y_true, logits):
        y_true = tf.cast(y_true, tf.int32)
        mask = tf.cast(y_true != 0, tf.float32)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        nll = -tf.gather(log_probs, y_true, batch_dims=2)
        if label_smoothing:
            nll = (1 - label_smoothing) * nll - label_smoothing * tf.reduce_mean(log_probs, axis=-1)
        return tf.reduce_sum(nll * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
    return loss


def adam():
    return keras.optimizers.Adam(2e-3, clipnorm=5.0)


# -- classification: sentiment_bilstm smoke ---------------------------------------------------------
class MaskedMax(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        return keras.ops.max(keras.ops.where(keras.ops.expand_dims(mask, -1), x, -1e9), axis=1)

    def compute_mask(self, x, mask=None):
        return None


def classification(workdir: Path) -> dict:
    frame = pd.read_csv(DATASETS / "sentence-polarity.tsv", sep="\t", quoting=3, keep_default_na=False)
    splits = slice_rows(frame, 600, 0.15, 0.15)
    split = {k: [t.lower().split() for t in v["text"]] for k, v in splits.items()}
    vocab = vocabulary(split["train"], 2000 - 4, 2)
    labels = sorted(set(splits["train"]["label"]))

    def arrays(name):
        rows = [ids_of(t, vocab, 64) for t in split[name]]
        y = np.array([labels.index(v) for v in splits[name]["label"]], dtype="int32")
        return padded(rows), np.array([max(1, len(r)) for r in rows]), y

    x, lengths, y = arrays("train")
    train = train_set((x, y), lengths, 32, lambda x, y: tf.shape(x)[0], lambda x, y, n: (x[:n], y))
    held = {k: tf.data.Dataset.from_tensor_slices(arrays(k)[::2]).batch(32) for k in ("valid", "test")}

    ids = keras.Input((None,), dtype="int32")
    h = keras.layers.Dropout(0.5)(keras.layers.Embedding(len(vocab) + 4, 16, mask_zero=True)(ids))
    for i in range(2):
        if i:
            h = keras.layers.Dropout(0.3)(h)
        h = keras.layers.Add()([h, keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True))(h)])
    out = keras.layers.Dense(len(labels), activation="softmax")(keras.layers.Dropout(0.5)(MaskedMax()(h)))
    model = keras.Model(ids, out)
    model.compile(adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, validation_data=held["valid"], epochs=2, verbose=2)
    return finish(model, held["test"], workdir)


# -- translation: translate_en_es smoke ---------------------------------------------------------------
def sentencepiece(texts: list[str], folder: Path, name: str, vocab_size: int):
    import sentencepiece as spm

    corpus = folder / f"{name}.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / name), vocab_size=vocab_size,
                                   model_type="unigram", character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2,
                                   eos_id=3, hard_vocab_limit=False, num_threads=2, minloglevel=2)
    return spm.SentencePieceProcessor(model_file=str(folder / f"{name}.model"))


class Decoder(keras.layers.Layer):
    """LSTM decoder with Bahdanau attention, input feeding and a dense bridge, teacher-forced over the target."""

    def __init__(self, vocab_size, embed_dim, units, memory_dim, dropout, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.units, self.memory_dim = embed_dim, units, memory_dim
        self.embedding = keras.layers.Embedding(vocab_size, embed_dim)
        self.cell = keras.layers.LSTMCell(units)
        self.w_query = keras.layers.Dense(units, use_bias=False)
        self.w_memory = keras.layers.Dense(units, use_bias=False)
        self.v = keras.layers.Dense(1, use_bias=False)
        self.combine = keras.layers.Dense(units, activation="tanh", use_bias=False)
        self.bridge_h, self.bridge_c = keras.layers.Dense(units, "tanh"), keras.layers.Dense(units, "tanh")
        self.projection = keras.layers.Dense(vocab_size)
        self.drop = keras.layers.Dropout(dropout)

    def build(self, *shapes):  # every sublayer before the loop: no variable may be created inside it
        self.embedding.build((None, None))
        self.cell.build((None, self.embed_dim + self.units + self.memory_dim))
        self.w_query.build((None, self.units))
        self.w_memory.build((None, None, self.memory_dim))
        self.v.build((None, None, self.units))
        self.combine.build((None, self.memory_dim + self.units))
        for dense in (self.bridge_h, self.bridge_c):
            dense.build((None, self.memory_dim))
        self.projection.build((None, self.units))

    def call(self, target_in, memory, mask, h, c, training=None):
        mask = tf.cast(mask, tf.bool)
        keys = self.w_memory(memory)
        h, c = self.bridge_h(h), self.bridge_c(c)
        feed = tf.zeros_like(h)
        steps = tf.transpose(self.drop(self.embedding(target_in), training=training), [1, 0, 2])
        outputs = tf.TensorArray(memory.dtype, size=tf.shape(steps)[0])

        def attend(query):
            scores = tf.squeeze(self.v(tf.tanh(keys + self.w_query(query)[:, None])), -1)
            weights = tf.nn.softmax(tf.where(mask, scores, -1e9))
            return tf.einsum("bs,bsm->bm", weights, memory)

        def body(t, h, c, feed, outputs):
            x = tf.concat([steps[t], feed, attend(h)], -1)
            y, (h, c) = self.cell(x, [h, c], training=training)
            feed = self.combine(tf.concat([attend(y), y], -1))
            return t + 1, h, c, feed, outputs.write(t, feed)

        *_, outputs = tf.while_loop(lambda t, *_: t < tf.shape(steps)[0], body, (0, h, c, feed, outputs))
        vectors = tf.transpose(outputs.stack(), [1, 0, 2])
        vectors.set_shape([None, None, self.units])
        return self.projection(self.drop(vectors, training=training))


def translation(workdir: Path) -> dict:
    frame = pd.read_csv(DATASETS / "bible-en-es.tsv", sep="\t", quoting=3, keep_default_na=False)
    splits = slice_rows(frame, 1200, 0.05, 0.05)
    src = sentencepiece(splits["train"]["source"].tolist(), workdir, "source", 600)
    tgt = sentencepiece(splits["train"]["target"].tolist(), workdir, "target", 600)

    def arrays(name):
        s = [r[:32] for r in src.encode(splits[name]["source"].tolist())]
        t = [r[:31] for r in tgt.encode(splits[name]["target"].tolist())]
        return padded(s), padded([[START] + r for r in t]), padded([r + [END] for r in t]), np.array([len(r) + 1
                                                                                                     for r in t])

    s, ti, to, lengths = arrays("train")
    slens = (s != 0).sum(axis=1)
    train = train_set((s, ti, to, slens), lengths, 64, lambda x, y: tf.shape(y)[0],
                      lambda s, ti, to, sl, n: ((s[:sl], ti[:n]), to[:n]))
    held = {}
    for k in ("valid", "test"):
        hs, hti, hto, _ = arrays(k)
        held[k] = tf.data.Dataset.from_tensor_slices(((hs, hti), hto)).batch(64)

    ids = keras.Input((None,), dtype="int32")
    target_in = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(src.vocab_size(), 16, mask_zero=True)(ids)
    memory, hf, cf, hb, cb = keras.layers.Bidirectional(keras.layers.LSTM(16, return_sequences=True,
                                                                           return_state=True))(x)
    mask = keras.layers.Lambda(lambda t: t != 0)(ids)
    h, c = keras.layers.Concatenate()([hf, hb]), keras.layers.Concatenate()([cf, cb])
    logits = Decoder(tgt.vocab_size(), 16, 32, 32, 0.2)(target_in, memory, mask, h, c)
    model = keras.Model([ids, target_in], logits)
    model.compile(adam(), masked_token_loss(0.1))
    model.fit(train, validation_data=held["valid"], epochs=2, verbose=2)
    return finish(model, held["test"], workdir)


# -- language model: shakespeare_char_lstm smoke -------------------------------------------------------
def language_model(workdir: Path) -> dict:
    frame = pd.read_json(DATASETS / "shakespeare.jsonl", lines=True)
    splits = slice_rows(frame, 6, 0.2, 0.2)
    vocab = vocabulary([list(t) for t in splits["train"]["text"]], 128 - 4, 1)

    def windows(name, shuffle):
        stream = np.array([i for text in splits[name]["text"] for i in [START] + ids_of(text, vocab, None)], "int32")
        n = (len(stream) - 1) // 100
        ds = tf.data.Dataset.from_tensor_slices((stream[:n * 100].reshape(n, 100),
                                                 stream[1:n * 100 + 1].reshape(n, 100)))
        if shuffle:
            ds = ds.shuffle(n, seed=SEED, reshuffle_each_iteration=True)
        return ds.batch(64).prefetch(tf.data.AUTOTUNE)

    ids = keras.Input((None,), dtype="int32")
    h = keras.layers.LSTM(32, return_sequences=True)(keras.layers.Embedding(len(vocab) + 4, 16)(ids))
    model = keras.Model(ids, keras.layers.Dense(len(vocab) + 4)(h))
    model.compile(adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(windows("train", True), validation_data=windows("valid", False), epochs=1, verbose=2)
    return finish(model, windows("test", False), workdir)


# -- tagging: pos_brown_bilstm smoke --------------------------------------------------------------------
class Spelling(keras.layers.Layer):
    """A vector per word from its characters: char embedding -> BiLSTM, over (batch * words, chars)."""

    def __init__(self, n_chars, dim, units, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.units = dim, units
        self.embedding = keras.layers.Embedding(n_chars, dim, mask_zero=True)
        self.rnn = keras.layers.Bidirectional(keras.layers.LSTM(units))

    def build(self, shape):
        self.embedding.build((None, None))
        self.rnn.build((None, None, self.dim))

    def call(self, chars):
        shape = tf.shape(chars)
        encoded = self.rnn(self.embedding(tf.reshape(chars, [-1, shape[2]])))
        return tf.reshape(encoded, [shape[0], shape[1], 2 * self.units])

    def compute_mask(self, chars, mask=None):
        return keras.ops.any(chars > 0, axis=-1)

    def compute_output_shape(self, shape):
        return (shape[0], shape[1], 2 * self.units)


def tagging(workdir: Path) -> dict:
    from seqpipe.data.tagsets import map_tags  # the Brown -> universal table (data, not pipeline machinery)

    frame = pd.read_json(DATASETS / "brown.jsonl", lines=True)
    splits = slice_rows(frame, 1500, 0.1, 0.1)
    words = {k: [t.split()[:100] for t in v["tokens"]] for k, v in splits.items()}
    tags = {k: [map_tags(t.split(), "universal")[:100] for t in v["tags"]] for k, v in splits.items()}
    vocab = vocabulary([[w.lower() for w in s] for s in words["train"]], 20000 - 4, 2)
    chars = vocabulary([list(w) for s in words["train"] for w in s], 10 ** 6, 1)
    labels = sorted({t for split in tags.values() for s in split for t in s})

    def arrays(name):
        w = padded([ids_of([x.lower() for x in s], vocab, 100) for s in words[name]])
        c = np.zeros(w.shape + (20,), dtype="int32")
        for i, sentence in enumerate(words[name]):
            for j, word in enumerate(sentence):
                row = ids_of(list(word), chars, 20)
                c[i, j, :len(row)] = row
        y = padded([[labels.index(t) + 1 for t in s] for s in tags[name]])  # 0 is padding
        return w, c, y, (w != 0).sum(axis=1)

    w, c, y, lengths = arrays("train")
    train = train_set((w, c, y), lengths, 32, lambda x, y: tf.shape(y)[0],
                      lambda w, c, y, n: ((w[:n], c[:n]), y[:n]))
    held = {}
    for k in ("valid", "test"):
        hw, hc, hy, _ = arrays(k)
        held[k] = tf.data.Dataset.from_tensor_slices(((hw, hc), hy)).batch(32)

    ids = keras.Input((None,), dtype="int32")
    char_ids = keras.Input((None, 20), dtype="int32")
    embedded = keras.layers.Embedding(len(vocab) + 4, 16, mask_zero=True)(ids)
    spelled = Spelling(len(chars) + 4, 8, 8)(char_ids)
    h = keras.layers.Dropout(0.3)(keras.layers.Concatenate()([embedded, spelled]))
    h = keras.layers.Bidirectional(keras.layers.LSTM(16, return_sequences=True))(h)
    scores = keras.layers.Dense(len(labels) + 1)(keras.layers.Dropout(0.3)(h))
    model = keras.Model([ids, char_ids], scores)
    model.compile(adam(), masked_token_loss())
    model.fit(train, validation_data=held["valid"], epochs=2, verbose=2)
    return finish(model, held["test"], workdir)


def finish(model, test, workdir: Path) -> dict:
    loss = model.evaluate(test, verbose=0, return_dict=True)["loss"]
    model.save_weights(workdir / "model.weights.h5")
    return {"test_loss": float(loss), "parameters": int(model.count_params())}


TASKS = {"classification": classification, "translation": translation, "language_model": language_model,
         "tagging": tagging}


def main(argv: list[str]) -> int:
    task, workdir = argv[0], Path(argv[1])
    workdir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    result = TASKS[task](workdir)
    (workdir / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
