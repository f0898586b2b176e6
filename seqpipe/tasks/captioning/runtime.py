"""Captioning with TensorFlow: the image encoder, the Captioner, image batches, export and serving.
What captioning shares with translation is in :mod:`seqpipe.tasks.seq2seq.runtime`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.layers.image_encoder import ImageEncoder, decode_image, decode_images, read_images
from seqpipe.tasks.seq2seq.runtime import Generator, Seq2SeqRuntime, target_ids

# -- data ----------------------------------------------------------------------------------------------------------

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

    target_in, target_out = target_ids(encoder, captions)
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


class Captioner(Generator):
    """Images -> captions: ``encoder_model`` maps pixels (``[batch, height, width, channels]`` in [0, 1]) to
    ``[memory, summary]``; the memory (the image grid) has no padding."""

    def __init__(self, encoder_model, decoder, caption_encoder, max_length: int):
        super().__init__(encoder_model, decoder, caption_encoder, max_length)
        layer = next(layer for layer in encoder_model.layers if isinstance(layer, ImageEncoder))
        self.image_size, self.channels, self.grid = list(layer.image_size), layer.channels, tuple(layer.grid)
        self.input_spec = tf.TensorSpec([None, *self.image_size, self.channels], tf.float32)

    def encode(self, pixels):
        memory, summary = self.encoder_model(pixels, training=False)
        return memory, None, [summary]


class CaptioningRuntime(Seq2SeqRuntime):
    """Images in: the convolutional encoder of the see stage; one row per image in evaluation, its captions the
    references."""

    signature, input_name, output_name = "caption", "image", "caption"
    target_input, encoder_model_name = "caption_in", "image_encoder_model"

    def build_encoders(self, ctx, cfg, build, train) -> None:
        """The captions' vocabulary (the images need no tokenizer)."""
        ctx.put("encoder", build(cfg.side(), train["caption"].tolist(), "caption_vocab"))

    def build_image_encoder(self, ctx, cfg) -> None:
        """The see stage: the image input and the convolutional encoder's memory and summary."""
        import keras

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



    def encoder_outputs(self, ctx):
        return ctx["image_input"], ctx["image_memory"], None, [ctx["image_summary"]], ctx["encoder"]

    def make_generator(self, ctx, encoder_model, decoder, target_encoder):
        return Captioner(encoder_model, decoder, target_encoder, target_encoder.max_length)

    def dataset(self, ctx, cfg, split, **kwargs):
        frame, captioner = ctx["splits"][split], ctx["generator"]
        return image_dataset(frame["image"].tolist(), frame["caption"].tolist(), captioner.target_encoder,
                             cfg.batch_size, captioner.image_size, captioner.channels, **kwargs)

    def examples(self, ctx, frame, limit=None):
        """Each distinct image's pixels, its captions, and its first row."""
        images, references = caption_sets(frame)
        images, references = images[:limit], references[:limit]
        first = {image: i for i, image in reversed(list(enumerate(frame["image"].tolist())))}
        captioner = ctx["generator"]
        return (read_images(images, captioner.image_size, captioner.channels), references,
                np.array([first[image] for image in images], dtype=int))

    def table_columns(self, rows, references):
        table = rows.drop(columns=["caption"])  # the image digest stays: it names the image on any machine
        table.insert(1, "references", references)
        return table

    def references(self, table):
        return [list(refs) for refs in table["references"]]

    def plot_attention(self, ctx, generator, index, example, tokens, attention):
        from seqpipe.tasks.captioning.plots import plot_attention_maps

        words = [generator.target_encoder.vocabulary[t] for t in tokens]
        return plot_attention_maps(example, attention, words, generator.grid,
                                   ctx.path("plots", f"attention_{index}.png"))

    def serving_inputs(self, generator, encoded):
        """Encoded image files (string ``[batch]``), decoded and resized in the graph."""
        return decode_images(encoded, generator.image_size, generator.channels)

    def describe_export(self, ctx, path, outputs, extra, decoding):
        from seqpipe.export.saved_model import describe

        captioner = ctx["generator"]
        describe(path, ctx.config, self.signature, outputs, extra, decoding=decoding, input="image",
                 image_size=captioner.image_size, channels=captioner.channels, n_best=int(decoding.get("n_best", 1)))
        (path / "README.md").write_text(README.format(path=path.name, outputs=outputs, extra=extra,
                                                      channels=captioner.channels, height=captioner.image_size[0],
                                                      width=captioner.image_size[1]), encoding="utf-8")

    def predict_inputs(self, lines):
        return read_image_files(lines)


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


def read_image_files(paths: list[str]) -> list[bytes]:
    """``seqpipe predict``: one image file path per line -> the files' bytes (the serving module checks them)."""
    from pathlib import Path

    from seqpipe.errors import SeqpipeError

    images = []
    for number, path in enumerate(paths, 1):
        if not path.strip():
            raise SeqpipeError(f"line {number}: empty; expected one image file path per line")
        try:
            images.append(Path(path.strip()).expanduser().read_bytes())
        except OSError as exc:
            raise SeqpipeError(f"line {number}: {path.strip()}: cannot read the image ({exc.strerror or exc}); "
                               "expected one image file path per line") from None
    return images
