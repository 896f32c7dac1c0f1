import pytest
import torch

import mmgraph as mg
from mmgraph.nn import FiLM, GridCNN, ModalityFiLM


def test_film_starts_as_identity_and_modulates_per_sample() -> None:
    film = FiLM(context_dim=3, channels=4)
    h, c = torch.randn(2, 5, 4), torch.randn(2, 3)
    assert torch.equal(film(h, c), h)
    gamma, beta = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]), torch.tensor([[0.0, 0, 0, 0], [0, 0, 0, 2.0]])
    out = FiLM.modulate(h, gamma, beta)
    assert torch.allclose(out[0, :, 0], 2 * h[0, :, 0]) and torch.allclose(out[1, :, 3], h[1, :, 3] + 2)
    maps = torch.randn(2, 4, 3, 3)
    assert torch.allclose(FiLM.modulate(maps, gamma, beta, channel_dim=1)[0, 0], 2 * maps[0, 0])


def test_grid_cnn_modulation_is_per_sample_after_the_last_norm() -> None:
    cnn = GridCNN(channels=(4, 4)).eval()
    raw = mg.RawModality(torch.rand(2, 3, 8, 8), torch.tensor([0, 0, 1]))
    plain = cnn(raw)
    zero = torch.zeros(3, 4)
    assert torch.equal(cnn(raw, (zero, zero)).x, plain.x)
    beta = torch.zeros(3, 4)
    beta[1] = 5.0
    shifted = cnn(raw, (zero, beta)).x
    assert torch.equal(shifted[0], plain.x[0]) and not torch.equal(shifted[1], plain.x[1])  # same image, another question


def _batch(with_question: bool = True) -> mg.MultimodalBatch:
    g = torch.Generator().manual_seed(0)
    samples = [mg.MultimodalSample(question=torch.randn(3, 5, generator=g),
                                   image=mg.RawItem(torch.rand(3, 8, 8, generator=g), key=i % 2), y=i % 3)
               for i in range(4)]
    batch = mg.collate(samples)
    return batch if with_question else batch.without("question")


@pytest.mark.parametrize("name", ["concat", "attention", "late", "tensor", "rn", "graph-gcn", "graph-gat", "graph-gatv2",
                                  "graph-relational"])
def test_every_model_takes_film_and_starts_where_it_would_without(name: str) -> None:
    in_dims = {"question": 5, "image": 6}
    kwargs = dict(in_dims=in_dims, hidden=8, out_dim=3)
    plain = mg.get_model(name, extractors={"image": GridCNN(channels=(4, 4))}, **kwargs).eval()
    film = mg.get_model(name, extractors={"image": GridCNN(channels=(4, 4))}, film="question", **kwargs).eval()
    missing = film.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith(("film.", "gnn.films.")) for k in missing)
    assert any(k.startswith("gnn.films.") for k in missing) == name.startswith("graph-")  # graph models: every layer
    batch = _batch()
    assert torch.allclose(film(batch), plain(batch), atol=1e-6)  # FiLM starts as the identity
    film.train()
    film(batch).sum().backward()
    last = [m.generator[2].weight.grad for m in list(film.film.elements.values()) + list(film.film.extractors.values())]
    assert all(g is not None and g.abs().sum() > 0 for g in last)  # the question reaches perception
    assert film.film.extractors and film.num_parameters() > plain.num_parameters()
    assert film.eval()(_batch(with_question=False)).shape == (4, 3)  # no question: a zero context


def test_film_errors_name_the_modality() -> None:
    with pytest.raises(ValueError, match="film:.*modalities.*\\['image'.*'question'\\].*'text'"):
        mg.get_model("concat", in_dims={"question": 5, "image": 6}, hidden=8, out_dim=3, film="text")
    with pytest.raises(ValueError, match="film:.*modality.*condition.*2\\+.*modalities"):
        ModalityFiLM("question", {"question": 5}, hidden=8)


def test_hetero_gnn_film_modulates_every_layer_but_the_source() -> None:
    from mmgraph.nn import HeteroGNN

    etypes = {("q", "to", "r"): 0, ("r", "to", "r"): 0}
    gnn = HeteroGNN(["q", "r"], etypes, hidden=8, num_layers=2, conv="gcn", film="q")
    x = {"q": torch.randn(3, 8), "r": torch.randn(4, 8)}
    edges = {("q", "to", "r"): torch.tensor([[0, 1, 2], [0, 1, 3]]), ("r", "to", "r"): torch.tensor([[0, 1], [1, 2]])}
    batch = {"q": torch.tensor([0, 0, 1]), "r": torch.tensor([0, 0, 1, 1])}
    plain = HeteroGNN(["q", "r"], etypes, hidden=8, num_layers=2, conv="gcn")
    gnn.load_state_dict(plain.state_dict(), strict=False)
    same = gnn(x, edges, batch_dict=batch, num_graphs=2)
    assert all(torch.allclose(same[t], plain(x, edges)[t]) for t in x)  # identity at init
    with torch.no_grad():
        gnn.films[0].generator[2].bias[8:] = 1.0  # beta = 1 at layer 0
    moved = gnn(x, edges, batch_dict=batch, num_graphs=2)
    assert not torch.allclose(moved["r"], same["r"]) and torch.allclose(moved["q"], same["q"])  # q receives nothing
    gnn.reset_parameters()
    assert all(f.generator[2].weight.abs().sum() == 0 for f in gnn.films)
    with pytest.raises(ValueError, match="film:.*node.*\\['q'.*'r'\\].*'x'"):
        HeteroGNN(["q", "r"], etypes, hidden=8, film="x")
    with pytest.raises(ValueError, match="HeteroGNN\\(film='q'\\) needs batch_dict and num_graphs"):
        gnn(x, edges)
