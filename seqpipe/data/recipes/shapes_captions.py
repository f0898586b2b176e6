"""``shapes-captions`` and ``digit-captions``: images with captions, generated offline (PNG files in the cache).

``shapes-captions`` draws one or two coloured shapes (circle, square, triangle; red, green, blue, yellow) on
a light grey background with PIL. One shape is small or large, anywhere in the image: "a small green
triangle". Two shapes sit in the two halves of the image, side by side or one above the other, and the
caption says where the first is relative to the second, read left to right or top to bottom: "a red circle
left of a blue square", "a yellow triangle above a green circle". With ``paraphrases`` (the default) every
image gets a second caption: a one-shape image "a green triangle that is small", a two-shape image the one
told from the other shape ("a blue square right of a red circle"). Rows that share an image are its
references (keep them in one split: ``data.split.group_by: image``).

``digit-captions`` puts 2 or 3 of scikit-learn's 1,797 bundled 8x8 handwritten digits side by side (grey,
each scaled up), captioned with their names: "three seven one"; with ``paraphrases`` (the default) also
"the digits three seven and one".

Both write one PNG per image into ``<cache>/datasets/<name>-<digest>/`` and a TSV of ``image`` (the PNG's
absolute path) and ``caption``; the same options always give the same images and table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import Field, model_validator

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import GeneratedRecipe, options_digest
from seqpipe.schema import Schema

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 165, 60), "blue": (45, 85, 225), "yellow": (235, 200, 25)}
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SUPERSAMPLE = 4  # shapes are drawn this many times larger, then scaled down (smooth edges)


class ImageRecipe(GeneratedRecipe):
    """A generated set of captioned images: PNG files in a folder named like the table, and ``image, caption`` rows."""

    roles = ("image", "caption")
    folder: Path | None = None

    def prepare(self, cache: Path, options: dict[str, Any] | None = None) -> Path:
        parsed = self.parse_options(options)
        self.folder = (cache / "datasets" / f"{self.name}-{options_digest(parsed, self.version)}").resolve()
        return super().prepare(cache, options)

    def is_prepared(self, target: Path) -> bool:
        """The table is complete and so is the folder of images it names."""
        if not super().is_prepared(target) or self.folder is None or not self.folder.is_dir():
            return False
        return sum(1 for name in os.listdir(self.folder) if name.endswith(".png")) == self.images

    def rows_for(self, options) -> int:
        self.images = int(options.examples)
        return sum(len(captions) for captions in self.captions(options))

    def generate(self, options) -> list[tuple[str, str]]:
        assert self.folder is not None, "prepare() names the folder"
        self.folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for i, (image, captions) in enumerate(zip(self.render(options), self.captions(options))):
            path = self.folder / f"{i:06d}.png"
            image.save(path, format="PNG")
            rows += [(str(path), caption) for caption in captions]
        return rows

    def captions(self, options) -> list[list[str]]:
        """Every image's captions (cheap: no drawing)."""
        raise NotImplementedError

    def render(self, options):
        """The PIL images, one by one."""
        raise NotImplementedError


# -- shapes ----------------------------------------------------------------------------------------------------------

class ShapesOptions(Schema):
    """Parameters of shapes-captions (``data.source.options``)."""

    examples: int = Field(3000, ge=1, le=1_000_000, description="images generated")
    image_size: int = Field(64, ge=16, le=1024, description="width and height of the square images, in pixels")
    max_shapes: int = Field(2, ge=1, le=2, description="shapes per image at most: 1, or 2 (then half of the images "
                                                       "have two)")
    paraphrases: bool = Field(True, description="every image also gets a second caption: 'a green triangle that is "
                                                "small', or a two-shape image's told from its other shape")
    seed: int = Field(0, ge=0, description="generator seed: the same options give the same images and table")


class Shape(NamedTuple):
    kind: str
    colour: str
    x: float  # centre, in pixels
    y: float
    radius: float


class Scene(NamedTuple):
    background: int
    shapes: tuple[Shape, ...]
    captions: tuple[str, ...]


def plan_scenes(options: ShapesOptions) -> list[Scene]:
    """Every image's shapes and captions, drawn from the seed alone."""
    import numpy as np

    rng = np.random.default_rng(options.seed)
    size = float(options.image_size)
    scenes = []
    for _ in range(options.examples):
        background = int(rng.integers(200, 246))
        count = 1 if options.max_shapes == 1 else int(rng.integers(1, 3))
        kinds = [SHAPES[int(k)] for k in rng.integers(0, len(SHAPES), size=count)]
        colours = [list(COLOURS)[int(c)] for c in rng.integers(0, len(COLOURS), size=count)]
        if count == 1:
            large = bool(rng.integers(0, 2))
            radius = size * float(rng.uniform(0.22, 0.28) if large else rng.uniform(0.09, 0.13))
            x, y = (float(rng.uniform(radius + 1, size - radius - 1)) for _ in range(2))
            shape = Shape(kinds[0], colours[0], x, y, radius)
            size_word = "large" if large else "small"
            captions = [f"a {size_word} {colours[0]} {kinds[0]}"]
            if options.paraphrases:
                captions.append(f"a {colours[0]} {kinds[0]} that is {size_word}")
            scenes.append(Scene(background, (shape,), tuple(captions)))
            continue
        side_by_side = bool(rng.integers(0, 2))
        shapes = []
        for half in (0, 1):  # the first shape in the left (top) half, the second in the right (bottom) one
            radius = size * float(rng.uniform(0.10, 0.14))
            along = float(rng.uniform(half * size / 2 + radius + 1, (half + 1) * size / 2 - radius - 1))
            across = float(rng.uniform(radius + 1, size - radius - 1))
            x, y = (along, across) if side_by_side else (across, along)
            shapes.append(Shape(kinds[half], colours[half], x, y, radius))
        first, second = (f"{shape.colour} {shape.kind}" for shape in shapes)
        before, after = ("left of", "right of") if side_by_side else ("above", "below")
        captions = [f"a {first} {before} a {second}"]
        if options.paraphrases:
            captions.append(f"a {second} {after} a {first}")
        scenes.append(Scene(background, tuple(shapes), tuple(captions)))
    return scenes


def draw_scene(scene: Scene, size: int):
    """The scene as an RGB PIL image of ``size`` x ``size`` pixels (drawn larger, then scaled down)."""
    from PIL import Image, ImageDraw

    big = size * SUPERSAMPLE
    image = Image.new("RGB", (big, big), (scene.background,) * 3)
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        x, y, r = (SUPERSAMPLE * v for v in (shape.x, shape.y, shape.radius))
        colour = COLOURS[shape.colour]
        if shape.kind == "circle":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        elif shape.kind == "square":
            half = 0.85 * r
            draw.rectangle((x - half, y - half, x + half, y + half), fill=colour)
        else:
            draw.polygon([(x, y - r), (x - 0.95 * r, y + 0.8 * r), (x + 0.95 * r, y + 0.8 * r)], fill=colour)
    return image.resize((size, size), Image.Resampling.LANCZOS)


class ShapesCaptions(ImageRecipe):
    """One or two coloured shapes per image, captioned with their colour, kind and size or relative place."""

    name = "shapes-captions"
    version = 2  # 2: one-shape images have a paraphrase too
    description = DATASETS.describe(name)
    Options = ShapesOptions

    def captions(self, options: ShapesOptions) -> list[list[str]]:
        return [list(scene.captions) for scene in plan_scenes(options)]

    def render(self, options: ShapesOptions):
        for scene in plan_scenes(options):
            yield draw_scene(scene, options.image_size)


# -- digits ----------------------------------------------------------------------------------------------------------

class DigitOptions(Schema):
    """Parameters of digit-captions (``data.source.options``)."""

    examples: int = Field(3000, ge=1, le=1_000_000, description="images generated")
    min_digits: int = Field(2, ge=1, le=8, description="fewest digits in an image")
    max_digits: int = Field(3, ge=1, le=8, description="most digits in an image (the image is this many digits "
                                                       "wide; fewer digits leave the right end blank)")
    scale: int = Field(4, ge=1, le=16, description="pixels per digit pixel: each 8 x 8 digit becomes "
                                                   "8*scale x 8*scale")
    paraphrases: bool = Field(True, description="every image also gets a second caption: 'the digits three seven and "
                                                "one' ('the digit three' for one digit)")
    seed: int = Field(0, ge=0, description="generator seed: the same options give the same images and table")

    @model_validator(mode="after")
    def _ordered(self) -> DigitOptions:
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits ({self.min_digits}) must be <= max_digits ({self.max_digits})")
        return self


class DigitCaptions(ImageRecipe):
    """2-3 of scikit-learn's 8x8 handwritten digits side by side, captioned with their names."""

    name = "digit-captions"
    version = 2  # 2: the paraphrases
    description = DATASETS.describe(name)
    Options = DigitOptions

    @staticmethod
    def plan(options: DigitOptions):
        """``[(digit image indices), ...]`` per image, and the digits' labels."""
        import numpy as np
        from sklearn.datasets import load_digits

        images, labels = load_digits(return_X_y=True)
        rng = np.random.default_rng(options.seed)
        counts = rng.integers(options.min_digits, options.max_digits + 1, size=options.examples)
        return [rng.integers(0, len(labels), size=int(n)) for n in counts], images, labels

    def captions(self, options: DigitOptions) -> list[list[str]]:
        picks, _, labels = self.plan(options)
        result = []
        for pick in picks:
            names = [DIGIT_NAMES[int(labels[i])] for i in pick]
            captions = [" ".join(names)]
            if options.paraphrases:
                listed = " ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
                captions.append(f"the digit{'s' if len(names) > 1 else ''} {listed}")
            result.append(captions)
        return result

    def render(self, options: DigitOptions):
        import numpy as np
        from PIL import Image

        picks, images, _ = self.plan(options)
        cell = 8 * options.scale
        for pick in picks:
            canvas = np.zeros((cell, cell * options.max_digits), np.uint8)
            for slot, i in enumerate(pick):
                digit = np.kron(images[i].reshape(8, 8), np.ones((options.scale, options.scale)))
                canvas[:, slot * cell:(slot + 1) * cell] = np.round(digit * 255 / 16).astype(np.uint8)
            yield Image.fromarray(canvas)  # 8-bit grey
