"""Sales reports over the orders in inventory.py.

Part of quill's benchmark data: `quill bench --lsp` opens this file next to inventory.py
and retypes its last function as an editor session would.
"""

from __future__ import annotations

import datetime as dt

from inventory import (
    Category,
    Inventory,
    Order,
    OrderStatus,
    average_order_value,
    invoice_total,
    monthly_revenue,
    revenue_by_category,
    top_customers,
)


def open_orders(orders: list[Order]) -> list[Order]:
    return [order for order in orders if order.status == OrderStatus.OPEN]


def overdue(orders: list[Order], today: dt.date, days: int = 14) -> list[Order]:
    limit = today - dt.timedelta(days=days)
    return [o for o in open_orders(orders) if o.created.date() < limit]


def category_share(orders: list[Order]) -> dict[Category, float]:
    revenue = revenue_by_category(orders)
    total = sum(revenue.values())
    if total == 0:
        return {}
    return {category: round(100 * value / total, 1) for category, value in revenue.items()}


def stock_alerts(inventory: Inventory) -> list[str]:
    return [f"{level.item.sku}: {level.available} left" for level in inventory.reorder_list()]


def summary(orders: list[Order], inventory: Inventory) -> str:
    lines = ["Sales summary", "============="]
    lines.append(f"orders: {len(orders)}, open: {len(open_orders(orders))}")
    lines.append(f"average order: {average_order_value(orders):.2f}")
    for customer, spent in top_customers(orders):
        lines.append(f"  {customer:<12} {spent:>10.2f}")
    for month, revenue in monthly_revenue(orders).items():
        lines.append(f"  {month}: {revenue:.2f}")
    for category, share in category_share(orders).items():
        lines.append(f"  {category.value:<10} {share:5.1f}%")
    invoiced = sum(invoice_total(order) for order in orders if order.status != OrderStatus.CANCELLED)
    lines.append(f"invoiced: {invoiced:.2f}")
    lines.extend(stock_alerts(inventory))
    return "\n".join(lines)
