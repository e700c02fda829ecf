#!/usr/bin/env bash
# Builds the documentation site (mkdocs + mkdocstrings) into ./site with warnings as errors.
# docs/index.md is the README (copied, with links into docs/ rewritten), so the two never drift.
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY'
import re
from pathlib import Path
text = Path("README.md").read_text()
text = re.sub(r"\]\(docs/", "](", text)  # README links into docs/ become site-relative
Path("docs/index.md").write_text(text)
PY
mkdocs build --strict --quiet "$@"
echo "docs: $(find site -name '*.html' | wc -l) pages in site/"
