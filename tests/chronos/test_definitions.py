"""Chronos job definitions without a server: what is accepted as Chronos accepts it, what is
refused and how the refusal reads, and how manual-run arguments become a command and a task id."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chronos_py.command import task_info
from chronos_py.model import MAX_TASK_ID, Job, Run, arguments_of
from chronos_py.validation import JobError, normalize, split_arguments, stored_problem
from core.driver.types import Offer
from core.resources import Resources
from core.schedule import parse_schedule
from core.schedule.zones import zone_name
from core.security.ids import id_problem


def scheduled(**fields: Any) -> dict[str, Any]:
    return {"name": "j", "command": "true", "schedule": "R/2030-07-01T09:00:00/P1D", **fields}


def test_numeric_strings_for_resources_are_coerced_and_words_are_not() -> None:
    job = normalize(scheduled(cpus="0.5", mem=" 64 ", disk="0"), dependent=False)
    assert (job.cpus, job.mem, job.disk) == (0.5, 64.0, 0.0)
    for bad in ("lots", "nan", "inf", True):
        with pytest.raises(JobError, match=r"^mem|^cpus/mem/disk"):
            normalize(scheduled(mem=bad), dependent=False)


@pytest.mark.parametrize(("short", "region"), [("PST", "America/Los_Angeles"), ("EST", "America/New_York"),
                                               ("CTT", "Asia/Shanghai"), ("GMT", "UTC"), ("ECT", "CET")])
def test_javas_three_letter_zone_ids_are_accepted_as_chronos_reads_them(short: str, region: str) -> None:
    assert zone_name(short) == region
    job = normalize(scheduled(scheduleTimeZone=short), dependent=False)
    assert job.schedule_time_zone == short  # kept as given, as Chronos shows it
    first = parse_schedule(job.schedule, zone_name(short)).cursor(0).peek()
    assert first == datetime(2030, 7, 1, 9, tzinfo=ZoneInfo(region)).timestamp()


def test_est_follows_new_york_daylight_saving_time_as_in_chronos() -> None:
    first = parse_schedule("R/2030-07-01T09:00:00/P1D", zone_name("EST")).cursor(0).peek()
    assert first == datetime.fromisoformat("2030-07-01T13:00:00+00:00").timestamp()  # EDT, UTC-4


def test_unknown_and_lowercase_zones_are_refused_naming_the_field() -> None:
    for zone in ("pst", "Mars/Base"):
        with pytest.raises(JobError, match=r"^scheduleTimeZone: unknown time zone"):
            normalize(scheduled(scheduleTimeZone=zone), dependent=False)


@pytest.mark.parametrize(("schedule", "field", "bounds"), [
    ("61 * * * *", "minute", "0-59"), ("0 24 * * *", "hour", "0-23"), ("0 0 32 * *", "day of month", "1-31"),
    ("0 0 * 13 *", "month", "1-12"), ("0 0 * * 8", "day of week", "0-7"), ("0 0 * * * 60", "second", "0-59"),
    ("10-70 * * * *", "minute", "0-59"),
])
def test_a_cron_field_out_of_range_is_named_with_its_range(schedule: str, field: str, bounds: str) -> None:
    with pytest.raises(JobError) as refused:
        normalize(scheduled(schedule=schedule), dependent=False)
    assert str(refused.value).startswith(f"schedule: the {field} field ")
    assert f"out of its range {bounds}" in str(refused.value)


def test_a_container_is_refused_naming_it_and_an_empty_one_is_no_container() -> None:
    for container in ({"type": "DOCKER", "image": "busybox"}, {"type": "MESOS", "image": "debian"}, {"type": "DOCKER"},
                      "busybox"):
        with pytest.raises(JobError) as refused:
            normalize(scheduled(container=container), dependent=False)
        assert str(refused.value).startswith("container: this cluster cannot run container images")
    with pytest.raises(JobError, match=r"^container: .*image 'busybox'"):
        normalize({**scheduled(container={"image": "busybox"}), "command": ""}, dependent=False)
    assert normalize(scheduled(container={}), dependent=False).container is None


def test_a_stored_definition_the_api_now_refuses_is_named_not_raised() -> None:
    assert stored_problem(normalize(scheduled(), dependent=False)) is None
    assert str(stored_problem(scheduled(container={"image": "busybox"}))).startswith("container:")
    assert str(stored_problem(scheduled(scheduleTimeZone="Gone/Away"))).startswith("scheduleTimeZone:")
    assert stored_problem({"name": "j", "command": "true", "schedule": "R//PT1H", "constraints": [1]}) is not None
    assert stored_problem({"name": "j", "schedule": 7}) is not None


def test_arguments_are_split_like_a_shell_and_an_unbalanced_quote_is_refused() -> None:
    assert split_arguments(['--name "John Smith" ;id', "$(id) /etc"]) == ["--name", "John Smith", ";id", "$(id)",
                                                                          "/etc"]
    with pytest.raises(JobError, match=r"^arguments: "):
        split_arguments(["it's"])


def launched(job: Job, arguments: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
    run = Run(job=job.name, due=1_900_000_000.0, arguments=arguments)
    run.make_task_id({})
    offer = Offer("o", "fw", "agent", "127.0.0.1", Resources.of(cpus=1, mem=1024, disk=1000))
    info = task_info(job, run, offer)
    assert info.command is not None
    return run.task_id, info.command.value, info.command.arguments


@pytest.mark.parametrize("arguments", [("-debug",), ("hello world", "/etc/passwd", ";id", "$(id)", "50%", "it's",
                                                     "ünï\tcode"), ("x" * 600,)])
def test_any_arguments_give_a_valid_task_id_and_each_stays_one_word(arguments: tuple[str, ...]) -> None:
    job = normalize(scheduled(command="printf '[%s]'"), dependent=False)
    task_id, command, _ = launched(job, arguments)
    assert id_problem(task_id) is None and len(task_id.encode()) <= MAX_TASK_ID  # the master's rule (Mesos')
    if len(task_id) < MAX_TASK_ID:
        assert arguments_of(task_id.split(":", 4)[4]) == arguments
    assert shlex.split(command) == ["printf", "[%s]", *arguments]


def test_without_a_shell_the_arguments_are_the_argv() -> None:
    job = normalize(scheduled(command="/bin/echo", shell=False), dependent=False)
    _, command, argv = launched(job, ("a b", ";id"))
    assert command == "/bin/echo" and argv == ("/bin/echo", "a b", ";id")
    assert launched(normalize(scheduled(arguments=["x y"]), dependent=False), ())[1] == "true 'x y'"


def test_a_cron_that_never_fires_is_refused_naming_the_schedule() -> None:
    for schedule in ("0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"):
        with pytest.raises(JobError) as refused:
            normalize(scheduled(schedule=schedule), dependent=False)
        assert str(refused.value) == (f"schedule: the cron expression '{schedule}' never fires: no date has the "
                                      "day of month, month and day of week it names")
    assert normalize(scheduled(schedule="0 0 29 2 *"), dependent=False).schedule == "0 0 29 2 *"  # leap years
    assert str(stored_problem(scheduled(schedule="0 0 31 2 *"))).startswith("schedule: the cron expression")


def test_a_like_or_unlike_constraint_must_be_a_regular_expression() -> None:
    for operator in ("LIKE", "UNLIKE"):
        with pytest.raises(JobError, match=r"^constraints\[1\]: '\(\(' is not a valid regular expression \("):
            normalize(scheduled(constraints=[["rack", "EQUALS", "(("], ["rack", operator, "(("]]), dependent=False)
    assert normalize(scheduled(constraints=[["rack", "LIKE", "r[0-9]+"]]), dependent=False).constraints == [
        ["rack", "LIKE", "r[0-9]+"]]
    long = "(" * 500
    with pytest.raises(JobError) as refused:
        normalize(scheduled(constraints=[["rack", "LIKE", long]]), dependent=False)
    assert len(str(refused.value)) < 300  # the message quotes the pattern cut short
    assert str(stored_problem(scheduled(constraints=[["rack", "LIKE", "(("]]))).startswith("constraints[0]:")
