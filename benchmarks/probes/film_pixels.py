"""Probe: does question-conditioned perception (``film="question"``) leave the pixel plateau on Sort-of-CLEVR?

Trains one model on Sort-of-CLEVR from pixels with the benchmark's inputs (``SortOfCLEVRTask("pixels")``,
batches of whole images), with or without ``--film``, and prints validation accuracy (relational and
non-relational) after every epoch, then test accuracy. A probe, not a benchmark: one seed, one lr.

    python benchmarks/probes/film_pixels.py concat --film --lr 1e-3 --images 9800 --epochs 6 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch
from torch_geometric.utils import scatter

from mmgraph.bench.runner import build_model
from mmgraph.bench.tasks import SortOfCLEVRTask
from mmgraph.data import MultimodalLoader
from mmgraph.nn import GridCNN
from mmgraph.nn.encoders import masked_mean
from mmgraph.nn.fusion_model import FusionModel
from mmgraph.nn.heads import make_head
from mmgraph.nn.models.graph_fusion import GraphFusionModel
from mmgraph.registry import register_model
from mmgraph.train import fit


class CellIdCNN(GridCNN):
    """Probe-only: ``GridCNN`` regions with a one-hot id of their cell appended (25 more features), so a
    pooled model can tell cells apart as a flattened one does."""

    def __init__(self, cells: int = 25, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.cells = cells
        self.out_dim += cells

    def forward(self, raw, modulation=None):  # noqa: ANN001, ANN201
        out = super().forward(raw, modulation)
        ids = torch.eye(self.cells, dtype=out.x.dtype, device=out.x.device).expand(out.x.size(0), -1, -1)
        return type(out)(torch.cat([out.x, ids], dim=-1), pos=out.pos, name="image", check=False)


@register_model("concat-flat")
class FlatReadout(FusionModel):
    """Probe-only: concat's encoders and FiLM, but the image's regions flattened (one weight per cell and channel)
    instead of mean-pooled; the other modalities mean-pooled. Tests whether the readout keeps pooled models on
    the plateau (``docs/pixels.md``)."""

    def __init__(self, in_dims, hidden=64, out_dim=1, *, cells: int = 25, **options):  # noqa: ANN001
        super().__init__(in_dims, hidden, out_dim, **options)
        width = cells * hidden + (len(self.names) - 1) * hidden
        self.head = make_head(self.task, width, out_dim, hidden=2 * hidden, dropout=self.dropout_rate)

    def forward(self, batch):  # noqa: ANN001, ANN201
        batch, encoded = self.encode(batch)
        parts = [encoded["image"].flatten(1)]
        parts += [masked_mean(encoded[n], batch[n].mask) for n in self.names if n != "image"]
        return self.head(torch.cat(parts, dim=-1))


class GraphFlat(GraphFusionModel):
    """Probe-only (``graph-flat``): graph-relational, whose head also reads the image's region nodes after
    message passing flattened in cell order (one weight per cell and channel, as ``concat-flat``)."""

    def __init__(self, in_dims, hidden=64, out_dim=1, *, cells: int = 25, pooled: bool = True,  # noqa: ANN001
                 before_gnn: bool = False, jk: bool = False, **kwargs):  # noqa: ANN003
        super().__init__(in_dims, hidden, out_dim, **kwargs)
        self.cells, self.pooled, self.before_gnn, self.jk = cells, pooled, before_gnn, jk
        width = (self.readout.out_dim if pooled else hidden) + cells * hidden * (2 if jk else 1)
        self.head = make_head(self.task, width, out_dim, hidden=2 * hidden, dropout=self.dropout_rate)

    def forward(self, batch):  # noqa: ANN001, ANN201
        batch, graph, layout, prepared = self._graph(batch)
        context = None if self.film is None else self.film.context(batch)
        x = torch.cat([self._node_states(t, graph, layout, context) for t in self.node_types])
        h = self.gnn.forward_layout(x, layout, prepared=prepared)
        cells = layout.node_slice("image")
        states = torch.cat([x[cells], h[cells]], dim=-1) if self.jk else (x if self.before_gnn else h)[cells]
        regions = states.reshape(layout.num_graphs, -1)
        if self.pooled:
            rest = self.readout.forward_layout(h, layout)
        else:  # only the question's mean state next to the regions, as concat-flat reads
            rows = layout.node_slice("question")
            rest = scatter(h[rows], layout.batch[rows], dim=0, dim_size=layout.num_graphs, reduce="mean")
        return self.head(torch.cat([rest, regions], dim=-1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--film", action="store_true")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ungrouped", action="store_true", help="batches of questions from different images")
    p.add_argument("--cnn-norm", default="batch", choices=["batch", "group", "instance"])
    p.add_argument("--no-cnn-film", action="store_true",
                   help="with --film: leave the CNN unconditioned (the region graph then runs once per image)")
    p.add_argument("--no-region-norm", action="store_true",
                   help="drop the LayerNorm of the image regions' encoder (each region keeps its magnitude)")
    p.add_argument("--question-graph", action="store_true",
                   help="graph models: the regions form a complete graph per question (as the objects do from "
                        "state), with the plain CNN as extractor, instead of the image-level GraphExtractor")
    p.add_argument("--no-graph-extractor", action="store_true",
                   help="graph models: the plain CNN as extractor (no image-level region graph); per question the "
                        "regions are linked to the fusion node only")
    p.add_argument("--cell-ids", action="store_true", help="append a one-hot cell id to every region")
    p.add_argument("--flat", action="store_true",
                   help="concat and graph models: the head also reads the 25 regions flattened (flat={'image': 25})")
    p.add_argument("--no-pooled", action="store_true",
                   help="graph-flat: the head reads the regions and the question's mean only (no pooled readout)")
    p.add_argument("--regions-before-gnn", action="store_true",
                   help="graph-flat: the head reads the regions' states before message passing (the GNN still runs)")
    p.add_argument("--flat-from", default="output", choices=["output", "input"],
                   help="graph models with --flat: read the regions after message passing or as they enter it")
    p.add_argument("--jk", action="store_true",
                   help="graph-flat: the head reads each region's states before and after message passing")
    p.add_argument("--gnn-norm", default="layer", choices=["layer", "batch", "none"],
                   help="graph models: the GNN's normalisation (pre-norm by default)")
    p.add_argument("--no-gnn-film", action="store_true", help="graph models with --film: no FiLM in the GNN layers")
    p.add_argument("--head-hidden", type=int, default=None, help="replace the model's head by one of this width")
    p.add_argument("--protocol", action="store_true",
                   help="with --film: the model exactly as `mmgraph bench sort-of-clevr --input pixels --film` builds "
                        "it (its CNN, options and width); only --width, --head-hidden, --gnn-regions, --seed and the training "
                        "options apply")
    p.add_argument("--width", type=int, default=None,
                   help="with --protocol: this width instead of the one that matches the parameter budget")
    p.add_argument("--gnn-regions", default="full", choices=["full", "zero", "detach"],
                   help="with --protocol, graph models: the image regions enter the GNN as they are (full), as zeros "
                        "(zero: the GNN sees the question only) or without a gradient back into the CNN (detach); "
                        "the head's flat part reads them unchanged")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    task = SortOfCLEVRTask("pixels", sizes=(args.images, 200, 200), film=args.film)
    task.load(quick=False)
    if args.protocol:
        return run_protocol(task, args)
    cnn = CellIdCNN if args.cell_ids else GridCNN
    task.extractors["image"] = lambda: cnn(channels=task.cnn_channels, norm=args.cnn_norm)
    if args.cell_ids:
        dims = task.in_dims()
        task.in_dims = lambda: {**dims, "image": dims["image"] + 25}
    if args.question_graph:
        from mmgraph.graph import GraphBuilder, edges

        task._builder = GraphBuilder(intra={"image": edges.Full(attr="pos"), "question": edges.Sequential(window=1)},
                                     fusion_node=True)
    if args.question_graph or args.no_graph_extractor:
        task.model_kwargs = lambda name, hidden: super(SortOfCLEVRTask, task).model_kwargs(name, hidden)
    options = {"encoder_norm": {"image": None}} if args.no_region_norm else {}
    if args.flat:
        options["flat"] = {"image": 25}
    if args.flat_from != "output":
        options["flat_from"] = args.flat_from
    if args.gnn_norm != "layer":
        options["norm"] = None if args.gnn_norm == "none" else args.gnn_norm
    task.model_options = {args.model: options}
    if args.model == "graph-flat":  # graph-relational's options (its extractor and graph), the flat head
        from mmgraph.utils.seed import seed_everything

        seed_everything(args.seed)
        kwargs = task.model_kwargs("graph-relational", args.hidden)
        if args.no_region_norm:
            kwargs["encoder_norm"] = {"image": None}
        if "norm" in options:
            kwargs["norm"] = options["norm"]
        in_dims = {**task.in_dims(), **kwargs.pop("in_dims", {})}
        model = GraphFlat(in_dims, args.hidden, task.out_dim, conv="relational", task=task.task,
                          pooled=not args.no_pooled, before_gnn=args.regions_before_gnn, jk=args.jk, **kwargs)
    else:
        model = build_model(task, args.model, args.hidden, seed=args.seed)
    if args.no_cnn_film and model.film is not None:
        model.film.extractors = torch.nn.ModuleDict()  # FiLM on the elements (and GNN layers) only
    if args.no_gnn_film and getattr(model, "gnn", None) is not None:
        model.gnn.film, model.gnn.films = None, None  # FiLM at the CNN and the element encoders only
    if args.head_hidden is not None:
        first = next(m for m in model.head.modules() if isinstance(m, torch.nn.Linear))
        model.head = make_head(task.task, first.in_features, task.out_dim, hidden=args.head_hidden,
                               dropout=model.dropout_rate)
    params = sum(q.numel() for q in model.parameters())
    print(f"{args.model} film={args.film} cnn_film={args.film and not args.no_cnn_film} ungrouped={args.ungrouped} cnn_norm={args.cnn_norm} region_norm={not args.no_region_norm} question_graph={args.question_graph} graph_extractor={args.model.startswith('graph-') and not (args.no_graph_extractor or args.question_graph)} cell_ids={args.cell_ids} flat={args.flat} pooled={not args.no_pooled} before_gnn={args.regions_before_gnn} jk={args.jk} flat_from={args.flat_from} gnn_film={args.film and not args.no_gnn_film} head_hidden={args.head_hidden} gnn_norm={args.gnn_norm} params={params:,} lr={args.lr:g} batch={args.batch_size} "
          f"images={args.images} threads={args.threads}", flush=True)
    train_and_test(task, model, args)


def run_protocol(task: SortOfCLEVRTask, args: argparse.Namespace) -> None:
    """``--protocol``: the benchmark's model (bench width for the model's parameter budget), optionally a wider head."""
    from mmgraph.bench.runner import match_budget

    if not args.film:
        raise SystemExit("--protocol: needs --film (the protocol of sort-of-clevr-pixels-film)")
    reference = sum(q.numel() for q in build_model(task, "graph-relational", args.hidden).parameters())
    hidden = args.hidden if args.model == "graph-relational" else match_budget(task, args.model, reference)[0]
    hidden = hidden if args.width is None else args.width
    model = build_model(task, args.model, hidden, seed=args.seed)
    if args.head_hidden is not None:
        first = next(m for m in model.head.modules() if isinstance(m, torch.nn.Linear))
        model.head = make_head(task.task, first.in_features, task.out_dim, hidden=args.head_hidden,
                               dropout=model.dropout_rate)
    if args.gnn_regions != "full":
        gnn_regions(model, args.gnn_regions)
    params = sum(q.numel() for q in model.parameters())
    print(f"{args.model} protocol=pixels-film hidden={hidden} head_hidden={args.head_hidden} "
          f"gnn_regions={args.gnn_regions} params={params:,} "
          f"lr={args.lr:g} batch={args.batch_size} images={args.images} seed={args.seed} threads={args.threads}",
          flush=True)
    train_and_test(task, model, args)


def gnn_regions(model: torch.nn.Module, how: str) -> None:
    """Change what the GNN receives of the image regions (zeros, or states without a gradient), not what the head reads."""
    original = model.gnn.forward_layout

    def forward_layout(x, layout, **kwargs):  # noqa: ANN001, ANN003, ANN202
        rows = layout.node_slice("image")
        regions = torch.zeros_like(x[rows]) if how == "zero" else x[rows].detach()
        x = torch.cat([x[: rows.start], regions, x[rows.stop :]])
        return original(x, layout, **kwargs)

    model.gnn.forward_layout = forward_layout


def train_and_test(task: SortOfCLEVRTask, model: torch.nn.Module, args: argparse.Namespace) -> None:
    """Train with a constant lr, print validation accuracy after every epoch, then test accuracy."""
    t0 = time.perf_counter()

    def log(record: dict) -> None:
        scores = task.evaluate(model, "val", 256)
        model.train()
        print(f"epoch {record['epoch']}: {time.perf_counter() - t0:.0f} s, train_loss {record['train_loss']:.3f}, "
              f"val acc {scores['acc']:.3f} rel {scores['acc_relational']:.3f} "
              f"nonrel {scores['acc_nonrelational']:.3f}", flush=True)

    if args.ungrouped:
        train = MultimodalLoader(task.data["train"], args.batch_size, shuffle=True, seed=args.seed, group=False)
    else:
        train = task.batches("train", args.batch_size, shuffle=True, seed=args.seed)
    val = task.batches("val", 256, shuffle=False)
    collate = getattr(model, "collate_fn", None)
    if callable(collate):  # graph models: graphs built in the loader, as the benchmark does
        from mmgraph.graph.prebuilt import with_graphs

        train, val = with_graphs(train, collate()), with_graphs(val, collate())
    fit(model, train, val, epochs=args.epochs, lr=args.lr, seed=args.seed, progress=False,
        log=log, scheduler="none")
    test = task.evaluate(model, "test", 256)
    print("test " + ", ".join(f"{k} {v:.3f}" for k, v in test.items()), flush=True)


if __name__ == "__main__":
    main()
