"""Command line: `python -m bot plan REQUEST.json`, `python -m bot check-config`, `python -m bot serve`.

Exit status: 0 success, 2 invalid input or configuration (one line per problem on stderr,
nothing on stdout), 1 an unexpected failure (reported in one line, never a traceback).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .config_loader import ConfigError, config_dir, load_profiles
from .core.plan import make_plan
from .core.request import RequestInvalid, parse_request

EXIT_INVALID = 2


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
        request = parse_request(_read_request(args.request), set(profiles))
    except RequestInvalid as e:
        return _fail(e.problems)
    plan = make_plan(request, profiles[request.area])
    json.dump(plan.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        profiles = load_profiles(args.config)
    except ConfigError as e:
        return _fail(e.problems)
    for profile in profiles.values():
        rules = len(profile.cited_rules())
        print(f"{profile.id}: ok ({rules} rules, {len(profile.documents)} documents cited)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .app import main as serve  # imported lazily: the plan CLI needs no web stack

    return serve()


def cmd_migrate(args: argparse.Namespace) -> int:
    from .adapters.db import migrate
    from .settings import Settings

    url = Settings.from_env().database_url
    revision = migrate.upgrade(url)
    print(f"database at revision {revision}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Strategy-meeting bot")
    parser.add_argument("--config", type=Path, default=None,
                        help=f"folder of area profiles (default: $STRATBOT_CONFIG_DIR or {config_dir()})")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="print the plan for a request (JSON file, or - for stdin)")
    p.add_argument("request")
    p.set_defaults(func=cmd_plan)
    c = sub.add_parser("check-config", help="validate every area profile")
    c.set_defaults(func=cmd_check_config)
    m = sub.add_parser("migrate", help="apply the database migrations ($DATABASE_URL, default SQLite)")
    m.set_defaults(func=cmd_migrate)
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
