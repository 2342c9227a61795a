"""The runner every dataset-scale stage (select, agent, cot, eval) goes through: resumable, sharded, parallel.

A stage turns items into JSONL records keyed by sample id. The runner skips ids already in the
output, appends each record as one line as soon as it exists, and spreads the work over local
processes or Ray actors; ``merge`` joins the outputs of shards run on different machines.
"""

from .core import RunOptions, RunReport, Shard, run_stage, timings_path
from .jsonl import existing_records, merge_files
from .stage import Stage

__all__ = ["RunOptions", "RunReport", "Shard", "Stage", "existing_records", "merge_files", "run_stage", "timings_path"]
