"""Text datasets from their public files, tokenised locally; BERT and CNN-LSTM forward/backward."""

import pytest
import torch
from fake_data import write_imdb, write_sst2

from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.files import MissingDataFileError
from bdlsweep.trainables.data.registry import locate_dataset, prepare_dataset
from bdlsweep.trainables.data.text_encoding import encode, load_tokenizer, train_tokenizer
from bdlsweep.trainables.models import build_model


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    write_sst2(root)
    write_imdb(root)
    return root


def test_sst2_reads_glue_tsv_and_splits_dev_into_validation_and_test(data_dir, tmp_path):
    lines = (data_dir / "SST-2" / "train.tsv").read_text().splitlines()[1:]
    tokenizer = train_tokenizer([line.split("\t")[0] for line in lines], "wordpiece", 200)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    data = load_dataset("sst2", {"data_dir": str(data_dir), "tokenizer": str(tmp_path / "tokenizer.json")})
    assert (len(data.train), len(data.val), len(data.test)) == (60, 10, 10)
    assert data.train.labels.tolist() == [int(line.split("\t")[1]) for line in lines]
    vocab = data.model_arguments["vocab_size"]
    assert 0 < vocab <= 200 and data.train.inputs.max() < vocab
    first = tokenizer.encode(lines[0].split("\t")[0]).ids
    assert first[0] == tokenizer.token_to_id("[CLS]") and first[-1] == tokenizer.token_to_id("[SEP]")
    assert data.train.inputs[0, : len(first)].tolist() == first
    assert (data.train.inputs[0, len(first) :] == 0).all()


def test_saved_tokenizer_gives_the_same_ids_and_a_test_file_becomes_the_test_split(data_dir, tmp_path):
    options = {"data_dir": str(data_dir), "vocab_size": 200}
    prepared = prepare_dataset("sst2", options, tmp_path)
    assert prepared["tokenizer"].startswith(str(tmp_path)) and load_tokenizer(prepared["tokenizer"])
    again = load_tokenizer(prepared["tokenizer"])
    ids = encode(again, [["a wonderful film"]], "wordpiece", 10)[0]
    assert ids[0].tolist() == again.encode("a wonderful film").ids
    assert load_dataset("sst2", prepared).model_arguments["vocab_size"] == again.get_vocab_size()
    assert prepare_dataset("sst2", options, tmp_path) == prepared
    (data_dir / "my_test.tsv").write_text("sentence\tlabel\ntruly awful\t0\na wonderful film\t1\n")
    data = load_dataset("sst2", {**options, "test_file": "my_test.tsv"})
    assert len(data.val) == 20 and data.test.labels.tolist() == [0, 1]


def test_imdb_reads_acl_folders_with_left_padding(data_dir):
    data = load_dataset(
        "imdb", {"data_dir": str(data_dir), "val_size": 4, "max_length": 12, "vocab_size": 50}
    )
    assert (len(data.train), len(data.val), len(data.test)) == (20, 4, 24)
    assert data.test.labels.tolist() == [0] * 12 + [1] * 12
    assert data.input_shape == (12,) and (data.train.inputs[:, -1] != 0).all()
    assert data.model_arguments["vocab_size"] <= 50


def test_word_encoding_truncates_and_pads_on_the_left_like_keras():
    tokenizer = train_tokenizer(["a b c d e", "a b"], "word", 20)
    ids = encode(tokenizer, [["a b c d e", "a b"]], "word", max_length=3)[0]
    a, b, c, d, e = (tokenizer.token_to_id(t) for t in "abcde")
    assert ids.tolist() == [[c, d, e], [0, a, b]]


def test_missing_text_files_are_named(tmp_path):
    with pytest.raises(MissingDataFileError, match=r"SST-2/train\.tsv.*glue"):
        locate_dataset("sst2", {"data_dir": str(tmp_path)})
    with pytest.raises(MissingDataFileError, match=r"aclImdb/train/neg.*aclImdb_v1"):
        locate_dataset("imdb", {"data_dir": str(tmp_path)})


@pytest.mark.parametrize(
    ("name", "options", "width"),
    [
        ("bert", {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64}, 32),
        ("cnn_lstm", {}, 70),
    ],
)
def test_token_models_forward_backward_and_ignore_padding(name, options, width):
    torch.manual_seed(0)
    model = build_model(name, {**options, "vocab_size": 30}, (16,), 2)
    tokens = torch.randint(1, 30, (3, 16))
    assert model.features(tokens).shape == (3, width)
    torch.nn.functional.cross_entropy(model(tokens), torch.tensor([0, 1, 0])).backward()
    assert all(p.grad is not None for p in model.head.parameters())
    if name == "bert":
        model.eval()
        padded = torch.cat([tokens[:, :10], torch.zeros(3, 6, dtype=torch.int64)], dim=1)
        assert torch.allclose(model(padded), model(tokens[:, :10]), atol=1e-5)


def test_bert_paper_size():
    model = build_model("bert", {"vocab_size": 30522}, (268,), 2)
    layers = model.encoder.config
    assert (layers.hidden_size, layers.num_hidden_layers, layers.num_attention_heads) == (256, 4, 8)
    assert layers.intermediate_size == 2048 and layers.hidden_dropout_prob == 0.5
    assert model.head.in_features == 256
