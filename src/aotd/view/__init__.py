"""The trace viewer: static HTML pages, one per sample, and an index; no server, no script.

``write_site(records, out)`` reads step-2 trace records or step-3 CoT records and writes
``out/index.html`` plus ``out/samples/<name>.html`` with the sampled frames as thumbnails, the
boxes of each detection, the temporal results on a 32-frame timeline, the program with each
line's results, the rationale and the verdicts. Everything is escaped: records are untrusted.
"""

from __future__ import annotations

from aotd.view.site import page_names, write_site

__all__ = ["page_names", "write_site"]
