"""Loaders for the evaluation benchmarks (MVBench, Video-MME, Perception Test, VSI-Bench,
ActivityNet-QA, Video-ChatGPT), on hand-written fixtures in each published schema.

Bad input must raise a ``DataError`` whose message names the file, the record and the field.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from loader_helpers import FIXTURES, by_id, copy_fixture, edit_json, fail, touch

from aotd.cli import main
from aotd.data.loaders import FORMATS, load_dataset
from aotd.data.stats import summarize

BENCHMARKS = {
    "mvbench": "mvbench",
    "videomme": "videomme",
    "perception-test": "perception_test",
    "vsibench": "vsibench",
    "activitynet-qa": "activitynet_qa",
    "videochatgpt": "videochatgpt",
}




def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_benchmarks_are_registered() -> None:
    assert set(BENCHMARKS) <= set(FORMATS)


@pytest.mark.parametrize("fmt", ["mvbench", "videomme", "vsibench", "videochatgpt"])
def test_single_split_benchmarks_refuse_other_splits(fmt: str) -> None:
    assert load_dataset(fmt, FIXTURES / BENCHMARKS[fmt], split="test").splits() == ["test"]
    err = fail(lambda: load_dataset(fmt, FIXTURES / BENCHMARKS[fmt], split="val"))
    assert "only a test split, not 'val'" in str(err)


# --- MVBench -------------------------------------------------------------------------------
def test_mvbench_folder_of_task_files() -> None:
    ds = load_dataset("mvbench", FIXTURES / "mvbench")
    assert (len(ds), ds.splits()) == (5, ["test"])
    assert summarize(ds)["by_type"] == {"action_sequence": 2, "episodic_reasoning": 1, "object_shuffle": 2}
    q = by_id(ds)["action_sequence_0"]
    assert (q.question, q.question_type, q.start, q.end) == (
        "What happened after the person took the food?",
        "action_sequence",
        25.3,
        34.8,
    )
    assert q.choice_texts[0] == q.answer == "Ate the medicine." and q.answer_index == 0 and q.is_multiple_choice
    assert (q.video.video_id, q.video.path) == ("ZS9XR", None)
    shuffle = by_id(ds)["object_shuffle_1"]
    assert (shuffle.start, shuffle.end, shuffle.answer_index) == (None, None, 0)


def test_mvbench_videos_under_task_prefixes(tmp_path: Path) -> None:
    root = copy_fixture("mvbench", tmp_path / "MVBench")
    video = touch(root / "video" / "star" / "Charades_v1_480" / "ZS9XR.mp4")
    (root / "json" / "my_task.json").write_text(
        json.dumps([{"video": "clip.mp4", "question": "Q?", "candidates": ["a", "b"], "answer": "b"}])
    )
    samples = by_id(load_dataset("mvbench", root))
    assert samples["action_sequence_0"].video.path == video
    assert samples["object_shuffle_0"].video.path == root / "video" / "perception" / "videos" / "video_8946.mp4"
    frames = samples["episodic_reasoning_0"]
    assert frames.video.path == root / "video" / "tvqa" / "frames_fps3_hq" / "castle_s01e01_seg02_clip_00"
    assert frames.video.video_id == "castle_s01e01_seg02_clip_00"
    assert samples["my_task_0"].video.path == root / "video" / "clip.mp4"
    other = touch(tmp_path / "elsewhere" / "star" / "Charades_v1_480" / "6H78U.mp4")
    single = load_dataset("mvbench", root / "json" / "action_sequence.json", video_root=tmp_path / "elsewhere")
    assert [s.video.path for s in single.samples][1] == other and len(single) == 2


def test_mvbench_numeric_candidates_are_text(tmp_path: Path) -> None:
    path = tmp_path / "action_count.json"
    path.write_text(json.dumps([{"video": "v.mp4", "question": "How many?", "candidates": [3, 2, 4], "answer": 2}]))
    q = load_dataset("mvbench", path).samples[0]
    assert (q.choice_texts, q.answer, q.answer_index) == (["3", "2", "4"], "2", 1)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda r: r.__setitem__("answer", "Ran away."), "answer", "matches none of the candidates"),
        (lambda r: r.pop("candidates"), "candidates", "is missing"),
        (lambda r: r["candidates"].__setitem__(1, ""), "candidates[1]", "non-empty string"),
        (lambda r: r.__setitem__("start", "25.3"), "start", "should be a number"),
        (lambda r: r.__setitem__("end", 1.0), None, "before start"),
    ],
)
def test_mvbench_bad_record(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str | None, words: str
) -> None:
    root = copy_fixture("mvbench", tmp_path / "mvbench")
    path = root / "json" / "action_sequence.json"
    edit_json(path, lambda d: change(d[1]))
    err = fail(lambda: load_dataset("mvbench", root))
    assert (err.path, err.record, err.field) == (path, "[1]", field) and words in str(err)
    assert str(path) in str(err)


def test_mvbench_not_a_list_and_no_task_files(tmp_path: Path) -> None:
    (tmp_path / "json").mkdir()
    assert "no annotation file" in str(fail(lambda: load_dataset("mvbench", tmp_path)))
    (tmp_path / "json" / "action_count.json").write_text('{"video": "v.mp4"}')
    assert "JSON list of questions" in str(fail(lambda: load_dataset("mvbench", tmp_path)))


# --- Video-MME -----------------------------------------------------------------------------
def test_videomme_rows_strip_letters_and_map_the_answer() -> None:
    ds = load_dataset("videomme", FIXTURES / "videomme")
    assert (len(ds), ds.splits()) == (4, ["test"])
    q = by_id(ds)["001-1"]
    assert q.choice_texts == ["Apples.", "Candles.", "Berries.", "The three kinds are of the same number."]
    assert (q.answer, q.answer_index, q.question_type) == ("Berries.", 2, "Counting Problem")
    assert q.question.startswith("When demonstrating the Germany modern Christmas tree")
    assert q.extra == {
        "duration": "short",
        "domain": "Knowledge",
        "sub_category": "Humanity & History",
        "url": "https://www.youtube.com/watch?v=fFjv93ACGo8",
        "youtube_id": "fFjv93ACGo8",
    }
    assert q.video.video_id == "001"
    bare = by_id(ds)["301-3"]  # options without letters, no url or sub_category
    assert (bare.answer, bare.answer_index) == ("Because the floodlights fail.", 1)
    assert bare.choice_texts[0] == "Because a player is injured." and "sub_category" not in bare.extra
    assert sorted(s.extra["duration"] for s in ds.samples) == ["long", "medium", "short", "short"]


def test_videomme_videos_in_data_folder(tmp_path: Path) -> None:
    root = copy_fixture("videomme", tmp_path / "Video-MME")
    mkv = touch(root / "data" / "K7JiMZrgx2o.mkv")
    samples = by_id(load_dataset("videomme", root))
    assert samples["001-1"].video.path == root / "data" / "fFjv93ACGo8.mp4"
    assert samples["301-3"].video.path == mkv


def test_videomme_evaluation_template_spelling() -> None:
    ds = load_dataset("videomme", FIXTURES / "videomme" / "template" / "output_test_template.json")
    q = by_id(ds)["002-1"]
    assert (q.choice_texts[2], q.answer, q.question_type) == ("Jade.", "Jade.", "Object Recognition")
    categories = {"duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History"}
    assert q.extra == {**categories, "response": "A"}
    assert q.video.video_id == "002" and by_id(ds)["002-3"].answer == "9."


def test_videomme_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = read_jsonl(FIXTURES / "videomme" / "videomme.jsonl")
    folder = tmp_path / "videomme"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), folder / "test-00000-of-00001.parquet")
    from_parquet = load_dataset("videomme", tmp_path)
    from_json = load_dataset("videomme", FIXTURES / "videomme" / "videomme.jsonl")
    assert [s.model_dump(exclude={"extra"}) for s in from_parquet.samples] == [
        s.model_dump(exclude={"extra"}) for s in from_json.samples
    ]
    (folder / "test-00000-of-00001.parquet").write_bytes(b"PAR1 not really")
    assert "not a readable parquet file" in str(fail(lambda: load_dataset("videomme", tmp_path)))


def test_videomme_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "test-00000-of-00001.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    err = fail(lambda: load_dataset("videomme", path))
    assert err.path == path and "needs pyarrow" in str(err) and "JSON lines" in str(err)


def test_videomme_json_list_and_json_lines_named_json(tmp_path: Path) -> None:
    rows = read_jsonl(FIXTURES / "videomme" / "videomme.jsonl")
    (tmp_path / "list.json").write_text(json.dumps(rows, indent=2))
    write_jsonl(tmp_path / "lines.json", rows)  # as datasets.Dataset.to_json writes it
    assert len(load_dataset("videomme", tmp_path / "list.json")) == 4
    assert len(load_dataset("videomme", tmp_path / "lines.json")) == 4


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda r: r.__setitem__("answer", "E"), "answer", "outside the options A..D"),
        (lambda r: r["options"].__setitem__(0, "B. Apples."), "options[0]", "lettered 'B', expected 'A'"),
        (lambda r: r["options"].__setitem__(3, "D. "), "options[3]", "letter but no text"),
        (lambda r: r.__setitem__("duration", "huge"), "duration", "short, medium, long"),
        (lambda r: r.pop("options"), "options", "is missing"),
        (lambda r: r.pop("task_type"), "task_type", "is missing"),
    ],
)
def test_videomme_bad_row(tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str, words: str) -> None:
    rows = read_jsonl(FIXTURES / "videomme" / "videomme.jsonl")
    change(rows[0])
    path = write_jsonl(tmp_path / "videomme.jsonl", rows)
    err = fail(lambda: load_dataset("videomme", path))
    assert (err.path, err.record, err.field) == (path, "001-1", field) and words in str(err)


def test_videomme_row_without_id_is_named_by_line(tmp_path: Path) -> None:
    rows = read_jsonl(FIXTURES / "videomme" / "videomme.jsonl")
    rows[2].pop("question_id")
    err = fail(lambda: load_dataset("videomme", write_jsonl(tmp_path / "v.jsonl", rows)))
    assert (err.record, err.field) == (3, "question_id")


def test_videomme_template_question_named_by_its_id(tmp_path: Path) -> None:
    path = tmp_path / "output_test_template.json"
    shutil.copy(FIXTURES / "videomme" / "template" / "output_test_template.json", path)
    edit_json(path, lambda d: d[0]["questions"][1]["choices"].pop())
    edit_json(path, lambda d: d[0]["questions"][1].__setitem__("answer", "D"))
    err = fail(lambda: load_dataset("videomme", path))
    assert (err.record, err.field) == ("002-3", "answer") and "outside the options A..C" in str(err)


# --- Perception Test -----------------------------------------------------------------------
def test_perception_test_splits_and_metadata() -> None:
    ds = load_dataset("perception-test", FIXTURES / "perception_test")
    assert (len(ds), ds.splits()) == (4, ["test", "valid"])
    q = by_id(ds)["video_10909_0"]
    assert (q.split, q.question, q.question_type) == ("valid", "Is the camera moving or static?", "physics")
    assert q.choice_texts == ["I don't know", "moving", "static or shaking"]
    assert (q.answer, q.answer_index) == ("static or shaking", 2)
    assert q.extra == {"question_id": 0, "reasoning": "descriptive", "tag": ["motion"]}
    video = q.video
    assert (video.video_id, video.fps, video.num_frames) == ("video_10909", 30, 897)
    assert (video.width, video.height) == (1920, 1080)  # published as [height, width]
    sparse = by_id(ds)["video_8241_0"].video  # metadata without frame rate or resolution
    assert (sparse.num_frames, sparse.fps, sparse.width) == (650, None, None)
    test_q = by_id(ds)["video_3001_0"]
    assert test_q.split == "test" and not test_q.labelled and test_q.is_multiple_choice


def test_perception_test_split_videos_and_full_annotation_file(tmp_path: Path) -> None:
    assert len(load_dataset("perception-test", FIXTURES / "perception_test", split="valid")) == 3
    root = copy_fixture("perception_test", tmp_path / "pt")
    video = touch(root / "videos" / "video_10909.mp4")
    samples = by_id(load_dataset("perception-test", root))
    assert samples["video_10909_1"].video.path == video
    assert samples["video_8241_0"].video.path == root / "videos" / "video_8241.mp4"
    full = shutil.copy(root / "mc_question_valid.json", tmp_path / "all_valid.json")
    assert load_dataset("perception-test", Path(full)).splits() == ["valid"]


@pytest.mark.parametrize(
    ("change", "record", "field", "words"),
    [
        (lambda d: d["video_10909"]["mc_question"][1].__setitem__("answer_id", 3), "video_10909.mc_question[1]",
         "answer_id", "outside the 3 options"),
        (lambda d: d["video_10909"]["mc_question"][0]["options"].__setitem__(1, 7), "video_10909.mc_question[0]",
         "options[1]", "non-empty string"),
        (lambda d: d["video_10909"]["mc_question"][0].pop("question"), "video_10909.mc_question[0]", "question",
         "is missing"),
        (lambda d: d["video_10909"]["metadata"].__setitem__("resolution", [1080]), "video_10909",
         "metadata.resolution", "[height, width]"),
        (lambda d: d["video_8241"]["metadata"].__setitem__("video_id", "video_1"), "video_8241",
         "metadata.video_id", "filed under 'video_8241'"),
        (lambda d: d["video_8241"].pop("mc_question"), "video_8241", "mc_question", "is missing"),
    ],
)
def test_perception_test_bad_record(
    tmp_path: Path, change: Callable[[Any], None], record: str, field: str, words: str
) -> None:
    root = copy_fixture("perception_test", tmp_path / "pt")
    path = root / "mc_question_valid.json"
    edit_json(path, change)
    err = fail(lambda: load_dataset("perception-test", root))
    assert (err.path, err.record, err.field) == (path, record, field) and words in str(err)


# --- VSI-Bench -----------------------------------------------------------------------------
def test_vsibench_multiple_choice_and_numeric_rows() -> None:
    ds = load_dataset("vsibench", FIXTURES / "vsibench")
    assert (len(ds), ds.splits()) == (4, ["test"])
    samples = by_id(ds)
    count = samples["1"]
    assert (count.open_ended, count.choices, count.answer, count.question_type) == (True, [], "4", "object_counting")
    assert count.extra == {"source": "arkitscenes", "scene_name": "41069025", "answer_value": 4.0}
    direction = samples["2"]
    assert (direction.choice_texts, direction.answer, direction.answer_index) == (["left", "right"], "right", 1)
    assert direction.is_multiple_choice and "answer_value" not in direction.extra
    room = samples["3"]  # options absent, ground truth a JSON number
    assert (room.answer, room.extra["answer_value"], room.open_ended) == ("18.6", 18.6, True)
    order = samples["4"]  # options without letters
    assert (order.answer, order.answer_index) == ("door, sofa, lamp, tv", 0)
    assert (direction.video.video_id, direction.video.path) == ("scannet/scene0011_00", None)


def test_vsibench_videos_by_dataset_and_scene(tmp_path: Path) -> None:
    root = copy_fixture("vsibench", tmp_path / "VSI-Bench")
    video = touch(root / "scannet" / "scene0011_00.mp4")
    samples = by_id(load_dataset("vsibench", root))
    assert samples["2"].video.path == video
    assert samples["1"].video.path == root / "arkitscenes" / "41069025.mp4"
    elsewhere = by_id(load_dataset("vsibench", root / "test.jsonl", video_root=touch(tmp_path / "v" / "x").parent))
    assert elsewhere["3"].video.path == tmp_path / "v" / "scannetpp" / "0a7cc12c0e.mp4"


@pytest.mark.parametrize(
    ("line", "change", "field", "words"),
    [
        (1, lambda r: r.__setitem__("ground_truth", "four"), "ground_truth", "should be a number"),
        (2, lambda r: r.__setitem__("ground_truth", "C"), "ground_truth", "outside the options A..B"),
        (2, lambda r: r.__setitem__("ground_truth", "up"), "ground_truth", "matches none of the options"),
        (4, lambda r: r.pop("scene_name"), "scene_name", "is missing"),
        (3, lambda r: r.__setitem__("id", None), "id", "question's id"),
    ],
)
def test_vsibench_bad_row(
    tmp_path: Path, line: int, change: Callable[[dict[str, Any]], None], field: str, words: str
) -> None:
    rows = read_jsonl(FIXTURES / "vsibench" / "test.jsonl")
    change(rows[line - 1])
    path = write_jsonl(tmp_path / "test.jsonl", rows)
    err = fail(lambda: load_dataset("vsibench", path))
    assert (err.path, err.record, err.field) == (path, line, field) and words in str(err)


def test_vsibench_duplicate_id(tmp_path: Path) -> None:
    rows = read_jsonl(FIXTURES / "vsibench" / "test.jsonl")
    rows[3]["id"] = 1
    err = fail(lambda: load_dataset("vsibench", write_jsonl(tmp_path / "test.jsonl", rows)))
    assert (err.record, err.field) == (4, "id") and "already used by record 1" in str(err)


# --- ActivityNet-QA ------------------------------------------------------------------------
def test_activitynet_qa_pairs_questions_and_answers() -> None:
    ds = load_dataset("activitynet-qa", FIXTURES / "activitynet_qa")
    assert (len(ds), ds.splits()) == (5, ["test", "val"])
    q = by_id(ds)["v_chmegNbBTNc_9"]
    assert (q.split, q.question) == ("test", "is it day or night in the video")
    assert (q.answer, q.question_type) == ("day", "other")
    assert (q.open_ended, q.extra, q.video.video_id) == (True, {"type": 8}, "chmegNbBTNc")
    assert by_id(ds)["v_s6fEIuHPJ4Y_7"].answer == "2"  # answers are matched by id, not by position
    assert summarize(ds)["by_type"] == {"motion": 1, "number": 1, "other": 1, "spatial": 1, "yes_no": 1}
    assert [s.sample_id for s in load_dataset("activitynet-qa", FIXTURES / "activitynet_qa", split="val").samples] == [
        "v__jV5sAOOHLk_1",
        "v_X_K7Aa3Aa-E_5",
    ]


def test_activitynet_qa_video_names(tmp_path: Path) -> None:
    root = copy_fixture("activitynet_qa", tmp_path / "anet")
    mkv = touch(root / "videos" / "v_chmegNbBTNc.mkv")
    bare = touch(root / "videos" / "1QIUV7WYKXg.mp4")
    samples = by_id(load_dataset("activitynet-qa", root))
    assert samples["v_chmegNbBTNc_9"].video.path == mkv
    assert samples["v_1QIUV7WYKXg_3"].video.path == bare
    assert samples["v_s6fEIuHPJ4Y_7"].video.path == root / "videos" / "v_s6fEIuHPJ4Y.mp4"


def test_activitynet_qa_without_answers_and_merged_rows(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "activitynet_qa" / "test_q.json", tmp_path / "test_q.json")
    ds = load_dataset("activitynet-qa", tmp_path)
    assert all(not s.labelled and s.question_type == "" for s in ds.samples) and len(ds) == 3
    merged = tmp_path / "merged.json"
    merged.write_text(json.dumps([{"video_name": "a1", "question": "is it red", "question_id": "v_a1_1",
                                   "answer": "yes", "type": "3"}]))
    q = load_dataset("activitynet-qa", merged, split="test").samples[0]
    assert (q.answer, q.question_type, q.extra["type"], q.split) == ("yes", "yes_no", 3, "test")


def test_activitynet_qa_unmatched_answers_and_questions(tmp_path: Path) -> None:
    root = copy_fixture("activitynet_qa", tmp_path / "anet")
    edit_json(root / "test_a.json", lambda d: d[0].__setitem__("question_id", "v_nowhere_1"))
    err = fail(lambda: load_dataset("activitynet-qa", root))
    assert (err.path, err.record, err.field) == (root / "test_q.json", "v_1QIUV7WYKXg_3", "question_id")
    assert "no answer in test_a.json" in str(err)
    edit_json(root / "test_a.json", lambda d: d.append({"answer": "no", "type": 3, "question_id": "v_1QIUV7WYKXg_3"}))
    err = fail(lambda: load_dataset("activitynet-qa", root))
    assert (err.path, err.record, err.field) == (root / "test_a.json", "v_nowhere_1", "question_id")
    assert "not in test_q.json" in str(err)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d[1].__setitem__("type", 9), "type", "type code 0..8"),
        (lambda d: d[1].__setitem__("answer", ""), "answer", "non-empty string"),
        (lambda d: d.append(dict(d[1])), "question_id", "answered twice"),
    ],
)
def test_activitynet_qa_bad_answer(tmp_path: Path, change: Callable[[Any], None], field: str, words: str) -> None:
    root = copy_fixture("activitynet_qa", tmp_path / "anet")
    edit_json(root / "test_a.json", change)
    err = fail(lambda: load_dataset("activitynet-qa", root, split="test"))
    assert (err.path, err.record, err.field) == (root / "test_a.json", "v_s6fEIuHPJ4Y_7", field) and words in str(err)


def test_activitynet_qa_bad_question_and_answer_file_given(tmp_path: Path) -> None:
    root = copy_fixture("activitynet_qa", tmp_path / "anet")
    edit_json(root / "val_q.json", lambda d: d[0].pop("video_name"))
    err = fail(lambda: load_dataset("activitynet-qa", root))
    assert (err.path, err.record, err.field) == (root / "val_q.json", "v__jV5sAOOHLk_1", "video_name")
    err = fail(lambda: load_dataset("activitynet-qa", root / "test_a.json"))
    assert "is an answer file" in str(err) and "_q.json" in str(err)


# --- Video-ChatGPT -------------------------------------------------------------------------
def test_videochatgpt_files_and_consistency_pairs() -> None:
    ds = load_dataset("videochatgpt", FIXTURES / "videochatgpt")
    assert (len(ds), ds.splits()) == (7, ["test"])
    assert summarize(ds)["by_type"] == {"consistency_qa": 4, "generic_qa": 2, "temporal_qa": 1}
    q = by_id(ds)["generic_qa_0"]
    assert (q.question, q.question_type, q.open_ended) == ("What is the man doing in the video?", "generic_qa", True)
    assert q.answer is not None and q.answer.startswith("The man is cleaning") and q.video.video_id == "v_p1QGn0IzfW0"
    first, second = by_id(ds)["consistency_qa_1_q1"], by_id(ds)["consistency_qa_1_q2"]
    assert (first.question, second.question) == ("What colour is the dog?", "Can you describe the dog's fur colour?")
    assert first.answer == second.answer == "The dog is brown with white patches."
    assert (first.extra, second.extra) == ({"pair": "consistency_qa_1", "pair_question": 1},
                                           {"pair": "consistency_qa_1", "pair_question": 2})


def test_videochatgpt_test_videos_folder(tmp_path: Path) -> None:
    root = copy_fixture("videochatgpt", tmp_path / "Benchmarking_QA")
    video = touch(tmp_path / "Test_Videos" / "v_p1QGn0IzfW0.mkv")
    samples = by_id(load_dataset("videochatgpt", tmp_path))
    assert samples["generic_qa_0"].video.path == video
    assert samples["temporal_qa_0"].video.path == tmp_path / "Test_Videos" / "v_chmegNbBTNc.mp4"
    assert len(samples) == len(load_dataset("videochatgpt", root))


def test_videochatgpt_lmms_eval_spelling(tmp_path: Path) -> None:
    path = tmp_path / "consistency_qa.json"
    path.write_text(json.dumps([
        {"video_name": "v_a", "question_1": "What sport is it?", "question_2": "None", "answer": "Volleyball."},
        {"video_name": "v_a", "question_1": "None", "question_2": "Which game is it?", "answer": "Volleyball."},
    ]))
    ds = load_dataset("videochatgpt", path)
    assert [(s.sample_id, s.question) for s in ds.samples] == [
        ("consistency_qa_0_q1", "What sport is it?"),
        ("consistency_qa_1_q2", "Which game is it?"),
    ]
    generic = tmp_path / "generic_qa.json"
    generic.write_text(json.dumps([{"video_name": "v_b", "question": "What happens?", "answer": "A dog runs."}]))
    q = load_dataset("videochatgpt", generic).samples[0]
    assert (q.question, q.answer, q.extra) == ("What happens?", "A dog runs.", {})


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda r: r.pop("Q"), "Q", "is missing"),
        (lambda r: r.pop("video_name"), "video_name", "is missing"),
        (lambda r: r.__setitem__("A", ["yes"]), "A", "non-empty string"),
    ],
)
def test_videochatgpt_bad_record(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str, words: str
) -> None:
    root = copy_fixture("videochatgpt", tmp_path / "vcg")
    edit_json(root / "generic_qa.json", lambda d: change(d[1]))
    err = fail(lambda: load_dataset("videochatgpt", root))
    assert (err.path, err.record, err.field) == (root / "generic_qa.json", "[1]", field) and words in str(err)


# --- the CLI -------------------------------------------------------------------------------
def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.mark.parametrize(
    ("fmt", "total", "a_type"),
    [
        ("mvbench", 5, "episodic_reasoning"),
        ("videomme", 4, "Counting Problem"),
        ("perception-test", 4, "semantics"),
        ("vsibench", 4, "room_size_estimation"),
        ("activitynet-qa", 5, "yes_no"),
        ("videochatgpt", 7, "consistency_qa"),
    ],
)
def test_cli_data_stats(fmt: str, total: int, a_type: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(FIXTURES / BENCHMARKS[fmt])
    code, out, _ = run(["data", "stats", "--format", fmt, path], capsys)
    assert code == 0 and f"({fmt})" in out and a_type in out
    code, out, _ = run(["data", "stats", "--format", fmt, path, "--json"], capsys)
    summary = json.loads(out)
    assert (code, summary["format"], summary["total"]) == (0, fmt, total)


def test_cli_bad_benchmark_row_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = read_jsonl(FIXTURES / "vsibench" / "test.jsonl")
    rows[1]["ground_truth"] = "Z"
    path = write_jsonl(tmp_path / "test.jsonl", rows)
    code, _, err = run(["data", "stats", "--format", "vsibench", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert str(path) in err and "record 2" in err and "field 'ground_truth'" in err
