"""The COCO caption scores' edge cases, tokenizer and resampling; that they equal pycocoevalcap's is
tests/integration/test_caption_scores_reference.py (it needs Java)."""

from __future__ import annotations

import pytest

from seqpipe.metrics import METRICS
from seqpipe.metrics.caption_scores import (
    CAPTION_METRICS,
    bleu_scores,
    caption_scores,
    cider_d_scores,
    coco_tokenize,
    rouge_l_scores,
)


def test_the_tokenizer_writes_ptb_tokens_in_lower_case_without_its_punctuation():
    assert coco_tokenize("A Man (in red) isn't riding; a HORSE.") == "a man -lrb- in red -rrb- is n't riding a horse"
    assert coco_tokenize("A dog. A cat at 5 p.m. near Mr. Smith's U.S. flag.") == \
        "a dog a cat at 5 p.m. near mr. smith 's u.s. flag"
    assert coco_tokenize("\u201cTwo\u201d dogs \u2014 one\u2019s brown\u2026") == "two dogs one 's brown"
    assert coco_tokenize("  ") == "" and coco_tokenize("...!?") == ""


def test_the_metrics_are_registered_as_texts_and_take_several_references():
    for name in CAPTION_METRICS:
        fn = METRICS.get(name)
        assert fn.scores == "texts" and fn.several_references is True
    assert METRICS.get("rouge_l")(["A red circle."], [["a red circle", "a circle"]]) == pytest.approx(1.0)


def test_corpus_score_hands_every_reference_to_them():
    from seqpipe.tasks.seq2seq.scores import corpus_score

    refs = [["a red circle", "a circle that is red"], ["a blue square", "a square that is blue"]]
    hyps = ["a circle that is red", "a blue square"]
    # with the first reference only, the first hypothesis would not be a perfect match
    assert corpus_score("bleu_4", hyps, refs) == pytest.approx(1.0)
    assert corpus_score("rouge_l", hyps, [[r[0]] for r in refs]) < 1.0


def test_an_empty_hypothesis_scores_zero_and_does_not_fail():
    refs = [["a red circle", "a circle"]]
    assert bleu_scores([""], refs) == pytest.approx([0.0] * 4, abs=1e-9)
    assert rouge_l_scores([""], refs) == [0.0]
    assert cider_d_scores(["", "a blue square"], refs + [["a blue square"]])[0] == 0.0


def test_one_image_gets_no_cider_and_the_usual_bleu():
    """With one image every reference n-gram is in every document: IDF 0, CIDEr-D 0 (as pycocoevalcap)."""
    scores = caption_scores(["A red circle."], [["a red circle", "a circle that is red"]],
                            ("bleu_1", "bleu_4", "rouge_l", "cider_d"))
    # no 4-gram to guess: pycocoevalcap's constants make that precision tiny / small = 1e-6, not 0 or 1
    assert scores["bleu_1"] == pytest.approx(1.0) and scores["bleu_4"] == pytest.approx(1e-6 ** 0.25)
    assert scores["rouge_l"] == pytest.approx(1.0) and scores["cider_d"] == 0.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        caption_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="non-empty list"):
        caption_scores(["a"], [[]])
    with pytest.raises(ValueError, match="non-empty list"):
        caption_scores(["a"], ["a"])
    with pytest.raises(ValueError, match="no captions"):
        caption_scores([], [])


def test_meteor_refuses_other_languages():
    from seqpipe.errors import SeqpipeError

    with pytest.raises(SeqpipeError, match="English"):
        METRICS.get("meteor_coco")(["un perro"], [["un perro"]], language="es")


def test_caption_scores_are_resampled_from_per_example_statistics():
    """BLEU-n sums per-image counts, ROUGE-L and CIDEr-D average per-image scores: on the whole set each
    resampler gives the metric itself, and the bootstrap interval brackets it."""
    from seqpipe.metrics.resampling import RESAMPLERS, interval

    hyps = ["a red circle that is big", "two blue squares", "a green triangle", "the digits one two"]
    refs = [["a big red circle", "a red circle that is big"], ["two blue squares", "a pair of blue squares"],
            ["a small green triangle", "a green triangle that is small"], ["the digits one and two", "one two"]]
    names = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider_d")
    scores = caption_scores(hyps, refs, names)
    for name in names:
        resampler = RESAMPLERS[name](hyps, refs)
        assert resampler.value() == pytest.approx(scores[name], abs=1e-12), name
        low, high = interval(resampler)
        assert low <= scores[name] <= high and low < high, name
    assert "meteor_coco" not in RESAMPLERS  # its statistics stay inside the jar
