"""The `vitrine3d` command: run the server, manage API keys, convert a file offline.

    vitrine3d serve [--host 127.0.0.1] [--port 8000]
    vitrine3d keys create [--tenant default]       the new key alone on stdout
    vitrine3d keys revoke KEY
    vitrine3d convert INPUT -o OUTDIR [--unit cm] [--dimensions 200x90x85cm] [--max-triangles N] [--placement floor]

`convert` runs processing.pipeline.convert in this process (no server, no database) and prints
a before/after table from the report; a file the pipeline refuses exits 1 with
`error CODE: message`. Configuration comes from the same VITRINE_* environment as the server.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path

from processing.settings import Dimensions, Settings

from .schemas import TENANT_PATTERN
from .settings import AppSettings

OUTPUT_NAMES = {"glb": "model.glb", "glb_web": "model.web.glb", "usdz": "model.usdz", "report": "report.json"}
STAT_ROWS = ("triangles", "vertices", "meshes", "instances", "materials", "textures")
_DIMENSIONS = re.compile(r"^(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)(mm|cm|m|in|ft)$")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitrine3d", description="3D product models for the web and AR.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API, the viewer pages and the job runner")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_serve)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(required=True, metavar="ACTION")
    create = keys.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--tenant", type=_tenant, default="default")
    create.set_defaults(run=_keys_create)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key")
    revoke.set_defaults(run=_keys_revoke)

    convert = commands.add_parser("convert", help="convert one file offline and print its report")
    convert.add_argument("input", type=Path, metavar="INPUT")
    convert.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    convert.add_argument("--unit", choices=("mm", "cm", "m", "in", "ft"))
    convert.add_argument("--dimensions", type=_dimensions, metavar="WxHxD<unit>", help="e.g. 200x90x85cm")
    convert.add_argument("--max-triangles", type=int)
    convert.add_argument("--placement", choices=("floor", "wall"), default="floor")
    convert.set_defaults(run=_convert)
    return parser


def _tenant(value: str) -> str:
    if not re.match(TENANT_PATTERN, value):
        raise argparse.ArgumentTypeError("letters, digits, '.', '_' and '-' only (at most 64)")
    return value


def _dimensions(value: str) -> Dimensions:
    match = _DIMENSIONS.match(value.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError("expected WIDTHxHEIGHTxDEPTH and a unit, e.g. 200x90x85cm")
    width, height, depth, unit = match.groups()
    try:
        return Dimensions(width=float(width), height=float(height), depth=float(depth), unit=unit)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("every dimension must be greater than zero") from exc


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run("api.main:create_app", factory=True, host=args.host, port=args.port)
    return 0


def _catalog_session():
    from assets.db import create_tables, make_engine, make_session_factory

    engine = make_engine(AppSettings().database_url)
    create_tables(engine)
    return make_session_factory(engine)()


def _keys_create(args: argparse.Namespace) -> int:
    from assets.catalog import create_api_key

    with _catalog_session() as session:
        key = create_api_key(session, args.tenant)
        session.commit()
    print(key)
    print(
        f"API key for tenant '{args.tenant}'; it is not shown again. Send it as 'Authorization: Bearer <key>'.",
        file=sys.stderr,
    )
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from assets.catalog import revoke_api_key

    with _catalog_session() as session:
        revoked = revoke_api_key(session, args.key)
        session.commit()
    if not revoked:
        print("error: no such active key", file=sys.stderr)
        return 1
    print("key revoked", file=sys.stderr)
    return 0


def _convert(args: argparse.Namespace) -> int:
    # Imported here: the pipeline's libraries are only needed by this command.
    from processing.errors import ConversionError
    from processing.pipeline import convert

    if not args.input.is_file():
        print(f"error: {args.input} is not a file", file=sys.stderr)
        return 2
    chosen = {"unit": args.unit, "dimensions": args.dimensions, "placement": args.placement}
    if args.max_triangles is not None:
        chosen["max_triangles"] = args.max_triangles
    try:
        settings = Settings(**chosen, limits=AppSettings().limits)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vitrine-", dir=args.output) as workdir:
        try:
            conversion = convert(args.input, Path(workdir), settings, _print_progress)
        except ConversionError as exc:
            print(f"error {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        for kind, name in OUTPUT_NAMES.items():
            shutil.copyfile(conversion.outputs[kind], args.output / name)
    report = conversion.report.as_dict()
    print(format_report(report, args.input.stat().st_size))
    print("\nwrote " + ", ".join(str(args.output / name) for name in OUTPUT_NAMES.values()))
    return 0


def _print_progress(step: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {step}", file=sys.stderr)


def format_report(report: dict, input_bytes: int) -> str:
    """The before/after table of a conversion report (the same figures for input and output)."""
    before, after = report["input"], report["output"]
    files = after.get("files", {})
    rows = [(name, _number(before.get(name)), _number(after.get(name))) for name in STAT_ROWS]
    rows.append(("size (file units → m)", _size(before.get("size")), _size(after.get("size"))))
    rows.append(("bytes (input → glb)", _number(input_bytes), _number(files.get("glb"))))
    rows.append(("bytes (web glb)", "", _number(files.get("glb_web"))))
    rows.append(("bytes (usdz)", "", _number(files.get("usdz"))))
    lines = [_row("", "input", "output"), *(_row(*r) for r in rows)]

    dims = report.get("dimensions_m")
    if dims:
        lines.append(
            f"\ndimensions (m): width {dims['width']:.3f} × height {dims['height']:.3f} × depth {dims['depth']:.3f}"
        )

    lines.append(f"\n{'step':<14}{'seconds':>9}  triangles")
    for step in report["steps"]:
        change = _triangle_change(step.get("triangles_before"), step.get("triangles_after"))
        lines.append(f"{step['name']:<14}{step['seconds']:>9.3f}  {change}")
    lines.append(f"{'total':<14}{sum(s['seconds'] for s in report['steps']):>9.3f}")

    for title in ("assumptions", "warnings"):
        if report.get(title):
            lines.append(f"\n{title}:")
            lines.extend(f"  - {text}" for text in report[title])
    return "\n".join(lines)


def _row(label: str, before: str, after: str) -> str:
    return f"{label:<24}{before:>22}{after:>22}"


def _number(value) -> str:
    return "-" if value is None else f"{value:,}"


def _size(size) -> str:
    return "-" if not size else " × ".join(f"{x:.3g}" for x in size)


def _triangle_change(before: int | None, after: int | None) -> str:
    if before is None and after is None:
        return ""
    if before == after:
        return f"{after:,}"
    return f"{_number(before)} → {_number(after)}"


if __name__ == "__main__":
    sys.exit(main())
