"""Acc-2 of a rule that knows the sentiment generator's latent variables: the ceiling per missing modality.

Usage: python benchmarks/probes/sentiment_ceiling.py [--data-seed 0] [--utterances 200000]

Without the text, what is left of an utterance's sign is the speaker's mood (seen, noisily, in
the face) and sarcasm (a flat voice and a strongly negative face). The best decision from those
is "negative if sarcastic, else the sign of the facial valence"; this script scores that rule
with the latent facial valence itself, noise-free, on the benchmark's test split (the same
`sentiment_splits` call and metric as `mmgraph bench sentiment`) and on a large fresh sample.
A model that reads the face and the voice perfectly can only reach this figure up to
sampling error. A probe for reading the benchmark, not a benchmark result.
"""

from __future__ import annotations

import argparse

import numpy as np

from mmgraph.datasets.sentiment import generate_sentiment
from mmgraph.train.metrics import mosi_metrics


def _ceilings(meta: list[dict]) -> dict[str, float]:
    y = np.array([m["y"] for m in meta])
    valence = np.array([m["face_valence"] for m in meta])
    sarcastic = np.array([m["sarcastic"] for m in meta])
    mood = np.array([m["mood"] for m in meta], dtype=float)
    without_text = np.where(sarcastic, -1.0, np.sign(valence))
    known_mood = np.where(sarcastic, -1.0, mood)
    return {
        "without text (face valence + sarcasm)": mosi_metrics(without_text, y)["acc2"],
        "mood + sarcasm known exactly": mosi_metrics(known_mood, y)["acc2"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--test", type=int, default=686, help="size of the benchmark's test split")
    parser.add_argument("--utterances", type=int, default=200_000, help="size of the large fresh sample")
    args = parser.parse_args()
    test_seed = int(np.random.SeedSequence([args.data_seed, 2]).generate_state(1)[0])  # as sentiment_splits
    _, test_meta = generate_sentiment(args.test, test_seed, return_meta=True)
    _, big_meta = generate_sentiment(args.utterances, 10_000 + args.data_seed, return_meta=True)
    n = len(test_meta)
    for name, big in _ceilings(big_meta).items():
        on_test = _ceilings(test_meta)[name]
        se = (on_test * (1 - on_test) / n) ** 0.5
        print(f"{name}: test split {on_test:.3f} (binomial s.e. {se:.3f} over {n}); {len(big_meta):,} fresh {big:.3f}")


if __name__ == "__main__":
    main()
