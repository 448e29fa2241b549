"""Editing an XMP packet as text, touching only the properties photobrain owns.

Rewriting a packet through an XMP toolkit reorders and reformats everything
in it; darktable's sidecars hold the user's whole edit history, so instead
the owned properties are cut out of the text wherever they are and written
again, freshly serialised, into the first ``rdf:Description``.  Every other
byte of the packet stays as it was.  (pyexiv2 also writes every Python list
as an ``rdf:Seq``, while digiKam ignores an ``lr:hierarchicalSubject`` that
is not a Bag: serialising here gives each field its right array type.)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape, unescape

from .model import NAMESPACE_PREFIX, NAMESPACE_URI

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

#: Namespace URI -> the prefix used when photobrain has to declare it.
PREFERRED_PREFIX = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
    "http://www.digikam.org/ns/1.0/": "digiKam",
    "http://ns.microsoft.com/photo/1.0/": "MicrosoftPhoto",
    "http://ns.iview-multimedia.com/mediapro/1.0/": "mediapro",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    NAMESPACE_URI: NAMESPACE_PREFIX,
}

#: The toolkit named in a packet photobrain created: such a packet holding nothing else can go as a whole.
PHOTOBRAIN_TOOLKIT = 'x:xmptk="photobrain"'

MINIMAL_PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="photobrain">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="">\n'
    '  </rdf:Description>\n'
    ' </rdf:RDF>\n'
    '</x:xmpmeta>\n'
    '<?xpacket end="w"?>'
)


@dataclass(frozen=True)
class Bag:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Seq:
    items: tuple[str, ...]


@dataclass(frozen=True)
class LangAlt:
    items: tuple[tuple[str, str], ...]  # (lang, text), x-default first


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class StructBag:
    """A Bag of structs whose fields live in the property's own namespace."""

    items: tuple[tuple[tuple[str, str], ...], ...]


Value = Bag | Seq | LangAlt | Text | StructBag
Property = tuple[str, str]  # (namespace URI, local name)


class PacketError(ValueError):
    """The packet is not XMP that photobrain can edit safely."""


#: photobrain's record, in a packet it did not create, of the namespaces it declared there: removing its
#: properties again (untag) removes those declarations too, and the packet is as it was.
DECLARED: Property = (NAMESPACE_URI, "Declared")


def update_packet(packet: str | None, updates: dict[Property, Value | None]) -> str:
    """Return ``packet`` with each property in ``updates`` replaced (or removed, for None)."""
    fresh = not (packet and packet.strip())
    text = MINIMAL_PACKET if fresh else str(packet)
    _check_well_formed(text)
    ours = set() if fresh else _recorded_declarations(text)
    text, added = _apply(text, {**updates, DECLARED: None})
    if not fresh:
        text = _settle_declarations(text, ours | added)
    _check_well_formed(text)
    return text


def _apply(text: str, updates: dict[Property, Value | None]) -> tuple[str, set[str]]:
    """``text`` with the properties replaced; also the namespace URIs it had to declare."""
    declared = _declarations(text)
    pending: dict[Property, Value | None] = {}
    for (uri, name), value in updates.items():
        if value is not None:
            found = [(prefix, m) for prefix in sorted(declared.get(uri, ())) for m in _elements(text, prefix, name)]
            if len(found) == 1:  # where it already is, in the packet's own indentation: the rest stays put
                (prefix, match), = found
                text = text[:match.start()] + _serialise(prefix, name, value, match.group(1)) + text[match.end():]
                continue
        for prefix in declared.get(uri, ()):
            text = _remove_property(text, prefix, name)
        pending[(uri, name)] = value
    updates = pending
    text = _ensure_description(text)
    start, end = _first_description(text)
    head = text[start:end]
    lines, added = [], set()
    for (uri, name), value in updates.items():
        if value is None:
            continue
        before = head
        prefix, head = _prefix_for(text[:start], head, text, uri)
        if head != before:
            added.add(uri)
        lines.append(_serialise(prefix, name, value))
    if not lines:
        return text[:start] + head + text[end:], added
    close = _matching_close(text, end)
    body_end = close
    # keep the closing tag's own indentation on its line
    while body_end > end and text[body_end - 1] in " \t":
        body_end -= 1
    indent = text[body_end:close]
    insertion = "".join(line + "\n" for line in lines)
    if not text[:body_end].endswith("\n"):
        insertion = "\n" + insertion
    return text[:start] + head + text[end:body_end] + insertion + indent + text[close:], added


def _recorded_declarations(text: str) -> set[str]:
    prefixes = _declarations(text).get(NAMESPACE_URI, set())
    found: set[str] = set()
    for prefix in prefixes:
        block = re.search(rf"<{re.escape(prefix)}:Declared>(.*?)</{re.escape(prefix)}:Declared>", text, re.S)
        if block:
            found.update(unescape(item) for item in re.findall(r"<rdf:li>(.*?)</rdf:li>", block.group(1), re.S))
    return found


def _uses(text: str, prefix: str) -> bool:
    """Whether an element or attribute of the packet is in ``prefix``'s namespace."""
    return re.search(rf"<{re.escape(prefix)}:|\s{re.escape(prefix)}:[\w.-]+\s*=", text) is not None


def _settle_declarations(text: str, ours: set[str]) -> str:
    """Drop the declarations photobrain made that nothing uses any more, and record the ones still made."""
    for uri in sorted(ours - {NAMESPACE_URI}):
        for prefix in _declarations(text).get(uri, set()):
            if not _uses(text, prefix):
                text = text.replace(_declaration(prefix, uri), "", 1)
        if uri not in _declarations(text):
            ours.discard(uri)
    own = _declarations(text).get(NAMESPACE_URI, set())
    if any(_uses(text, prefix) for prefix in own):
        if ours:
            text, _ = _apply(text, {DECLARED: Bag(tuple(sorted(ours)))})
    elif NAMESPACE_URI in ours:
        for prefix in own:
            text = text.replace(_declaration(prefix, NAMESPACE_URI), "", 1)
    return text


def _check_well_formed(text: str) -> None:
    try:
        root = ElementTree.fromstring(text.encode("utf-8"))
    except ElementTree.ParseError as exc:
        raise PacketError(f"not well-formed XML ({exc})") from exc
    if root.find(f".//{{{RDF}}}RDF") is None and root.tag != f"{{{RDF}}}RDF":
        raise PacketError("no rdf:RDF element")


_XMLNS = re.compile(r"""xmlns:([\w.-]+)\s*=\s*(["'])(.*?)\2""")


def _declarations(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for match in _XMLNS.finditer(text):
        found.setdefault(match.group(3), set()).add(match.group(1))
    return found


def _elements(text: str, prefix: str, name: str) -> list[re.Match]:
    """The property's elements (not attributes), each with the indentation of its line as group 1."""
    qname = re.escape(f"{prefix}:{name}")
    return list(re.finditer(rf"(?<![ \t])([ \t]*)<{qname}(?:\s[^>]*)?>.*?</{qname}\s*>", text, flags=re.S))


def _remove_property(text: str, prefix: str, name: str) -> str:
    qname = re.escape(f"{prefix}:{name}")
    # The lookbehinds let a match start only at the first blank of a run: XMP packets end in kilobytes of
    # padding spaces, over which a bare leading [ \t]* would be tried at every position (quadratic).
    text = re.sub(rf"(?<![ \t])[ \t]*<{qname}(?:\s[^>]*)?/>[ \t]*\r?\n?", "", text)
    text = re.sub(rf"(?<![ \t])[ \t]*<{qname}(?:\s[^>]*)?>.*?</{qname}\s*>[ \t]*\r?\n?", "", text, flags=re.S)
    # attribute form, only possible for simple values
    return re.sub(rf"""(?<!\s)\s+{qname}\s*=\s*(["']).*?\1""", "", text, flags=re.S)


_DESC_OPEN = re.compile(r"<rdf:Description\b[^>]*?(/?)>", re.S)


def _ensure_description(text: str) -> str:
    match = _DESC_OPEN.search(text)
    if match is None:
        rdf_close = text.find("</rdf:RDF>")
        if rdf_close < 0:
            rdf_open = re.search(r"<rdf:RDF\b[^>]*?/>", text, re.S)
            if rdf_open is None:
                raise PacketError("no rdf:RDF element to add a description to")
            opened = rdf_open.group(0)[:-2].rstrip() + ">"
            text = text[:rdf_open.start()] + opened + "\n </rdf:RDF>" + text[rdf_open.end():]
            rdf_close = text.find("</rdf:RDF>")
        return text[:rdf_close] + ' <rdf:Description rdf:about="">\n  </rdf:Description>\n ' + text[rdf_close:]
    if match.group(1):  # self-closing: give it a body
        opened = match.group(0)[:-2].rstrip() + ">"
        return text[:match.start()] + opened + "\n  </rdf:Description>" + text[match.end():]
    return text


def _first_description(text: str) -> tuple[int, int]:
    match = _DESC_OPEN.search(text)
    assert match is not None
    return match.start(), match.end()


def _matching_close(text: str, after: int) -> int:
    depth = 1
    for match in re.finditer(r"<rdf:Description\b[^>]*?/>|<rdf:Description\b|</rdf:Description\s*>", text[after:], re.S):
        token = match.group(0)
        if token.startswith("</"):
            depth -= 1
            if depth == 0:
                return after + match.start()
        elif not token.endswith("/>"):
            depth += 1
    raise PacketError("rdf:Description is not closed")


def _prefix_for(before: str, head: str, text: str, uri: str) -> tuple[str, str]:
    """The prefix to write ``uri`` with, declaring it on the description if needed.

    ``before`` is the text up to the description's start tag ``head``: the
    declarations of its ancestors and of the tag itself are in scope.
    """
    in_scope = {m.group(3): m.group(1) for m in _XMLNS.finditer(before + head)}
    if uri in in_scope:
        return in_scope[uri], head
    # Reuse the prefix the packet already gives this namespace elsewhere (exiftool writes one
    # rdf:Description per namespace): XMP toolkits disagree about one URI under two prefixes.
    bound = {m.group(1): m.group(3) for m in _XMLNS.finditer(text + head)}
    candidates = [m.group(1) for m in _XMLNS.finditer(text) if m.group(3) == uri]
    base = PREFERRED_PREFIX.get(uri, "ns")
    candidates += [base] + [f"{base}{n}" for n in range(2, 100)]
    prefix = next(p for p in candidates if bound.get(p, uri) == uri)
    declaration = _declaration(prefix, uri)
    close = len(head) - 1
    if head.endswith("/>"):
        close -= 1
    return prefix, head[:close].rstrip() + declaration + head[close:]


def _declaration(prefix: str, uri: str) -> str:
    """A namespace declaration as photobrain adds it to a description's start tag (and finds it again to remove)."""
    return f'\n    xmlns:{prefix}="{uri}"'


def _serialise(prefix: str, name: str, value: Value, pad: str = "   ") -> str:
    q = f"{prefix}:{name}"
    if isinstance(value, Text):
        return f"{pad}<{q}>{escape(value.value)}</{q}>"
    if isinstance(value, (Bag, Seq)):
        kind = "Bag" if isinstance(value, Bag) else "Seq"
        if not value.items:
            return f"{pad}<{q}>\n{pad} <rdf:{kind}/>\n{pad}</{q}>"
        items = "".join(f"{pad}  <rdf:li>{escape(item)}</rdf:li>\n" for item in value.items)
        return f"{pad}<{q}>\n{pad} <rdf:{kind}>\n{items}{pad} </rdf:{kind}>\n{pad}</{q}>"
    if isinstance(value, LangAlt):
        items = "".join(
            f'{pad}  <rdf:li xml:lang="{escape(lang, {chr(34): "&quot;"})}">{escape(text)}</rdf:li>\n'
            for lang, text in value.items)
        return f"{pad}<{q}>\n{pad} <rdf:Alt>\n{items}{pad} </rdf:Alt>\n{pad}</{q}>"
    if isinstance(value, StructBag):
        parts = []
        for struct in value.items:
            fields = "".join(f"{pad}   <{prefix}:{field}>{escape(text)}</{prefix}:{field}>\n" for field, text in struct)
            parts.append(f'{pad}  <rdf:li rdf:parseType="Resource">\n{fields}{pad}  </rdf:li>\n')
        return f"{pad}<{q}>\n{pad} <rdf:Bag>\n{''.join(parts)}{pad} </rdf:Bag>\n{pad}</{q}>"
    raise TypeError(f"unknown XMP value {value!r}")
