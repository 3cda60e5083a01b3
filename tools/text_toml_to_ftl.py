#!/usr/bin/env python3
"""Move page texts from a TOML catalogue (the old templates/web/text.toml) into the Fluent files
texts/<lang>/pages.ftl: every key of a [lang] section that no texts/<lang>/*.ftl has yet is
appended, `{name}` placeholders becoming Fluent variables `{ $name }`. Keys already in the Fluent
files are left as they are (run it again after merging a branch that added keys to text.toml).

    python3 tools/text_toml_to_ftl.py templates/web/text.toml texts
"""

import pathlib
import re
import sys
import tomllib

KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]*$")
DEFINED = re.compile(r"^([a-zA-Z][a-zA-Z0-9_-]*)\s*=", re.M)
PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


def ftl_value(text: str) -> str:
    """A TOML string as a Fluent pattern: braces escaped, placeholders as variables, lines
    indented, leading/trailing blanks and special first characters kept as string literals."""
    out = []
    for i, line in enumerate(text.split("\n")):
        parts = []
        pos = 0
        for m in PLACEHOLDER.finditer(line):
            parts.append(escape(line[pos : m.start()]))
            parts.append("{ $" + m.group(1) + " }")
            pos = m.end()
        parts.append(escape(line[pos:]))
        line = "".join(parts)
        if line != line.lstrip() or (i > 0 and line[:1] in ("[", "*", ".")):
            stripped = line.lstrip()
            line = '{"' + line[: len(line) - len(stripped)] + '"}' + stripped
        if line != line.rstrip():
            stripped = line.rstrip()
            line = stripped + '{"' + line[len(stripped) :] + '"}'
        out.append(line)
    if out == [""]:
        return '{""}'
    return "\n    ".join(out)


def escape(s: str) -> str:
    return s.replace("{", '{"{"}').replace("}", '{"}"}')


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    catalogue = tomllib.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
    texts = pathlib.Path(sys.argv[2])
    for lang, words in catalogue.items():
        folder = texts / lang
        folder.mkdir(parents=True, exist_ok=True)
        have = set()
        for f in folder.glob("*.ftl"):
            have.update(DEFINED.findall(f.read_text(encoding="utf-8")))
        new = []
        for key, value in words.items():
            if not KEY.match(key):
                print(f"[{lang}] {key}: not a Fluent identifier", file=sys.stderr)
                return 1
            if key not in have:
                new.append(f"{key} = {ftl_value(value)}")
        if new:
            pages = folder / "pages.ftl"
            old = pages.read_text(encoding="utf-8") if pages.exists() else ""
            sep = "\n" if old and not old.endswith("\n") else ""
            head = "" if old else "# The words of the pages, in Fluent syntax (https://projectfluent.org).\n\n"
            pages.write_text(old + sep + head + "\n".join(new) + "\n", encoding="utf-8")
            print(f"[{lang}] {len(new)} keys added to {pages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
