"""B5: decoding speed: seqpipe's compiled search loop vs an eager loop vs keras_hub's samplers, same model.

(Formerly ``bench/decode_speed.py``.) Trains one small translation model with seqpipe's own pieces
(SentencePiece ~1000 both sides, embeddings 64, BiLSTM encoder 64 per direction, LSTM decoder 128 with
Bahdanau attention) on a slice of the bible-en-es recipe, then decodes the same test sentences with:

* seqpipe ``decode`` (one ``tf.while_loop``) inside a ``tf.function``, traced before timing;
* seqpipe ``decode_eager`` (a Python loop, one eager ``AttentionDecoder.step`` per token);
* keras_hub ``GreedySampler`` / ``BeamSampler(num_beams=width)``, eager and inside a
  ``tf.function``, driving the same ``AttentionDecoder.step`` through keras_hub's
  ``next(prompt, cache, index) -> (logits, hidden_states, cache)``; the cache is the decoder's
  state dict itself (keras_hub repeats and reorders it with ``keras.tree``, so no packing is needed);
* keras_hub ``BeamSampler`` with a ``next`` that freezes finished beams (only padding, at zero
  cost, once a beam has produced the end token) -- seqpipe's treatment of finished hypotheses,
  which keras_hub's sampler does not have.

Timed: the search only, from the decoder's initial state (encoder outputs and bridged states,
computed once beforehand) to the token ids. Width 1 is seqpipe's greedy strategy; width 5 is
seqpipe's beam search with length_penalty=0 and coverage_penalty=0 (keras_hub has neither).
Measurements are interleaved at the grain of single calls (every sentence at batch 1, the whole batch
at the large batch, runs all variants of its width and batch back to back, in a rotating order) so
machine noise hits every variant alike; ratios to seqpipe compiled are taken within a call, median
(min-max) over calls. Outputs are compared token for token (cut after the first [END]).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from bench._common import load_average, sentencepiece
from bench.suite import main_module, spread

# TensorFlow, Keras, keras_hub and seqpipe's modules are imported by _imports() when the benchmark runs, so that
# importing this module (the suite does, for its ID and TITLE) stays cheap. They become module globals.
tf = keras = keras_hub = np = None
load_splits = pair_dataset = DataConfig = decode = decode_eager = AttentionDecoder = recurrent_stack = None
METRICS = target_ids = END_ID = PAD_ID = START_ID = TextEncoder = MaskedCrossEntropy = None


def _imports() -> None:
    global tf, keras, keras_hub, np, load_splits, pair_dataset, DataConfig, decode, decode_eager, AttentionDecoder
    global recurrent_stack, METRICS, target_ids, END_ID, PAD_ID, START_ID, TextEncoder, MaskedCrossEntropy
    from seqpipe._quiet import import_tensorflow

    tf = import_tensorflow()
    import keras
    import keras_hub
    import numpy as np

    from seqpipe.data import load_splits
    from seqpipe.data.batching import pair_dataset
    from seqpipe.data.config import DataConfig
    from seqpipe.decoding import decode, decode_eager
    from seqpipe.layers.decoder import AttentionDecoder
    from seqpipe.layers.recurrent import recurrent_stack
    from seqpipe.metrics import METRICS
    from seqpipe.tasks.seq2seq.runtime import target_ids
    from seqpipe.text import END_ID, PAD_ID, START_ID
    from seqpipe.text.encoder import TextEncoder
    from seqpipe.train.losses import MaskedCrossEntropy


ID, TITLE = "B5", "decoding speed: compiled vs eager vs keras_hub samplers"
MAX_LENGTH = 32  # tokens per side, [END] included on the target side; also the decoding limit
VOCAB = 1000
SEED = 13
SETTINGS = {  # quick / full: training pairs, epochs, sentences in the large batch, of those at batch 1, rounds, reps
    True: dict(train_pairs=600, epochs=1, sentences=8, batch1=2, rounds=1, reps=1),
    False: dict(train_pairs=3200, epochs=4, sentences=64, batch1=6, rounds=3, reps=2),
}


# -- data and model ------------------------------------------------------------------------
def fits(encoder: TextEncoder, texts: list[str], limit: int) -> np.ndarray:
    """Whether each text has at most ``limit`` < ``encoder.max_length`` tokens (so nothing was truncated)."""
    assert limit < encoder.max_length
    return encoder.tokenize(tf.constant(texts)).row_lengths().numpy() <= limit


def load_data(train_pairs: int, vocab_pairs: int):
    """Encoders and the train / test slices: pairs whose both sides fit MAX_LENGTH - 1 tokens."""
    cfg = DataConfig.model_validate({"source": {"recipe": "bible-en-es"},
                                     "split": {"valid": 0.02, "test": 0.02, "stratify": False}})
    splits = load_splits(cfg, roles=["source", "target"], seed=SEED, base_dir=Path("."))
    pool = splits["train"].head(vocab_pairs)
    source_encoder = sentencepiece(pool["source"].tolist(), "source_encoder", VOCAB, MAX_LENGTH)
    target_encoder = sentencepiece(pool["target"].tolist(), "target_encoder", VOCAB, MAX_LENGTH)

    def short(frame):
        keep = fits(source_encoder, frame["source"].tolist(), MAX_LENGTH - 1)
        keep &= fits(target_encoder, frame["target"].tolist(), MAX_LENGTH - 1)
        return frame[keep].reset_index(drop=True)

    return source_encoder, target_encoder, short(splits["train"]).head(train_pairs), short(splits["test"])


def build_model(source_vocab: int, target_vocab: int):
    """The seq2seq model as seqpipe's stages assemble it (see seqpipe/stages/decode.py)."""
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(source_vocab, 64, mask_zero=True, name="embedding")(ids)
    memory, states = recurrent_stack(x, cell="lstm", units=64, layers=1, bidirectional=True, return_state=True)
    decoder = AttentionDecoder(vocab_size=target_vocab, embed_dim=64, cell="lstm", units=128, layers=1,
                               attention="bahdanau", input_feeding=True, bridge="dense",
                               memory_dim=memory.shape[-1], encoder_state_dims=[s.shape[-1] for s in states],
                               name="decoder")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    mask = keras.layers.Lambda(lambda t: keras.ops.not_equal(t, 0), name="source_mask")(ids)
    model = keras.Model([ids, target_in], decoder(target_in, memory, mask, states), name="bench_seq2seq")
    encoder_model = keras.Model(ids, [memory, *states], name="encoder")
    return model, encoder_model, decoder


def train(model, source_encoder, target_encoder, frame, epochs: int) -> list[float]:
    source = source_encoder.tokenize(frame["source"].tolist())
    target_in, target_out = target_ids(target_encoder, frame["target"].tolist())
    data = pair_dataset(source, target_in, target_out, 64, shuffle=True, seed=SEED, bucketing=True)  # EpochData
    model.compile(keras.optimizers.Adam(2e-3, clipnorm=5.0), loss=MaskedCrossEntropy())
    history = model.fit(data.stream(0, epochs), steps_per_epoch=data.steps, epochs=epochs, verbose=0)
    return history.history["loss"]


# -- decoders: initial state dict -> best token ids int32 [B, T] ---------------------------------
def seqpipe_fn(decoder, width: int, eager: bool):
    params = {"strategy": "greedy"} if width == 1 else {"strategy": "beam", "beam_width": width,
                                                          "length_penalty": 0.0, "coverage_penalty": 0.0}

    def run(state):
        search = decode_eager if eager else decode
        return search(decoder.step, state, start_id=START_ID, end_id=END_ID, max_length=MAX_LENGTH,
                      **params)["tokens"][:, 0]

    return run


def keras_hub_fn(decoder, sampler, freeze_finished: bool = False):
    """keras_hub's sampler over a prompt ``[START] + MAX_LENGTH`` slots, the state dict as cache."""

    def next_fn(prompt, cache, index):
        logits, cache, _ = decoder.step(prompt[:, index - 1], cache)
        if freeze_finished:  # a beam that has produced [END] may only add padding, at zero cost
            done = tf.reduce_any(tf.equal(prompt[:, 1:index], END_ID), axis=1)
            frozen = tf.where(tf.range(tf.shape(logits)[-1]) == PAD_ID, 0.0, float("-inf"))
            logits = tf.where(done[:, None], frozen[None, :], logits)
        return logits, None, cache

    def run(state):
        batch = tf.shape(state["mask"])[0]
        prompt = tf.concat([tf.fill([batch, 1], START_ID), tf.zeros([batch, MAX_LENGTH], tf.int32)], axis=1)
        mask = tf.concat([tf.ones([batch, 1], tf.bool), tf.zeros([batch, MAX_LENGTH], tf.bool)], axis=1)
        out = sampler(next_fn, prompt, cache=state, index=1, mask=mask, stop_token_ids=[END_ID])
        return out[:, 1:]

    return run


def compiled(fn, state_example: dict):
    """tf.function over state dicts of any batch and source length (traced once)."""
    def spec(v):  # batch and source length unknown; feature widths kept
        shape = ([None, None] if v.shape.rank == 2 and v.dtype == tf.bool
                 else [None] * (v.shape.rank - 1) + [v.shape[-1]])
        return tf.TensorSpec(shape, v.dtype)

    spec = {k: spec(v) for k, v in state_example.items()}
    return tf.function(fn, input_signature=[spec])


def truncate(tokens: np.ndarray) -> np.ndarray:
    """Zero everything after the first [END] (keras_hub keeps generating after it)."""
    tokens = np.array(tokens, dtype=np.int64)
    after = np.cumsum(np.cumsum(tokens == END_ID, axis=1), axis=1) > 1
    tokens[after] = 0
    return tokens


# -- measurement ---------------------------------------------------------------------------------
def variants(decoder, width: int):
    """(label, eager-or-compiled, function) for one width; the first is the reference."""
    rows = [("seqpipe decode", "compiled", seqpipe_fn(decoder, width, eager=False)),
            ("seqpipe decode_eager", "eager", seqpipe_fn(decoder, width, eager=True))]
    samplers = [("keras_hub GreedySampler", lambda: keras_hub.samplers.GreedySampler())] if width == 1 else []
    samplers.append((f"keras_hub BeamSampler({width})", lambda: keras_hub.samplers.BeamSampler(num_beams=width)))
    for label, make in samplers:
        rows.append((label, "compiled", keras_hub_fn(decoder, make())))
        rows.append((label, "eager", keras_hub_fn(decoder, make())))
    if width > 1:
        rows.append((f"keras_hub BeamSampler({width}), finished beams frozen in next()", "compiled",
                     keras_hub_fn(decoder, keras_hub.samplers.BeamSampler(num_beams=width), freeze_finished=True)))
    return rows


def run(quick: bool) -> dict:
    _imports()
    s = SETTINGS[quick]
    load_start = load_average()
    # Seed before any SentencePiece encoder exists: tf.random.set_seed in eager mode drops the
    # tokenizer resources created before it ("Resource ..._SentencepieceOp... does not exist").
    keras.utils.set_random_seed(SEED)
    source_encoder, target_encoder, train_frame, test_frame = load_data(s["train_pairs"], s["train_pairs"])
    test_frame = test_frame.head(s["sentences"])
    model, encoder_model, decoder = build_model(source_encoder.vocabulary_size, target_encoder.vocabulary_size)
    t0 = time.perf_counter()
    losses = train(model, source_encoder, target_encoder, train_frame, s["epochs"])
    train_seconds = time.perf_counter() - t0

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def initial_state(texts):
        ids = source_encoder(texts)
        memory, *states = encoder_model(ids, training=False)
        return decoder.initial_state(memory, ids != 0, states)

    sources, references = test_frame["source"].tolist(), test_frame["target"].tolist()
    big = len(sources)  # the large batch: every test sentence in one batch
    configs = {big: [initial_state(tf.constant(sources))],
               1: [initial_state(tf.constant([x])) for x in sources[: s["batch1"]]]}
    bleu = METRICS.get("bleu")

    # groups of variants timed side by side: (width, batch) -> [(key, function)]; the first is the reference
    groups = {}
    for width in (1, 5):
        for label, mode, fn in variants(decoder, width):
            call = compiled(fn, configs[big][0]) if mode == "compiled" else fn
            for batch in configs:
                groups.setdefault((width, batch), []).append(((width, batch, label, mode), call))
    t0 = time.perf_counter()
    for runs in groups.values():  # warm-up: traces every compiled variant (and runs each once); not timed
        for batch_key, call in runs:
            call(configs[batch_key[1]][0])
    warmup_seconds = time.perf_counter() - t0

    table = {key: {"times": [[] for _ in configs[key[1]]], "ratios": [], "tokens": [None] * len(configs[key[1]])}
             for runs in groups.values() for key, _ in runs}
    turn = 0
    for rnd in range(s["rounds"]):
        for (width, batch), runs in groups.items():
            for _ in range(s["reps"] if batch > 1 else 1):
                for i, state in enumerate(configs[batch]):
                    shift, turn = turn % len(runs), turn + 1
                    measured = {}
                    for key, call in runs[shift:] + runs[:shift]:
                        t0 = time.perf_counter()
                        out = truncate(call(state).numpy())
                        measured[key] = time.perf_counter() - t0
                        entry = table[key]
                        entry["times"][i].append(measured[key])
                        if entry["tokens"][i] is None:
                            entry["tokens"][i] = out
                        elif not np.array_equal(entry["tokens"][i], out):
                            raise RuntimeError(f"{key}: outputs changed between calls")
                    reference = measured[runs[0][0]]
                    for key, seconds in measured.items():
                        table[key]["ratios"].append(reference / seconds)
        print(f"B5 round {rnd + 1}/{s['rounds']} done", file=sys.stderr, flush=True)

    for key, entry in table.items():
        tokens = entry["tokens"] = np.concatenate(entry["tokens"])
        lengths = np.where((tokens == END_ID).any(axis=1), (tokens == END_ID).argmax(axis=1) + 1, MAX_LENGTH)
        entry["n_tokens"] = int(lengths.sum())
        entry["seconds"] = sum(statistics.median(samples) for samples in entry["times"])  # median per call, summed
        hyps = [t.decode("utf-8") for t in target_encoder.detokenize(tf.constant(tokens)).numpy()]
        entry["bleu"] = bleu(hyps, references[: len(hyps)])
        entry["hyps"] = hyps

    rows = []
    for width in (1, 5):
        for batch in (1, big):
            keys = [k for k in table if k[0] == width and k[1] == batch]
            ref = table[keys[0]]
            for key in keys:
                entry = table[key]
                same = (entry["tokens"] == ref["tokens"]).all(axis=1)
                rows.append([width, batch, key[2], key[3], f"{entry['n_tokens'] / entry['seconds']:,.0f}",
                             spread(entry["ratios"], 2), f"{entry['bleu']:.2f}", f"{entry['n_tokens'] / len(same):.1f}",
                             f"{'yes' if same.all() else 'no'} ({int(same.sum())}/{len(same)})"])
    greedy, beam = table[(1, big, "seqpipe decode", "compiled")], table[(5, big, "seqpipe decode", "compiled")]
    plain = table[(5, big, "keras_hub BeamSampler(5)", "compiled")]
    examples = [[c.replace("|", "/") for c in (sources[i], references[i], greedy["hyps"][i], beam["hyps"][i],
                                               plain["hyps"][i])] for i in range(min(3, big))]
    notes = [
        f"Model: SentencePiece {source_encoder.vocabulary_size} (en) / {target_encoder.vocabulary_size} (es) tokens, "
        f"embeddings 64, BiLSTM encoder 64 per direction, LSTM decoder 128 with Bahdanau attention, input feeding and "
        f"a dense bridge ({model.count_params():,} parameters); trained {s['epochs']} epoch(s) on {len(train_frame):,} "
        f"bible-en-es training pairs whose both sides fit {MAX_LENGTH - 1} tokens ({train_seconds:.0f} s; loss "
        f"{losses[0]:.2f} -> {losses[-1]:.2f}). It is a small, briefly trained model: the BLEU column checks that "
        "implementations agree, not translation quality.",
        f"Decoding: at most {MAX_LENGTH} target tokens ([END] included); {big} test sentences in one batch and the "
        f"first {len(configs[1])} of them one at a time (batch 1); {s['rounds']} interleaved round(s), the large batch "
        f"{s['reps']} time(s) per round. Tracing and one warm-up call of every variant took {warmup_seconds:.0f} s "
        "(not timed).",
        "tokens/s: target tokens of the variant's own best hypotheses (up to and including the first [END]) divided "
        "by its time (per call, the median over rounds; summed over calls). Ratio: seqpipe compiled's time / the "
        "variant's time within the same call, median (min-max) over calls (> 1 is faster than seqpipe compiled). "
        "Identical: token ids, cut after the first [END], equal to seqpipe compiled's (sentences equal / sentences).",
        *[n.removeprefix("- ") for n in notes_for(table)],
        f"Load average at the start {load_start}, at the end {load_average()}.",
    ]
    return {"tables": [
        {"title": "decoding speed and agreement",
         "columns": ["width", "batch", "implementation", "mode", "tokens/s", "ratio to seqpipe compiled", "BLEU",
                     "mean length", "identical tokens"], "rows": rows},
        {"title": "three test sentences (large batch)",
         "columns": ["source", "reference", "seqpipe greedy", "seqpipe beam 5", "keras_hub BeamSampler(5)"],
         "rows": examples}],
        "notes": notes}


def notes_for(table) -> list[str]:
    """Notes derived from this run's numbers (so the text cannot go stale)."""
    notes = []
    beam = {k: v for k, v in table.items() if k[0] > 1}
    for batch in sorted({k[1] for k in beam}):
        ref = beam[(5, batch, "seqpipe decode", "compiled")]
        plain = beam[(5, batch, "keras_hub BeamSampler(5)", "compiled")]
        frozen = beam[(5, batch, "keras_hub BeamSampler(5), finished beams frozen in next()", "compiled")]
        same = int((plain["tokens"] == ref["tokens"]).all(axis=1).sum())
        notes.append(
            f"- Beam 5, batch {batch}: plain keras_hub BeamSampler gives BLEU {plain['bleu']:.2f} vs seqpipe's "
            f"{ref['bleu']:.2f} ({same}/{len(ref['tokens'])} sentences identical; mean length "
            f"{plain['n_tokens'] / len(ref['tokens']):.1f} vs {ref['n_tokens'] / len(ref['tokens']):.1f}); "
            "with finished beams frozen in "
            f"`next()` it gives {frozen['bleu']:.2f} "
            f"({int((frozen['tokens'] == ref['tokens']).all(axis=1).sum())}/{len(ref['tokens'])} identical).")
    plain = [k for k in beam if k[2] == "keras_hub BeamSampler(5)"]
    differs = any(not np.array_equal(beam[k]["tokens"], beam[(5, k[1], "seqpipe decode", "compiled")]["tokens"])
                  for k in plain)
    why = ("its BeamSampler never marks a beam finished: a beam that has produced [END] keeps being extended with "
           "model-chosen tokens whose log-probabilities keep lowering its score (and may fill several beam slots "
           "with copies of one ended hypothesis), and it loops until every beam of every example contains [END]; "
           "seqpipe freezes an ended hypothesis at its score (padding at zero cost, one slot), so it competes as it "
           "stands -- which is what the frozen `next()` wrapper reproduces.")
    notes.append(("- Plain keras_hub beam differs from seqpipe's by design: " if differs else
                  "- Plain keras_hub beam matched seqpipe's here, but can differ by design: ") + why)
    frozen_match = all(np.array_equal(v["tokens"], beam[(5, k[1], "seqpipe decode", "compiled")]["tokens"])
                       for k, v in beam.items() if "frozen" in k[2])
    notes.append("- keras_hub's samplers take `log(softmax(logits))` "
                 "where seqpipe takes `log_softmax(logits)`; the two "
                 "differ in the last bits, which could only matter at near-ties. " +
                 ("The frozen-`next()` variant keeps keras_hub's `log(softmax)` and its whole loop, "
                  "and matches seqpipe "
                  "token for token here, so the plain sampler's differences come from its handling of finished beams "
                  "alone." if frozen_match else
                  "The frozen-`next()` variant does not match seqpipe everywhere here (see the table): near-ties or "
                  "another difference beyond finished beams."))
    notes += [
        "- The cache is the decoder's state dict (recurrent states, fed-back vector, encoder memory, attention keys, "
        "source mask); keras_hub repeats it per beam and reorders it with `keras.tree.map_structure`, so no packing "
        "into one tensor was needed. At width > 1 both loops reorder the whole state, memory and keys included, "
        "at every step.",
        "- Speed: keras_hub's BeamSampler reorders every cache tensor with `ops.take_along_axis`, which on the "
        "TensorFlow backend broadcasts the beam indices to the tensor's full shape, transposes and gathers element by "
        "element; seqpipe gathers whole rows (`tf.gather`). It does so even at width 1, where seqpipe's loop (and "
        "keras_hub's GreedySampler) reorder nothing. keras_hub's stop test also scans the whole prompt every step.",
    ]
    greedy = [k for k in table if k[0] == 1 and k[2].startswith("keras_hub")]
    match = all(np.array_equal(table[k]["tokens"], table[(1, k[1], "seqpipe decode", "compiled")]["tokens"])
                for k in greedy)
    notes.append("- Width 1: keras_hub's samplers keep generating after [END] in rows that have finished, but stop "
                 "at the same step as seqpipe (once every row has produced [END]); cut after the first [END], their "
                 + ("outputs equal seqpipe's greedy ones here." if match else
                    "outputs should equal seqpipe's greedy ones, yet some differ here (see the table)."))
    return notes


if __name__ == "__main__":
    main_module(run)
