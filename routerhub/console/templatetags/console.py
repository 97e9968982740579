from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def pct(value, digits=1):
    """0.1234 -> '12.3%'; None -> '–'."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def money(value):
    if value is None:
        return "–"
    value = Decimal(value)
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.4f}"


@register.filter
def num(value, digits=3):
    if value is None or value == "":
        return "–"
    return f"{float(value):.{int(digits)}f}"


@register.filter
def signed(value, digits=3):
    if value is None:
        return ""
    return f"{float(value):+.{int(digits)}f}"


@register.filter
def minutes(value) -> str:
    """A timedelta as whole minutes ("15"); "" for anything else."""
    try:
        return f"{value.total_seconds() / 60:.0f}"
    except AttributeError:
        return ""
