import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.text import PAD, TOKENIZERS, UNK
from seqpipe.text.encoder import TextEncoder

TEXTS = ["The film was GREAT, wasn't it?", "a dull , lifeless film .", "great great film"]


def encoder(kind, vocab_size=60, max_length=16, texts=TEXTS):
    vocab = TOKENIZERS.get(kind)(None, True).build_vocabulary(texts, vocab_size, 1)
    return TextEncoder(kind, vocab, max_length)


@pytest.mark.parametrize("kind", ["char", "word", "wordpiece"])
def test_vocabulary_starts_with_pad_and_unk(kind):
    enc = encoder(kind)
    assert enc.vocabulary[:2] == [PAD, UNK]
    assert len(set(enc.vocabulary)) == len(enc.vocabulary)


def test_word_tokens_split_punctuation_and_lowercase():
    enc = encoder("word")
    assert enc.tokens(tf.constant(TEXTS[:1])).to_list() == [
        [b"the", b"film", b"was", b"great", b",", b"wasn", b"'", b"t", b"it", b"?"]]


def test_word_vocabulary_ranks_by_frequency_then_alphabet():
    enc = encoder("word")
    assert enc.vocabulary[4:7] == ["film", "great", ","]  # film x3, great x3, ',' x2


def test_unknown_words_map_to_unk_and_padding_is_zero():
    enc = encoder("word")
    ids = enc(tf.constant(["great zebra", "film"])).numpy()
    great, film = enc.vocabulary.index("great"), enc.vocabulary.index("film")
    assert ids.tolist() == [[great, 1], [film, 0]]


def test_known_tokens_counts_what_the_vocabulary_holds_after_truncation():
    enc = encoder("word", max_length=3)
    texts = tf.constant(["great zebra film", "", "   ", "zebra okapi", "great film great film"])
    assert enc.known_tokens(texts).numpy().tolist() == [2, 0, 0, 0, 3]
    assert enc.known_tokens(texts, truncate=False).numpy().tolist() == [2, 0, 0, 0, 4]
    assert enc.known_tokens(texts).dtype == tf.int32


def test_char_tokens():
    enc = encoder("char")
    assert enc.tokens(tf.constant(["At!"])).to_list() == [[b"a", b"t", b"[UNK]"]]


def test_wordpiece_splits_unseen_words_into_known_pieces():
    enc = encoder("wordpiece", vocab_size=80, texts=TEXTS * 50)
    assert "great" in enc.vocabulary and "film" in enc.vocabulary
    tokens = enc.tokens(tf.constant(["greatest"])).to_list()[0]
    assert tokens[0] == b"great" and len(tokens) > 1 and all(t.startswith(b"##") for t in tokens[1:])


@pytest.mark.parametrize("kind", ["char", "word", "wordpiece"])
def test_truncates_to_max_length_and_pads_to_longest(kind):
    enc = encoder(kind, max_length=5, texts=TEXTS * 50)
    ids = enc(tf.constant(["great great film great film great", "film"])).numpy()
    assert ids.shape == (2, 5)
    film_length = 4 if kind == "char" else 1
    assert (ids[1, :film_length] > 1).all() and (ids[1, film_length:] == 0).all()
    short = encoder(kind, max_length=50, texts=TEXTS * 50)(tf.constant(["film", "a"])).numpy()
    assert short.shape[1] == film_length


@pytest.mark.parametrize("kind", ["char", "word", "wordpiece"])
def test_config_round_trip_gives_identical_ids(kind):
    enc = encoder(kind)
    clone = TextEncoder.from_config(enc.get_config())
    x = tf.constant(TEXTS + ["unseen words here"])
    np.testing.assert_array_equal(enc(x).numpy(), clone(x).numpy())


def test_tokenize_works_inside_tf_data():
    enc = encoder("wordpiece")
    ds = tf.data.Dataset.from_tensor_slices(TEXTS).batch(2).map(lambda t: enc.tokenize(t).to_tensor())
    batches = list(ds)
    direct = enc(tf.constant(TEXTS)).numpy()
    np.testing.assert_array_equal(batches[0].numpy(), direct[:2, : batches[0].shape[1]])


def test_keras_model_with_encoder_saves_and_loads(tmp_path):
    enc = encoder("word")
    text = keras.Input(shape=(), dtype="string")
    model = keras.Model(text, enc(text))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = tf.constant(TEXTS)
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())


def test_bucketed_batches_cover_every_example_once_with_known_count():
    from seqpipe.data.batching import token_dataset

    lengths = np.random.default_rng(0).integers(1, 40, size=301)
    ids = tf.RaggedTensor.from_row_lengths(tf.range(1, lengths.sum() + 1, dtype=tf.int64), lengths)
    data = token_dataset(ids, np.arange(301, dtype="int32"), 16, shuffle=True, seed=1, bucketing=True)
    batches = list(data.epoch(0))
    assert len(batches) == data.steps == int(data.epoch(0).cardinality())
    seen = np.concatenate([y.numpy() for _, y in batches])
    assert sorted(seen.tolist()) == list(range(301))
    padding = sum(int((x.numpy() == 0).sum()) for x, _ in batches)
    plain = sum(int((x.numpy() == 0).sum())
                for x, _ in token_dataset(ids, np.arange(301, dtype="int32"), 16, shuffle=True, seed=1).epoch(0))
    assert padding < plain / 2  # bucketing cuts padding
    for x, y in batches:  # rows are the right examples, right-padded
        for row, label in zip(x.numpy(), y.numpy()):
            n = lengths[label]
            np.testing.assert_array_equal(row[:n], ids[label].numpy())
            assert (row[n:] == 0).all()


def test_epoch_order_depends_only_on_the_seed_and_the_epoch():
    from seqpipe.data.batching import token_dataset

    ids = tf.RaggedTensor.from_row_lengths(tf.range(1, 61, dtype=tf.int64), [3] * 20)

    def order(data, epoch):
        return [int(v) for _, y in data.epoch(epoch) for v in y.numpy()]

    data = token_dataset(ids, np.arange(20, dtype="int32"), 4, shuffle=True, seed=7)
    again = token_dataset(ids, np.arange(20, dtype="int32"), 4, shuffle=True, seed=7)
    assert order(data, 3) == order(again, 3)  # any epoch rebuilt on its own, in any order
    assert order(data, 0) != order(data, 1) and sorted(order(data, 1)) == list(range(20))
    streamed = [int(v) for _, y in data.stream(2, 4) for v in y.numpy()]
    assert streamed == order(data, 2) + order(data, 3)
    skipped = [int(v) for _, y in data.epoch(2).skip(2) for v in y.numpy()]
    assert skipped == order(data, 2)[8:]  # resuming mid-epoch sees exactly the batches not seen yet


SPANISH = ["En el principio creó Dios los cielos y la tierra.", "Y la tierra estaba desordenada y vacía,",
           "y las tinieblas estaban sobre la haz del abismo.", "Y dijo Dios: Sea la luz: y fué la luz."] * 30


def test_sentencepiece_is_lossless_and_reserves_the_special_ids():
    kind = TOKENIZERS.get("sentencepiece")(None, False)
    vocab = kind.build_vocabulary(SPANISH, 60, 1)
    assert vocab[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
    enc = TextEncoder("sentencepiece", vocab, 64, lowercase=False, model=kind.model)
    ids = enc(tf.constant(SPANISH[:4]))
    assert ids.numpy().min() == 0 and (ids.numpy()[:, 0] > 3).all()
    assert [s.decode() for s in enc.detokenize(ids).numpy()] == SPANISH[:4]
    clone = TextEncoder.from_config(enc.get_config())
    np.testing.assert_array_equal(clone(tf.constant(SPANISH[:4])).numpy(), ids.numpy())


@pytest.mark.parametrize("kind, expected", [
    ("word", "y dijo dios: sea la luz: y fué la luz."),
    ("char", "y dijo dios: sea la luz: y fué la luz."),
    ("wordpiece", "y dijo dios: sea la luz: y fué la luz."),
])
def test_detokenize_inverts_tokenize_up_to_case(kind, expected):
    enc = encoder(kind, vocab_size=200, max_length=64, texts=SPANISH)
    ids = enc(tf.constant([SPANISH[3]])).numpy()
    with_specials = np.concatenate([[[2]], ids, [[3, 0, 0]]], axis=1)  # [START] ... [END] padding
    assert enc.detokenize(with_specials).numpy()[0].decode() == expected
