"""GridCNN: images to region elements."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg


def test_grid_cnn_shapes_positions_and_sharing() -> None:
    torch.manual_seed(0)
    cnn = mg.nn.GridCNN(channels=(4, 4, 4, 4)).eval()
    images = torch.randint(0, 256, (2, 3, 75, 75), dtype=torch.uint8)
    out = cnn(mg.RawModality(images, torch.tensor([1, 0, 1])))
    assert out.x.shape == (3, 25, 6) and out.pos.shape == (3, 25, 2) and out.mask.all()
    assert cnn.out_dim == 6
    # cells in row-major order, centres of a 5x5 grid; the coordinates are also the last features
    assert torch.allclose(out.pos[0, 0], torch.tensor([0.1, 0.1])) and torch.allclose(out.pos[0, 6], torch.tensor([0.3, 0.3]))
    torch.testing.assert_close(out.x[..., -2:], out.pos)
    torch.testing.assert_close(out.x[0], out.x[2])  # same image
    alone = cnn(mg.RawModality(images[1:], torch.tensor([0])))
    torch.testing.assert_close(alone.x[0], out.x[0])
    # uint8 is scaled to [0, 1]
    torch.testing.assert_close(cnn(mg.RawModality(images.float() / 255, torch.tensor([0]))).x, out.x[1:2])


def test_grid_cnn_errors_and_repr() -> None:
    with pytest.raises(ValueError, match="channels must be a non-empty sequence"):
        mg.nn.GridCNN(channels=())
    cnn = mg.nn.GridCNN(channels=(2,))
    with pytest.raises(ValueError, match=r"expected.*\(K.*3.*W\).*\(1"):
        cnn(mg.RawModality(torch.zeros(1, 1, 8, 8), torch.tensor([0])))
    assert repr(cnn) == "GridCNN(in_channels=3, channels=[2])"


@pytest.mark.parametrize("norm", ["group", "instance"])
def test_grid_cnn_per_image_norms_do_not_depend_on_the_batch(norm: str) -> None:
    import mmgraph as mg
    from mmgraph.nn import GridCNN

    cnn = GridCNN(channels=(8, 8), norm=norm).train()
    images = torch.rand(3, 3, 16, 16)
    alone = cnn(mg.RawModality(images[:1], torch.tensor([0]))).x
    together = cnn(mg.RawModality(images, torch.tensor([0, 1, 2]))).x
    assert torch.allclose(alone[0], together[0], atol=1e-6)  # batch norm would mix the three images' statistics
    assert "norm=" in repr(cnn)
    with pytest.raises(ValueError, match="norm:.*\\['batch'.*'group'.*'instance'\\].*'layer'"):
        GridCNN(norm="layer")
