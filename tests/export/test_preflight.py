"""What an export refuses before it writes anything: options the artifact's task would never use."""

from __future__ import annotations

import pytest

from beit_export.options import ExportOptions, ExportOptionsError
from beit_export.pipeline import export_artifact
from tests.conftest import tiny_checkpoint


def test_uint8_input_copies_are_refused_for_segmentation_before_anything_is_written(tmp_path):
    checkpoint = tiny_checkpoint("beit", "semantic-segmentation")
    output = tmp_path / "segmentation"
    with pytest.raises(ExportOptionsError, match=r"--uint8-input .* semantic-segmentation .* drop --uint8-input"):
        export_artifact(checkpoint, output=output, options=ExportOptions(uint8_input=True))
    assert not output.exists() and [path.name for path in tmp_path.iterdir()] == []
