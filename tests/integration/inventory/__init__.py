"""InventoryService tests."""
