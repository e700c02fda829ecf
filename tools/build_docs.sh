#!/usr/bin/env bash
# Builds the documentation site (mkdocs + mkdocstrings) into ./site with warnings as errors.
# docs/index.md is the README (copied, with links into docs/ rewritten), and CONTRIBUTING.md and
# CHANGELOG.md are copied beside it, so the pages never drift from the files.
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY'
import re
from pathlib import Path
text = Path("README.md").read_text()
text = re.sub(r"\]\(docs/", "](", text)  # README links into docs/ become site-relative
Path("docs/index.md").write_text(text)
for name in ("CONTRIBUTING.md", "CHANGELOG.md"):  # pages of the site, linked from the README
    Path("docs", name).write_text(Path(name).read_text())
PY
mkdocs build --strict --quiet "$@"
site=site
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--site-dir" ]; then site=${args[$((i + 1))]}; fi
done
echo "docs: $(find "$site" -name '*.html' | wc -l) pages in $site/"
