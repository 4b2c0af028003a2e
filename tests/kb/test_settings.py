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
    """Each setting has a row in the README's table, saying what its help says: the help is
    declared once, in `kb.settings`, and a row copied from an older help goes stale."""
    readme = README.read_text()
    for variable, _default, help_ in describe():
        assert f"`{variable}`" in readme, f"{variable} is not in the README's settings table"
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{variable}` |"))
        assert row.endswith(f"| {help_} |"), f"{variable}'s row in the README does not say what its help says"


def test_a_configuration_file_sits_between_the_defaults_and_the_environment(tmp_path):
    from kb.settings import Settings

    home = tmp_path / "home"
    home.mkdir()
    (home / "kb.toml").write_text('rate_limit = 120\nlog_format = "json"\nread_needs_key = true\ndense_weight = 1\n')
    s = Settings.load(env={}, home=home)
    assert (s.rate_limit, s.log_format, s.read_needs_key, s.dense_weight) == (120, "json", True, 1.0)
    assert Settings.load(env={"KB_RATE_LIMIT": "60"}, home=home).rate_limit == 60  # the environment wins
    assert Settings.load(env={}, home=home, rate_limit=30).rate_limit == 30  # and options win over both
    other = tmp_path / "other.toml"
    other.write_text("max_k = 50\n")
    assert Settings.load(env={"KB_CONFIG": str(other)}, home=home).max_k == 50  # a named file replaces kb.toml
    assert Settings.load(env={"KB_CONFIG": str(other)}, home=home).rate_limit == 600


@pytest.mark.parametrize("text, message", [
    ("rate_limt = 5\n", "unknown setting 'rate_limt'"),
    ('rate_limit = "fast"\n', "rate_limit must be a number"),
    ("read_needs_key = 1\n", "read_needs_key must be a boolean"),
    ("rate_limit = \n", "not valid TOML"),
    ("rate_limit = 0\n", "rate_limit must be at least 1"),
])
def test_a_wrong_configuration_file_says_what_is_wrong(tmp_path, text, message):
    from kb.settings import Settings

    (tmp_path / "kb.toml").write_text(text)
    with pytest.raises(ValueError, match=message):
        Settings.load(env={}, home=tmp_path)


def test_the_cli_reads_config_from_an_option(tmp_path, runner):
    from kb.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'home = "{tmp_path / "h"}"\nmodel = "hash"\n')
    out = runner.invoke(main, ["--config", str(cfg), "stats", "--json"])
    assert out.exit_code == 0 and str(tmp_path / "h") in out.output, out.output
    bad = runner.invoke(main, ["--config", str(tmp_path / "missing.toml"), "stats"])
    assert bad.exit_code != 0 and "does not exist" in bad.output


def test_one_rule_for_whole_numbers_numbers_and_booleans_everywhere():
    from kb.errors import InvalidRequest
    from kb.validation import parse_bool, parse_float, parse_int

    assert [parse_int(v, "k") for v in ("10", 10, 10.0, "-3", "+4")] == [10, 10, 10, -3, 4]
    for bad in ("1e3", "0x10", " 5", "10.5", 10.5, True, None, "", "9" * 30):
        with pytest.raises(InvalidRequest):
            parse_int(bad, "k")
    assert [parse_float(v, "min_score") for v in ("0.5", ".5", 1, "1e-1")] == [0.5, 0.5, 1.0, 0.1]
    for bad in ("nan", "inf", "", True, "0,5"):
        with pytest.raises(InvalidRequest):
            parse_float(bad, "min_score")
    assert [parse_bool(v, "x") for v in ("TRUE", "1", "yes", "on", "false", "0", "no", "off", True, False)] == [True] * 4 + [False] * 4 + [True, False]
    for bad in ("", "maybe", 1, None):
        with pytest.raises(InvalidRequest):
            parse_bool(bad, "x")
