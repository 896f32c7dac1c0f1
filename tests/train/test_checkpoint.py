"""mmgraph.train checkpoints: exact round trips, metadata, optimizer state, atomic writes, errors."""

from __future__ import annotations

import subprocess
import sys
import json
import struct
import re
import os
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch
from torch import nn

import mmgraph as mg
import mmgraph.train as mt
from tests.conftest import IN_DIMS


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        assert sa[name].shape == sb[name].shape, name
        assert torch.equal(_bits(sa[name]), _bits(sb[name])), f"{name} differs"


def _train_a_bit(model: nn.Module, batch: mg.MultimodalBatch, steps: int = 2) -> torch.optim.Optimizer:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model(batch).float().pow(2).mean().backward()
        opt.step()
    return opt


MODELS = [
    ("concat", {}),
    ("graph-gcn", {"norm": "batch"}),  # BatchNorm: running-stat buffers, int64 num_batches_tracked
]


@pytest.mark.parametrize("name, options", MODELS)
def test_round_trip_is_bitwise_exact(tmp_path: Path, batch: mg.MultimodalBatch, name: str, options: dict) -> None:
    torch.manual_seed(0)
    model = mg.get_model(name, in_dims=IN_DIMS, hidden=8, out_dim=3, **options)
    opt = _train_a_bit(model, batch)  # non-initial weights, buffers and optimizer moments
    path = tmp_path / "model.safetensors"
    meta = {"epoch": 3, "val": {"acc": 0.75}, "name": name, "tags": [1, "x"]}
    assert mt.save_checkpoint(path, model, meta, optimizer=opt) == path
    assert mt.optimizer_path(path).is_file()

    torch.manual_seed(1)
    other = mg.get_model(name, in_dims=IN_DIMS, hidden=8, out_dim=3, **options)
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-3)
    with pytest.raises(AssertionError):
        assert_same_state(model, other)
    loaded = mt.load_checkpoint(path, other, optimizer=other_opt)

    assert loaded == meta
    assert mt.read_metadata(path) == meta
    assert_same_state(model, other)
    model.eval(), other.eval()
    with torch.no_grad():
        assert torch.equal(_bits(model(batch)), _bits(other(batch)))
    sa, sb = opt.state_dict(), other_opt.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys() and len(sa["state"]) > 0
    for k in sa["state"]:
        for key, value in sa["state"][k].items():
            assert torch.equal(value, sb["state"][k][key]), (k, key)


def test_metadata_is_json_in_the_safetensors_header(tmp_path: Path) -> None:
    model = nn.Linear(3, 2)
    path = tmp_path / "m.safetensors"
    mt.save_checkpoint(path, model, {"epoch": 1, "val": {"mae": 0.5}})
    with safetensors.safe_open(str(path), framework="pt") as f:
        header = f.metadata()
        assert sorted(f.keys()) == ["bias", "weight"]
    assert all(isinstance(v, str) for v in header.values())
    assert json.loads(header[mt.METADATA_KEY]) == {"epoch": 1, "val": {"mae": 0.5}}
    mt.save_checkpoint(path, model)  # overwrite, no metadata
    assert mt.load_checkpoint(path, nn.Linear(3, 2)) == {}
    with pytest.raises(ValueError, match="without optimizer state"):
        mt.optimizer_path(path)


def test_tied_weights_are_saved_and_loaded(tmp_path: Path) -> None:
    def tied() -> nn.Module:
        m = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
        m[1].weight = m[0].weight
        return m

    model = tied()
    path = tmp_path / "tied.safetensors"
    mt.save_checkpoint(path, model)
    other = tied()
    mt.load_checkpoint(path, other)
    assert_same_state(model, other)
    assert other[0].weight is other[1].weight


def test_optimizer_path_naming_and_generations(tmp_path: Path) -> None:
    model = nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    for name in ("best.safetensors", "ckpt"):
        first = mt.optimizer_path(mt.save_checkpoint(tmp_path / name, model, optimizer=opt))
        stem = name.removesuffix(".safetensors")
        assert re.fullmatch(rf"{stem}\.optim\.[0-9a-f]{{12}}\.pt", first.name) and first.is_file()
        second = mt.optimizer_path(mt.save_checkpoint(tmp_path / name, model, optimizer=opt))
        assert second != first and second.is_file() and not first.exists()  # the older generation is gone
    with pytest.raises(FileNotFoundError, match="nope"):
        mt.optimizer_path(tmp_path / "nope.safetensors")


def test_failed_write_leaves_the_old_checkpoint_and_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "model.safetensors"
    model = nn.Linear(3, 2)
    mt.save_checkpoint(path, model, {"epoch": 1})
    before = path.read_bytes()

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:  # a partial write, then a failure
            f.write(b"garbage")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save)
    with torch.no_grad():
        model.weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        mt.save_checkpoint(path, model, {"epoch": 2})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]
    monkeypatch.undo()
    assert mt.load_checkpoint(path, nn.Linear(3, 2)) == {"epoch": 1}


def test_failed_optimizer_write_leaves_both_files(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.safetensors"
    model = nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    mt.save_checkpoint(path, model, {"epoch": 1}, optimizer=opt)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(obj, f, *args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError, match="killed"):
        mt.save_checkpoint(path, model, {"epoch": 2}, optimizer=opt)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        mt.load_checkpoint(path, nn.Linear(3, 2))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mt.save_checkpoint(tmp_path / "no_dir" / "m.safetensors", nn.Linear(3, 2))


def test_missing_optimizer_state(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    model = nn.Linear(3, 2)
    mt.save_checkpoint(path, model)
    with pytest.raises(ValueError, match="without optimizer state"):
        mt.load_checkpoint(path, model, optimizer=torch.optim.AdamW(model.parameters()))
    mt.save_checkpoint(path, model, optimizer=torch.optim.AdamW(model.parameters()))
    mt.optimizer_path(path).unlink()
    with pytest.raises(FileNotFoundError, match=r"m\.optim\."):
        mt.load_checkpoint(path, model, optimizer=torch.optim.AdamW(model.parameters()))


def test_shape_mismatch_names_the_tensor(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    mt.save_checkpoint(path, mg.get_model("concat", in_dims=IN_DIMS, hidden=8, out_dim=3))
    other = mg.get_model("concat", in_dims=IN_DIMS, hidden=8, out_dim=2)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match=r"'head\.mlp\.3\.weight'.*\(3.*8\).*\(2.*8\)"):
        mt.load_checkpoint(path, other)
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in before.items())  # nothing half-loaded


def test_strict_key_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    mt.save_checkpoint(path, nn.Sequential(nn.Linear(3, 2)))
    bigger = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"missing \['1\.weight', '1\.bias'\].*strict=False"):
        mt.load_checkpoint(path, bigger)
    mt.load_checkpoint(path, bigger, strict=False)


def test_bad_metadata(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JSON-serialisable"):
        mt.save_checkpoint(tmp_path / "m.safetensors", nn.Linear(2, 2), {"x": object()})
    with pytest.raises(ValueError, match="metadata: expected a dict"):
        mt.save_checkpoint(tmp_path / "m.safetensors", nn.Linear(2, 2), ["epoch", 1])  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def _model_and_opt() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Linear(30, 20)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 30)).sum().backward()
    opt.step()
    return model, opt


def test_corrupt_tensor_bytes_are_detected(tmp_path: Path) -> None:
    model, _ = _model_and_opt()
    path = mt.save_checkpoint(tmp_path / "m.safetensors", model)
    raw = bytearray(path.read_bytes())
    raw[-40] ^= 0x5A  # a byte of tensor data: the header stays valid
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt.*SHA-256"):
        mt.load_checkpoint(path, nn.Linear(30, 20))


@pytest.mark.parametrize("data", [b"", b"\xff" * 64, None], ids=["empty", "garbage", "truncated"])
def test_unreadable_files_name_the_file(tmp_path: Path, data: bytes | None) -> None:
    model, _ = _model_and_opt()
    path = mt.save_checkpoint(tmp_path / "m.safetensors", model)
    path.write_bytes(path.read_bytes()[:200] if data is None else data)
    for call in (lambda: mt.read_metadata(path), lambda: mt.load_checkpoint(path, model)):
        with pytest.raises(ValueError, match="m.safetensors"):
            call()


def _with_metadata(path: Path, text: str) -> None:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"][mt.METADATA_KEY] = text
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    path.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n :])


@pytest.mark.parametrize("text, words", [("[1, 2]", "JSON object"), ("[" * 100000 + "]" * 100000, "not valid JSON"),
                                         ("{not json", "not valid JSON")])
def test_bad_metadata_is_a_clear_error(tmp_path: Path, text: str, words: str) -> None:
    path = mt.save_checkpoint(tmp_path / "m.safetensors", nn.Linear(3, 2))
    _with_metadata(path, text)
    with pytest.raises(ValueError, match=words):
        mt.read_metadata(path)


def test_optimizer_state_from_another_save_is_refused(tmp_path: Path) -> None:
    """What a kill between the optimizer write and the weights write would leave with a fixed file name."""
    model, opt = _model_and_opt()
    path = mt.save_checkpoint(tmp_path / "m.safetensors", model, optimizer=opt)
    first = mt.optimizer_path(path)
    kept = first.read_bytes()
    model(torch.randn(4, 30)).sum().backward()
    opt.step()
    mt.save_checkpoint(tmp_path / "other.safetensors", model, optimizer=opt)
    first.write_bytes(mt.optimizer_path(tmp_path / "other.safetensors").read_bytes())
    fresh = torch.optim.AdamW(model.parameters())
    with pytest.raises(ValueError, match="does not belong"):
        mt.load_checkpoint(path, model, optimizer=fresh)
    first.write_bytes(kept)
    mt.load_checkpoint(path, model, optimizer=fresh)


def test_interrupted_save_keeps_a_consistent_pair(tmp_path: Path, monkeypatch) -> None:
    """The weights write fails after the new optimizer file is written: the old pair still loads."""
    model, opt = _model_and_opt()
    path = mt.save_checkpoint(tmp_path / "m.safetensors", model, optimizer=opt)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model(torch.randn(4, 30)).sum().backward()
    opt.step()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for a kill: the weights never land

    monkeypatch.setattr(safetensors.torch, "save_file", killed)
    with pytest.raises(KeyboardInterrupt):
        mt.save_checkpoint(path, model, optimizer=opt)
    monkeypatch.undo()
    other, other_opt = nn.Linear(30, 20), None
    other_opt = torch.optim.AdamW(other.parameters())
    mt.load_checkpoint(path, other, optimizer=other_opt)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())
    assert other_opt.state_dict()["state"][0]["step"] == 1  # the optimizer of the first save, not the second
    mt.save_checkpoint(path, model, optimizer=opt)  # the next save leaves one generation and no temp file
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("m.optim")) == ["m.safetensors"]
    assert len(list(tmp_path.glob("m.optim.*.pt"))) == 1


def test_stale_temp_files_do_not_survive_the_next_save(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / f".m.safetensors.{int(dead.stdout)}.abc123.tmp").write_bytes(b"x" * 1000)  # a killed writer's
    live = tmp_path / f".m.safetensors.{os.getppid()}.def456.tmp"  # a live writer's (the parent process)
    live.write_bytes(b"y")
    mt.save_checkpoint(path, nn.Linear(3, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "m.safetensors"]
