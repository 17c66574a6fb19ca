"""The shared JSON reader and the error-shape registry, without a server (tests/core/test_edges.py
drives them through a real one)."""

from __future__ import annotations

import json

import pytest
from starlette.responses import Response

from core.framework.errors import ErrorShape, ErrorShapes, message_json, plain_text, status_and_message_json
from core.framework.plugin import error_shape_of
from core.server.body import MAX_DEPTH, InvalidJSON, nesting_depth, parse_json, parse_size


def refusal(raw: bytes | str) -> str:
    with pytest.raises(InvalidJSON) as caught:
        parse_json(raw)
    message = str(caught.value)
    message.encode("utf-8")  # a message quoting what it refuses can always be sent
    return message


# ---- depth --------------------------------------------------------------------------------------

def test_nesting_up_to_the_limit_is_read_and_one_level_more_is_refused() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert parse_json('{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH) is not None
    deeper = '{"a":' * MAX_DEPTH + "[]" + "}" * MAX_DEPTH
    assert refusal(deeper) == f"body: arrays and objects nest deeper than {MAX_DEPTH} levels"


def test_far_deeper_nesting_is_refused_before_the_parser_could_recurse() -> None:
    assert "nest deeper" in refusal(b"[" * 100_000)  # json.loads alone raises RecursionError here


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"cmd": "[" * 500 + "{" * 500, "escaped": '\\"[[[', "list": [[1]]})
    assert nesting_depth(text) == 3
    assert parse_json(text)["cmd"].startswith("[[[")


def test_wide_bodies_are_not_deep() -> None:
    wide = json.dumps([{"a": [1]}] * 5000)
    assert nesting_depth(wide) == 3
    assert len(parse_json(wide)) == 5000


def test_an_unterminated_string_ends_the_scan_instead_of_rescanning() -> None:
    # every quote would start a new scan to the end with a naive string pattern
    assert "Unterminated string" in refusal('["' + '\\"' * 50_000 + "[" * 200)


# ---- numbers ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field", "token"), [
    ('{"cpus": NaN}', "cpus", "NaN"),
    ('{"mem": Infinity}', "mem", "Infinity"),
    ('{"upgradeStrategy": {"minimumHealthCapacity": -Infinity}}', "upgradeStrategy.minimumHealthCapacity",
     "-Infinity"),
    ('{"healthChecks": [{"intervalSeconds": 1}, {"intervalSeconds": 1e400}]}', "healthChecks[1].intervalSeconds",
     "1e400"),
    ("NaN", "body", "NaN"),
])
def test_non_finite_numbers_are_refused_naming_the_field(body: str, field: str, token: str) -> None:
    assert refusal(body) == f"{field}: {token} is not a JSON number (JSON numbers are finite)"


def test_finite_extremes_and_long_integers_are_kept() -> None:
    assert parse_json('{"a": 1.7976931348623157e308, "b": -5e-324, "c": 123456789012345678901234567890}') == {
        "a": 1.7976931348623157e308, "b": -5e-324, "c": 123456789012345678901234567890}


def test_an_integer_python_will_not_convert_is_refused_not_raised() -> None:
    assert refusal("1" * 5000).startswith("body: Exceeds the limit")


# ---- strings ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ('{"labels": {"a": "\\ud800"}}', "labels.a"),
    ('{"args": ["ok", "x\\udfffy"]}', "args[1]"),
    ('{"labels": {"\\udc00": "value"}}', "labels"),  # a key: named by the object holding it
    ('"\\ud83d"', "body"),  # a high surrogate without its low half
])
def test_lone_surrogates_are_refused_naming_the_field(body: str, field: str) -> None:
    assert refusal(body) == (f"{field}: a string or key holds a lone UTF-16 surrogate, which cannot be "
                             "encoded as UTF-8")


def test_a_surrogate_pair_is_one_character_and_kept() -> None:
    assert parse_json('{"emoji": "\\ud83d\\ude00", "text": "\\\\ud800 is only text"}') == {
        "emoji": "\U0001f600", "text": "\\ud800 is only text"}


def test_a_field_named_by_a_surrogate_key_is_quoted_so_the_message_can_be_sent() -> None:
    assert refusal('{"\\ud800": {"cpus": NaN}}').startswith("\\ud800.cpus: NaN")


def test_bodies_that_are_not_utf8_or_not_json_are_refused_as_json_decode_errors() -> None:
    assert refusal(b'{"a": "\xff"}') == "body: not UTF-8 (byte 7 cannot be decoded)"
    with pytest.raises(json.JSONDecodeError) as caught:  # what framework code already catches
        parse_json(b'{"a": 1')
    assert str(caught.value) == "Expecting ',' delimiter: line 1 column 8 (char 7)"


def test_a_utf8_byte_order_mark_is_skipped() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


# ---- sizes --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "size"), [
    ("1048576", 1048576), ("64k", 65536), ("64KiB", 65536), ("1MiB", 1048576), ("2M", 2097152),
    ("1g", 1073741824), ("100b", 100), ("10MB", 10485760), ("1.5GB", 1610612736), ("1T", 2**40),
])
def test_sizes_are_bytes_or_powers_of_1024(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5X", "M", "lots"])
def test_sizes_that_are_not_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|at least"):
        parse_size(text)


# ---- error shapes -------------------------------------------------------------------------------

def body_of(response: Response) -> bytes:
    return bytes(response.body)


def test_a_path_takes_the_shape_of_its_longest_prefix_on_a_segment_boundary() -> None:
    shapes = ErrorShapes([ErrorShape(("/scheduler", "/v1/scheduler"), status_and_message_json),
                          ErrorShape(("/api/v1/scheduler",), plain_text)])
    assert body_of(shapes.render("/v1/scheduler/jobs", 400, "no")) == b'{"status":"Bad Request","message":"no"}'
    assert body_of(shapes.render("/scheduler", 413, "big")) == (
        b'{"status":"Request Entity Too Large","message":"big"}')
    assert body_of(shapes.render("/api/v1/scheduler", 400, "no")) == b"no"
    assert body_of(shapes.render("/v1/scheduler2", 400, "no")) == b'{"message":"no"}'  # not under /v1/scheduler
    assert body_of(shapes.render("/v2/apps", 400, "no")) == b'{"message":"no"}'


def test_two_shapes_may_not_claim_one_prefix_and_prefixes_are_paths() -> None:
    shapes = ErrorShapes([ErrorShape(("/v2",), message_json)])
    with pytest.raises(ValueError, match="/v2"):
        shapes.add(ErrorShape(("/v2",), plain_text))
    with pytest.raises(ValueError, match="prefix"):
        ErrorShape(("/v2/",), plain_text)


def test_a_framework_states_its_shape_with_an_optional_attribute() -> None:
    class Plain:
        name = "plain"

    class Shaped:
        name = "shaped"
        error_shape = ErrorShape(("/shaped",), plain_text)

    class Wrong:
        name = "wrong"
        error_shape = "text"

    assert error_shape_of(Plain()) is None
    assert error_shape_of(Shaped()) is Shaped.error_shape
    with pytest.raises(TypeError, match=r"Wrong.error_shape must be an ErrorShape"):
        error_shape_of(Wrong())
