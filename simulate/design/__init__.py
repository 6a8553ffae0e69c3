"""The design: scenario models, loading, overrides and their messages, the field reference."""
