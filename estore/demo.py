"""`estore seed-demo`: a believable catalogue and a verified demo user, through the public RPCs;
with `--products N`, a synthetic catalogue of N products loaded straight into Inventory's Redis.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import grpc

from estore.common.config import ConfigError, Settings
from estore.common.redis import connect_redis
from estore.inventory.store import InventoryStore
from estore.inventory.store_bulk import BATCH, IN_FLIGHT, LoadReport, load, product_id
from estore.stack import read_stack
from generated.estore.common.v1 import money_pb2
from generated.estore.inventory.v1 import inventory_service_pb2 as inv_pb
from generated.estore.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc

DEV_ADMIN_EMAIL = "admin@example.com"
DEV_ADMIN_PASSWORD = "admin-password"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"

# category -> subcategory -> [(name, price in minor units, tags)]
CATALOGUE: dict[str, dict[str, list[tuple[str, int, list[str]]]]] = {
    "Tea": {
        "Green tea": [
            ("Sencha Asahi 100 g", 1250, ["green", "japan", "loose-leaf"]),
            ("Gyokuro Yame 50 g", 2400, ["green", "japan", "premium"]),
            ("Matcha Uji ceremonial 30 g", 2900, ["green", "japan", "powder"]),
            ("Genmaicha 200 g", 900, ["green", "japan", "blend"]),
            ("Long Jing Dragon Well 100 g", 1800, ["green", "china", "loose-leaf"]),
            ("Bi Luo Chun 50 g", 1600, ["green", "china"]),
            ("Gunpowder 250 g", 700, ["green", "china", "everyday"]),
        ],
        "Black tea": [
            ("Assam Halmari 100 g", 1100, ["black", "india", "breakfast"]),
            ("Darjeeling First Flush 100 g", 2200, ["black", "india", "premium"]),
            ("Ceylon Uva 250 g", 1300, ["black", "sri-lanka", "everyday"]),
            ("Keemun 100 g", 1400, ["black", "china"]),
            ("Lapsang Souchong 100 g", 1200, ["black", "china", "smoky"]),
            ("English Breakfast 80 bags", 850, ["black", "blend", "bags"]),
        ],
        "Herbal": [
            ("Rooibos Vanilla 150 g", 800, ["herbal", "caffeine-free"]),
            ("Peppermint 100 g", 600, ["herbal", "caffeine-free"]),
            ("Chamomile 50 g", 650, ["herbal", "caffeine-free", "evening"]),
            ("Lemon Verbena 50 g", 750, ["herbal", "caffeine-free"]),
            ("Hibiscus Berry 150 g", 700, ["herbal", "fruity"]),
        ],
    },
    "Coffee": {
        "Beans": [
            ("Ethiopia Yirgacheffe 250 g", 1450, ["beans", "africa", "light-roast"]),
            ("Kenya AA 250 g", 1600, ["beans", "africa", "medium-roast"]),
            ("Colombia Huila 1 kg", 3900, ["beans", "americas", "medium-roast"]),
            ("Brazil Santos 1 kg", 2900, ["beans", "americas", "espresso"]),
            ("Sumatra Mandheling 250 g", 1350, ["beans", "asia", "dark-roast"]),
            ("House Espresso Blend 1 kg", 2700, ["beans", "blend", "espresso"]),
            ("Decaf Swiss Water 250 g", 1300, ["beans", "decaf"]),
        ],
        "Ground": [
            ("Filter Blend 500 g", 1100, ["ground", "blend", "filter"]),
            ("Moka Pot Blend 250 g", 800, ["ground", "blend", "moka"]),
            ("French Press Coarse 500 g", 1200, ["ground", "press"]),
            ("Turkish Fine 250 g", 900, ["ground", "fine"]),
        ],
    },
    "Kitchen": {
        "Kettles": [
            ("Gooseneck Kettle 1 l", 5900, ["kettle", "pour-over"]),
            ("Electric Kettle Temperature 1.7 l", 7900, ["kettle", "electric"]),
            ("Cast Iron Tetsubin 0.8 l", 8900, ["kettle", "japan", "cast-iron"]),
            ("Stovetop Whistling Kettle", 3500, ["kettle", "stovetop"]),
        ],
        "Brewers": [
            ("Ceramic Pour-over Dripper", 2200, ["brewer", "pour-over"]),
            ("Glass Teapot with Infuser 1 l", 2900, ["brewer", "teapot", "glass"]),
            ("French Press 8 cup", 3200, ["brewer", "press"]),
            ("Aeropress Go", 3900, ["brewer", "travel"]),
            ("Kyusu Teapot 300 ml", 4500, ["brewer", "teapot", "japan"]),
            ("Cold Brew Bottle 1 l", 2500, ["brewer", "cold-brew"]),
        ],
        "Cups": [
            ("Double-walled Glass Cup 250 ml", 1400, ["cup", "glass"]),
            ("Matcha Bowl Chawan", 3400, ["cup", "japan", "matcha"]),
            ("Stoneware Mug 350 ml", 1800, ["cup", "mug"]),
            ("Espresso Cups set of 4", 2600, ["cup", "espresso"]),
            ("Travel Tumbler 470 ml", 2900, ["cup", "travel"]),
            ("Tea Tasting Set", 4900, ["cup", "tasting", "premium"]),
        ],
    },
}


@dataclass(frozen=True)
class DemoSummary:
    categories: int
    products: int
    demo_user: str


def admin_credentials(settings: Settings) -> tuple[str, str]:
    """The bootstrap admin, or the development admin `estore up` creates when none is set."""
    return (
        settings.bootstrap_admin_email or DEV_ADMIN_EMAIL,
        settings.bootstrap_admin_password or DEV_ADMIN_PASSWORD,
    )


def _channel(settings: Settings, port: int) -> grpc.aio.Channel:
    target = f"localhost:{port}"
    credentials = settings.tls.channel_credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(target)
    return grpc.aio.secure_channel(target, credentials)


def _product(name: str, price: int, tags: list[str], category_id: str, n: int) -> inv_pb.Product:
    """A product whose stock, discount and low-stock threshold vary believably with `n`."""
    return inv_pb.Product(
        name=name,
        description=f"{name}, from the EStore demo catalogue.",
        price=money_pb2.Money(currency_code="USD", minor_units=price),
        quantity=[40, 120, 3, 15, 0, 60, 2, 25][n % 8],
        min_stock_level=5,
        discount_percentage=[0, 0, 10, 0, 15, 0, 25, 5][n % 8],
        tags=tags,
        category_id=category_id,
        image_url=f"https://images.example.com/demo/{n}.jpg",
    )


async def _create_category(
    inventory: inv_grpc.InventoryServiceStub, admin: object, name: str, parent: str = ""
) -> str:
    category = inv_pb.Category(name=name, parent_id=parent, description=f"{name} (demo)")
    reply = await inventory.CreateCategory(
        inv_pb.CreateCategoryRequest(category=category), metadata=admin
    )
    return str(reply.category.id)


async def _seed_catalogue(
    inventory: inv_grpc.InventoryServiceStub, admin: object
) -> tuple[int, int]:
    categories = products = 0
    for top, subcategories in CATALOGUE.items():
        top_id = await _create_category(inventory, admin, top)
        categories += 1
        for sub, items in subcategories.items():
            sub_id = await _create_category(inventory, admin, sub, top_id)
            categories += 1
            for name, price, tags in items:
                product = _product(name, price, tags, sub_id, products)
                await inventory.CreateProduct(
                    inv_pb.CreateProductRequest(product=product), metadata=admin
                )
                products += 1
    return categories, products


async def _demo_user(settings: Settings, users: users_grpc.UserServiceStub) -> str:
    """Register and verify the demo user (the token comes from the mail outbox)."""
    try:
        await users.Register(users_pb.RegisterRequest(email=DEMO_EMAIL, password=DEMO_PASSWORD))
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        return f"{DEMO_EMAIL} (already there)"
    outbox = settings.mail_outbox
    mails = (
        [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []
    )
    tokens = [m["token"] for m in mails if m["to"] == DEMO_EMAIL and m["kind"] == "verify_email"]
    if not tokens:
        return f"{DEMO_EMAIL} (registered; verify it from the mail sent)"
    await users.VerifyEmail(users_pb.VerifyEmailRequest(token=tokens[-1]))
    return f"{DEMO_EMAIL} / {DEMO_PASSWORD} (verified)"


async def seed_demo(settings: Settings) -> DemoSummary:
    """Seed the catalogue as the admin, then the demo user; ALREADY_EXISTS means seeded before."""
    email, password = admin_credentials(settings)
    async with (
        _channel(settings, settings.users_port) as users_channel,
        _channel(settings, settings.inventory_port) as inventory_channel,
    ):
        users = users_grpc.UserServiceStub(users_channel)
        inventory = inv_grpc.InventoryServiceStub(inventory_channel)
        login = await users.Login(users_pb.LoginRequest(email=email, password=password))
        admin = (("authorization", f"Bearer {login.access_token}"),)
        try:
            categories, products = await _seed_catalogue(inventory, admin)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            print("estore seed-demo: the demo catalogue is there already", file=sys.stderr)
            categories = products = 0
        return DemoSummary(categories, products, await _demo_user(settings, users))


def _inventory_redis_url(settings: Settings) -> str:
    """Inventory's Redis: from the environment, else the running `estore up`."""
    running = read_stack(settings.data_dir)
    url = settings.inventory_redis_url or (running.inventory_redis_url if running else "")
    if not url:
        raise ConfigError(
            "ESTORE_INVENTORY_REDIS_URL (or ESTORE_REDIS_URL) is not set and no `estore up` "
            f"is running on {settings.data_dir}"
        )
    return url


def _show_progress(done: int, total: int, seconds: float) -> None:
    rate = done / seconds if seconds else 0.0
    print(
        f"\rloaded {done:,} / {total:,} products ({rate:,.0f}/s)",
        end="" if done < total else "\n",
        file=sys.stderr,
        flush=True,
    )


async def seed_bulk(settings: Settings, products: int) -> LoadReport:
    """Load the bulk catalogue's products 0..products-1, skipping those already there."""
    redis = connect_redis(_inventory_redis_url(settings), "ESTORE_INVENTORY_REDIS_URL")
    try:
        store = InventoryStore(redis)
        await store.load_scripts()
        await store.layout.ready()
        start = await _bulk_products_present(store, products)
        return await load(store, products, start=start, progress=_show_progress)
    finally:
        await redis.aclose()


async def _bulk_products_present(store: InventoryStore, products: int) -> int:
    """Where to resume: a few batches before the first bulk product missing (an interrupted run
    may have left the batches it had in flight half done; loading a product again keeps it)."""
    low, high = 0, products  # the first missing one, by binary search
    while low < high:
        middle = (low + high) // 2
        if await store.products.get(product_id(middle)) is None:
            high = middle
        else:
            low = middle + 1
    return max(0, low // BATCH * BATCH - IN_FLIGHT * BATCH)
