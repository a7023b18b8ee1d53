"""Schema, migrations and database access shared by every process."""
