"""Library spaces side by side with NNI 3.0's hub: same decisions (under each module's label
mapping), same domains, same parameter counts for sampled architectures. NNI runs in its own
venv (tests/nni_hub/__init__.py); where there is none, these tests skip."""
from __future__ import annotations

import nni_hub
import pytest

PYTHON = nni_hub.nni_python()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(PYTHON is None, reason="no NNI venv (../shared/baselines/nni-venv.sh)")]


@pytest.mark.parametrize("module", nni_hub.modules(), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_same_space_as_nni(module):
    result = nni_hub.compare(module, PYTHON)
    assert result.problems == []
    assert len(result.params) == nni_hub.SAMPLES
