import pytest
import torch

from lamina.training.checkpoint import (
    CheckpointError,
    CheckpointWriter,
    load_checkpoint,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
    snapshot,
)


def _model_and_opt():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(16, 4)).sum().backward()
        opt.step()
    return model, opt


def test_round_trip_restores_weights_optimizer_and_rng(tmp_path):
    model, opt = _model_and_opt()
    tensors, meta = optimizer_tensors(opt)
    gen = torch.Generator().manual_seed(5)
    tensors["rng.gen"] = gen.get_state()
    save_checkpoint(tmp_path, "last", snapshot(model), tensors, {"global_step": 3, "optimizer": meta})
    weights, extra, state, problems = load_checkpoint(tmp_path, "last")
    assert problems == [] and state["global_step"] == 3
    model2, opt2 = _model_and_opt()
    model2.load_state_dict(weights)
    restore_optimizer(opt2, extra, state["optimizer"])
    for (k, v), v2 in zip(model.state_dict().items(), model2.state_dict().values()):
        assert torch.equal(v, v2), k
    # The same next step from the same state gives the same weights: nothing was lost.
    x = torch.randn(16, 4)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    for v, v2 in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(v, v2)
    g2 = torch.Generator()
    g2.set_state(extra["rng.gen"])
    assert torch.equal(torch.rand(3, generator=g2), torch.rand(3, generator=gen))


def test_corrupted_checkpoint_falls_back_to_previous(tmp_path):
    import shutil

    model, _ = _model_and_opt()
    save_checkpoint(tmp_path, "last", snapshot(model), {}, {"global_step": 1})
    save_checkpoint(tmp_path, "last", snapshot(model), {}, {"global_step": 2})
    assert load_checkpoint(tmp_path, "last")[2]["global_step"] == 2
    blob = (tmp_path / "last" / "model.safetensors").read_bytes()
    (tmp_path / "last" / "model.safetensors").write_bytes(blob[: len(blob) // 2])  # truncated
    _, _, state, problems = load_checkpoint(tmp_path, "last")
    assert state["global_step"] == 1 and "sha256 does not match" in problems[0]
    shutil.rmtree(tmp_path / ".last.old")
    with pytest.raises(CheckpointError, match="no intact checkpoint"):
        load_checkpoint(tmp_path, "last")


def test_crash_between_renames_uses_previous_copy(tmp_path):
    model, _ = _model_and_opt()
    save_checkpoint(tmp_path, "last", snapshot(model), {}, {"global_step": 1})
    (tmp_path / "last").rename(tmp_path / ".last.old")  # the state right after the first rename
    assert load_checkpoint(tmp_path, "last")[2]["global_step"] == 1


def test_no_pickle_files_are_written(tmp_path):
    model, _ = _model_and_opt()
    folder = save_checkpoint(tmp_path, "best", snapshot(model), {}, {})
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "model.safetensors",
        "state.json",
        "state.safetensors",
    ]


def test_background_writer_snapshots_and_reports_errors(tmp_path):
    model, opt = _model_and_opt()
    writer = CheckpointWriter(tmp_path)
    weights = snapshot(model)
    writer.submit([("last", weights, {}, {"global_step": 7}), ("best", weights, {}, {"global_step": 7})])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # training goes on while the write is in flight
    writer.wait()
    loaded = load_checkpoint(tmp_path, "best")[0]
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)
    (tmp_path / "blocker").write_text("x")
    bad = CheckpointWriter(tmp_path / "blocker" / "sub")  # a file where a folder must go
    bad.submit([("last", weights, {}, {})])
    with pytest.raises(OSError):
        bad.wait()


def test_a_kill_while_the_oldest_copy_is_deleted_leaves_an_intact_fallback(tmp_path, monkeypatch):
    from lamina.training import checkpoint

    model, _ = _model_and_opt()
    for step in (1, 2):
        save_checkpoint(tmp_path, "last", snapshot(model), {}, {"global_step": step})

    def killed_midway(path, ignore_errors=False):  # deletes one file of the folder, then the process dies
        (path / "state.json").unlink()
        raise SystemExit("killed")

    monkeypatch.setattr(checkpoint.shutil, "rmtree", killed_midway)
    with pytest.raises(SystemExit):
        save_checkpoint(tmp_path, "last", snapshot(model), {}, {"global_step": 3})
    monkeypatch.undo()
    blob = (tmp_path / "last" / "model.safetensors").read_bytes()
    (tmp_path / "last" / "model.safetensors").write_bytes(blob[:10])  # and then the newest copy is damaged
    _, _, state, problems = load_checkpoint(tmp_path, "last")
    assert state["global_step"] == 2 and "sha256 does not match" in problems[0]  # the fallback is whole
    save_checkpoint(tmp_path, "last", snapshot(model), {}, {"global_step": 4})
    assert not list(tmp_path.glob(".last.trash-*"))  # what the killed process left is cleared by the next write
