"""A small inventory and order-processing module.

This file exists for quill's benchmarks: a realistic, self-contained Python module of a few
hundred lines that `quill bench` types into. It is written for quill and has no other use.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator, Optional


class Category(Enum):
    HARDWARE = "hardware"
    SOFTWARE = "software"
    SERVICE = "service"
    SUPPLIES = "supplies"


class OrderStatus(Enum):
    OPEN = "open"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    category: Category
    unit_price: float
    weight_kg: float = 0.0

    def price_for(self, quantity: int) -> float:
        """Price of `quantity` units, with a 5% discount from 10 units and 10% from 100."""
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        discount = 0.0
        if quantity >= 100:
            discount = 0.10
        elif quantity >= 10:
            discount = 0.05
        return round(self.unit_price * quantity * (1.0 - discount), 2)


@dataclass
class StockLevel:
    item: Item
    on_hand: int = 0
    reserved: int = 0
    reorder_point: int = 5

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved)

    def needs_reorder(self) -> bool:
        return self.available <= self.reorder_point


@dataclass
class OrderLine:
    item: Item
    quantity: int

    @property
    def total(self) -> float:
        return self.item.price_for(self.quantity)

    @property
    def weight(self) -> float:
        return self.item.weight_kg * self.quantity


@dataclass
class Order:
    order_id: str
    customer: str
    created: dt.datetime
    lines: list[OrderLine] = field(default_factory=list)
    status: OrderStatus = OrderStatus.OPEN

    def add(self, item: Item, quantity: int) -> None:
        for line in self.lines:
            if line.item.sku == item.sku:
                line.quantity += quantity
                return
        self.lines.append(OrderLine(item, quantity))

    def remove(self, sku: str) -> bool:
        before = len(self.lines)
        self.lines = [line for line in self.lines if line.item.sku != sku]
        return len(self.lines) != before

    @property
    def subtotal(self) -> float:
        return round(sum(line.total for line in self.lines), 2)

    @property
    def weight(self) -> float:
        return sum(line.weight for line in self.lines)

    def is_empty(self) -> bool:
        return not self.lines


class InventoryError(Exception):
    """Raised when stock cannot satisfy a request."""


class Inventory:
    def __init__(self) -> None:
        self._stock: dict[str, StockLevel] = {}
        self._history: list[tuple[dt.datetime, str, int]] = []

    def __len__(self) -> int:
        return len(self._stock)

    def __contains__(self, sku: str) -> bool:
        return sku in self._stock

    def __iter__(self) -> Iterator[StockLevel]:
        return iter(self._stock.values())

    def register(self, item: Item, on_hand: int = 0, reorder_point: int = 5) -> StockLevel:
        if item.sku in self._stock:
            raise InventoryError(f"{item.sku} is already registered")
        level = StockLevel(item, on_hand=on_hand, reorder_point=reorder_point)
        self._stock[item.sku] = level
        return level

    def level(self, sku: str) -> StockLevel:
        try:
            return self._stock[sku]
        except KeyError:
            raise InventoryError(f"unknown sku {sku}") from None

    def receive(self, sku: str, quantity: int, when: Optional[dt.datetime] = None) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        level = self.level(sku)
        level.on_hand += quantity
        self._history.append((when or dt.datetime.now(), sku, quantity))

    def reserve(self, order: Order) -> None:
        shortages = []
        for line in order.lines:
            level = self.level(line.item.sku)
            if level.available < line.quantity:
                shortages.append(f"{line.item.sku}: need {line.quantity}, have {level.available}")
        if shortages:
            raise InventoryError("cannot reserve: " + "; ".join(shortages))
        for line in order.lines:
            self.level(line.item.sku).reserved += line.quantity

    def release(self, order: Order) -> None:
        for line in order.lines:
            level = self.level(line.item.sku)
            level.reserved = max(0, level.reserved - line.quantity)

    def ship(self, order: Order, when: Optional[dt.datetime] = None) -> None:
        for line in order.lines:
            level = self.level(line.item.sku)
            level.reserved -= line.quantity
            level.on_hand -= line.quantity
            self._history.append((when or dt.datetime.now(), line.item.sku, -line.quantity))
        order.status = OrderStatus.SHIPPED

    def reorder_list(self) -> list[StockLevel]:
        return sorted(
            (level for level in self._stock.values() if level.needs_reorder()),
            key=lambda level: level.available,
        )

    def value(self) -> float:
        return round(sum(l.item.unit_price * l.on_hand for l in self._stock.values()), 2)

    def movements(self, sku: str) -> list[tuple[dt.datetime, int]]:
        return [(when, qty) for when, s, qty in self._history if s == sku]


SHIPPING_RATES = [
    (1.0, 4.90),
    (5.0, 8.90),
    (20.0, 15.90),
    (math.inf, 39.90),
]


def shipping_cost(weight_kg: float, express: bool = False) -> float:
    """Cost of shipping a parcel of `weight_kg`; express doubles it."""
    for limit, rate in SHIPPING_RATES:
        if weight_kg <= limit:
            return rate * 2 if express else rate
    raise AssertionError("unreachable: the last limit is infinite")


def tax_for(amount: float, category: Category) -> float:
    rates = {
        Category.HARDWARE: 0.20,
        Category.SOFTWARE: 0.20,
        Category.SERVICE: 0.10,
        Category.SUPPLIES: 0.055,
    }
    return round(amount * rates[category], 2)


def order_tax(order: Order) -> float:
    return round(sum(tax_for(line.total, line.item.category) for line in order.lines), 2)


def invoice_total(order: Order, express: bool = False) -> float:
    if order.is_empty():
        return 0.0
    return round(order.subtotal + order_tax(order) + shipping_cost(order.weight, express), 2)


def parse_items(text: str) -> list[Item]:
    """Reads items from CSV text with columns sku,name,category,unit_price,weight_kg."""
    items = []
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        items.append(
            Item(
                sku=row["sku"].strip(),
                name=row["name"].strip(),
                category=Category(row["category"].strip().lower()),
                unit_price=float(row["unit_price"]),
                weight_kg=float(row.get("weight_kg") or 0.0),
            )
        )
    return items


def items_to_csv(items: Iterable[Item]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sku", "name", "category", "unit_price", "weight_kg"])
    for item in items:
        writer.writerow([item.sku, item.name, item.category.value, item.unit_price, item.weight_kg])
    return out.getvalue()


def order_to_json(order: Order) -> str:
    return json.dumps(
        {
            "order_id": order.order_id,
            "customer": order.customer,
            "created": order.created.isoformat(),
            "status": order.status.value,
            "lines": [
                {"sku": line.item.sku, "quantity": line.quantity, "total": line.total}
                for line in order.lines
            ],
            "subtotal": order.subtotal,
        },
        sort_keys=True,
    )


def order_from_json(text: str, catalog: dict[str, Item]) -> Order:
    data = json.loads(text)
    order = Order(
        order_id=data["order_id"],
        customer=data["customer"],
        created=dt.datetime.fromisoformat(data["created"]),
        status=OrderStatus(data["status"]),
    )
    for line in data["lines"]:
        order.add(catalog[line["sku"]], int(line["quantity"]))
    return order


def revenue_by_category(orders: Iterable[Order]) -> dict[Category, float]:
    totals: dict[Category, float] = defaultdict(float)
    for order in orders:
        if order.status in (OrderStatus.PAID, OrderStatus.SHIPPED):
            for line in order.lines:
                totals[line.item.category] += line.total
    return {category: round(total, 2) for category, total in totals.items()}


def top_customers(orders: Iterable[Order], n: int = 3) -> list[tuple[str, float]]:
    spent: dict[str, float] = defaultdict(float)
    for order in orders:
        if order.status != OrderStatus.CANCELLED:
            spent[order.customer] += order.subtotal
    ranked = sorted(spent.items(), key=lambda pair: (-pair[1], pair[0]))
    return [(customer, round(total, 2)) for customer, total in ranked[:n]]


def monthly_revenue(orders: Iterable[Order]) -> dict[str, float]:
    months: dict[str, float] = defaultdict(float)
    for order in orders:
        if order.status == OrderStatus.CANCELLED:
            continue
        key = order.created.strftime("%Y-%m")
        months[key] += order.subtotal
    return dict(sorted((k, round(v, 2)) for k, v in months.items()))


def average_order_value(orders: Iterable[Order]) -> float:
    values = [order.subtotal for order in orders if not order.is_empty()]
    if not values:
        return 0.0
    return round(sum(values) / len(values), 2)


def split_order(order: Order, max_weight: float) -> list[Order]:
    """Splits an order into parcels no heavier than `max_weight` each."""
    parcels: list[Order] = []
    current = Order(f"{order.order_id}-1", order.customer, order.created)
    for line in order.lines:
        for _ in range(line.quantity):
            if current.weight + line.item.weight_kg > max_weight and not current.is_empty():
                parcels.append(current)
                current = Order(f"{order.order_id}-{len(parcels) + 1}", order.customer, order.created)
            current.add(line.item, 1)
    if not current.is_empty():
        parcels.append(current)
    return parcels


def restock_plan(inventory: Inventory, target_days: int, daily_sales: dict[str, float]) -> dict[str, int]:
    """How many units of each item to order so stock lasts `target_days`."""
    plan = {}
    for level in inventory:
        per_day = daily_sales.get(level.item.sku, 0.0)
        needed = math.ceil(per_day * target_days) - level.available
        if needed > 0:
            plan[level.item.sku] = needed
    return plan


def describe(level: StockLevel) -> str:
    flag = " (reorder)" if level.needs_reorder() else ""
    return f"{level.item.sku:<8} {level.item.name:<24} {level.available:>5}{flag}"


def report(inventory: Inventory) -> str:
    lines = [describe(level) for level in sorted(inventory, key=lambda l: l.item.sku)]
    lines.append(f"total value: {inventory.value():.2f}")
    return "\n".join(lines)


def demo() -> str:
    catalog = parse_items(
        "sku,name,category,unit_price,weight_kg\n"
        "K-1,Keyboard,hardware,49.90,0.9\n"
        "M-2,Mouse,hardware,19.90,0.2\n"
        "L-3,License,software,99.00,0\n"
        "P-4,Paper,supplies,4.50,2.5\n"
    )
    inventory = Inventory()
    for item in catalog:
        inventory.register(item, on_hand=20)
    order = Order("A-100", "ada", dt.datetime(2026, 1, 15, 9, 30))
    order.add(catalog[0], 2)
    order.add(catalog[3], 12)
    inventory.reserve(order)
    inventory.ship(order)
    return report(inventory) + f"\ninvoice: {invoice_total(order):.2f}"


if __name__ == "__main__":
    print(demo())
