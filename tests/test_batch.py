"""The pure parts of `wan batch` on plain values: parse, defaults, keys, shard, manifest, plan,
severity, and the shared rate limiter."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.fakeapi import png_bytes
from wan_cli.api.request import GenerateInputs
from wan_cli.batch.items import BatchItem, LineDefaults, line_inputs, prepare_items
from wan_cli.batch.manifest import ManifestRecord, ManifestWriter, read_manifest
from wan_cli.batch.outcome import SEVERITY, most_severe
from wan_cli.batch.pacing import BatchPacer, RateLimiter
from wan_cli.batch.parse import LineSpec, parse_batch
from wan_cli.batch.plan import (
    CONFIRM_ABOVE_IMAGES,
    BatchPlan,
    Consent,
    Resume,
    Shard,
    check_budget,
    consent,
    make_plan,
    parse_shard,
    plan_summary,
    refusal,
    select_work,
)
from wan_cli.batch.views import Tally
from wan_cli.errors import ExitCode, Interrupted, UsageError
from wan_cli.run.options import RequestOptions

# -- parse ---------------------------------------------------------------------------------------


def test_plain_text_one_prompt_per_line_blank_lines_keep_numbers() -> None:
    specs, problems = parse_batch("a cat\n\n  a dog  \r\nthe sea\n")
    assert problems == ()
    assert [(s.number, s.prompt) for s in specs] == [(1, "a cat"), (3, "a dog"), (4, "the sea")]
    assert all(s.mode is None and s.refs is None for s in specs)


def test_jsonl_is_detected_and_every_key_is_typed() -> None:
    line = {
        "prompt": "a red bike",
        "mode": "edit",
        "refs": ["a.png", "https://x.test/b.png"],
        "size": "2K",
        "n": 2,
        "negative_prompt": "blur",
        "seed": 7,
        "watermark": False,
        "prompt_extend": True,
        "name": "bike-red",
        "output_dir": "bikes",
    }
    text = "\ufeff" + json.dumps(line) + "\n" + json.dumps({"prompt": "x", "refs": "one.png"})
    specs, problems = parse_batch(text)
    assert problems == ()
    first, second = specs
    assert first == LineSpec(
        number=1,
        prompt="a red bike",
        mode="edit",
        refs=("a.png", "https://x.test/b.png"),
        size="2K",
        n=2,
        negative_prompt="blur",
        seed=7,
        watermark=False,
        prompt_extend=True,
        name="bike-red",
        output_dir="bikes",
    )
    assert second.refs == ("one.png",)


def test_jsonl_line_holding_u2028_is_one_line() -> None:
    text = json.dumps({"prompt": "one\u2028two"}, ensure_ascii=False) + "\n"
    specs, problems = parse_batch(text, "jsonl")
    assert problems == () and specs[0].prompt == "one\u2028two"


def test_forced_text_format_keeps_braces_as_prompt() -> None:
    specs, _ = parse_batch('{"prompt": "x"}\n', "text")
    assert specs[0].prompt == '{"prompt": "x"}'


def test_every_bad_line_is_reported_with_its_number() -> None:
    text = "\n".join(
        [
            '{"prompt": "fine"}',
            '{"prompt": "broken"',
            '["not", "an object"]',
            '{"promt": "typo"}',
            '{"prompt": "x", "n": 2.0, "seed": true, "watermark": "yes"}',
            '{"prompt": "x", "mode": "paint", "name": "../escape"}',
            '{"prompt": "x", "refs": [1, 2]}',
            '{"prompt": "ok", "size": null}',
        ]
    )
    specs, problems = parse_batch(text)
    assert [s.number for s in specs] == [1, 8]
    found = {p.number: p.message for p in problems}
    assert set(found) == {2, 3, 4, 5, 6, 7}
    assert "not valid JSON" in found[2]
    assert "JSON object" in found[3]
    assert "unknown key 'promt'" in found[4] and "did you mean 'prompt'" in found[4]
    assert '"prompt" is missing' in found[4]
    assert '"n" must be a whole number' in found[5]
    assert '"seed" must be a whole number' in found[5]
    assert '"watermark" must be true or false' in found[5]
    assert '"mode" must be' in found[6] and '"name" must be a plain file name' in found[6]
    assert '"refs" must be' in found[7]
    assert str(problems[0]).startswith("line 2: ")


# -- defaults and validation ---------------------------------------------------------------------


def test_line_values_override_defaults_and_mode_specific_defaults_apply_by_mode(
    tmp_path: Path,
) -> None:
    defaults = LineDefaults(
        request=RequestOptions(
            mode="generate",
            refs=("style.png",),
            size="1280*720",
            n=3,
            max_images=2,
            seed=1,
            prompt_extend=False,
        ),
        output_dir=tmp_path / "out",
        base_dir=tmp_path / "batchdir",
    )
    generate, out = line_inputs(LineSpec(1, "a"), defaults)
    assert generate.mode == "generate" and generate.refs == ("style.png",)
    assert generate.max_images == 2 and generate.n is None and generate.prompt_extend is None
    assert out == tmp_path / "out"

    edit, out = line_inputs(
        LineSpec(2, "b", mode="edit", refs=("photo.jpg", "https://h.test/x.png"), seed=9,
                 output_dir="sub"),
        defaults,
    )  # fmt: skip
    assert edit.refs == (str(tmp_path / "batchdir" / "photo.jpg"), "https://h.test/x.png")
    assert edit.n == 3 and edit.max_images is None and edit.prompt_extend is False
    assert edit.seed == 9 and edit.size == "1280*720"
    assert out == tmp_path / "out" / "sub"

    _, absolute = line_inputs(LineSpec(3, "c", output_dir=str(tmp_path / "abs")), defaults)
    assert absolute == tmp_path / "abs"


def test_prepare_reports_request_problems_with_line_numbers(tmp_path: Path) -> None:
    specs = (
        LineSpec(1, "fine"),
        LineSpec(2, "x" * 2001),
        LineSpec(3, "too many", max_images=9),
        LineSpec(4, "edit needs refs", mode="edit"),
        LineSpec(5, "missing ref", refs=("nope.png",)),
        LineSpec(7, "also fine", size="1280*720"),
    )
    items, problems = prepare_items(specs, LineDefaults(base_dir=tmp_path))
    assert [item.number for item in items] == [1, 7]
    assert [p.number for p in problems] == [2, 3, 4, 5]
    assert "2000" in problems[0].message
    assert "max_images" in problems[1].message
    assert "reference" in problems[2].message
    assert "not found" in problems[3].message


def test_keys_follow_the_request_not_the_line_number(tmp_path: Path) -> None:
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(300, 300))
    defaults = LineDefaults(base_dir=tmp_path)
    lines = [LineSpec(1, "a cat"), LineSpec(2, "a dog", refs=("ref.png",))]
    before, _ = prepare_items(lines, defaults)
    # A line inserted on top and the others moved down: the same work keeps its key.
    moved, _ = prepare_items([LineSpec(1, "new"), *(_renumber(s, 1) for s in lines)], defaults)
    assert [i.key for i in before] == [i.key for i in moved[1:]]
    # An edited prompt, a changed parameter, a different name or reference bytes: new work.
    edited, _ = prepare_items([LineSpec(1, "a cat, at night")], defaults)
    seeded, _ = prepare_items([LineSpec(1, "a cat", seed=3)], defaults)
    named, _ = prepare_items([LineSpec(1, "a cat", name="cat")], defaults)
    assert len({before[0].key, edited[0].key, seeded[0].key, named[0].key}) == 4
    ref.write_bytes(png_bytes(320, 300))
    changed, _ = prepare_items(lines, defaults)
    assert changed[0].key == before[0].key and changed[1].key != before[1].key


def test_repeated_lines_are_separate_work(tmp_path: Path) -> None:
    items, _ = prepare_items(
        [LineSpec(1, "same"), LineSpec(2, "other"), LineSpec(3, "same")], LineDefaults()
    )
    keys = [item.key for item in items]
    assert len(set(keys)) == 3 and keys[2] == f"{keys[0]}-2"


def test_image_bound_per_mode(tmp_path: Path) -> None:
    ref = tmp_path / "r.png"
    ref.write_bytes(png_bytes(300, 300))
    items, problems = prepare_items(
        [
            LineSpec(1, "g"),
            LineSpec(2, "g", max_images=4),
            LineSpec(3, "e", mode="edit", refs=(str(ref),)),
            LineSpec(4, "e", mode="edit", refs=(str(ref),), n=3),
        ],
        LineDefaults(),
    )
    assert problems == ()
    assert [item.max_images for item in items] == [1, 4, 1, 3]


def _renumber(spec: LineSpec, by: int) -> LineSpec:
    from dataclasses import replace

    return replace(spec, number=spec.number + by)


# -- shard -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "2", "a/b", "-1/3", "1/-3", ""])
def test_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_shard(text)


@pytest.mark.regression("'²'.isdigit() is True but int('²') raises: a traceback, exit 1")
@pytest.mark.parametrize("text", ["²/3", "1/³", "1/²"])
def test_a_shard_of_non_decimal_digits_is_a_usage_error_not_a_crash(text: str) -> None:
    with pytest.raises(UsageError, match="invalid --shard"):
        parse_shard(text)


def test_shards_split_the_positions_exactly() -> None:
    shards = [parse_shard(f"{i}/3") for i in (1, 2, 3)]
    taken = [[p for p in range(10) if shard.takes(p)] for shard in shards]
    assert taken == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert str(shards[1]) == "2/3"


# -- manifest and resume -------------------------------------------------------------------------


def _record(key: str, status: str, code: int = 0, line: int = 1) -> ManifestRecord:
    return ManifestRecord(key=key, line=line, status=status, exit_code=code)


def test_manifest_round_trip_last_record_wins(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "m.jsonl"
    writer = ManifestWriter(path)
    full = ManifestRecord(
        key="k1",
        line=3,
        status="failed",
        exit_code=4,
        request_id="r",
        images=("a.png",),
        urls=("https://x/a.png",),
        error="no",
        history_id=5,
        prompt="p",
        finished="2026-01-01T00:00:00+00:00",
    )
    writer.append(full)
    writer.append(_record("k2", "done"))
    writer.append(_record("k1", "done"))
    writer.close()
    records = read_manifest(path)
    assert records["k1"].status == "done" and records["k2"].status == "done"
    assert ManifestRecord.from_json(json.loads(full.to_json())) == full


def test_manifest_tolerates_a_torn_last_line_and_appends_after_it(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    good = _record("k1", "done").to_json()
    path.write_text(good + "\nnot json\n" + '{"key": "k2"}\n' + good[: len(good) // 2])
    assert set(read_manifest(path)) == {"k1"}
    writer = ManifestWriter(path)
    writer.append(_record("k3", "failed", 6))
    writer.close()
    assert set(read_manifest(path)) == {"k1", "k3"}


def test_missing_manifest_is_empty(tmp_path: Path) -> None:
    assert read_manifest(tmp_path / "none.jsonl") == {}


def _items(n: int) -> list[BatchItem]:
    return [
        BatchItem(
            number=i + 1,
            position=i,
            key=f"k{i}",
            inputs=GenerateInputs(mode="generate", prompt=f"p{i}"),
            output_dir=Path(),
            max_images=2 if i % 2 else 1,
        )
        for i in range(n)
    ]


def test_resume_policies() -> None:
    items = _items(4)  # k0 done, k1 failed, k2 interrupted, k3 never sent
    previous = {
        "k0": _record("k0", "done"),
        "k1": _record("k1", "failed", 4),
        "k2": _record("k2", "interrupted", 130),
    }

    def keys(resume: Resume) -> tuple[list[str], list[tuple[str, str]]]:
        chosen = select_work(items, previous, resume)
        send, skipped = chosen.send, chosen.skipped
        return [i.key for i in send], [(i.key, why) for i, why in skipped]

    assert keys(Resume.PENDING) == (["k1", "k2", "k3"], [("k0", "done")])
    assert keys(Resume.RETRY_FAILED) == (["k1", "k2"], [("k0", "done"), ("k3", "never sent")])
    assert keys(Resume.FORCE) == (["k0", "k1", "k2", "k3"], [])


# -- plan, cost guard, severity ------------------------------------------------------------------


def test_plan_counts_requests_and_images_in_the_shard() -> None:
    items = _items(6)  # images 1,2,1,2,1,2
    plan = make_plan(items, {"k1": _record("k1", "done")}, Resume.PENDING, Shard(2, 3))
    assert [i.key for i in plan.to_send] == ["k4"]  # positions 1 and 4; k1 is done
    assert plan.requests == 1 and plan.max_images == 1 and plan.in_shard == 2
    summary = plan_summary(plan)
    assert "1 request, at most 1 image" in summary
    assert "1 line already done" in summary and "shard 2/3: 2 of 6" in summary


def test_budget_and_confirmation() -> None:
    plan = make_plan(_items(20), {})  # 30 images
    assert plan.max_images == 30
    check_budget(plan, None)
    check_budget(plan, 30)
    with pytest.raises(UsageError, match="up to 30 images"):
        check_budget(plan, 29)

    def needs(plan: BatchPlan, *, yes: bool = False, cap: int | None = None, tty: bool) -> Consent:
        return consent(plan, yes=yes, max_total_images=cap, interactive=tty)

    assert needs(plan, tty=True) is Consent.ASK
    assert needs(plan, tty=True, cap=30) is Consent.ASK  # a person is there: ask them
    assert needs(plan, yes=True, tty=True) is Consent.SEND
    # No terminal to ask: refused unless --yes or a cap says how much may be spent.
    assert needs(plan, tty=False) is Consent.REFUSE
    assert needs(plan, yes=True, tty=False) is Consent.SEND
    assert needs(plan, cap=30, tty=False) is Consent.SEND
    refused = refusal(plan)
    assert refused.exit_code == ExitCode.USAGE and "nothing was sent" in str(refused)
    assert refused.hint is not None and "--yes" in refused.hint
    assert "--max-total-images 30" in refused.hint
    small = make_plan(_items(2), {})
    assert small.max_images <= CONFIRM_ABOVE_IMAGES
    for tty in (True, False):
        assert needs(small, tty=tty) is Consent.SEND


def test_most_severe_follows_the_documented_order() -> None:
    assert most_severe([]) == ExitCode.OK
    assert most_severe([0, 0]) == ExitCode.OK
    assert most_severe([0, 4, 6]) == ExitCode.UNAVAILABLE
    assert most_severe([4, 7, 5]) == ExitCode.SAVE_FAILED
    assert most_severe([4, 3, 130]) == ExitCode.INTERRUPTED
    assert most_severe([2, 1]) == ExitCode.INTERNAL
    assert most_severe([99]) == ExitCode.INTERNAL
    assert set(SEVERITY) == set(ExitCode) - {ExitCode.OK}


def test_tally_rate_and_eta() -> None:
    tally = Tally(total=10, done=3, failed=1, elapsed_s=2.0)
    assert tally.finished == 4 and tally.rate == 2.0 and tally.eta_s == 3.0
    assert Tally(total=3, done=0, failed=0, elapsed_s=1.0).eta_s is None


# -- the shared rate limiter ---------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_pause_holds_every_waiter_until_it_is_over() -> None:
    clock = _Clock()
    cancel = threading.Event()
    limiter = RateLimiter(cancel, clock=clock)
    limiter.wait()  # no pause: returns at once
    limiter.pause(5)
    limiter.pause(1)  # a shorter pause does not shorten the longer one
    assert limiter.remaining() == 5
    released: list[int] = []

    def wait(number: int) -> None:
        limiter.wait()
        released.append(number)

    waiters = [threading.Thread(target=wait, args=(i,)) for i in range(3)]
    for waiter in waiters:
        waiter.start()
    waiters[0].join(timeout=0.1)  # they wait on the shared time, whatever the real clock says
    assert released == []
    clock.now += 5
    limiter.wake()
    for waiter in waiters:
        waiter.join(timeout=5)
    assert sorted(released) == [0, 1, 2]


def test_cancel_releases_waiters_with_interrupted() -> None:
    from wan_cli.run.stopping import Cancel

    cancel = Cancel()
    pacer = BatchPacer(cancel, RateLimiter(cancel, clock=_Clock()))
    pacer.retrying(1, 60.0, "Throttling")
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            pacer.before_send()
        except Interrupted as error:
            errors.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    pacer.abort()
    waiter.join(timeout=5)
    assert not waiter.is_alive() and len(errors) == 1
