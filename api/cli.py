"""The `vitrine3d` command: run the server and workers, manage API keys, convert a file offline.

    vitrine3d serve [--host 127.0.0.1] [--port 8000]
    vitrine3d worker [--burst]                     an RQ worker (needs VITRINE_QUEUE_URL=redis://…)
    vitrine3d migrate                              bring the catalog's schema up to date
    vitrine3d gc [--grace SECONDS] [--dry-run]     remove stored objects nothing refers to
    vitrine3d keys create [--tenant default] [--scopes read,write,admin] [--name LABEL]
                                                   the new key alone on stdout
    vitrine3d keys list [--tenant T]               ids, tenants, scopes, dates (never the keys)
    vitrine3d keys revoke KEY|ID
    vitrine3d convert INPUT -o OUTDIR [--unit cm] [--dimensions 200x90x85cm] [--max-triangles N] [--placement floor]
                                                   [--[no-]optimize-vertices] [--web-textures ktx2] ...
    vitrine3d upload DIR --catalog products.csv [--api URL] [--key KEY] [--jobs 4] [--dry-run]

`convert` runs processing.pipeline.convert in this process (no server, no database) and prints
a before/after table from the report; a file the pipeline refuses exits 1 with
`error CODE: message`. Configuration comes from the same VITRINE_* environment as the server.
`upload` creates or updates the products of a catalog (CSV/XLSX) and uploads their files from DIR
through the API (key from --key or VITRINE_API_KEY); see api/batch_upload.py.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path

from processing.settings import OPTIMIZE_VERTICES_UP_TO, Dimensions, Settings

from .settings import AppSettings

OUTPUT_NAMES = {"glb": "model.glb", "glb_web": "model.web.glb", "usdz": "model.usdz", "report": "report.json"}
STAT_ROWS = ("triangles", "vertices", "meshes", "instances", "materials", "textures")
MAX_PARALLEL_UPLOADS = 32
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

    worker = commands.add_parser("worker", help="run conversions from the Redis queue (VITRINE_QUEUE_URL)")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.add_argument("--name", help="the worker's name in RQ (default: a random one)")
    worker.set_defaults(run=_worker)

    migrate = commands.add_parser("migrate", help="upgrade the catalog's schema to the newest revision")
    migrate.set_defaults(run=_migrate)

    gc = commands.add_parser("gc", help="remove stored objects that no version or upload refers to")
    gc.add_argument("--grace", type=float, metavar="SECONDS", help="minimum age (default: VITRINE_GC_GRACE_SECONDS)")
    gc.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    gc.set_defaults(run=_gc)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(required=True, metavar="ACTION")
    create = keys.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--tenant", type=_tenant, default="default")
    create.add_argument("--scopes", type=_scopes, default="read,write,admin", metavar="read,write,admin",
                        help="what the key may do (default: all three)")
    create.add_argument("--name", help="a label, e.g. 'supplier feed'")
    create.set_defaults(run=_keys_create)
    listing = keys.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--tenant", type=_tenant)
    listing.set_defaults(run=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key, given as the key or its id from `keys list`")
    revoke.add_argument("key")
    revoke.set_defaults(run=_keys_revoke)

    convert = commands.add_parser("convert", help="convert one file offline and print its report")
    convert.add_argument("input", type=Path, metavar="INPUT")
    convert.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    convert.add_argument("--unit", choices=("mm", "cm", "m", "in", "ft"))
    convert.add_argument("--dimensions", type=_dimensions, metavar="WxHxD<unit>", help="e.g. 200x90x85cm")
    convert.add_argument("--max-triangles", type=int)
    convert.add_argument("--web-textures", choices=("webp", "ktx2"),
                         help="textures of the web GLB: webp (default) or ktx2 (compressed in video memory too)")
    convert.add_argument("--max-texture-memory", type=int, metavar="MIB",
                         help="video memory all textures may take once decoded (default 128); the largest are halved to fit")
    convert.add_argument("--optimize-vertices", action=argparse.BooleanOptionalAction,
                         help="move kept vertices to fit the original best: less error, slower decimation "
                              f"(default: on up to {OPTIMIZE_VERTICES_UP_TO:,} triangles)")
    convert.add_argument("--error-samples", type=int, metavar="N",
                         help="points sampled per surface to measure the decimation error (default 10000; 0: not measured)")
    convert.add_argument("--placement", choices=("floor", "wall"), default="floor")
    convert.add_argument("--up-axis", metavar="AXIS", help="the file's up direction, e.g. z or -y")
    convert.add_argument("--front", metavar="AXIS", help="the direction the product's front faces, e.g. -x")
    convert.add_argument("--fit", choices=("strict", "scale"), default="strict",
                         help="scale: allow a uniform rescale of up to 10%% to meet --dimensions")
    convert.set_defaults(run=_convert)

    upload = commands.add_parser("upload", help="create products and upload their models from a catalog and a folder")
    upload.add_argument("directory", type=Path, metavar="DIR", help="the folder holding the 3D files")
    upload.add_argument("--catalog", type=Path, required=True, metavar="FILE",
                        help="CSV or XLSX: sku, name, width, height, depth, unit[, file, placement, price, link, locale]")
    upload.add_argument("--api", default="http://127.0.0.1:8000", metavar="URL", help="the API's base URL")
    upload.add_argument("--key", help="an API key (default: $VITRINE_API_KEY)")
    upload.add_argument("--jobs", type=_parallel, default=4, metavar="N", help="files in flight at once (default 4)")
    upload.add_argument("--dry-run", action="store_true", help="check the catalog and the files; upload nothing")
    upload.set_defaults(run=_upload)
    return parser


def _tenant(value: str) -> str:
    from .schemas import TENANT_PATTERN  # the wire schemas import the catalog: only for `keys`

    if not re.match(TENANT_PATTERN, value):
        raise argparse.ArgumentTypeError("letters, digits, '.', '_' and '-' only (at most 64)")
    return value


def _parallel(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_PARALLEL_UPLOADS:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {MAX_PARALLEL_UPLOADS}")
    return int(value)


def _scopes(value: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    from assets.catalog import SCOPES  # the catalog (SQLAlchemy) only for the commands that use it

    if not scopes or set(scopes) - set(SCOPES):
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(SCOPES)}")
    return scopes


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


def _catalog_sessions(settings: AppSettings):
    from assets.db import make_engine, make_session_factory, migrate

    engine = make_engine(settings.database_url)
    migrate(engine)
    return make_session_factory(engine)


def _catalog_session():
    return _catalog_sessions(AppSettings())()


def _worker(args: argparse.Namespace) -> int:
    from assets.queue_rq import work
    from assets.runner import Runner

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    settings = AppSettings()
    if not settings.queue_url:
        print("error: set VITRINE_QUEUE_URL=redis://… (without a queue, `vitrine3d serve` runs the jobs)", file=sys.stderr)
        return 2
    from assets.db import make_engine, make_session_factory

    # Workers never migrate: the API does, and a worker of an older release must not race it.
    sessions = make_session_factory(make_engine(settings.database_url))
    work(Runner(sessions, settings.make_storage(), settings.runner_config()), settings.queue_url, burst=args.burst, name=args.name)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    _catalog_sessions(AppSettings())
    print("catalog schema is up to date", file=sys.stderr)
    return 0


def _gc(args: argparse.Namespace) -> int:
    from assets.gc import collect

    settings = AppSettings()
    grace = settings.gc_grace_seconds if args.grace is None else args.grace
    result = collect(_catalog_sessions(settings), settings.make_storage(), grace, dry_run=args.dry_run)
    for key in result.removed:
        print(key)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(result.removed)} orphaned objects; {len(result.too_young)} younger than {grace:g} s kept", file=sys.stderr)
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    from assets.catalog import create_api_key

    with _catalog_session() as session:
        key = create_api_key(session, args.tenant, args.scopes, args.name)
        session.commit()
    print(key)
    print(
        f"API key for tenant '{args.tenant}' ({','.join(args.scopes)}); it is not shown again. "
        "Send it as 'Authorization: Bearer <key>'.",
        file=sys.stderr,
    )
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from assets.catalog import list_api_keys

    with _catalog_session() as session:
        rows = list_api_keys(session, args.tenant)
    print(f"{'id':>5}  {'tenant':<20} {'scopes':<17} {'created':<20} {'revoked':<20} name")
    for row in rows:
        revoked = row.revoked_at.strftime("%Y-%m-%d %H:%M") if row.revoked_at else "-"
        print(
            f"{row.id:>5}  {row.tenant:<20} {','.join(row.scopes):<17} {row.created:%Y-%m-%d %H:%M}     "
            f"{revoked:<20} {row.name or ''}"
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
    chosen = {"unit": args.unit, "dimensions": args.dimensions, "placement": args.placement,
              "up_axis": args.up_axis, "front": args.front, "fit": args.fit}
    if args.max_triangles is not None:
        chosen["max_triangles"] = args.max_triangles
    if args.web_textures is not None:
        chosen["web_textures"] = args.web_textures
    if args.max_texture_memory is not None:
        chosen["max_texture_memory_mib"] = args.max_texture_memory
    if args.optimize_vertices is not None:
        chosen["optimize_vertices"] = args.optimize_vertices
    if args.error_samples is not None:
        chosen["error_samples"] = args.error_samples
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


def _upload(args: argparse.Namespace) -> int:
    from .batch_upload import run

    return run(args)


def _print_progress(step: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {step}", file=sys.stderr)


def format_report(report: dict, input_bytes: int) -> str:
    """The before/after table of a conversion report (the same figures for input and output)."""
    before, after = report["input"], report["output"]
    files = after.get("files", {})
    rows = [(name, _number(before.get(name)), _number(after.get(name))) for name in STAT_ROWS]
    rows.append(("texture memory (MiB)", _number(before.get("texture_memory_mib")),
                 _number(after.get("texture_memory_mib"))))
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

    lines.append(f"\n{'step':<16}{'seconds':>9}  triangles")
    for step in report["steps"]:
        change = _triangle_change(step.get("triangles_before"), step.get("triangles_after"))
        lines.append(f"{step['name']:<16}{step['seconds']:>9.3f}  {change}")
    lines.append(f"{'total':<16}{sum(s['seconds'] for s in report['steps']):>9.3f}")

    for title in ("assumptions", "warnings"):
        if report.get(title):
            lines.append(f"\n{title}:")
            lines.extend(f"  - {text}" for text in report[title])
    return "\n".join(lines)


def _row(label: str, before: str, after: str) -> str:
    return f"{label:<24}{before:>24}  {after:>24}"


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
