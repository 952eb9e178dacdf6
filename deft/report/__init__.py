"""Report stage: run records -> tidy tables (``aggregate``), tables with intervals (``tables``),
the Markdown report (``markdown``) and rebuilding all of it from cached results (``regenerate``).
Statistics live in ``deft.stats``."""
