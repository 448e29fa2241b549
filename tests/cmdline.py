"""How programs split the command lines the entries we install hand them (tests' helpers)."""
from __future__ import annotations

import re


def windows_split(line: str) -> list[str]:
    """A command line split by the Microsoft C runtime's rules (what CommandLineToArgvW does)."""
    words, word, quoted, i, started = [], "", False, 0, False
    while i < len(line):
        c = line[i]
        if c == "\\":
            slashes = len(re.match(r"\\+", line[i:]).group())
            if i + slashes < len(line) and line[i + slashes] == '"':
                word += "\\" * (slashes // 2)
                if slashes % 2:
                    word += '"'
                    i += slashes + 1
                else:
                    i += slashes
                started = True
                continue
            word += "\\" * slashes
            i += slashes
            started = True
            continue
        if c == '"':
            quoted = not quoted
            started = True
        elif c in " \t" and not quoted:
            if started:
                words.append(word)
            word, started = "", False
        else:
            word += c
            started = True
        i += 1
    if started:
        words.append(word)
    return words
