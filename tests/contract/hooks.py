"""Loaded by Schemathesis before it runs (SCHEMATHESIS_HOOKS, see run.sh).

CPython before 3.11.9 keeps the AST converter's recursion depth in state shared by
all threads, so two workers describing Hypothesis strategies at once can fail with
"SystemError: AST constructor recursion depth mismatch" (CPython gh-106905). That is
an error of the test tool, not of Cairn: parse one source at a time.
"""

import ast
import sys
import threading

if sys.version_info < (3, 11, 9) or (3, 12) <= sys.version_info < (3, 12, 4):
    _parse = ast.parse
    _lock = threading.Lock()

    def _serial_parse(*args, **kwargs):
        with _lock:
            return _parse(*args, **kwargs)

    ast.parse = _serial_parse
