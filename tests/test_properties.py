"""Property-based tests (hypothesis) of every stage's reader and writer: any bytes in -> output + line-numbered
rejects that together account for every non-blank input line, and never a traceback."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ainkit.services import records
from ainkit.services.records import read_lines, read_records
from ainkit.services.stageio import StageIO

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)
records_st = st.dictionaries(st.sampled_from(["id", "en", "ar", "text", "x"]), json_values, max_size=4)
line_st = st.one_of(
    records_st.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8")),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b),
    json_values.map(lambda v: json.dumps(v).encode()),
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _file(tmp_path, lines, bom, crlf):
    end = b"\r\n" if crlf else b"\n"
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(line.replace(b"\r", b"") + end for line in lines)
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    return path, data


def _non_blank(data: bytes) -> int:
    """Lines a reader must account for: undecodable ones, and decoded ones that are not all whitespace."""
    n = 0
    for line in data.removeprefix(b"\xef\xbb\xbf").split(b"\n"):
        try:
            n += bool(line.decode("utf-8").strip())
        except UnicodeDecodeError:
            n += 1
    return n


@FAST
@given(lines=st.lists(line_st, max_size=12), bom=st.booleans(), crlf=st.booleans())
def test_reader_accounts_for_every_line(tmp_path, lines, bom, crlf):
    path, data = _file(tmp_path, lines, bom, crlf)
    seen = list(read_lines(path))
    assert len(seen) == _non_blank(data)
    for line in seen:
        assert (line.record is None) == bool(line.error)


@FAST
@given(lines=st.lists(line_st, max_size=12), bom=st.booleans(), crlf=st.booleans(), fail_every=st.integers(2, 5))
def test_stage_output_plus_rejects_is_every_line(tmp_path, lines, bom, crlf, fail_every):
    path, data = _file(tmp_path, lines, bom, crlf)
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    for p in (out, rej):
        p.unlink(missing_ok=True)
    with StageIO(path, out, rejects=rej, resume=False, settings={"stage": "property"}) as io:
        for n, rec in enumerate(io.pending()):
            io.reject(rec, ["asked"]) if n % fail_every == 0 else io.emit(rec)
    kept = read_records(out)
    rejected = read_records(rej) if rej.exists() else []
    assert len(kept) + len(rejected) == _non_blank(data)
    assert all(isinstance(r["line"], int) and r["reasons"] for r in rejected)
    assert io.summary.kept + io.summary.rejected + io.summary.malformed == _non_blank(data)


@FAST
@given(recs=st.lists(records_st, max_size=8))
def test_writer_round_trips(tmp_path, recs):
    path = records.write_records(tmp_path / "w.jsonl", recs)
    assert read_records(path) == recs


@FAST
@given(lines=st.lists(line_st, max_size=8), bom=st.booleans(), crlf=st.booleans())
def test_evaluate_predictions_reader_scores_or_names_the_line(tmp_path, lines, bom, crlf):
    """`ainkit evaluate --predictions`: any bytes give results, or a user error naming the file; nothing else."""
    from ainkit.ground.errors import UserError
    from ainkit.stages.evaluate import runner

    path, data = _file(tmp_path, lines, bom, crlf)
    try:
        r = runner.run_camel_bench(str(path), str(tmp_path / "ev"))
    except (ValueError, UserError) as exc:
        assert str(path) in str(exc)
    else:
        assert sum(d["n"] for d in r["datasets"].values()) == _non_blank(data)


csv_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@FAST
@given(rows=st.lists(st.lists(csv_cell, min_size=0, max_size=16), max_size=6), bom=st.booleans())
def test_arabic_mmlu_csv_reader_loads_or_names_the_problem(tmp_path, rows, bom):
    """Any CSV under the published header gives items, or a ValueError naming the file."""
    import csv
    import io

    from ainkit.stages.evaluate import arabic_mmlu

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(arabic_mmlu.COLUMNS + [f"Option {i}" for i in range(1, 6) if f"Option {i}" not in arabic_mmlu.COLUMNS])
    w.writerows(rows)
    path = tmp_path / "mmlu.csv"
    path.write_text(("\ufeff" if bom else "") + buf.getvalue(), encoding="utf-8")
    try:
        items = arabic_mmlu.load(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:
        assert all(it["answer"] in "ABCDE" for it in items)
