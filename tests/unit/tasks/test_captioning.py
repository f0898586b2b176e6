"""The captioning task's parts: generated data sets, image checks, the image encoder, scores, config rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqpipe.errors import ConfigError, DataError

# -- the recipes -------------------------------------------------------------------------------------------------


def test_shapes_captions_is_deterministic_and_its_table_names_its_pngs(tmp_path):
    from PIL import Image

    from seqpipe.data.readers import read_table
    from seqpipe.data.recipes import DATASETS

    options = {"examples": 40, "image_size": 32, "seed": 3}
    table = DATASETS.get("shapes-captions")().prepare(tmp_path / "a", options)
    again = DATASETS.get("shapes-captions")().prepare(tmp_path / "b", options)
    rows = read_table(table, format="tsv", roles=["image", "caption"])
    other = read_table(again, format="tsv", roles=["image", "caption"])
    assert rows["caption"].tolist() == other["caption"].tolist()
    images = list(dict.fromkeys(rows["image"]))
    assert len(images) == 40 and len(rows) == 80  # every image has a paraphrase: several references
    for first, second in zip(images, dict.fromkeys(other["image"])):
        assert open(first, "rb").read() == open(second, "rb").read()  # the same pixels, byte for byte
    with Image.open(images[0]) as image:
        assert image.format == "PNG" and image.size == (32, 32) and image.mode == "RGB"
    words = {"a", "small", "large", "red", "green", "blue", "yellow", "circle", "square", "triangle", "left",
             "right", "of", "above", "below", "that", "is"}
    assert set(" ".join(rows["caption"]).split()) <= words
    for image, group in rows.groupby("image"):
        captions = group["caption"].tolist()
        assert len(captions) == 2
        if len(captions[0].split()) > 4:  # "a X left of a Y" and "a Y right of a X"
            first, second = (c.split(" ", 1)[1] for c in captions)
            relation = {"left of": "right of", "above": "below"}
            said = next(r for r in relation if f" {r} " in first)
            x, y = first.split(f" {said} a ")
            assert second == f"{y} {relation[said]} a {x}"
        else:  # "a small red circle" and "a red circle that is small"
            _, size, colour, kind = captions[0].split()
            assert captions[1] == f"a {colour} {kind} that is {size}"
    prepared = DATASETS.get("shapes-captions")().prepare(tmp_path / "a", options)
    assert prepared == table  # cached: not drawn again


def test_shapes_captions_options_change_the_set_and_are_checked(tmp_path):
    from seqpipe.data.readers import read_table
    from seqpipe.data.recipes import DATASETS

    recipe = DATASETS.get("shapes-captions")
    table = recipe().prepare(tmp_path, {"examples": 25, "max_shapes": 1, "image_size": 16, "paraphrases": False})
    rows = read_table(table, format="tsv", roles=["image", "caption"])
    assert len(rows) == 25 and all(len(c.split()) == 4 for c in rows["caption"])
    with pytest.raises(ValueError, match="max_shapes"):
        recipe.parse_options({"max_shapes": 3})
    with pytest.raises(ValueError, match="size"):
        recipe.parse_options({"size": 3})


def test_a_deleted_image_makes_the_set_again(tmp_path):
    from seqpipe.data.recipes import DATASETS

    options = {"examples": 5, "image_size": 16}
    table = DATASETS.get("shapes-captions")().prepare(tmp_path, options)
    first = pd.read_csv(table, sep="\t")["image"].iloc[0]
    import os

    os.remove(first)
    DATASETS.get("shapes-captions")().prepare(tmp_path, options)
    assert os.path.exists(first)


def test_digit_captions_names_the_digits_it_draws(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    from seqpipe.data.recipes import DATASETS
    from seqpipe.data.recipes.shapes_captions import DIGIT_NAMES, DigitCaptions, DigitOptions

    table = DATASETS.get("digit-captions")().prepare(tmp_path, {"examples": 12, "scale": 2})
    both = pd.read_csv(table, sep="\t")
    assert len(both) == 24 and both["image"].nunique() == 12  # every image: its digits' names, and a paraphrase
    rows, paraphrases = both.iloc[::2].reset_index(drop=True), both["caption"].iloc[1::2].tolist()
    assert all(2 <= len(c.split()) <= 3 for c in rows["caption"])
    assert set(" ".join(rows["caption"]).split()) <= set(DIGIT_NAMES)
    names = rows["caption"][0].split()
    assert paraphrases[0] == f"the digits {' '.join(names[:-1])} and {names[-1]}"
    picks, images, labels = DigitCaptions.plan(DigitOptions(examples=12, scale=2))
    with Image.open(rows["image"][0]) as image:
        assert image.mode == "L" and image.size == (3 * 16, 16)
        pixels = np.asarray(image)
    first = np.kron(load_digits().images[picks[0][0]], np.ones((2, 2)))
    np.testing.assert_array_equal(pixels[:, :16], np.round(first * 255 / 16))
    assert rows["caption"][0] == " ".join(DIGIT_NAMES[labels[i]] for i in picks[0])
    with pytest.raises(ValueError, match="min_digits"):
        DigitOptions(min_digits=4, max_digits=3)


# -- the data checks -----------------------------------------------------------------------------------------------

def write_images(folder, names, size=(20, 16)):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", size, (10 * i, 100, 200)).save(folder / name)


def load(tmp_path, text, name="data.tsv", on_error="fail", **split):
    from seqpipe.data import load_data
    from seqpipe.data.config import DataConfig
    from seqpipe.tasks import get_task

    (tmp_path / name).write_text(text, encoding="utf-8")
    cfg = DataConfig.model_validate({"source": {"path": name}, "on_error": on_error,
                                     "split": {"valid": 0.0, "test": 0.0, **split}})
    splits, report = load_data(cfg, roles=["image", "caption"], seed=0, base_dir=tmp_path)
    return get_task("captioning").check_data(splits, cfg, report), report


def test_relative_images_are_found_beside_the_data_file_and_digested(tmp_path):
    write_images(tmp_path / "pics", ["a.png", "b.jpg"])
    splits, _ = load(tmp_path, "image\tcaption\npics/a.png\ta thing\npics/b.jpg\tanother thing\n")
    train = splits["train"]
    assert sorted(train["image"]) == sorted(str((tmp_path / "pics" / n).resolve()) for n in ("a.png", "b.jpg"))
    assert train["image_digest"].str.len().eq(16).all() and train["image_digest"].nunique() == 2


def test_missing_and_unreadable_images_are_data_errors_naming_file_and_row(tmp_path):
    from PIL import Image

    write_images(tmp_path / "pics", ["a.png"])
    (tmp_path / "pics" / "notes.png").write_text("not an image", encoding="utf-8")
    Image.new("RGB", (4, 4)).save(tmp_path / "pics" / "c.tiff")
    text = ("image\tcaption\npics/a.png\tfine\npics/gone.png\tmissing\npics/notes.png\tbroken\n"
            "pics/c.tiff\twrong format\npics/a.png\tfine again\n")
    with pytest.raises(DataError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'data.tsv'} row 3: image {(tmp_path / 'pics' / 'gone.png').resolve()} "
                              "not found; expected an image file (data.on_error: skip drops such rows)")
    assert "other problems at rows 4 and 5" in message
    splits, report = load(tmp_path, text, on_error="skip")
    assert sorted(splits["train"]["caption"]) == ["fine", "fine again"]
    assert report.total == 3
    assert any("TIFF image; expected PNG, JPEG, GIF or BMP" in kind for kind in report.problems)
    assert any("not an image" in kind for kind in report.problems)


def test_an_image_in_train_and_a_held_out_split_is_refused_unless_grouped(tmp_path):
    write_images(tmp_path, [f"{i}.png" for i in range(10)])
    lines = ["image\tcaption"] + [f"{i}.png\tcaption {k}" for i in range(10) for k in range(2)]
    text = "\n".join(lines) + "\n"
    with pytest.raises(DataError, match="image also in the train split.*group_by: image"):
        load(tmp_path, text, test=0.3)
    splits, _ = load(tmp_path, text, test=0.3, group_by="image")
    assert not set(splits["train"]["image"]) & set(splits["test"]["image"])
    kept, report = load(tmp_path, text, on_error="skip", test=0.3)
    assert not set(kept["train"]["image"]) & set(kept["test"]["image"]) and report.total > 0


# -- the image encoder and image decoding -----------------------------------------------------------------------

def test_image_encoder_grid_is_the_flattened_memory_and_its_mean_the_summary():
    import keras

    from seqpipe.layers.image_encoder import ImageEncoder

    encoder = ImageEncoder([4, 6], convs=[1, 2], kernel=3, pool=2, image_size=[17, 12], channels=3,
                           positions=False)
    assert encoder.grid == (4, 3)
    images = np.random.default_rng(0).uniform(size=(2, 17, 12, 3)).astype("float32")
    memory, summary = encoder(images)
    assert memory.shape == (2, 12, 6) and summary.shape == (2, 6)
    grid = images
    for layer in encoder.stack:
        grid = layer(grid)
    np.testing.assert_allclose(memory.numpy(), keras.ops.reshape(grid, (2, 12, 6)).numpy(), atol=1e-6)
    np.testing.assert_allclose(summary.numpy(), memory.numpy().mean(axis=1), atol=1e-6)
    with_positions = ImageEncoder([4, 6], image_size=[17, 12])
    with_positions(images)
    assert "position_embedding" in [w.name for w in with_positions.trainable_weights]
    with pytest.raises(ValueError, match="too small"):
        ImageEncoder([4, 4, 4], pool=2, image_size=[4, 4])


def test_decoding_resizes_any_image_and_makes_grey_from_colour(tmp_path):
    import tensorflow as tf
    from PIL import Image

    from seqpipe.layers.image_encoder import decode_images, read_images

    Image.new("RGB", (30, 10), (255, 0, 0)).save(tmp_path / "red.png")
    Image.new("L", (7, 9), 128).save(tmp_path / "grey.jpg", quality=100)
    Image.new("RGB", (5, 5), (0, 0, 255)).save(tmp_path / "blue.gif")
    paths = [str(tmp_path / n) for n in ("red.png", "grey.jpg", "blue.gif")]
    pixels = read_images(paths, [8, 6], 3)
    assert pixels.shape == (3, 8, 6, 3) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[0], np.broadcast_to([1, 0, 0], (8, 6, 3)), atol=1e-6)
    np.testing.assert_allclose(pixels[1], 128 / 255, atol=2 / 255)
    encoded = tf.constant([open(p, "rb").read() for p in paths])
    np.testing.assert_array_equal(decode_images(encoded, [8, 6], 3).numpy(), pixels)  # the served pixels
    grey = read_images(paths[:1], [8, 6], 1)
    assert grey.shape == (1, 8, 6, 1) and 0.25 < grey.mean() < 0.35  # red's luma


def test_attention_upsampling_puts_a_grid_cell_where_it_is_in_the_image():
    from seqpipe.tasks.captioning.plots import upsample

    weights = np.zeros(4 * 3, np.float32)
    weights[1 * 3 + 2] = 1.0  # row 1, column 2 of a 4 x 3 grid
    heat = upsample(weights, (4, 3), (16, 12))
    assert heat.shape == (16, 12)
    row, col = np.unravel_index(np.argmax(heat), heat.shape)
    assert 4 <= row < 8 and 8 <= col < 12


# -- scores ---------------------------------------------------------------------------------------------------------

def test_several_references_are_scored_as_sacrebleu_and_meteor_score_them():
    import sacrebleu

    from seqpipe.metrics import METRICS
    from seqpipe.tasks.seq2seq.scores import corpus_score, sentence_scores

    hyps = ["a red circle left of a blue square", "a small green triangle", "a blue square above a red circle"]
    refs = [["a blue square right of a red circle", "a red circle left of a blue square"],
            ["a small green triangle"],
            ["a red circle below a blue square", "a blue square above a red circle"]]
    streams = [[r[0] for r in refs], [r[1] if len(r) > 1 else None for r in refs]]
    assert corpus_score("bleu", hyps, refs) == pytest.approx(sacrebleu.corpus_bleu(hyps, streams).score)
    assert corpus_score("chrf", hyps, refs) == pytest.approx(sacrebleu.corpus_chrf(hyps, streams).score)
    assert corpus_score("bleu", hyps, refs) == pytest.approx(100.0)
    assert corpus_score("bleu", hyps, [[r[0]] for r in refs]) == METRICS.get("bleu")(hyps, [r[0] for r in refs])
    meteor = corpus_score("meteor", hyps, refs)
    assert meteor == pytest.approx(np.mean([max(METRICS.get("meteor")([h], [r]) for r in rs)
                                            for h, rs in zip(hyps, refs)]))
    assert meteor > METRICS.get("meteor")(hyps, [r[0] for r in refs])
    assert sentence_scores(hyps, refs)["bleu"].tolist() == pytest.approx([100.0, 100.0, 100.0])


# -- config --------------------------------------------------------------------------------------------------------

def pipeline(**stages):
    base = {"tokenize": {}, "see": {"blocks": [{"filters": 8}, {"filters": 16}], "image_size": [32, 32]},
            "caption": {"units": 16}, "train": {"epochs": 1, "monitor": "val_bleu"}, "describe": {},
            "evaluate": {}, "export": {}}
    base.update(stages)
    return {"name": "caps", "task": "captioning", "data": {"source": {"path": "caps.tsv"}},
            "stages": [{k: v} for k, v in base.items() if v is not None]}


def test_a_captioning_pipeline_resolves_its_decoding_and_defaults(tmp_path):
    from seqpipe.api import load

    config, _, _ = load(pipeline(), base_dir=tmp_path)
    assert config.stage_names() == ["tokenize", "see", "caption", "train", "describe", "evaluate", "export"]
    assert config.stage("tokenize").kind == "word"
    assert config.stage("train").decoding.strategy == "beam" and config.stage("export").decoding.beam_width == 5
    assert config.stage("caption").embed_dim == 64 and config.stage("train").scheduled_sampling is None
    assert config.stage("see").grid() == (8, 8)
    config, _, _ = load(pipeline(describe=None, evaluate=None), base_dir=tmp_path)
    assert config.stage("train").decoding.strategy == "greedy"


def test_captioning_refuses_what_it_does_not_read(tmp_path):
    from seqpipe.api import load

    bad = pipeline(caption={"units": 16, "bridge": "copy", "attention": "luong_dot"},
                   train={"epochs": 1, "batch_tokens": 100, "bucketing": True},
                   evaluate={"splits": ["valid"], "metrics": ["accuracy"]})
    bad["stages"].insert(1, {"embed": {}})
    bad["data"]["max_tokens"] = 20
    with pytest.raises(ConfigError) as info:
        load(bad, base_dir=tmp_path)
    problems = "\n".join(info.value.problems)
    assert "data.max_tokens: counts the tokens of the first column, which for task 'captioning' is the" in problems
    assert "stages[4].train.bucketing: 'bucketing' is a key of task" in problems
    assert "task 'captioning' does not read stages.train.batch_tokens; remove it" in problems
    assert "'accuracy' scores labels, not what task 'captioning' predicts" in problems
    assert "stages[1].embed: task 'captioning' encodes images with the 'see' stage" in problems
    assert "stages.describe.splits decodes only test" in problems
    assert "caption.bridge" not in problems  # units 16 = the last block's filters 16
    with pytest.raises(ConfigError) as info:
        load(pipeline(see={"blocks": [{"filters": 8}], "image_size": [32, 32]},
                      caption={"units": 16, "bridge": "copy", "attention": "luong_dot"}), base_dir=tmp_path)
    assert [p.split(": ", 2)[1:] for p in info.value.problems] == [
        ["stages[2].caption.bridge", "'copy' needs units (16) to equal the last see block's filters (8); use dense "
                                     "or zero"],
        ["stages[2].caption.attention", "'luong_dot' needs units (16) to equal the last see block's filters (8); use "
                                        "bahdanau or luong_general"]]
    with pytest.raises(ConfigError, match="too small for 3 blocks"):
        load(pipeline(see={"blocks": [{"filters": 4}] * 3, "image_size": [4, 32]}), base_dir=tmp_path)
    wrong = pipeline()
    wrong["stages"][2] = {"decode": {}}
    with pytest.raises(ConfigError, match="stage 'decode' is for task translation, not 'captioning'"):
        load(wrong, base_dir=tmp_path)


def test_scheduled_sampling_is_a_key_of_the_decoder_tasks_only(tmp_path):
    from seqpipe.api import load

    config, _, _ = load(pipeline(train={"epochs": 1, "scheduled_sampling": {"schedule": "inverse_sigmoid", "k": 20}}),
                        base_dir=tmp_path)
    schedule = config.stage("train").scheduled_sampling
    assert schedule.schedule == "inverse_sigmoid" and schedule.ratio(0) == pytest.approx(20 / 21)
    classify = {"name": "cls", "task": "classification", "data": {"source": {"path": "x.tsv"}},
                "stages": [{"tokenize": {}}, {"embed": {}}, {"encode": {}}, {"classify": {}},
                           {"train": {"scheduled_sampling": {"schedule": "linear"}}}]}
    with pytest.raises(ConfigError, match="'scheduled_sampling' is a key of task captioning, translation"):
        load(classify, base_dir=tmp_path)
