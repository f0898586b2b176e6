"""A small convolutional image encoder whose output grid is a memory to attend over, and image decoding.

:class:`ImageEncoder` turns images into a grid of feature vectors (H' x W' x C) flattened to a memory of
H' * W' positions, plus the grid's global average (the summary a decoder's state can start from).
:func:`decode_images` is the one way pixels are made from encoded image files, in training and in an
exported graph alike, so a served model sees exactly the pixels the trained one saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP")  # what tf.io.decode_image reads


def decode_image(data: tf.Tensor, image_size: Sequence[int], channels: int) -> tf.Tensor:
    """One encoded image file (a string scalar of PNG, JPEG, GIF or BMP bytes) -> float32 pixels
    ``[height, width, channels]`` in [0, 1].

    The image is decoded to RGB (a GIF's first frame), turned grey when ``channels`` is 1 and resized
    bilinearly to ``image_size`` (height, width) whatever its own size.
    """
    image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    size = [int(image_size[0]), int(image_size[1])]
    image = tf.image.resize(tf.ensure_shape(image, [None, None, channels]), size, method="bilinear")
    return tf.cast(image, tf.float32) / 255.0


def decode_images(encoded: tf.Tensor, image_size: Sequence[int], channels: int) -> tf.Tensor:
    """A batch of encoded image files (string ``[batch]``) -> float32 pixels ``[batch, height, width, channels]``
    by :func:`decode_image` (graph-friendly: ``tf.map_fn``)."""
    size = [int(image_size[0]), int(image_size[1])]
    return tf.map_fn(lambda data: decode_image(data, size, channels), tf.convert_to_tensor(encoded, tf.string),
                     fn_output_signature=tf.TensorSpec([*size, channels], tf.float32))


def read_images(paths: Sequence[str], image_size: Sequence[int], channels: int) -> np.ndarray:
    """The pixels (float32 ``[n, height, width, channels]``) of image files, as :func:`decode_image` makes them."""
    size = [int(image_size[0]), int(image_size[1])]
    out = np.zeros((len(paths), *size, channels), np.float32)
    if len(paths):
        files = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), tf.string))
        pixels = files.map(lambda path: decode_image(tf.io.read_file(path), size, channels),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(256)
        start = 0
        for batch in pixels:
            out[start:start + len(batch)] = batch.numpy()
            start += len(batch)
    return out


def grid_size(image_size: Sequence[int], blocks: int, pool: int) -> tuple[int, int]:
    """The (height, width) of the feature grid after ``blocks`` pooling steps of ``pool`` (each floors)."""
    height, width = int(image_size[0]), int(image_size[1])
    for _ in range(blocks):
        height, width = height // pool, width // pool
    return height, width


@keras.saving.register_keras_serializable(package="seqpipe")
class ImageEncoder(keras.layers.Layer):
    """Convolution blocks over an image: a grid of feature vectors, flattened, and its global average.

    Args:
        filters: output channels of each block (one block per entry).
        convs: convolutions per block (one number for every block, or one per block); default 1.
        kernel: square kernel size of every convolution ("same" padding, ReLU).
        pool: max-pooling window and stride at the end of every block (1: no pooling).
        image_size: (height, width) of the input images.
        channels: colour channels of the input images (3: RGB, 1: grey).
        positions: add a learned vector per grid position to the memory, so that what is read from the memory
            says where in the image it is (convolutions see only a neighbourhood, so their features hardly know).

    Call arguments:
        images: float ``(batch, height, width, channels)``, values in [0, 1] (see :func:`decode_images`).

    Returns:
        ``(memory, summary)``: ``(batch, H' * W', filters[-1])``, the grid's positions row by row, and
        ``(batch, filters[-1])``, the mean of the grid's features (without the position vectors). H' and W'
        are :attr:`grid` (the image size floored by each pool).
    """

    def __init__(self, filters: Sequence[int] = (32, 64), convs: int | Sequence[int] = 1, kernel: int = 3,
                 pool: int = 2, image_size: Sequence[int] = (64, 64), channels: int = 3, positions: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = [int(f) for f in filters]
        if not self.filters:
            raise ValueError("an ImageEncoder needs at least one block")
        self.convs = ([int(convs)] * len(self.filters) if isinstance(convs, (int, np.integer))
                      else [int(c) for c in convs])
        if len(self.convs) != len(self.filters):
            raise ValueError(f"convs gives {len(self.convs)} blocks but filters {len(self.filters)}")
        self.kernel, self.pool, self.channels = int(kernel), int(pool), int(channels)
        self.image_size = [int(image_size[0]), int(image_size[1])]
        self.positions = bool(positions)
        self.grid = grid_size(self.image_size, len(self.filters), self.pool)
        if min(self.grid) < 1:
            raise ValueError(f"image_size {self.image_size} is too small for {len(self.filters)} pooling steps of "
                             f"{self.pool}: the grid would be {self.grid[0]} x {self.grid[1]}")
        self.position_embedding = None  # built with the layer when positions is on
        self.stack = []
        for b, (width, count) in enumerate(zip(self.filters, self.convs)):
            for j in range(count):
                self.stack.append(keras.layers.Conv2D(width, self.kernel, padding="same", activation="relu",
                                                      dtype=self.dtype_policy, name=f"block{b}_conv{j}"))
            if self.pool > 1:
                self.stack.append(keras.layers.MaxPooling2D(self.pool, dtype=self.dtype_policy, name=f"block{b}_pool"))

    def build(self, input_shape=None):
        shape = (None, *self.image_size, self.channels)
        for layer in self.stack:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.position_embedding = (self.add_weight(
            shape=(self.grid[0] * self.grid[1], self.filters[-1]), name="position_embedding",
            initializer=keras.initializers.RandomNormal(stddev=0.05)) if self.positions else None)
        self.built = True

    def call(self, images):
        x = ops.cast(images, self.compute_dtype)
        for layer in self.stack:
            x = layer(x)
        memory = ops.reshape(x, (-1, self.grid[0] * self.grid[1], self.filters[-1]))
        summary = ops.mean(x, axis=(1, 2))
        if self.position_embedding is not None:
            memory = memory + ops.cast(self.position_embedding, memory.dtype)
        return memory, summary

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (batch, self.grid[0] * self.grid[1], self.filters[-1]), (batch, self.filters[-1])

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, convs=self.convs, kernel=self.kernel, pool=self.pool,
                      image_size=self.image_size, channels=self.channels, positions=self.positions)
        return config
