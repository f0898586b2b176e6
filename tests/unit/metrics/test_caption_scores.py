"""The COCO caption scores against pycocoevalcap 1.2's own scorers and tokenizer, and their edge cases."""

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

# Pre-tokenized captions (lower case, no punctuation): 10 images with 2 to 5 references each; some
# hypotheses share nothing with their references, one repeats a word, one is longer than every reference.
HYPOTHESES = ["a red circle left of a blue square", "a small green triangle", "a dog runs on the grass",
              "zebra zebra", "a large yellow circle", "a man is riding a horse in a field near some trees",
              "two cats", "a blue square above a red triangle", "the the the", "purple elephants fly"]
REFERENCES = [
    ["a red circle left of a blue square", "a blue square right of a red circle"],
    ["a small green triangle", "a green triangle that is small", "tiny green triangle"],
    ["a dog running across the grass", "a brown dog runs on a lawn", "the dog is running", "a dog on grass"],
    ["a red circle", "a circle that is red"],
    ["a large yellow circle", "a yellow circle that is large", "a big yellow disc", "yellow circle", "a circle"],
    ["a man rides a horse", "a person riding a brown horse in a field", "a man on a horse"],
    ["two cats sleeping on a couch", "a pair of cats on a sofa"],
    ["a red triangle below a blue square", "a blue square above a red triangle", "two shapes"],
    ["the cat sat on the mat", "a cat on a mat", "the mat has a cat on it"],
    ["a small yellow circle", "a yellow circle that is small"],
]

# Raw captions as people (and the shapes set) write them: capitals, punctuation, contractions, brackets.
RAW_HYPOTHESES = ["A red circle, left of a blue square.", "A small green triangle!", "The dog's running (fast).",
                  "It's a LARGE yellow circle...", "Two cats; one sleeps.", "a blue square -- above a red one?",
                  "A man rides a horse. It is brown.", "\"Zebra\" zebra", "a small circle", "Nothing: at all"]
RAW_REFERENCES = [
    ["A red circle left of a blue square.", "A blue square, right of a red circle."],
    ["A small green triangle.", "A green triangle that is small.", "Tiny green triangle!"],
    ["A dog is running fast.", "The dog's running on the grass (outside).", "Dogs don't walk; they run."],
    ["A large yellow circle.", "A yellow circle that's large.", "A big, yellow disc.", "Yellow circle!"],
    ["Two cats sleeping on a couch.", "A pair of cats: one sleeps, one doesn't."],
    ["A blue square above a red triangle.", "A red triangle below a blue square."],
    ["A man is riding a brown horse.", "Someone on a horse. The horse is brown.", "A rider and a horse."],
    ["A zebra.", "'Zebra' is the word.", "A striped zebra in a field."],
    ["A small yellow circle.", "A yellow circle that is small."],
    ["Two shapes.", "A square and a circle.", "Shapes, two of them."],
]


def coco_reference(gts: dict, res: dict, meteor) -> dict[str, float]:
    """pycocoevalcap's own figures for tokenized captions: Bleu(4), the given Meteor(), Rouge(), Cider()."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"bleu_{k + 1}": bleu[k] for k in range(4)}
    scores["meteor_coco"] = meteor.compute_score(gts, res)[0]
    scores["rouge_l"] = Rouge().compute_score(gts, res)[0]
    scores["cider_d"] = Cider().compute_score(gts, res)[0]
    return {name: float(value) for name, value in scores.items()}


@pytest.mark.java
def test_every_figure_equals_pycocoevalcaps_on_tokenized_and_on_raw_captions():
    """Both corpora go through one METEOR jar process each side (the jar loads for seconds)."""
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from seqpipe.metrics.caption_meteor import meteor_corpora

    # pycocoevalcap's tokenizer on the raw captions (the Stanford PTBTokenizer jar) against ours
    gts = PTBTokenizer().tokenize({i: [{"caption": c} for c in refs] for i, refs in enumerate(RAW_REFERENCES)})
    res = PTBTokenizer().tokenize({i: [{"caption": h}] for i, h in enumerate(RAW_HYPOTHESES)})
    assert [res[i][0] for i in range(len(RAW_HYPOTHESES))] == [coco_tokenize(h) for h in RAW_HYPOTHESES]
    assert [gts[i] for i in range(len(RAW_REFERENCES))] == [[coco_tokenize(r) for r in refs]
                                                            for refs in RAW_REFERENCES]

    meteor = Meteor()
    expected = [coco_reference({i: r for i, r in enumerate(REFERENCES)},
                               {i: [h] for i, h in enumerate(HYPOTHESES)}, meteor),
                coco_reference(gts, res, meteor)]
    del meteor
    ours_meteor = meteor_corpora([(HYPOTHESES, REFERENCES),
                                  ([coco_tokenize(h) for h in RAW_HYPOTHESES],
                                   [[coco_tokenize(r) for r in refs] for refs in RAW_REFERENCES])])
    others = tuple(m for m in CAPTION_METRICS if m != "meteor_coco")
    ours = [{**caption_scores(HYPOTHESES, REFERENCES, others, tokenized=True), "meteor_coco": ours_meteor[0]},
            {**caption_scores(RAW_HYPOTHESES, RAW_REFERENCES, others), "meteor_coco": ours_meteor[1]}]
    for mine, theirs in zip(ours, expected):
        assert set(mine) == set(theirs) == set(CAPTION_METRICS)
        for name in CAPTION_METRICS:
            assert mine[name] == pytest.approx(theirs[name], abs=1e-4), name
    assert 0 < expected[0]["cider_d"] < 10 and 0 < expected[1]["bleu_4"] < 1  # not degenerate


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
