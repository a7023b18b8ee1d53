#!/usr/bin/env bash
# Applies the 2026-11 module moves (issue 13) to any tree: settings/logging to the `upbit_core` foundation and
# `analyst` renamed `llm`. Idempotent; used when merging branches that started before the move.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.py' '*.toml' '*.md' '*.yml' '*.cfg' 'Makefile' 'Dockerfile' | grep -v '^scripts/rename_modules.sh$' || true)
[ -z "$files" ] && exit 0
sed -i -E \
  -e 's/\bupbit_llm\.settings\b/upbit_core.settings/g' \
  -e 's/\bupbit_llm\.logging_setup\b/upbit_core.logging_setup/g' \
  -e 's/from upbit_llm import __version__/from upbit_core import __version__/g' \
  -e 's/\bfrom analyst\b/from llm/g' \
  -e 's/^import analyst\b/import llm/g' \
  -e 's/\banalyst\.(claude|costs|generate|grounding|interpret|offline|pricing|prompts|qa|store|summary|usage|verify|claims|tools|router|intents)\b/llm.\1/g' \
  -e 's#\banalyst/#llm/#g' \
  $files
