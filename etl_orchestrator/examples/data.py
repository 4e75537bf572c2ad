"""Deterministic demo source data (stores, customers, products, orders, inventory) and its seeding.

Everything comes from one seeded `random.Random`, so the same seed gives the same rows on every
machine and backend. The sources are deliberately a little dirty, as real ones are: customer
records repeat with older versions, emails and categories are untidy, a few orders name
customers the CRM does not know, and a handful of order lines have impossible quantities or
unknown products.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Engine, Table, inspect, text

from etl_orchestrator.examples.schema import (
    SOURCE_TABLES,
    WAREHOUSE,
    src_customers,
    src_inventory,
    src_order_lines,
    src_orders,
    src_products,
    src_stores,
)

if TYPE_CHECKING:
    import psycopg

DEFAULT_ORDERS = 30_000
DEFAULT_SEED = 42
CUSTOMERS = 2_000
PRODUCTS = 300
ORDERS_START = date(2023, 1, 1)
ORDERS_END = date(2024, 12, 31)
#: dim_date spans whole years around the order dates.
CALENDAR_START = date(2022, 1, 1)
CALENDAR_END = date(2025, 12, 31)
#: Customer ids orders may carry that the CRM export lacks (late-arriving customers).
UNKNOWN_CUSTOMER_IDS = range(9_001, 9_051)
#: Product ids order lines may carry that the product catalogue lacks.
UNKNOWN_PRODUCT_IDS = range(90_001, 90_011)
_BATCH = 5_000
#: Any fixed 64-bit number: PostgreSQL advisory lock that serialises concurrent lazy seeding.
_SEED_LOCK_KEY = 7_305_117_001

_REGIONS = {
    "North": ("Leeds", "Newcastle", "York", "Manchester"),
    "South": ("Brighton", "Southampton", "Plymouth", "Exeter"),
    "East": ("Norwich", "Cambridge", "Ipswich", "Colchester"),
    "West": ("Bristol", "Cardiff", "Bath", "Swansea"),
    "Central": ("Birmingham", "Nottingham", "Leicester", "Coventry"),
}
_FIRST = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Freya",
    "Grace",
    "Sophia",
    "Zoë",
    "Chloé",
    "Noah",
    "Oliver",
    "George",
    "Leo",
    "Arthur",
    "Oscar",
    "Harry",
    "Jack",
    "Charlie",
    "Jacob",
    "Thomas",
    "James",
    "Henry",
    "William",
    "Ethan",
    "Samuel",
    "Aarav",
    "Mateo",
]
_LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "Robinson",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Khan",
    "Lewis",
    "Hughes",
    "Müller",
    "O'Brien",
]
_CATEGORIES = {
    # category: (min price, max price) in cents
    "Electronics": (1_999, 89_999),
    "Home & Garden": (499, 24_999),
    "Toys": (399, 7_999),
    "Grocery": (99, 2_499),
    "Apparel": (799, 14_999),
    "Sports": (999, 39_999),
    "Beauty": (299, 6_999),
    "Books": (499, 3_999),
}
_ADJECTIVES = [
    "Classic",
    "Deluxe",
    "Compact",
    "Eco",
    "Smart",
    "Ultra",
    "Premium",
    "Basic",
    "Vintage",
    "Portable",
    "Organic",
    "Pro",
]
_NOUNS = {
    "Electronics": ["Headphones", "Speaker", "Tablet", "Charger", "Camera", "Monitor", "Keyboard"],
    "Home & Garden": ["Lamp", "Planter", "Rug", "Kettle", "Hose", "Cushion", "Shelf"],
    "Toys": ["Puzzle", "Robot", "Blocks", "Kite", "Doll", "Train", "Board-Game"],
    "Grocery": ["Coffee", "Tea", "Olive-Oil", "Pasta", "Honey", "Granola", "Chocolate"],
    "Apparel": ["Jacket", "Scarf", "Sneakers", "Hoodie", "Jeans", "Hat", "Socks"],
    "Sports": ["Yoga-Mat", "Racket", "Football", "Dumbbell", "Bike-Helmet", "Tent", "Bottle"],
    "Beauty": ["Shampoo", "Serum", "Lotion", "Perfume", "Lip-Balm", "Soap", "Mask"],
    "Books": ["Cookbook", "Novel", "Atlas", "Biography", "Guide", "Anthology", "Journal"],
}
_SEGMENTS = ("consumer", "small_business", "corporate")


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _day_weight(day: date) -> float:
    weight = 1.3 if day.weekday() >= 5 else 1.0
    if day.month == 12:
        weight *= 1.6
    elif day.month == 11 and day.day >= 20:
        weight *= 1.4
    return weight


def _stores(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    store_id = 1
    for region, cities in _REGIONS.items():
        for city in cities:
            rows.append(
                {
                    "store_id": store_id,
                    "name": f"{city} {rng.choice(('High Street', 'Retail Park', 'Centre'))}",
                    "city": city,
                    "region": region,
                    "opened_on": date(2015, 1, 1) + timedelta(days=rng.randrange(2_500)),
                }
            )
            store_id += 1
    return rows


def _messy_email(rng: random.Random, email: str) -> str | None:
    roll = rng.random()
    if roll < 0.01:
        return email.replace("@", " at ")
    if roll < 0.02:
        return None
    if roll < 0.08:
        return f"  {email.upper()} "
    return email


def _customers(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    versions = []
    for customer_id in range(1, CUSTOMERS + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        region = rng.choice(tuple(_REGIONS))
        signup = date(2019, 1, 1) + timedelta(days=rng.randrange(1_460))
        email = f"{first.lower()}.{last.lower().replace(chr(39), '')}{customer_id}@example.com"
        row = {
            "customer_id": customer_id,
            "first_name": first if rng.random() > 0.05 else f" {first.lower()} ",
            "last_name": last if rng.random() > 0.05 else last.upper(),
            "email": _messy_email(rng, email),
            "city": rng.choice(_REGIONS[region]),
            "region": region,
            "segment": rng.choices(_SEGMENTS, weights=(70, 20, 10))[0],
            "signup_date": signup,
            "updated_on": signup + timedelta(days=rng.randrange(400, 700)),
        }
        rows.append(row)
        if rng.random() < 0.03:
            # An older version exported later in the file: staging must keep the newest one.
            old_region = rng.choice(tuple(_REGIONS))
            versions.append(
                row
                | {
                    "city": rng.choice(_REGIONS[old_region]),
                    "region": old_region,
                    "updated_on": signup + timedelta(days=rng.randrange(0, 300)),
                }
            )
    return [row | {"row_id": n} for n, row in enumerate(rows + versions, start=1)]


def _products(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    categories = tuple(_CATEGORIES)
    for product_id in range(1, PRODUCTS + 1):
        category = categories[(product_id - 1) % len(categories)]
        low, high = _CATEGORIES[category]
        price = round(rng.uniform(low, high), -1) - 1
        untidy = rng.choice((category, category.upper(), f" {category.lower()}", f"{category} "))
        rows.append(
            {
                "product_id": product_id,
                "sku": f"SKU-{product_id:05d}",
                "name": f" {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS[category])} ".replace(
                    "-", " "
                ),
                "category": untidy,
                "unit_price_cents": int(price),
                "cost_cents": int(price * rng.uniform(0.35, 0.75)),
                "active": rng.random() > 0.05,
            }
        )
    return rows


def _order_rows(
    rng: random.Random, orders: int, products: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    days = _days(ORDERS_START, ORDERS_END)
    order_days = rng.choices(days, weights=[_day_weight(day) for day in days], k=orders)
    order_days.sort()
    customer_ids = list(range(1, CUSTOMERS + 1))
    # A few customers buy far more often than most, as in any shop.
    customer_weights = [1.0 / (rank**0.5) for rank in range(1, CUSTOMERS + 1)]
    rng.shuffle(customer_weights)
    buyers = rng.choices(customer_ids, weights=customer_weights, k=orders)
    product_weights = [1.0 / (rank**0.7) for rank in range(1, len(products) + 1)]
    rng.shuffle(product_weights)
    order_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    for order_id, (day, customer_id) in enumerate(zip(order_days, buyers, strict=True), start=1):
        if rng.random() < 0.005:
            customer_id = rng.choice(UNKNOWN_CUSTOMER_IDS)
        channel = rng.choices(("store", "web", "app"), weights=(55, 35, 10))[0]
        order_rows.append(
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "store_id": rng.randint(1, 20) if channel == "store" else None,
                "order_date": day,
                "status": rng.choices(("completed", "cancelled", "returned"), (94, 4, 2))[0],
                "channel": channel,
            }
        )
        count = rng.choices((1, 2, 3, 4), weights=(40, 30, 18, 12))[0]
        picked = {id(p): p for p in rng.choices(products, weights=product_weights, k=count)}
        for line_no, product in enumerate(picked.values(), start=1):
            line_rows.append(_line(rng, order_id, line_no, product))
    return order_rows, line_rows


def _line(
    rng: random.Random, order_id: int, line_no: int, product: dict[str, Any]
) -> dict[str, Any]:
    quantity = rng.choices((1, 2, 3, 4, 5), weights=(60, 22, 9, 5, 4))[0]
    price = int(product["unit_price_cents"])
    if rng.random() < 0.1:
        price = price * 9 // 10
    discount = (quantity * price * rng.randint(5, 20)) // 100 if rng.random() < 0.15 else 0
    product_id = int(product["product_id"])
    roll = rng.random()
    if roll < 0.0008:
        quantity = rng.choice((0, -1))
    elif roll < 0.001:
        product_id = rng.choice(UNKNOWN_PRODUCT_IDS)
    return {
        "order_id": order_id,
        "line_no": line_no,
        "product_id": product_id,
        "quantity": quantity,
        "unit_price_cents": price,
        "discount_cents": discount,
    }


def _inventory(rng: random.Random, stores: int) -> list[dict[str, Any]]:
    return [
        {
            "store_id": store_id,
            "product_id": product_id,
            "on_hand": rng.randint(0, 200),
            "reorder_point": rng.randint(10, 40),
        }
        for store_id in range(1, stores + 1)
        for product_id in range(1, PRODUCTS + 1)
    ]


def generate(
    *, orders: int = DEFAULT_ORDERS, seed: int = DEFAULT_SEED
) -> dict[Table, list[dict[str, Any]]]:
    """The rows of every source table for `orders` orders; the same arguments give the same rows."""
    if orders < 1:
        raise ValueError(f"orders={orders} is too small: generate at least 1 order")
    rng = random.Random(seed)
    stores = _stores(rng)
    customers = _customers(rng)
    products = _products(rng)
    order_rows, line_rows = _order_rows(rng, orders, products)
    return {
        src_stores: stores,
        src_customers: customers,
        src_products: products,
        src_orders: order_rows,
        src_order_lines: line_rows,
        src_inventory: _inventory(rng, len(stores)),
    }


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if conn.dialect.name == "postgresql":
        # COPY loads the ~100,000 rows about four times faster than batched INSERTs; it runs on
        # the same DBAPI connection, so it stays inside the caller's transaction.
        quote = conn.dialect.identifier_preparer.quote
        names = [column.name for column in table.columns]
        sql = f"COPY {quote(table.name)} ({', '.join(map(quote, names))}) FROM STDIN"
        driver = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
        return
    for start in range(0, len(rows), _BATCH):
        conn.execute(table.insert(), rows[start : start + _BATCH])


def _seed(conn: Connection, orders: int, seed: int) -> dict[str, int]:
    data = generate(orders=orders, seed=seed)
    WAREHOUSE.drop_all(conn, tables=list(SOURCE_TABLES), checkfirst=True)
    WAREHOUSE.create_all(conn, tables=list(SOURCE_TABLES))
    for table, rows in data.items():
        _insert(conn, table, rows)
    return {table.name: len(rows) for table, rows in data.items()}


def seed_sources(
    bind: Engine | Connection, *, orders: int = DEFAULT_ORDERS, seed: int = DEFAULT_SEED
) -> dict[str, int]:
    """(Re)create the src_* tables with generated rows; returns rows written per table.

    With an Engine the seeding commits on its own; with a Connection it joins the caller's
    transaction (a dry-run's rollback then removes it again).
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return _seed(conn, orders, seed)
    return _seed(bind, orders, seed)


def sources_missing(conn: Connection) -> list[str]:
    """The names of the src_* tables that do not exist in this warehouse."""
    existing = set(inspect(conn).get_table_names())
    return [table.name for table in SOURCE_TABLES if table.name not in existing]


def ensure_sources(
    conn: Connection, *, orders: int = DEFAULT_ORDERS, seed: int = DEFAULT_SEED
) -> dict[str, int]:
    """Seed the sources inside the caller's transaction if any src_* table is missing.

    Returns what was seeded (empty when the sources were already there).
    """
    if conn.dialect.name == "postgresql":
        # Extract jobs run in parallel: without the lock two of them would both find the sources
        # missing and collide creating them. The lock is released when the transaction ends.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK_KEY})
    if not sources_missing(conn):
        return {}
    return _seed(conn, orders, seed)


def bootstrap(
    engine: Engine, *, orders: int = DEFAULT_ORDERS, seed: int = DEFAULT_SEED
) -> dict[str, int]:
    """Seed the demo sources once (committed) unless they exist; for the `dev` command."""
    with engine.begin() as conn:
        return ensure_sources(conn, orders=orders, seed=seed)
