"""quill's demo: each `# quill: fill` line below is a hole the model fills.

Run `./scripts/run` (or `quill fill examples/holes.py`) and quill prints this file with the
holes filled.
"""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
    quantity: int


def total_value(items: list[Item]) -> float:
    """Sum of price * quantity over all items."""
    # quill: fill


def most_expensive(items: list[Item]) -> Item | None:
    """The item with the highest unit price, or None for an empty list."""
    # quill: fill


def restock(items: list[Item], minimum: int) -> list[str]:
    """Names of the items with fewer than `minimum` units left, sorted by name."""
    # quill: fill


if __name__ == "__main__":
    stock = [Item("pen", 1.5, 10), Item("book", 12.0, 2), Item("lamp", 30.0, 1)]
    print(total_value(stock), most_expensive(stock), restock(stock, 3))
