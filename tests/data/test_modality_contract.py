"""Every registered modality through the whole modality interface, as scikit-learn's ``parametrize_with_checks``
runs every estimator through its checks: read the splits of a small data set, batch them into the network's input,
evaluate, decode a file's bytes, and say what a server, batch scoring and the OpenAPI document accept.

A new modality registered in lamina.data.modality.MODALITIES fails here until it has a small data set in
DATA_MAKERS and passes every check.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import make_image_folders, topic_texts, write_text_csv
from lamina.data.audio import write_wav
from lamina.common.config import DataConfig
from lamina.common.errors import DecodeError
from lamina.data.dataset import prepare_eval_data, prepare_training_data
from lamina.data.modality import MODALITIES, FileModality, Modality, modality_of, preprocess_from_meta
from lamina.models.modality import TORCH_MODALITIES, feed, torch_modality
from lamina.serve.binary_tensors import NP_DTYPES
from lamina.serve.frames import CELL_READERS
from lamina.serve.inputs import TABLE_SOURCES
from lamina.serve.mlflow_model import SIGNATURE_INPUTS


def _images(root):
    return make_image_folders(root / "images", per_class=8, size=12), "a/000.png"


def _audio(root):
    rng = np.random.default_rng(0)
    for label, hz in (("low", 300), ("high", 2000)):
        for j in range(8):
            t = np.arange(4000) / 16000
            wave = 0.3 * np.sin(2 * np.pi * (hz + 20 * j) * t) + 0.01 * rng.standard_normal(len(t))
            write_wav(root / "clips" / label / f"{j}.wav", (wave * 32767).astype(np.int16), 16000)
    return root / "clips", "low/0.wav"


def _texts(root):
    return write_text_csv(root / "texts.csv", topic_texts(per_class=12)), b"a text to score, as a client sends it"


def _table(root):
    rng = np.random.default_rng(0)
    rows = ["size,colour,label"] + [
        f"{rng.normal(3 if k else 0):.3f},{rng.choice(['red', 'blue'])},{'big' if k else 'small'}"
        for k in rng.integers(0, 2, 40)
    ]
    (root / "rows.csv").write_text("\n".join(rows) + "\n")
    return root / "rows.csv", b'{"size": 2.5, "colour": "red"}'


# a small data set of each modality: (data path, one sample file relative to it, or None when samples are rows)
DATA_MAKERS = {"image": _images, "audio": _audio, "text": _texts, "table": _table}
SETTINGS = {"audio": {"audio": {"duration": 0.25}}}


@pytest.fixture(scope="module", params=sorted(MODALITIES))
def prepared(request, tmp_path_factory):
    name = request.param
    assert name in DATA_MAKERS, f"modality '{name}' has no small data set in DATA_MAKERS"
    path, sample = DATA_MAKERS[name](tmp_path_factory.mktemp(name))
    cfg = DataConfig(path=str(path), cache=False, **SETTINGS.get(name, {}))
    return name, cfg, prepare_training_data(cfg, seed=0), sample


def test_registry_names_each_class_by_its_name():
    assert all(kind.name == name for name, kind in MODALITIES.items())
    assert sorted(TORCH_MODALITIES) == sorted(MODALITIES)


def test_the_data_path_finds_the_modality_and_reads_the_splits(prepared):
    name, cfg, data, _ = prepared
    assert modality_of(cfg)[0] is MODALITIES[name]
    prep = data.prep
    assert isinstance(prep, Modality) and prep.name == data.modality == name
    if not prep.reads_tables:
        assert isinstance(prep, FileModality)
    assert preprocess_from_meta({"modality": name, "preprocessing": prep.to_dict()}) == prep
    assert set(data.splits) >= {"train"} and all(s.form == name for s in data.splits.values())
    assert all(len(s.x) == len(s.y) == len(s.keys) for s in data.splits.values())


def test_a_batch_becomes_the_networks_input(prepared):
    _, _, data, _ = prepared
    split = data.splits["train"]
    fed = feed(split)
    batch = fed.model_input(split.x[torch.arange(4)], "cpu")
    assert batch.shape[0] == 4 and batch.device.type == "cpu"
    lengths = fed.lengths(split.x)
    assert lengths is None or lengths.shape == (len(split),)
    twin = torch_modality(data.prep)
    served = twin.served(split.x[torch.arange(2)])  # the stored form as the exported graph receives it
    assert served.dtype == np.dtype(data.prep.dtype) and list(served.shape[1:]) == data.prep.graph_input()["shape"][1:]
    assert twin.graph_input(torch.from_numpy(served)).shape[0] == 2


def test_evaluation_reads_what_training_read(prepared):
    _, cfg, data, _ = prepared
    split, skipped = prepare_eval_data(
        cfg.path,
        data.prep,
        data.labels,
        "val",
        data.split_record,
        tokenizer=data.tokenizer,
        columns=data.columns or (None, None),
        task=data.task,
    )
    assert split.keys == data.splits["val"].keys and split.form == data.prep.name and not skipped
    assert torch.equal(
        torch.as_tensor(np.asarray(split.x[torch.arange(len(split))])),
        torch.as_tensor(np.asarray(data.splits["val"].x[torch.arange(len(split))])),
    )


def test_bytes_decode_under_limits_and_garbage_is_one_error(prepared):
    _, cfg, data, sample = prepared
    prep = data.prep
    blob = _sample_bytes(cfg, sample)
    row = prep.decode(blob, None, data.tokenizer)
    assert row.dtype == np.dtype(prep.dtype) and list(row.shape) == prep.graph_input()["shape"][1:]
    assert prep.out_of_range(row[None]) is None
    assert isinstance(prep.cheap_to_decode([blob], 1 << 20, 1 << 20), bool)
    with pytest.raises(DecodeError):
        prep.decode(b"\xff\xfe\x00garbage" * 3, None, data.tokenizer)


def _sample_bytes(cfg, sample) -> bytes:
    """A file of the data set as a client uploads it, or a text for a modality whose samples are rows."""
    return sample if isinstance(sample, bytes) else (Path(cfg.path) / sample).read_bytes()


def test_what_a_server_and_batch_scoring_accept(prepared):
    _, _, data, _ = prepared
    prep = data.prep
    graph = prep.graph_input()
    assert graph["name"] == prep.graph_input_name and np.dtype(NP_DTYPES[prep.datatype]) == np.dtype(prep.dtype)
    v2 = {"name": graph["name"], "datatype": prep.datatype, "shape": graph["shape"]}  # as ServedModel advertises it
    inputs = prep.request_inputs(v2)
    assert inputs[-1] == v2 and all({"name", "datatype", "shape"} <= set(i) for i in inputs)
    assert all(isinstance(b, bytes) for b in prep.string_fields(["a text"]))
    assert prep.cell in CELL_READERS and prep.cell in TABLE_SOURCES and prep.cell in SIGNATURE_INPUTS
    noise = prep.parity_noise(np.random.default_rng(0))
    assert noise.dtype == np.dtype(prep.dtype) and list(noise.shape[1:]) == graph["shape"][1:]
    assert prep.out_of_range(noise) is None
    assert isinstance(prep.upload_noun, str) and isinstance(prep.upload_fields, str)
    assert prep.page_form()["kind"] in ("file", "text", "fields")  # the kinds the try-it page draws
