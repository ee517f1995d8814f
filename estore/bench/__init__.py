"""`estore bench`: the suite as production runs it, measured against a bare gRPC server."""
