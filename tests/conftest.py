"""Shared fixtures. Retrieval tests use the real bundled model on the real sample report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase, Settings
from webapp import create_app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "sample"
SAMPLE = SAMPLE_DIR / "unicef-china-2023-annual-report.txt"


@pytest.fixture(scope="session")
def sample_settings(tmp_path_factory) -> Settings:
    """A home holding the sample report, ingested once per test session with the real model."""
    home = tmp_path_factory.mktemp("sample-home")
    settings = Settings.load(env={}, home=home)
    report = KnowledgeBase(settings).ingest([SAMPLE_DIR])
    assert not report.failed and len(report.added) == 1
    return settings


SERIES_TOPICS = {
    2021: "After the floods in the river valley, the Foundation delivered emergency reading kits and tents for "
          "classes to 140 flooded schools, so that lessons could go on while buildings were repaired.",
    2022: "A school meals pilot gave a hot lunch every school day to 9,000 pupils in the mountain districts; "
          "attendance in the pilot schools rose by a fifth within two terms.",
    2023: "Digital classrooms with solar-powered tablets and offline reading libraries reached 260 village "
          "schools, and 1,100 teachers learned to use them for reading lessons.",
}


def write_series(folder: Path) -> Path:
    """Three editions of a generated yearly report (a report series): the same boilerplate
    in each, nearly word for word (only the year changes), beside each year's own figures
    and topic."""
    folder.mkdir(parents=True, exist_ok=True)
    for year, topic in SERIES_TOPICS.items():
        (folder / f"acme-annual-report-{year}.md").write_text(f"""# Acme Reading Foundation Annual Report {year}

© {year} Acme Reading Foundation

## About the Foundation

The Acme Reading Foundation works with schools and local governments so that every child can read by the age
of ten. Founded in 1998, the Foundation supports teacher training, library building and reading programmes in
rural districts, and it publishes an independent audit of its accounts every year. This report covers {year}.

## Highlights of {year}

In {year} the Foundation opened {year - 2000} new libraries and trained {year * 3 % 1000} teachers in the
northern districts.

## Programme focus

{topic}
""", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def series_settings(tmp_path_factory) -> Settings:
    """A home holding three editions of a generated report series (real model)."""
    folder = write_series(tmp_path_factory.mktemp("series-files"))
    settings = Settings.load(env={}, home=tmp_path_factory.mktemp("series-home"))
    report = KnowledgeBase(settings).ingest([folder])
    assert not report.failed and len(report.added) == 3
    return settings


@pytest.fixture(scope="session")
def sample_kb(sample_settings) -> KnowledgeBase:
    return KnowledgeBase(sample_settings)


@pytest.fixture(scope="session")
def fine_kb(tmp_path_factory) -> KnowledgeBase:
    """The sample report cut into short passages (48 word pieces): a collection with enough
    passages per topic for ranking tests (the default cut gives only five)."""
    settings = Settings.load(env={}, home=tmp_path_factory.mktemp("fine-home"), chunk_tokens=48, chunk_overlap=8)
    kb = KnowledgeBase(settings)
    kb.ingest([SAMPLE_DIR])
    return kb


@pytest.fixture
def fresh_kb(tmp_path) -> KnowledgeBase:
    """An empty home with the real model, for tests that write."""
    return KnowledgeBase(Settings.load(env={}, home=tmp_path / "home"))


@pytest.fixture
def fake_kb(tmp_path) -> KnowledgeBase:
    """An empty home with the deterministic hash embedder: fast, for plumbing tests."""
    return KnowledgeBase(Settings.load(env={}, home=tmp_path / "home", model="hash"))


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    """A writable folder with a copy of the sample report."""
    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(SAMPLE, folder)
    return folder


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL 15 server with pgvector on loopback (tests/pgserver.py)."""
    from .pgserver import Server

    server = Server()
    yield server
    server.stop()


@pytest.fixture
def app(sample_settings):
    return create_app({"KB_SETTINGS": sample_settings, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    return CliRunner()


def _tiny_cross_encoder(folder):
    """A one-layer BERT cross-encoder with random weights, built here (nothing downloaded)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = "child protection online health water education report the of and a to in".split()
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]))
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    config = BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=1, initializer_range=0.5)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory):
    return _tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


def first_documents(store, keys) -> dict:
    """key -> (id, title) of the document at each passage's first place (as `results_for` picks it)."""
    return {key: documents[0] for key, documents in store.every_document_for(keys).items()}
