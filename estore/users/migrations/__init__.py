"""UserService's versioned SQL migrations, applied in file-name order by `estore.users.migrate`."""
