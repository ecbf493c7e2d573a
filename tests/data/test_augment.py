import torch

from lamina.common.config import AugmentConfig
from lamina.data.augment import augment_batch, hflip, mirror_half, translate
from lamina.data.batches import steps_per_epoch, train_batches


def test_translate_shifts_content_and_fills_zero():
    x = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 3, 4] = 255
    out = translate(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert (out.sum(dim=(1, 2, 3)) == 255).all()  # one bright pixel each, moved by at most 2
    pos = out[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 8, pos % 8
    assert ((rows - 3).abs() <= 2).all() and ((cols - 4).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5  # offsets vary across the batch


def test_augment_is_seeded_and_flip_only_when_asked():
    x = torch.randint(0, 255, (16, 3, 8, 8), dtype=torch.uint8)
    a = augment_batch(x, AugmentConfig(translate=0.25, flip=True), torch.Generator().manual_seed(1))
    b = augment_batch(x, AugmentConfig(translate=0.25, flip=True), torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    same = augment_batch(x, AugmentConfig(translate=0.0, flip=False), torch.Generator().manual_seed(1))
    assert torch.equal(same, x)
    flipped = hflip(x, torch.Generator().manual_seed(0))
    n_flipped = sum(torch.equal(flipped[i], x[i].flip(2)) for i in range(16))
    assert 0 < n_flipped < 16


def test_mirror_half_takes_the_mirror_rows_of_features_as_hflip_does_of_images():
    x = torch.randn(32, 12)  # features: (B, D)
    mirrored = mirror_half(x, lambda t: -t, torch.Generator().manual_seed(0))
    taken = torch.tensor([torch.equal(mirrored[i], -x[i]) for i in range(32)])
    assert all(torch.equal(mirrored[i], x[i]) for i in range(32) if not taken[i]) and 4 < int(taken.sum()) < 28
    images = torch.randint(0, 255, (32, 3, 4, 4), dtype=torch.uint8)
    flipped = hflip(images, torch.Generator().manual_seed(0))  # the same draws: the same rows mirrored
    assert all(
        torch.equal(flipped[i], images[i].flip(2)) == bool(taken[i])
        for i in range(32)
        if not images[i].equal(images[i].flip(2))
    )


def test_batches_cover_epoch_and_depend_on_seed_and_epoch():
    idx = torch.cat([i for _, i in train_batches(100, 32, seed=0, epoch=0)])
    assert steps_per_epoch(100, 32) == 3 and len(idx) == 96 and len(set(idx.tolist())) == 96
    again = torch.cat([i for _, i in train_batches(100, 32, seed=0, epoch=0)])
    other = torch.cat([i for _, i in train_batches(100, 32, seed=0, epoch=1)])
    assert torch.equal(idx, again) and not torch.equal(idx, other)
    resumed = [i for _, i in train_batches(100, 32, seed=0, epoch=0, start_step=2)]
    assert torch.equal(resumed[0], idx[64:96])


def test_text_batches_group_similar_lengths_and_replay_exactly():
    from lamina.data.batches import eval_batches

    lengths = torch.randint(1, 200, (5000,), generator=torch.Generator().manual_seed(0))
    batches = [i for _, i in train_batches(5000, 64, seed=3, epoch=2, lengths=lengths)]
    idx = torch.cat(batches)
    assert len(batches) == 78 and len(set(idx.tolist())) == len(idx) == 78 * 64
    spread = torch.stack([lengths[b].max() - lengths[b].min() for b in batches]).float().mean()
    assert spread < 20  # a random batch of 64 spans ~190 tokens; a bucketed one a few
    plain = torch.cat([i for _, i in train_batches(5000, 64, seed=3, epoch=2)])
    assert set(idx.tolist()) < set(range(5000)) and not torch.equal(idx, plain)
    again = [i for _, i in train_batches(5000, 64, seed=3, epoch=2, lengths=lengths, start_step=40)]
    assert all(torch.equal(a, b) for a, b in zip(again, batches[40:]))  # a resumed epoch sees the same batches
    starts = [lengths[b].float().mean().item() for b in batches[:10]]
    assert starts != sorted(starts)  # batch order is shuffled, not short-to-long
    covered = torch.cat([i for i in eval_batches(5000, 512, lengths)])
    assert sorted(covered.tolist()) == list(range(5000))


def test_random_resized_crop_keeps_shape_dtype_and_is_seeded():
    import torch

    from lamina.data.augment import random_resized_crop

    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(2, 3, 32, 32)
    a = random_resized_crop(x, 0.25, torch.Generator().manual_seed(1))
    b = random_resized_crop(x, 0.25, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, x)
    whole = random_resized_crop(x.float(), 0.999999, torch.Generator().manual_seed(2), ratio=(1.0, 1.0))
    assert (whole - x.float()).abs().max() < 1.0  # a box of the whole image is the image
