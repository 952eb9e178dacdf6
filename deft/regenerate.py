"""``python -m deft.regenerate SRC OUT``: the documented entry point of
``deft.report.regenerate`` (every table, figure and the report from cached results)."""
from .report.regenerate import main

if __name__ == "__main__":
    main()
