import pytest
import torch

import mmgraph as mg
from mmgraph.data import Vocabulary, tokenize


def test_tokenize_splits_words_and_punctuation() -> None:
    assert tokenize("What's LEFT of the red-circle?") == ["what's", "left", "of", "the", "red", "-", "circle", "?"]


def test_encode_gives_one_hot_tokens_with_labels() -> None:
    vocab = Vocabulary.build(["Is the square red?", "what colour is the circle"])
    m = vocab("is the triangle red?")
    assert m.labels == ["is", "the", "triangle", "red", "?"]
    assert m.x.shape == (5, vocab.dim) and torch.equal(m.x.sum(1), torch.ones(5))
    assert int(m.x[2].argmax()) == vocab.index("<unk>") == 0  # unknown word
    assert vocab.ids("red square").tolist() == [vocab.index("red"), vocab.index("square")]
    assert [len(x) for x in vocab(["the circle", "red"])] == [2, 1]


def test_min_count_and_errors() -> None:
    vocab = Vocabulary.build(["a b b", "b c"], min_count=2)
    assert vocab.words == ["<unk>", "b"]
    with pytest.raises(ValueError, match="expected distinct words, got repeats \\['x'\\]"):
        Vocabulary(["x", "x"])
    with pytest.raises(ValueError, match="expected at least one word"):
        vocab("?!"[:0])
    with pytest.raises(ValueError, match="a.*sequence.*sentences.*str"):
        vocab.encode("just one")


def test_tokens_are_a_sample_modality() -> None:
    vocab = Vocabulary.build(["how many squares"])
    sample = mg.MultimodalSample(question=vocab("how many squares"), y=2)
    assert mg.collate([sample])["question"].labels == [["how", "many", "squares"]]
