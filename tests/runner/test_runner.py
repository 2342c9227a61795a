"""The runner: sharding, resume after a torn write, parallel workers, Ray, merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aotd.data.records import JsonlError, read_jsonl
from aotd.errors import AotdError
from aotd.runner import RunOptions, Shard, existing_records, merge_files, run_stage


class ToyStage:
    """Squares a number; 13 raises (a bug in a stage must not stop the run)."""

    name = "toy"

    def __init__(self, fingerprint: str = "cfg1") -> None:
        self.fingerprint = fingerprint
        self.ready = False

    def key(self, item: int) -> str:
        return f"s{item:04d}"

    def setup(self) -> None:
        self.ready = True

    def process(self, item: int) -> tuple[str, dict[str, float]]:
        assert self.ready
        if item == 13:
            raise ValueError("unlucky")
        return self._line(item, item * item), {"toy_s": 0.001}

    def failed(self, item: int, reason: str) -> str:
        return self._line(item, None, reason)

    def _line(self, item: int, value: int | None, error: str | None = None) -> str:
        return json.dumps({"sample_id": self.key(item), "value": value, "error": error,
                           "failure": None if error is None else "crash", "provenance": {"config": self.fingerprint}})


class MendedStage(ToyStage):
    """The same stage once its outage is over: 13 works now."""

    def process(self, item: int) -> tuple[str, dict[str, float]]:
        return self._line(item, item * item), {"toy_s": 0.001}


def _sorted_lines(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines())


def test_shard_parse_and_partition() -> None:
    assert Shard.parse("1/4") == Shard(1, 4)
    for bad in ("4/4", "-1/2", "a/b", "1", "0/0"):
        with pytest.raises(AotdError, match="--shard"):
            Shard.parse(bad)
    keys = [f"q{i}" for i in range(500)]
    parts = [{k for k in keys if Shard(i, 3).owns(k)} for i in range(3)]
    assert set().union(*parts) == set(keys) and sum(map(len, parts)) == len(keys)
    assert all(len(p) > 100 for p in parts)


def test_run_writes_each_item_once_and_records_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    report = run_stage(ToyStage(), range(20), out, progress=False)
    assert report.written == 20 and report.crashed == 1
    records = {r["sample_id"]: r for r in read_jsonl(out)}
    assert records["s0003"]["value"] == 9 and "ValueError: unlucky" in records["s0013"]["error"]
    timings = (tmp_path / "out.timings.jsonl").read_text().splitlines()
    assert len(timings) == 20 and report.timings["toy_s"] > 0
    again = run_stage(ToyStage(), range(25), out, progress=False)
    assert (again.already_done, again.written) == (20, 5) and len(out.read_text().splitlines()) == 25


def test_retry_redoes_failed_records_without_a_second_record(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_stage(ToyStage(), range(20), out, progress=False)
    plain = run_stage(MendedStage(), range(20), out, progress=False)
    assert plain.written == 0  # a plain rerun keeps the failure: it is a record
    limited = run_stage(MendedStage(), range(10), out, progress=False, retry=("crash",))
    assert limited.retried == 0 and "s0013" in {r["sample_id"] for r in read_jsonl(out) if r["failure"]}
    report = run_stage(MendedStage(), range(20), out, progress=False, retry=("crash",))
    assert (report.retried, report.written, report.already_done) == (1, 1, 19)
    records = list(read_jsonl(out))
    assert len(records) == 20 and len({r["sample_id"] for r in records}) == 20
    assert {r["sample_id"]: r["value"] for r in records}["s0013"] == 169
    timings = [json.loads(line)["sample_id"] for line in (tmp_path / "out.timings.jsonl").read_text().splitlines()]
    assert sorted(timings) == sorted(r["sample_id"] for r in records)


def test_run_options_carry_every_runner_setting(tmp_path: Path) -> None:
    """One options object for every step: a shard and a retry given through it act as the keywords do."""
    out = tmp_path / "out.jsonl"
    run_stage(ToyStage(), range(20), out, **RunOptions(progress=False).stage_kwargs())
    options = RunOptions(retry=("crash",), progress=False)
    assert run_stage(MendedStage(), range(20), out, **options.stage_kwargs()).retried == 1
    part = RunOptions(shard=Shard(0, 2), progress=False)
    report = run_stage(ToyStage(), range(20), tmp_path / "half.jsonl", **part.stage_kwargs())
    assert report.items == sum(Shard(0, 2).owns(f"s{i:04d}") for i in range(20)) < 20


def test_torn_last_line_is_cut_and_redone(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_stage(ToyStage(), range(10), out, progress=False)
    full = _sorted_lines(out)
    data = out.read_bytes()
    out.write_bytes(data[: len(data) - 7])  # a kill in the middle of the last record
    found = existing_records(out)
    assert found.truncated and len(found.ids) == 9 and out.read_bytes().endswith(b"\n")
    report = run_stage(ToyStage(), range(10), out, progress=False)
    assert report.written == 1 and _sorted_lines(out) == full


def test_damage_before_the_last_line_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_stage(ToyStage(), range(5), out, progress=False)
    lines = out.read_text().splitlines()
    lines[2] = lines[2][:10]
    out.write_text("\n".join(lines) + "\n")
    with pytest.raises(JsonlError, match=r"out.jsonl:3: not a record"):
        run_stage(ToyStage(), range(5), out, progress=False)


def test_output_of_another_config_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_stage(ToyStage("cfg1"), range(3), out, progress=False)
    with pytest.raises(JsonlError, match="made with config cfg1, this run is config cfg2"):
        run_stage(ToyStage("cfg2"), range(3), out, progress=False)


def test_duplicate_input_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AotdError, match="occurs twice"):
        run_stage(ToyStage(), [1, 2, 1], tmp_path / "out.jsonl", progress=False)


def test_two_workers_write_what_one_writes(tmp_path: Path) -> None:
    run_stage(ToyStage(), range(30), tmp_path / "one.jsonl", progress=False)
    report = run_stage(ToyStage(), range(30), tmp_path / "two.jsonl", workers=2, progress=False)
    assert report.written == 30 and report.crashed == 1
    assert _sorted_lines(tmp_path / "one.jsonl") == _sorted_lines(tmp_path / "two.jsonl")


class GroupedStage(ToyStage):
    """Items in groups of ten (say, a video's questions); each record says which process made it."""

    def group(self, item: int) -> str:
        return f"g{item // 10}"

    def process(self, item: int) -> tuple[str, dict[str, float]]:
        import os

        line = json.loads(self._line(item, item * item))
        return json.dumps({**line, "pid": os.getpid()}), {}


def test_a_group_goes_to_one_worker_in_a_row(tmp_path: Path) -> None:
    from aotd.runner.core import GROUP_LIMIT, _batches

    items = [i for k in range(3) for i in range(k, 60, 3)]  # the groups interleave in the input
    batches = _batches(GroupedStage(), items)  # what a worker takes at a time: one group
    assert len(batches) == 6 and all(len({i // 10 for i in b}) == 1 for b in batches)
    one_group = type("OneGroup", (GroupedStage,), {"group": lambda self, item: "all"})()
    assert [len(b) for b in _batches(one_group, list(range(40)))] == [GROUP_LIMIT, GROUP_LIMIT, 40 - 2 * GROUP_LIMIT]
    run_stage(GroupedStage(), items, tmp_path / "out.jsonl", workers=2, progress=False)
    rows = list(read_jsonl(tmp_path / "out.jsonl"))
    assert sorted(int(r["sample_id"][1:]) for r in rows) == list(range(60))
    by_group: dict[int, set[int]] = {}
    for r in rows:
        by_group.setdefault(int(r["sample_id"][1:]) // 10, set()).add(r["pid"])
    assert all(len(pids) == 1 for pids in by_group.values()) and GROUP_LIMIT >= 10
    here = tmp_path / "here.jsonl"
    run_stage(GroupedStage(), items, here, progress=False)
    groups = [int(r["sample_id"][1:]) // 10 for r in read_jsonl(here)]
    assert groups == sorted(groups, key=lambda g: groups.index(g))  # one process: a group's items in a row


def test_shards_merge_into_the_unsharded_output(tmp_path: Path) -> None:
    run_stage(ToyStage(), range(40), tmp_path / "all.jsonl", progress=False)
    shards = []
    for i in range(3):
        shards.append(tmp_path / f"part{i}.jsonl")
        run_stage(ToyStage(), range(40), shards[-1], shard=Shard(i, 3), progress=False)
    stats = merge_files([*shards, shards[0]], tmp_path / "merged.jsonl")  # one shard twice: collapses
    assert stats == {"records": 40, "duplicates": len(shards[0].read_text().splitlines()), "inputs": 4, "skipped_lines": 0}
    merged = (tmp_path / "merged.jsonl").read_text().splitlines()
    assert merged == _sorted_lines(tmp_path / "all.jsonl")


def test_merge_refuses_conflicts_and_mixed_configs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    run_stage(ToyStage(), range(3), a, progress=False)
    b.write_text(json.dumps({"sample_id": "s0001", "value": 99, "provenance": {"config": "cfg1"}}) + "\n")
    with pytest.raises(JsonlError, match="s0001 has a different record"):
        merge_files([a, b], tmp_path / "m.jsonl")
    run_stage(ToyStage("other"), range(5, 6), c, progress=False)
    with pytest.raises(JsonlError, match="merge only the shards of one run"):
        merge_files([a, c], tmp_path / "m.jsonl")
    with pytest.raises(JsonlError, match="must not be one of the inputs"):
        merge_files([a], a)
    assert not (tmp_path / "m.jsonl").exists()


def test_merge_skips_names_and_counts_a_bad_line(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    run_stage(ToyStage(), range(4), a, progress=False)
    lines = a.read_text().splitlines()
    a.write_text("\n".join([lines[0], "{torn", *lines[1:]]) + "\n")
    bad: list = []
    stats = merge_files([a], tmp_path / "m.jsonl", bad)
    assert stats["records"] == 4 and stats["skipped_lines"] == 1 and str(bad[0]).startswith(f"{a}:2: not a record")


@pytest.mark.slow
def test_ray_executor_writes_what_local_writes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    run_stage(ToyStage(), range(24), tmp_path / "local.jsonl", progress=False)
    # Ray's workers must import this test module to rebuild ToyStage
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}})
    try:
        report = run_stage(ToyStage(), range(24), tmp_path / "ray.jsonl", workers=2, executor="ray", progress=False)
    finally:
        ray.shutdown()
    assert report.written == 24 and report.crashed == 1
    assert _sorted_lines(tmp_path / "local.jsonl") == _sorted_lines(tmp_path / "ray.jsonl")


@pytest.mark.slow
def test_ray_stage_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:  # the workers cannot import this module: setup fails everywhere
        with pytest.raises(AotdError, match="Ray workers could not set up the toy stage"):
            run_stage(ToyStage(), range(4), tmp_path / "ray.jsonl", workers=1, executor="ray", progress=False)
    finally:
        ray.shutdown()
    assert (tmp_path / "ray.jsonl").read_text() == ""
