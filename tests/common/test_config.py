import pytest

from lamina.common.config import CONFIG_KEYS, dump_config, load_config
from lamina.common.errors import ConfigError


def test_defaults_are_complete_and_fixed_keys_exist():
    cfg = load_config(None, data_path="x")
    for key in (
        "data.path",
        "model.name",
        "model.layers",
        "train.epochs",
        "train.lr",
        "train.batch_size",
        "train.seed",
    ):
        assert key in CONFIG_KEYS
    assert cfg.data.path == "x"
    assert "train:" in dump_config(cfg) and "weight_decay: 0.05" in dump_config(cfg)


def test_yaml_file_overrides_and_seed(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data: {path: d}\nmodel: {name: mlp}\ntrain: {epochs: 10, lr: 0.01}\n")
    cfg = load_config(p, overrides=["train.epochs=5", "data.augment.flip=true"], seed=7)
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.seed, cfg.data.augment.flip, cfg.model.name) == (
        5,
        0.01,
        7,
        True,
        "mlp",
    )


def test_unknown_key_suggests(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train: {learning_rte: 0.1}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'train.learning_rte'.*did you mean 'train.lr'\?"):
        load_config(p)


def test_unknown_override_key_suggests():
    with pytest.raises(ConfigError, match=r"--set: unknown key 'train.epoch' \(did you mean 'train.epochs'\?\)"):
        load_config(None, overrides=["train.epoch=3"])


def test_bad_value_names_key_expected_and_received():
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides=["train.epochs=abc"])
    msg = str(e.value)
    assert "train.epochs" in msg and "integer" in msg and "'abc'" in msg


def test_out_of_range_value():
    with pytest.raises(ConfigError, match=r"train.lr: input should be greater than 0; got -1"):
        load_config(None, overrides=["train.lr=-1"])


def test_invalid_yaml_names_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  epochs: [1,\n")
    with pytest.raises(ConfigError, match=r"c.yaml: not valid YAML at line \d+"):
        load_config(p)


def test_override_without_equals():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(None, overrides=["train.epochs"])


def test_typed_settings_are_taken_as_they_are_and_their_keys_checked():
    """The CLI's flags reach the config as values, not as KEY=VALUE text read back as YAML ('2024' stays a string)."""
    from lamina.common.config import load_config

    cfg = load_config(
        settings={"track.alias": "2024", "track.experiment": "yes", "train.epochs": 3, "data.skip_bad": True}
    )
    assert cfg.track.alias == "2024" and cfg.track.experiment == "yes" and cfg.train.epochs == 3 and cfg.data.skip_bad
    with pytest.raises(ConfigError, match="unknown config key 'train.epoch'.*train.epochs"):
        load_config(settings={"train.epoch": 3})
