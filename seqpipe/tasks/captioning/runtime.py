"""Captioning with TensorFlow: the image encoder, the decoder, training with val_bleu, decoding, scoring, export."""

from __future__ import annotations

import json
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.decoding import decode
from seqpipe.layers.image_encoder import ImageEncoder, decode_image, decode_images, read_images
from seqpipe.text import END_ID, START_ID

SACREBLEU = {"bleu": "BLEU", "chrf": "CHRF", "ter": "TER"}  # corpus scores that take several references
REFERENCE_SEPARATOR = " | "  # between an image's references in the captions table


# -- data ----------------------------------------------------------------------------------------------------------

def caption_ids(encoder, texts: list[str]) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """``([START] y, y [END])`` with y truncated so both fit ``encoder.max_length``."""
    ids = encoder.tokenize(tf.constant(texts))[:, : encoder.max_length - 1]
    rows = ids.nrows()
    start = tf.fill([rows, 1], tf.constant(START_ID, tf.int64))
    end = tf.fill([rows, 1], tf.constant(END_ID, tf.int64))
    return tf.concat([start, ids], axis=1), tf.concat([ids, end], axis=1)


def caption_sets(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The split's distinct images in order of first appearance, and each one's captions (its references)."""
    references: dict[str, list[str]] = {}
    for image, caption in zip(frame["image"].tolist(), frame["caption"].tolist()):
        references.setdefault(image, []).append(caption)
    return list(references), list(references.values())


def image_dataset(paths: list[str], captions: list[str], encoder, batch_size: int, image_size, channels: int, *,
                  shuffle: bool = False, seed: int = 0):
    """Batches of ``((pixels, caption_in ids), caption_out ids)``; the images are decoded from their files
    as the exported model decodes them. With ``shuffle``, an :class:`EpochData` whose order depends only on
    the seed and the epoch (so a resumed run sees the batches an uninterrupted one sees)."""
    from seqpipe.data.batching import EpochData, epoch_order

    target_in, target_out = caption_ids(encoder, captions)
    files = tf.constant(paths, tf.string)
    columns = [target_in.to_tensor(), target_out.to_tensor()]
    lengths = target_in.row_lengths()
    size = [int(image_size[0]), int(image_size[1])]
    n = len(paths)

    def rows(i):
        pixels = decode_image(tf.io.read_file(files[i]), size, channels)
        return (pixels, columns[0][i][: lengths[i]]), columns[1][i][: lengths[i]]

    def batches(order):
        ds = tf.data.Dataset.from_tensor_slices(order).map(rows, num_parallel_calls=tf.data.AUTOTUNE,
                                                           deterministic=True)
        return ds.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)

    if shuffle:
        return EpochData(lambda epoch: batches(epoch_order(n, seed, epoch)), -(-n // batch_size))
    return batches(tf.range(n))


# -- model ---------------------------------------------------------------------------------------------------------

class Captioner:
    """Images -> captions with a decoding strategy, compiled with tf.function.

    ``encoder_model`` maps pixels (``[batch, height, width, channels]`` in [0, 1]) to ``[memory, summary]``;
    ``decoder`` is the :class:`seqpipe.layers.decoder.AttentionDecoder` whose ``step`` drives the search;
    ``caption_encoder`` the captions' TextEncoder.
    """

    def __init__(self, encoder_model, decoder, caption_encoder, max_length: int):
        self.encoder_model, self.decoder, self.caption_encoder = encoder_model, decoder, caption_encoder
        self.max_length = int(max_length)
        layer = next(layer for layer in encoder_model.layers if isinstance(layer, ImageEncoder))
        self.image_size, self.channels, self.grid = list(layer.image_size), layer.channels, tuple(layer.grid)
        self._compiled: dict = {}

    def search(self, pixels: tf.Tensor, decoding: dict) -> dict:
        """Graph-mode search on a batch of pixels; returns decode()'s dict plus ``captions``."""
        memory, summary = self.encoder_model(pixels, training=False)
        state = self.decoder.initial_state(memory, None, [summary])
        out = decode(self.decoder.step, state, start_id=START_ID, end_id=END_ID, max_length=self.max_length,
                     **decoding)
        out["captions"] = self.caption_encoder.detokenize(out["tokens"][:, 0])
        return out

    def search_files(self, encoded: tf.Tensor, decoding: dict) -> dict:
        """The search on encoded image files (string ``[batch]``), decoded and resized in the graph."""
        return self.search(decode_images(encoded, self.image_size, self.channels), decoding)

    def function(self, decoding: dict):
        """A tf.function over pixel batches for this decoding config (cached)."""
        key = json.dumps(decoding, sort_keys=True)
        if key not in self._compiled:
            spec = tf.TensorSpec([None, *self.image_size, self.channels], tf.float32)
            self._compiled[key] = tf.function(lambda pixels: self.search(pixels, decoding), input_signature=[spec])
        return self._compiled[key]

    def caption(self, pixels: np.ndarray, decoding: dict, batch_size: int = 64) -> dict[str, list]:
        """Caption images (pixels from :func:`read_images`) in batches; lists in input order: ``captions``,
        ``scores``, ``tokens`` (the generated ids, end token included) and ``attention`` (steps x grid positions)."""
        fn = self.function(decoding)
        results: dict[str, list] = {"captions": [], "scores": [], "tokens": [], "attention": []}
        for start in range(0, len(pixels), batch_size):
            out = fn(tf.constant(pixels[start:start + batch_size]))
            lengths = out["lengths"][:, 0].numpy()
            for j, length in enumerate(lengths):
                results["captions"].append(out["captions"][j].numpy().decode("utf-8"))
                results["scores"].append(float(out["scores"][j, 0]))
                results["tokens"].append(out["tokens"][j, 0, :length].numpy())
                results["attention"].append(out["attention"][j, :length].numpy())
        return results


def build_image_encoder(ctx, cfg) -> None:
    """The see stage: the image input and the convolutional encoder's memory and summary."""
    pixels = keras.Input(shape=(*cfg.image_size, cfg.channels), dtype="float32", name="image")
    encoder = ImageEncoder([b.filters for b in cfg.blocks], [b.convs for b in cfg.blocks], kernel=cfg.kernel,
                           pool=cfg.pool, image_size=cfg.image_size, channels=cfg.channels,
                           positions=cfg.positions, name="image_encoder")
    memory, summary = encoder(pixels)
    ctx.log.info("image encoder: %d x %d images -> a %d x %d grid of %d features (%d positions to attend over)",
                 *cfg.image_size, *encoder.grid, cfg.blocks[-1].filters, encoder.grid[0] * encoder.grid[1])
    ctx.put("image_input", pixels)
    ctx.put("image_memory", memory)
    ctx.put("image_summary", summary)


def build_captioner(ctx, cfg) -> None:
    """The caption stage: the attention decoder over the image grid, the training model and the Captioner."""
    from seqpipe.layers.decoder import AttentionDecoder

    pixels, memory, summary = ctx["image_input"], ctx["image_memory"], ctx["image_summary"]
    caption_encoder = ctx["encoder"]
    decoder = AttentionDecoder(
        vocab_size=caption_encoder.vocabulary_size, embed_dim=cfg.embed_dim, cell=cfg.cell, units=cfg.units,
        layers=cfg.layers, attention=cfg.attention, attention_units=cfg.attention_units,
        input_feeding=cfg.input_feeding, bridge=cfg.bridge, memory_dim=memory.shape[-1],
        encoder_state_dims=[summary.shape[-1]], dropout=cfg.dropout, residual=cfg.residual, name="decoder")
    caption_in = keras.Input(shape=(None,), dtype="int32", name="caption_in")
    logits = decoder(caption_in, memory, memory_mask=None, encoder_states=[summary])  # no padding in a grid
    model = keras.Model([pixels, caption_in], logits, name=ctx.config.name.replace("-", "_"))
    encoder_model = keras.Model(pixels, [memory, summary], name="image_encoder_model")
    ctx.log.info("model: %s parameters", f"{model.count_params():,}")
    ctx.tracker.log_metrics({"parameters": model.count_params()})
    ctx.put("model", model)
    ctx.put("captioner", Captioner(encoder_model, decoder, caption_encoder, caption_encoder.max_length))


# -- scores --------------------------------------------------------------------------------------------------------

def corpus_score(name: str, hypotheses: list[str], references: list[list[str]]) -> float:
    """Metric ``name`` of the captions against every reference of their image.

    With one reference per image this is the registered metric itself. With several, BLEU, chrF and TER are
    sacrebleu's multi-reference corpus scores; METEOR takes each caption's best reference (what METEOR does
    with several); any other metric scores against the first reference of each image.
    """
    from seqpipe.metrics import METRICS

    if all(len(refs) == 1 for refs in references):
        return float(METRICS.get(name)(hypotheses, [refs[0] for refs in references]))
    if name in SACREBLEU:
        return float(_sacrebleu(name).corpus_score(list(hypotheses), _streams(references)).score)
    if name == "meteor":
        fn = METRICS.get(name)
        return float(np.mean([max(fn([hyp], [ref]) for ref in refs) for hyp, refs in zip(hypotheses, references)]))
    return float(METRICS.get(name)(hypotheses, [refs[0] for refs in references]))


def _sacrebleu(name: str, **options):
    import sacrebleu.metrics

    return getattr(sacrebleu.metrics, SACREBLEU[name])(**options)


def _streams(references: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's reference streams: stream j holds each image's j-th reference (None where it has fewer)."""
    width = max(len(refs) for refs in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]


def sentence_scores(hypotheses: list[str], references: list[list[str]]) -> pd.DataFrame:
    """Per caption: sentence BLEU (effective n-gram orders) and chrF against all of its image's references."""
    scorers = {"bleu": _sacrebleu("bleu", effective_order=True), "chrf": _sacrebleu("chrf")}
    rows = [{name: scorer.sentence_score(hyp, list(refs)).score for name, scorer in scorers.items()}
            for hyp, refs in zip(hypotheses, references)]
    return pd.DataFrame(rows, columns=list(scorers))


def signatures(metrics: list[str], references: list[list[str]]) -> dict[str, str]:
    """sacrebleu's signatures of the corpus metrics among ``metrics`` as scored here (the number of references)."""
    tags = {}
    for name in [m for m in metrics if m in SACREBLEU]:
        scorer = _sacrebleu(name)
        scorer.corpus_score(["x"] * len(references), _streams(references) if references else [["x"]])
        tags[f"sacrebleu.{name}"] = str(scorer.get_signature())
    return tags


class ValidationBleu(keras.callbacks.Callback):
    """After each epoch, caption a fixed subset of validation images and add ``val_bleu`` to the logs
    (scored against every caption of each image). It runs before the tracker, checkpoint and early stopping."""

    def __init__(self, captioner: Captioner, pixels: np.ndarray, references: list[list[str]], decoding: dict):
        super().__init__()
        self.captioner, self.pixels, self.references, self.decoding = captioner, pixels, references, decoding

    def on_epoch_end(self, epoch, logs=None):
        hypotheses = self.captioner.caption(self.pixels, self.decoding)["captions"]
        if logs is not None:
            logs["val_bleu"] = corpus_score("bleu", hypotheses, self.references)


# -- stages --------------------------------------------------------------------------------------------------------

def fit(ctx, cfg):
    """Teacher forcing (or scheduled sampling, ``train.scheduled_sampling``) with the masked token
    cross-entropy; val_bleu on a fixed subset of validation images."""
    from seqpipe.train.fit import fit_model
    from seqpipe.train.losses import compile_token_model

    model, splits, captioner = ctx["model"], ctx["splits"], ctx["captioner"]

    def dataset(split, **kwargs):
        frame = splits[split]
        return image_dataset(frame["image"].tolist(), frame["caption"].tolist(), captioner.caption_encoder,
                             cfg.batch_size, captioner.image_size, captioner.channels, **kwargs)

    train = dataset("train", shuffle=True, seed=ctx.config.seed)
    valid = dataset("valid") if len(splits["valid"]) else None
    compile_token_model(model, cfg, cfg.label_smoothing)
    first = []
    if cfg.validation_subset and len(splits["valid"]):
        images, references = caption_sets(splits["valid"])
        images, references = images[: cfg.validation_subset], references[: cfg.validation_subset]
        pixels = read_images(images, captioner.image_size, captioner.channels)
        first.append(ValidationBleu(captioner, pixels, references, cfg.decoding.model_dump()))
    from seqpipe.layers.scheduled_sampling import scheduled_sampling_callbacks

    first += scheduled_sampling_callbacks(ctx, cfg, captioner.decoder)
    return fit_model(ctx, cfg, model, train, valid, first)


def describe(ctx, cfg) -> dict:
    """The describe stage: caption the chosen splits' images (and greedily, side by side); attention maps."""
    from seqpipe.tasks.captioning.plots import plot_attention_maps

    captioner, splits = ctx["captioner"], ctx["splits"]
    strategies = {"": cfg.decoding.model_dump()}
    if cfg.compare_greedy and cfg.decoding.strategy != "greedy":
        strategies["_greedy"] = {"strategy": "greedy"}
    captions = {}
    for split in cfg.splits:
        images, references = caption_sets(splits[split])
        pixels = read_images(images, captioner.image_size, captioner.channels)
        for suffix, decoding in strategies.items():
            t0 = time.perf_counter()
            out = captioner.caption(pixels, decoding)
            seconds = time.perf_counter() - t0
            tokens = sum(len(t) for t in out["tokens"])
            ctx.tracker.log_metrics({f"{split}_decode_tokens_per_s{suffix}": tokens / seconds})
            ctx.log.info("%s: captioned %d images (%s) in %.1f s, %.0f tokens/s", split, len(images),
                         decoding["strategy"], seconds, tokens / seconds)
            captions[f"{split}{suffix}"] = {"images": images, "references": references, **out}
    if cfg.attention_maps and len(splits["valid"]):
        images, _ = caption_sets(splits["valid"])
        images = images[: cfg.attention_maps]
        pixels = read_images(images, captioner.image_size, captioner.channels)
        out = captioner.caption(pixels, strategies[""])
        vocabulary = captioner.caption_encoder.vocabulary
        for i, (image, tokens, attention) in enumerate(zip(pixels, out["tokens"], out["attention"])):
            words = [vocabulary[t] for t in tokens]
            png = plot_attention_maps(image, attention, words, captioner.grid, ctx.path("plots", f"attention_{i}.png"))
            ctx.tracker.log_artifact(png, "plots")
    return captions


def evaluate(ctx, cfg, metrics: list[str]):
    """Corpus scores per split and strategy against every caption of each image; a TSV of per-image scores."""
    from seqpipe.metrics import text_scores

    captions = ctx["captions"]
    every_reference: list[list[str]] = []
    for split in cfg.splits:
        found = [k for k in captions if k == split or k.startswith(f"{split}_")]
        first = captions[split]
        references = first["references"]
        every_reference += references
        table = pd.DataFrame({"image": first["images"],
                              "references": [REFERENCE_SEPARATOR.join(refs) for refs in references]})
        for key in found:
            suffix = key[len(split):]
            hypotheses = captions[key]["captions"]
            ctx.add_metrics({f"{split}_{m}{suffix}": corpus_score(m, hypotheses, references) for m in metrics})
            table[f"hypothesis{suffix}"] = hypotheses
            scores = sentence_scores(hypotheses, references)
            for column in scores.columns:
                table[f"{column}{suffix}"] = scores[column].to_numpy()
        out = ctx.path("evaluation", f"{split}_captions.tsv")
        table.to_csv(out, sep="\t", index=False)
        ctx.tracker.log_artifact(out, "evaluation")
        ctx.log.info("%s (%d images, %d captions): %s", split, len(references), sum(map(len, references)),
                     ", ".join(f"{k}={v:.2f}" for k, v in ctx.metrics.items() if k.startswith(split)))
    tags = signatures(metrics, every_reference)
    if "meteor" in metrics:
        tags["meteor.backend"] = text_scores.meteor_backend()
    ctx.tracker.set_tags(tags)
    return captions


README = """# seqpipe export (image captioning)

Load in any Python process with TensorFlow and tensorflow-text (seqpipe is not needed):

```python
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops some vocabularies use
model = tf.saved_model.load("{path}")
image = tf.io.read_file("photo.png")  # the encoded file: PNG, JPEG, GIF or BMP
out = model.signatures["caption"](image=tf.stack([image]))
print(out["caption"].numpy()[0].decode("utf-8"))
```

Signature `caption` (also `serving_default`): input `image` (string, shape [batch], each the bytes of an
image file of any size); the images are decoded ({channels} channels) and resized to {height} x {width}
inside the graph. Outputs {outputs}.
{extra}
"""


def export(ctx, cfg, path):
    """Save ``caption(image bytes) -> {caption, score}`` (also as serving_default), search in-graph."""
    from seqpipe.export.saved_model import describe as describe_export

    captioner, decoding = ctx["captioner"], cfg.decoding.model_dump()
    captioner.caption_encoder(tf.constant(["build"]))  # Keras layers must be built before tracking
    archive = keras.export.ExportArchive()
    for layer in (captioner.encoder_model, captioner.decoder, captioner.caption_encoder):
        archive.track(layer)

    def caption(image):
        out = captioner.search_files(image, decoding)
        return {"caption": out["captions"], "score": out["scores"][:, 0]}

    spec = [tf.TensorSpec([None], tf.string, name="image")]
    archive.add_endpoint("caption", caption, input_signature=spec)
    archive.add_endpoint("serving_default", caption, input_signature=spec)
    archive.write_out(str(path), verbose=False)
    outputs = "`caption` (string [batch]), `score` (float32 [batch], the search's ranking score)"
    extra = f"Decoding: {json.dumps(decoding)} (beam search runs inside the graph)."
    describe_export(path, ctx.config, "caption", outputs, extra, decoding=decoding, input="image",
                    image_size=captioner.image_size, channels=captioner.channels)
    (path / "README.md").write_text(README.format(path=path.name, outputs=outputs, extra=extra,
                                                  channels=captioner.channels, height=captioner.image_size[0],
                                                  width=captioner.image_size[1]), encoding="utf-8")
    return path


def predict_table(model, paths: list[str], batch_size: int = 64) -> pd.DataFrame:
    """``seqpipe predict``: one image file path per line -> its caption and score."""
    from pathlib import Path

    from seqpipe.errors import SeqpipeError

    paths = [p.strip() for p in paths]
    captions, scores = [], []
    for start in range(0, len(paths), batch_size):
        chunk = []
        for path in paths[start:start + batch_size]:
            try:
                chunk.append(Path(path).expanduser().read_bytes())
            except OSError as exc:
                raise SeqpipeError(f"{path}: cannot read the image ({exc.strerror or exc}); expected one image file "
                                   "path per line") from None
        try:
            out = model.signatures["caption"](image=tf.constant(chunk))
        except tf.errors.InvalidArgumentError as exc:
            raise SeqpipeError(f"lines {start + 1}-{start + len(chunk)}: an image could not be decoded "
                               f"({exc.message.splitlines()[0]}); expected PNG, JPEG, GIF or BMP files") from None
        captions += [b.decode("utf-8") for b in out["caption"].numpy()]
        scores += out["score"].numpy().tolist()
    return pd.DataFrame({"image": paths, "caption": captions, "score": scores})
