#!/usr/bin/env bash
# CI: the GitHub workflows (.github/workflows, the release on a tag) pass actionlint, which
# checks their syntax, expressions, action inputs and, through shellcheck when it is
# installed, their shell steps. actionlint is built from the Go module proxy at a pinned
# version into ~/.cache/camnode/actionlint, once.
set -euo pipefail
cd "$(dirname "$0")/../.."
ACTIONLINT_VERSION=v1.7.12
bin=${XDG_CACHE_HOME:-$HOME/.cache}/camnode/actionlint/$ACTIONLINT_VERSION
if [ ! -x "$bin/actionlint" ]; then
  GOBIN=$bin go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi
"$bin/actionlint" -version | head -n1
"$bin/actionlint" .github/workflows/*.yml
echo "actionlint: $(ls .github/workflows/*.yml | wc -l) workflow(s) clean"
