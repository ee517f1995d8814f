"""PaymentService: payment methods and orders, on Redis; reserves stock through Inventory."""
