"""Time zone names as Chronos reads `scheduleTimeZone` (the web UI too, for a job's next run):
Java's `TimeZone.getTimeZone`, then Joda-Time's
`DateTimeZone.forTimeZone`, which maps Java's legacy three-letter ids to region zones. So `PST` is
America/Los_Angeles and `EST` is America/New_York with its daylight-saving time (Joda's map, not
java.time's ZoneId.SHORT_IDS, which makes EST, MST and HST fixed offsets). Any other name is an
IANA zone name, as before."""

from __future__ import annotations

# Joda-Time 2.x DateTimeZone.getConvertedId: the ids Chronos resolves before the IANA database
JAVA_ZONE_IDS: dict[str, str] = {
    "GMT": "UTC",
    "WET": "WET",
    "CET": "CET",
    "MET": "CET",
    "ECT": "CET",
    "EET": "EET",
    "MIT": "Pacific/Apia",
    "HST": "Pacific/Honolulu",
    "AST": "America/Anchorage",
    "PST": "America/Los_Angeles",
    "MST": "America/Denver",
    "PNT": "America/Phoenix",
    "CST": "America/Chicago",
    "EST": "America/New_York",
    "IET": "America/Indiana/Indianapolis",
    "PRT": "America/Puerto_Rico",
    "CNT": "America/St_Johns",
    "AGT": "America/Argentina/Buenos_Aires",
    "BET": "America/Sao_Paulo",
    "ART": "Africa/Cairo",
    "CAT": "Africa/Harare",
    "EAT": "Africa/Addis_Ababa",
    "NET": "Asia/Yerevan",
    "PLT": "Asia/Karachi",
    "IST": "Asia/Kolkata",
    "BST": "Asia/Dhaka",
    "VST": "Asia/Ho_Chi_Minh",
    "CTT": "Asia/Shanghai",
    "JST": "Asia/Tokyo",
    "ACT": "Australia/Darwin",
    "AET": "Australia/Sydney",
    "SST": "Pacific/Guadalcanal",
    "NST": "Pacific/Auckland",
}


def zone_name(schedule_time_zone: str) -> str:
    """The IANA name for a job's `scheduleTimeZone` ('' stays '': UTC). Java's ids are
    case-sensitive, so `pst` is not `PST` (and is refused as an unknown zone)."""
    return JAVA_ZONE_IDS.get(schedule_time_zone, schedule_time_zone)
