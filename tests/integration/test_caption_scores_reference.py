"""The COCO caption scores equal pycocoevalcap 1.2's own scorers and tokenizer (Java: its METEOR and
PTBTokenizer jars, and seqpipe's METEOR jar; in the default test run)."""

from __future__ import annotations

import pytest

from seqpipe.metrics.caption_scores import CAPTION_METRICS, caption_scores, coco_tokenize

pytestmark = pytest.mark.java

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
