import dataclasses
import json

import pytest

from edgefer.errors import EdgeferError
from edgefer.training.fer import FERConfig
from edgefer.training.run import RunDir


def test_resume_accepts_a_setting_added_after_the_run_began_at_its_default(tmp_path):
    """A run begun before FERConfig had ``sync_bn`` resumes; a changed setting, or a new one away from its
    default, is still refused."""
    cfg = FERConfig(data="d")
    saved = dataclasses.asdict(cfg)
    del saved["sync_bn"]  # config.json of a run begun before the setting existed
    (tmp_path / "config.json").write_text(json.dumps(saved))
    (tmp_path / "last.pt").write_bytes(b"")
    assert RunDir(tmp_path, cfg, resume=True).resume
    with pytest.raises(EdgeferError, match="changed settings: sync_bn$"):
        RunDir(tmp_path, dataclasses.replace(cfg, sync_bn=False), resume=True)
    with pytest.raises(EdgeferError, match="changed settings: lr$"):
        RunDir(tmp_path, dataclasses.replace(cfg, lr=0.1), resume=True)
