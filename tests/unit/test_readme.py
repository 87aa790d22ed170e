"""The README documents every setting every service reads."""

from __future__ import annotations

from operations.settings_doc import env_keys, settings_classes
from taxifraud.config import REPO_ROOT


def test_every_setting_is_in_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [key for _, cls in settings_classes() for key, _ in env_keys(cls) if f"`{key}`" not in readme]
    assert not missing, f"undocumented settings (run python -m operations.settings_doc): {missing}"
