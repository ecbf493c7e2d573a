"""speech_embedding written in lamina against openwakeword's own ONNX graphs, run by ONNX Runtime, on real clips."""

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf
import torch

from lamina.common.config import ModelConfig
from lamina.common.errors import ConfigError
from lamina.data.audio import AudioPreprocess
from lamina.models import speech_embedding as se
from lamina.models.registry import build_model, resolve


@pytest.fixture(scope="module")
def folder():
    found = se.installed_folder()
    assert found is not None, "openwakeword==0.5.1 is installed by `make install` (--no-deps)"
    return found


def _clips(kws) -> list[np.ndarray]:
    """Spoken keywords of three synthesizers and a stretch of background noise, int16."""
    files = [sorted((kws / w).iterdir())[i] for w in ("yes", "stop", "_unknown_") for i in (0, -1)]
    clips = [sf.read(f, dtype="int16")[0] for f in files]
    noise = sf.read(sorted((kws / "_background_noise_").iterdir())[0], dtype="int16")[0]
    return clips + [noise[: 16000 * 3]]


def test_front_end_and_embedding_match_onnx_runtime(kws, folder):
    mel = ort.InferenceSession(str(folder / se.MEL_FILE), providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(str(folder / se.EMBEDDING_FILE), providers=["CPUExecutionProvider"])
    front = se.MelFrontend(pad_samples=0)
    se.load_frontend(front, folder)
    embedding = se.Embedding().eval()
    se.load_embedding(embedding, folder)
    for clip in _clips(kws):
        ref = mel.run(None, {"input": clip[None].astype(np.float32)})[0].squeeze() / 10 + 2  # openwakeword's x / 10 + 2
        with torch.no_grad():
            mine = front(torch.from_numpy(clip[None].astype(np.float32)))[0, 0].numpy()
        assert mine.shape == ref.shape and np.abs(mine - ref).max() < 1e-3
        # openwakeword cuts 76-frame windows 8 frames apart; lamina runs the whole clip in one pass
        windows = np.stack([ref[i : i + 76] for i in range(0, len(ref) - 75, 8)])[..., None].astype(np.float32)
        want = emb.run(None, {"input_1": windows})[0].reshape(len(windows), se.WIDTH)
        with torch.no_grad():
            got = embedding(torch.from_numpy(ref[None, None].astype(np.float32)))[0].T.numpy()
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-3 * np.abs(want).max()


def test_pads_each_clip_with_silence_and_pools_over_time(folder):
    model = build_model(
        resolve(ModelConfig(name="speech-embedding", freeze=True), "audio"),
        (16000,),
        3,
        [],
        [],
        "audio",
        AudioPreprocess(),
    ).eval()
    x = torch.randint(-3000, 3000, (2, 16000)).float()
    with torch.no_grad():
        mel = model.frontend(x)
        assert mel.shape == (2, 1, 1 + (16000 + 2 * 4000 - se.N_FFT) // se.HOP, se.N_MELS)
        assert model.net.embedding(mel).shape == (2, se.WIDTH, 9)  # one embedding per 80 ms
        assert model.net.features(mel).shape == (2, 2 * se.WIDTH)  # mean and max over time
        # each clip has its own 80 dB floor: a clip's output does not depend on its batch neighbours
        torch.testing.assert_close(model(x)[:1], model(x[:1]))


def test_refuses_what_it_cannot_take(tmp_path, folder):
    cfg = resolve(ModelConfig(name="speech-embedding"), "audio")
    with pytest.raises(ConfigError, match="16000 Hz"):
        build_model(cfg, (8000,), 3, [], [], "audio", AudioPreprocess(sample_rate=8000))
    with pytest.raises(ConfigError, match="clips of at least"):
        build_model(cfg, (4000,), 3, [], [], "audio", AudioPreprocess(duration=0.25))
    with pytest.raises(ConfigError, match="has no melspectrogram.onnx or embedding_model.onnx"):
        build_model(
            resolve(ModelConfig(name="speech-embedding", pretrained=str(tmp_path)), "audio"),
            (16000,),
            3,
            [],
            [],
            "audio",
            AudioPreprocess(),
        )


def test_frozen_on_request_and_fine_tunes_at_a_lower_rate(folder):
    frozen = build_model(
        resolve(ModelConfig(name="speech-embedding", freeze=True), "audio"),
        (16000,),
        3,
        [],
        [],
        "audio",
        AudioPreprocess(),
    )
    assert {n for n, p in frozen.named_parameters() if p.requires_grad} == {
        "net.head.0.weight",
        "net.head.0.bias",
        "net.head.2.weight",
        "net.head.2.bias",
    }
    tuned = build_model(
        resolve(ModelConfig(name="speech-embedding", freeze=False), "audio"),
        (16000,),
        3,
        [],
        [],
        "audio",
        AudioPreprocess(),
    )
    assert (
        all(p.requires_grad for p in tuned.parameters())
        and (tuned.net.embedding, se.PRETRAINED_LR_SCALE) in tuned.net.lr_groups()
    )
