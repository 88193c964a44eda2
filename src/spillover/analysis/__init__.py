"""Pure functions of stored documents: tables and plots. Never runs a calculator."""
