# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The budget guard's arithmetic: hourly prices (GET /v2/sizes) x hosts x the campaign's maximum lifetime."""

from __future__ import annotations

from typing import Any


class BudgetError(ValueError):
    pass


def usd(value: float) -> str:
    return f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.5f}"


def rate(value: float) -> str:
    """An hourly price, to DigitalOcean's precision."""
    return f"${value:.5f}/h"


def price_plan(hosts: list[dict[str, Any]], sizes: list[dict[str, Any]], region: str,
               lifetime_minutes: float) -> dict[str, Any]:
    """Price each host's size; refuse sizes the API does not know or does not sell in the region."""
    if lifetime_minutes <= 0:
        raise BudgetError(f"the maximum lifetime must be positive (got {lifetime_minutes:g} minutes)")
    by_slug = {s.get("slug"): s for s in sizes}
    lines, problems = [], []
    for host in hosts:
        slug = host.get("size")
        size = by_slug.get(slug)
        if size is None:
            problems.append(f"{host.get('name')}: size {slug!r} is unknown to the API")
            continue
        if not size.get("available", False) or region not in (size.get("regions") or []):
            problems.append(f"{host.get('name')}: size {slug!r} is not available in region {region!r}")
            continue
        lines.append({"name": host.get("name"), "size": slug, "price_hourly": float(size.get("price_hourly", 0)),
                      "price_monthly": float(size.get("price_monthly", 0))})
    if problems:
        known = ", ".join(sorted(str(s.get("slug")) for s in sizes if s.get("available")))
        raise BudgetError("; ".join(problems) + f" (sizes on sale: {known})")
    hourly = sum(line["price_hourly"] for line in lines)
    hours = lifetime_minutes / 60.0
    planned = hourly * hours
    groups: dict[tuple[str, float], int] = {}
    for line in lines:
        key = (line["size"], line["price_hourly"])
        groups[key] = groups.get(key, 0) + 1
    terms = " + ".join(f"{count} x {slug} {rate(price)}" for (slug, price), count in groups.items())
    arithmetic = (f"{terms} = {rate(hourly)} x {hours:g} h (campaign_max_lifetime_minutes={lifetime_minutes:g}) "
                  f"= {usd(planned)}")
    return {"hosts": lines, "hourly_usd": round(hourly, 6), "hours": hours, "planned_usd": round(planned, 6),
            "arithmetic": arithmetic}


def check_budget(plan: dict[str, Any], budget_usd: float) -> None:
    if budget_usd <= 0:
        raise BudgetError(f"campaign_budget_usd must be positive (got {budget_usd:g})")
    if plan["planned_usd"] > budget_usd:
        raise BudgetError(f"planned spend {usd(plan['planned_usd'])} exceeds campaign_budget_usd={usd(budget_usd)}: "
                          f"{plan['arithmetic']}")


def check_capacity(droplet_limit: int, existing: int, wanted: int) -> None:
    if droplet_limit and existing + wanted > droplet_limit:
        raise BudgetError(f"the account's droplet limit is {droplet_limit} and {existing} droplets exist: "
                          f"{wanted} more would exceed it (ask DigitalOcean to raise the limit, or remove droplets)")


def spend(droplets: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """Actual spend so far: each droplet's hours since created_at x its hourly price."""
    rows, total_hours, total = [], 0.0, 0.0
    for droplet in droplets:
        created = droplet.get("created_epoch")
        hours = max(0.0, (now - float(now if created is None else created)) / 3600.0)
        cost = hours * float(droplet.get("price_hourly") or 0.0)
        total_hours += hours
        total += cost
        rows.append({"name": droplet.get("name"), "size": droplet.get("size"),
                     "price_hourly": droplet.get("price_hourly"), "created_at": droplet.get("created_at"),
                     "hours": round(hours, 6), "usd": round(cost, 6)})
    return {"droplets": rows, "droplet_hours": round(total_hours, 6), "usd": round(total, 6),
            "arithmetic": " + ".join(f"{r['name']} {r['hours']:.4f} h x {rate(float(r['price_hourly'] or 0))}"
                                     for r in rows) + f" = {usd(total)}" if rows else "no droplets = $0.00"}
