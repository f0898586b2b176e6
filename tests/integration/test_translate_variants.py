"""Architecture changes through YAML only, on a toy task the project generates (reverse + uppercase)."""

import random

import pytest

import seqpipe

WORDS = "alpha beta gamma delta eps zeta eta theta iota kappa lam mu".split()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    rng = random.Random(0)
    rows = ["source\ttarget"]
    for _ in range(900):
        words = rng.choices(WORDS, k=rng.randint(2, 6))
        rows.append(" ".join(words) + "\t" + " ".join(w.upper() for w in reversed(words)))
    (folder / "reverse.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def pipeline(toy, **stages):
    base = {
        "tokenize": {"kind": "word", "vocab_size": 64, "lowercase": False, "max_length": 10},
        "embed": {"dim": 24},
        "encode": {"cell": "gru", "units": 24, "bidirectional": True},
        "decode": {"cell": "gru", "units": 48, "attention": "bahdanau"},
        "train": {"epochs": 12, "batch_size": 32, "monitor": "val_bleu", "validation_subset": 30,
                  "optimizer": {"learning_rate": 0.01}},
        "generate": {"decoding": {"strategy": "beam", "beam_width": 3}, "heatmaps": 0},
        "evaluate": {"metrics": ["bleu", "chrf"]},
    }
    for name, overrides in stages.items():
        base[name] = {**base.get(name, {}), **overrides}
    return {"name": "toy", "task": "translation", "tracking": {"backend": "none"}, "output_dir": str(toy / "runs"),
            "data": {"source": {"path": str(toy / "reverse.tsv")}, "split": {"valid": 0.1, "test": 0.1}},
            "stages": [{k: v} for k, v in base.items()]}


def test_bahdanau_gru_learns_the_toy_task_and_beam_is_not_worse_than_greedy(toy):
    metrics = seqpipe.run(pipeline(toy), progress=False).metrics
    assert metrics["test_bleu"] > 80
    assert metrics["test_bleu"] >= metrics["test_bleu_greedy"] - 1e-9


def test_shared_vocabulary_luong_dot_copy_bridge_wordpiece_and_sampling(toy):
    result = seqpipe.run(pipeline(
        toy,
        tokenize={"kind": "wordpiece", "vocab_size": 120, "shared": True},
        encode={"cell": "lstm", "units": 24, "bidirectional": True},
        decode={"cell": "lstm", "units": 48, "attention": "luong_dot", "bridge": "copy", "input_feeding": False},
        generate={"decoding": {"strategy": "sampling", "temperature": 0.5, "seed": 1}, "compare_greedy": True},
    ), progress=False)
    assert (result.run_dir / "vocab.txt").exists() and not (result.run_dir / "source_vocab.txt").exists()
    assert result.metrics["test_bleu_greedy"] > 50
    assert 0 <= result.metrics["test_bleu"] <= 100 + 1e-9  # sacrebleu may give 100.00000000000004


@pytest.mark.parametrize("shared", [True, False])
def test_bpe_subwords_with_a_shared_or_separate_vocabulary(toy, shared):
    result = seqpipe.run(pipeline(
        toy, tokenize={"kind": "bpe", "vocab_size": 80, "shared": shared, "lowercase": False, "max_length": 24}),
        progress=False)  # a word is several pieces: longer sequences than the word tokenizer's
    vocab_files = sorted(p.name for p in result.run_dir.glob("*vocab.txt"))
    assert vocab_files == (["vocab.txt"] if shared else ["source_vocab.txt", "target_vocab.txt"])
    assert result.metrics["test_bleu"] > 50  # subwords of the toy words, learned
    pieces = (result.run_dir / vocab_files[0]).read_text(encoding="utf-8").splitlines()
    assert any(p.startswith("▁") for p in pieces) and pieces[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
