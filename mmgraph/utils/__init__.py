"""Small utilities (seeding)."""

from mmgraph.utils.seed import seed_everything

__all__ = ["seed_everything"]
