"""authserver: a declarative, policy-driven API authorization server, wire-compatible with Arvados."""

from pathlib import Path

__version__ = "0.1.0"

# The project keeps its schemas and shipped policies beside the package (one source of truth for the
# validator, the discovery document and the docs); the package is installed in editable mode.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = PROJECT_ROOT / "schemas"
POLICY_DIR = PROJECT_ROOT / "policies"
