"""Build the Teams app package: the zip a Teams administrator (or a developer, for sideloading)
uploads to install the bot.

    python manifest/build.py [--app-id GUID] [--version X.Y.Z] [--out PATH]

The app id is the bot's Microsoft App ID: `--app-id`, or else the environment variable
`MicrosoftAppId` that the bot itself reads. It is both the Teams app's `id` and the bot's
`botId`. Without one, or with one that is not a GUID, the build stops with exit code 2 and one
line on stderr. The package (manifest.json, color.png, outline.png at the zip's root) is
written to build/strategy-meetings-teams-app.zip unless `--out` says otherwise, and its path
printed. Pure standard library; the zip is reproducible (fixed timestamps).

What the manifest (manifest/manifest.template.json) says, and why:
- personal scope only: the requester, the chair and each invited agency use the bot in a 1:1
  chat (invitations are proactive 1:1 cards); case details must not land in a channel or a
  group chat;
- one command, `new` (request a strategy meeting); not notification-only; no files;
- validDomains is empty: the bot opens no web content inside Teams (a meeting link opens
  Teams itself);
- webApplicationInfo names the bot's app registration (id = the app id, resource
  api://botid-<app id>): Teams requires it of an app that installs itself for people through
  Microsoft Graph (TeamsAppInstallation.ReadWriteSelfForUser.All), which the bot does before
  the first invitation to someone in its own tenant (bot/service/reach.py).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = HERE / "manifest.template.json"
ICONS = {"color.png": (192, 192), "outline.png": (32, 32)}
DEFAULT_OUT = ROOT / "build" / "strategy-meetings-teams-app.zip"
DEFAULT_VERSION = "1.0.0"
APP_ID_ENV = "MicrosoftAppId"
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
VERSION = re.compile(r"^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)$")
PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """A reason to refuse the build: one line for stderr."""


def png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def app_id_from(arg: str | None, env: dict[str, str]) -> str:
    app_id = (arg if arg is not None else env.get(APP_ID_ENV, "")).strip()
    if not app_id:
        raise BuildError(f"no app id: pass --app-id or set {APP_ID_ENV} (the bot's Microsoft App ID, a GUID)")
    if not GUID.match(app_id):
        raise BuildError(f"app id {app_id!r} is not a GUID (expected 8-4-4-4-12 hexadecimal digits, "
                         "e.g. 00000000-0000-0000-0000-000000000000)")
    return app_id


def manifest_json(app_id: str, version: str, template: Path = TEMPLATE) -> str:
    """The template filled in, checked to be JSON with no placeholder left."""
    if not VERSION.match(version):
        raise BuildError(f"version {version!r} is not X.Y.Z (three whole numbers, e.g. 1.0.0)")
    values = {"MICROSOFT_APP_ID": app_id, "VERSION": version}
    text = template.read_text(encoding="utf-8")
    unknown = sorted(set(PLACEHOLDER.findall(text)) - set(values))
    if unknown:
        raise BuildError(f"{template.name}: unknown placeholder(s) {', '.join(unknown)}")
    filled = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    try:
        json.loads(filled)
    except json.JSONDecodeError as e:
        raise BuildError(f"{template.name}: not valid JSON once filled in: {e.msg} at line {e.lineno}") from None
    return filled


def icons() -> dict[str, bytes]:
    out = {}
    for name, size in ICONS.items():
        path = HERE / name
        try:
            data = path.read_bytes()
        except OSError:
            raise BuildError(f"{path} is missing: run python manifest/icons.py") from None
        try:
            actual = png_size(data)
        except ValueError:
            raise BuildError(f"{path} is not a PNG file: run python manifest/icons.py") from None
        if actual != size:
            raise BuildError(f"{path} is {actual[0]}x{actual[1]}, Teams needs {size[0]}x{size[1]}: run python manifest/icons.py")
        out[name] = data
    return out


def build(app_id: str, version: str, out: Path) -> Path:
    files = {"manifest.json": manifest_json(app_id, version).encode("utf-8"), **icons()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Teams app package (manifest.json and icons, zipped).")
    parser.add_argument("--app-id", help=f"the bot's Microsoft App ID (default: ${APP_ID_ENV})")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"the app version, X.Y.Z (default {DEFAULT_VERSION})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the zip (default build/strategy-meetings-teams-app.zip)")
    args = parser.parse_args(argv)
    try:
        app_id = app_id_from(args.app_id, dict(os.environ) if env is None else env)
        path = build(app_id, args.version, args.out)
    except BuildError as e:
        print(f"build.py: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
