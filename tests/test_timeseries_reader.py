"""The time-series reader on every format and bad case, with files written here."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from sslstudio.data.base import DataError, open_dataset
from sslstudio.data.timeseries import open_timeseries


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def _issues(dataset, action=None):
    return [issue for issue in dataset.report.issues if action is None or issue.action == action]


def test_wide_csv_labels_and_unequal_lengths(tmp_path):
    file = _write(tmp_path / "wide.csv", "label,t0,t1,t2,t3\na,1,2,3,4\nb,5,6,,\nb,7,8,9,\n")
    dataset = open_timeseries(file, normalize="none")
    values, mask = dataset.batch([0, 1, 2])
    assert dataset.spec.shape == (1, 4)
    assert dataset.label_column("label") == ["a", "b", "b"]
    assert values[0, 0].tolist() == [1, 2, 3, 4]
    assert mask[1, 0].tolist() == [1, 1, 0, 0]
    assert values[1, 0].tolist() == [5, 6, 0, 0]
    assert dataset.metadata["length"].tolist() == [4, 2, 3]
    assert len(dataset.report) == 0


def test_semicolon_separator_decimal_comma(tmp_path):
    file = _write(tmp_path / "european.csv", "class;t0;t1;t2\nx;28,7;29,1;-0,5\ny;1,25;2;3\n")
    dataset = open_timeseries(file, normalize="none")
    values, _ = dataset.batch([0, 1])
    assert values[0, 0].tolist() == pytest.approx([28.7, 29.1, -0.5])
    assert values[1, 0].tolist() == pytest.approx([1.25, 2.0, 3.0])
    assert dataset.label_column("class") == ["x", "y"]


def test_tsv_and_headerless_files(tmp_path):
    tsv = _write(tmp_path / "series.tsv", "label\tt0\tt1\tt2\nup\t1.5\t2.5\t3.5\n")
    headerless = _write(tmp_path / "plain.csv", "1.0,2.0,3.0\n4.0,5.0,6.0\n")
    assert open_timeseries(tsv, normalize="none").batch([0])[0][0, 0].tolist() == [1.5, 2.5, 3.5]
    plain = open_timeseries(headerless, normalize="none")
    assert len(plain) == 2
    assert plain.batch([1])[0][0, 0].tolist() == [4.0, 5.0, 6.0]


def test_long_form_multivariate_sorted_by_time(tmp_path):
    text = "id,time,x,y,label\ns1,2,3,30,walk\ns1,0,1,10,walk\ns1,1,2,20,walk\ns2,0,5,50,run\ns2,1,6,60,run\n"
    dataset = open_timeseries(_write(tmp_path / "long.csv", text), normalize="none")
    values, mask = dataset.batch([0, 1])
    assert dataset.spec.shape == (2, 3)
    assert values[0].tolist() == [[1, 2, 3], [10, 20, 30]]
    assert mask[1].tolist() == [[1, 1, 0], [1, 1, 0]]
    assert dataset.label_column("label") == ["walk", "run"]
    assert dataset.spec.extra["channel_names"] == ["x", "y"]
    assert dataset.ids == ["long.csv#s1", "long.csv#s2"]


def test_ts_file_labels_and_missing_values(tmp_path):
    text = ("# a comment\n@problemName Demo\n@timeStamps false\n@missing true\n@univariate false\n"
            "@classLabel true a b\n@data\n1,2,3:4,5,6:a\n7,?,9:10,11,12:b\n")
    dataset = open_timeseries(_write(tmp_path / "demo.ts", text), normalize="none")
    values, mask = dataset.batch([0, 1])
    assert dataset.spec.shape == (2, 3)
    assert dataset.label_column("label") == ["a", "b"]
    assert values[0].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert mask[1, 0].tolist() == [1, 0, 1]
    assert dataset.ids == ["demo.ts:8", "demo.ts:9"]


def test_npy_arrays_of_two_and_three_axes(tmp_path):
    np.save(tmp_path / "flat.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    np.save(tmp_path / "deep.npy", np.arange(24, dtype=np.float64).reshape(2, 3, 4))
    flat = open_timeseries(tmp_path / "flat.npy", normalize="none")
    deep = open_timeseries(tmp_path / "deep.npy", normalize="none")
    assert flat.spec.shape == (1, 4)
    assert len(flat) == 3
    assert deep.spec.shape == (3, 4)
    assert deep.batch([1])[0][0, 2].tolist() == [20, 21, 22, 23]


def test_object_npy_is_reported_not_unpickled(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "good.npy", np.ones((2, 5)) * np.arange(5))
    dataset = open_timeseries(tmp_path, normalize="none")
    assert len(dataset) == 2
    assert [issue.source for issue in dataset.report.skipped] == ["objects.npy"]
    assert "unpickling" in dataset.report.skipped[0].reason


def test_wav_and_flac_resampled_to_rate(tmp_path):
    rate = 16_000
    tone = np.sin(2 * np.pi * 440 * np.arange(rate // 4) / rate)
    (tmp_path / "calls" / "angry").mkdir(parents=True)
    (tmp_path / "calls" / "calm").mkdir(parents=True)
    soundfile.write(tmp_path / "calls" / "angry" / "one.wav", tone, rate)
    soundfile.write(tmp_path / "calls" / "calm" / "two.flac", np.stack([tone, tone / 2], axis=1), rate)
    mono = open_timeseries(tmp_path / "calls" / "angry" / "one.wav", sample_rate=4000)
    assert mono.spec.shape == (1, 1000)
    assert mono.metadata["native_sample_rate"].tolist() == [16_000]
    assert mono.preprocessing()["sample_rate"] == 4000
    stereo = open_timeseries(tmp_path / "calls" / "calm" / "two.flac", sample_rate=8000)
    assert stereo.spec.shape == (2, 2000)


def test_audio_folder_labels_by_folder(tmp_path):
    rate = 8000
    for folder, frequency in (("low", 200), ("high", 900)):
        (tmp_path / folder).mkdir()
        soundfile.write(tmp_path / folder / "clip.wav", np.sin(2 * np.pi * frequency * np.arange(800) / rate), rate)
    dataset = open_dataset(tmp_path, sample_rate=rate)
    assert dataset.modality == "timeseries"
    assert dataset.label_column("folder") == ["high", "low"]


def test_non_numeric_cell_reported_with_line_and_column(tmp_path):
    file = _write(tmp_path / "bad.csv", "label,t0,t1,t2\na,1,oops,3\nb,4,5,6\n")
    dataset = open_timeseries(file, normalize="none")
    issue = _issues(dataset, "repaired")[0]
    assert issue.location == "line 2, column 't1'"
    assert "'oops'" in issue.reason
    assert dataset.batch([0])[1][0, 0].tolist() == [1, 0, 1]


def test_gap_masked_or_interpolated(tmp_path):
    file = _write(tmp_path / "gaps.csv", "t0,t1,t2,t3\n1,NaN,,7\n")
    masked = open_timeseries(file, normalize="none", missing="mask")
    filled = open_timeseries(file, normalize="none", missing="interpolate")
    assert masked.batch([0])[1][0, 0].tolist() == [1, 0, 0, 1]
    assert filled.batch([0])[0][0, 0].tolist() == [1, 3, 5, 7]
    assert filled.batch([0])[1][0, 0].tolist() == [1, 1, 1, 1]
    assert "2 missing values interpolated" in _issues(filled, "repaired")[0].reason


def test_constant_and_single_sample_series_reported(tmp_path):
    file = _write(tmp_path / "odd.csv", "id,t0,t1,t2\nflat,2,2,2\nshort,5,,\nfine,1,2,3\n")
    dataset = open_timeseries(file, form="wide")
    assert dataset.ids == ["odd.csv:2", "odd.csv:4"]
    assert [(issue.action, issue.location) for issue in dataset.report.issues] == [
        ("warning", "line 2"), ("skipped", "line 3")]
    assert "constant" in dataset.report.issues[0].reason
    assert "single-sample" in dataset.report.issues[1].reason


def test_empty_file_reported_beside_good_one(tmp_path):
    _write(tmp_path / "empty.csv", "")
    _write(tmp_path / "good.csv", "t0,t1,t2\n1,2,3\n")
    dataset = open_timeseries(tmp_path)
    assert len(dataset) == 1
    assert [(issue.source, issue.reason) for issue in dataset.report.issues] == [("empty.csv", "empty file")]


def test_only_empty_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="no usable series"):
        open_timeseries(_write(tmp_path / "empty.csv", "\n\n"))


def test_channel_count_mismatch_skipped(tmp_path):
    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(size=(3, 2, 6)))
    np.save(tmp_path / "b.npy", np.random.default_rng(1).normal(size=(1, 3, 6)))
    dataset = open_timeseries(tmp_path)
    assert dataset.spec.shape == (2, 6)
    assert dataset.report.skipped[0].location == "index 0"
    assert "3 channels" in dataset.report.skipped[0].reason


def test_resample_mode_equalizes_lengths(tmp_path):
    file = _write(tmp_path / "uneven.csv", "t0,t1,t2,t3,t4\n0,1,2,3,4\n0,2,4,,\n")
    dataset = open_timeseries(file, normalize="none", length_mode="resample", length=5)
    values, mask = dataset.batch([0, 1])
    assert values[1, 0].tolist() == [0, 1, 2, 3, 4]
    assert bool(mask.all())


def test_series_normalization_zero_mean_unit_std(tmp_path):
    file = _write(tmp_path / "scale.csv", "t0,t1,t2,t3\n10,20,30,40\n")
    values, _ = open_timeseries(file).batch([0])
    assert float(values.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(values.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)


def test_invalid_option_names_parameter(tmp_path):
    file = _write(tmp_path / "ok.csv", "t0,t1\n1,2\n")
    with pytest.raises(ValueError, match="missing='drop' is invalid"):
        open_timeseries(file, missing="drop")


def test_batch_is_float_pair_on_device(tmp_path):
    dataset = open_timeseries(_write(tmp_path / "ok.csv", "t0,t1,t2\n1,2,3\n4,5,7\n"))
    values, mask = dataset.batch([1, 0], "cpu")
    assert values.dtype == torch.float32
    assert mask.dtype == torch.float32
    assert values.shape == (2, 1, 3)


def test_row_with_extra_fields_reported(tmp_path):
    file = _write(tmp_path / "ragged.csv", "t0,t1,t2\n1,2,3\n4,5,6,7,8\n9,10,11\n")
    dataset = open_timeseries(file, normalize="none")
    assert dataset.ids == ["ragged.csv:2", "ragged.csv:3", "ragged.csv:4"]
    assert dataset.batch([1])[0][0, 0].tolist() == [4, 5, 6]
    assert dataset.report.repaired[0].reason.startswith("1 rows had more than 3 fields")
