"""Seed grids expanded a batch at a time: the same rows, values, types and order whatever
the batch size."""

import pyarrow as pa

from synth_assets.tasks.seeds import SEED_SCHEMA, SeedGrid, seed_batches

DATE = "2026-11-01"


def test_a_grid_expands_to_the_rows_it_always_had() -> None:
    grid = SeedGrid(
        topics=["invoice"], personas=["boss"], languages=["en"], labels=["spam", "not_spam"],
        per_cell=2,
    )  # fmt: skip

    day = pa.Table.from_batches(seed_batches(grid, DATE), SEED_SCHEMA)

    # Made by the grid expansion before it streamed (the seeds are blake2b of the ids).
    cell = {"date": DATE, "topic": "invoice", "persona": "boss", "language": "en", "per_cell": 2}
    expected = [
        {"id": f"{DATE}-t0-p0-l0-c0-1", "text": "invoice | boss | en | spam", **cell,
         "intended_label": "spam", "variant": 1, "cell": "t0-p0-l0-c0", "seed": 1710475442},
        {"id": f"{DATE}-t0-p0-l0-c0-2", "text": "invoice | boss | en | spam", **cell,
         "intended_label": "spam", "variant": 2, "cell": "t0-p0-l0-c0", "seed": 2488649219},
        {"id": f"{DATE}-t0-p0-l0-c1-1", "text": "invoice | boss | en | not_spam", **cell,
         "intended_label": "not_spam", "variant": 1, "cell": "t0-p0-l0-c1", "seed": 1960240483},
        {"id": f"{DATE}-t0-p0-l0-c1-2", "text": "invoice | boss | en | not_spam", **cell,
         "intended_label": "not_spam", "variant": 2, "cell": "t0-p0-l0-c1", "seed": 2222051324},
    ]  # fmt: skip
    assert day.equals(pa.Table.from_pylist(expected, schema=SEED_SCHEMA))
    assert [(f.name, str(f.type)) for f in day.schema] == [
        ("id", "string"), ("text", "string"), ("date", "string"), ("topic", "string"),
        ("persona", "string"), ("language", "string"), ("intended_label", "string"),
        ("variant", "int32"), ("per_cell", "int32"), ("cell", "string"), ("seed", "int64"),
        ("problem", "string"),
    ]  # fmt: skip


def test_small_batches_give_the_same_rows_in_the_same_order() -> None:
    grid = SeedGrid(
        topics=["a", "b", "c"], personas=["p", "q"], languages=["en", "de"],
        labels=["spam", "not_spam"], per_cell=5,
    )  # fmt: skip

    batches = list(seed_batches(grid, DATE, rows=7))
    whole = list(seed_batches(grid, DATE))

    assert [b.num_rows for b in batches] == [7] * 17 + [1]  # 3 * 2 * 2 * 2 * 5 = 120 rows
    assert len(whole) == 1
    assert pa.Table.from_batches(batches).equals(pa.Table.from_batches(whole))
