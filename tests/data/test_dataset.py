"""The base dataset API: index streams, full-size batches across epochs, encodings, whole-split access."""

import pytest
import torch

from data.dataset import Dataset, IndexStream, derive_seed, held_bytes, to_unit_range


def make_dataset(n_train=10, n_test=4, n_val=0, **kwargs) -> Dataset:
    x = torch.arange(n_train * 6, dtype=torch.uint8).view(n_train, 2, 3)  # sample i holds 6i..6i+5
    y = torch.arange(n_train) % 3
    test = (torch.full((n_test, 2, 3), 255, dtype=torch.uint8), torch.arange(n_test) % 3)
    val = (x[:n_val], y[:n_val]) if n_val else None
    defaults = dict(name="toy", in_shape=(2, 3, 1), num_classes=3, seed=7)
    return Dataset((x[n_val:], y[n_val:]), test, val, **{**defaults, **kwargs})


def test_index_stream_reshuffles_every_pass_and_straddles_epochs():
    stream = IndexStream(10, seed=3)
    first, second = stream.take(10), stream.take(10)
    assert sorted(first.tolist()) == list(range(10)) == sorted(second.tolist())
    assert first.tolist() != second.tolist()  # a new order per pass
    straddling = IndexStream(10, seed=3).take(25)  # 2.5 passes in one call
    assert straddling[:20].tolist() == torch.cat([first, second]).tolist()
    assert len(straddling) == 25 and len(set(straddling[20:].tolist())) == 5


def test_index_stream_is_deterministic_per_seed_and_can_be_ordered():
    assert IndexStream(50, seed=1).take(50).tolist() == IndexStream(50, seed=1).take(50).tolist()
    assert IndexStream(50, seed=1).take(50).tolist() != IndexStream(50, seed=2).take(50).tolist()
    assert IndexStream(4, seed=0, shuffle=False).take(6).tolist() == [0, 1, 2, 3, 0, 1]
    with pytest.raises(ValueError):
        IndexStream(0, seed=0)


def test_batches_are_always_full_and_cover_an_epoch():
    ds = make_dataset(n_train=10)
    batches = [ds.next_train_batch(4) for _ in range(5)]  # 20 samples = exactly 2 passes
    assert [len(b.ids) for b in batches] == [4] * 5
    ids = torch.cat([b.ids for b in batches]).tolist()
    assert sorted(ids[:10]) == list(range(10)) and sorted(ids[10:]) == list(range(10))


def test_batch_inputs_targets_and_ids_agree():
    ds = make_dataset()
    b = ds.next_train_batch(6)
    assert b.inputs.shape == (6, 6) and b.inputs.dtype == torch.float32
    raw_x, raw_y = ds.raw("train")
    torch.testing.assert_close(b.inputs, raw_x[b.ids].reshape(6, 6).float() / 255)
    assert b.targets.shape == (6, 3)  # one-hot by default
    assert b.targets.argmax(1).tolist() == raw_y[b.ids].tolist()
    assert ds.next_train_batch(6, one_hot=False).targets.dtype == torch.int64


def test_streams_are_independent_per_split_and_reset_reproduces():
    a, b = make_dataset(), make_dataset()
    for _ in range(3):
        b.next_test_batch(3)  # drawing test batches must not shift the training order
    assert a.next_train_batch(8).ids.tolist() == b.next_train_batch(8).ids.tolist()
    first = a.next_train_batch(8).ids.tolist()
    a.reset_batch_streams()
    a.next_train_batch(8)
    assert a.next_train_batch(8).ids.tolist() == first
    assert make_dataset(seed=8).next_train_batch(10).ids.tolist() != make_dataset().next_train_batch(10).ids.tolist()


def test_iterate_goes_through_a_split_in_order_with_a_short_last_batch():
    ds = make_dataset(n_train=10)
    sizes = [len(b.ids) for b in ds.iterate("train", 4)]
    assert sizes == [4, 4, 2]
    assert torch.cat([b.ids for b in ds.iterate("train", 4)]).tolist() == list(range(10))
    assert ds.inputs("train").shape == (10, 6) and ds.targets("train").shape == (10, 3)


def test_validation_split_and_missing_splits():
    ds = make_dataset(n_train=10, n_val=3)
    assert (ds.num_train, ds.num_val, ds.num_test) == (7, 3, 4)
    assert ds.raw("val")[0][0, 0, 0].item() == 0  # the first samples form the validation set
    no_val = make_dataset()
    assert no_val.num_val == 0 and no_val.raw("val")[0].shape == (0, 2, 3)
    with pytest.raises(ValueError, match="no val samples"):
        no_val.next_val_batch(2)
    with pytest.raises(ValueError, match="unknown split"):
        no_val.num_samples("validation")


def test_sizes_and_regression_targets():
    ds = make_dataset()
    assert (ds.in_dim, ds.out_dim, ds.is_classification) == (6, 3, True)
    reg = Dataset(
        (torch.zeros(5, 1), torch.ones(5, 1)),
        (torch.zeros(2, 1), torch.ones(2, 1)),
        name="reg",
        in_shape=(1,),
    )
    assert (reg.out_dim, reg.is_classification) == (1, False)
    assert reg.next_train_batch(3).targets.shape == (3, 1)


def test_to_unit_range_and_seeds():
    x = torch.tensor([[0, 51, 255]], dtype=torch.uint8)
    assert torch.equal(to_unit_range(x), torch.tensor([[0.0, 0.2, 1.0]]))  # float32 division, as the originals
    assert to_unit_range(torch.ones(2, 2, dtype=torch.float64)).dtype == torch.float32
    seeds = {derive_seed(0, t) for t in range(100)} | {derive_seed(1, t) for t in range(100)}
    assert len(seeds) == 200 and derive_seed(5, 2) == derive_seed(5, 2)


def test_held_bytes_counts_shared_storage_once():
    x, y = torch.zeros(100, 10, dtype=torch.uint8), torch.zeros(100, dtype=torch.long)
    a = Dataset((x[20:], y[20:]), (x, y), (x[:20], y[:20]), name="a", in_shape=(10,), num_classes=2)
    b = Dataset((x, y), (x, y), name="b", in_shape=(10,), num_classes=2)
    assert held_bytes([a]) == held_bytes([a, b]) == 100 * 10 + 100 * 8
