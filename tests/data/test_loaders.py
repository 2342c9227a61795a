"""Loaders for STAR, NExT-QA (MC and OE), AGQA, ANetQA and JSONL, on hand-written fixtures.

Bad input must raise a ``DataError`` whose message names the file, the record and the field.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from loader_helpers import FIXTURES, by_id, copy_fixture, edit_json, fail, touch

from aotd.data.loaders import FORMATS, load_dataset
from aotd.data.loaders.star import class_folder, star_classes
from aotd.data.stats import format_summary, summarize
from aotd.errors import AotdError


# --- registry ----------------------------------------------------------------------------
def test_formats_are_the_published_ones() -> None:
    assert FORMATS == (
        "star",
        "nextqa",
        "nextqa-oe",
        "agqa",
        "anetqa",
        "jsonl",
        "mvbench",
        "videomme",
        "perception-test",
        "vsibench",
        "activitynet-qa",
        "videochatgpt",
    )


def test_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(AotdError, match="known formats: star, nextqa, nextqa-oe, agqa, anetqa, jsonl"):
        load_dataset("clevrer", FIXTURES / "star")


def test_class_files_only_for_star() -> None:
    with pytest.raises(AotdError, match="only read by the star format"):
        load_dataset("agqa", FIXTURES / "agqa", classes_dir=FIXTURES / "star" / "classes")


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_path(fmt: str, tmp_path: Path) -> None:
    err = fail(lambda: load_dataset(fmt, tmp_path / "nowhere.json"))
    assert "nowhere.json" in str(err)
    assert "no such file or folder" in str(err) or "file not found" in str(err)


def test_missing_video_root(tmp_path: Path) -> None:
    err = fail(lambda: load_dataset("agqa", FIXTURES / "agqa", video_root=tmp_path / "vids"))
    assert str(err).startswith(str(tmp_path / "vids")) and "video folder not found" in str(err)


# --- STAR --------------------------------------------------------------------------------
def test_star_folder_loads_every_split_with_programs_and_situations() -> None:
    ds = load_dataset("star", FIXTURES / "star")
    assert (ds.format, len(ds), ds.splits()) == ("star", 6, ["test", "train", "val"])
    q = by_id(ds)["Interaction_T1_13"]
    assert (q.split, q.question_type, q.template, q.video.video_id) == (
        "train",
        "Interaction",
        "Interaction_T1",
        "6H78U",
    )
    assert (q.start, q.end, q.answer, q.answer_index) == (11.1, 19.6, "The closet/cabinet.", 1)
    assert q.choice_texts[1] == q.answer and q.is_multiple_choice
    assert q.program and q.program[2].function == "Filter_Actions_with_Verb"
    assert q.program[2].value_input == ["tidy"]
    assert q.choices[1].program and q.choices[1].program[0].value_input == ["closet/cabinet"]
    assert q.situations and sorted(q.situations) == ["000199", "000213"]
    frame = q.situations["000199"]
    assert (frame.frame, frame.actions, frame.bbox_labels) == (199, ["a088"], ["o000", "o003", "o006"])
    assert frame.rel_pairs == [["o000", "o003"], ["o000", "o006"]] and frame.rel_labels == ["r002", "r023"]
    test_q = by_id(ds)["Interaction_T1_8001"]
    assert test_q.split == "test" and not test_q.labelled and test_q.answer_index is None


def test_star_split_picks_one_file() -> None:
    ds = load_dataset("star", FIXTURES / "star", split="val")
    assert [s.sample_id for s in ds.samples] == ["Feasibility_T1_55", "Interaction_T2_3003"]
    assert by_id(ds)["Feasibility_T1_55"].answer_index == 2


def test_star_single_file_split_from_name_or_default(tmp_path: Path) -> None:
    assert load_dataset("star", FIXTURES / "star" / "STAR_val.json").splits() == ["val"]
    other = tmp_path / "star_subset.json"
    shutil.copy(FIXTURES / "star" / "STAR_val.json", other)
    assert load_dataset("star", other).splits() == ["train"]
    assert load_dataset("star", other, split="val").splits() == ["val"]
    err = fail(lambda: load_dataset("star", FIXTURES / "star" / "STAR_val.json", split="train"))
    assert "STAR_val.json" in str(err) and "'train'" in str(err)


def test_star_folder_without_requested_split(tmp_path: Path) -> None:
    err = fail(lambda: load_dataset("star", FIXTURES / "star", split="dev"))
    assert "no annotation file for the dev split" in str(err) and "STAR_train.json" in str(err)


def test_star_annotations_subfolder_and_videos(tmp_path: Path) -> None:
    copy_fixture("star", tmp_path / "annotations")
    video = touch(tmp_path / "videos" / "6H78U.mp4")
    ds = load_dataset("star", tmp_path)
    samples = by_id(ds)
    assert samples["Interaction_T1_13"].video.path == video
    assert samples["Sequence_T1_1035"].video.path == tmp_path / "videos" / "YSE1G.mp4"
    summary = summarize(ds)
    assert (summary["video_files_known"], summary["video_files_missing"]) == (4, 3)


def test_star_unknown_class_id_names_question_and_field(tmp_path: Path) -> None:
    root = copy_fixture("star", tmp_path / "star")
    edit_json(root / "STAR_train.json", lambda d: d[0]["situations"]["000199"]["bbox_labels"].__setitem__(2, "o099"))
    err = fail(lambda: load_dataset("star", root))
    assert err.path == root / "STAR_train.json" and err.record == "Interaction_T1_13"
    assert err.field == "situations.000199.bbox_labels" and "'o099'" in str(err) and "object_classes.txt" in str(err)


@pytest.mark.parametrize(
    ("field", "value"),
    [("rel_labels", ["r002", "r077"]), ("actions", ["a999"]), ("rel_pairs", [["o000", "o003"], ["o000", "o555"]])],
)
def test_star_unknown_ids_in_every_graph_field(tmp_path: Path, field: str, value: list[Any]) -> None:
    root = copy_fixture("star", tmp_path / "star")
    edit_json(root / "STAR_train.json", lambda d: d[0]["situations"]["000199"].__setitem__(field, value))
    err = fail(lambda: load_dataset("star", root))
    assert (err.record, err.field) == ("Interaction_T1_13", f"situations.000199.{field}")


def test_star_without_class_files_skips_id_check(tmp_path: Path) -> None:
    root = copy_fixture("star", tmp_path / "star")
    shutil.rmtree(root / "classes")
    edit_json(root / "STAR_train.json", lambda d: d[0]["situations"]["000199"].__setitem__("actions", ["a999"]))
    assert len(load_dataset("star", root)) == 6
    err = fail(lambda: load_dataset("star", root, classes_dir=tmp_path / "no_classes"))
    assert "class directory not found" in str(err)
    assert len(load_dataset("star", root, split="val", classes_dir=FIXTURES / "star" / "classes")) == 2


def test_star_class_folder_lookup(tmp_path: Path) -> None:
    assert class_folder(FIXTURES / "star") == FIXTURES / "star" / "classes"
    assert class_folder(FIXTURES / "star" / "STAR_val.json") == FIXTURES / "star" / "classes"
    copy_fixture("star/classes", tmp_path / "annotations" / "STAR_classes")
    assert class_folder(tmp_path) == tmp_path / "annotations" / "STAR_classes"
    assert class_folder(FIXTURES / "agqa") is None


def test_star_classes_load_where_found_and_say_how_to_supply_them_where_not() -> None:
    classes = star_classes(FIXTURES / "star")
    assert classes is not None and classes.objects
    assert star_classes(FIXTURES / "agqa") is None
    with pytest.raises(AotdError, match=r"agqa: no STAR class files found beside it; pass --classes FOLDER"):
        star_classes(FIXTURES / "agqa", required="pass --classes FOLDER")


def write_star(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    record = json.loads((FIXTURES / "star" / "STAR_train.json").read_text())[0]
    change(record)
    path = tmp_path / "STAR_train.json"
    path.write_text(json.dumps([record]))
    return path


def test_star_integer_class_indices_become_ids(tmp_path: Path) -> None:
    def to_indices(record: dict[str, Any]) -> None:
        record["situations"] = {
            "000199": {
                "bbox": [[1, 2, 3, 4]],
                "bbox_labels": [3],
                "rel_pairs": [[0, 3]],
                "rel_labels": [2],
                "actions": ["a088"],
            }
        }

    situations = load_dataset("star", write_star(tmp_path, to_indices)).samples[0].situations
    frame = (situations or {})["000199"]
    assert (frame.bbox_labels, frame.rel_pairs, frame.rel_labels) == (["o003"], [["o000", "o003"]], ["r002"])


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda r: r.__setitem__("answer", "The sofa."), "answer", "matches none of the choices"),
        (lambda r: r.pop("video_id"), "video_id", "is missing"),
        (lambda r: r.__setitem__("start", "11.1"), "start", "should be a number"),
        (lambda r: r.__setitem__("question_id", "Puzzle_T1_13"), "question_id", "Interaction, Sequence"),
        (lambda r: r["choices"][2].__setitem__("choice", ""), "choices[2].choice", "non-empty string"),
        (lambda r: r["choices"][0].__setitem__("choice_id", "0"), "choices[0].choice_id", "an integer"),
        (lambda r: r["question_program"][1].pop("function"), "question_program[1].function", "is missing"),
        (
            lambda r: r["situations"]["000199"].__setitem__("bbox_labels", ["o000"]),
            "situations.000199",
            "3 boxes but 1 bbox_labels",
        ),
        (
            lambda r: r["situations"]["000199"].__setitem__("bbox_labels", [None, "o003", 2.5]),
            "situations.000199.bbox_labels",
            "class ids",
        ),
        (lambda r: r["situations"].__setitem__("frame9", {}), "situations", "zero-padded frame number"),
        (lambda r: r.__setitem__("end", 5.0), None, "before start"),
    ],
)
def test_star_bad_record(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str | None, words: str
) -> None:
    path = write_star(tmp_path, change)
    err = fail(lambda: load_dataset("star", path))
    assert err.path == path and err.field == field and words in str(err)
    assert err.record in ("Interaction_T1_13", "Puzzle_T1_13") and str(path) in str(err)


def test_star_record_without_id_is_named_by_position(tmp_path: Path) -> None:
    path = write_star(tmp_path, lambda r: r.pop("question_id"))
    err = fail(lambda: load_dataset("star", path))
    assert (err.record, err.field) == ("[0]", "question_id")


def test_star_malformed_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "STAR_val.json"
    path.write_text('[\n  {"question_id": "Interaction_T1_1",\n   "question" "What?"}\n]\n')
    err = fail(lambda: load_dataset("star", path))
    assert "not valid JSON" in str(err) and "line 3, column 15" in str(err) and str(path) in str(err)


def test_star_not_a_list_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "STAR_val.json").write_text('{"question_id": "x"}')
    assert "JSON list of questions" in str(fail(lambda: load_dataset("star", tmp_path / "STAR_val.json")))
    (tmp_path / "STAR_val.json").write_text("  \n")
    assert "file is empty" in str(fail(lambda: load_dataset("star", tmp_path / "STAR_val.json")))
    (tmp_path / "STAR_val.json").write_text("[]")
    assert "holds no samples" in str(fail(lambda: load_dataset("star", tmp_path)))


def test_star_duplicate_question_across_files(tmp_path: Path) -> None:
    root = copy_fixture("star", tmp_path / "star")
    edit_json(root / "STAR_val.json", lambda d: d[0].__setitem__("question_id", "Interaction_T1_13"))
    err = fail(lambda: load_dataset("star", root))
    assert err.path == root / "STAR_val.json" and err.record == "Interaction_T1_13" and err.field == "question_id"
    assert "STAR_train.json" in str(err)


# --- NExT-QA -----------------------------------------------------------------------------
def test_nextqa_mc_folder() -> None:
    ds = load_dataset("nextqa", FIXTURES / "nextqa")
    assert (len(ds), ds.by_split("train")[0].split, len(ds.by_split("val"))) == (6, "train", 4)
    q = by_id(ds)["4010069381_3"]
    assert (q.question_type, q.answer_index, q.answer, len(q.choices)) == ("CH", 2, "strum the strings", 5)
    assert (q.video.num_frames, q.video.width, q.video.height, q.video.path) == (369, 640, 480, None)
    assert q.extra == {"qid": "3", "family": "C", "vidor_path": "1006/4010069381"} and q.is_multiple_choice
    assert by_id(ds)["7508439506_1"].question_type == "TP"


def test_nextqa_video_paths_through_the_vidor_map(tmp_path: Path) -> None:
    root = copy_fixture("nextqa", tmp_path / "nextqa")
    video = touch(tmp_path / "videos" / "1006" / "4010069381.mp4")
    samples = by_id(load_dataset("nextqa", root / "val.csv"))
    assert samples["4010069381_3"].video.path == video
    assert samples["2834146886_8"].video.path == tmp_path / "videos" / "0028" / "2834146886.mp4"
    (root / "map_vid_vidorID.json").unlink()
    assert by_id(load_dataset("nextqa", root))["2834146886_8"].video.path == tmp_path / "videos" / "2834146886.mp4"


def test_nextqa_vidor_map_in_video_root(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "nextqa" / "val.csv", tmp_path / "val.csv")
    shutil.copy(FIXTURES / "nextqa" / "map_vid_vidorID.json", touch(tmp_path / "vids" / "x").parent)
    q = by_id(load_dataset("nextqa", tmp_path / "val.csv", video_root=tmp_path / "vids"))["4010069381_3"]
    assert q.video.path == tmp_path / "vids" / "1006" / "4010069381.mp4"


def write_csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


_MC_HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ("4010069381,369,640,480,how,two,3,CH,a,b,c,d,e", "answer", "should be an integer, got 'two'"),
        ("4010069381,369,640,480,how,2.0,3,CH,a,b,c,d,e", "answer", "should be an integer"),
        ("4010069381,369,640,480,how,7,3,CH,a,b,c,d,e", "answer", "outside the options a0..a4"),
        ("4010069381,369,640,480,how,-1,3,CH,a,b,c,d,e", "answer", "at least 0"),
        ("4010069381,369,0,480,how,1,3,CH,a,b,c,d,e", "width", "at least 1"),
        ("4010069381,many,640,480,how,1,3,CH,a,b,c,d,e", "frame_count", "should be an integer"),
        ("4010069381,369,640,480,how,1,3,XX,a,b,c,d,e", "type", "unknown question type 'XX'"),
        ("4010069381,369,640,480,how,1,3,CH,a,b,,d,e", "a2", "is empty"),
        ("4010069381,369,640,480,,1,3,CH,a,b,c,d,e", "question", "is empty"),
        ("9999999999,369,640,480,how,1,3,CH,a,b,c,d,e", "video", "not in map_vid_vidorID.json"),
    ],
)
def test_nextqa_bad_row_names_line_and_field(tmp_path: Path, row: str, field: str, words: str) -> None:
    shutil.copy(FIXTURES / "nextqa" / "map_vid_vidorID.json", tmp_path)
    path = write_csv(tmp_path, "val.csv", _MC_HEADER + "2834146886,1881,496,370,where,0,2,DL,a,b,c,d,e\n" + row + "\n")
    err = fail(lambda: load_dataset("nextqa", path))
    assert (err.path, err.record, err.field) == (path, 3, field)
    assert words in str(err) and f"{path}, record 3, field '{field}': " in str(err)


def test_nextqa_missing_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "val.csv", _MC_HEADER.replace(",a4", "") + "1,2,3,4,q,0,1,CW,a,b,c,d\n")
    err = fail(lambda: load_dataset("nextqa", path))
    assert err.path == path and err.field == "a4" and "missing column(s) a4" in str(err)
    assert "missing column(s) a0" in str(fail(lambda: load_dataset("nextqa", FIXTURES / "nextqa_oe")))


def test_nextqa_ragged_rows_and_header_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "val.csv", _MC_HEADER + "1,2,3,4,q,0,1,CW,a,b,c,d\n")
    err = fail(lambda: load_dataset("nextqa", path))
    assert (err.record, "fewer cells") == (2, "fewer cells") and "fewer cells" in str(err)
    write_csv(tmp_path, "val.csv", _MC_HEADER + "1,2,3,4,q,0,1,CW,a,b,c,d,e,f\n")
    assert "more cells" in str(fail(lambda: load_dataset("nextqa", path)))
    write_csv(tmp_path, "val.csv", _MC_HEADER)
    assert "holds no samples" in str(fail(lambda: load_dataset("nextqa", path)))


def test_nextqa_unlabelled_row_and_duplicate(tmp_path: Path) -> None:
    row = "2834146886,1881,496,370,where,,2,DL,a,b,c,d,e\n"
    path = write_csv(tmp_path, "test.csv", _MC_HEADER + row)
    q = load_dataset("nextqa", path).samples[0]
    assert (q.split, q.labelled, q.answer_index, q.sample_id) == ("test", False, None, "2834146886_2")
    write_csv(tmp_path, "test.csv", _MC_HEADER + row + row)
    err = fail(lambda: load_dataset("nextqa", path))
    assert (err.record, err.field) == (3, "qid") and "'2834146886_2' was already used by record 2" in str(err)


def test_nextqa_open_ended() -> None:
    ds = load_dataset("nextqa-oe", FIXTURES / "nextqa_oe")
    assert len(ds) == 4 and all(s.open_ended and not s.choices and not s.is_multiple_choice for s in ds.samples)
    q = by_id(ds)["3233088823_3"]
    assert (q.answer, q.question_type, q.extra["family"]) == ("from the driver s cabin", "CH", "C")
    assert q.extra["additional_answers"] == ["using the levers"]
    assert (
        by_id(ds)["2510696559_4"].question_type == "DB" and "additional_answers" not in by_id(ds)["2510696559_4"].extra
    )


def test_nextqa_open_ended_bad_reference_file(tmp_path: Path) -> None:
    root = copy_fixture("nextqa_oe", tmp_path / "oe")
    (root / "add_reference_answer_val.json").write_text('{"3233088823": ["using the levers"]}')
    err = fail(lambda: load_dataset("nextqa-oe", root))
    assert err.path == root / "add_reference_answer_val.json" and "{qid: answer}" in str(err)


# --- AGQA --------------------------------------------------------------------------------
def test_agqa_balanced_file() -> None:
    ds = load_dataset("agqa", FIXTURES / "agqa")
    assert (len(ds), ds.splits()) == (4, ["test"])
    q = by_id(ds)["0002975"]
    assert (q.question_type, q.answer, q.video.video_id, q.open_ended) == ("query", "phone", "YSKX3", True)
    assert q.extra["semantic"] == "object" and q.extra["ans_type"] == "open" and q.extra["steps"] == 4
    assert q.extra["sg_grounding"] == {"24-28": ["000041", "000066"], "36-51": ["000139"]}
    assert q.extra["program"].startswith("query(") and "structural" not in q.extra
    assert sorted(s.question_type for s in ds.samples) == ["choose", "compare", "query", "verify"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda r: r.__setitem__("structural", "count"), "structural", "unknown structural type 'count'"),
        (lambda r: r.__setitem__("ans_type", "multi"), "ans_type", "open, binary"),
        (lambda r: r.pop("video_id"), "video_id", "is missing"),
        (lambda r: r.__setitem__("answer", ""), "answer", "non-empty string"),
    ],
)
def test_agqa_bad_question(tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str, words: str) -> None:
    path = tmp_path / "train_balanced.txt"
    shutil.copy(FIXTURES / "agqa" / "test_balanced.txt", path)
    edit_json(path, lambda d: change(d["0003108"]))
    err = fail(lambda: load_dataset("agqa", tmp_path, split="train"))
    assert (err.path, err.record, err.field) == (path, "0003108", field) and words in str(err)


def test_agqa_repeated_question_id_and_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "test_balanced.txt"
    path.write_text('{"q1": {"question": "a?"},\n "q1": {"question": "b?"}}')
    err = fail(lambda: load_dataset("agqa", path))
    assert "key 'q1' appears twice" in str(err) and str(path) in str(err)
    path.write_text("[]")
    assert "keyed by question id" in str(fail(lambda: load_dataset("agqa", path)))


# --- ANetQA ------------------------------------------------------------------------------
def test_anetqa_splits_groups_and_videos(tmp_path: Path) -> None:
    root = copy_fixture("anetqa", tmp_path / "datasets" / "anetqa")
    video = touch(tmp_path / "datasets" / "videos" / "v_m7cHlmcFk9Y.mkv")
    ds = load_dataset("anetqa", root)
    assert (len(ds), len(ds.by_split("val")), len(ds.by_split("test"))) == (5, 3, 2)
    q = by_id(ds)["v_m7cHlmcFk9Y#attrWhat#2"]
    assert (q.answer, q.question_type, q.open_ended, q.video.path) == ("white", "attrWhat", True, video)
    assert q.extra["structural"] == "query" and q.extra["semantic"] == "attribute" and q.extra["ans_type"] == "open"
    assert (
        q.extra["step"] == 5 and q.extra["frame_ids"] == ["v_m7cHlmcFk9Y/0/0"] and q.extra["attribute_type"] == "color"
    )
    test_q = by_id(ds)["v_Gq8-XVrlAt4#objExist#8503"]
    assert not test_q.labelled and test_q.extra["structural"] == "verify"
    assert test_q.video.path == tmp_path / "datasets" / "videos" / "v_Gq8-XVrlAt4.mp4"
    assert len(load_dataset("anetqa", tmp_path / "datasets", split="test")) == 2


def test_anetqa_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "anetqa_val.json"
    shutil.copy(FIXTURES / "anetqa" / "anetqa_val.json", path)
    edit_json(path, lambda d: d[1].pop("question"))
    err = fail(lambda: load_dataset("anetqa", path))
    assert (err.record, err.field) == ("v_onFddYAkyyc#objRelExist#17", "question")
    edit_json(path, lambda d: d.__setitem__(1, "not a question"))
    err = fail(lambda: load_dataset("anetqa", path))
    assert err.record == "[1]" and "JSON object" in str(err)


# --- JSONL -------------------------------------------------------------------------------
def test_jsonl_minimal_and_full_records() -> None:
    path = FIXTURES / "jsonl" / "samples.jsonl"
    ds = load_dataset("jsonl", path)
    samples = by_id(ds)
    assert len(ds) == 5
    pick = samples["clip1-q1"]
    assert (pick.answer, pick.answer_index, pick.split, pick.start, pick.end) == ("a phone", 1, "val", 0.5, 6.0)
    assert pick.video.path == path.parent / "clips" / "clip1.mp4" and pick.video.video_id == "clip1"
    assert (samples["clip1-q2"].answer_index, samples["clip1-q2"].extra) == (0, {"source": "hand-written"})
    open_q = samples["clip2-q1"]
    assert (open_q.open_ended, open_q.answer, open_q.video.path, open_q.question_type) == (
        True,
        "a dog runs in",
        None,
        "",
    )
    full = samples["clip3-q1"]
    assert (full.dataset, full.video.fps, full.answer_index) == ("custom", 30.0, 1)
    assert not samples["clip4-q1"].labelled and samples["clip4-q1"].is_multiple_choice


def test_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "a", "video": "v", "question": "one\u2028two?"}\r\n', encoding="utf-8", newline="")
    assert load_dataset("jsonl", path).samples[0].question == "one\u2028two?"


def test_jsonl_split_filter() -> None:
    ds = load_dataset("jsonl", FIXTURES / "jsonl" / "samples.jsonl", split="val")
    assert [s.sample_id for s in ds.samples] == ["clip1-q1", "clip1-q2"]


def test_jsonl_round_trips_other_loaders(tmp_path: Path) -> None:
    star = load_dataset("star", FIXTURES / "star")
    path = tmp_path / "star.jsonl"
    path.write_text("".join(json.dumps(s.model_dump(mode="json")) + "\n" for s in star.samples))
    assert load_dataset("jsonl", path).samples == star.samples


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        (
            '{"id": "a", "video": "v", "question": "q?", "choices": ["x", "y"], "answer": 2}',
            "answer",
            "index 2 is outside the 2 choices",
        ),
        (
            '{"id": "a", "video": "v", "question": "q?", "choices": ["x", "y"], "answer": 1.5}',
            "answer",
            "integer index",
        ),
        ('{"id": "a", "video": "v", "question": "q?", "choices": ["x", "y"], "answer": "z"}', "answer", "matches none"),
        ('{"id": "a", "video": "v", "question": "q?", "answer": 0}', "answer", "outside the 0 choices"),
        ('{"id": "a", "video": "v", "question": "q?", "choices": ["x", 3]}', "choices[1]", "non-empty string"),
        ('{"video": "v", "question": "q?"}', "id", "is missing"),
        ('{"id": "a", "video": "v", "question": "q?", "start": "soon"}', "start", "should be a number"),
        (
            '{"sample_id": "a", "dataset": "d", "split": "t", "video": {"video_id": "v", "fps": -1}, "question": "?"}',
            "video.fps",
            "greater than 0",
        ),
        ('{"sample_id": "a", "dataset": "d", "video": {"video_id": "v"}, "question": "q?"}', "split", "Field required"),
    ],
)
def test_jsonl_bad_line(tmp_path: Path, line: str, field: str, words: str) -> None:
    path = write_csv(tmp_path, "data.jsonl", '{"id": "ok", "video": "v", "question": "fine?"}\n\n' + line + "\n")
    err = fail(lambda: load_dataset("jsonl", path))
    assert (err.path, err.record, err.field) == (path, 3, field) and words in str(err)


def test_jsonl_malformed_and_duplicate_lines(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "data.jsonl",
        '{"id": "a", "video": "v", "question": "q?"}\n{"id": "b", "video": "v" "question": "q?"}\n',
    )
    err = fail(lambda: load_dataset("jsonl", path))
    assert err.record == 2 and "not valid JSON" in str(err) and "column 26" in str(err)
    write_csv(tmp_path, "data.jsonl", "[1, 2]\n")
    assert "JSON object" in str(fail(lambda: load_dataset("jsonl", path)))
    write_csv(
        tmp_path,
        "data.jsonl",
        '{"id": "a", "video": "v", "question": "q?"}\n{"id": "a", "video": "w", "question": "r?"}\n',
    )
    err = fail(lambda: load_dataset("jsonl", path))
    assert (err.record, err.field) == (2, "id") and "already used by record 1" in str(err)
    write_csv(tmp_path, "data.jsonl", "\n\n")
    assert "file is empty" in str(fail(lambda: load_dataset("jsonl", path)))
    assert "reads one .jsonl file" in str(fail(lambda: load_dataset("jsonl", tmp_path)))


# --- stats -------------------------------------------------------------------------------
def test_summarize_counts(tmp_path: Path) -> None:
    root = copy_fixture("star", tmp_path / "star")
    touch(tmp_path / "videos" / "6H78U.mp4")
    summary = summarize(load_dataset("star", root))
    assert summary["total"] == 6 and summary["by_split"] == {"train": 3, "val": 2, "test": 1}
    assert summary["by_type"] == {"Feasibility": 1, "Interaction": 3, "Prediction": 1, "Sequence": 1}
    assert summary["by_split_type"]["val"] == {"Feasibility": 1, "Interaction": 1}
    assert (summary["multiple_choice"], summary["open_ended"], summary["labelled"], summary["unlabelled"]) == (
        6,
        0,
        5,
        1,
    )
    assert (summary["videos"], summary["with_program"], summary["with_situations"]) == (4, 6, 6)
    assert (summary["video_files_known"], summary["video_files_missing"]) == (4, 3)
    assert summary["missing_videos"][0].endswith("X1Y2Z.mp4")
    json.dumps(summary)


def test_format_summary_table() -> None:
    text = format_summary(summarize(load_dataset("jsonl", FIXTURES / "jsonl" / "samples.jsonl")))
    lines = text.splitlines()
    assert lines[0].startswith("jsonl (jsonl) from ") and "samples          5" in text
    assert "missing on disk 1" in text and "missing: " in text and "clip1.mp4" in text
    header = next(line for line in lines if line.startswith("question type"))
    assert header.split() == ["question", "type", "train", "val", "test", "total"]
    assert lines[-1].split() == ["total", "2", "2", "1", "5"]
    assert "(none)" in text
