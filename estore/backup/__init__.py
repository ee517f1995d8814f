"""`estore backup` and `estore restore`: every store into one folder, and back."""

from estore.backup.restore import restore_backup
from estore.backup.take import take_backup
from estore.backup.tools import BackupError

__all__ = ["BackupError", "restore_backup", "take_backup"]
