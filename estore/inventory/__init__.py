"""InventoryService: products, categories, analytics, stock and reservations, on Redis."""
