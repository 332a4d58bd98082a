"""Extract every JSON example of the COIN-M spec into tests/data/spec_examples/.

The spec (``../shared/spec`` beside the repository) shows its examples as fenced blocks whose
line breaks were lost: ``// comments`` run until the next tab or double space, and a few
examples have a trailing comma or a missing one. This script repairs exactly that (nothing
else), parses each block as JSON, and writes one file per example, named after its section
(``<section>[-<n>].json``), plus ``index.json``: for each file its source line, section and
role (request, response, payload...). The subscription requests written as bullet text (not
fenced) are extracted too. ``notes.md`` has no fenced examples; its signing test vectors are
extracted into ``notes-signing-vectors.json``.

Usage: ``python tests/data/extract_spec_examples.py [SPEC_DIR] [OUT_DIR]``. The output is
committed; ``tests/test_spec_examples.py`` checks it is what this script writes today.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SPEC = HERE.parents[2] / "shared" / "spec"
DEFAULT_OUT = HERE / "spec_examples"
API_DOC = "binance-coinm-websocket-api.md"
NOTES = "notes.md"

_HEADING_LINK = re.compile(r"\[\]\([^)]*\)")
_COMMENT_END = re.compile(r"\t|  |\n|\xa0|[{}\[\]]")


def _clean_heading(text: str) -> str:
    text = _HEADING_LINK.sub("", text).strip().strip("#").strip()
    return text.replace("\\_", "_")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def tokens(text: str) -> list[tuple[str, str]]:
    """JSON tokens of a block, ``//`` comments dropped: a comment ends at a tab, two spaces,
    a line break or a bracket (no comment of the spec contains one; the last comment of a
    block runs into its closing brace)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n\xa0":
            i += 1
        elif c == "/" and text.startswith("//", i):
            m = _COMMENT_END.search(text, i)
            i = m.start() if m else n
        elif c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(("value", text[i : j + 1]))
            i = j + 1
        elif c in "{}[]:,":
            out.append((c, c))
            i += 1
        else:
            m = re.compile(r"-?[0-9][0-9.eE+-]*|true|false|null").match(text, i)
            if m is None:
                raise ValueError(f"not JSON at {text[i:i + 30]!r}")
            out.append(("value", m.group()))
            i = m.end()
    return out


def repair(text: str) -> str:
    """The block as strict JSON: comments dropped, trailing commas removed, missing commas
    between two values (``"NEXT_QUARTER"  "k":``) put back."""
    toks = tokens(text)
    kept: list[str] = []
    for k, (kind, tok) in enumerate(toks):
        nxt = toks[k + 1][0] if k + 1 < len(toks) else None
        if kind == "," and nxt in ("}", "]"):
            continue
        kept.append(tok)
        ends_value = kind in ("value", "}", "]")
        starts_value = nxt in ("value", "{", "[")
        if ends_value and starts_value:
            kept.append(",")
    return "".join(kept)


def _role(context: list[str]) -> str:
    """What the nearest label above the block calls it."""
    for line in reversed(context):
        low = line.lower()
        if "example of request" in low or "**request**" in low:
            return "request"
        if "failed response" in low:
            return "error-response"
        if "successful response" in low or "**response**" in low:
            return "response"
        if "response example" in low:
            return "payload"
        if "exchangeinfo format" in low:
            return "exchangeInfo-filter"
        if "error json payload" in low:
            return "error"
        label = line.strip("> ").replace("\\_", "_")
        if label in ("REQUEST_WEIGHT", "ORDERS"):
            return "rate-limit"
    return "example"


def api_doc_examples(text: str) -> list[dict[str, Any]]:
    lines = text.split("\n")
    found: list[dict[str, Any]] = []
    chapter = section = "preamble"
    section_start = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and nxt.startswith("=========="):
            chapter = section = _clean_heading(line)
            section_start = i
        elif line.strip() and (nxt.startswith("----------") or line.startswith("### ")):
            section, section_start = _clean_heading(line), i
        if line.startswith("```"):
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            body = "\n".join(lines[i + 1 : j])
            if body.startswith("#!/usr/bin/env python"):
                i = j + 1  # the Python signing sample: not an example of the wire
                continue
            # A stream's example sits under "Response Example": name it after the stream.
            where = chapter if section == "Response Example" else section
            found.append({"line": i + 2, "section": where, "role": _role(lines[section_start:i]),
                          "json": json.loads(repair(body))})
            i = j + 1
            continue
        if line.strip() == "* **Request**":
            # Bullet-text requests of the subscription section: the JSON follows, indented.
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith("  ")):
                j += 1
            body = "\n".join(lines[i + 1 : j]).replace("\\_", "_")
            found.append({"line": i + 3, "section": section, "role": "request", "json": json.loads(repair(body))})
            i = j
            continue
        i += 1
    return found


def signing_vectors(notes: str) -> dict[str, Any]:
    """The HMAC test vectors of notes.md's Signing section."""
    secret = re.search(r"\(secret\s+`([^`]+)`", notes)
    api_key = re.search(r"apiKey\s+`([^`]+)`\)", notes)
    rest = re.search(r"REST `([^`]+)`\s+→ `([0-9a-f]{64})`", notes)
    ws = re.search(r"WebSocket API params `\{([^}]*)\}`\s+→ `([0-9a-f]{64})`", notes)
    if not (secret and api_key and rest and ws):
        raise ValueError("notes.md: signing vectors not found")
    params: dict[str, Any] = {}
    for item in re.split(r",\s*", " ".join(ws.group(1).split())):
        key, _, raw = item.partition(":")
        raw = raw.strip()
        if raw == "<above>":
            value: Any = api_key.group(1)
        elif raw.startswith('"'):
            value = raw.strip('"')
        elif raw.isdigit():
            value = int(raw)
        else:
            value = raw
        params[key.strip()] = value
    return {
        "source": f"{NOTES}, Signing",
        "secret": secret.group(1),
        "apiKey": api_key.group(1),
        "rest": {"payload": rest.group(1), "signature": rest.group(2)},
        "wsapi": {"params": params, "signature": ws.group(2)},
    }


def extract(spec_dir: Path) -> dict[str, Any]:
    """``{file name: JSON value}`` for every example, plus ``index.json``."""
    files: dict[str, Any] = {}
    index = []
    counts: dict[str, int] = {}
    for ex in api_doc_examples((spec_dir / API_DOC).read_text(encoding="utf-8")):
        base = f"{slug(ex['section'])}-{ex['role']}"
        counts[base] = counts.get(base, 0) + 1
        name = base if counts[base] == 1 else f"{base}-{counts[base]}"
        files[f"{name}.json"] = ex["json"]
        index.append({"file": f"{name}.json", "source": f"{API_DOC}:{ex['line']}", "section": ex["section"],
                      "role": ex["role"]})
    files["notes-signing-vectors.json"] = signing_vectors((spec_dir / NOTES).read_text(encoding="utf-8"))
    index.append({"file": "notes-signing-vectors.json", "source": f"{NOTES}, Signing", "section": "Signing",
                  "role": "signing-vectors"})
    files["index.json"] = index
    return files


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    spec_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    out = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    if not (spec_dir / API_DOC).is_file():
        print(f"no {API_DOC} in {spec_dir}", file=sys.stderr)
        return 2
    files = extract(spec_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, value in files.items():
        (out / name).write_text(dump(value), encoding="utf-8")
    print(f"wrote {len(files)} files to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
