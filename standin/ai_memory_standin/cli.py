"""Command line: the subcommands and flags of ai-memory v0.7 that the campaign uses (contract §1)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import sys
from typing import Any

from ai_memory_standin import CONTRACT, VERSION
from ai_memory_standin.config import DEFAULT_DB, Config, load_config, resolve_db
from ai_memory_standin.faults import FaultError, active_faults

LOOPBACK = {"127.0.0.1", "::1", "localhost", "0:0:0:0:0:0:0:1", "[::1]"}


def version_text(faults: frozenset[str]) -> str:
    text = f"ai-memory {VERSION} (stand-in for the ai-memory v0.7 contract, {CONTRACT})"
    if faults:
        text += f"\nstand-in faults: {','.join(sorted(faults))}"
    return text


def default_agent_id() -> str:
    import uuid

    if os.environ.get("AI_MEMORY_AGENT_ID"):
        return os.environ["AI_MEMORY_AGENT_ID"]
    prefix = "anonymous" if os.environ.get("AI_MEMORY_ANONYMIZE") == "1" else f"host:{socket.gethostname()}"
    return f"{prefix}:pid-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def common(*, json_flag: bool = True, agent: bool = True) -> argparse.ArgumentParser:
    """The global options, accepted after the subcommand too (as clap's global args are); absent ones leave the
    value given before the subcommand alone."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--db", default=argparse.SUPPRESS)
    if json_flag:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    if agent:
        p.add_argument("--agent-id", default=argparse.SUPPRESS)
    p.add_argument("--db-passphrase-file", default=argparse.SUPPRESS)
    return p


def _filters(s: argparse.ArgumentParser, limit: int) -> None:
    """The row filters list and search share (``--agent-id`` filters on metadata.agent_id there)."""
    s.add_argument("--namespace", "-n", default=None)
    s.add_argument("--tier", "-t", default=None)
    s.add_argument("--limit", type=int, default=limit)
    s.add_argument("--since", default=None)
    s.add_argument("--until", default=None)
    s.add_argument("--tags", default=None)
    s.add_argument("--agent-id", dest="filter_agent_id", default=None)


def _serve_parser(sub: Any) -> None:
    s = sub.add_parser("serve", parents=[common()])
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=9077)
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    s.add_argument("--mtls-allowlist")
    s.add_argument("--shutdown-grace-secs", type=int, default=30)
    s.add_argument("--quorum-writes", type=int, default=0)
    s.add_argument("--quorum-peers", default="")
    s.add_argument("--quorum-timeout-ms", type=int, default=2000)
    s.add_argument("--quorum-client-cert")
    s.add_argument("--quorum-client-key")
    s.add_argument("--quorum-ca-cert")
    s.add_argument("--catchup-interval-secs", type=int, default=30)
    s.add_argument("--store-url")


def _memory_parsers(sub: Any) -> None:
    s = sub.add_parser("store", parents=[common()])
    s.add_argument("--title", "-T", required=True)
    s.add_argument("--content", "-c", required=True)
    s.add_argument("--tier", "-t", default="mid")
    s.add_argument("--namespace", "-n", default="global")
    s.add_argument("--tags", default="")
    s.add_argument("--priority", "-p", type=int, default=5)
    s.add_argument("--confidence", type=float, default=None)
    s.add_argument("--scope", default=None)
    s.add_argument("--source", "-S", default="cli")
    s.add_argument("--expires-at", default=None)
    s.add_argument("--ttl-secs", type=int, default=None)
    s.add_argument("--kind", default=None)

    s = sub.add_parser("recall", parents=[common()])
    s.add_argument("context")
    s.add_argument("--namespace", "-n", default=None)
    s.add_argument("--limit", type=int, default=10)
    s.add_argument("--tags", default=None)
    s.add_argument("--since", default=None)
    s.add_argument("--until", default=None)
    s.add_argument("--tier", "-T", default=None)
    s.add_argument("--budget-tokens", type=int, default=None)

    s = sub.add_parser("search", parents=[common(agent=False)])
    s.add_argument("query")
    _filters(s, 20)

    s = sub.add_parser("list", parents=[common(agent=False)])
    _filters(s, 20)
    s.add_argument("--offset", type=int, default=0)

    for name in ("get", "delete"):
        sub.add_parser(name, parents=[common()]).add_argument("id")

    sub.add_parser("stats", parents=[common()])


def _admin_parsers(sub: Any) -> None:
    s = sub.add_parser("backup", parents=[common()])
    s.add_argument("--to", default="./backups")
    s.add_argument("--keep", type=int, default=48)

    s = sub.add_parser("restore", parents=[common()])
    s.add_argument("--from", dest="source", required=True)
    s.add_argument("--skip-verify", action="store_true")

    s = sub.add_parser("curator", parents=[common()])
    mode = s.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true")
    mode.add_argument("--daemon", action="store_true")
    s.add_argument("--dry-run", action="store_true")
    s.add_argument("--max-ops", type=int, default=100)
    s.add_argument("--interval-secs", type=int, default=3600)

    s = sub.add_parser("mcp", parents=[common()])
    s.add_argument("--tier", default="semantic")
    s.add_argument("--profile", default=os.environ.get("AI_MEMORY_PROFILE", "core"))

    s = sub.add_parser("migrate", parents=[common(json_flag=False)])
    s.add_argument("--from", dest="source", required=True)
    s.add_argument("--to", dest="target", required=True)
    s.add_argument("--batch", type=int, default=1000)
    s.add_argument("--namespace", default=None)
    s.add_argument("--dry-run", action="store_true")
    s.add_argument("--json", action="store_true", default=argparse.SUPPRESS)

    s = sub.add_parser("schema-init", parents=[common(json_flag=False)])
    s.add_argument("--store-url", required=True)
    s.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    s.add_argument("--embedding-dim", type=int, default=384)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ai-memory", description="ai-memory (stand-in)")
    p.add_argument("--version", "-V", action="store_true")
    p.add_argument("--db", default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--agent-id", default=None)
    p.add_argument("--db-passphrase-file", default=None)
    sub = p.add_subparsers(dest="command")
    _serve_parser(sub)
    _memory_parsers(sub)
    _admin_parsers(sub)
    return p


def emit(args: argparse.Namespace, doc: Any, text: str) -> None:
    print(json.dumps(doc) if args.json else text)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = active_faults()
    except FaultError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if args.version:
        print(version_text(faults))
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    cfg = load_config()
    args.agent_id = args.agent_id or default_agent_id()
    if args.command == "serve":
        return cmd_serve(args, cfg, faults)
    if args.command == "mcp":
        from ai_memory_standin.mcp import run_mcp

        return run_mcp(resolve_db(args.db, cfg), args.agent_id, args.profile)
    from ai_memory_standin import commands

    return commands.run(args, cfg, faults)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    from ai_memory_standin import federation, server, tlsutil
    from ai_memory_standin.commands import statement_timeout_secs
    from ai_memory_standin.store import is_postgres_url, open_store

    if not is_loopback(args.host) and not cfg.api_key:
        print(f"Error: refusing to bind to non-loopback address {args.host} without an API key "
              "(set api_key in config.toml)", file=sys.stderr)
        return 1
    if os.environ.get("AI_MEMORY_REQUIRE_API_KEY", "").lower() in ("1", "true") and not cfg.api_key:
        print("Error: AI_MEMORY_REQUIRE_API_KEY is set but no api_key is configured", file=sys.stderr)
        return 1
    if bool(args.tls_cert) != bool(args.tls_key):
        print("Error: --tls-cert and --tls-key must be given together", file=sys.stderr)
        return 2
    if args.mtls_allowlist and not args.tls_cert:
        print("Error: --mtls-allowlist requires --tls-cert", file=sys.stderr)
        return 2
    allowlist = None
    try:
        if args.mtls_allowlist:
            allowlist = tlsutil.parse_allowlist(args.mtls_allowlist)
        if args.store_url and (os.environ.get("AI_MEMORY_DB") or resolve_db(args.db, cfg) != DEFAULT_DB):
            print("Error: --store-url and --db/AI_MEMORY_DB are mutually exclusive", file=sys.stderr)
            return 1
        if args.store_url and is_postgres_url(args.store_url):
            # the scratch SQLite ./ai-memory.db is still opened (contract §2 step 2, §5.1)
            store = open_store(args.store_url, scratch=resolve_db(args.db, cfg),
                               statement_timeout_s=statement_timeout_secs())
            log_postgres(server.log, store)
        else:
            store = open_store(args.store_url or resolve_db(args.db, cfg))
        tls_ctx = None
        if args.tls_cert:
            tls_ctx = tlsutil.server_context(args.tls_cert, args.tls_key, args.quorum_ca_cert, allowlist is not None)
        peers = [p.strip() for p in args.quorum_peers.split(",") if p.strip()]
        fed = None
        if args.quorum_writes >= 1 and peers:
            client_ctx = tlsutil.client_context(args.quorum_ca_cert, args.quorum_client_cert,
                                                args.quorum_client_key)
            fed = federation.Federation(
                store=store, peers=peers, writes=args.quorum_writes, timeout_ms=args.quorum_timeout_ms,
                catchup_secs=args.catchup_interval_secs, ctx=client_ctx, api_key=cfg.api_key,
                hostname=socket.gethostname(), faults=faults,
                sync_trust_peer=os.environ.get("AI_MEMORY_FED_SYNC_TRUST_PEER", "").lower() in ("1", "true"))
        app = server.App(store=store, cfg=cfg, fed=fed, faults=faults, allowlist=allowlist,
                         mtls_enforced=bool(args.tls_cert and args.tls_key and allowlist is not None))
        srv = server.Server((args.host, args.port), app, tls_ctx)
    except (OSError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    scheme = "https" if tls_ctx else "http"
    server.log(f"ai-memory listening on {scheme}://{args.host}:{args.port}")
    if fed is not None:
        server.log(f"federation enabled: W={fed.w} over {len(fed.peers)} peer(s), timeout {args.quorum_timeout_ms}ms")
    if allowlist is not None:
        server.log(f"mTLS enabled — client certs required. Allowlist: {len(allowlist)} entries")
    elif not tls_ctx:
        server.log("TLS NOT enabled — sync endpoints accept any caller over plain HTTP", "WARN")
    if faults:
        server.log(f"stand-in fault switches ON: {','.join(sorted(faults))}", "WARN")
    return server.serve(srv, app, args.shutdown_grace_secs)


def log_postgres(log: Any, store: Any) -> None:
    log(f"storage backend: postgres at {store.redacted_url} (schema v{store.schema_version()}, "
        f"pool max 16, statement timeout {store.statement_timeout_ms // 1000}s)")
    if not store.vector_version.startswith(("0.7.", "0.8.")):
        log(f"pgvector {store.vector_version} is outside the supported 0.7.x-0.8.x range", "WARN")
    log(f"Postgres KG backend: {store.kg_backend}")
    # 0.7.0 says this at every start of a postgres-backed daemon (daemon_runtime.rs), a WARN naming a doc file
    log("v0.7.0 Wave-3: postgres-backed daemon — handlers that have not yet migrated to the SAL trait surface 501 "
        "Not Implemented. See docs/postgres-age-guide.md for the supported endpoint inventory.", "WARN")
    if store.backfilled:
        log(f"schema v54: tier expiry backfilled on {store.backfilled} row(s)")


def _entry() -> None:
    sys.exit(main())
