#!/usr/bin/env python3
"""Class docs from one source.

The class reference in rust/enet-godot/doc_classes/*.xml (Godot's format, what the editor's help
shows) is the source of the three classes' documentation. The `///` comments on their
Godot-visible items in rust/enet-godot/src/ (the class struct, every documented `#[func]`,
`#[var]` field, `#[constant]` and `#[signal]`) are generated from it, with Godot's BBCode turned
into Markdown, so a Rust reader sees the same text as a GDScript user. A class's items are in its
file (peer.rs) and in the `#[godot_api(secondary)]` blocks of the files of its folder (peer/).

    tests/sync_docs.py           rewrite the `///` comments from the XML
    tests/sync_docs.py --check   exit 1 (listing the items) if any comment differs

`./build.sh test` runs the check; `./build.sh docs` checks the XML itself against the API.
"""

import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "rust/enet-godot/src"
DOCS = ROOT / "rust/enet-godot/doc_classes"
FILES = {"RustENetPeer": "peer.rs", "RustENetConnection": "connection.rs",
         "RustENetPacketPeer": "packet_peer.rs"}


def class_files(cls):
    """The class's file, then the files of its folder with a secondary `#[godot_api]` block."""
    main = SRC / FILES[cls]
    folder = main.with_suffix("")
    extra = [p for p in sorted(folder.glob("*.rs"))
             if re.search(r"#\[godot_api\(secondary\)\]\s*\nimpl " + cls + r"\b", p.read_text())]
    return [main] + extra
WIDTH = 100


def inline(text):
    """Godot BBCode inline markup as Markdown."""
    text = re.sub(r"\[code\](.*?)\[/code\]", r"`\1`", text)
    text = re.sub(r"\[(?:method|member|param|constant|signal|enum|annotation|theme_item) ([^\]]+)\]",
                  r"`\1`", text)
    text = re.sub(r"\[b\](.*?)\[/b\]", r"**\1**", text)
    text = re.sub(r"\[i\](.*?)\[/i\]", r"*\1*", text)
    text = re.sub(r"\[url=([^\]]+)\](.*?)\[/url\]", r"[\2](\1)", text)
    text = re.sub(r"\[([A-Z][A-Za-z0-9]+)\]", r"`\1`", text)
    return text


def markdown(description):
    """An XML description (one paragraph or list item per line) as Markdown lines, unwrapped."""
    lines = [line.strip() for line in description.strip("\n").split("\n")]
    out, block = [], None
    for line in lines:
        if block is not None:
            if line == "[/codeblock]":
                out.append(("code", "```"))
                block = None
            else:
                out.append(("code", line))
            continue
        if line == "[codeblock]":
            out.append(("code", "```gdscript"))
            block = []
            continue
        if not line:
            continue
        kind = "item" if line.startswith("- ") else "para"
        out.append((kind, inline(line)))
    return out


def doc_lines(description, indent):
    """`///` lines for `description` at `indent`, wrapped at WIDTH columns."""
    prefix = indent + "///"
    room = WIDTH - len(prefix) - 1
    out, previous = [], None
    for kind, text in markdown(description):
        # Paragraphs are separated by a blank line; list items and code lines are not.
        if previous is not None and not (kind == previous == "item") and not (
                kind == "code" and previous == "code"):
            out.append(prefix)
        if kind == "code":
            out.append(f"{prefix} {text}".rstrip())
        else:
            first, rest = ("", "") if kind == "para" else ("", "  ")
            for line in textwrap.wrap(text, room, subsequent_indent=rest,
                                      break_long_words=False, break_on_hyphens=False):
                out.append(f"{prefix} {first}{line}")
        previous = kind
    return out


def reference(cls):
    """Descriptions by (kind, name) from the class's XML; ('class', name) is the class page."""
    root = ET.parse(DOCS / f"{cls}.xml").getroot()
    texts = {}
    brief = (root.findtext("brief_description") or "").strip()
    texts[("class", cls)] = brief + "\n" + (root.findtext("description") or "")
    accessors = set()
    for method in root.iter("method"):
        texts[("method", method.get("name"))] = method.findtext("description") or ""
    for signal in root.iter("signal"):
        texts[("signal", signal.get("name"))] = signal.findtext("description") or ""
    for member in root.iter("member"):
        texts[("member", member.get("name"))] = member.text or ""
        accessors.update(filter(None, [member.get("setter"), member.get("getter")]))
    for constant in root.iter("constant"):
        texts[("constant", constant.get("name"))] = constant.text or ""
    return texts, accessors


ITEM = {
    "func": re.compile(r"^\s*(?:pub(?:\(crate\))? )?(?:unsafe )?fn (\w+)"),
    "var": re.compile(r"^\s*(?:pub(?:\(crate\))? )?(\w+):"),
    "constant": re.compile(r"^\s*const (\w+):"),
    "signal": re.compile(r"^\s*fn (\w+)"),
}


def sync(cls, path, texts, accessors, check):
    lines = path.read_text().split("\n")
    changed, missing, items = [], [], []
    i = 0
    while i < len(lines):
        attr = re.match(r"^(\s*)#\[(func|var|constant|signal|derive\(GodotClass\))", lines[i])
        if not attr:
            i += 1
            continue
        indent, kind = attr.group(1), attr.group(2)
        group = i
        while group > 0 and lines[group - 1].strip().startswith("#["):
            group -= 1
        j = i
        while j < len(lines) and lines[j].strip().startswith("#["):
            j += 1
        i = j
        if kind.startswith("derive"):
            key = ("class", cls)
        else:
            m = ITEM[kind].match(lines[j]) if j < len(lines) else None
            if not m:
                continue
            name = m.group(1)
            key = {"func": ("method", name), "var": ("member", name),
                   "constant": ("constant", name), "signal": ("signal", name)}[kind]
            if key not in texts:
                # Property accessors are documented on their member, `_` methods are hidden.
                if not (kind == "func" and (name in accessors or name.startswith("_"))):
                    missing.append(f"{path.relative_to(SRC)}: {key[0]} {name} has no entry in {cls}.xml")
                continue
        doc = group
        while doc > 0 and lines[doc - 1].strip().startswith("///"):
            doc -= 1
        items.append((doc, group, key, indent))
    for doc, group, key, indent in reversed(items):
        new = doc_lines(texts[key], indent)
        if lines[doc:group] != new:
            changed.append(f"{path.relative_to(SRC)}: {key[0]} {key[1]}")
            lines[doc:group] = new
    if changed and not check:
        path.write_text("\n".join(lines))
    return changed, missing


def main():
    check = "--check" in sys.argv[1:]
    changed, missing = [], []
    for cls in FILES:
        texts, accessors = reference(cls)
        for path in class_files(cls):
            c, m = sync(cls, path, texts, accessors, check)
            changed += c
            missing += m
    for line in missing:
        print(f"sync_docs: {line}", file=sys.stderr)
    if check and changed:
        print("sync_docs: these doc comments differ from the class reference "
              "(run tests/sync_docs.py):", file=sys.stderr)
        for line in changed:
            print(f"  {line}", file=sys.stderr)
    if missing or (check and changed):
        return 1
    if not check:
        print(f"sync_docs: {len(changed)} doc comments rewritten from the class reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
