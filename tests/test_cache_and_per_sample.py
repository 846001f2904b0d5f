"""FP32 cache and per-sample outcome files: round trips, damage tolerance, keys that change."""
import dataclasses

import numpy as np

from zoo.cache import Fp32Cache, fp32_key
from zoo.catalog import REGISTRY
from zoo.results import read_per_sample, write_per_sample
from zoo.tasks import Predictions

CASE = REGISTRY["pt_efficientnet_lite0.w8a8.photos"]


def test_cache_round_trip_and_disabled(tmp_path):
    # two outputs per sample, the second of varying shape (e.g. decoded boxes), plus raw outputs
    samples = [(np.arange(4, dtype=np.float32) + i, np.ones((i, 4), dtype=np.float32) * i) for i in range(3)]
    predictions = Predictions(samples, (np.arange(12, dtype=np.float32).reshape(3, 4),))
    cache = Fp32Cache(tmp_path)
    assert cache.load("k") is None
    cache.store("k", predictions)
    loaded = cache.load("k")
    assert len(loaded) == 3
    for got, want in zip(loaded.samples, samples):
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(loaded.raw[0], predictions.raw[0])
    disabled = Fp32Cache(None)
    disabled.store("k", predictions)
    assert disabled.load("k") is None


def test_damaged_cache_entry_is_re_evaluated_not_fatal(tmp_path):
    (tmp_path / "k.npz").write_bytes(b"not a zip")
    assert Fp32Cache(tmp_path).load("k") is None


def test_key_depends_on_checkpoint_dataset_and_device_not_on_recipe():
    key = fp32_key(CASE, "a" * 64, "data", "cpu")
    assert key != fp32_key(CASE, "b" * 64, "data", "cpu")
    assert key != fp32_key(CASE, "a" * 64, "other data", "cpu")
    assert key != fp32_key(CASE, "a" * 64, "data", "cuda")
    other_recipe = dataclasses.replace(CASE, recipe=dataclasses.replace(CASE.recipe, param_bw=4))
    assert key == fp32_key(other_recipe, "a" * 64, "data", "cpu")


def test_per_sample_round_trip(tmp_path):
    arrays = {"sample_ids": np.array(["a", "b"]), "quantized.top1_correct": np.array([True, False])}
    path = write_per_sample(tmp_path, "c.w8a8.photos", arrays)
    assert path.name == "c.w8a8.photos.samples.npz"
    loaded = read_per_sample(tmp_path, "c.w8a8.photos")
    assert loaded["sample_ids"].tolist() == ["a", "b"] and loaded["quantized.top1_correct"].tolist() == [True, False]
