#!/usr/bin/env python3
"""Records what the real Temporal server answers for a corpus of schedule specs.

For every case it creates a paused schedule with the spec (CreateSchedule), and records either
the InvalidArgument error, or the canonical spec DescribeSchedule returns, the spec of the
schedule's ListSchedules entry, and ListScheduleMatchingTimes over fixed windows. Output:
crates/endure-core/tests/schedule_spec/fixtures.json, read by
crates/endure-core/tests/schedule_spec.rs.

Run by hand against a real dev server (not part of the test suite):

    TEMPORAL_VERSION_CHECK_DISABLED=1 .venv/bin/temporal server start-dev --headless \
        --port 27391 --db-filename /tmp/oracle.db \
        --dynamic-config-value frontend.enableServerVersionCheck=false &
    .venv/bin/python scripts/record-schedule-spec-fixtures.py --address localhost:27391

Messages are stored twice: as protobuf JSON (for people) and as base64 of the binary encoding
(what the Rust test decodes with prost, so no JSON mapping of the protos is needed there).
"""

import argparse
import asyncio
import base64
import json
import os
import sys
import uuid

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.schedule.v1 import Schedule, ScheduleAction, ScheduleSpec, ScheduleState
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import NewWorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    CreateScheduleRequest,
    DeleteScheduleRequest,
    DescribeNamespaceRequest,
    DescribeScheduleRequest,
    GetSystemInfoRequest,
    ListScheduleMatchingTimesRequest,
    ListSchedulesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "crates",
    "endure-core",
    "tests",
    "schedule_spec",
    "fixtures.json",
)

JAN = ("2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z")
YEAR = ("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z")
# America/New_York: 2024-03-10 02:00 EST -> 03:00 EDT, 2024-11-03 02:00 EDT -> 01:00 EST.
NY_SPRING = ("2024-03-09T00:00:00Z", "2024-03-12T00:00:00Z")
NY_FALL = ("2024-11-02T00:00:00Z", "2024-11-05T00:00:00Z")
# Europe/London: 2024-03-31 01:00 GMT -> 02:00 BST, 2024-10-27 02:00 BST -> 01:00 GMT.
LON_SPRING = ("2024-03-30T00:00:00Z", "2024-04-02T00:00:00Z")
LON_FALL = ("2024-10-26T00:00:00Z", "2024-10-29T00:00:00Z")


def cal(**kw):
    return kw


def rng(start, end=None, step=None):
    r = {"start": start}
    if end is not None:
        r["end"] = end
    if step is not None:
        r["step"] = step
    return r


def tzif(types, transitions):
    """A TZif (version 2) file: `types` is [(utc offset seconds, is dst, abbreviation)],
    `transitions` is [(unix seconds, type index)]; no footer rule."""
    import struct

    chars = b""
    idx = []
    for _, _, abbr in types:
        idx.append(len(chars))
        chars += abbr.encode() + b"\0"

    def block(time_fmt):
        counts = struct.pack(">6l", 0, 0, 0, len(transitions), len(types), len(chars))
        body = b"".join(struct.pack(time_fmt, t) for t, _ in transitions)
        body += bytes(i for _, i in transitions)
        body += b"".join(struct.pack(">lBB", off, dst, i) for (off, dst, _), i in zip(types, idx))
        return b"TZif2" + b"\0" * 15 + counts + body + chars

    return block(">l") + block(">q") + b"\n\n"


CUSTOM_TZ = base64.b64encode(
    tzif([(3600, 0, "AAA"), (10800, 1, "BBB")], [(1717200000, 1), (1725148800, 0)])
).decode()


# (name, spec as protobuf JSON, [windows])
CASES = [
    # --- intervals ------------------------------------------------------------------------
    ("interval_hourly", {"interval": [{"interval": "3600s"}]}, [("2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z")]),
    ("interval_phase", {"interval": [{"interval": "3600s", "phase": "900s"}]}, [("2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z")]),
    ("interval_odd_phase", {"interval": [{"interval": "5400s", "phase": "1234s"}]}, [JAN]),
    ("interval_two", {"interval": [{"interval": "7200s"}, {"interval": "10800s", "phase": "1800s"}]}, [JAN]),
    ("interval_days_ignore_tz", {"interval": [{"interval": "86400s", "phase": "3600s"}], "timezoneName": "America/New_York"}, [NY_SPRING, NY_FALL]),
    ("interval_fractional", {"interval": [{"interval": "1.500s", "phase": "0.700s"}]}, [("2024-01-01T00:00:00Z", "2024-01-01T00:00:05Z")]),
    ("interval_one_second_capped", {"interval": [{"interval": "1s"}]}, [("2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z")]),
    ("interval_window_subsecond", {"interval": [{"interval": "10s"}]}, [("2024-01-01T00:00:09.999Z", "2024-01-01T00:00:30.5Z"), ("2024-01-01T00:00:10Z", "2024-01-01T00:00:30Z")]),
    ("interval_near_2100", {"interval": [{"interval": "86400s"}]}, [("2100-12-29T00:00:00Z", "2101-01-03T00:00:00Z")]),
    ("interval_err_zero", {"interval": [{"interval": "0s"}]}, []),
    ("interval_err_missing", {"interval": [{}]}, []),
    ("interval_err_subsecond", {"interval": [{"interval": "0.5s"}]}, []),
    ("interval_err_phase_equal", {"interval": [{"interval": "60s", "phase": "60s"}]}, []),
    ("interval_err_phase_negative", {"interval": [{"interval": "60s", "phase": "-1s"}]}, []),
    # --- structured calendars -------------------------------------------------------------
    ("structured_every_field", {"structuredCalendar": [cal(
        second=[rng(0, 30, 15)], minute=[rng(5)], hour=[rng(9, 17, 4)], dayOfMonth=[rng(1), rng(15)],
        month=[rng(1, 6, 2)], year=[rng(2024)], dayOfWeek=[rng(1, 5)], comment="every field")]}, [YEAR]),
    ("structured_empty", {"structuredCalendar": [{}]}, [JAN]),
    ("structured_only_second", {"structuredCalendar": [cal(second=[rng(30)], minute=[rng(0, 59, 20)], hour=[rng(0, 23)], dayOfMonth=[rng(1, 31)], month=[rng(1, 12)], dayOfWeek=[rng(0, 6)])]}, [("2024-01-01T00:00:00Z", "2024-01-01T03:00:00Z")]),
    ("structured_end_zero_single", {"structuredCalendar": [cal(second=[rng(0)], minute=[rng(0)], hour=[rng(5, 0, 0)], dayOfMonth=[rng(1, 31)], month=[rng(1, 12)], dayOfWeek=[rng(0, 6)])]}, [JAN]),
    ("structured_step_big", {"structuredCalendar": [cal(second=[rng(0)], minute=[rng(0)], hour=[rng(0, 23, 7)], dayOfMonth=[rng(1, 31, 10)], month=[rng(1, 12)], dayOfWeek=[rng(0, 6)])]}, [("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")]),
    ("structured_year_range", {"structuredCalendar": [cal(second=[rng(0)], minute=[rng(0)], hour=[rng(0)], dayOfMonth=[rng(29)], month=[rng(2)], year=[rng(2024, 2100, 4)], dayOfWeek=[rng(0, 6)])]}, [("2023-01-01T00:00:00Z", "2037-01-01T00:00:00Z")]),
    ("structured_no_year_feb29", {"structuredCalendar": [cal(second=[rng(0)], minute=[rng(0)], hour=[rng(12)], dayOfMonth=[rng(29)], month=[rng(2)], dayOfWeek=[rng(0, 6)])]}, [("2023-01-01T00:00:00Z", "2033-01-01T00:00:00Z")]),
    ("structured_two_calendars", {"structuredCalendar": [
        cal(second=[rng(0)], minute=[rng(0)], hour=[rng(8)], dayOfMonth=[rng(1, 31)], month=[rng(1, 12)], dayOfWeek=[rng(1, 5)]),
        cal(second=[rng(0)], minute=[rng(30)], hour=[rng(10)], dayOfMonth=[rng(1, 31)], month=[rng(1, 12)], dayOfWeek=[rng(0), rng(6)]),
    ]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("structured_err_second_60", {"structuredCalendar": [cal(second=[rng(60)])]}, []),
    ("structured_err_many", {"structuredCalendar": [cal(hour=[rng(24)], month=[rng(0)], dayOfMonth=[rng(3, 2)], dayOfWeek=[rng(7)], minute=[rng(0, 59, -1)])]}, []),
    ("structured_err_year", {"structuredCalendar": [cal(year=[rng(1999)])]}, []),
    ("structured_err_year_end", {"structuredCalendar": [cal(year=[rng(2024, 2101)])]}, []),
    ("structured_err_comment", {"structuredCalendar": [cal(comment="x" * 201)]}, []),
    ("structured_comment_200", {"structuredCalendar": [cal(second=[rng(0)], minute=[rng(0)], hour=[rng(0)], dayOfMonth=[rng(1)], month=[rng(1, 12)], dayOfWeek=[rng(0, 6)], comment="y" * 200)]}, [YEAR]),
    # --- string calendars -------------------------------------------------------------------
    ("calendar_default", {"calendar": [{}]}, [JAN]),
    ("calendar_names", {"calendar": [{"minute": "30", "hour": "9", "month": "jan-MAR", "dayOfWeek": "MON-fri", "comment": "weekday mornings"}]}, [("2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z"), ("2024-03-28T00:00:00Z", "2024-04-03T00:00:00Z")]),
    ("calendar_long_names", {"calendar": [{"hour": "12", "month": "February,septem", "dayOfWeek": "tu,thursday", "dayOfMonth": "1-14"}]}, [("2024-01-01T00:00:00Z", "2024-10-01T00:00:00Z")]),
    ("calendar_sunday_7", {"calendar": [{"hour": "6", "dayOfWeek": "7"}]}, [JAN, ("2024-01-06T00:00:00Z", "2024-01-22T00:00:00Z")]),
    ("calendar_dow_3_7", {"calendar": [{"hour": "6", "dayOfWeek": "3-7"}]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("calendar_dow_1_7_step2", {"calendar": [{"hour": "6", "dayOfWeek": "1-7/2"}]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("calendar_dow_0_7", {"calendar": [{"hour": "6", "dayOfWeek": "0-7"}]}, [("2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z")]),
    ("calendar_dow_3_7_step3", {"calendar": [{"hour": "6", "dayOfWeek": "3-7/3"}]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("calendar_dow_sat_sun_names", {"calendar": [{"hour": "6", "dayOfWeek": "sat,su"}]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("calendar_steps", {"calendar": [{"second": "*/20", "minute": "5/20", "hour": "1-3"}]}, [("2024-01-01T00:00:00Z", "2024-01-01T04:00:00Z")]),
    ("calendar_lists_spaces", {"calendar": [{"minute": " 1,2 , 3", "hour": " 4 "}]}, [JAN]),
    ("calendar_star_everything", {"calendar": [{"second": "*", "minute": "*", "hour": "*", "dayOfMonth": "*", "month": "*", "dayOfWeek": "*", "year": "*"}]}, [("2024-01-01T00:00:00Z", "2024-01-01T00:00:30Z")]),
    ("calendar_year", {"calendar": [{"hour": "0", "dayOfMonth": "1", "month": "1", "year": "2024-2030/3,2031"}]}, [("2020-01-01T00:00:00Z", "2040-01-01T00:00:00Z")]),
    ("calendar_dom_31", {"calendar": [{"hour": "0", "dayOfMonth": "31"}]}, [YEAR]),
    ("calendar_dom_and_dow", {"calendar": [{"hour": "0", "dayOfMonth": "13", "dayOfWeek": "fri"}]}, [("2024-01-01T00:00:00Z", "2027-01-01T00:00:00Z")]),
    ("calendar_err_hour_25", {"calendar": [{"hour": "25"}]}, []),
    ("calendar_err_dashes", {"calendar": [{"minute": "1-2-3"}]}, []),
    ("calendar_err_slashes", {"calendar": [{"minute": "1/2/3"}]}, []),
    ("calendar_err_step_zero", {"calendar": [{"minute": "*/0"}]}, []),
    ("calendar_err_step_text", {"calendar": [{"minute": "*/x"}]}, []),
    ("calendar_err_words", {"calendar": [{"minute": "abc", "dayOfWeek": "x", "month": "ja"}]}, []),
    ("calendar_err_range_reversed", {"calendar": [{"hour": "5-3"}]}, []),
    ("calendar_err_year_low", {"calendar": [{"year": "1999"}]}, []),
    ("calendar_err_dow_8", {"calendar": [{"dayOfWeek": "8"}]}, []),
    ("calendar_err_negative", {"calendar": [{"minute": "-5"}]}, []),
    ("calendar_err_two_fields", {"calendar": [{"second": "61", "dayOfMonth": "0"}]}, []),
    ("calendar_err_second_of_two", {"calendar": [{"hour": "1"}, {"hour": "24"}]}, []),
    # --- cron strings ---------------------------------------------------------------------
    ("cron_5_fields", {"cronString": ["0 12 * * MON-FRI"]}, [("2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z")]),
    ("cron_6_fields_year", {"cronString": ["30 9 1 * * 2025"]}, [("2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z")]),
    ("cron_7_fields_second", {"cronString": ["15,45 30 9 * * * *"]}, [JAN]),
    ("cron_steps_ranges", {"cronString": ["*/15 8-10 * * *"]}, [JAN]),
    ("cron_month_names", {"cronString": ["0 0 1 jan,jul *"]}, [("2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z")]),
    ("cron_every", {"cronString": ["@every 90m"]}, [JAN]),
    ("cron_every_phase", {"cronString": ["@every 1h/15m"]}, [("2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z")]),
    ("cron_every_days", {"cronString": ["@every 2d/1d"]}, [("2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z")]),
    ("cron_hourly", {"cronString": ["@hourly"]}, [("2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z")]),
    ("cron_daily", {"cronString": ["@daily"]}, [("2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")]),
    ("cron_midnight", {"cronString": ["@midnight"]}, [("2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")]),
    ("cron_weekly", {"cronString": ["@weekly"]}, [("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")]),
    ("cron_monthly", {"cronString": ["@monthly"]}, [YEAR]),
    ("cron_yearly", {"cronString": ["@yearly"]}, [("2024-01-01T00:00:00Z", "2027-01-01T00:00:00Z")]),
    ("cron_annually", {"cronString": ["@annually"]}, [("2024-01-01T00:00:00Z", "2027-01-01T00:00:00Z")]),
    ("cron_cron_tz", {"cronString": ["CRON_TZ=America/New_York 0 9 * * *"]}, [JAN, NY_SPRING]),
    ("cron_tz_prefix", {"cronString": ["TZ=Europe/London 30 1 * * *"]}, [LON_SPRING, LON_FALL]),
    ("cron_tz_same_as_spec", {"cronString": ["CRON_TZ=Asia/Tokyo 0 9 * * *"], "timezoneName": "Asia/Tokyo"}, [JAN]),
    ("cron_tz_empty_keeps_spec", {"cronString": ["CRON_TZ= 0 9 * * *"], "timezoneName": "Asia/Tokyo"}, [JAN]),
    ("cron_two_same_tz", {"cronString": ["TZ=Asia/Tokyo 0 9 * * *", "CRON_TZ=Asia/Tokyo 0 18 * * *"]}, [JAN]),
    ("cron_comment", {"cronString": ["0 9 * * * # morning run"]}, [JAN]),
    ("cron_hash_dow", {"cronString": ["0 9 * * 1#2"]}, [("2024-01-01T00:00:00Z", "2024-01-20T00:00:00Z")]),
    ("cron_padded", {"cronString": ["  0   9  * *   *  "]}, [JAN]),
    ("cron_and_every_and_calendar", {"cronString": ["0 */6 * * *", "@every 4h"], "calendar": [{"hour": "1", "minute": "1"}], "interval": [{"interval": "86400s", "phase": "300s"}]}, [JAN]),
    ("cron_sunday_7", {"cronString": ["0 6 * * 5-7"]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("cron_err_4_fields", {"cronString": ["0 9 * *"]}, []),
    ("cron_err_8_fields", {"cronString": ["0 0 9 * * * * *"]}, []),
    ("cron_err_L", {"cronString": ["0 9 L * *"]}, []),
    ("cron_err_question", {"cronString": ["0 9 ? * *"]}, []),
    ("cron_err_W", {"cronString": ["0 9 15W * *"]}, []),
    ("cron_err_every_missing", {"cronString": ["@every"]}, []),
    ("cron_err_every_bad", {"cronString": ["@every abc"]}, []),
    ("cron_err_every_zero", {"cronString": ["@every 0s"]}, []),
    ("cron_err_every_bad_phase", {"cronString": ["@every 1h/x"]}, []),
    ("cron_err_every_phase_big", {"cronString": ["@every 1h/2h"]}, []),
    ("cron_err_reboot", {"cronString": ["@reboot"]}, []),
    ("cron_err_tz_only", {"cronString": ["CRON_TZ=America/New_York"]}, []),
    ("cron_err_tz_conflict_strings", {"cronString": ["CRON_TZ=America/New_York 0 9 * * *", "CRON_TZ=Europe/London 0 9 * * *"]}, []),
    ("cron_err_tz_one_missing", {"cronString": ["CRON_TZ=America/New_York 0 9 * * *", "0 10 * * *"]}, []),
    ("cron_err_tz_conflict_spec", {"cronString": ["CRON_TZ=America/New_York 0 9 * * *"], "timezoneName": "Europe/London"}, []),
    ("cron_err_bad_tz", {"cronString": ["CRON_TZ=Mars/Olympus 0 9 * * *"]}, []),
    ("cron_err_empty", {"cronString": [""]}, []),
    ("cron_err_hour", {"cronString": ["0 24 * * *"]}, []),
    # --- time zones -----------------------------------------------------------------------
    ("tz_ny_0230_gap", {"calendar": [{"hour": "2", "minute": "30"}], "timezoneName": "America/New_York"}, [NY_SPRING, NY_FALL]),
    ("tz_ny_0130_repeat", {"calendar": [{"hour": "1", "minute": "30"}], "timezoneName": "America/New_York"}, [NY_SPRING, NY_FALL]),
    ("tz_ny_hourly", {"calendar": [{"hour": "*", "minute": "30"}], "timezoneName": "America/New_York"}, [("2024-03-10T04:00:00Z", "2024-03-10T10:00:00Z"), ("2024-11-03T03:00:00Z", "2024-11-03T09:00:00Z")]),
    ("tz_ny_quarter_hours", {"calendar": [{"hour": "0-3", "minute": "*/15"}], "timezoneName": "America/New_York"}, [("2024-11-03T00:00:00Z", "2024-11-04T00:00:00Z"), ("2024-03-10T00:00:00Z", "2024-03-11T00:00:00Z")]),
    ("tz_ny_midnight", {"calendar": [{}], "timezoneName": "America/New_York"}, [NY_SPRING, NY_FALL]),
    ("tz_london_0130", {"calendar": [{"hour": "1", "minute": "30"}], "timezoneName": "Europe/London"}, [LON_SPRING, LON_FALL]),
    ("tz_london_0030", {"calendar": [{"hour": "0", "minute": "30"}], "timezoneName": "Europe/London"}, [LON_SPRING, LON_FALL]),
    ("tz_london_hourly", {"calendar": [{"hour": "*", "minute": "15"}], "timezoneName": "Europe/London"}, [("2024-03-30T22:00:00Z", "2024-03-31T04:00:00Z"), ("2024-10-26T22:00:00Z", "2024-10-27T04:00:00Z")]),
    ("tz_london_hourly_start_in_repeat", {"calendar": [{"hour": "*", "minute": "15,45"}], "timezoneName": "Europe/London"}, [("2024-10-27T01:20:00Z", "2024-10-27T03:00:00Z"), ("2024-10-27T00:20:00Z", "2024-10-27T03:00:00Z")]),
    ("tz_ny_start_in_repeat", {"calendar": [{"hour": "*", "minute": "15,45"}], "timezoneName": "America/New_York"}, [("2024-11-03T06:20:00Z", "2024-11-03T08:00:00Z"), ("2024-11-03T05:20:00Z", "2024-11-03T08:00:00Z")]),
    ("tz_lord_howe", {"calendar": [{"hour": "1-2", "minute": "0,45"}], "timezoneName": "Australia/Lord_Howe"}, [("2024-04-06T12:00:00Z", "2024-04-07T18:00:00Z"), ("2024-10-05T12:00:00Z", "2024-10-06T18:00:00Z")]),
    ("tz_santiago_midnight", {"calendar": [{"hour": "0"}], "timezoneName": "America/Santiago"}, [("2024-09-06T00:00:00Z", "2024-09-10T00:00:00Z"), ("2024-04-05T00:00:00Z", "2024-04-09T00:00:00Z")]),
    ("tz_kolkata", {"calendar": [{"hour": "9", "minute": "0"}], "timezoneName": "Asia/Kolkata"}, [JAN]),
    ("tz_utc_name", {"calendar": [{"hour": "9"}], "timezoneName": "UTC"}, [JAN]),
    ("tz_etc_gmt_plus5", {"calendar": [{"hour": "9"}], "timezoneName": "Etc/GMT+5"}, [JAN]),
    ("tz_us_eastern_link", {"calendar": [{"hour": "9"}], "timezoneName": "US/Eastern"}, [JAN]),
    ("tz_local", {"calendar": [{"hour": "9"}], "timezoneName": "Local"}, [JAN]),
    ("tz_err_unknown", {"calendar": [{"hour": "9"}], "timezoneName": "Not/AZone"}, []),
    ("tz_err_lowercase", {"calendar": [{"hour": "9"}], "timezoneName": "america/new_york"}, []),
    ("tz_err_dotdot", {"calendar": [{"hour": "9"}], "timezoneName": "../etc/passwd"}, []),
    ("tz_err_bad_data", {"calendar": [{"hour": "9"}], "timezoneName": "Custom", "timezoneData": base64.b64encode(b"not tzif").decode()}, []),
    ("tz_interval_and_calendar", {"calendar": [{"hour": "3"}], "interval": [{"interval": "43200s"}], "timezoneName": "Asia/Tokyo"}, [JAN]),
    # --- exclusions -----------------------------------------------------------------------
    ("exclude_structured_hours", {"interval": [{"interval": "3600s"}], "excludeStructuredCalendar": [cal(second=[rng(0, 59)], minute=[rng(0, 59)], hour=[rng(12, 13)], dayOfMonth=[rng(1, 31)], month=[rng(1, 12)], dayOfWeek=[rng(0, 6)])]}, [("2024-01-01T00:00:00Z", "2024-01-01T18:00:00Z")]),
    ("exclude_calendar_weekend", {"cronString": ["0 9 * * *"], "excludeCalendar": [{"second": "*", "minute": "*", "hour": "*", "dayOfWeek": "sat,sun"}]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("exclude_calendar_defaults_midnight", {"interval": [{"interval": "43200s"}], "excludeCalendar": [{}]}, [("2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z")]),
    ("exclude_everything", {"interval": [{"interval": "3600s"}], "excludeCalendar": [{"second": "*", "minute": "*", "hour": "*"}]}, [JAN]),
    ("exclude_tz", {"calendar": [{"hour": "*"}], "excludeCalendar": [{"second": "*", "minute": "*", "hour": "9-17"}], "timezoneName": "America/New_York"}, [("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")]),
    ("exclude_two", {"interval": [{"interval": "1800s"}], "excludeCalendar": [{"second": "*", "minute": "0", "hour": "*"}, {"second": "*", "minute": "*", "hour": "0-5"}]}, [("2024-01-01T00:00:00Z", "2024-01-01T09:00:00Z")]),
    ("exclude_err", {"interval": [{"interval": "3600s"}], "excludeCalendar": [{"hour": "99"}]}, []),
    ("exclude_structured_err_ignored", {"interval": [{"interval": "3600s"}], "excludeStructuredCalendar": [cal(hour=[rng(99)])]}, [("2024-01-01T00:00:00Z", "2024-01-01T03:00:00Z")]),
    # --- start and end --------------------------------------------------------------------
    ("start_end", {"interval": [{"interval": "3600s"}], "startTime": "2024-01-01T03:30:00Z", "endTime": "2024-01-01T08:00:00Z"}, [JAN]),
    ("start_inclusive", {"interval": [{"interval": "3600s"}], "startTime": "2024-01-01T03:00:00Z"}, [("2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z")]),
    ("start_fractional", {"interval": [{"interval": "3600s"}], "startTime": "2024-01-01T03:00:00.500Z"}, [("2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z")]),
    ("end_inclusive", {"cronString": ["0 * * * *"], "endTime": "2024-01-01T05:00:00Z"}, [JAN]),
    ("end_before_start", {"interval": [{"interval": "3600s"}], "startTime": "2024-01-02T00:00:00Z", "endTime": "2024-01-01T00:00:00Z"}, [JAN]),
    ("start_only_calendar", {"calendar": [{"hour": "12"}], "startTime": "2024-01-05T12:00:00Z"}, [("2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z")]),
    # --- jitter ---------------------------------------------------------------------------
    ("jitter_30m", {"interval": [{"interval": "3600s"}], "jitter": "1800s"}, [("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")]),
    ("jitter_capped_by_gap", {"interval": [{"interval": "3600s"}], "jitter": "7200s"}, [("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")]),
    ("jitter_cron", {"cronString": ["0 9 * * MON-FRI"], "jitter": "600s"}, [("2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z")]),
    ("jitter_with_end", {"interval": [{"interval": "3600s"}], "jitter": "3000s", "endTime": "2024-01-01T05:00:00Z"}, [JAN]),
    ("jitter_last_time", {"calendar": [{"hour": "12", "dayOfMonth": "1", "month": "1", "year": "2024"}], "jitter": "86400s"}, [YEAR]),
    ("jitter_subms", {"interval": [{"interval": "60s"}], "jitter": "0.000500s"}, [("2024-01-01T00:00:00Z", "2024-01-01T00:10:00Z")]),
    # --- more edges ---------------------------------------------------------------------
    ("calendar_dow_1_7", {"calendar": [{"hour": "6", "dayOfWeek": "1-7"}]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("calendar_dow_star_step", {"calendar": [{"hour": "6", "dayOfWeek": "*/2"}]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("calendar_dow_sun_sat", {"calendar": [{"hour": "6", "dayOfWeek": "sun-sat"}]}, [("2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z")]),
    ("calendar_err_dow_mon_sun", {"calendar": [{"hour": "6", "dayOfWeek": "mon-sun"}]}, []),
    ("calendar_err_month_dec_jan", {"calendar": [{"month": "dec-jan"}]}, []),
    ("calendar_step_past_max", {"calendar": [{"minute": "*/100", "hour": "*"}]}, [JAN]),
    ("calendar_plus_sign", {"calendar": [{"minute": "+5", "hour": "+1"}]}, [JAN]),
    ("calendar_err_step_huge", {"calendar": [{"minute": "*/99999999999999999999"}]}, []),
    ("cron_impossible_date", {"cronString": ["0 0 31 2 *"]}, [("2024-01-01T00:00:00Z", "2030-01-01T00:00:00Z")]),
    ("cron_dow_1_7", {"cronString": ["0 12 * * 1-7"]}, [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z")]),
    ("cron_7_fields_every_10s", {"cronString": ["*/10 * * * * * *"]}, [("2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z")]),
    ("cron_year_to_2100", {"cronString": ["0 0 1 1 * 2099-2100"]}, [("2098-06-01T00:00:00Z", "2101-06-01T00:00:00Z")]),
    ("cron_every_days_fraction", {"cronString": ["@every 1.5d"]}, [("2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z")]),
    ("cron_every_day_hours_phase", {"cronString": ["@every 1d12h/30m"]}, [("2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z")]),
    ("cron_every_tz_ignored", {"cronString": ["CRON_TZ=Asia/Tokyo @every 6h"]}, [JAN]),
    ("cron_err_every_no_unit", {"cronString": ["@every 10"]}, []),
    ("cron_err_every_unknown_unit", {"cronString": ["@every 1x"]}, []),
    ("cron_err_every_negative", {"cronString": ["@every -1h"]}, []),
    ("cron_err_every_two_spaces", {"cronString": ["@every  1h"]}, []),
    ("cron_err_every_tz_mixed", {"cronString": ["CRON_TZ=Asia/Tokyo @every 6h", "CRON_TZ=Asia/Tokyo 0 9 * * *"]}, []),
    ("cron_err_dow_mon_sun", {"cronString": ["0 12 * * MON-SUN"]}, []),
    ("interval_huge", {"interval": [{"interval": "3153600000s"}]}, [("2024-01-01T00:00:00Z", "2101-01-01T00:00:00Z")]),
    ("jitter_negative", {"interval": [{"interval": "3600s"}], "jitter": "-60s"}, [("2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z")]),
    ("exclude_structured_cleaned", {"interval": [{"interval": "3600s"}], "excludeStructuredCalendar": [cal(second=[rng(0, 0, 0)], minute=[rng(0, 0, 0)], hour=[rng(5, 2, 0)], dayOfMonth=[rng(1, 31)], month=[rng(1, 12)], dayOfWeek=[rng(0, 6)])]}, [("2024-01-01T00:00:00Z", "2024-01-01T08:00:00Z")]),
    ("tz_data_custom", {"calendar": [{"hour": "0,23"}], "timezoneName": "Custom/Zone", "timezoneData": CUSTOM_TZ}, [("2024-05-30T00:00:00Z", "2024-06-03T00:00:00Z"), ("2024-08-30T00:00:00Z", "2024-09-03T00:00:00Z"), ("2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z")]),
    ("tz_err_data_with_cron_tz", {"cronString": ["CRON_TZ=Custom/Zone 0 9 * * *"], "timezoneName": "Custom/Zone", "timezoneData": CUSTOM_TZ}, []),
    # --- misc -----------------------------------------------------------------------------
    ("empty_spec", {}, [JAN]),
    ("everything_together", {
        "structuredCalendar": [cal(second=[rng(0)], minute=[rng(0)], hour=[rng(6)], dayOfMonth=[rng(1, 31)], month=[rng(1, 12)], dayOfWeek=[rng(0, 6)])],
        "cronString": ["TZ=Europe/Paris 0 18 * * *"],
        "calendar": [{"hour": "12", "comment": "noon"}],
        "interval": [{"interval": "28800s", "phase": "3600s"}],
        "excludeCalendar": [{"second": "*", "minute": "*", "hour": "*", "dayOfWeek": "sun"}],
        "startTime": "2024-01-02T00:00:00Z", "endTime": "2024-01-20T00:00:00Z", "jitter": "60s",
    }, [("2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z")]),
]


def spec_json(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def ts(s):
    t = Timestamp()
    t.FromJsonString(s)
    return t


def ts_ns(t):
    return t.seconds * 1_000_000_000 + t.nanos


async def record(address, only):
    client = await Client.connect(address)
    ws = client.workflow_service
    info = await ws.get_system_info(GetSystemInfoRequest())
    ns = await ws.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    namespace_id = ns.namespace_info.id
    run = uuid.uuid4().hex[:8]
    out = {
        "server_version": info.server_version,
        "namespace_id": namespace_id,
        "note": "recorded by scripts/record-schedule-spec-fixtures.py against the real dev server",
        "cases": [],
    }
    created = []
    for name, spec_dict, windows in CASES:
        if only and name not in only:
            continue
        spec = json_format.ParseDict(spec_dict, ScheduleSpec())
        schedule_id = f"spec-{name}-{run}"
        case = {
            "name": name,
            "spec": spec_json(spec),
            "spec_b64": base64.b64encode(spec.SerializeToString()).decode(),
            "schedule_id": schedule_id,
        }
        action = ScheduleAction(
            start_workflow=NewWorkflowExecutionInfo(
                workflow_id=f"wf-{name}",
                workflow_type=WorkflowType(name="Noop"),
                task_queue=TaskQueue(name="schedule-spec-fixtures"),
            )
        )
        schedule = Schedule(spec=spec, action=action, state=ScheduleState(paused=True))
        try:
            await ws.create_schedule(
                CreateScheduleRequest(
                    namespace="default",
                    schedule_id=schedule_id,
                    schedule=schedule,
                    request_id=str(uuid.uuid4()),
                )
            )
        except RPCError as e:
            case["error"] = {"code": e.status.name, "message": e.message}
            out["cases"].append(case)
            print(f"{name}: {e.status.name}: {e.message}", file=sys.stderr)
            continue
        created.append(schedule_id)
        desc = await ws.describe_schedule(
            DescribeScheduleRequest(namespace="default", schedule_id=schedule_id)
        )
        case["canonical"] = spec_json(desc.schedule.spec)
        case["canonical_b64"] = base64.b64encode(desc.schedule.spec.SerializeToString()).decode()
        case["windows"] = []
        for start, end in windows:
            resp = await ws.list_schedule_matching_times(
                ListScheduleMatchingTimesRequest(
                    namespace="default",
                    schedule_id=schedule_id,
                    start_time=ts(start),
                    end_time=ts(end),
                )
            )
            case["windows"].append(
                {
                    "start": start,
                    "end": end,
                    "start_ns": ts_ns(ts(start)),
                    "end_ns": ts_ns(ts(end)),
                    "times": [t.ToJsonString() for t in resp.start_time],
                    "times_ns": [ts_ns(t) for t in resp.start_time],
                }
            )
        out["cases"].append(case)
        print(f"{name}: ok", file=sys.stderr)

    # The spec of each schedule's ListSchedules entry (visibility is eventually consistent).
    wanted = set(created)
    listed = {}
    for _ in range(60):
        listed = {}
        token = b""
        while True:
            resp = await ws.list_schedules(
                ListSchedulesRequest(namespace="default", maximum_page_size=1000, next_page_token=token)
            )
            for entry in resp.schedules:
                if entry.schedule_id in wanted:
                    listed[entry.schedule_id] = entry.info.spec
            token = resp.next_page_token
            if not token:
                break
        if len(listed) == len(wanted):
            break
        await asyncio.sleep(1)
    for case in out["cases"]:
        spec = listed.get(case["schedule_id"])
        if spec is not None:
            case["list_spec"] = spec_json(spec)
            case["list_spec_b64"] = base64.b64encode(spec.SerializeToString()).decode()

    for schedule_id in created:
        await ws.delete_schedule(DeleteScheduleRequest(namespace="default", schedule_id=schedule_id))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="localhost:7233")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--only", nargs="*", help="record only these cases (prints, does not write)")
    args = parser.parse_args()
    out = asyncio.run(record(args.address, set(args.only or [])))
    if args.only:
        print(json.dumps(out, indent=1))
        return
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"wrote {len(out['cases'])} cases to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
