"""Scripts the Makefile runs with the tool virtualenvs under .tools/ (standard library only)."""
