from __future__ import annotations

import pytest

from kb.config import Settings, describe
from kb.errors import ConfigError

from .conftest import ROOT


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, _default, help_text in describe():
        assert f"| `{name}` |" in readme, f"setting {name} missing from README's table"
        assert help_text


def test_environment_and_overrides(monkeypatch):
    monkeypatch.setenv("KB_CHUNK_MAX_TOKENS", "150")
    assert Settings.load().chunk_max_tokens == 150
    assert Settings.load(chunk_max_tokens=120).chunk_max_tokens == 120


def test_bad_settings_fail_loudly(monkeypatch):
    with pytest.raises(ConfigError, match="unknown setting 'chunk_size'"):
        Settings.load(chunk_size=3)
    with pytest.raises(ConfigError, match="chunk_max_tokens"):
        Settings.load(chunk_max_tokens=5)
    monkeypatch.setenv("KB_MAX_FILE_MB", "lots")
    with pytest.raises(ConfigError, match="max_file_mb"):
        Settings.load()
    monkeypatch.delenv("KB_MAX_FILE_MB")
    with pytest.raises(ConfigError, match="never downloaded"):
        Settings.load(model="/nonexistent/model").model_path()
