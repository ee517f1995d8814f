"""Throwaway PostgreSQL and Redis processes for `estore up` and the tests."""
