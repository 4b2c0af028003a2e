from pathlib import Path

import pytest

from kb.settings import Settings, describe

README = Path(__file__).resolve().parents[2] / "README.md"


def test_env_overrides_and_explicit_values_win():
    s = Settings.load(env={"KB_HOME": "/tmp/x", "KB_CHUNK_TOKENS": "120", "KB_BM25_K1": "1.2"})
    assert (s.home, s.chunk_tokens, s.bm25_k1) == (Path("/tmp/x"), 120, 1.2)
    assert Settings.load(env={"KB_HOME": "/tmp/x"}, home="/tmp/y").home == Path("/tmp/y")


@pytest.mark.parametrize("env", [{"KB_MAX_K": "many"}, {"KB_CHUNK_OVERLAP": "500"}, {"KB_MAX_K": "0"}])
def test_bad_values_are_rejected_with_the_setting_named(env):
    with pytest.raises(ValueError, match="MAX_K|chunk_overlap|max_k"):
        Settings.load(env=env)


def test_every_setting_is_documented_in_the_readme():
    readme = README.read_text()
    for variable, default, _help in describe():
        assert f"`{variable}`" in readme, f"{variable} is not in the README's settings table"
