import json
import os
import subprocess
import sys

from kb.cli import main

from ..conftest import ROOT


def test_search_json_has_the_contract_shape(runner, sample_settings):
    out = runner.invoke(main, ["search", "what was done on online child protection", "-k", "3", "--json", "--home", str(sample_settings.home)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["query"] == "what was done on online child protection" and data["mode"] == "hybrid"
    r = data["results"][0]
    assert set(r) == {"rank", "score", "relevance", "match", "passage_id", "text", "highlights", "section", "page", "document",
                      "also_in"}
    assert r["also_in"] == []  # one report: no other edition holds it
    assert 0 <= r["relevance"] <= 1 and r["match"] in ("strong", "partial", "weak")
    assert set(r["document"]) == {"id", "title", "source", "date", "organisation", "period", "kind"}
    assert r["rank"] == 1 and isinstance(r["score"], float) and "Online Protection" in r["text"]
    assert len(data["results"]) == 3


def test_human_output_and_bad_input(runner, sample_settings):
    home = ["--home", str(sample_settings.home)]
    out = runner.invoke(main, ["search", "newborn care", "--mode", "lexical", *home])
    assert out.exit_code == 0 and "748,000" in out.output and out.output.startswith("1. UNICEF China 2023 Annual Report")
    bad = runner.invoke(main, ["search", "  ", *home])
    assert bad.exit_code == 2 and "query is empty" in bad.output
    assert runner.invoke(main, ["search", "x", "-k", "1000", *home]).exit_code == 2
    assert runner.invoke(main, ["search", "x", "--mode", "fuzzy", *home]).exit_code == 2


def test_a_highlight_wrapped_over_lines_prints_as_one_line(runner, tmp_path):
    """A sentence wrapped in its PDF ("The default weight value is" / "50, and ...") printed
    its first line after the marker and the rest, the answer, as if it were other text."""
    (tmp_path / "spec.txt").write_text("Glob weights\n\nThere is also an optional weight attribute. The default weight value is\n"
                                       "50, and the maximum is 100.\n", encoding="utf-8")
    home = ["--home", str(tmp_path / "h")]
    assert runner.invoke(main, ["ingest", str(tmp_path / "spec.txt"), *home]).exit_code == 0
    out = runner.invoke(main, ["search", "default weight value", "--mode", "lexical", *home])
    assert out.exit_code == 0, out.output
    assert "   > The default weight value is 50, and the maximum is 100.\n" in out.output


def test_ingest_documents_stats_remove(runner, tmp_path, sample_copy):
    home = ["--home", str(tmp_path / "h")]
    (sample_copy / "bad.pdf").write_bytes(b"not a pdf")
    out = runner.invoke(main, ["ingest", str(sample_copy), *home])
    assert out.exit_code == 0, out.output
    assert "1 added, 0 updated, 0 unchanged, 1 failed" in out.output and "bad.pdf" in out.output
    again = runner.invoke(main, ["ingest", "--json", str(sample_copy), *home])
    assert json.loads(again.output)["skipped"] == [str(sample_copy / "unicef-china-2023-annual-report.txt")]
    assert "already has documents" in runner.invoke(main, ["ingest", "--if-empty", str(sample_copy), *home]).output
    docs = json.loads(runner.invoke(main, ["documents", "--json", *home]).output)
    assert [d["title"] for d in docs] == ["UNICEF China 2023 Annual Report"]
    stats = json.loads(runner.invoke(main, ["stats", "--json", *home]).output)
    assert stats["documents"] == 1 and stats["passages"] < stats["occurrences"]
    out = runner.invoke(main, ["remove", docs[0]["id"], *home])
    assert out.exit_code == 0 and "Removed" in out.output
    missing = runner.invoke(main, ["remove", docs[0]["id"], *home])
    assert missing.exit_code == 2 and "no document" in missing.output
    assert json.loads(runner.invoke(main, ["stats", "--json", *home]).output)["passages"] == 0


def test_kb_home_from_the_environment(runner, sample_settings):
    out = runner.invoke(main, ["stats", "--json"], env={"KB_HOME": str(sample_settings.home)})
    assert json.loads(out.output)["documents"] == 1


def test_model_free_commands_do_not_import_torch(sample_settings):
    code = (
        "import sys; from kb.cli import main\n"
        "for args in (['--help'], ['documents'], ['stats', '--json'], ['search', 'newborn', '--mode', 'lexical']):\n"
        "    try: main(args, standalone_mode=False)\n"
        "    except SystemExit: pass\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    env = {**os.environ, "KB_HOME": str(sample_settings.home)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert "748,000" in out.stdout


def test_help_explains_itself(runner):
    out = runner.invoke(main, ["--help"])
    for command in ("ingest", "search", "serve", "documents", "remove", "stats"):
        assert command in out.output
    assert "KB_" in out.output
    assert "--home" in runner.invoke(main, ["search", "--help"]).output


def test_cli_modes_match_the_engine():
    from index import MODES
    from kb.cli import MODES as CLI_MODES

    assert CLI_MODES == MODES


def test_series_are_listed_and_set_from_the_command_line(runner, series_settings, tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(series_settings.home, home)
    out = runner.invoke(main, ["series", "--home", str(home)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("Acme Reading Foundation · annual report  [acme-reading-foundation-annual-report]")
    assert [line.split()[0] for line in lines[1:]] == ["2023", "2022", "2021"]
    oldest = lines[3].split()[1]
    out = runner.invoke(main, ["documents", "edit", oldest, "--series", "none", "--home", str(home)])
    assert out.exit_code == 0 and "series" in out.output
    listed = json.loads(runner.invoke(main, ["series", "--json", "--home", str(home)]).output)
    assert [len(x["editions"]) for x in listed] == [2]
