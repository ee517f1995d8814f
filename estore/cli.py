"""The `estore` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from estore.common.auth import TokenIssuer, load_private_key
from estore.common.config import ConfigError, Settings
from estore.common.errors import DomainError
from estore.embedded.postgres import EmbeddedStoreError
from estore.serve import serve_service
from estore.services import SERVICES
from estore.stack import StoreUrls
from estore.users.app import create_admin, run_migrations

SERVICE_TOKEN_TTL_SECONDS = 365 * 24 * 3600


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if args.workers == 1:
        serve_service(settings, args.service)
        return 0
    from estore.workers import run_workers

    return run_workers(settings, args.service, args.workers)


def _cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from estore.up import run_up

    return run_up(settings, fresh=args.fresh)


def _cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from estore.bench.runner import Options, run_bench

    if args.catalogue:
        from estore.bench import catalogue

        out = Path(args.out) if args.out else settings.data_dir / "bench"
        return catalogue.run(args.catalogue, args.pages, out)
    options = Options(
        quick=args.quick,
        out=Path(args.out) if args.out else None,
        duration=args.duration,
        warmup=args.warmup,
        scenarios=tuple(name for name in (args.scenarios or "").split(",") if name),
        server_cores=args.server_cores,
        concurrency=args.concurrency,
    )
    return run_bench(settings, options)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("every size must be at least 1")
    return sizes


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 3600 seconds")
    return value


def _window(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("a measuring window of 0 seconds measures nothing")
    return value


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text} is not between 1 and 1000")
    return value


def _cmd_mint_service_token(settings: Settings, args: argparse.Namespace) -> int:
    issuer = TokenIssuer(
        load_private_key(settings.jwt_private_key_file),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    print(issuer.mint_service_token(args.name, ttl_seconds=args.ttl_days * 86400).token)
    return 0


def _cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    applied = asyncio.run(run_migrations(settings))
    print(f"applied {', '.join(applied)}" if applied else "the database is up to date")
    return 0


def _cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from estore.backup import take_backup

    return _run_backup_tool(
        settings, lambda urls: take_backup(urls, Path(args.dir), force=args.force)
    )


def _cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from estore.backup import restore_backup

    return _run_backup_tool(
        settings, lambda urls: restore_backup(urls, Path(args.dir), assume_yes=args.yes)
    )


def _run_backup_tool(settings: Settings, action: Callable[[StoreUrls], object]) -> int:
    """Run a backup or restore on the stores in use; its failures exit 1 with their message."""
    from estore.backup import BackupError
    from estore.stack import resolve_store_urls

    try:
        action(resolve_store_urls(settings))
    except BackupError as error:
        print(f"estore: {error}", file=sys.stderr)
        return 1
    return 0


def _cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from estore.demo import seed_bulk, seed_demo

    if args.products is not None:
        if args.products < 1:
            raise ConfigError("--products must be at least 1")
        report = asyncio.run(seed_bulk(settings, args.products))
        print(
            f"loaded {report.products:,} products ({report.categories:,} categories) "
            f"in {report.seconds:.1f} s"
        )
        return 0
    summary = asyncio.run(seed_demo(settings))
    print(
        f"seeded {summary.categories} categories and {summary.products} products; "
        f"demo user: {summary.demo_user}"
    )
    return 0


def _read_password(from_stdin: bool) -> str | None:
    """The new admin's password: one line of stdin, or typed twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != password:
        print("estore: the passwords differ", file=sys.stderr)
        return None
    return password


def _cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    if password is None:
        return 1
    user, outcome = asyncio.run(create_admin(settings, args.email, password))
    print(f"{outcome.value} admin {user.email} (id {user.id})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="estore", description="EStore gRPC services")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve one service in the foreground")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port (default 1)"
    )
    serve.set_defaults(handler=_cmd_serve)

    up = commands.add_parser("up", help="run PostgreSQL, Redis and all three services")
    up.add_argument("--fresh", action="store_true", help="start from empty stores")
    up.set_defaults(handler=_cmd_up)

    bench = commands.add_parser(
        "bench", help="measure every RPC against a bare gRPC server (`make bench`)"
    )
    bench.add_argument("--quick", action="store_true", help="a run of under a minute")
    bench.add_argument("--out", help="folder for the report (default: <data dir>/bench)")
    bench.add_argument("--duration", type=_window, help="seconds each window measures")
    bench.add_argument("--warmup", type=_seconds, help="seconds of load before each window")
    bench.add_argument("--scenarios", help="comma-separated names (default: all)")
    bench.add_argument(
        "--server-cores", type=_count, default=1, help="cores for the suite (default 1)"
    )
    bench.add_argument(
        "--concurrency", type=_count, default=16, help="calls in flight (default 16)"
    )
    bench.add_argument(
        "--catalogue",
        type=_sizes,
        nargs="?",
        const=(1_000, 100_000, 1_000_000),
        help="instead: ListProducts' Redis time per page at these catalogue sizes "
        "(comma-separated; default 1000,100000,1000000)",
    )
    bench.add_argument(
        "--pages", type=_count, default=10, help="with --catalogue: pages per shape and size"
    )
    bench.set_defaults(handler=_cmd_bench)

    migrate = commands.add_parser("migrate", help="apply pending UserService migrations")
    migrate.set_defaults(handler=_cmd_migrate)

    users = commands.add_parser("users", help="user administration").add_subparsers(
        dest="users_command", required=True
    )
    create_admin = users.add_parser("create-admin", help="create or promote a verified admin")
    create_admin.add_argument("--email", required=True, help="the admin's email address")
    create_admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin, not a prompt"
    )
    create_admin.set_defaults(handler=_cmd_create_admin)

    backup = commands.add_parser("backup", help="save PostgreSQL and Redis into a folder")
    backup.add_argument("dir", help="the folder to write (created if missing; must be empty)")
    backup.add_argument("--force", action="store_true", help="write into a non-empty folder")
    backup.set_defaults(handler=_cmd_backup)

    restore = commands.add_parser("restore", help="replace PostgreSQL and Redis with a backup")
    restore.add_argument("dir", help="a folder written by `estore backup`")
    restore.add_argument("--yes", action="store_true", help="do not ask before wiping the stores")
    restore.set_defaults(handler=_cmd_restore)

    seed = commands.add_parser("seed-demo", help="a demo catalogue and a verified demo user")
    seed.add_argument(
        "--products",
        type=int,
        metavar="N",
        help="instead: load N synthetic products straight into Inventory's Redis (bulk)",
    )
    seed.set_defaults(handler=_cmd_seed_demo)

    token = commands.add_parser("token", help="token tools").add_subparsers(
        dest="token_command", required=True
    )
    mint = token.add_parser("mint-service", help="print a service-role token for Payments")
    mint.add_argument("--name", default="payments", help="the calling service's name")
    mint.add_argument("--ttl-days", type=int, default=SERVICE_TOKEN_TTL_SECONDS // 86400)
    mint.set_defaults(handler=_cmd_mint_service_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        result: int = args.handler(settings, args)
    except (ConfigError, FileNotFoundError, EmbeddedStoreError) as error:
        print(f"estore: {error}", file=sys.stderr)
        return 2
    except DomainError as error:  # e.g. a bad email for create-admin, or the database is down
        print(f"estore: {error.message}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
