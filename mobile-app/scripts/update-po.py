#!/usr/bin/env python3
"""Keeps translations/ja/LC_MESSAGES/mobile-app.po in step with the UI: extracts every @tr(...)
string from ui/**/*.slint (English is the source language), keeps existing translations, adds new
strings with an empty msgstr and drops strings the UI no longer uses. Prints what needs
translating. The `ui_strings_are_all_translated` test fails while any msgstr is empty.

Usage: python3 mobile-app/scripts/update-po.py
(slint-tr-extractor does the same job; this avoids building it.)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PO = ROOT / "translations" / "ja" / "LC_MESSAGES" / "mobile-app.po"

STRING = r'"((?:[^"\\]|\\.)*)"'
TR = re.compile(r'@tr\(\s*' + STRING + r'(?:\s*\|\s*' + STRING + r'\s*%[^,)]*)?')


def extract():
    found = []
    for path in sorted(ROOT.glob("ui/**/*.slint")):
        for m in TR.finditer(path.read_text(encoding="utf-8")):
            key = (m.group(1), m.group(2))
            if key not in found:
                found.append(key)
    return found


def parse_po(text):
    entries = {}
    blocks = text.split("\n\n")
    for block in blocks:
        fields = {}
        current = None
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r'(msgid|msgid_plural|msgstr(?:\[\d\])?) ' + STRING + '$', line)
            if m:
                current = m.group(1)
                fields[current] = m.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if "msgid" in fields and fields["msgid"]:
            entries[(fields["msgid"], fields.get("msgid_plural"))] = fields
    return entries


def main():
    old = parse_po(PO.read_text(encoding="utf-8")) if PO.exists() else {}
    out = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"',
           '"Language: ja\\n"', '"Plural-Forms: nplurals=1; plural=0;\\n"', ""]
    missing = []
    for msgid, plural in extract():
        prev = old.get((msgid, plural), {})
        out.append(f'msgid "{msgid}"')
        if plural is not None:
            out.append(f'msgid_plural "{plural}"')
            text = prev.get("msgstr[0]", "")
            out.append(f'msgstr[0] "{text}"')
        else:
            text = prev.get("msgstr", "")
            out.append(f'msgstr "{text}"')
        out.append("")
        if not text:
            missing.append(msgid)
    PO.parent.mkdir(parents=True, exist_ok=True)
    PO.write_text("\n".join(out), encoding="utf-8")
    for m in missing:
        print("untranslated:", m)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
