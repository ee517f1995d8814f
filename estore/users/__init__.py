"""UserService: accounts, passwords, email verification and sign-in, on PostgreSQL."""
