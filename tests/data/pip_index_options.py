"""Run with the real pip importable: print, as JSON, the index options pip's own requirements-file
parser reads from the file given (line, URLs), and the long option spellings it takes for them.

Used by tests/test_requirements_syntax.py in a separate process, with the pip of the dev
dependencies (or, without it, the pip wheel that ships inside Python): no network, no install.
"""

import json
import sys

from pip._internal.network.session import PipSession
from pip._internal.req.req_file import RequirementsFileParser, build_parser, get_line_parser

options = build_parser()
longs = [o for opt in options.option_list for o in opt._long_opts]
spellings = []
for opt in options.option_list:
    if opt.dest in ("index_url", "extra_index_urls"):
        for full in opt._long_opts:
            for n in range(3, len(full) + 1):
                prefix = full[:n]
                if prefix == full or [w for w in longs if w.startswith(prefix)] == [full]:
                    spellings.append(prefix[2:])
found = []
for line in RequirementsFileParser(PipSession(), get_line_parser(None)).parse(sys.argv[1], False):
    opts = line.opts
    urls = [opts.index_url] if getattr(opts, "index_url", None) else []
    urls += list(getattr(opts, "extra_index_urls", None) or [])
    if urls:
        found.append([line.lineno, urls])
print(json.dumps({"spellings": sorted(spellings), "found": found}))
