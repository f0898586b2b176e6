"""The tagging model's pieces: in-graph inputs, the char word encoder, the loss, batching and the Tagger."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from seqpipe.errors import DataError
from seqpipe.layers.char_words import CharWordEncoder
from seqpipe.layers.crf import CRF
from seqpipe.tasks.tagging.batches import model_inputs, tag_ids, tagging_dataset, truncate
from seqpipe.tasks.tagging.losses import TagAccuracy, TagCrossEntropy, tag_accuracy
from seqpipe.tasks.tagging.runtime import Tagger
from seqpipe.text.chars import CharEncoder, char_vocabulary
from seqpipe.text.encoder import TextEncoder

SENTENCES = ["The dog barks .", "A cat sleeps on the mat today .", "Dogs bark"]
TAGS = ["DET NOUN VERB .", "DET NOUN VERB ADP DET NOUN NOUN .", "NOUN VERB"]
LABELS = [".", "ADP", "DET", "NOUN", "VERB"]


def encoders():
    words = TextEncoder("whitespace", ["[PAD]", "[UNK]", "[START]", "[END]", "the", "dog", "cat", "."], 100, True)
    chars = CharEncoder(char_vocabulary(SENTENCES), max_chars=4)
    return words, chars


def test_whitespace_tokens_and_chars_line_up():
    words, chars = encoders()
    inputs = model_inputs(words, chars, tf.constant(SENTENCES))
    ids, char_ids = inputs["token_ids"].numpy(), inputs["char_ids"].numpy()
    assert ids.shape == (3, 8) and char_ids.shape == (3, 8, 4)
    assert ids[0].tolist() == [4, 5, 1, 7, 0, 0, 0, 0]  # lowercased lookup; "barks" unseen -> [UNK]
    assert ((ids > 0) == (char_ids.max(axis=2) > 0)).all()  # a word has characters exactly where it is real
    vocab = chars.vocabulary
    assert [vocab[i] for i in char_ids[1, 2]] == ["s", "l", "e", "e"]  # cut to max_chars, case kept
    assert [vocab[i] for i in char_ids[0, 0] if i] == ["T", "h", "e"]
    unseen = CharEncoder(vocab)(tf.constant(["Zß"])).numpy()
    assert unseen[0, 0].tolist()[:2] == [1, 1]  # unseen characters are [UNK]


def test_empty_sentences_keep_one_masked_step():
    words, chars = encoders()
    inputs = model_inputs(words, chars, tf.constant(["", ""]))
    assert inputs["token_ids"].numpy().tolist() == [[0], [0]]
    assert inputs["char_ids"].numpy().tolist() == [[[0]], [[0]]]


@pytest.mark.parametrize("output", ["softmax", "crf"])
def test_a_batch_of_empty_sentences_gets_no_tags(output):
    out = tagger(output).tag(tf.constant(["", " "]))
    assert out["tags"].shape == (2, 0) and out["length"].numpy().tolist() == [0, 0]


def test_char_word_encoder_is_per_word_and_zero_on_padding():
    keras.utils.set_random_seed(1)
    layer = CharWordEncoder(20, dim=4, units=3)
    ids = np.array([[[5, 6, 0], [7, 0, 0], [0, 0, 0]],
                    [[7, 0, 0], [0, 0, 0], [0, 0, 0]]], "int32")
    out = layer(ids).numpy()
    assert out.shape == (2, 3, 6)
    assert np.all(out[0, 2] == 0) and np.all(out[1, 1:] == 0)
    np.testing.assert_allclose(out[0, 1], out[1, 0], atol=1e-6)  # the same word gives the same vector anywhere
    alone = layer(ids[:1, :1, :2]).numpy()  # less padding around it changes nothing
    np.testing.assert_allclose(alone[0, 0], out[0, 0], atol=1e-6)
    restored = CharWordEncoder.from_config(layer.get_config())
    restored.build(ids.shape)
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(restored(ids).numpy(), out, atol=1e-6)


def test_loss_and_accuracy_ignore_padding():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 3)).astype("float32")
    y = np.array([[1, 3, 2, 0], [2, 0, 0, 0]], "int32")  # tag i stored as i + 1; 0 is padding
    real = [(0, 0), (0, 1), (0, 2), (1, 0)]
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean([log_probs[b, t, y[b, t] - 1] for b, t in real])
    loss = TagCrossEntropy()
    assert float(loss(y, logits)) == pytest.approx(expected, rel=1e-5)
    noisy = logits.copy()
    noisy[0, 3], noisy[1, 1:] = 50.0, -50.0  # garbage at the padded steps
    assert float(loss(y, noisy)) == pytest.approx(expected, rel=1e-5)
    hits = [logits[b, t].argmax() + 1 == y[b, t] for b, t in real]
    assert float(tag_accuracy(y, logits)) == pytest.approx(np.mean(hits))
    assert float(tag_accuracy(y, noisy)) == pytest.approx(np.mean(hits))
    metric = TagAccuracy()
    metric.update_state(y, noisy)
    metric.update_state(y[1:], logits[1:])  # accumulates tokens, not batch means
    assert float(metric.result()) == pytest.approx((sum(hits) + hits[-1]) / 5)
    assert float(TagCrossEntropy.from_config(loss.get_config())(y, logits)) == pytest.approx(expected, rel=1e-5)
    masked = tf.constant(logits)
    masked._keras_mask = tf.constant(y > 0)  # as a softmax tagger's output carries it: applied or not, same value
    assert float(loss(y, masked)) == pytest.approx(expected, rel=1e-5)


def test_tag_ids_and_unseen_tags():
    frame = pd.DataFrame({"tokens": SENTENCES, "tags": TAGS})
    assert tag_ids(frame, LABELS, "train")[0] == [3, 4, 5, 1]
    assert tag_ids(frame, LABELS, "train", max_length=2)[1] == [3, 4]
    assert truncate(SENTENCES, 2) == ["The dog", "A cat", "Dogs bark"]
    with pytest.raises(DataError, match=r"^valid split row 3, token 1: tag 'NN' does not occur in the training split"):
        tag_ids(pd.DataFrame({"tokens": SENTENCES, "tags": TAGS[:2] + ["NN VERB"]}), LABELS, "valid")


def test_batches_align_token_ids_with_tags():
    words, chars = encoders()
    frame = pd.DataFrame({"tokens": SENTENCES, "tags": TAGS})
    ds = tagging_dataset(words, chars, SENTENCES, tag_ids(frame, LABELS, "train"), batch_size=2)
    batches = list(ds)
    assert len(batches) == 2
    for inputs, y in batches:
        assert inputs["token_ids"].shape == y.shape
        assert ((inputs["token_ids"].numpy() > 0) == (y.numpy() > 0)).all()
        assert inputs["char_ids"].shape[:2] == y.shape
    bucketed = list(tagging_dataset(words, chars, SENTENCES, tag_ids(frame, LABELS, "train"), 2, bucketing=True,
                                    shuffle=True, seed=3).epoch(0))
    assert sum(int((y.numpy() > 0).sum()) for _, y in bucketed) == sum(len(t.split()) for t in TAGS)


def tagger(output):
    keras.utils.set_random_seed(2)
    words, chars = encoders()
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    char_ids = keras.Input((None, None), dtype="int32", name="char_ids")
    x = keras.layers.Embedding(words.vocabulary_size, 6, mask_zero=True)(ids)
    x = keras.layers.Concatenate()([x, CharWordEncoder(chars.vocabulary_size, 4, 3)(char_ids)])
    x = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True))(x)
    scores = keras.layers.Dense(len(LABELS), dtype="float32")(x)
    if output == "crf":
        crf = CRF(len(LABELS))
        scores = crf(scores)
        crf.transitions.assign(np.random.default_rng(0).normal(size=(5, 5)).astype("float32"))  # make them matter
    return Tagger(keras.Model({"token_ids": ids, "char_ids": char_ids}, scores), words, chars, LABELS)


@pytest.mark.parametrize("output", ["softmax", "crf"])
def test_padding_changes_nothing_at_real_positions(output):
    tag = tagger(output)
    short = "The cat"
    alone = tag.tag(tf.constant([short]))
    batched = tag.tag(tf.constant([short, SENTENCES[1], ""]))
    assert alone["tags"].shape == (1, 2) and batched["tags"].shape == (3, 8)
    assert batched["tags"].numpy()[0, :2].tolist() == alone["tags"].numpy()[0].tolist()
    assert batched["tags"].numpy()[0, 2:].tolist() == [b""] * 6  # nothing is tagged past the end
    assert batched["length"].numpy().tolist() == [2, 8, 0]
    assert batched["tokens"].numpy()[1].tolist() == [w.encode() for w in SENTENCES[1].split()]
    model_scores = tag.model(model_inputs(tag.encoder, tag.char_encoder, tf.constant([short, SENTENCES[1]])))
    np.testing.assert_allclose(model_scores.numpy()[0, :2],
                               tag.model(model_inputs(tag.encoder, tag.char_encoder, tf.constant([short]))).numpy()[0],
                               atol=1e-5)
    assert tag.tag_lists([short, SENTENCES[1], ""]) == [[t.decode() for t in alone["tags"].numpy()[0]],
                                                          [t.decode() for t in batched["tags"].numpy()[1]], []]


def test_crf_tagger_decodes_with_viterbi():
    tag = tagger("crf")
    inputs = model_inputs(tag.encoder, tag.char_encoder, tf.constant(SENTENCES))
    scores = tag.model(inputs)
    mask = inputs["token_ids"] > 0
    best, _ = tag.crf.decode(scores, mask)
    got = tag.tag(tf.constant(SENTENCES))["tags"].numpy()
    expected = np.where(mask.numpy(), np.array(LABELS, object)[best.numpy()], "")
    assert [[t.decode() for t in row] for row in got] == expected.tolist()
    assert not np.array_equal(best.numpy() * mask.numpy(), scores.numpy().argmax(-1) * mask.numpy())  # not argmax here
