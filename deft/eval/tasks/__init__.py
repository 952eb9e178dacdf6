"""lm-eval task YAMLs of the suite (one per domain) and their scoring hooks."""
from pathlib import Path

TASKS_DIR = Path(__file__).parent
