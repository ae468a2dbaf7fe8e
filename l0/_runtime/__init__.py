"""The async shell: the only code in l0 that awaits."""
