"""A PDF page as an image, with a passage's text marked where it stands on the page.

The reader shows a PDF's text as text; some readers need the page as printed (a table's
layout, a chart beside the figures). The page is rendered from the kept original with PDFium,
the passage is found in the page's own text layer (a few words at a time, so what the loader
joined or reordered only loses its marks, not the rest), and its characters' boxes are shaded.
Images are cached in the home (`cache/pages/`, the most recent `CACHED` kept).
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidRequest, NotFound

if TYPE_CHECKING:  # pragma: no cover
    from .knowledge import KnowledgeBase

__all__ = ["page_image", "CACHED", "SCALE"]

SCALE = 1.5  # 108 dpi: a US Letter page is 918 px wide
CACHED = 300  # page images kept in the home's cache
_PDFIUM = threading.Lock()  # PDFium is not thread-safe: one page at a time in this process
_WORDS = 6  # words searched for at a time


def page_image(kb: KnowledgeBase, doc_id: str, page: int, passage_id: str | None = None) -> bytes:
    """PNG bytes of page `page` (1-based) of a kept PDF, the passage `passage_id` marked on it."""
    from .reading import document_file

    doc, path = document_file(kb, doc_id)
    if doc.format != "pdf" or path.suffix.lower() != ".pdf":
        raise NotFound(f"{doc.title!r} is not a PDF: it has no page images")
    if not isinstance(page, int) or not 1 <= page <= (doc.pages or 0):
        raise InvalidRequest(f"page must be from 1 to {doc.pages}.", "invalid_page")
    text = None
    if passage_id:
        found = kb.store.passage_by_id(passage_id) if re.fullmatch(r"[0-9a-f]{16}", passage_id) else None
        rows = kb.store.results_for([found[0]], {"document": [doc.id]}) if found else {}
        if found is None or not rows:
            raise NotFound(f"no passage {passage_id!r} in {doc.title!r}")
        text = rows[found[0]][0].text
    folder = kb.home / "cache" / "pages"
    name = f"{doc.id}-{doc.content_hash[:12]}-{page}-{passage_id or 'plain'}.png"
    cached = folder / name
    if cached.is_file():
        return cached.read_bytes()
    png = _render(path, page, text)
    _keep(folder, name, png)
    return png


def _render(path: Path, number: int, passage: str | None) -> bytes:
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    with _PDFIUM:
        pdf = pdfium.PdfDocument(str(path))
        try:
            page = pdf[number - 1]
            image = page.render(scale=SCALE).to_pil().convert("RGB")
            height = page.get_height()
            boxes = _boxes(page, passage) if passage else []
        finally:
            pdf.close()
    if boxes:
        mask = Image.new("L", image.size, 0)
        draw = ImageDraw.Draw(mask)
        for left, bottom, right, top in boxes:
            draw.rectangle([left * SCALE - 1, (height - top) * SCALE - 1, right * SCALE + 1, (height - bottom) * SCALE + 1], fill=110)
        image = Image.composite(Image.new("RGB", image.size, (255, 214, 0)), image, mask)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _boxes(page, passage: str) -> list[tuple[float, float, float, float]]:
    """The boxes of the page's characters that spell the passage, found a few words at a time."""
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_range()
        flat: list[str] = []
        where: list[int] = []  # the page text with white space collapsed, and each character's index in `raw`
        for i, c in enumerate(raw):
            if c.isspace():
                if flat and flat[-1] != " ":
                    flat.append(" ")
                    where.append(i)
            else:
                flat.append(c)
                where.append(i)
        haystack = "".join(flat)
        words = passage.split()
        boxes: list[tuple[float, float, float, float]] = []
        at = 0
        for n in range(0, len(words), _WORDS):
            needle = " ".join(words[n:n + _WORDS])
            found = haystack.find(needle, at)
            if found < 0:
                found = haystack.find(needle)  # the loader may have put columns in another order
            if found < 0 or len(needle) < 3:
                continue
            start, end = where[found], where[found + len(needle) - 1] + 1
            for r in range(textpage.count_rects(start, end - start)):
                boxes.append(textpage.get_rect(r))
            at = found + len(needle)
        return boxes
    finally:
        textpage.close()


def _keep(folder: Path, name: str, png: bytes) -> None:
    """Write the image into the cache, and trim the cache to the newest `CACHED` images. A
    cache that cannot be written (a full disk, a read-only home) only costs a new render."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{hashlib.sha1(name.encode()).hexdigest()}.tmp"
        tmp.write_bytes(png)
        tmp.replace(folder / name)
        images = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime)
        for old in images[:-CACHED]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
