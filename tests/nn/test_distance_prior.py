"""Tests for mmgraph.nn.distance_prior: softmax heads that start on the closest and furthest neighbour."""

import pytest
import torch

from mmgraph.nn import HeteroGNN
from mmgraph.nn.distance_prior import distance_prior, init_distance_prior

OBJECTS = ("objects", "intra", "objects")
TOKENS = ("caption", "intra", "caption")


def gnn(select_heads: int = 4, source_heads: int = 2) -> HeteroGNN:
    return HeteroGNN(["objects", "caption"], {OBJECTS: 3, TOKENS: 5}, 16, conv="relational",
                     select_heads=select_heads, source_heads=source_heads)


def test_distance_prior_scores_the_last_attribute_of_the_first_two_target_and_source_heads() -> None:
    prior = distance_prior(5, 2, 3, 7.0)
    expected = torch.zeros(5, 3)
    expected[[0, 1, 3, 4], 2] = torch.tensor([-7.0, 7.0, -7.0, 7.0])
    assert torch.equal(prior, expected)
    assert torch.equal(distance_prior(2, 0, 4, 1.0), torch.tensor([[0.0, 0, 0, -1], [0, 0, 0, 1]]))


def test_init_distance_prior_sets_one_edge_type_and_survives_reset() -> None:
    model = gnn()
    assert init_distance_prior(model, 50.0, OBJECTS) == 2  # one conv per layer
    model.reset_parameters()
    for conv in model.convs:
        bias = conv.per_type(OBJECTS).score_edge.bias.detach().view(4, 3)
        torch.testing.assert_close(bias[:, 2], torch.tensor([-50.0, 50.0, -50.0, 50.0]))
        tokens = conv.per_type(TOKENS).score_edge.bias.detach().view(4, 5)
        assert (tokens[:, -1].abs() < 50).all()  # the caption's edges keep their random start


def test_init_distance_prior_without_an_edge_type_sets_every_edge_type_with_attributes() -> None:
    model = gnn(select_heads=2, source_heads=0)
    init_distance_prior(model, 3.0)
    for et, dim in ((OBJECTS, 3), (TOKENS, 5)):
        bias = model.convs[0].per_type(et).score_edge.bias.detach().view(2, dim)
        torch.testing.assert_close(bias[:, -1], torch.tensor([-3.0, 3.0]))


@pytest.mark.parametrize("c", [float("nan"), float("inf"), True, "10"])
def test_init_distance_prior_rejects_a_scale_that_is_not_a_finite_number(c) -> None:
    with pytest.raises(ValueError, match=f"distance_prior: expected a finite number, got {c!r}"):
        init_distance_prior(gnn(), c)


def test_init_distance_prior_names_an_edge_type_without_attributes() -> None:
    model = HeteroGNN(["objects", "fusion"], {OBJECTS: 3, ("objects", "fuse", "fusion"): 0}, 16, conv="relational")
    with pytest.raises(ValueError, match=r"edge type \('objects', 'fuse', 'fusion'\) must carry attributes.*got edge"):
        init_distance_prior(model, 1.0, ("objects", "fuse", "fusion"))
    with pytest.raises(ValueError, match=r"edge type \('a', 'b', 'c'\) must carry attributes"):
        init_distance_prior(model, 1.0, ("a", "b", "c"))
