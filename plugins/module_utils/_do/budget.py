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
        if size.get("price_hourly") in (None, ""):
            problems.append(f"{host.get('name')}: size {slug!r} has no hourly price in GET /v2/sizes, so the budget "
                            "cannot be checked")
            continue
        lines.append({"name": host.get("name"), "size": slug, "price_hourly": float(size["price_hourly"]),
                      "price_monthly": float(size.get("price_monthly") or 0)})
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


def _hourly(droplet: dict[str, Any], planned: dict[str, float]) -> tuple[float | None, str]:
    """(hourly price, where it came from): the API's ``size.price_hourly``, else the plan's price for the size."""
    if droplet.get("price_hourly") is not None:
        return float(droplet["price_hourly"]), "api"
    if droplet.get("size") in planned:
        return float(planned[droplet["size"]]), "plan"
    return None, "unknown"


def spend(droplets: list[dict[str, Any]], now: float, planned: dict[str, float] | None = None) -> dict[str, Any]:
    """Actual spend so far: each droplet's hours since created_at x its hourly price, the API's when the droplet
    carries one, else the planned price of its size (``price_source`` says which). A droplet priced by neither
    makes the total null and is listed in ``unpriced``: the spend is never silently zero."""
    rows, total_hours, total, unpriced = [], 0.0, 0.0, []
    for droplet in droplets:
        created = droplet.get("created_epoch")
        hours = max(0.0, (now - float(now if created is None else created)) / 3600.0)
        price, source = _hourly(droplet, planned or {})
        cost = None if price is None else hours * price
        total_hours += hours
        total += cost or 0.0
        if price is None:
            unpriced.append(droplet.get("name"))
        rows.append({"name": droplet.get("name"), "size": droplet.get("size"), "price_hourly": price,
                     "price_source": source, "created_at": droplet.get("created_at"), "hours": round(hours, 6),
                     "usd": None if cost is None else round(cost, 6)})
    usd_total = None if unpriced else round(total, 6)
    return {"droplets": rows, "droplet_hours": round(total_hours, 6), "usd": usd_total, "unpriced": unpriced,
            "arithmetic": _spend_arithmetic(rows, usd_total, unpriced)}


def _spend_arithmetic(rows: list[dict[str, Any]], total: float | None, unpriced: list[Any]) -> str:
    if not rows:
        return "no droplets = $0.00"
    terms = []
    for row in rows:
        price = "unknown price" if row["price_hourly"] is None else rate(row["price_hourly"])
        terms.append(f"{row['name']} {row['hours']:.4f} h x {price}"
                     + (" (planned)" if row["price_source"] == "plan" else ""))
    result = usd(total) if total is not None else f"unknown (no price for {', '.join(map(str, unpriced))})"
    return " + ".join(terms) + f" = {result}"
