"""Command line: `python -m bot plan REQUEST.json`, `python -m bot check-config`, `python -m bot serve`,
`python -m bot export MEETING_ID`, `python -m bot new-area ID`, `python -m bot schema [--write]`.

Exit status: 0 success, 2 invalid input or configuration (one line per problem on stderr,
nothing on stdout), 1 an unexpected failure (reported in one line, never a traceback).
"""
from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .config_loader import ConfigError, config_dir, load_each_profile, load_profiles
from .core.plan import make_plan
from .core.request import RequestInvalid, parse_new_request

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

EXIT_INVALID = 2
log = logging.getLogger(__name__)


def _fail(problems: list[str]) -> int:
    for line in problems:
        print(line, file=sys.stderr)
    return EXIT_INVALID


def _read_request(source: str) -> object:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as e:
        raise RequestInvalid([f"request: cannot read {source!r} ({e.strerror})"]) from None
    except UnicodeDecodeError:
        raise RequestInvalid([f"request: {source!r} is not UTF-8 text"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RequestInvalid([f"request: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"]) from None


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        profiles = load_profiles(args.config)
    except ConfigError as e:
        return _fail(e.problems)
    try:
        # Today in UTC: a date more than a year old in the case reference is refused.
        request = parse_new_request(_read_request(args.request), profiles, datetime.now(timezone.utc).date())
    except RequestInvalid as e:
        return _fail(e.problems)
    plan = make_plan(request, profiles[request.area])
    json.dump(plan.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def check_areas(config: Path | None) -> tuple[dict, dict, list[str]]:
    """Profiles and their directories, or the problems of every one (file and path each)."""
    from .directory import DirectoryError, load_directories

    profiles, problems = load_each_profile(config)
    try:
        directories = load_directories(profiles, config)
    except DirectoryError as e:
        return profiles, {}, problems + e.problems
    return profiles, directories, problems


def _reach_summary(directory, bot_tenant: str | None) -> str:
    """How many of an area's contacts the bot can reach in Teams, and how the others are invited."""
    from collections import Counter

    from .core.reach import REACH_WORDS, reach_of

    if not directory.organisations:
        return ("no 'organisations' in the directory: every contact's organisation is taken to have the Teams "
                "app (see docs/new-area.md, The directory)")
    counts = Counter(reach_of(c.tenant_id, directory.has_app(c.tenant_id), bot_tenant=bot_tenant,
                              graph=bot_tenant is not None) for c in directory.contacts)
    return "reached by " + "; ".join(f"{REACH_WORDS[r].split(' (')[0]}: {n}" for r, n in counts.items())


def cmd_check_config(args: argparse.Namespace) -> int:
    from .schema import schema_path, stale_schemas

    profiles, directories, problems = check_areas(args.config)
    root = args.config or config_dir()
    if schema_path(root, "profile").is_file():  # a deployment's own config folder may carry no schema
        problems += [f"{path}: out of date with the profile model; run `python -m bot schema --write`"
                     for path in stale_schemas(root)]
    if problems:
        return _fail(problems)
    for profile in profiles.values():
        rules = len(profile.cited_rules())
        print(f"{profile.id}: ok ({rules} rules, {len(profile.documents)} documents cited, "
              f"{len(directories[profile.id].contacts)} directory contacts)")
    from .adapters.graph.errors import GraphConfigError
    from .adapters.graph.settings import GraphSettings
    try:
        graph = GraphSettings.from_env()
    except GraphConfigError as e:
        return _fail([str(e)])
    print("Microsoft Graph: " + (f"on (tenant {graph.tenant_id}, {graph.credential_kind})" if graph
                                 else "off (no STRATBOT_GRAPH_* set): Teams meeting links are added by hand"))
    if graph and "." in graph.tenant_id:
        print("Microsoft Graph: STRATBOT_GRAPH_TENANT_ID is a domain, so the bot cannot tell which contacts are in "
              "its tenant and installs its Teams app for nobody: set the tenant's id (a GUID)")
    for area, directory in directories.items():
        print(f"{area}: " + _reach_summary(directory, graph.tenant_id if graph else None))
    from .retention import retention_days
    try:
        print(f"Retention: {retention_days()} days after a meeting is closed, cancelled or withdrawn")
    except ValueError as e:
        return _fail([str(e)])
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .app import main as serve  # imported lazily: the plan CLI needs no web stack

    if args.config is not None:  # the service reads its settings from the environment
        os.environ["STRATBOT_CONFIG_DIR"] = str(args.config)
    _, _, problems = check_areas(args.config)
    if problems:  # refuse to start on an area the bot could not invite for
        return _fail(problems)

    return serve()


def cmd_migrate(args: argparse.Namespace) -> int:
    from .adapters.db import migrate
    from .settings import Settings

    url = Settings.from_env().database_url
    revision = migrate.upgrade(url)
    print(f"database at revision {revision}")
    return 0


EXPORT_FORMATS = ("json", "csv", "timeline-csv")


def _operator() -> str:
    """Who runs the command: the operating-system account and the machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"{user}@{platform.node() or 'unknown host'}"


def _first_line(e: Exception) -> str:
    orig = getattr(e, "orig", None) or e
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _missing_sqlite(url_text: "str | URL") -> str | None:
    """A SQLite URL naming no file: say so (opening it would create an empty database)."""
    from sqlalchemy.engine import make_url

    from .adapters.db.engine import normalize_url

    url = normalize_url(make_url(url_text)) if isinstance(url_text, str) else url_text
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not url.database.startswith("file:") and not Path(url.database).expanduser().is_file():
        return f"no database at {url.database} (set DATABASE_URL)"
    return None


def cmd_export(args: argparse.Namespace) -> int:
    """The meeting's case record (bot/record.py) from $DATABASE_URL, to stdout or --output.
    Writes only the audit event of the export: it neither migrates nor creates a database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from .adapters.db.engine import normalize_url
    from .adapters.db.repository import Repository
    from .record import case_record, record_csv, timeline_csv
    from .settings import Settings

    url_text = Settings.from_env().database_url
    try:
        url = normalize_url(make_url(url_text))
    except ArgumentError:
        return _fail(["DATABASE_URL: not a database URL"])
    missing = _missing_sqlite(url)
    if missing:
        return _fail([missing])
    repo = Repository.from_url(url)
    try:
        try:
            meeting = repo.get_meeting(args.meeting_id) or repo.meeting_by_code(args.meeting_id)
            if meeting is None:
                return _fail([f"no meeting {args.meeting_id} (give the meeting code on its cards, or its id)"])
            record = case_record(meeting, repo.list_invitations(meeting.id), repo.list_events(meeting.id),
                                 exported_at=datetime.now(timezone.utc))
        except DBAPIError as e:
            print(f"error: cannot read the database: {_first_line(e)}", file=sys.stderr)
            return 1
        try:
            # Who took the record out of the bot, when, in which form: in the meeting's audit
            # log, before anything is written out (an export that cannot be recorded does not happen).
            by = _operator()
            repo.add_event(meeting.id, "exported", detail={"by": by, "format": args.format,
                                                           "to": "file" if args.output else "stdout"})
            log.info("case record of meeting %s exported (%s) by %s", meeting.id, args.format, by)
        except DBAPIError as e:
            print(f"error: cannot record the export in the audit log, so nothing was exported: {_first_line(e)}",
                  file=sys.stderr)
            return 1
    finally:
        repo.close()
    if args.format == "json":
        text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    else:
        text = record_csv(record) if args.format == "csv" else timeline_csv(record)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    # A byte order mark on CSV files, so Excel reads them as UTF-8 (not the ANSI code page).
    encoding = "utf-8" if args.format == "json" else "utf-8-sig"
    try:
        with open(args.output, "w", encoding=encoding, newline="") as f:
            f.write(text)
    except OSError as e:
        return _fail([f"cannot write {args.output} ({e.strerror})"])
    print(f"case record of meeting {meeting.id} written to {args.output}", file=sys.stderr)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete (--apply) or count (--dry-run) the meetings past the retention period in
    $DATABASE_URL; prints counts only."""
    from .retention import purge, retention_days
    from .settings import Settings

    try:
        days = retention_days()
    except ValueError as e:
        return _fail([str(e)])
    url = Settings.from_env().database_url
    missing = _missing_sqlite(url)
    if missing:
        return _fail([missing])
    report = purge(url, datetime.now(timezone.utc), days, apply=args.apply)
    print(report.text())
    return 0


def cmd_new_area(args: argparse.Namespace) -> int:
    from .new_area import AreaExists, write_new_area

    root = args.config or config_dir()
    try:
        written = write_new_area(root, args.area)
    except (AreaExists, ValueError) as e:
        return _fail([str(e)])
    for path in written:
        print(f"wrote {path}")
    print("fill in every TODO (docs/new-area.md), then run `python -m bot check-config`")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .schema import render, write_schemas

    if args.write:
        for path in write_schemas(args.config or config_dir()):
            print(f"wrote {path}")
    else:
        sys.stdout.write(render(args.kind))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Strategy-meeting bot")
    parser.add_argument("--config", type=Path, default=None,
                        help=f"folder of area profiles (default: $STRATBOT_CONFIG_DIR or {config_dir()})")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="print the plan for a request (JSON file, or - for stdin)")
    p.add_argument("request")
    p.set_defaults(func=cmd_plan)
    c = sub.add_parser("check-config", help="validate every area profile and its contact directory")
    c.set_defaults(func=cmd_check_config)
    n = sub.add_parser("new-area", help="write a commented skeleton profile and directory for a new area")
    n.add_argument("area", help="the area's id, e.g. somerset (lower case, hyphens)")
    n.set_defaults(func=cmd_new_area)
    j = sub.add_parser("schema", help="print a configuration file's JSON Schema, or --write them all under config/schema/")
    j.add_argument("kind", nargs="?", choices=("profile", "fragment", "directory"), default="profile")
    j.add_argument("--write", action="store_true", help="regenerate config/schema/*.schema.json from the models")
    j.set_defaults(func=cmd_schema)
    m = sub.add_parser("migrate", help="apply the database migrations ($DATABASE_URL, default SQLite)")
    m.set_defaults(func=cmd_migrate)
    x = sub.add_parser("export", help="export a meeting's case record ($DATABASE_URL): JSON or CSV")
    x.add_argument("meeting_id")
    x.add_argument("--format", choices=EXPORT_FORMATS, default="json",
                   help="json (default): the whole record; csv: one row per invitation; timeline-csv: the event log")
    x.add_argument("--output", type=Path, default=None, metavar="FILE", help="write to FILE instead of stdout (CSV with a UTF-8 BOM for Excel)")
    x.set_defaults(func=cmd_export)
    r = sub.add_parser("purge", help="delete meetings past the retention period ($STRATBOT_RETENTION_DAYS, default 90)")
    mode = r.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
    mode.add_argument("--apply", action="store_true", help="delete it, leaving anonymous counts in purged_meetings")
    r.set_defaults(func=cmd_purge)
    s = sub.add_parser("serve", help="run the bot's web service")
    s.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `python -m bot plan r.json | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    except Exception as e:  # the last line of defence: one clear line, never a traceback
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
