"""Read a web page's text: its main content, headings, lists and tables, in reading order.

trafilatura finds a page's main content and drops navigation, menus, footers and
boilerplate. It also drops prose that stands outside any paragraph: zlib's "zlib Usage
Example" writes its explanations straight into `<body>`, between `<pre>` blocks, and
trafilatura kept the code and none of them. So every page is also read whole
(`read_whole`): every block and every run of loose text between blocks, with only what no
reader wants (scripts, navigation, footers, forms) dropped. When the whole reading holds prose
trafilatura left out, at least `LOST_SHARE` of what it kept, the whole reading is the page.
A page whose extra text is a cookie notice or a short menu keeps trafilatura's reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any, Iterator

from .structure import Block, TextBuilder, parse_date, parse_text

__all__ = ["Page", "read_page", "read_whole"]

HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}
# what a browser lays out as a block: it ends a run of loose text; one that holds no other block is
# read as one piece of text (a heading always is), one that does has its insides read
LAYOUT_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "td", "th", "dt", "dd",
                         "figcaption", "caption", "div", "ul", "ol", "dl", "section", "article", "main", "header",
                         "figure", "details", "summary", "fieldset", "address", "hgroup", "hr", "table", "body", "html",
                         "center"})
DROP_TAGS = ["script", "style", "noscript", "template", "nav", "footer", "aside", "form", "svg"]
LOST_SHARE = 0.25  # prose trafilatura left out, as a share of the words it kept, that makes the whole reading the page
PROSE_WORDS = 12  # a run of text this long is prose (a menu's or a footer's pieces are shorter)
MAX_DEPTH = 64  # elements nested deeper are read as one piece (bounds the recursion)
# a space the joining of elements' texts put before a stop or after an opening bracket or currency
# sign ("<b>one</b>." is "one.", not "one ."); one written in the page goes too
_LOOSE = re.compile(r"\s+(?=[.,;:!?)\]}%])|(?<=[(\[{$])\s+")


@dataclass(frozen=True)
class Page:
    text: str
    blocks: tuple[Block, ...]
    title: str | None
    date: str | None


def read_page(html: str, data: bytes) -> Page:
    """The page as trafilatura reads it, unless that leaves out prose the whole reading holds
    (see the module's docstring). `html`: the decoded page; `data`: its bytes (BeautifulSoup
    reads the declared encoding itself)."""
    import trafilatura
    from lxml import etree

    whole = read_whole(data)
    xml = trafilatura.extract(html, output_format="xml", include_tables=True, include_formatting=True,
                              with_metadata=True, favor_recall=True, include_comments=False)
    if not xml:
        return whole
    root = etree.fromstring(xml.encode("utf-8"))
    out = TextBuilder()
    for el in root.iter("head", "p", "item", "table", "quote", "code"):
        if el.tag != "table" and any(a.tag in ("table", "item") for a in el.iterancestors()):
            continue
        if el.tag == "table":
            rows, heads = [], []
            for row in el.iter("row"):
                cells = [" ".join(" ".join(c.itertext()).split()) for c in row.iter("cell")]
                line = " | ".join(c for c in cells if c)
                if line:
                    rows.append(line)
                    if row.find("cell") is not None and row.find("cell").get("role") == "head":
                        heads.append(line)
            out.add("\n".join(rows), "table", context=" · ".join(heads) or None)
            continue
        text = " ".join(" ".join(el.itertext()).split())
        if el.tag == "head":
            level = int(m.group(1)) if (m := re.match(r"h(\d)", el.get("rend", ""))) else 2
            out.add(PERMALINK.sub("", text), "heading", level)
        else:
            out.add(text)
    if len(out.blocks) < 2:  # trafilatura's fallback for a page it finds no article in: one blob
        return whole
    if lost_words(out.text, whole) >= LOST_SHARE * len(out.text.split()):
        return whole
    return Page(out.text, tuple(out.blocks), page_title(html, root.get("title")), parse_date(root.get("date") or ""))


def lost_words(kept: str, whole: Page) -> int:
    """Words of the whole reading's prose (text blocks of `PROSE_WORDS` words or more) that
    `kept` does not hold. Compared by their letters and digits alone: the readings space
    words split by markup differently ("<code>Buffer</code>s")."""
    held = _letters(kept)
    lost = 0
    for block in whole.blocks:
        if block.kind != "text":
            continue
        text = whole.text[block.start:block.end]
        words = len(text.split())
        if words >= PROSE_WORDS and _letters(text) not in held:
            lost += words
    return lost


def _letters(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


PERMALINK = re.compile(r"\s*\u00b6+$")  # the "¶" Sphinx and MkDocs put after each heading, a link to it
_TITLE_ELEMENT = re.compile(r"<title[^>]*>(.{0,2000}?)</title\s*>", re.I | re.S)  # bounded: no scan to the end per tag
_TOP_HEADING = re.compile(r"<h([12])[\s>](.{0,300}?)</h\1\s*>", re.I | re.S)  # a longer one names no page


def page_title(html: str, extracted: str | None) -> str | None:
    """trafilatura's title, unless it is only a heading it fell back to: with no single <h1>
    it skips a <title> holding a point ("Underscore.js", "Debian Python Policy 0.12.0.0
    documentation") and takes the first <h1> of several ("Abstract") or the first <h2>
    ("Downloads"), which name a section, not the page. The <title> names the page then."""
    def plain(markup: str) -> str:
        return PERMALINK.sub("", " ".join(unescape(re.sub(r"<[^>]+>", " ", markup)).split()))

    extracted = plain(extracted or "") or None
    found = _TITLE_ELEMENT.search(html)
    declared = plain(found.group(1)) if found else ""
    headings = _TOP_HEADING.findall(html)
    if declared and sum(level == "1" for level, _ in headings) != 1 \
            and (extracted is None or extracted in {plain(text) for _, text in headings}):
        return declared
    return extracted


def read_whole(data: bytes) -> Page:
    """Every block of the page and every run of loose text between blocks, in reading order;
    scripts, styles, navigation, footers, asides and forms dropped. Titled by its <title>,
    else its first <h1>; dated by its metadata or its first <time>."""
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    # XHTML is read as HTML on purpose: browsers do, and its pages are web pages
    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
    soup = BeautifulSoup(data, "lxml")
    for tag in soup(DROP_TAGS):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    when = None
    for attrs in ({"property": "article:published_time"}, {"name": "date"}, {"name": "dcterms.date"}, {"itemprop": "datePublished"}):
        meta = soup.find("meta", attrs=attrs)
        if meta and meta.get("content"):
            when = parse_date(meta["content"][:10]) or parse_date(meta["content"])
            break
    if not when and (t := soup.find("time")):
        when = parse_date(t.get("datetime", "")[:10]) or parse_date(t.get_text(" "))
    out = TextBuilder()
    body = soup.body or soup
    for kind, piece in _pieces(body, _holding_blocks(body), 0):
        if kind == "table":
            trs = piece.find_all("tr")
            rows = [" | ".join(c for c in (_words(x.get_text(" ")) for x in tr.find_all(["td", "th"])) if c) for tr in trs]
            heads = [r for r, tr in zip(rows, trs) if r and tr.find("th") and not tr.find("td")]
            out.add("\n".join(r for r in rows if r), "table", context=" · ".join(heads) or None)
        elif kind == "text":
            out.add(piece)
        else:
            text = _words(piece.get_text(" "))
            level = HEADING_TAGS.get(piece.name)
            out.add(PERMALINK.sub("", text) if level else text, "heading" if level else "text", level or 1)
    if not out.blocks:
        text = body.get_text("\n", strip=True)
        blocks, found = parse_text(text)
        return Page(text, tuple(blocks), title or None, when or found)
    h1 = next((b for b in out.blocks if b.kind == "heading" and b.level == 1), None)
    text = out.text
    if not title and h1:
        title = text[h1.start:h1.end]
    return Page(text, tuple(out.blocks), title or None, when)


def _words(text: str) -> str:
    """Text joined from elements, whitespace collapsed and no space left before a stop."""
    return _LOOSE.sub("", " ".join(text.split()))


def _holding_blocks(root) -> set[int]:
    """The ids of the elements under `root` that hold a block (an element of `LAYOUT_TAGS`)
    somewhere inside: worked out once, children before their parents, where asking each
    element in turn searched its whole subtree again at every level."""
    from bs4.element import Tag

    holding: set[int] = set()
    for node in reversed(list(root.descendants)):  # every element after all it holds
        if isinstance(node, Tag) and (node.name in LAYOUT_TAGS or id(node) in holding) and node.parent is not None:
            holding.add(id(node.parent))
    return holding


def _pieces(element, holding: set[int], depth: int) -> Iterator[tuple[str, Any]]:
    """What `element` holds, in reading order: ("block", tag) for a block holding no other
    block, ("table", tag) for a table (read whole, nested ones with it), ("text", text) for a
    run of loose text and inline elements between blocks (a `<li>`'s own words before its
    nested list, prose written straight into `<body>`)."""
    from bs4.element import NavigableString, PreformattedString, Tag

    run: list[str] = []

    def flush() -> Iterator[tuple[str, Any]]:
        text = _words(" ".join(run))
        run.clear()
        if text:
            yield "text", text

    for child in element.children:
        if isinstance(child, PreformattedString):  # comments, doctypes, processing instructions
            continue
        if isinstance(child, NavigableString):
            run.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        inner = id(child) in holding
        if child.name == "table":
            yield from flush()
            yield "table", child
        elif child.name in LAYOUT_TAGS or inner:
            yield from flush()
            if child.name in HEADING_TAGS or not inner or depth >= MAX_DEPTH:
                yield "block", child
            else:
                yield from _pieces(child, holding, depth + 1)
        else:
            run.append(child.get_text(" "))
    yield from flush()
